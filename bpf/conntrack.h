/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * conntrack.h: the flow table. Each flow has a FORWARD entry keyed by the
 * client's tuple and a REPLY entry keyed by the backend's reply tuple; each
 * says what to rewrite the packet's tuple to, and each one's key is the
 * reverse of the other's rewrite tuple ("twins").
 */
#ifndef XDPFWD_CONNTRACK_H
#define XDPFWD_CONNTRACK_H

#include <linux/bpf.h>
#include <linux/errno.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xdpfwd_kern_user.h"
#include "maps.h"
#include "parsing.h"

#define NSEC_PER_SEC 1000000000ULL

/* Copy the tunables; a missing entry reads as all-defaults. */
static __always_inline void ct_config_load(struct xdpfwd_config *cfg)
{
	__u32 zero = 0;
	struct xdpfwd_config *c = bpf_map_lookup_elem(&xdpfwd_config, &zero);

	if (c)
		*cfg = *c;
	else
		__builtin_memset(cfg, 0, sizeof(*cfg));
}

/* Idle timeout of a state in ns; zero config fields mean the default. */
static __always_inline __u64 ct_timeout_ns(const struct xdpfwd_config *cfg,
					   __u8 state)
{
	__u32 s;

	switch (state) {
	case XDPFWD_CT_TCP_OPENING:
		s = cfg->timeout_tcp_opening ?: XDPFWD_DEFAULT_TIMEOUT_TCP_OPENING;
		break;
	case XDPFWD_CT_TCP_EST:
		s = cfg->timeout_tcp_est ?: XDPFWD_DEFAULT_TIMEOUT_TCP_EST;
		break;
	case XDPFWD_CT_TCP_FIN:
		s = cfg->timeout_tcp_fin ?: XDPFWD_DEFAULT_TIMEOUT_TCP_FIN;
		break;
	case XDPFWD_CT_TCP_RST:
		s = cfg->timeout_tcp_rst ?: XDPFWD_DEFAULT_TIMEOUT_TCP_RST;
		break;
	default:
		s = cfg->timeout_udp ?: XDPFWD_DEFAULT_TIMEOUT_UDP;
		break;
	}
	return (__u64)s * NSEC_PER_SEC;
}

/*
 * The entry itself was seen within its state's timeout. Signed: another
 * CPU's coarse clock may have stamped a time slightly ahead of ours.
 */
static __always_inline int ct_fresh(const struct xdpfwd_flow *e, __u64 now,
				    const struct xdpfwd_config *cfg)
{
	return (__s64)(now - e->last_seen_ns) <= (__s64)ct_timeout_ns(cfg, e->state);
}

/*
 * Seen within XDPFWD_TOUCH_NS. Config timeouts are whole seconds and at
 * least 1 (zero selects a default), so such an entry is fresh whatever its
 * state and config: the hot path needs neither.
 */
_Static_assert(XDPFWD_TOUCH_NS <= NSEC_PER_SEC, "a recent entry must be fresh under every timeout");
static __always_inline int ct_recent(const struct xdpfwd_flow *e, __u64 now)
{
	return (__s64)(now - e->last_seen_ns) <= (__s64)XDPFWD_TOUCH_NS;
}

/* The coarse clock in whole seconds: an entry's `created`. */
static __always_inline __u32 ct_seconds(__u64 now)
{
	return (__u32)(now / NSEC_PER_SEC);
}

/* Count a frame of len bytes forwarded by e. Plain adds: see struct
 * xdpfwd_flow for why not atomic ones. */
static __always_inline void ct_count(struct xdpfwd_flow *e, __u64 len)
{
	e->packets += 1;
	e->bytes += len;
}

/* The twin's key: the reverse of this entry's rewrite tuple. */
static __always_inline void ct_twin_key(const struct xdpfwd_flow *e, __u8 proto,
					struct xdpfwd_flow_key *tk)
{
	__builtin_memset(tk, 0, sizeof(*tk));
	tk->saddr = e->new_daddr;
	tk->daddr = e->new_saddr;
	tk->sport = e->new_dport;
	tk->dport = e->new_sport;
	tk->proto = proto;
}

