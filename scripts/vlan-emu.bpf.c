/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * vlan-emu.bpf.c: software 802.1Q for scripts/e2e-vlan.sh on kernels
 * without CONFIG_VLAN_8021Q (no `ip link add ... type vlan`). TC programs,
 * compiled by the script with -DVID=, -DLOWER_IFINDEX=, -DUPPER_PEER_IFINDEX=,
 * and for QinQ -DOUTER_VID= (an 802.1ad service tag 0x88a8 OUTER_VID outside
 * the 802.1Q tag VID; 0, the default, for a single tag):
 *
 *   access_egress   a host port on the VLAN: tag everything it sends
 *   access_ingress  ... and accept only frames with its tag(s), untagged
 *   trunk_ingress   on the forwarder's trunk (XDP runs before it): frames
 *                   with the VLAN's tag(s) go, untagged, to the stand-in
 *                   upper device (a veth: out of its peer
 *                   UPPER_PEER_IFINDEX); anything else continues to the
 *                   next filter (xdpfwd's slow path)
 *   upper_tx        on that peer's ingress: what the upper sends, tagged,
 *                   out of the trunk LOWER_IFINDEX
 *
 * The test data plane is xdpfwd itself; these only stand in for the
 * kernel's VLAN devices around it. Not part of xdpfwd.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef VID
#define VID 100
#endif
#ifndef LOWER_IFINDEX
#define LOWER_IFINDEX 0
#endif
#ifndef UPPER_PEER_IFINDEX
#define UPPER_PEER_IFINDEX 0
#endif
#ifndef OUTER_VID
#define OUTER_VID 0
#endif

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

/*
 * The frame carries this VLAN's tag(s). The kernel moves a received outer
 * tag into skb->vlan_tci before TC ingress; a QinQ frame's inner tag stays
 * in the bytes (TPID at 12, TCI at 14).
 */
static __always_inline int tagged_vid(struct __sk_buff *skb)
{
	__be16 inner[2];

	if (!OUTER_VID)
		return skb->vlan_present && skb->vlan_proto == bpf_htons(ETH_P_8021Q) &&
		       (skb->vlan_tci & 0x0fff) == VID;
	if (!skb->vlan_present || skb->vlan_proto != bpf_htons(ETH_P_8021AD) ||
	    (skb->vlan_tci & 0x0fff) != OUTER_VID)
		return 0;
	if (bpf_skb_load_bytes(skb, 12, inner, sizeof(inner)))
		return 0;
	return inner[0] == bpf_htons(ETH_P_8021Q) && (bpf_ntohs(inner[1]) & 0x0fff) == VID;
}

/* Pops the outer tag; for QinQ the kernel moves the inner one into the
 * metadata, and a second pop removes it. */
static __always_inline void pop_tags(struct __sk_buff *skb)
{
	bpf_skb_vlan_pop(skb);
	if (OUTER_VID)
		bpf_skb_vlan_pop(skb);
}

/* Pushes the inner (or only) tag, then for QinQ the outer one, which moves
 * the inner into the bytes. The devices have tx VLAN offload off, so the
 * outer lands in the frame too. Returns nonzero on failure. */
static __always_inline int push_tags(struct __sk_buff *skb)
{
	if (bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), VID))
		return 1;
	return OUTER_VID && bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021AD), OUTER_VID);
}

SEC("tc")
int access_egress(struct __sk_buff *skb)
{
	if (push_tags(skb))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

SEC("tc")
int access_ingress(struct __sk_buff *skb)
{
	if (!tagged_vid(skb))
		/* Not our VLAN: an access port drops it. */
		return TC_ACT_SHOT;
	pop_tags(skb);
	return TC_ACT_OK;
}

SEC("tc")
int trunk_ingress(struct __sk_buff *skb)
{
	if (!tagged_vid(skb))
		/* Untagged or another VLAN: the next filter's. */
		return TC_ACT_UNSPEC;
	pop_tags(skb);
	return bpf_redirect(UPPER_PEER_IFINDEX, 0);
}

SEC("tc")
int upper_tx(struct __sk_buff *skb)
{
	if (push_tags(skb))
		return TC_ACT_SHOT;
	return bpf_redirect(LOWER_IFINDEX, 0);
}

char _license[] SEC("license") = "Dual MIT/GPL";
