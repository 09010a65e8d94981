/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * parsing.h: cursor-based header parsers in the style of xdp-tools'
 * parsing_helpers.h. Each helper bounds-checks its header against data_end,
 * advances the cursor, and returns the next protocol (or header length), or
 * -1 when the packet is truncated or invalid.
 */
#ifndef XDPFWD_PARSING_H
#define XDPFWD_PARSING_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef IP_MF
#define IP_MF     0x2000 /* more fragments */
#endif
#ifndef IP_OFFSET
#define IP_OFFSET 0x1FFF /* fragment offset mask */
#endif

/* Where the next header starts. */
struct hdr_cursor {
	void *pos;
};

/* Returns the ethertype in network order, or -1 if truncated. */
static __always_inline int parse_ethhdr(struct hdr_cursor *nh, void *data_end,
					struct ethhdr **ethhdr)
{
	struct ethhdr *eth = nh->pos;

	if ((void *)(eth + 1) > data_end)
		return -1;
	nh->pos = eth + 1;
	*ethhdr = eth;
	return eth->h_proto;
}

/*
 * Validates version, ihl and tot_len against the packet and skips IP
 * options. Ethernet padding after tot_len is allowed. Returns the L4
 * protocol and the L4 length (tot_len - ihl * 4), or -1 if invalid.
 */
static __always_inline int parse_iphdr(struct hdr_cursor *nh, void *data_end,
				       struct iphdr **iphdr, __u32 *l4_len)
{
	struct iphdr *iph = nh->pos;
	__u32 hdrsize, tot_len;

	if ((void *)(iph + 1) > data_end)
		return -1;
	if (iph->version != 4 || iph->ihl < 5)
		return -1;
	hdrsize = iph->ihl * 4;
	/* The whole header, options included, must be in the packet. */
	if (nh->pos + hdrsize > data_end)
		return -1;
	tot_len = bpf_ntohs(iph->tot_len);
	if (tot_len < hdrsize)
		return -1;
	if ((void *)iph + tot_len > data_end)
		return -1;
	nh->pos += hdrsize;
	*iphdr = iph;
	*l4_len = tot_len - hdrsize;
	return iph->protocol;
}

static __always_inline int ip_is_fragment(const struct iphdr *iph)
{
	return (iph->frag_off & bpf_htons(IP_MF | IP_OFFSET)) != 0;
}

/* TCP: 20 bytes in the packet, doff >= 5, header within the IP payload. */
static __always_inline int parse_tcphdr(struct hdr_cursor *nh, void *data_end,
					__u32 l4_len, struct tcphdr **tcphdr)
{
	struct tcphdr *th = nh->pos;
	__u32 len;

	/* Hide th's relation to the IP header from the compiler: it could
	 * prove this check redundant with tot_len's, which the verifier
	 * cannot follow. */
	barrier_var(th);
	if ((void *)(th + 1) > data_end)
		return -1;
	len = th->doff * 4;
	if (len < sizeof(*th) || len > l4_len)
		return -1;
	/* Options are never read, so the cursor skips only the fixed part. */
	nh->pos = th + 1;
	*tcphdr = th;
	return len;
}

/* UDP: 8 bytes in the packet and 8 <= uh->len <= the IP payload length. */
static __always_inline int parse_udphdr(struct hdr_cursor *nh, void *data_end,
					__u32 l4_len, struct udphdr **udphdr)
{
	struct udphdr *uh = nh->pos;
	__u32 len;

	/* See parse_tcphdr: keeps the bounds check the verifier needs. */
	barrier_var(uh);
	if ((void *)(uh + 1) > data_end)
		return -1;
	if (l4_len < sizeof(*uh))
		return -1;
	len = bpf_ntohs(uh->len);
	if (len < sizeof(*uh) || len > l4_len)
		return -1;
	nh->pos = uh + 1;
	*udphdr = uh;
	return len;
}

/* TCP flag bits of byte 13 of the TCP header. */
#define XDPFWD_TCP_FIN 0x01
#define XDPFWD_TCP_SYN 0x02
#define XDPFWD_TCP_RST 0x04
#define XDPFWD_TCP_ACK 0x10

/* What the entry point learned about a packet, for the later stages. */
struct pkt_info {
	struct ethhdr *eth;
	struct iphdr *iph;
	void *l4;          /* struct tcphdr or struct udphdr, bounds-checked */
	__u32 len;         /* frame length, for the per-rule byte counters */
	__u8 proto;        /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 tcp_flags;    /* XDPFWD_TCP_* bits; 0 for UDP */
	__u8 vlan_tags;    /* VLAN tags between Ethernet and IP on ingress */
};

#endif /* XDPFWD_PARSING_H */
