/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * fastpath.h: the kernel-side helpers of FastPath, the AF_PACKET
 * fallback (Sources/FastPath), which forwards in user space from packet
 * rings with the same maps as the XDP program.
 *
 * - fp_fib_query: bpf_fib_lookup on a struct xdpfwd_fib_query, so user
 *   space routes exactly as nh_fib_lookup does (run via BPF_PROG_TEST_RUN);
 *   IPv6: fp_fib6_query (fastpath6.h).
 * - fp_ct_add: a worker's deferred per-flow counts added to an entry in
 *   place (run via BPF_PROG_TEST_RUN), so they never overwrite what
 *   another writer changed in it; IPv6: fp_ct6_add (fastpath6.h).
 * - fp_taken: the decision of the TC classifier on FastPath interfaces.
 *   AF_PACKET taps see a packet before TC ingress; the classifier drops
 *   the original of every packet FastPath will forward, so the stack does
 *   not also answer it (with a RST) or route it. It mirrors the XDP
 *   program's pass decisions up to the FIB lookup.
 */
#ifndef XDPFWD_FASTPATH_H
#define XDPFWD_FASTPATH_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xdpfwd_kern_user.h"
#include "maps.h"
#include "parsing.h"
#include "conntrack.h"
#include "maglev.h"
#include "vlan.h"
#include "fastpath6.h"

#ifndef AF_INET
#define AF_INET 2
#endif

/* Fills q's outputs from a lookup made exactly like nh_fib_lookup's. */
static __always_inline void fp_fib_query(void *ctx, struct xdpfwd_fib_query *q)
{
	struct bpf_fib_lookup fib;

	__builtin_memset(&fib, 0, sizeof(fib));
	fib.family = AF_INET;
	fib.tos = q->tos;
	fib.l4_protocol = q->proto;
	fib.sport = q->sport;
	fib.dport = q->dport;
	fib.tot_len = q->tot_len;
	fib.ipv4_src = q->src;
	fib.ipv4_dst = q->dst;
	fib.ifindex = q->ifindex;
	q->rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	q->ifindex = fib.ifindex;
	__builtin_memcpy(q->smac, fib.smac, ETH_ALEN);
	__builtin_memcpy(q->dmac, fib.dmac, ETH_ALEN);
}

/* Adds q's counts to the entry at q->key; false when there is none.
 * Atomic adds: two workers may flush the same entry at once. */
static __always_inline int fp_ct_add(const struct xdpfwd_ct_add *q)
{
	struct xdpfwd_flow_key key = q->key;
	struct xdpfwd_flow *e = bpf_map_lookup_elem(&xdpfwd_flows, &key);

	if (!e)
		return 0;
	__sync_fetch_and_add(&e->packets, q->packets);
	__sync_fetch_and_add(&e->bytes, q->bytes);
	return 1;
}

/*
 * Where the L3 header starts in the skb's bytes, and its type (*proto),
 * judged on the frame as the wire had it, as parse_vlan_tags does. Before
 * the tap the kernel took the outer tag (802.1Q or 802.1ad) off into skb
 * metadata (vlan_present, vlan_proto), which is also how the FastPath
 * ring reports it; an inner tag stays in the bytes. Returns -1 when a tag
 * is cut short.
 */
static __always_inline int fp_l3(struct __sk_buff *skb, __be16 *proto)
{
	int l3 = ETH_HLEN;

	if (bpf_skb_load_bytes(skb, 12, proto, sizeof(*proto)))
		return -1;
	if (skb->vlan_present) {
		/* The wire's outer TPID is vlan_proto; the bytes' type is the
		 * type behind that tag. */
		if (skb->vlan_proto != bpf_htons(ETH_P_8021Q) && skb->vlan_proto != bpf_htons(ETH_P_8021AD)) {
			*proto = skb->vlan_proto;
			return l3;
		}
		if (*proto != bpf_htons(ETH_P_8021Q))
			return l3;
		/* Inner tag in the bytes: its type follows its TCI. */
		return bpf_skb_load_bytes(skb, 16, proto, sizeof(*proto)) ? -1 : l3 + VLAN_TAG_LEN;
	}
	if (*proto != bpf_htons(ETH_P_8021Q) && *proto != bpf_htons(ETH_P_8021AD))
		return l3;
	/* Tags the kernel left in the bytes (none taken off). */
	if (bpf_skb_load_bytes(skb, 16, proto, sizeof(*proto)))
		return -1;
	if (*proto != bpf_htons(ETH_P_8021Q))
		return l3 + VLAN_TAG_LEN;
	return bpf_skb_load_bytes(skb, 20, proto, sizeof(*proto)) ? -1 : l3 + 2 * VLAN_TAG_LEN;
}

/* An ICMP error quoting a packet of a live flow: FastPath translates it
 * (icmp4_error's checks, minus the ones fp_taken made already). */