/* t rewrites back to key: it really is key's twin, not a reused slot. */
static __always_inline int ct_points_back(const struct xdpfwd_flow *t,
					  const struct xdpfwd_flow_key *key)
{
	return t->new_daddr == key->saddr && t->new_saddr == key->daddr &&
	       t->new_dport == key->sport && t->new_sport == key->dport;
}

/* Look up e's twin; NULL if it is gone or belongs to another flow now. */
static __always_inline struct xdpfwd_flow *
ct_twin(const struct xdpfwd_flow_key *key, const struct xdpfwd_flow *e)
{
	struct xdpfwd_flow_key tk;
	struct xdpfwd_flow *t;

	ct_twin_key(e, key->proto, &tk);
	t = bpf_map_lookup_elem(&xdpfwd_flows, &tk);
	if (t && ct_points_back(t, key))
		return t;
	return NULL;
}

/*
 * A one-way stream refreshes only one of the two entries, so an entry that
 * looks expired is still live while its twin is. The twin is only looked up
 * on that rare path.
 */
static __always_inline int ct_live(const struct xdpfwd_flow_key *key,
				   const struct xdpfwd_flow *e, __u64 now,
				   const struct xdpfwd_config *cfg)
{
	struct xdpfwd_flow *t;

	if (ct_fresh(e, now, cfg))
		return 1;
	t = ct_twin(key, e);
	return t && ct_fresh(t, now, cfg);
}

/* Set the state in an entry and its twin. */
static __always_inline void ct_set_state(const struct xdpfwd_flow_key *key,
					 struct xdpfwd_flow *e, __u8 state)
{
	struct xdpfwd_flow *t;

	e->state = state;
	t = ct_twin(key, e);
	if (t)
		t->state = state;
}

/*
 * TCP state machine, family-independent: the state an entry in `st`, of
 * direction `dir`, moves to when a packet with TCP `flags` passes.
 */
static __always_inline __u8 ct_tcp_next_state(__u8 st, __u8 dir, __u8 flags)
{
	if (flags & XDPFWD_TCP_RST)
		return XDPFWD_CT_TCP_RST;
	if (flags & XDPFWD_TCP_FIN)
		return st == XDPFWD_CT_TCP_RST ? st : XDPFWD_CT_TCP_FIN;
	if (dir == XDPFWD_DIR_REPLY && st == XDPFWD_CT_TCP_OPENING)
		return XDPFWD_CT_TCP_EST;
	return st;
}

/*
 * A client SYN (no ACK) on a flow in FIN or RST state: the client reuses
 * the closing tuple for a new connection. Like Linux conntrack, that kills
 * the old flow and starts a new one (current rule, backend and SNAT port);
 * reopening the old entries would keep the old translation. A SYN on an
 * OPENING or EST flow is a retransmission and keeps the flow.
 * Family-independent: the caller passes the entry's state and direction.
 */
static __always_inline int ct_tcp_reuse(__u8 st, __u8 dir, __u8 flags)
{
	return (flags & (XDPFWD_TCP_SYN | XDPFWD_TCP_ACK)) == XDPFWD_TCP_SYN &&
	       dir == XDPFWD_DIR_FORWARD &&
	       (st == XDPFWD_CT_TCP_FIN || st == XDPFWD_CT_TCP_RST);
}

/* Delete a flow (the entry at key and its twin, if it still points back):
 * its reply tuple, and so its SNAT port, is free again. */
static __always_inline void ct_delete(const struct xdpfwd_flow_key *key,
				      const struct xdpfwd_flow *e)
{
	struct xdpfwd_flow_key tk;
	struct xdpfwd_flow *t;

	ct_twin_key(e, key->proto, &tk);
	t = bpf_map_lookup_elem(&xdpfwd_flows, &tk);
	if (t && ct_points_back(t, key))
		bpf_map_delete_elem(&xdpfwd_flows, &tk);
	bpf_map_delete_elem(&xdpfwd_flows, key);
}

