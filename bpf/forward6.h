/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * forward6.h: the IPv6 worker, the twin of the IPv4 one in xdpfwd.bpf.c:
 * parse, look the tuple up in xdpfwd_flows6, translate an established flow
 * or create one from xdpfwd_rules6. It runs as its own program
 * (xdpfwd_xdp6, tail-called from xdpfwd_xdp), so it has a BPF stack of its
 * own beside the IPv4 path's.
 */
#ifndef XDPFWD_FORWARD6_H
#define XDPFWD_FORWARD6_H

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
#include "stats.h"
#include "conntrack6.h"
#include "nat6.h"
#include "vlan.h"
#include "nexthop6.h"
#include "icmp.h"

/* Translate per f (hop limit checked, next hop known), count, send. */
static __always_inline int xdpfwd_send6(struct xdp_md *ctx, struct pkt6_info *p,
					const struct xdpfwd_flow6 *f)
{
	if (nat6_rewrite(p, f)) {
		/* Cannot happen: the parser checked the header's bounds. */
		stats_inc(XDPFWD_STAT_PASS_MALFORMED);
		return XDP_DROP;
	}
	stats_rule(f->rule_id, f->direction, p->len);
	return nh6_egress(ctx, p->eth, p->vlan_tags, f);
}

static __always_inline int xdpfwd_established6(struct xdp_md *ctx, struct pkt6_info *p,
					       const struct xdpfwd_flow6_key *key,
					       struct xdpfwd_flow6 *e, __u64 now)
{
	int act, touch;

	if (p->proto == IPPROTO_TCP)
		ct6_tcp_update(key, e, p->tcp_flags);

	if (p->ip6h->hop_limit <= 1) {
		/* Would expire in transit: the kernel's business. */
		stats_inc(XDPFWD_STAT_PASS_TTL);
		return XDP_PASS;
	}

	/* Stamp last_seen at most once per XDPFWD_TOUCH_NS, and look the
	 * next hop up again with it. */
	touch = !ct6_recent(e, now);
	if (touch)
		e->last_seen_ns = now;

	act = nh6_refresh(ctx, p->ip6h, p->proto, e, touch);
	if (act != XDPFWD_CONTINUE)
		/* No usable route: passed or dropped untranslated. */
		return act;
	ct6_count(e, p->len);
	return xdpfwd_send6(ctx, p, e);
}

/* No live flow: create one if a rule matches (see xdpfwd_new_flow). The
 * entries being built live in the per-CPU scratch, and this is a
 * subprogram of its own, so the IPv6 path fits the BPF stack. */
