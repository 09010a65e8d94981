/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * maps.h: every map of the xdpfwd data plane. Keys, values and sizes come
 * from the shared header so the Swift control plane sees the same layouts.
 * All maps are pinned by name: the control plane fills them, and a reload
 * of the program keeps the flow table.
 */
#ifndef XDPFWD_MAPS_H
#define XDPFWD_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xdpfwd_kern_user.h"

/* Forwarding rules: (proto, listen addr, listen port) -> backend. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct xdpfwd_rule_key);
	__type(value, struct xdpfwd_rule);
	__uint(max_entries, XDPFWD_MAX_RULES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdpfwd_rules SEC(".maps");

/* Conntrack: two entries per flow (forward and reply); LRU evicts when full. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct xdpfwd_flow_key);
	__type(value, struct xdpfwd_flow);
	__uint(max_entries, XDPFWD_MAX_FLOWS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdpfwd_flows SEC(".maps");

/* IPv6 forwarding rules: (proto, listen addr, listen port) -> backend. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct xdpfwd_rule6_key);
	__type(value, struct xdpfwd_rule6);
	__uint(max_entries, XDPFWD_MAX_RULES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdpfwd_rules6 SEC(".maps");

/* IPv6 conntrack, same scheme as xdpfwd_flows (two entries per flow, LRU). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct xdpfwd_flow6_key);
	__type(value, struct xdpfwd_flow6);
	__uint(max_entries, XDPFWD_MAX_FLOWS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdpfwd_flows6 SEC(".maps");

/* Scratch for creating an IPv6 flow, per CPU; private to the program. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct xdpfwd_flow6_scratch);
	__uint(max_entries, 1);
} xdpfwd_scratch6 SEC(".maps");
/* Maglev tables: rule_id -> the rule's table (an inner ARRAY swapped whole). */
struct xdpfwd_maglev_table {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	/* Sizes, not types: BTF may hold struct xdpfwd_backend only as a
	 * forward declaration, which libbpf cannot size. */
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct xdpfwd_backend));
	__uint(max_entries, XDPFWD_MAGLEV_ENTRIES);
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__type(key, __u32);
	__uint(max_entries, XDPFWD_MAX_RULES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct xdpfwd_maglev_table);
} xdpfwd_maglev SEC(".maps");

/* Local IPv4 addresses of attached interfaces -> ifindex: what a wildcard rule matches. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __be32);
	__type(value, __u32);
	__uint(max_entries, XDPFWD_MAX_LADDRS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdpfwd_laddrs SEC(".maps");

/* Local IPv6 addresses of attached interfaces -> ifindex: what a wildcard [::] rule matches. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct xdpfwd_addr6);
	__type(value, __u32);
	__uint(max_entries, XDPFWD_MAX_LADDRS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdpfwd_laddrs6 SEC(".maps");

/* Attached interfaces by ifindex: the SNAT address for flows leaving there. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct xdpfwd_iface);
	__uint(max_entries, XDPFWD_MAX_IFACES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdpfwd_ifaces SEC(".maps");

/* VLAN upper devices of attached interfaces by ifindex: lower device and tags. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct xdpfwd_vlan);
	__uint(max_entries, XDPFWD_MAX_VLANS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdpfwd_vlans SEC(".maps");

/* Egress interfaces we may XDP-redirect to, keyed by ifindex. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__type(key, __u32);
	__type(value, struct bpf_devmap_val);
	__uint(max_entries, XDPFWD_MAX_IFACES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdpfwd_txports SEC(".maps");

/* Tunables at index 0; zero fields select the XDPFWD_DEFAULT_* values. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct xdpfwd_config);
	__uint(max_entries, 1);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdpfwd_config SEC(".maps");

/* Global per-CPU counters indexed by enum xdpfwd_stat. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, XDPFWD_STAT_MAX);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdpfwd_stats SEC(".maps");

/* Per-rule per-CPU packet and byte counters indexed by rule_id. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct xdpfwd_rule_stats);
	__uint(max_entries, XDPFWD_MAX_RULES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdpfwd_rstats SEC(".maps");

/* Programs xdpfwd_xdp tail-calls, by XDPFWD_PROG_*; libbpf fills it at
 * load. Pinned, or held open by the loader: the kernel empties a program
 * array when its last user reference goes. */
int xdpfwd_xdp6(struct xdp_md *ctx);
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__uint(key_size, sizeof(__u32));
	__array(values, int (struct xdp_md *));
} xdpfwd_progs SEC(".maps") = {
	.values = { [XDPFWD_PROG_IPV6] = (void *)&xdpfwd_xdp6 },
};
/* FastPath (AF_PACKET) global counters, by enum xdpfwd_stat; one writer. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, XDPFWD_STAT_MAX);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdpfwd_fpstats SEC(".maps");

/* FastPath (AF_PACKET) per-rule counters, by rule_id; one writer. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct xdpfwd_rule_stats);
	__uint(max_entries, XDPFWD_MAX_RULES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdpfwd_fprstats SEC(".maps");

#endif /* XDPFWD_MAPS_H */
