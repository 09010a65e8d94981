/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * bench.bpf.c: the small XDP programs behind `xdpfwd gen` and
 * `xdpfwd bench topo`. Not part of the data plane; a separate object.
 *
 *   xfb_gen    the traffic generator, run by BPF_PROG_TEST_RUN with
 *              BPF_F_TEST_XDP_LIVE_FRAMES: turns each frame into the next
 *              frame of the configured flows and transmits it (XDP_TX)
 *   xfb_sink   the sink: counts IPv4 and IPv6 TCP/UDP frames, keeps a
 *              sample, drops
 *   xfb_bare   the bare limit: rewrites MACs and redirects, nothing else
 *              (IPv4, IPv6 UDP/TCP)
 *   xfb_pass   XDP_PASS only, for veth peers that must accept redirected frames
 *   xfb_tc_drop_udp4  TC ingress: drops IPv4 UDP, so the stack leaves what
 *              the AF_PACKET floor forwards alone (the floor's FastPath classifier)
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "xdpfwd_bench.h"

/* The generator's template and flow settings; written by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xfb_gen_cfg);
} xfb_gen_cfg SEC(".maps");

/* Sink counters, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xfb_sink_count);
} xfb_sink_count SEC(".maps");

/* Sampled frames seen by the sink, per CPU (no races between CPUs). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XFB_SAMPLES);
	__type(key, __u32);
	__type(value, struct xfb_sample);
} xfb_samples SEC(".maps");

/* Bare-limit forwarder: the MACs to write. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xfb_bare_cfg);
} xfb_bare_cfg SEC(".maps");

/* Bare-limit forwarder: entry 0 is the egress interface. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} xfb_bare_tx SEC(".maps");

SEC("xdp")
int xfb_gen(struct xdp_md *ctx)
{
	__u8 *data = (void *)(long)ctx->data;
	__u8 *data_end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	struct xfb_gen_cfg *cfg = bpf_map_lookup_elem(&xfb_gen_cfg, &zero);

	/* Test-run frames carry XFB_GEN_META_LEN bytes of metadata (user space
	 * passes them, the kernel restores the pointers for every frame); a
	 * frame received on the generator's interface has none. The program
	 * is attached there only so that test runs skip the dispatcher's RCU
	 * waits: real traffic goes to the kernel untouched. */
	if ((void *)(long)ctx->data_meta + XFB_GEN_META_LEN != (void *)data)
		return XDP_PASS;
	if (!cfg || !cfg->armed)
		return XDP_PASS;
	/* Live-frames pages come back as the forwarder left them (rewritten
	 * headers): restore the template's headers on every frame. One
	 * branch per template kind, so every copy and patch has a constant
	 * length the verifier checks against the frame. Frames are never
	 * shorter than their headers (user space checks). */
	switch (cfg->hdr_len) {
	case XFB_GEN_HDR_LEN:
		if (data + XFB_GEN_HDR_LEN > data_end)
			return XDP_DROP;
		__builtin_memcpy(data, cfg->hdr, XFB_GEN_HDR_LEN);
		xfb_gen_patch4(data, cfg, cfg->next);
		break;
	case XFB_GEN_HDR_LEN6_UDP:
		if (data + XFB_GEN_HDR_LEN6_UDP > data_end)
			return XDP_DROP;
		__builtin_memcpy(data, cfg->hdr, XFB_GEN_HDR_LEN6_UDP);
		xfb_gen_patch6_udp(data, cfg, cfg->next);
		break;
	case XFB_GEN_HDR_LEN6_TCP:
		if (data + XFB_GEN_HDR_LEN6_TCP > data_end)
			return XDP_DROP;
		__builtin_memcpy(data, cfg->hdr, XFB_GEN_HDR_LEN6_TCP);
		xfb_gen_patch6_tcp(data, cfg, cfg->next);
		break;
	default:
		/* A configuration user space never writes. */
		return XDP_DROP;
	}
	cfg->next++;
	/* Out of the generator's interface, to its veth peer. */
	return XDP_TX;
}

SEC("xdp")
int xfb_sink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 zero = 0;

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	/* ARP, ICMPv6 (neighbour discovery), anything else and anything short
	 * go to the kernel. */
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = (void *)(eth + 1);
		if ((void *)(iph + 1) > data_end)
			return XDP_PASS;
		if (iph->protocol != IPPROTO_UDP && iph->protocol != IPPROTO_TCP)
			return XDP_PASS;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6h = (void *)(eth + 1);
		if ((void *)(ip6h + 1) > data_end)
			return XDP_PASS;
		/* No extension headers: the generator sends none. */
		if (ip6h->nexthdr != IPPROTO_UDP && ip6h->nexthdr != IPPROTO_TCP)
			return XDP_PASS;
	} else {
		return XDP_PASS;
	}

	struct xfb_sink_count *count = bpf_map_lookup_elem(&xfb_sink_count, &zero);
	if (!count)
		return XDP_PASS;
	__u64 n = count->packets++;
	__u32 len = data_end - data;
	count->bytes += len;

	__u32 slot = n < 16 ? (__u32)n : 16 + (__u32)((n >> 10) & 15);
	if (n < 16 || (n & 1023) == 0) {
		struct xfb_sample *s = bpf_map_lookup_elem(&xfb_samples, &slot);
		/* Two calls, so the verifier sees each length bounded. */
		__u32 take = len & (XFB_SAMPLE_BYTES - 1);
		int rc = -1;
		if (s && len >= XFB_SAMPLE_BYTES) {
			take = XFB_SAMPLE_BYTES;
			rc = bpf_xdp_load_bytes(ctx, 0, s->data, XFB_SAMPLE_BYTES);
		} else if (s && take > 0) {
			rc = bpf_xdp_load_bytes(ctx, 0, s->data, take);
		}
		if (s && rc == 0) {
			s->len = len;
			s->captured = take;
		}
	}
	/* Counted: the sink consumes it. */
	return XDP_DROP;
}

SEC("xdp")
int xfb_bare(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 zero = 0;

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	/* IPv4, and IPv6 UDP/TCP, are forwarded; ARP, neighbour discovery
	 * and the rest reach the kernel. */
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6h = (void *)(eth + 1);
		if ((void *)(ip6h + 1) > data_end)
			return XDP_PASS;
		if (ip6h->nexthdr != IPPROTO_UDP && ip6h->nexthdr != IPPROTO_TCP)
			return XDP_PASS;
	} else if (eth->h_proto != bpf_htons(ETH_P_IP)) {
		return XDP_PASS;
	}
	struct xfb_bare_cfg *cfg = bpf_map_lookup_elem(&xfb_bare_cfg, &zero);
	if (!cfg)
		return XDP_PASS;
	__builtin_memcpy(eth->h_dest, cfg->dst_mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, cfg->src_mac, ETH_ALEN);
	/* Out of the one egress interface; XDP_PASS if it is missing. */
	return bpf_redirect_map(&xfb_bare_tx, 0, XDP_PASS);
}

SEC("xdp")
int xfb_pass(struct xdp_md *ctx)
{
	/* Only there to give a veth NAPI, so it accepts redirected frames. */
	return XDP_PASS;
}

SEC("tc")
int xfb_tc_drop_udp4(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph = (void *)(eth + 1);

	/* The least a classifier can do: no lookup, one protocol check. */
	if ((void *)(iph + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	return iph->protocol == IPPROTO_UDP ? TC_ACT_SHOT : TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
