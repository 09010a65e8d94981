/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * maglev.h: which rule a new flow matches (exact listen address, else the
 * wildcard) and which backend it gets (the rule's own, or its Maglev
 * table's slot for the flow hash). Only new flows come here: established
 * flows carry their backend in conntrack.
 */
#ifndef XDPFWD_MAGLEV_H
#define XDPFWD_MAGLEV_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xdpfwd_kern_user.h"
#include "maps.h"

/* MurmurHash3_x86_32 block and finalizer; see xdpfwd_kern_user.h. */
static __always_inline __u32 mg_rotl(__u32 x, int r)
{
	return (x << r) | (x >> (32 - r));
}

static __always_inline __u32 mg_mix(__u32 h, __u32 k)
{
	k *= 0xcc9e2d51u;
	k = mg_rotl(k, 15);
	k *= 0x1b873593u;
	h ^= k;
	h = mg_rotl(h, 13);
	return h * 5 + 0xe6546b64u;
}

static __always_inline __u32 mg_final(__u32 h, __u32 nwords)
{
	h ^= nwords * 4;
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

/* The IPv4 flow hash of the client's tuple. */
static __always_inline __u32 mg_hash4(const struct xdpfwd_flow_key *k)
{
	__u32 h = XDPFWD_HASH_SEED;

	h = mg_mix(h, bpf_ntohl(k->saddr));
	h = mg_mix(h, bpf_ntohl(k->daddr));
	h = mg_mix(h, (__u32)bpf_ntohs(k->sport) << 16 | bpf_ntohs(k->dport));
	h = mg_mix(h, k->proto);
	return mg_final(h, 4);
}

/* The IPv6 flow hash of the client's tuple. */
static __always_inline __u32 mg_hash6(const struct xdpfwd_flow6_key *k)
{
	__u32 h = XDPFWD_HASH_SEED;

	h = mg_mix(h, bpf_ntohl(k->saddr[0]));
	h = mg_mix(h, bpf_ntohl(k->saddr[1]));
	h = mg_mix(h, bpf_ntohl(k->saddr[2]));
	h = mg_mix(h, bpf_ntohl(k->saddr[3]));
	h = mg_mix(h, bpf_ntohl(k->daddr[0]));
	h = mg_mix(h, bpf_ntohl(k->daddr[1]));
	h = mg_mix(h, bpf_ntohl(k->daddr[2]));
	h = mg_mix(h, bpf_ntohl(k->daddr[3]));
	h = mg_mix(h, (__u32)bpf_ntohs(k->sport) << 16 | bpf_ntohs(k->dport));
	h = mg_mix(h, k->proto);
	return mg_final(h, 10);
}

/* The slot of `hash` in rule_id's table; NULL if the rule has no table. */
static __always_inline const struct xdpfwd_backend *mg_pick(__u32 rule_id, __u32 hash)
{
	__u32 slot = hash % XDPFWD_MAGLEV_SIZE;
	void *table = bpf_map_lookup_elem(&xdpfwd_maglev, &rule_id);

	if (!table)
		return NULL;
	return bpf_map_lookup_elem(table, &slot);
}

/*
 * The IPv4 rule for a new flow's destination: the exact (proto, daddr,
 * dport) entry, else the wildcard entry (address 0) if daddr is a local
 * address of an attached interface. NULL: not ours.
 */
static __always_inline struct xdpfwd_rule *mg_rule4(const struct xdpfwd_flow_key *key)
{
	struct xdpfwd_rule_key rk = {
		.proto = key->proto,
		.addr = key->daddr,
		.port = key->dport,
	};
	struct xdpfwd_rule *rule;

	rule = bpf_map_lookup_elem(&xdpfwd_rules, &rk);
	if (rule)
		return rule;
	rk.addr = 0;
	rule = bpf_map_lookup_elem(&xdpfwd_rules, &rk);
	if (rule && bpf_map_lookup_elem(&xdpfwd_laddrs, &key->daddr))
		return rule;
	return NULL;
}

/*
 * The backend (address, port) of a new IPv4 flow under `rule`. Returns 0,
 * or -1 when a Maglev rule has no table or an empty slot (the control
 * plane writes the table before the rule entries and removes it after, so
 * only a damaged state gets here).
 */
static __always_inline int mg_backend4(const struct xdpfwd_rule *rule,
				       const struct xdpfwd_flow_key *key,
				       __be32 *addr, __be16 *port)
{
	const struct xdpfwd_backend *be;

	if (!(rule->flags & XDPFWD_RULE_MAGLEV)) {
		/* One backend: the rule entry holds it, offset applied. */
		*addr = rule->backend_addr;
		*port = rule->backend_port;
		return 0;
	}
	be = mg_pick(rule->rule_id, mg_hash4(key));
	if (!be || !be->port)
		return -1;
	*addr = be->addr[0];
	*port = bpf_htons(bpf_ntohs(be->port) + rule->port_offset);
	return 0;
}

/* IPv6 twin of mg_rule4 (wildcard entry: address ::, xdpfwd_laddrs6). */
static __always_inline struct xdpfwd_rule6 *mg_rule6(const struct xdpfwd_flow6_key *key)
{
	struct xdpfwd_rule6_key rk = {
		.proto = key->proto,
		.port = key->dport,
	};
	struct xdpfwd_rule6 *rule;

	rk.addr[0] = key->daddr[0];
	rk.addr[1] = key->daddr[1];
	rk.addr[2] = key->daddr[2];
	rk.addr[3] = key->daddr[3];
	rule = bpf_map_lookup_elem(&xdpfwd_rules6, &rk);
	if (rule)
		return rule;
	__builtin_memset(rk.addr, 0, sizeof(rk.addr));
	rule = bpf_map_lookup_elem(&xdpfwd_rules6, &rk);
	if (rule && bpf_map_lookup_elem(&xdpfwd_laddrs6, key->daddr))
		return rule;
	return NULL;
}

/* IPv6 twin of mg_backend4: *addr points into the rule or the slot (map
 * values stay valid for the whole program run). */
static __always_inline int mg_backend6(const struct xdpfwd_rule6 *rule,
				       const struct xdpfwd_flow6_key *key,
				       const __be32 **addr, __be16 *port)
{
	const struct xdpfwd_backend *be;

	if (!(rule->flags & XDPFWD_RULE_MAGLEV)) {
		/* One backend: the rule entry holds it, offset applied. */
		*addr = rule->backend_addr;
		*port = rule->backend_port;
		return 0;
	}
	be = mg_pick(rule->rule_id, mg_hash6(key));
	if (!be || !be->port)
		return -1;
	*addr = be->addr;
	*port = bpf_htons(bpf_ntohs(be->port) + rule->port_offset);
	return 0;
}

#endif /* XDPFWD_MAGLEV_H */
