/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * xdpfwd.bpf.c: entry points of the xdpfwd data plane, an XDP L4 port
 * forwarder with full NAT (IPv4 and IPv6 TCP/UDP, ICMP errors about them),
 * untagged or behind 802.1Q / QinQ tags.
 *
 *   xdpfwd_xdp   the forwarder, attached to every forwarding interface
 *   xdpfwd_xdp6  the IPv6 half of the forwarder, tail-called by xdpfwd_xdp
 *   xdpfwd_tc    clsact ingress: finishes packets XDP passed up because the
 *                next hop's neighbour was unresolved or its egress is not
 *                an attached interface
 *   xdpfwd_pass  XDP_PASS only: for veth peers, so they accept redirected
 *                frames, and to register an rxq for BPF_PROG_TEST_RUN
 *   xdpfwd_afp_tc  clsact ingress on FastPath (AF_PACKET) interfaces: drops
 *                the stack's copy of packets FastPath forwards
 *   xdpfwd_fib   FastPath's route lookups, run via BPF_PROG_TEST_RUN
 *   xdpfwd_ct_add  FastPath's deferred per-flow counts, added in place via
 *                BPF_PROG_TEST_RUN
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "xdpfwd_kern_user.h"
#include "maps.h"
#include "parsing.h"
#include "csum.h"
#include "stats.h"
#include "conntrack.h"
#include "nat.h"
#include "vlan.h"
#include "nexthop.h"
#include "maglev.h"
#include "icmp.h"
#include "forward6.h"
#include "fastpath.h"

/* Translate per f (TTL checked, next hop known), count, send. */
static __always_inline int xdpfwd_send(struct xdp_md *ctx, struct pkt_info *p,
				       const struct xdpfwd_flow *f)
{
	nat_rewrite(p, f);
	stats_rule(f->rule_id, f->direction, p->len);
	return nh_egress(ctx, p, f);
}

/* A packet of a live flow: e is its entry in xdpfwd_flows. */
static __always_inline int xdpfwd_established(struct xdp_md *ctx, struct pkt_info *p,
					      const struct xdpfwd_flow_key *key,
					      struct xdpfwd_flow *e, __u64 now)
{
	int act, touch;

	if (p->proto == IPPROTO_TCP)
		ct_tcp_update(key, e, p->tcp_flags);

	if (p->iph->ttl <= 1) {
		/* Would expire in transit: the kernel sends time exceeded. */
		stats_inc(XDPFWD_STAT_PASS_TTL);
		return XDP_PASS;
	}

	/* Stamp last_seen at most once per XDPFWD_TOUCH_NS, and look the
	 * next hop up again with it. */
	touch = !ct_recent(e, now);
	if (touch)
		e->last_seen_ns = now;

	act = nh_refresh(ctx, p, e, touch);
	if (act != XDPFWD_CONTINUE)
		/* No usable route: passed or dropped untranslated. */
		return act;
	ct_count(e, p->len);
	return xdpfwd_send(ctx, p, e);
}

/*
 * No live flow for the packet: create one if a rule matches. `expired` says
 * the lookup found a dead entry for this tuple, which the BPF_ANY insert of
 * the forward entry replaces, or a closing flow that a client SYN just
 * deleted (ct_tcp_reuse).
 *
 * Benign race: two CPUs creating the same forward flow at once both claim a
 * SNAT port (two reply entries); the last forward write wins and the
 * loser's reply entry, no longer pointed to, simply ages out.
 */