static __always_inline int fp_taken_icmp(struct __sk_buff *skb, __u32 l3, const struct iphdr *iph,
					 __u32 hlen, __u32 tot_len)
{
	struct xdpfwd_flow_key key = {};
	struct xdpfwd_config cfg;
	struct xdpfwd_flow *e;
	struct iphdr q;
	__u16 ports[2];
	__u32 qp;
	__u8 type;

	if (bpf_skb_load_bytes(skb, l3 + hlen, &type, 1) ||
	    !(type == 3 || type == 11 || type == 12))
		return 0;
	if (bpf_skb_load_bytes(skb, l3 + hlen + 8, &q, sizeof(q)))
		return 0;
	if (q.version != 4 || q.ihl < 5 || (q.protocol != IPPROTO_TCP && q.protocol != IPPROTO_UDP) ||
	    (q.frag_off & bpf_htons(IP_OFFSET)))
		return 0;
	qp = hlen + 8 + q.ihl * 4;
	if (qp + 4 > tot_len || iph->daddr != q.saddr ||
	    bpf_skb_load_bytes(skb, l3 + qp, ports, sizeof(ports)))
		return 0;
	key.saddr = q.daddr;
	key.daddr = q.saddr;
	key.sport = ports[1];
	key.dport = ports[0];
	key.proto = q.protocol;
	ct_config_load(&cfg);
	e = bpf_map_lookup_elem(&xdpfwd_flows, &key);
	return e && ct_live(&key, e, bpf_ktime_get_coarse_ns(), &cfg);
}

/*
 * 1 when FastPath will translate (or drop) this packet: IPv4 TCP/UDP with
 * valid headers, not a fragment, TTL > 1, and a live flow or a rule for
 * it; or an ICMP error about a live flow. Untagged or behind up to two
 * VLAN tags (fp_l3). IPv6: fp_taken6. Headers are copied with
 * bpf_skb_load_bytes, so non-linear skbs work.
 */
static __always_inline int fp_taken(struct __sk_buff *skb)
{
	struct xdpfwd_flow_key key = {};
	struct xdpfwd_config cfg;
	struct xdpfwd_flow *e;
	struct iphdr iph;
	__u32 hlen, tot_len, l4_len, len = skb->len;
	__u16 ports[2];
	__u8 tcp_flags = 0;
	__be16 proto;
	int l3;

	l3 = fp_l3(skb, &proto);
	if (l3 < 0)
		return 0;
	if (proto == bpf_htons(ETH_P_IPV6))
		return fp_taken6(skb, l3);
	if (proto != bpf_htons(ETH_P_IP))
		return 0;
	if (bpf_skb_load_bytes(skb, l3, &iph, sizeof(iph)))
		return 0;
	if (iph.version != 4 || iph.ihl < 5 || ip_is_fragment(&iph) || iph.ttl <= 1)
		return 0;
	hlen = iph.ihl * 4;
	tot_len = bpf_ntohs(iph.tot_len);
	if (tot_len < hlen || l3 + tot_len > len)
		return 0;
	l4_len = tot_len - hlen;
	if (iph.protocol == IPPROTO_TCP) {
		__u8 doff;

		if (l3 + hlen + sizeof(struct tcphdr) > len ||
		    bpf_skb_load_bytes(skb, l3 + hlen + 12, &doff, 1))
			return 0;
		if ((doff >> 4) < 5 || (__u32)(doff >> 4) * 4 > l4_len)
			return 0;
		if (bpf_skb_load_bytes(skb, l3 + hlen + 13, &tcp_flags, 1))
			return 0;
	} else if (iph.protocol == IPPROTO_UDP) {
		__u16 ulen;

		if (l3 + hlen + sizeof(struct udphdr) > len || l4_len < sizeof(struct udphdr) ||
		    bpf_skb_load_bytes(skb, l3 + hlen + 4, &ulen, 2))
			return 0;
		ulen = bpf_ntohs(ulen);
		if (ulen < sizeof(struct udphdr) || ulen > l4_len)
			return 0;
	} else if (iph.protocol == IPPROTO_ICMP) {
		return fp_taken_icmp(skb, l3, &iph, hlen, tot_len);
	} else {
		return 0;
	}
	if (bpf_skb_load_bytes(skb, l3 + hlen, ports, sizeof(ports)))
		return 0;
	key.saddr = iph.saddr;
	key.daddr = iph.daddr;
	key.sport = ports[0];
	key.dport = ports[1];
	key.proto = iph.protocol;
	ct_config_load(&cfg);
	e = bpf_map_lookup_elem(&xdpfwd_flows, &key);
	/* A client SYN on a closing flow starts a new flow (ct_tcp_reuse):
	 * taken only if a rule still matches. */
	if (e && !ct_tcp_reuse(e->state, e->direction, tcp_flags) &&
	    ct_live(&key, e, bpf_ktime_get_coarse_ns(), &cfg))
		return 1;
	/* A rule for the destination: exact, or wildcard on a local address. */
	return mg_rule4(&key) != NULL;
}

#endif /* XDPFWD_FASTPATH_H */
