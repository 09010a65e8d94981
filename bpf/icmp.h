/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * icmp.h: ICMP and ICMPv6 errors about translated flows (destination
 * unreachable, fragmentation needed / packet too big, time exceeded,
 * parameter problem) are translated like the flow's packets, so that PMTU
 * discovery and error reporting work through the forwarder.
 *
 * An error quotes the packet that caused it. That quote is a packet of one
 * of our flows as the peer saw it, so the reverse of its tuple is the key of
 * the entry for the direction the error travels: from the backend side it
 * is the REPLY entry, from the client side the FORWARD entry. That entry
 * says everything: the quote's source becomes (new_daddr, new_dport), its
 * destination (new_saddr, new_sport); the outer header goes from new_saddr
 * to new_daddr along the entry's next hop, like the flow's own packets.
 * Every checksum is updated incrementally: outer IPv4 header, the ICMP
 * checksum (ICMPv6: with its pseudo-header), the quoted IPv4 header and the
 * quoted TCP/UDP checksum when the quote contains it.
 *
 * Anything else (echo, neighbour discovery, errors about other traffic,
 * quotes with IPv6 extension headers) passes to the kernel untouched.
 */
#ifndef XDPFWD_ICMP_H
#define XDPFWD_ICMP_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xdpfwd_kern_user.h"
#include "maps.h"
#include "csum.h"
#include "parsing.h"
#include "parsing6.h"
#include "stats.h"
#include "conntrack.h"
#include "conntrack6.h"
#include "nexthop.h"
#include "nexthop6.h"
#include "nat6.h"

/* The fixed part of an ICMP or ICMPv6 message. */
struct icmp_common {
	__u8 type;
	__u8 code;
	__sum16 check;
	__be32 rest;   /* unused, pointer or MTU */
};

/* The quoted transport header: ports first, for TCP and UDP alike. */
struct quoted_ports {
	__be16 sport;
	__be16 dport;
};

static __always_inline int icmp4_is_error(__u8 type)
{
	return type == 3 || type == 11 || type == 12; /* unreach, time exceeded, param */
}

static __always_inline int icmp6_is_error(__u8 type)
{
	return type >= 1 && type <= 4; /* unreach, too big, time exceeded, param */
}

/* Where a quoted TCP or UDP checksum sits, if the quote has it: NULL for
 * UDP's "no checksum" or a quote that ends before the field. `room` is how
 * many bytes of the message (not of the frame: padding is not quoted)
 * follow ql4. */
static __always_inline __sum16 *quoted_l4_check(void *ql4, __u8 proto, __u32 room,
						void *data_end)
{
	__u32 off = proto == IPPROTO_TCP ? 16 : 6;
	__sum16 *check = ql4 + off;

	if ((void *)(check + 1) > data_end || off + 2 > room)
		return NULL;
	if (proto == IPPROTO_UDP && *check == 0)
		return NULL;
	return check;
}

