/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * vlan-emu.bpf.c: software 802.1Q for scripts/e2e-vlan.sh on kernels
 * without CONFIG_VLAN_8021Q (no `ip link add ... type vlan`). TC programs,
 * compiled by the script with -DVID=, -DLOWER_IFINDEX=, -DUPPER_PEER_IFINDEX=:
 *
 *   access_egress   a host port on VLAN VID: tag everything it sends
 *   access_ingress  ... and accept only frames tagged VID, untagged
 *   trunk_ingress   on the forwarder's trunk (XDP runs before it): frames
 *                   tagged VID go, untagged, to the stand-in upper device
 *                   (a veth: out of its peer UPPER_PEER_IFINDEX); anything
 *                   else continues to the next filter (xdpfwd's slow path)
 *   upper_tx        on that peer's ingress: what the upper sends, tagged
 *                   VID, out of the trunk LOWER_IFINDEX
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

/* The kernel moves a received tag into skb->vlan_tci before TC ingress. */
static __always_inline int tagged_vid(struct __sk_buff *skb)
{
	return skb->vlan_present && (skb->vlan_tci & 0x0fff) == VID;
}

SEC("tc")
int access_egress(struct __sk_buff *skb)
{
	/* The device has tx VLAN offload off, so the tag lands in the frame. */
	if (bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), VID))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

SEC("tc")
int access_ingress(struct __sk_buff *skb)
{
	if (!tagged_vid(skb))
		/* Not our VLAN: an access port drops it. */
		return TC_ACT_SHOT;
	bpf_skb_vlan_pop(skb);
	return TC_ACT_OK;
}

SEC("tc")
int trunk_ingress(struct __sk_buff *skb)
{
	if (!tagged_vid(skb))
		/* Untagged or another VLAN: the next filter's. */
		return TC_ACT_UNSPEC;
	bpf_skb_vlan_pop(skb);
	return bpf_redirect(UPPER_PEER_IFINDEX, 0);
}

SEC("tc")
int upper_tx(struct __sk_buff *skb)
{
	if (bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), VID))
		return TC_ACT_SHOT;
	return bpf_redirect(LOWER_IFINDEX, 0);
}

char _license[] SEC("license") = "Dual MIT/GPL";
