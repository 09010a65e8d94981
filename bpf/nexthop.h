/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * nexthop.h: where a translated packet goes. bpf_fib_lookup finds the route
 * and neighbour; the result is cached in the flow entry and refreshed at
 * most every XDPFWD_NH_REFRESH_NS. Egress is XDP_TX (same interface), a
 * devmap redirect (attached interface), or the TC slow path, which lets the
 * kernel resolve a missing neighbour.
 */
#ifndef XDPFWD_NEXTHOP_H
#define XDPFWD_NEXTHOP_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xdpfwd_kern_user.h"
#include "maps.h"
#include "parsing.h"
#include "stats.h"

#ifndef AF_INET
#define AF_INET 2
#endif

/* Not an XDP action: "keep going" from a stage that may end the packet. */
#define XDPFWD_CONTINUE (-1)

/* Route the tuple (src, dst, sport, dport) as if it arrived on the ingress
 * interface. Returns a BPF_FIB_LKUP_RET_* code (negative on bad input). */
static __always_inline long nh_fib_lookup(struct xdp_md *ctx, struct bpf_fib_lookup *fib,
					  const struct pkt_info *p, __be32 src, __be32 dst,
					  __be16 sport, __be16 dport)
{
	__builtin_memset(fib, 0, sizeof(*fib));
	fib->family = AF_INET;
	fib->tos = p->iph->tos;
	fib->l4_protocol = p->proto;
	fib->sport = sport;
	fib->dport = dport;
	/* Host order; lets the kernel check the egress MTU. */
	fib->tot_len = bpf_ntohs(p->iph->tot_len);
	fib->ipv4_src = src;
	fib->ipv4_dst = dst;
	fib->ifindex = ctx->ingress_ifindex;
	return bpf_fib_lookup(ctx, fib, sizeof(*fib), 0);
}

/* SUCCESS and NO_NEIGH both name an egress interface. */
static __always_inline int nh_fib_usable(long rc)
{
	return rc == BPF_FIB_LKUP_RET_SUCCESS || rc == BPF_FIB_LKUP_RET_NO_NEIGH;
}

/* Verdict for an unusable lookup; the packet is still untouched. */
static __always_inline int nh_fib_fail(long rc)
{
	switch (rc) {
	case BPF_FIB_LKUP_RET_FWD_DISABLED:
		/* Forwarding is off on ingress: the admin wants the stack. */
		stats_inc(XDPFWD_STAT_PASS_FWD_DISABLED);
		return XDP_PASS;
	case BPF_FIB_LKUP_RET_FRAG_NEEDED:
		/* Too big for the egress MTU, and we do not fragment. */
		stats_inc(XDPFWD_STAT_DROP_MTU);
		return XDP_DROP;
	default:
		/* No usable route: the stack sends the ICMP error, if any. */
		stats_inc(XDPFWD_STAT_PASS_NO_ROUTE);
		return XDP_PASS;
	}
}

/* Cache a usable lookup in f; NO_NEIGH keeps only the egress ifindex. */
static __always_inline void nh_store(struct xdpfwd_flow *f, const struct bpf_fib_lookup *fib,
				     long rc, __u64 now)
{
	f->nh_ifindex = fib->ifindex;
	if (rc == BPF_FIB_LKUP_RET_SUCCESS) {
		__builtin_memcpy(f->nh_dmac, fib->dmac, ETH_ALEN);
		__builtin_memcpy(f->nh_smac, fib->smac, ETH_ALEN);
		f->nh_valid = 1;
	} else {
		f->nh_valid = 0;
	}
	f->nh_refreshed_ns = now;
}

/* Refresh e's cached next hop when missing or stale. Returns
 * XDPFWD_CONTINUE or the verdict for an untranslated packet. */
static __always_inline int nh_refresh(struct xdp_md *ctx, const struct pkt_info *p,
				      struct xdpfwd_flow *e, __u64 now)
{
	struct bpf_fib_lookup fib;
	long rc;

	if (e->nh_valid && (__s64)(now - e->nh_refreshed_ns) <= (__s64)XDPFWD_NH_REFRESH_NS)
		return XDPFWD_CONTINUE;
	rc = nh_fib_lookup(ctx, &fib, p, e->new_saddr, e->new_daddr, e->new_sport, e->new_dport);
	if (!nh_fib_usable(rc))
		return nh_fib_fail(rc);
	nh_store(e, &fib, rc, now);
	return XDPFWD_CONTINUE;
}

/*
 * Hand a translated packet to the stack with metadata asking xdpfwd_tc to
 * bpf_redirect_neigh() it to ifindex. Invalidates every packet pointer.
 */
static __always_inline int nh_slowpath(struct xdp_md *ctx, __u32 ifindex)
{
	struct xdpfwd_meta *meta;
	void *data;

	if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(struct xdpfwd_meta))) {
		/* The driver has no metadata room: nobody could finish the
		 * job, and the packet is already translated. */
		stats_inc(XDPFWD_STAT_DROP_NO_META);
		return XDP_DROP;
	}
	data = (void *)(long)ctx->data;
	meta = (void *)(long)ctx->data_meta;
	if ((void *)(meta + 1) > data) {
		/* Cannot happen after a successful adjust; the verifier needs it. */
		stats_inc(XDPFWD_STAT_DROP_NO_META);
		return XDP_DROP;
	}
	meta->magic = XDPFWD_META_MAGIC;
	meta->ifindex = ifindex;
	/* Translated; TC resolves the neighbour and transmits. */
	stats_inc(XDPFWD_STAT_PASS_SLOWPATH);
	return XDP_PASS;
}

static __always_inline void nh_write_eth(struct ethhdr *eth, const struct xdpfwd_flow *f)
{
	__builtin_memcpy(eth->h_dest, f->nh_dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, f->nh_smac, ETH_ALEN);
}

/* Send a translated packet along f's next hop. */
static __always_inline int nh_egress(struct xdp_md *ctx, struct ethhdr *eth,
				     const struct xdpfwd_flow *f)
{
	if (f->nh_valid) {
		if (f->nh_ifindex == ctx->ingress_ifindex) {
			/* Hairpin: out the interface it came in on. */
			nh_write_eth(eth, f);
			return XDP_TX;
		}
		/* With flags 0 a missing devmap key yields XDP_ABORTED, not
		 * XDP_REDIRECT: the egress is not attached, so we fall through
		 * to the slow path. One helper call does lookup and redirect. */
		if (bpf_redirect_map(&xdpfwd_txports, f->nh_ifindex, 0) == XDP_REDIRECT) {
			/* Egress is ours: redirect straight to it. */
			nh_write_eth(eth, f);
			return XDP_REDIRECT;
		}
	}
	/* Neighbour unresolved or egress not attached: via the stack. The
	 * Ethernet header is left as received, so the stack takes the frame
	 * as addressed to this host. */
	return nh_slowpath(ctx, f->nh_ifindex);
}

#endif /* XDPFWD_NEXTHOP_H */