/* An ICMP error in an IPv4 packet; icmp is its L4 header (bounds unchecked). */
static __always_inline int icmp4_error(struct xdp_md *ctx, struct pkt_info *p, void *icmp,
				       void *data_end)
{
	struct iphdr *iph = p->iph, *q;
	__u32 msg_len = bpf_ntohs(iph->tot_len); /* from iph; parse_iphdr checked it */
	struct icmp_common *ic = icmp;
	struct xdpfwd_flow_key key = {};
	struct xdpfwd_config cfg;
	struct quoted_ports *qp;
	struct xdpfwd_flow *e;
	__be32 nsaddr, ndaddr;
	__u32 sum, qsum, l4sum;
	__sum16 *qcheck, qnew, l4new;
	__u16 old_word;
	__u64 now;
	int act;

	if ((void *)(ic + 1) > data_end || !icmp4_is_error(ic->type)) {
		/* Echo and other ICMP, or too short: the stack's. */
		stats_inc(XDPFWD_STAT_PASS_NOT_TCP_UDP);
		return XDP_PASS;
	}
	q = (void *)(ic + 1);
	if ((void *)(q + 1) > data_end || q->version != 4 || q->ihl < 5 ||
	    (q->protocol != IPPROTO_TCP && q->protocol != IPPROTO_UDP) ||
	    (q->frag_off & bpf_htons(IP_OFFSET))) {
		/* No quoted TCP/UDP header to match a flow on. */
		stats_inc(XDPFWD_STAT_PASS_NOT_TCP_UDP);
		return XDP_PASS;
	}
	qp = (void *)q + q->ihl * 4;
	if ((void *)(qp + 1) > data_end || (__u32)((void *)(qp + 1) - (void *)iph) > msg_len ||
	    iph->daddr != q->saddr) {
		/* Quote cut short, or the error is not addressed to the
		 * quoted packet's sender. */
		stats_inc(XDPFWD_STAT_PASS_NOT_TCP_UDP);
		return XDP_PASS;
	}
	key.saddr = q->daddr;
	key.daddr = q->saddr;
	key.sport = qp->dport;
	key.dport = qp->sport;
	key.proto = q->protocol;
	now = bpf_ktime_get_coarse_ns();
	ct_config_load(&cfg);
	e = bpf_map_lookup_elem(&xdpfwd_flows, &key);
	if (!e || !ct_live(&key, e, now, &cfg)) {
		/* About no flow of ours: the stack's business. */
		stats_inc(XDPFWD_STAT_PASS_NOT_TCP_UDP);
		return XDP_PASS;
	}
	if (iph->ttl <= 1) {
		/* Would expire in transit: the kernel's business. */
		stats_inc(XDPFWD_STAT_PASS_TTL);
		return XDP_PASS;
	}
	p->proto = IPPROTO_ICMP;
	/* The cached next hop, unless the flow has been idle past the touch
	 * interval (nothing refreshed it): then a fresh lookup. */
	act = nh_refresh(ctx, p, e, !ct_recent(e, now));
	if (act != XDPFWD_CONTINUE)
		/* No usable route: passed or dropped untranslated. */
		return act;

	/* The quote: source becomes the peer's, destination ours. */
	nsaddr = e->new_daddr;
	ndaddr = e->new_saddr;
	l4sum = csum_sub_add32(0, q->saddr, nsaddr);
	l4sum = csum_sub_add32(l4sum, q->daddr, ndaddr);
	l4sum = csum_sub_add16(l4sum, qp->sport, e->new_dport);
	l4sum = csum_sub_add16(l4sum, qp->dport, e->new_sport);
	/* The ICMP checksum covers every quoted word that changes. */
	sum = csum_begin(ic->check) + l4sum;

	qsum = csum_sub_add32(csum_begin(q->check), q->saddr, nsaddr);
	qnew = csum_finish(csum_sub_add32(qsum, q->daddr, ndaddr));
	sum = csum_sub_add16(sum, q->check, qnew);
	q->check = qnew;

	qcheck = quoted_l4_check(qp, q->protocol, msg_len - (__u32)((void *)qp - (void *)iph), data_end);
	if (qcheck) {
		l4new = csum_finish(csum_begin(*qcheck) + csum_fold(l4sum));
		if (q->protocol == IPPROTO_UDP && !l4new)
			l4new = (__sum16)0xFFFF;
		sum = csum_sub_add16(sum, *qcheck, l4new);
		*qcheck = l4new;
	}
	q->saddr = nsaddr;
	q->daddr = ndaddr;
	qp->sport = e->new_dport;
	qp->dport = e->new_sport;
	ic->check = csum_finish(csum_fold(sum));

	/* The outer header: from our address to the peer, one hop less. */
	sum = csum_begin(iph->check);
	sum = csum_sub_add32(sum, iph->saddr, e->new_saddr);
	sum = csum_sub_add32(sum, iph->daddr, e->new_daddr);
	old_word = *(__u16 *)&iph->ttl;
	iph->ttl--;
	sum = csum_sub_add16(sum, old_word, *(__u16 *)&iph->ttl);
	iph->check = csum_finish(csum_fold(sum));
	iph->saddr = e->new_saddr;
	iph->daddr = e->new_daddr;

	stats_inc(XDPFWD_STAT_ICMP_TRANSLATED);
	return nh_egress(ctx, p, e);
}

/* An ICMPv6 message; icmp is its header (bounds unchecked). A subprogram,
 * off the IPv6 forwarding path's stack frame. */
