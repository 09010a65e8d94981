/*
 * xdpfwd_bench.h: what the benchmark BPF programs (bpf/bench.bpf.c) and the
 * benchmark tooling (Sources/Benchmarks, Sources/CXDP/bench.c) share: the
 * generator's configuration and per-frame flow patch, the sink's counters
 * and samples, the bare-limit forwarder's configuration.
 *
 * xfb_gen_patch() is compiled twice: into the XDP generator (live frames)
 * and into the AF_PACKET fallback, so both emit exactly the same flows.
 */
#ifndef XDPFWD_BENCH_H
#define XDPFWD_BENCH_H

#include <linux/types.h>

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/* Header bytes the generator restores on every frame: hdr_len of the
 * configuration, one of three (frames are never shorter):
 *   XFB_GEN_HDR_LEN      IPv4 (no options) + UDP or TCP; the Ethernet
 *                        minimum frame, so it covers both
 *   XFB_GEN_HDR_LEN6_UDP Ethernet + IPv6 (no extension headers) + UDP
 *   XFB_GEN_HDR_LEN6_TCP Ethernet + IPv6 + TCP without options */
#define XFB_GEN_HDR_LEN      60
#define XFB_GEN_HDR_LEN6_UDP 62
#define XFB_GEN_HDR_LEN6_TCP 74
#define XFB_GEN_HDR_MAX      80
#define XFB_GEN_MIN_FRAME    60
#define XFB_GEN_MAX_FRAME    1514

/* Metadata bytes in front of every generator test-run frame: how the
 * generator program tells its frames from real received ones. */
#define XFB_GEN_META_LEN  4

/* Fixed offsets of the IPv4 template (no options). */
#define XFB_OFF_IP_CSUM   24
#define XFB_OFF_SADDR_LO  28   /* low 16 bits of the source address */
#define XFB_OFF_SPORT     34
#define XFB_OFF_UDP_CSUM  40
#define XFB_OFF_TCP_CSUM  50

/* ... and of the IPv6 template (no extension headers; no header checksum). */
#define XFB_OFF6_SADDR_LO 36   /* low 16 bits of the source address */
#define XFB_OFF6_SPORT    54
#define XFB_OFF6_UDP_CSUM 60
#define XFB_OFF6_TCP_CSUM 70

/* The generator's configuration: one entry of xfb_gen_cfg. */
struct xfb_gen_cfg {
	__u64 next;         /* frame number of the next frame (the XDP program advances it) */
	__u32 armed;        /* 0: the program passes every frame (real traffic on the interface) */
	__u32 flows;        /* distinct flows, >= 1 */
	__u32 port_span;    /* source ports used before the source address moves on */
	__u16 sport_base;   /* first source port (host order), the template's */
	__u16 l4_csum_off;  /* XFB_OFF_UDP_CSUM or XFB_OFF_TCP_CSUM (IPv4; IPv6: XFB_OFF6_*) */
	__u16 hdr_len;      /* XFB_GEN_HDR_LEN (IPv4), XFB_GEN_HDR_LEN6_UDP or _TCP: also says the family */
	__u16 reserved;
	__u8  hdr[XFB_GEN_HDR_MAX]; /* the template's first hdr_len bytes */
	__u32 reserved2;
};

/* One's complement update of checksum `sum` (as on the wire, read as a
 * big-endian number) for a 16-bit word changing from `from` to `to`
 * (RFC 1624, eqn. 3). */
