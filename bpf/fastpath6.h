/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * fastpath6.h: the IPv6 halves of fastpath.h's helpers for FastPath,
 * the AF_PACKET fallback.
 *
 * - fp_fib6_query: bpf_fib_lookup with AF_INET6 on a struct
 *   xdpfwd_fib6_query, exactly as nh6_fib_lookup makes it.
 * - fp_ct6_add: fp_ct_add on an xdpfwd_flows6 entry.
 * - fp_taken6: the TC classifier's decision for an IPv6 frame. It mirrors
 *   xdpfwd_process6's pass decisions up to the FIB lookup: parse_ip6hdr's
 *   bounded extension-header walk, the TCP/UDP checks, hop limit, a live
 *   flow in xdpfwd_flows6 or a rule in xdpfwd_rules6; or an ICMPv6 error
 *   about a live flow (icmp6_error's checks).
 */
#ifndef XDPFWD_FASTPATH6_H
#define XDPFWD_FASTPATH6_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xdpfwd_kern_user.h"
#include "maps.h"
#include "parsing6.h"
#include "conntrack.h"
#include "conntrack6.h"
#include "maglev.h"
#include "fastpath_skb.h"

#ifndef AF_INET6
#define AF_INET6 10
#endif

/* Fills q's outputs from a lookup made exactly like nh6_fib_lookup's. */
static __always_inline void fp_fib6_query(void *ctx, struct xdpfwd_fib6_query *q)
{
	struct bpf_fib_lookup fib;

	__builtin_memset(&fib, 0, sizeof(fib));
	fib.family = AF_INET6;
	fib.flowinfo = q->flowinfo;
	fib.l4_protocol = q->proto;
	fib.sport = q->sport;
	fib.dport = q->dport;
	fib.tot_len = q->tot_len;
	addr6_copy(fib.ipv6_src, q->src);
	addr6_copy(fib.ipv6_dst, q->dst);
	fib.ifindex = q->ifindex;
	q->rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	q->ifindex = fib.ifindex;
	__builtin_memcpy(q->smac, fib.smac, ETH_ALEN);
	__builtin_memcpy(q->dmac, fib.dmac, ETH_ALEN);
}

/* fp_ct_add on the IPv6 table. */
static __always_inline int fp_ct6_add(const struct xdpfwd_ct6_add *q)
{
	struct xdpfwd_flow6_key key = q->key;
	struct xdpfwd_flow6 *e = bpf_map_lookup_elem(&xdpfwd_flows6, &key);

	if (!e)
		return 0;
	__sync_fetch_and_add(&e->packets, q->packets);
	__sync_fetch_and_add(&e->bytes, q->bytes);
	return 1;
}

/* e is live (ct6_live); the config is loaded only for an entry that is
 * not recent (fp_live). */
static __always_inline int fp_live6(const struct xdpfwd_flow6_key *key, const struct xdpfwd_flow6 *e)
{
	__u64 now = bpf_ktime_get_coarse_ns();
	struct xdpfwd_config cfg;

	if (ct6_recent(e, now))
		return 1;
	ct_config_load(&cfg);
	return ct6_live(key, e, now, &cfg);
}

/* An ICMPv6 error at off whose quote is a packet of a live flow; msg_end
 * is where the IPv6 payload ends, daddr the error's destination
 * (icmp6_error's checks). */
static __always_inline int fp_taken6_icmp(struct __sk_buff *skb, const __be32 *daddr,
					  __u32 off, __u32 msg_end)
{
	struct xdpfwd_flow6_key key = {};
	struct xdpfwd_flow6 *e;
	const struct ipv6hdr *q;
	const __be16 *ports;
	const __u8 *icmp;
	__u8 icmp_buf[8 + sizeof(*q) + 4];

	/* The ICMPv6 header, the quoted IPv6 header, its ports. */
	if (off + 8 + sizeof(*q) + 4 > msg_end)
		return 0;
	icmp = fp_hdr(skb, off, sizeof(icmp_buf), icmp_buf);
	if (!icmp || icmp[0] < 1 || icmp[0] > 4)
		return 0;
	q = (const void *)(icmp + 8);
	ports = (const void *)(q + 1);
	if ((q->nexthdr != IPPROTO_TCP && q->nexthdr != IPPROTO_UDP) ||
	    !addr6_eq(daddr, q->saddr.in6_u.u6_addr32))
		return 0;
	addr6_copy(key.saddr, q->daddr.in6_u.u6_addr32);
	addr6_copy(key.daddr, q->saddr.in6_u.u6_addr32);
	key.sport = ports[1];
	key.dport = ports[0];
	key.proto = q->nexthdr;
	e = bpf_map_lookup_elem(&xdpfwd_flows6, &key);
	return e && fp_live6(&key, e);
}

/*
 * 1 when FastPath will translate (or drop) this IPv6 frame, whose IPv6
 * header is at l3 (after the VLAN tags left in the bytes: fp_l3): TCP/UDP with
 * valid headers behind at most XDPFWD_MAX_EXTHDRS skippable extension
 * headers, hop limit > 1, and a live flow or a rule for it; or an ICMPv6
 * error about a live flow. Headers are read in place (fp_hdr). A
 * subprogram: its stack stays off the IPv4 classifier's.
 */
static __attribute__((noinline)) int fp_taken6(struct __sk_buff *skb, __u32 l3)
{
	struct xdpfwd_flow6_key key = {};
	struct xdpfwd_flow6 *e;
	const struct ipv6hdr *ip6h;
	const struct ip6_ext_hdr *ext;
	const __u8 *l4;
	struct ipv6hdr ip6h_buf;
	struct ip6_ext_hdr ext_buf;
	__u8 l4_buf[sizeof(struct tcphdr)];
	__u32 off = l3 + sizeof(*ip6h), len = skb->len, payload, hlen, msg_end;
	__u8 next, tcp_flags = 0;
	int i;

	ip6h = fp_hdr(skb, l3, sizeof(*ip6h), &ip6h_buf);
	if (!ip6h)
		return 0;
	payload = bpf_ntohs(ip6h->payload_len);
	if (ip6h->version != 6 || payload == 0 || off + payload > len || ip6h->hop_limit <= 1)
		return 0;
	msg_end = off + payload;
	next = ip6h->nexthdr;
	addr6_copy(key.saddr, ip6h->saddr.in6_u.u6_addr32);
	addr6_copy(key.daddr, ip6h->daddr.in6_u.u6_addr32);
	/* parse_ip6hdr's walk: hop-by-hop, spent routing, destination options. */
	for (i = 0; i <= XDPFWD_MAX_EXTHDRS; i++) {
		if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING && next != IPPROTO_DSTOPTS)
			break;
		if (i == XDPFWD_MAX_EXTHDRS)
			return 0;
		ext = fp_hdr(skb, off, sizeof(*ext), &ext_buf);
		if (!ext || (next == IPPROTO_ROUTING && ext->segs_left))
			return 0;
		hlen = ((__u32)ext->hdrlen + 1) * 8;
		if (hlen > payload)
			return 0;
		payload -= hlen;
		off += hlen;
		next = ext->nexthdr;
	}
	if (next == IPPROTO_TCP) {
		l4 = fp_hdr(skb, off, sizeof(struct tcphdr), l4_buf);
		if (!l4)
			return 0;
		if ((l4[12] >> 4) < 5 || (__u32)(l4[12] >> 4) * 4 > payload)
			return 0;
		tcp_flags = l4[13];
	} else if (next == IPPROTO_UDP) {
		__u32 ulen;

		l4 = fp_hdr(skb, off, sizeof(struct udphdr), l4_buf);
		if (!l4 || payload < 8)
			return 0;
		ulen = bpf_ntohs(((const struct udphdr *)l4)->len);
		if (ulen < 8 || ulen > payload)
			return 0;
	} else if (next == IPPROTO_ICMPV6) {
		return fp_taken6_icmp(skb, key.daddr, off, msg_end);
	} else {
		/* Fragments, AH, other upper layers: the stack's. */
		return 0;
	}
	key.sport = ((const __be16 *)l4)[0];
	key.dport = ((const __be16 *)l4)[1];
	key.proto = next;
	e = bpf_map_lookup_elem(&xdpfwd_flows6, &key);
	/* A client SYN on a closing flow starts a new flow: taken only if a
	 * rule still matches. */
	if (e && !ct_tcp_reuse(e->state, e->direction, tcp_flags) && fp_live6(&key, e))
		return 1;
	return mg_rule6(&key) != NULL;
}

#endif /* XDPFWD_FASTPATH6_H */
