/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * nat.h: rewrite a packet's tuple to a flow entry's new_* fields, update the
 * IPv4 and TCP/UDP checksums incrementally and decrement the TTL.
 */
#ifndef XDPFWD_NAT_H
#define XDPFWD_NAT_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include "xdpfwd_kern_user.h"
#include "csum.h"
#include "parsing.h"

/* The L4 checksum covers the pseudo-header addresses and the ports. */
static __always_inline __u32 nat_l4_csum_diff(__u32 sum, const struct iphdr *iph,
					      __be16 sport, __be16 dport,
					      const struct xdpfwd_flow *f)
{
	sum = csum_sub_add32(sum, iph->saddr, f->new_saddr);
	sum = csum_sub_add32(sum, iph->daddr, f->new_daddr);
	sum = csum_sub_add16(sum, sport, f->new_sport);
	return csum_sub_add16(sum, dport, f->new_dport);
}

/* Translate the packet per f. The caller checked ttl > 1. */
static __always_inline void nat_rewrite(struct pkt_info *p, const struct xdpfwd_flow *f)
{
	struct iphdr *iph = p->iph;
	__u16 *ttl_word = (__u16 *)&iph->ttl; /* TTL and protocol share a word */
	__u16 old_word;
	__u32 sum;

	if (p->proto == IPPROTO_TCP) {
		struct tcphdr *th = p->l4;

		sum = nat_l4_csum_diff(csum_begin(th->check), iph, th->source, th->dest, f);
		th->check = csum_finish(sum);
		th->source = f->new_sport;
		th->dest = f->new_dport;
	} else {
		struct udphdr *uh = p->l4;

		/* A zero UDP checksum means "none" and stays zero. */
		if (uh->check) {
			sum = nat_l4_csum_diff(csum_begin(uh->check), iph, uh->source, uh->dest, f);
			/* A computed zero is sent as 0xFFFF (RFC 768). */
			uh->check = csum_finish(sum) ?: (__sum16)0xFFFF;
		}
		uh->source = f->new_sport;
		uh->dest = f->new_dport;
	}

	sum = csum_begin(iph->check);
	sum = csum_sub_add32(sum, iph->saddr, f->new_saddr);
	sum = csum_sub_add32(sum, iph->daddr, f->new_daddr);
	old_word = *ttl_word;
	iph->ttl--;
	sum = csum_sub_add16(sum, old_word, *ttl_word);
	iph->check = csum_finish(sum);
	iph->saddr = f->new_saddr;
	iph->daddr = f->new_daddr;
}

#endif /* XDPFWD_NAT_H */
