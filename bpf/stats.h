/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * stats.h: global and per-rule counters. Both maps are per-CPU, so plain
 * increments are race-free; the control plane sums the CPUs.
 */
#ifndef XDPFWD_STATS_H
#define XDPFWD_STATS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xdpfwd_kern_user.h"
#include "maps.h"

static __always_inline void stats_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&xdpfwd_stats, &idx);

	if (v)
		*v += 1;
}

/* Exactly one VERDICT_* counter per packet, keyed by the returned action. */
static __always_inline void stats_verdict(int action)
{
	switch (action) {
	case XDP_PASS:
		stats_inc(XDPFWD_STAT_VERDICT_PASS);
		break;
	case XDP_TX:
		stats_inc(XDPFWD_STAT_VERDICT_TX);
		break;
	case XDP_REDIRECT:
		stats_inc(XDPFWD_STAT_VERDICT_REDIRECT);
		break;
	default:
		/* XDP_DROP, and XDP_ABORTED which the worker never returns. */
		stats_inc(XDPFWD_STAT_VERDICT_DROP);
		break;
	}
}

static __always_inline void stats_rule(__u32 rule_id, __u8 direction, __u64 bytes)
{
	struct xdpfwd_rule_stats *rs = bpf_map_lookup_elem(&xdpfwd_rstats, &rule_id);

	/* rule_id out of range: the control plane broke the contract; skip. */
	if (!rs)
		return;
	if (direction == XDPFWD_DIR_REPLY) {
		rs->reply_packets += 1;
		rs->reply_bytes += bytes;
	} else {
		rs->fwd_packets += 1;
		rs->fwd_bytes += bytes;
	}
}

#endif /* XDPFWD_STATS_H */
