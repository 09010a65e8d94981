/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * vlan.h: 802.1Q / 802.1ad (QinQ) tags. Ingress: skip at most
 * XDPFWD_VLAN_MAX_TAGS tags behind the Ethernet header. Egress: rebuild
 * the L2 header with the next hop's MACs and tags, moving the packet head
 * when the tag count changes (push, pop, or rewrite in place).
 */
#ifndef XDPFWD_VLAN_H
#define XDPFWD_VLAN_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xdpfwd_kern_user.h"
#include "parsing.h"

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

/* A tag as it follows the MAC addresses' TPID: TCI, then the next type. */
struct vlan_tag {
	__be16 tci;
	__be16 next_proto;
};

#define VLAN_TAG_LEN ((int)sizeof(struct vlan_tag))

/*
 * proto is the Ethernet header's type. Skips an outer 802.1Q or 802.1ad tag
 * and an inner 802.1Q tag; returns the type behind them (still a TPID when
 * a third tag follows, which no caller accepts as IP), or -1 when a tag is
 * cut short. *tags: how many tags were skipped.
 */
static __always_inline int parse_vlan_tags(struct hdr_cursor *nh, void *data_end,
					   int proto, __u8 *tags)
{
	struct vlan_tag *vt = nh->pos;

	*tags = 0;
	if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
		return proto;
	if ((void *)(vt + 1) > data_end)
		return -1;
	*tags = 1;
	proto = vt->next_proto;
	if (proto != bpf_htons(ETH_P_8021Q)) {
		nh->pos = vt + 1;
		return proto;
	}
	if ((void *)(vt + 2) > data_end)
		return -1;
	*tags = 2;
	nh->pos = vt + 2;
	return vt[1].next_proto;
}

/* A cached next hop's L2 header: where IPv4 and IPv6 flow entries keep it. */
struct vlan_l2 {
	const __u8 *dmac;
	const __u8 *smac;
	const __be16 *tci;  /* outer, inner */
	__u8 vlan;          /* XDPFWD_VLAN_* bits */
};

/*
 * Rewrite the L2 header for egress along f: f's MACs, then f's tags
 * (f->vlan) in place of the tags_in tags the frame arrived with, then
 * l3_proto. Moves the head by the difference in tag count. Invalidates
 * every packet pointer. Returns 0, or -1 when the head cannot move.
 */
static __always_inline int vlan_write_l2(struct xdp_md *ctx, const struct vlan_l2 *f,
					 __u8 tags_in, __be16 l3_proto)
{
	__u8 tags_out = f->vlan & XDPFWD_VLAN_COUNT_MASK;
	int delta = ((int)tags_in - (int)tags_out) * VLAN_TAG_LEN;
	struct vlan_tag *vt;
	struct ethhdr *eth;
	void *data_end;

	if (delta && bpf_xdp_adjust_head(ctx, delta))
		return -1;
	eth = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	vt = (void *)(eth + 1);
	/* Room for two tags: an IP header always follows the L2 header. */
	if ((void *)(vt + XDPFWD_VLAN_MAX_TAGS) > data_end)
		return -1;
	__builtin_memcpy(eth->h_dest, f->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, f->smac, ETH_ALEN);
	if (tags_out == 0) {
		eth->h_proto = l3_proto;
		return 0;
	}
	eth->h_proto = (f->vlan & XDPFWD_VLAN_OUTER_AD) ? bpf_htons(ETH_P_8021AD) :
							      bpf_htons(ETH_P_8021Q);
	vt[0].tci = f->tci[0];
	if (tags_out == 1) {
		vt[0].next_proto = l3_proto;
		return 0;
	}
	vt[0].next_proto = bpf_htons(ETH_P_8021Q);
	vt[1].tci = f->tci[1];
	vt[1].next_proto = l3_proto;
	return 0;
}

/*
 * Remove the tags_in tags a frame arrived with, keeping its MACs, so the
 * stack sees it as untagged. Invalidates every packet pointer. Returns 0,
 * or -1 when the frame is too short or the head cannot move.
 */
static __always_inline int vlan_pop_all(struct xdp_md *ctx, __u8 tags_in, __be16 l3_proto)
{
	struct ethhdr *eth = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 macs[2 * ETH_ALEN];

	if (!tags_in)
		return 0;
	if ((void *)(eth + 1) > data_end)
		return -1;
	__builtin_memcpy(macs, eth, sizeof(macs));
	if (bpf_xdp_adjust_head(ctx, (int)tags_in * VLAN_TAG_LEN))
		return -1;
	eth = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if ((void *)(eth + 1) > data_end)
		return -1;
	__builtin_memcpy(eth, macs, sizeof(macs));
	eth->h_proto = l3_proto;
	return 0;
}

#endif /* XDPFWD_VLAN_H */