static __always_inline __u16 xfb_csum_replace(__u16 sum, __u16 from, __u16 to)
{
	__u32 s = (__u16)~sum + (__u32)(__u16)~from + to;
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

static __always_inline __u16 xfb_get16(const __u8 *p) { return (__u16)(p[0] << 8 | p[1]); }
static __always_inline void xfb_put16(__u8 *p, __u16 v) { p[0] = v >> 8; p[1] = v & 0xff; }

/* Turn frame f (a fresh copy of the template's headers) into frame number n:
 * flow n % flows, whose source port is sport_base + flow % port_span and
 * whose source address is the template's + flow / port_span (low 16 bits).
 * The checksums are updated incrementally: the IPv4 header's at ip_csum_off
 * (0: none, IPv6) and the L4 one at l4_off. Every offset is a constant
 * after inlining, so the BPF verifier checks the accesses against the
 * frame's bounds. A UDP checksum of 0 means "none" (IPv4): it stays 0;
 * a computed 0 is sent as 0xffff. */
static __always_inline void xfb_gen_patch_at(__u8 *f, const struct xfb_gen_cfg *c, __u64 n, __u32 ip_csum_off,
					     __u32 saddr_lo_off, __u32 sport_off, __u32 l4_off, int udp)
{
	__u32 flows = c->flows ? c->flows : 1;
	__u32 span = c->port_span ? c->port_span : 1;
	__u32 flow = (__u32)(n % flows);
	__u16 port = c->sport_base + (__u16)(flow % span);
	__u16 addr_old = xfb_get16(f + saddr_lo_off);
	__u16 addr_new = addr_old + (__u16)(flow / span);
	__u16 l4 = xfb_get16(f + l4_off);

	if (addr_new != addr_old) {
		xfb_put16(f + saddr_lo_off, addr_new);
		if (ip_csum_off)
			xfb_put16(f + ip_csum_off, xfb_csum_replace(xfb_get16(f + ip_csum_off), addr_old, addr_new));
		l4 = xfb_csum_replace(l4, addr_old, addr_new);
	}
	l4 = xfb_csum_replace(l4, c->sport_base, port);
	xfb_put16(f + sport_off, port);
	if (udp && xfb_get16(f + l4_off) == 0)
		return;
	if (udp && l4 == 0)
		l4 = 0xffff;
	xfb_put16(f + l4_off, l4);
}

/* The IPv4 frame: UDP or TCP by l4_csum_off. */
static __always_inline void xfb_gen_patch4(__u8 *f, const struct xfb_gen_cfg *c, __u64 n)
{
	if (c->l4_csum_off == XFB_OFF_TCP_CSUM)
		xfb_gen_patch_at(f, c, n, XFB_OFF_IP_CSUM, XFB_OFF_SADDR_LO, XFB_OFF_SPORT, XFB_OFF_TCP_CSUM, 0);
	else
		xfb_gen_patch_at(f, c, n, XFB_OFF_IP_CSUM, XFB_OFF_SADDR_LO, XFB_OFF_SPORT, XFB_OFF_UDP_CSUM, 1);
}

static __always_inline void xfb_gen_patch6_udp(__u8 *f, const struct xfb_gen_cfg *c, __u64 n)
{
	xfb_gen_patch_at(f, c, n, 0, XFB_OFF6_SADDR_LO, XFB_OFF6_SPORT, XFB_OFF6_UDP_CSUM, 1);
}

static __always_inline void xfb_gen_patch6_tcp(__u8 *f, const struct xfb_gen_cfg *c, __u64 n)
{
	xfb_gen_patch_at(f, c, n, 0, XFB_OFF6_SADDR_LO, XFB_OFF6_SPORT, XFB_OFF6_TCP_CSUM, 0);
}

/* Frame n by the template's kind (hdr_len); f holds at least hdr_len
 * bytes, a copy of the template's. Returns -1 for an unknown hdr_len. */
static __always_inline int xfb_gen_patch(__u8 *f, const struct xfb_gen_cfg *c, __u64 n)
{
	switch (c->hdr_len) {
	case XFB_GEN_HDR_LEN:
		xfb_gen_patch4(f, c, n);
		return 0;
	case XFB_GEN_HDR_LEN6_UDP:
		xfb_gen_patch6_udp(f, c, n);
		return 0;
	case XFB_GEN_HDR_LEN6_TCP:
		xfb_gen_patch6_tcp(f, c, n);
		return 0;
	}
	return -1;
}

/* Sink: packets and bytes of IPv4 and IPv6 TCP/UDP frames, per CPU. */
struct xfb_sink_count {
	__u64 packets;
	__u64 bytes;
};

/* Sink samples, per CPU: frames 0-15 of each CPU, then every 1024th frame
 * in slots 16-31 (round robin), first XFB_SAMPLE_BYTES bytes. */
#define XFB_SAMPLES       32
#define XFB_SAMPLE_BYTES  128
struct xfb_sample {
	__u32 len;          /* frame length; 0: slot unused */
	__u32 captured;     /* bytes in data */
	__u8  data[XFB_SAMPLE_BYTES];
};

/* Bare-limit forwarder: rewrite MACs, redirect through xfb_bare_tx[0]. */
struct xfb_bare_cfg {
	__u8 src_mac[6];
	__u8 dst_mac[6];
};

#ifndef __cplusplus
_Static_assert(sizeof(struct xfb_gen_cfg) == 112, "xfb_gen_cfg layout");
_Static_assert(XFB_GEN_HDR_LEN6_TCP <= XFB_GEN_HDR_MAX, "template fits the configuration");
_Static_assert(sizeof(struct xfb_sink_count) == 16, "xfb_sink_count layout");
_Static_assert(sizeof(struct xfb_sample) == 8 + XFB_SAMPLE_BYTES, "xfb_sample layout");
_Static_assert(sizeof(struct xfb_bare_cfg) == 12, "xfb_bare_cfg layout");
#endif

#endif /* XDPFWD_BENCH_H */
