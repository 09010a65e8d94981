/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * parsing6.h: the IPv6 header and its extension-header chain, with the same
 * cursor convention as parsing.h.
 */
#ifndef XDPFWD_PARSING6_H
#define XDPFWD_PARSING6_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xdpfwd_kern_user.h"
#include "parsing.h"

#ifndef IPPROTO_ICMPV6
#define IPPROTO_ICMPV6 58
#endif
#ifndef IPPROTO_MH
#define IPPROTO_MH 135
#endif

/* Not a protocol number: the chain holds a header this parser leaves to
 * the kernel (AH, mobility, a routing header still in transit, or more
 * than XDPFWD_MAX_EXTHDRS of them). */
#define XDPFWD_EXTHDR_UNPARSED (-2)

/* The first two bytes every skippable extension header shares. */
struct ip6_ext_hdr {
	__u8 nexthdr;
	__u8 hdrlen;     /* in 8-byte units, not counting the first 8 */
	__u8 type;       /* routing header only: routing type */
	__u8 segs_left;  /* routing header only: segments left */
};

/*
 * Validates the fixed header (version 6, payload within the frame; the
 * payload length 0 of jumbograms is refused) and skips hop-by-hop, routing
 * (segments left 0: we are its final destination) and destination-options
 * headers. Returns the upper-layer protocol, or IPPROTO_FRAGMENT when a
 * fragment header comes first (the caller applies the fragment policy),
 * XDPFWD_EXTHDR_UNPARSED, or -1 when the packet is truncated or invalid.
 * *l4_len is what remains of the payload after the skipped headers.
 */
static __always_inline int parse_ip6hdr(struct hdr_cursor *nh, void *data_end,
					struct ipv6hdr **ip6hdr, __u32 *l4_len)
{
	struct ipv6hdr *ip6h = nh->pos;
	struct ip6_ext_hdr *ext;
	__u32 payload, len;
	__u8 next;
	int i;

	if ((void *)(ip6h + 1) > data_end)
		return -1;
	if (ip6h->version != 6)
		return -1;
	payload = bpf_ntohs(ip6h->payload_len);
	if (payload == 0 || (void *)(ip6h + 1) + payload > data_end)
		return -1;
	*ip6hdr = ip6h;
	nh->pos = ip6h + 1;
	next = ip6h->nexthdr;

	/* Up to XDPFWD_MAX_EXTHDRS headers, then the upper layer. */
	for (i = 0; i <= XDPFWD_MAX_EXTHDRS; i++) {
		switch (next) {
		case IPPROTO_ROUTING:
		case IPPROTO_HOPOPTS:
		case IPPROTO_DSTOPTS:
			if (i == XDPFWD_MAX_EXTHDRS)
				return XDPFWD_EXTHDR_UNPARSED;
			ext = nh->pos;
			if ((void *)(ext + 1) > data_end)
				return -1;
			if (next == IPPROTO_ROUTING && ext->segs_left)
				return XDPFWD_EXTHDR_UNPARSED;
			len = ((__u32)ext->hdrlen + 1) * 8;
			if (len > payload)
				return -1;
			payload -= len;
			nh->pos += len;
			next = ext->nexthdr;
			break;
		case IPPROTO_AH:
		case IPPROTO_MH:
		case 139: /* HIP */
		case 140: /* Shim6 */
		case 253: /* experimental */
		case 254:
			return XDPFWD_EXTHDR_UNPARSED;
		default: /* IPPROTO_FRAGMENT, an upper layer, or no next header */
			*l4_len = payload;
			return next;
		}
	}
	return XDPFWD_EXTHDR_UNPARSED;
}

/* What the IPv6 worker learned about a packet, for the later stages. */
struct pkt6_info {
	struct ethhdr *eth;
	struct ipv6hdr *ip6h;
	void *l4;          /* struct tcphdr or struct udphdr, bounds-checked */
	void *data_end;    /* for re-checks the verifier needs across calls */
	__u32 len;         /* frame length, for the per-rule byte counters */
	__u8 proto;        /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 tcp_flags;    /* XDPFWD_TCP_* bits; 0 for UDP */
	__u8 vlan_tags;    /* VLAN tags between Ethernet and IPv6 on ingress */
};

static __always_inline int addr6_eq(const __be32 *a, const __be32 *b)
{
	return ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3])) == 0;
}

static __always_inline int addr6_is_zero(const __be32 *a)
{
	return (a[0] | a[1] | a[2] | a[3]) == 0;
}

static __always_inline void addr6_copy(__be32 *dst, const __be32 *src)
{
	dst[0] = src[0];
	dst[1] = src[1];
	dst[2] = src[2];
	dst[3] = src[3];
}

#endif /* XDPFWD_PARSING6_H */
