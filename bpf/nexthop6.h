/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * nexthop6.h: nexthop.h for IPv6 flows: bpf_fib_lookup with AF_INET6, the
 * next hop cached in the flow entry, egress by XDP_TX, devmap redirect or
 * the TC slow path (shared with IPv4).
 */
#ifndef XDPFWD_NEXTHOP6_H
#define XDPFWD_NEXTHOP6_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xdpfwd_kern_user.h"
#include "maps.h"
#include "parsing6.h"
#include "nexthop.h"

#ifndef AF_INET6
#define AF_INET6 10
#endif

/* Route (src, dst, sport, dport) as if it arrived on the ingress interface. */
static __always_inline long nh6_fib_lookup(struct xdp_md *ctx, struct bpf_fib_lookup *fib,
					   const struct ipv6hdr *ip6h, __u8 proto,
					   const __be32 *src, const __be32 *dst,
					   __be16 sport, __be16 dport)
{
	__builtin_memset(fib, 0, sizeof(*fib));
	fib->family = AF_INET6;
	/* Traffic class and flow label, as the kernel's route lookup uses. */
	fib->flowinfo = *(__be32 *)ip6h & bpf_htonl(0x0FFFFFFF);
	fib->l4_protocol = proto;
	fib->sport = sport;
	fib->dport = dport;
	/* Host order, the whole packet: lets the kernel check the egress MTU. */
	fib->tot_len = sizeof(*ip6h) + bpf_ntohs(ip6h->payload_len);
	addr6_copy(fib->ipv6_src, src);
	addr6_copy(fib->ipv6_dst, dst);
	fib->ifindex = ctx->ingress_ifindex;
	return bpf_fib_lookup(ctx, fib, sizeof(*fib), 0);
}

/* Cache a usable lookup in f (see nh_store). */
static __always_inline void nh6_store(struct xdpfwd_flow6 *f, const struct bpf_fib_lookup *fib,
				      long rc)
{
	f->nh_ifindex = fib->ifindex;
	f->nh_vlan = 0;
	if (rc == BPF_FIB_LKUP_RET_SUCCESS) {
		__builtin_memcpy(f->nh_dmac, fib->dmac, ETH_ALEN);
		__builtin_memcpy(f->nh_smac, fib->smac, ETH_ALEN);
		f->nh_valid = 1;
		/* A VLAN upper becomes its lower plus tags (see nh_store). */
		f->nh_vlan = nh_vlan_egress(&f->nh_ifindex, f->nh_vlan_tci);
	} else {
		f->nh_valid = 0;
	}
}

/* The --snat auto IPv6 source for flows leaving through ifindex: the
 * attached interface's or the VLAN upper's global address; NULL if none. */
static __always_inline const __be32 *nh6_snat_addr(__u32 ifindex)
{
	struct xdpfwd_iface *ifc = bpf_map_lookup_elem(&xdpfwd_ifaces, &ifindex);
	struct xdpfwd_vlan *vl;

	if (ifc)
		return addr6_is_zero(ifc->ipv6_addr) ? NULL : ifc->ipv6_addr;
	vl = bpf_map_lookup_elem(&xdpfwd_vlans, &ifindex);
	return vl && !addr6_is_zero(vl->ipv6_addr) ? vl->ipv6_addr : NULL;
}

/* Look the next hop up again and cache it in e. A subprogram (once a
 * second per flow), keeping the lookup's stack off the IPv6 path's frame. */
static __attribute__((noinline)) int nh6_lookup_store(struct xdp_md *ctx, const struct ipv6hdr *ip6h,
						      __u8 proto, struct xdpfwd_flow6 *e)
{
	struct bpf_fib_lookup fib;
	long rc;

	rc = nh6_fib_lookup(ctx, &fib, ip6h, proto, e->new_saddr, e->new_daddr,
			    e->new_sport, e->new_dport);
	if (!nh_fib_usable(rc))
		return nh_fib_fail(rc);
	nh6_store(e, &fib, rc);
	return XDPFWD_CONTINUE;
}

/* Refresh e's cached next hop when missing or stale (see nh_refresh).
 * Returns XDPFWD_CONTINUE or the verdict for an untranslated packet. */
static __always_inline int nh6_refresh(struct xdp_md *ctx, const struct ipv6hdr *ip6h,
				       __u8 proto, struct xdpfwd_flow6 *e, int stale)
{
	if (e->nh_valid && !stale)
		return XDPFWD_CONTINUE;
	return nh6_lookup_store(ctx, ip6h, proto, e);
}

/* Send a translated IPv6 packet, which arrived with tags_in VLAN tags,
 * along f's next hop (see nh_send). */
static __always_inline int nh6_egress(struct xdp_md *ctx, struct ethhdr *eth, __u8 tags_in,
				      const struct xdpfwd_flow6 *f)
{
	struct vlan_l2 l2 = {
		.dmac = f->nh_dmac, .smac = f->nh_smac, .tci = f->nh_vlan_tci, .vlan = f->nh_vlan,
	};

	return nh_send(ctx, eth, tags_in, bpf_htons(ETH_P_IPV6), f->nh_valid, f->nh_ifindex, &l2);
}

#endif /* XDPFWD_NEXTHOP6_H */