static __attribute__((noinline)) int xdpfwd_new_flow6(struct xdp_md *ctx, struct pkt6_info *p,
						      const struct xdpfwd_flow6_key *key, int expired,
						      const struct xdpfwd_config *cfg)
{
	struct xdpfwd_flow6_scratch *s;
	struct xdpfwd_rule6 *rule;
	const __be32 *backend_addr;
	__be16 backend_port;
	const __be32 *src;
	__be32 *snat;
	__u32 egress;
	__u32 zero = 0;
	__u64 now;
	__u8 mode, state;
	long rc, err;

	rule = mg_rule6(key);
	if (!rule) {
		/* Not a listen endpoint of ours: the stack's business. */
		stats_inc(XDPFWD_STAT_PASS_NO_RULE);
		return XDP_PASS;
	}
	if (mg_backend6(rule, key, &backend_addr, &backend_port)) {
		/* A balanced rule without its table (damaged state): the
		 * packet is untouched, as if there were no rule. */
		stats_inc(XDPFWD_STAT_PASS_NO_RULE);
		return XDP_PASS;
	}
	if (expired)
		stats_inc(XDPFWD_STAT_FLOW_EXPIRED);

	if (p->ip6h->hop_limit <= 1) {
		/* Would expire in transit: the kernel's business. */
		stats_inc(XDPFWD_STAT_PASS_TTL);
		return XDP_PASS;
	}
	s = bpf_map_lookup_elem(&xdpfwd_scratch6, &zero);
	if (!s) {
		/* Cannot happen (a one-entry array); the verifier needs it. */
		stats_inc(XDPFWD_STAT_DROP_FLOW_TABLE);
		return XDP_DROP;
	}
	__builtin_memset(s, 0, sizeof(*s));
	now = bpf_ktime_get_coarse_ns();
	mode = rule->snat_mode;
	{
		/* Its own scope, so the lookup's stack is reused below. */
		struct bpf_fib_lookup fib;

		rc = nh6_fib_lookup(ctx, &fib, p->ip6h, p->proto, key->saddr,
				    backend_addr, key->sport, backend_port);
		if (!nh_fib_usable(rc))
			/* No state created; the packet is untouched. */
			return nh_fib_fail(rc);
		nh6_store(&s->fval, &fib, rc);
		egress = fib.ifindex; /* a VLAN upper, not the cached lower */
	}

	/* Reply key: backend -> snat:P (P chosen below). */
	snat = s->rkey.daddr;
	switch (mode) {
	case XDPFWD_SNAT_NONE:
		addr6_copy(snat, key->saddr);
		break;
	case XDPFWD_SNAT_FIXED:
		addr6_copy(snat, rule->snat_addr);
		break;
	default: /* XDPFWD_SNAT_AUTO; unknown modes behave like it */
		src = nh6_snat_addr(egress);
		if (!src) {
			/* No global IPv6 address on the egress (attached
			 * device or VLAN upper): the backend's replies could
			 * not find their way back. */
			stats_inc(XDPFWD_STAT_DROP_NO_SNAT_ADDR);
			return XDP_DROP;
		}
		addr6_copy(snat, src);
		break;
	}
	addr6_copy(s->rkey.saddr, backend_addr);
	s->rkey.sport = backend_port;
	s->rkey.proto = key->proto;

	if (p->proto == IPPROTO_TCP)
		state = (p->tcp_flags & XDPFWD_TCP_RST) ? XDPFWD_CT_TCP_RST :
							  XDPFWD_CT_TCP_OPENING;
	else
		state = XDPFWD_CT_UDP;

	/* Reply entry: backend -> snat:P becomes listen -> client. */
	addr6_copy(s->rval.new_saddr, key->daddr);
	addr6_copy(s->rval.new_daddr, key->saddr);
	s->rval.new_sport = key->dport;
	s->rval.new_dport = key->sport;
	s->rval.rule_id = rule->rule_id;
	s->rval.direction = XDPFWD_DIR_REPLY;
	s->rval.state = state;
	s->rval.created = ct_seconds(now);
	s->rval.last_seen_ns = now;
	s->cfg = *cfg;
	s->now = now;

	if (mode == XDPFWD_SNAT_NONE) {
		/* DNAT only: the client's port is the only candidate. */
		s->rkey.dport = key->sport;
		s->rval.csum_delta = nat6_csum_delta(&s->rkey, &s->rval);
		err = ct6_claim(&s->rkey, &s->rval, now, cfg);
		if (err == -EEXIST) {
			/* A live flow already owns backend <-> client:port. */
			stats_inc(XDPFWD_STAT_DROP_FLOW_CLASH);
			return XDP_DROP;
		}
	} else {
		/* rkey.dport is still 0 here: the base the probe adds to. */
		s->delta_base = nat6_csum_delta(&s->rkey, &s->rval);
		err = ct6_alloc_port(s);
		if (err == -EEXIST) {
			/* Every probed port is held by a live flow. */
			stats_inc(XDPFWD_STAT_DROP_PORTS_EXHAUSTED);
			return XDP_DROP;
		}
	}
	if (err) {
		/* The flow table refused the insert. */
		stats_inc(XDPFWD_STAT_DROP_FLOW_TABLE);
		return XDP_DROP;
	}

	/* Forward entry: client -> listen becomes snat:P -> backend. */
	addr6_copy(s->fval.new_saddr, s->rkey.daddr);
	addr6_copy(s->fval.new_daddr, s->rkey.saddr);
	s->fval.new_sport = s->rkey.dport;
	s->fval.new_dport = s->rkey.sport;
	s->fval.rule_id = s->rval.rule_id;
	s->fval.direction = XDPFWD_DIR_FORWARD;
	s->fval.state = state;
	s->fval.created = ct_seconds(now);
	s->fval.last_seen_ns = now;
	/* This packet is the forward entry's first. */
	s->fval.packets = 1;
	s->fval.bytes = p->len;
	s->fval.csum_delta = nat6_csum_delta(key, &s->fval);
	if (bpf_map_update_elem(&xdpfwd_flows6, key, &s->fval, BPF_ANY)) {
		/* Half a flow is useless: release the claimed port. */
		bpf_map_delete_elem(&xdpfwd_flows6, &s->rkey);
		stats_inc(XDPFWD_STAT_DROP_FLOW_TABLE);
		return XDP_DROP;
	}
	stats_inc(XDPFWD_STAT_FLOW_NEW);
	return xdpfwd_send6(ctx, p, &s->fval);
}