static __attribute__((noinline)) int icmp6_error(struct xdp_md *ctx, const struct pkt6_info *p,
						 void *icmp, void *data_end)
{
	struct ipv6hdr *ip6h = p->ip6h;
	/* Message bytes from ip6h on; parse_ip6hdr checked they are in the frame. */
	__u32 msg_len = sizeof(*ip6h) + bpf_ntohs(ip6h->payload_len);
	struct icmp_common *ic = icmp;
	struct xdpfwd_flow6_key key = {};
	struct xdpfwd_config cfg;
	struct quoted_ports *qp;
	struct xdpfwd_flow6 *e;
	struct ipv6hdr *q;
	__u32 sum, l4sum;
	__sum16 *qcheck, l4new;
	__u64 now;
	int act;

	if ((void *)(ic + 1) > data_end || !icmp6_is_error(ic->type)) {
		/* Echo, neighbour discovery, ...: the stack's. */
		stats_inc(XDPFWD_STAT_PASS_NOT_TCP_UDP);
		return XDP_PASS;
	}
	q = (void *)(ic + 1);
	qp = (void *)(q + 1);
	if ((void *)(qp + 1) > data_end || (__u32)((void *)(qp + 1) - (void *)ip6h) > msg_len ||
	    (q->nexthdr != IPPROTO_TCP && q->nexthdr != IPPROTO_UDP) ||
	    !addr6_eq(ip6h->daddr.in6_u.u6_addr32, q->saddr.in6_u.u6_addr32)) {
		/* No quoted TCP/UDP header right after the quoted IPv6
		 * header, or not addressed to the quoted packet's sender. */
		stats_inc(XDPFWD_STAT_PASS_NOT_TCP_UDP);
		return XDP_PASS;
	}
	addr6_copy(key.saddr, q->daddr.in6_u.u6_addr32);
	addr6_copy(key.daddr, q->saddr.in6_u.u6_addr32);
	key.sport = qp->dport;
	key.dport = qp->sport;
	key.proto = q->nexthdr;
	now = bpf_ktime_get_coarse_ns();
	ct_config_load(&cfg);
	e = bpf_map_lookup_elem(&xdpfwd_flows6, &key);
	if (!e || !ct6_live(&key, e, now, &cfg)) {
		/* About no flow of ours: the stack's business. */
		stats_inc(XDPFWD_STAT_PASS_NOT_TCP_UDP);
		return XDP_PASS;
	}
	if (ip6h->hop_limit <= 1) {
		/* Would expire in transit: the kernel's business. */
		stats_inc(XDPFWD_STAT_PASS_TTL);
		return XDP_PASS;
	}
	/* As for IPv4: an idle flow's next hop is looked up again. */
	act = nh6_refresh(ctx, ip6h, IPPROTO_ICMPV6, e, !ct6_recent(e, now));
	if (act != XDPFWD_CONTINUE)
		/* No usable route: passed or dropped untranslated. */
		return act;

	/* The quote: source becomes the peer's, destination ours. */
	l4sum = csum_sub_add128(0, q->saddr.in6_u.u6_addr32, e->new_daddr);
	l4sum = csum_sub_add128(l4sum, q->daddr.in6_u.u6_addr32, e->new_saddr);
	l4sum = csum_sub_add16(l4sum, qp->sport, e->new_dport);
	l4sum = csum_sub_add16(l4sum, qp->dport, e->new_sport);
	l4sum = csum_fold(l4sum);
	/* ICMPv6: the pseudo-header's addresses and every changed quoted word. */
	sum = csum_sub_add128(csum_begin(ic->check) + l4sum,
			      ip6h->saddr.in6_u.u6_addr32, e->new_saddr);
	sum = csum_sub_add128(sum, ip6h->daddr.in6_u.u6_addr32, e->new_daddr);

	qcheck = quoted_l4_check(qp, q->nexthdr, msg_len - (__u32)((void *)qp - (void *)ip6h), data_end);
	if (qcheck) {
		l4new = csum_finish(csum_begin(*qcheck) + l4sum);
		if (q->nexthdr == IPPROTO_UDP && !l4new)
			l4new = (__sum16)0xFFFF;
		sum = csum_sub_add16(sum, *qcheck, l4new);
		*qcheck = l4new;
	}
	addr6_copy(q->saddr.in6_u.u6_addr32, e->new_daddr);
	addr6_copy(q->daddr.in6_u.u6_addr32, e->new_saddr);
	qp->sport = e->new_dport;
	qp->dport = e->new_sport;
	ic->check = csum_finish(csum_fold(sum));

	/* The outer header: from our address to the peer, one hop less. */
	addr6_copy(ip6h->saddr.in6_u.u6_addr32, e->new_saddr);
	addr6_copy(ip6h->daddr.in6_u.u6_addr32, e->new_daddr);
	ip6h->hop_limit--;

	stats_inc(XDPFWD_STAT_ICMP_TRANSLATED);
	return nh6_egress(ctx, p->eth, p->vlan_tags, e);
}

#endif /* XDPFWD_ICMP_H */
