/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * nexthop.h: where a translated packet goes. bpf_fib_lookup finds the route
 * and neighbour; the result is cached in the flow entry and refreshed when
 * the entry's last_seen_ns is (at most every XDPFWD_TOUCH_NS). Egress is XDP_TX (same interface), a
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
#include "vlan.h"

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

/*
 * If the FIB's egress *ifindex is a VLAN upper of an attached device,
 * make it the lower device and return the tags to push (tci: outer,
 * inner); 0 when it is not a VLAN. Caching the lower and the tags in the
 * flow entry spares the established path any VLAN lookup.
 */
static __always_inline __u8 nh_vlan_egress(__u32 *ifindex, __be16 *tci)
{
	struct xdpfwd_vlan *vl = bpf_map_lookup_elem(&xdpfwd_vlans, ifindex);

	if (!vl)
		return 0;
	*ifindex = vl->lower_ifindex;
	tci[0] = vl->tci[0];
	tci[1] = vl->tci[1];
	return vl->tags;
}

/* Cache a usable lookup in f. NO_NEIGH keeps only the FIB's egress
 * ifindex (a VLAN upper stays the upper), for the slow path. */
static __always_inline void nh_store(struct xdpfwd_flow *f, const struct bpf_fib_lookup *fib,
				     long rc)
{
	f->nh_ifindex = fib->ifindex;
	f->nh_vlan = 0;
	if (rc == BPF_FIB_LKUP_RET_SUCCESS) {
		__builtin_memcpy(f->nh_dmac, fib->dmac, ETH_ALEN);
		__builtin_memcpy(f->nh_smac, fib->smac, ETH_ALEN);
		f->nh_valid = 1;
		f->nh_vlan = nh_vlan_egress(&f->nh_ifindex, f->nh_vlan_tci);
	} else {
		f->nh_valid = 0;
	}
}

/* The --snat auto source for flows leaving through ifindex: the attached
 * interface's IPv4 address, or the VLAN upper's; 0 when it has none. */
static __always_inline __be32 nh_snat_addr(__u32 ifindex)
{
	struct xdpfwd_iface *ifc = bpf_map_lookup_elem(&xdpfwd_ifaces, &ifindex);
	struct xdpfwd_vlan *vl;

	if (ifc)
		return ifc->ipv4_addr;
	vl = bpf_map_lookup_elem(&xdpfwd_vlans, &ifindex);
	return vl ? vl->ipv4_addr : 0;
}

/* Refresh e's cached next hop when missing (NO_NEIGH, or a new reply
 * entry) or `stale`: the caller just touched last_seen_ns, which happens at
 * most every XDPFWD_TOUCH_NS, so a route or neighbour change reaches a busy
 * flow within about that. Returns XDPFWD_CONTINUE or the verdict for an
 * untranslated packet. */
static __always_inline int nh_refresh(struct xdp_md *ctx, const struct pkt_info *p,
				      struct xdpfwd_flow *e, int stale)
{
	struct bpf_fib_lookup fib;
	long rc;

	if (e->nh_valid && !stale)
		return XDPFWD_CONTINUE;
	rc = nh_fib_lookup(ctx, &fib, p, e->new_saddr, e->new_daddr, e->new_sport, e->new_dport);
	if (!nh_fib_usable(rc))
		return nh_fib_fail(rc);
	nh_store(e, &fib, rc);
	return XDPFWD_CONTINUE;
}

/*
 * Hand a translated packet to the stack with metadata asking xdpfwd_tc to
 * bpf_redirect_neigh() it to ifindex. Tags it arrived with are removed
 * first. Invalidates every packet pointer.
 */
static __always_inline int nh_slowpath(struct xdp_md *ctx, __u8 tags_in, __be16 l3_proto,
				       __u32 ifindex)
{
	struct xdpfwd_meta *meta;
	void *data;

	if (vlan_pop_all(ctx, tags_in, l3_proto)) {
		/* The ingress tags must go: the stack would keep them on the
		 * skb and send the packet out with the ingress VLAN. */
		stats_inc(XDPFWD_STAT_DROP_VLAN);
		return XDP_DROP;
	}
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

/*
 * The egress L2 header: the next hop's MACs and, when either side is
 * tagged, its tags in place of the tags_in ingress ones. Returns 0, or -1
 * when the tags could not be moved (invalidates packet pointers when
 * tagged).
 */
static __always_inline int nh_write_l2(struct xdp_md *ctx, struct ethhdr *eth, __u8 tags_in,
				       __be16 l3_proto, const struct vlan_l2 *l2)
{
	if (!(l2->vlan | tags_in)) {
		/* Untagged in and out, the common case: MACs only. */
		__builtin_memcpy(eth->h_dest, l2->dmac, ETH_ALEN);
		__builtin_memcpy(eth->h_source, l2->smac, ETH_ALEN);
		return 0;
	}
	return vlan_write_l2(ctx, l2, tags_in, l3_proto);
}

/* Send a translated packet to a cached next hop: valid (MACs known),
 * ifindex (an attached device, or the FIB's egress when not valid), l2. */
static __always_inline int nh_send(struct xdp_md *ctx, struct ethhdr *eth, __u8 tags_in,
				   __be16 l3_proto, __u8 valid, __u32 ifindex,
				   const struct vlan_l2 *l2)
{
	if (valid) {
		if (ifindex == ctx->ingress_ifindex) {
			if (nh_write_l2(ctx, eth, tags_in, l3_proto, l2)) {
				/* No headroom for the tags: it cannot be sent. */
				stats_inc(XDPFWD_STAT_DROP_VLAN);
				return XDP_DROP;
			}
			/* Hairpin: out the interface (or trunk) it came in on. */
			return XDP_TX;
		}
		/* With flags 0 a missing devmap key yields XDP_ABORTED, not
		 * XDP_REDIRECT: the egress is not attached, so we fall through
		 * to the slow path. One helper call does lookup and redirect. */
		if (bpf_redirect_map(&xdpfwd_txports, ifindex, 0) == XDP_REDIRECT) {
			if (nh_write_l2(ctx, eth, tags_in, l3_proto, l2)) {
				/* No headroom for the tags: it cannot be sent. */
				stats_inc(XDPFWD_STAT_DROP_VLAN);
				return XDP_DROP;
			}
			/* Egress is ours: redirect straight to it. */
			return XDP_REDIRECT;
		}
		if (l2->vlan) {
			/* A VLAN whose lower device was detached since the next
			 * hop was cached (within XDPFWD_TOUCH_NS): the slow
			 * path would need the upper, which the entry no longer
			 * names. The next refresh sees the change. */
			stats_inc(XDPFWD_STAT_DROP_VLAN);
			return XDP_DROP;
		}
	}
	/* Neighbour unresolved or egress not attached: via the stack. The
	 * Ethernet header is left as received (minus any VLAN tags), so the
	 * stack takes the frame as addressed to this host. */
	return nh_slowpath(ctx, tags_in, l3_proto, ifindex);
}

/* Send a translated IPv4 packet along f's next hop. */
static __always_inline int nh_egress(struct xdp_md *ctx, const struct pkt_info *p,
				     const struct xdpfwd_flow *f)
{
	struct vlan_l2 l2 = {
		.dmac = f->nh_dmac, .smac = f->nh_smac, .tci = f->nh_vlan_tci, .vlan = f->nh_vlan,
	};

	return nh_send(ctx, p->eth, p->vlan_tags, bpf_htons(ETH_P_IP), f->nh_valid,
		       f->nh_ifindex, &l2);
}

#endif /* XDPFWD_NEXTHOP_H */
