/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * conntrack6.h: the IPv6 flow table (xdpfwd_flows6). The same scheme as
 * conntrack.h, whose timeouts and TCP state decisions it reuses: a FORWARD
 * and a REPLY entry per flow, twins of each other, the reply entry's
 * BPF_NOEXIST insert as the atomic SNAT port claim.
 */
#ifndef XDPFWD_CONNTRACK6_H
#define XDPFWD_CONNTRACK6_H

#include <linux/bpf.h>
#include <linux/errno.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xdpfwd_kern_user.h"
#include "maps.h"
#include "parsing6.h"
#include "conntrack.h"
#include "csum.h"

static __always_inline int ct6_fresh(const struct xdpfwd_flow6 *e, __u64 now,
				     const struct xdpfwd_config *cfg)
{
	return (__s64)(now - e->last_seen_ns) <= (__s64)ct_timeout_ns(cfg, e->state);
}

/* Seen within XDPFWD_TOUCH_NS: live whatever the state and config (see ct_recent). */
static __always_inline int ct6_recent(const struct xdpfwd_flow6 *e, __u64 now)
{
	return (__s64)(now - e->last_seen_ns) <= (__s64)XDPFWD_TOUCH_NS;
}

/* ct_count for IPv6 entries. */
static __always_inline void ct6_count(struct xdpfwd_flow6 *e, __u64 len)
{
	e->packets += 1;
	e->bytes += len;
}

/* The twin's key: the reverse of this entry's rewrite tuple. */
static __always_inline void ct6_twin_key(const struct xdpfwd_flow6 *e, __u8 proto,
					 struct xdpfwd_flow6_key *tk)
{
	__builtin_memset(tk, 0, sizeof(*tk));
	addr6_copy(tk->saddr, e->new_daddr);
	addr6_copy(tk->daddr, e->new_saddr);
	tk->sport = e->new_dport;
	tk->dport = e->new_sport;
	tk->proto = proto;
}

/* t rewrites back to key: it really is key's twin, not a reused slot. */
static __always_inline int ct6_points_back(const struct xdpfwd_flow6 *t,
					   const struct xdpfwd_flow6_key *key)
{
	return addr6_eq(t->new_daddr, key->saddr) && addr6_eq(t->new_saddr, key->daddr) &&
	       t->new_dport == key->sport && t->new_sport == key->dport;
}

/* e's twin, NULL if gone or reused. A subprogram: only state changes and
 * stale entries need it, and its key stays off the hot path's stack. */
static __attribute__((noinline)) struct xdpfwd_flow6 *
ct6_twin(const struct xdpfwd_flow6_key *key, const struct xdpfwd_flow6 *e)
{
	struct xdpfwd_flow6_key tk;
	struct xdpfwd_flow6 *t;

	ct6_twin_key(e, key->proto, &tk);
	t = bpf_map_lookup_elem(&xdpfwd_flows6, &tk);
	if (t && ct6_points_back(t, key))
		return t;
	return NULL;
}

/* Live if fresh, or if the twin is (a one-way stream refreshes one side). */
static __always_inline int ct6_live(const struct xdpfwd_flow6_key *key,
				    const struct xdpfwd_flow6 *e, __u64 now,
				    const struct xdpfwd_config *cfg)
{
	struct xdpfwd_flow6 *t;

	if (ct6_fresh(e, now, cfg))
		return 1;
	t = ct6_twin(key, e);
	return t && ct6_fresh(t, now, cfg);
}

/* ct_delete for IPv6: the entry at key, and its twin if it points back.
 * A subprogram: its key stays off the caller's stack, which the new-flow
 * path needs. */
static __attribute__((noinline)) void ct6_delete(const struct xdpfwd_flow6_key *key,
				       struct xdpfwd_flow6 *e)
{
	struct xdpfwd_flow6_key tk;

	if (ct6_twin(key, e)) {
		ct6_twin_key(e, key->proto, &tk);
		bpf_map_delete_elem(&xdpfwd_flows6, &tk);
	}
	bpf_map_delete_elem(&xdpfwd_flows6, key);
}

/* TCP state machine of conntrack.h, applied to an entry and its twin. */
static __always_inline void ct6_tcp_update(const struct xdpfwd_flow6_key *key,
					   struct xdpfwd_flow6 *e, __u8 flags)
{
	__u8 want = ct_tcp_next_state(e->state, e->direction, flags);
	struct xdpfwd_flow6 *t;

	if (want == e->state)
		return;
	e->state = want;
	t = ct6_twin(key, e);
	if (t)
		t->state = want;
}

/* ct_claim for IPv6: 0 claimed, -EEXIST owned by a live flow, else -errno.
 * A subprogram, to keep the new-flow path within the BPF stack. */
static __attribute__((noinline)) long ct6_claim(struct xdpfwd_flow6_key *rkey,
				      const struct xdpfwd_flow6 *rval, __u64 now,
				      const struct xdpfwd_config *cfg)
{
	struct xdpfwd_flow6 *old;
	long err;

	err = bpf_map_update_elem(&xdpfwd_flows6, rkey, rval, BPF_NOEXIST);
	if (err != -EEXIST)
		return err;
	old = bpf_map_lookup_elem(&xdpfwd_flows6, rkey);
	if (old && ct6_live(rkey, old, now, cfg))
		return -EEXIST;
	bpf_map_delete_elem(&xdpfwd_flows6, rkey);
	return bpf_map_update_elem(&xdpfwd_flows6, rkey, rval, BPF_NOEXIST);
}

/* bpf_loop's context must live on the stack: it points at the scratch. */
struct ct6_probe {
	struct xdpfwd_flow6_scratch *s;
};

/* One probe: claim s->port, or step to the next port in the range. */
static long ct6_probe_one(__u32 i, void *data)
{
	struct xdpfwd_flow6_scratch *c = ((struct ct6_probe *)data)->s;

	c->rkey.dport = bpf_htons((__u16)c->port);
	/* Port 0 adds nothing to a one's-complement sum: add the real one. */
	c->rval.csum_delta = csum_fold(c->delta_base + (__u16)~c->rkey.dport);
	c->err = ct6_claim(&c->rkey, &c->rval, c->now, &c->cfg);
	if (c->err != -EEXIST)
		return 1; /* claimed, or a hard error: stop */
	if (++c->port > c->hi)
		c->port = c->lo;
	return 0;
}

/* ct_alloc_port for IPv6: the same range, random start and probe count;
 * the chosen port is left in s->rkey.dport. */
static __always_inline long ct6_alloc_port(struct xdpfwd_flow6_scratch *s)
{
	struct ct6_probe probe = { .s = s };
	__u32 lo = s->cfg.snat_port_min ?: XDPFWD_DEFAULT_SNAT_PORT_MIN;
	__u32 hi = s->cfg.snat_port_max ?: XDPFWD_DEFAULT_SNAT_PORT_MAX;

	if (lo > hi) {
		lo = XDPFWD_DEFAULT_SNAT_PORT_MIN;
		hi = XDPFWD_DEFAULT_SNAT_PORT_MAX;
	}
	s->lo = lo;
	s->hi = hi;
	s->port = lo + bpf_get_prandom_u32() % (hi - lo + 1);
	s->err = -EEXIST;
	bpf_loop(XDPFWD_PORT_PROBES, ct6_probe_one, &probe, 0);
	return s->err;
}

#endif /* XDPFWD_CONNTRACK6_H */
