/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * nat6.h: rewrite an IPv6 packet's tuple to a flow entry's new_* fields.
 * IPv6 has no header checksum; the TCP/UDP checksum covers the addresses
 * through the pseudo-header. Every packet of an entry changes the same key
 * tuple into the same new tuple, so the checksum change is computed once at
 * flow creation (csum_delta) and each packet pays one add and a fold.
 */
#ifndef XDPFWD_NAT6_H
#define XDPFWD_NAT6_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include "xdpfwd_kern_user.h"
#include "csum.h"
#include "parsing6.h"

/* Account for a 16-byte address changing from old to new. */
static __always_inline __u32 csum_sub_add128(__u32 sum, const __be32 *old, const __be32 *new)
{
	sum = csum_sub_add32(sum, old[0], new[0]);
	sum = csum_sub_add32(sum, old[1], new[1]);
	sum = csum_sub_add32(sum, old[2], new[2]);
	return csum_sub_add32(sum, old[3], new[3]);
}

/* The L4 checksum change of rewriting tuple key into f's new tuple. Only
 * new flows need it; a subprogram, since inlined its 36 loads spill onto
 * the new-flow path's stack. */
static __attribute__((noinline)) __u32 nat6_csum_delta(const struct xdpfwd_flow6_key *key,
					     const struct xdpfwd_flow6 *f)
{
	__u32 sum = 0;

	sum = csum_sub_add128(sum, key->saddr, f->new_saddr);
	sum = csum_sub_add128(sum, key->daddr, f->new_daddr);
	sum = csum_sub_add16(sum, key->sport, f->new_sport);
	sum = csum_sub_add16(sum, key->dport, f->new_dport);
	return csum_fold(sum);
}

/* Translate the packet per f (whose key is the packet's tuple). The
 * caller checked hop_limit > 1. Returns -1 only if the L4 header is not
 * where the parser left it, which cannot happen (the verifier cannot tell
 * which protocol's bounds check p->l4 passed). */
static __always_inline int nat6_rewrite(struct pkt6_info *p, const struct xdpfwd_flow6 *f)
{
	struct ipv6hdr *ip6h = p->ip6h;

	if (p->proto == IPPROTO_TCP) {
		struct tcphdr *th = p->l4;

		if ((void *)(th + 1) > p->data_end)
			return -1;

		th->check = csum_finish(csum_begin(th->check) + f->csum_delta);
		th->source = f->new_sport;
		th->dest = f->new_dport;
	} else {
		struct udphdr *uh = p->l4;

		/* Zero (illegal over IPv6 but for tunnels) stays zero. */
		if (uh->check)
			/* A computed zero is sent as 0xFFFF (RFC 768). */
			uh->check = csum_finish(csum_begin(uh->check) + f->csum_delta) ?: (__sum16)0xFFFF;
		uh->source = f->new_sport;
		uh->dest = f->new_dport;
	}
	addr6_copy(ip6h->saddr.in6_u.u6_addr32, f->new_saddr);
	addr6_copy(ip6h->daddr.in6_u.u6_addr32, f->new_daddr);
	ip6h->hop_limit--;
	return 0;
}

#endif /* XDPFWD_NAT6_H */
