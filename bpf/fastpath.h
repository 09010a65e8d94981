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
 *   program's pass decisions up to the FIB lookup. It runs for every
 *   packet of the interface, so it reads headers in place (fp_hdr,
 *   fastpath_skb.h) and loads the config only for a flow entry that is
 *   not recent (fp_live).
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
#include "fastpath_skb.h"
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

/* The 16-bit type at off (an EtherType or a tag's next type); -1 when
 * the skb is shorter. */
static __always_inline int fp_type_at(struct __sk_buff *skb, __u32 off, __be16 *proto)
{
	__be16 buf;
	const __be16 *p = fp_hdr(skb, off, sizeof(*p), &buf);

	if (!p)
		return -1;
	*proto = *p;
	return 0;
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

	if (fp_type_at(skb, 12, proto))
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
		return fp_type_at(skb, 16, proto) ? -1 : l3 + VLAN_TAG_LEN;
	}
	if (*proto != bpf_htons(ETH_P_8021Q) && *proto != bpf_htons(ETH_P_8021AD))
		return l3;
	/* Tags the kernel left in the bytes (none taken off). */
	if (fp_type_at(skb, 16, proto))
		return -1;
	if (*proto != bpf_htons(ETH_P_8021Q))
		return l3 + VLAN_TAG_LEN;
	return fp_type_at(skb, 20, proto) ? -1 : l3 + 2 * VLAN_TAG_LEN;
}

/*
 * e is live (ct_live). A recent entry is live whatever its state and the
 * config (ct_recent), which is every entry of a flow with traffic: only
 * an older one needs the config loaded.
 */
static __always_inline int fp_live(const struct xdpfwd_flow_key *key, const struct xdpfwd_flow *e)
{
	__u64 now = bpf_ktime_get_coarse_ns();
	struct xdpfwd_config cfg;

	if (ct_recent(e, now))
		return 1;
	ct_config_load(&cfg);
	return ct_live(key, e, now, &cfg);
}

/* An ICMP error quoting a packet of a live flow: FastPath translates it
 * (icmp4_error's checks, minus the ones fp_taken made already). daddr is
 * the error's destination. */
static __always_inline int fp_taken_icmp(struct __sk_buff *skb, __u32 l3, __be32 daddr,
					 __u32 hlen, __u32 tot_len)
{
	struct xdpfwd_flow_key key = {};
	struct xdpfwd_flow *e;
	const __u8 *icmp;
	const struct iphdr *q;
	const __be16 *ports;
	__u8 icmp_buf[8 + sizeof(*q)];
	__be16 ports_buf[2];
	__u32 qp;
	__u8 type;

	/* Type, the rest of the ICMP header, then the quoted IP header. */
	icmp = fp_hdr(skb, l3 + hlen, sizeof(icmp_buf), icmp_buf);
	if (!icmp)
		return 0;
	type = icmp[0];
	if (!(type == 3 || type == 11 || type == 12))
		return 0;
	q = (const void *)(icmp + 8);
	if (q->version != 4 || q->ihl < 5 || (q->protocol != IPPROTO_TCP && q->protocol != IPPROTO_UDP) ||
	    (q->frag_off & bpf_htons(IP_OFFSET)))
		return 0;
	qp = hlen + 8 + q->ihl * 4;
	if (qp + 4 > tot_len || daddr != q->saddr)
		return 0;
	key.saddr = q->daddr;
	key.daddr = q->saddr;
	key.proto = q->protocol;
	ports = fp_hdr(skb, l3 + qp, sizeof(ports_buf), ports_buf);
	if (!ports)
		return 0;
	key.sport = ports[1];
	key.dport = ports[0];
	e = bpf_map_lookup_elem(&xdpfwd_flows, &key);
	return e && fp_live(&key, e);
}

/*
 * 1 when FastPath will translate (or drop) this packet: IPv4 TCP/UDP with
 * valid headers, not a fragment, TTL > 1, and a live flow or a rule for
 * it; or an ICMP error about a live flow. Untagged or behind up to two
 * VLAN tags (fp_l3). IPv6: fp_taken6. Headers are read in place, or
 * copied when a non-linear skb holds them in fragments (fp_hdr).
 */
static __always_inline int fp_taken(struct __sk_buff *skb)
{
	struct xdpfwd_flow_key key = {};
	struct xdpfwd_flow *e;
	const struct iphdr *iph;
	struct iphdr iph_buf;
	const __u8 *l4;
	__u8 l4_buf[sizeof(struct tcphdr)];
	__u32 hlen, tot_len, l4_len, len = skb->len;
	__u8 tcp_flags = 0, proto;
	__be16 l3_proto;
	int l3;

	l3 = fp_l3(skb, &l3_proto);
	if (l3 < 0)
		return 0;
	if (l3_proto == bpf_htons(ETH_P_IPV6))
		return fp_taken6(skb, l3);
	if (l3_proto != bpf_htons(ETH_P_IP))
		return 0;
	iph = fp_hdr(skb, l3, sizeof(*iph), &iph_buf);
	if (!iph)
		return 0;
	if (iph->version != 4 || iph->ihl < 5 || ip_is_fragment(iph) || iph->ttl <= 1)
		return 0;
	hlen = iph->ihl * 4;
	tot_len = bpf_ntohs(iph->tot_len);
	if (tot_len < hlen || l3 + tot_len > len)
		return 0;
	l4_len = tot_len - hlen;
	key.saddr = iph->saddr;
	key.daddr = iph->daddr;
	key.proto = proto = iph->protocol;
	if (proto == IPPROTO_TCP) {
		l4 = fp_hdr(skb, l3 + hlen, sizeof(struct tcphdr), l4_buf);
		if (!l4)
			return 0;
		if ((l4[12] >> 4) < 5 || (__u32)(l4[12] >> 4) * 4 > l4_len)
			return 0;
		tcp_flags = l4[13];
	} else if (proto == IPPROTO_UDP) {
		__u32 ulen;

		l4 = fp_hdr(skb, l3 + hlen, sizeof(struct udphdr), l4_buf);
		if (!l4 || l4_len < sizeof(struct udphdr))
			return 0;
		ulen = bpf_ntohs(((const struct udphdr *)l4)->len);
		if (ulen < sizeof(struct udphdr) || ulen > l4_len)
			return 0;
	} else if (proto == IPPROTO_ICMP) {
		return fp_taken_icmp(skb, l3, key.daddr, hlen, tot_len);
	} else {
		return 0;
	}
	key.sport = ((const __be16 *)l4)[0];
	key.dport = ((const __be16 *)l4)[1];
	e = bpf_map_lookup_elem(&xdpfwd_flows, &key);
	/* A client SYN on a closing flow starts a new flow (ct_tcp_reuse):
	 * taken only if a rule still matches. */
	if (e && !ct_tcp_reuse(e->state, e->direction, tcp_flags) && fp_live(&key, e))
		return 1;
	/* A rule for the destination: exact, or wildcard on a local address. */
	return mg_rule4(&key) != NULL;
}

#endif /* XDPFWD_FASTPATH_H */