static __always_inline int xdpfwd_new_flow(struct xdp_md *ctx, struct pkt_info *p,
					   const struct xdpfwd_flow_key *key, int expired,
					   __u64 now, const struct xdpfwd_config *cfg)
{
	struct ct_probe claim = {}; /* reply key/entry, probe state */
	struct xdpfwd_flow fval = {};
	struct bpf_fib_lookup fib;
	struct xdpfwd_rule *rule;
	__be32 backend_addr, snat;
	__be16 backend_port;
	__u8 mode, state;
	long rc, err;

	rule = mg_rule4(key);
	if (!rule) {
		/* Not a listen endpoint of ours: the stack's business. */
		stats_inc(XDPFWD_STAT_PASS_NO_RULE);
		return XDP_PASS;
	}
	if (mg_backend4(rule, key, &backend_addr, &backend_port)) {
		/* A balanced rule without its table (damaged state): the
		 * packet is untouched, as if there were no rule. */
		stats_inc(XDPFWD_STAT_PASS_NO_RULE);
		return XDP_PASS;
	}
	mode = rule->snat_mode;
	if (expired)
		stats_inc(XDPFWD_STAT_FLOW_EXPIRED);

	if (p->iph->ttl <= 1) {
		/* Would expire in transit: the kernel sends time exceeded. */
		stats_inc(XDPFWD_STAT_PASS_TTL);
		return XDP_PASS;
	}

	rc = nh_fib_lookup(ctx, &fib, p, key->saddr, backend_addr, key->sport, backend_port);
	if (!nh_fib_usable(rc))
		/* No state created; the packet is untouched. */
		return nh_fib_fail(rc);

	switch (mode) {
	case XDPFWD_SNAT_NONE:
		snat = key->saddr;
		break;
	case XDPFWD_SNAT_FIXED:
		snat = rule->snat_addr;
		break;
	default: /* XDPFWD_SNAT_AUTO; unknown modes behave like it */
		snat = nh_snat_addr(fib.ifindex);
		if (!snat) {
			/* No source address for this egress (attached device or
			 * VLAN upper): the backend's replies could not find
			 * their way back. */
			stats_inc(XDPFWD_STAT_DROP_NO_SNAT_ADDR);
			return XDP_DROP;
		}
		break;
	}

	if (p->proto == IPPROTO_TCP)
		state = (p->tcp_flags & XDPFWD_TCP_RST) ? XDPFWD_CT_TCP_RST :
							  XDPFWD_CT_TCP_OPENING;
	else
		state = XDPFWD_CT_UDP;

	/* Reply entry: backend -> snat:P becomes listen -> client. */
	claim.rkey.saddr = backend_addr;
	claim.rkey.daddr = snat;
	claim.rkey.sport = backend_port;
	claim.rkey.proto = key->proto;
	claim.rval.new_saddr = key->daddr;
	claim.rval.new_daddr = key->saddr;
	claim.rval.new_sport = key->dport;
	claim.rval.new_dport = key->sport;
	claim.rval.rule_id = rule->rule_id;
	claim.rval.direction = XDPFWD_DIR_REPLY;
	claim.rval.state = state;
	claim.rval.created = ct_seconds(now);
	claim.rval.last_seen_ns = now;
	claim.cfg = *cfg;
	claim.now = now;

	if (mode == XDPFWD_SNAT_NONE) {
		/* DNAT only: the client's port is the only candidate. */
		claim.rkey.dport = key->sport;
		err = ct_claim(&claim.rkey, &claim.rval, now, cfg);
		if (err == -EEXIST) {
			/* A live flow already owns backend <-> client:port. */
			stats_inc(XDPFWD_STAT_DROP_FLOW_CLASH);
			return XDP_DROP;
		}
	} else {
		err = ct_alloc_port(&claim);
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
	fval.new_saddr = snat;
	fval.new_daddr = backend_addr;
	fval.new_sport = claim.rkey.dport;
	fval.new_dport = backend_port;
	fval.rule_id = claim.rval.rule_id;
	fval.direction = XDPFWD_DIR_FORWARD;
	fval.state = state;
	fval.created = ct_seconds(now);
	fval.last_seen_ns = now;
	/* This packet is the forward entry's first. */
	fval.packets = 1;
	fval.bytes = p->len;
	nh_store(&fval, &fib, rc);
	if (bpf_map_update_elem(&xdpfwd_flows, key, &fval, BPF_ANY)) {
		/* Half a flow is useless: release the claimed port. */
		bpf_map_delete_elem(&xdpfwd_flows, &claim.rkey);
		stats_inc(XDPFWD_STAT_DROP_FLOW_TABLE);
		return XDP_DROP;
	}
	stats_inc(XDPFWD_STAT_FLOW_NEW);

	/* Translate and send with the next hop just looked up. */
	return xdpfwd_send(ctx, p, &fval);
}

static __always_inline int xdpfwd_process(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct hdr_cursor nh = { .pos = data };
	struct xdpfwd_flow_key key = {};
	struct xdpfwd_config cfg;
	struct pkt_info p = {};
	struct xdpfwd_flow *e;
	struct tcphdr *th;
	struct udphdr *uh;
	__u32 l4_len;
	__u64 now;
	int proto, reuse;

	proto = parse_ethhdr(&nh, data_end, &p.eth);
	if (proto < 0) {
		/* Shorter than an Ethernet header. */
		stats_inc(XDPFWD_STAT_PASS_MALFORMED);
		return XDP_PASS;
	}
	proto = parse_vlan_tags(&nh, data_end, proto, &p.vlan_tags);
	if (proto < 0) {
		/* A VLAN tag cut short. */
		stats_inc(XDPFWD_STAT_PASS_MALFORMED);
		return XDP_PASS;
	}
	if (proto != bpf_htons(ETH_P_IP)) {
		if (proto == bpf_htons(ETH_P_IPV6))
			/* The IPv6 program takes over (and counts the verdict);
			 * it has a BPF stack of its own. Returns only if the
			 * program array lacks it, which libbpf prevents. */
			bpf_tail_call(ctx, &xdpfwd_progs, XDPFWD_PROG_IPV6);
		/* ARP, more than two VLAN tags, ...: not for this
		 * forwarder; the stack gets the frame as received. */
		stats_inc(XDPFWD_STAT_PASS_NOT_IPV4);
		return XDP_PASS;
	}

	proto = parse_iphdr(&nh, data_end, &p.iph, &l4_len);
	if (proto < 0) {
		/* Bad version, ihl or tot_len: let the stack judge it. */
		stats_inc(XDPFWD_STAT_PASS_MALFORMED);
		return XDP_PASS;
	}
	if (ip_is_fragment(p.iph)) {
		/* No L4 ports to match on: the stack reassembles. */
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
	} else if (proto == IPPROTO_ICMP) {
		/* Errors about our flows are translated; the rest is the
		 * stack's (echo requests to a listen address included). */
		return icmp4_error(ctx, &p, nh.pos, data_end);
	} else {
		/* Another protocol: the stack's business. */
		stats_inc(XDPFWD_STAT_PASS_NOT_TCP_UDP);
		return XDP_PASS;
	}
	p.proto = proto;
	p.len = data_end - data;
	key.saddr = p.iph->saddr;
	key.daddr = p.iph->daddr;
	key.proto = proto;

	now = bpf_ktime_get_coarse_ns();
	e = bpf_map_lookup_elem(&xdpfwd_flows, &key);
	/* An entry touched within XDPFWD_TOUCH_NS is live whatever its state
	 * (every timeout is at least 1 s): the common case needs neither the
	 * config nor the per-state timeout. Only older entries and misses pay
	 * for them. One call site of each path keeps the hot code compact. */
	reuse = e && ct_tcp_reuse(e->state, e->direction, p.tcp_flags);
	if (!e || reuse || !ct_recent(e, now)) {
		ct_config_load(&cfg);
		if (reuse)
			/* A new connection on a closing tuple: the old flow
			 * goes, its SNAT port with it (ct_tcp_reuse). */
			ct_delete(&key, e);
		if (!e || reuse || !ct_live(&key, e, now, &cfg))
			return xdpfwd_new_flow(ctx, &p, &key, e != NULL, now, &cfg);
	}
	return xdpfwd_established(ctx, &p, &key, e, now);
}

SEC("xdp")
int xdpfwd_xdp(struct xdp_md *ctx)
{
	int act;

	/* No per-packet rx counter: rx is the sum of the verdict counters,
	 * which the control plane adds up. */
	act = xdpfwd_process(ctx);
	stats_verdict(act);
	return act;
}

SEC("xdp")
int xdpfwd_xdp6(struct xdp_md *ctx)
{
	int act = xdpfwd_process6(ctx);

	stats_verdict(act);
	return act;
}

SEC("tc")
int xdpfwd_tc(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	struct xdpfwd_meta *meta = (void *)(long)skb->data_meta;

	if ((void *)(meta + 1) > data || meta->magic != XDPFWD_META_MAGIC)
		/* Not handed up by xdpfwd_xdp: normal stack processing. */
		return TC_ACT_OK;
	/* Translated by XDP; the kernel resolves the neighbour, queues the
	 * packet meanwhile, and transmits on meta->ifindex. */
	stats_inc(XDPFWD_STAT_TC_SLOWPATH_REDIRECT);
	return bpf_redirect_neigh(meta->ifindex, NULL, 0, 0);
}

SEC("xdp")
int xdpfwd_pass(struct xdp_md *ctx)
{
	/* Accept everything: lets a veth peer receive redirected frames. */
	return XDP_PASS;
}

SEC("tc")
int xdpfwd_afp_tc(struct __sk_buff *skb)
{
	/* FastPath's AF_PACKET socket already has its copy: the stack must
	 * not also answer or route a packet FastPath forwards. */
	if (fp_taken(skb))
		return TC_ACT_SHOT;
	/* Everything else (XDP_PASS cases) is the stack's; filters after
	 * this one (an admin's, a VLAN stand-in's) still see it. */
	return TC_ACT_UNSPEC;
}

SEC("xdp")
int xdpfwd_fib(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	struct xdpfwd_fib_query *q = (void *)(long)ctx->data;
	struct xdpfwd_fib6_query *q6 = (void *)(long)ctx->data;

	if ((void *)(q6 + 1) <= data_end) {
		/* The bigger query: IPv6. */
		fp_fib6_query(ctx, q6);
		return XDP_PASS;
	}
	if ((void *)(q + 1) > data_end)
		/* Not a query: only FastPath's BPF_PROG_TEST_RUN calls this. */
		return XDP_ABORTED;
	fp_fib_query(ctx, q);
	/* The answer is in the (test run's output) packet. */
	return XDP_PASS;
}

SEC("xdp")
int xdpfwd_ct_add(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	struct xdpfwd_ct_add *q = (void *)(long)ctx->data;
	struct xdpfwd_ct6_add *q6 = (void *)(long)ctx->data;

	if ((void *)(q6 + 1) <= data_end)
		/* The bigger query: IPv6. DROP: the entry is gone. */
		return fp_ct6_add(q6) ? XDP_PASS : XDP_DROP;
	if ((void *)(q + 1) > data_end)
		/* Not a query: only FastPath's BPF_PROG_TEST_RUN calls this. */
		return XDP_ABORTED;
	return fp_ct_add(q) ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "Dual MIT/GPL";