/* The IPv6 worker: the frame's ethertype is IPv6. */
static __always_inline int xdpfwd_process6(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct hdr_cursor nh = { .pos = data };
	struct xdpfwd_flow6_key key = {};
	struct xdpfwd_config cfg;
	struct pkt6_info p = {};
	struct xdpfwd_flow6 *e;
	struct tcphdr *th;
	struct udphdr *uh;
	__u32 l4_len = 0;
	__u64 now;
	int proto, reuse;

	p.data_end = data_end;
	/* xdpfwd_xdp parsed these already; this program must again for the
	 * verifier, and to learn where the IPv6 header starts. */
	proto = parse_ethhdr(&nh, data_end, &p.eth);
	if (proto < 0 || parse_vlan_tags(&nh, data_end, proto, &p.vlan_tags) != bpf_htons(ETH_P_IPV6))
		/* Cannot happen: the caller saw IPv6 here. */
		return XDP_PASS;

	proto = parse_ip6hdr(&nh, data_end, &p.ip6h, &l4_len);
	if (proto == -1) {
		/* Bad version or payload length: let the stack judge it. */
		stats_inc(XDPFWD_STAT_PASS_MALFORMED);
		return XDP_PASS;
	}
	if (proto == XDPFWD_EXTHDR_UNPARSED) {
		/* An extension header we do not walk: the stack does. */
		stats_inc(XDPFWD_STAT_PASS_IPV6_EXTHDR);
		return XDP_PASS;
	}
	if (proto == IPPROTO_FRAGMENT) {
		/* Fragment policy (docs/architecture.md): the stack's. */
		stats_inc(XDPFWD_STAT_PASS_FRAGMENT);
		return XDP_PASS;
	}

	if (proto == IPPROTO_TCP) {
		if (parse_tcphdr(&nh, data_end, l4_len, &th) < 0) {
			/* Truncated TCP header or bad doff. */
			stats_inc(XDPFWD_STAT_PASS_MALFORMED);
			return XDP_PASS;
		}
		p.l4 = th;
		p.tcp_flags = ((__u8 *)th)[13];
		key.sport = th->source;
		key.dport = th->dest;
	} else if (proto == IPPROTO_UDP) {
		if (parse_udphdr(&nh, data_end, l4_len, &uh) < 0) {
			/* Truncated UDP header or bad length. */
			stats_inc(XDPFWD_STAT_PASS_MALFORMED);
			return XDP_PASS;
		}
		p.l4 = uh;
		key.sport = uh->source;
		key.dport = uh->dest;
	} else if (proto == IPPROTO_ICMPV6) {
		/* Errors about our flows are translated; the rest (echo,
		 * neighbour discovery, ...) is the stack's. */
		return icmp6_error(ctx, &p, nh.pos, data_end);
	} else {
		/* Another upper layer: the stack's business. */
		stats_inc(XDPFWD_STAT_PASS_NOT_TCP_UDP);
		return XDP_PASS;
	}
	p.proto = proto;
	p.len = data_end - data;
	addr6_copy(key.saddr, p.ip6h->saddr.in6_u.u6_addr32);
	addr6_copy(key.daddr, p.ip6h->daddr.in6_u.u6_addr32);
	key.proto = proto;

	now = bpf_ktime_get_coarse_ns();
	e = bpf_map_lookup_elem(&xdpfwd_flows6, &key);
	/* As for IPv4: a recently touched entry needs neither the config nor
	 * the per-state timeout; only older entries and misses pay for them. */
	reuse = e && ct_tcp_reuse(e->state, e->direction, p.tcp_flags);
	if (!e || reuse || !ct6_recent(e, now)) {
		ct_config_load(&cfg);
		if (reuse)
			/* A new connection on a closing tuple (ct_tcp_reuse). */
			ct6_delete(&key, e);
		if (!e || reuse || !ct6_live(&key, e, now, &cfg))
			return xdpfwd_new_flow6(ctx, &p, &key, e != NULL, &cfg);
	}
	return xdpfwd_established6(ctx, &p, &key, e, now);
}

#endif /* XDPFWD_FORWARD6_H */