/*
 * Only packets that change the state (SYN-ACK, FIN, RST) pay for the twin
 * lookup.
 */
static __always_inline void ct_tcp_update(const struct xdpfwd_flow_key *key,
					  struct xdpfwd_flow *e, __u8 flags)
{
	__u8 want = ct_tcp_next_state(e->state, e->direction, flags);

	if (want != e->state)
		ct_set_state(key, e, want);
}

/*
 * Claim the reply tuple rkey for a new flow. The BPF_NOEXIST insert is the
 * atomic claim: two CPUs can never both own one tuple. A dead occupant is
 * deleted and the insert retried once. Returns 0 when claimed, -EEXIST when
 * a live flow owns the tuple (or another CPU won the retry), else -errno.
 */
static __always_inline long ct_claim(struct xdpfwd_flow_key *rkey,
				     const struct xdpfwd_flow *rval, __u64 now,
				     const struct xdpfwd_config *cfg)
{
	struct xdpfwd_flow *old;
	long err;

	err = bpf_map_update_elem(&xdpfwd_flows, rkey, rval, BPF_NOEXIST);
	if (err != -EEXIST)
		return err;
	old = bpf_map_lookup_elem(&xdpfwd_flows, rkey);
	if (old && ct_live(rkey, old, now, cfg))
		return -EEXIST;
	bpf_map_delete_elem(&xdpfwd_flows, rkey);
	return bpf_map_update_elem(&xdpfwd_flows, rkey, rval, BPF_NOEXIST);
}

/* State of the SNAT port probe loop, shared with its bpf_loop callback. */
struct ct_probe {
	struct xdpfwd_flow_key rkey;  /* reply key; dport is the probed port */
	struct xdpfwd_flow rval;      /* reply entry to insert */
	struct xdpfwd_config cfg;
	__u64 now;
	__u32 port, lo, hi;
	long err;
};

/* One probe: claim c->port, or step to the next port in the range. */
static long ct_probe_one(__u32 i, void *data)
{
	struct ct_probe *c = data;

	c->rkey.dport = bpf_htons((__u16)c->port);
	c->err = ct_claim(&c->rkey, &c->rval, c->now, &c->cfg);
	if (c->err != -EEXIST)
		return 1; /* claimed, or a hard error: stop */
	if (++c->port > c->hi)
		c->port = c->lo;
	return 0;
}

/*
 * Pick a SNAT source port: probe up to XDPFWD_PORT_PROBES consecutive ports
 * from a random start inside [snat_port_min, snat_port_max], wrapping in the
 * range, and claim the first free one (left in c->rkey.dport). bpf_loop
 * keeps the verifier from walking every probe. Returns 0, -EEXIST when
 * every probe hit a live flow, or another -errno.
 */
static __always_inline long ct_alloc_port(struct ct_probe *c)
{
	__u32 lo = c->cfg.snat_port_min ?: XDPFWD_DEFAULT_SNAT_PORT_MIN;
	__u32 hi = c->cfg.snat_port_max ?: XDPFWD_DEFAULT_SNAT_PORT_MAX;

	/* An inverted range is a control-plane bug: fall back to defaults. */
	if (lo > hi) {
		lo = XDPFWD_DEFAULT_SNAT_PORT_MIN;
		hi = XDPFWD_DEFAULT_SNAT_PORT_MAX;
	}
	c->lo = lo;
	c->hi = hi;
	c->port = lo + bpf_get_prandom_u32() % (hi - lo + 1);
	c->err = -EEXIST;
	bpf_loop(XDPFWD_PORT_PROBES, ct_probe_one, c, 0);
	return c->err;
}

#endif /* XDPFWD_CONNTRACK_H */
