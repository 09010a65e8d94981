/*
 * xdpfwd_kern_user.h: every BPF map key, value and constant that the data
 * plane (bpf/) and the control plane (Sources/CXDP, Swift) share. One
 * definition, so the two sides cannot disagree on a layout; the static
 * asserts at the bottom pin every size.
 *
 * All addresses and ports are stored in network byte order, exactly as they
 * appear on the wire, so the data plane never byte-swaps on the hot path.
 */
#ifndef XDPFWD_KERN_USER_H
#define XDPFWD_KERN_USER_H

#include <linux/types.h>

/* Map sizes. */
#define XDPFWD_MAX_RULES   131072  /* forwarding rules (listen endpoints) */
#define XDPFWD_MAX_FLOWS   262144  /* conntrack entries; each flow uses two */
#define XDPFWD_MAX_IFACES  64      /* interfaces xdpfwd is attached to */
#define XDPFWD_MAX_VLANS   4096    /* VLAN upper devices above them */
#define XDPFWD_MAX_LADDRS  1024    /* local addresses (per family) a wildcard rule matches */

/*
 * Maglev tables of multi-backend rules. A table has XDPFWD_MAGLEV_SIZE
 * slots (a prime; RuleModel's MaglevTable.defaultSize), each naming a
 * backend. A new flow takes slot
 *
 *     xdpfwd_flow_hash(tuple) % XDPFWD_MAGLEV_SIZE
 *
 * where xdpfwd_flow_hash is MurmurHash3_x86_32 with seed XDPFWD_HASH_SEED
 * over the client packet's tuple as 32-bit words, each word fed as its
 * four bytes little-endian (the word values are mixed directly):
 *
 *     IPv4: saddr, daddr, sport << 16 | dport, protocol            (4 words)
 *     IPv6: saddr[0..3], daddr[0..3], sport << 16 | dport, protocol (10 words)
 *
 * Addresses and ports are numbers (host order: 198.18.0.2 is 0xC6120002;
 * IPv6 addresses are their four big-endian 32-bit groups), saddr/sport
 * the client and daddr/dport the listen address and port as the packet
 * carries them. Slots past the table (XDPFWD_MAGLEV_SIZE onwards) list the
 * rule's backends with their weights for the control plane, in the order
 * given, ended by an entry with port 0; the data plane never reads them.
 */
#define XDPFWD_MAGLEV_SIZE         4093
#define XDPFWD_MAGLEV_MAX_BACKENDS 256
#define XDPFWD_MAGLEV_ENTRIES      (XDPFWD_MAGLEV_SIZE + XDPFWD_MAGLEV_MAX_BACKENDS)
#define XDPFWD_HASH_SEED           0x78647066u /* "xdpf" */

/* A rule: (protocol, listen address, listen port) -> backend. */
struct xdpfwd_rule_key {
	__u8   proto;        /* IPPROTO_TCP or IPPROTO_UDP */
	__u8   pad[3];
	__be32 addr;         /* listen IPv4 address */
	__be16 port;         /* listen port */
	__u16  pad2;
};

enum xdpfwd_snat_mode {
	XDPFWD_SNAT_AUTO  = 0, /* source = egress interface's IPv4 address */
	XDPFWD_SNAT_NONE  = 1, /* DNAT only: client address reaches the backend */
	XDPFWD_SNAT_FIXED = 2, /* source = rule.snat_addr */
};

/* xdpfwd_rule.flags */
#define XDPFWD_RULE_MAGLEV 0x01 /* pick the backend from xdpfwd_maglev[rule_id] */

/*
 * A port range is one rule with one entry per listen port, all sharing the
 * rule_id; each entry knows its offset into the range, so the lookup stays
 * one hash lookup whatever the range. A listen address of 0 is the
 * wildcard: looked up only when the exact address misses, for a packet
 * addressed to one of xdpfwd_laddrs.
 */
struct xdpfwd_rule {
	__be32 backend_addr; /* single backend; 0 with XDPFWD_RULE_MAGLEV */
	__be16 backend_port; /* single backend: its port for this listen port
	                      * (the range offset is already added) */
	__u8   snat_mode;    /* enum xdpfwd_snat_mode */
	__u8   flags;        /* XDPFWD_RULE_* */
	__be32 snat_addr;    /* used when snat_mode == XDPFWD_SNAT_FIXED */
	__u32  rule_id;      /* slot in the rule_stats and maglev maps, < XDPFWD_MAX_RULES */
	__u16  port_offset;  /* this listen port - the range's first (host order);
	                      * added to a Maglev backend's port */
	__u16  port_count;   /* ports in the rule's range (host order), >= 1 */
};

/* Key of xdpfwd_laddrs6: a local IPv6 address. */
struct xdpfwd_addr6 {
	__be32 addr[4];
};

/* A Maglev table slot or backend-list entry (inner maps of xdpfwd_maglev). */
struct xdpfwd_backend {
	__be32 addr[4];      /* IPv4: addr[0]; the rest 0 */
	__be16 port;         /* the backend's first port; 0 ends the backend list */
	__u16  weight;       /* the weight the table was built with (host order) */
};

/* A packet's L4 tuple as it appears on the wire. */
struct xdpfwd_flow_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8   proto;
	__u8   pad[3];
};

enum xdpfwd_direction {
	XDPFWD_DIR_FORWARD = 0, /* client -> backend */
	XDPFWD_DIR_REPLY   = 1, /* backend -> client */
};

enum xdpfwd_ct_state {
	XDPFWD_CT_UDP         = 0,
	XDPFWD_CT_TCP_OPENING = 1, /* seen one direction only */
	XDPFWD_CT_TCP_EST     = 2, /* seen both directions */
	XDPFWD_CT_TCP_FIN     = 3, /* FIN seen in either direction */
	XDPFWD_CT_TCP_RST     = 4, /* RST seen: the flow is over */
};

/*
 * A conntrack entry. Each flow has two: one keyed by the client's tuple
 * (direction FORWARD) and one keyed by the backend's reply tuple (REPLY).
 * Each says what to rewrite the packet's tuple to. The twin entry's key is
 * the reverse of this entry's rewrite tuple.
 *
 * One 64-byte cache line, which the established path reads and, for the
 * counters, writes per packet. The cached next hop is refreshed when
 * last_seen_ns is (once per XDPFWD_TOUCH_NS), so it needs no timestamp of
 * its own.
 *
 * packets/bytes: what this entry's direction forwarded (the packet that
 * created the flow included): one per frame translated and sent by this
 * entry, plus its length as received (Ethernet header and any VLAN tags to
 * the frame's end, no FCS). ICMP errors translated by the entry are not
 * counted. Plain, non-atomic adds: an entry is one direction of one flow,
 * which RSS (XDP) and PACKET_FANOUT_HASH (FastPath) steer to one CPU, so
 * two CPUs rarely write it at the same instant; when they do (a flow moved
 * to another queue or CPU mid-stream), one increment can be lost. Atomic
 * adds would make that exact at the price of a locked instruction per
 * packet, about 6 ns on the established path even uncontended (bench prog,
 * docs/benchmarks.md), and much more when contended. These counters are
 * for looking at flows; the per-rule counters (per-CPU, exact) are the
 * accounting ones. packets wraps at 2^32 per direction; bytes, in practice,
 * never.
 */
struct xdpfwd_flow {
	__be32 new_saddr;
	__be32 new_daddr;
	__be16 new_sport;
	__be16 new_dport;
	__u32  rule_id;
	__u8   direction;      /* enum xdpfwd_direction */
	__u8   state;          /* enum xdpfwd_ct_state */
	__u8   nh_valid;       /* cached next hop below is usable */
	__u8   nh_vlan;        /* egress tags: XDPFWD_VLAN_* bits, 0 untagged */
	__u32  nh_ifindex;     /* egress: the FIB's interface, or with nh_vlan
	                        * set the VLAN's lower (attached) device */
	__u64  last_seen_ns;   /* bpf_ktime_get_coarse_ns(); refreshed at most
	                        * every XDPFWD_TOUCH_NS, the next hop with it */
	__u64  bytes;          /* frame bytes forwarded by this entry */
	__u32  packets;        /* frames forwarded by this entry */
	__u32  created;        /* coarse clock at creation, whole seconds */
	__u8   nh_dmac[6];
	__u8   nh_smac[6];
	__be16 nh_vlan_tci[2]; /* egress TCI (PCP << 13 | VLAN id): outer, inner */
};

/*
 * Egress tags of a next hop (struct xdpfwd_flow.nh_vlan, struct
 * xdpfwd_vlan.tags): the count of tags to push, and the outer tag's TPID.
 * An inner tag (QinQ) is always 802.1Q (0x8100).
 */
#define XDPFWD_VLAN_COUNT_MASK 0x03 /* 0, 1 or 2 tags */
#define XDPFWD_VLAN_OUTER_AD   0x04 /* outer TPID 0x88a8 (802.1ad), else 0x8100 */
#define XDPFWD_VLAN_MAX_TAGS   2    /* tags parsed on ingress, pushed on egress */

/*
 * A VLAN upper device of an attached interface, keyed by its ifindex:
 * bpf_fib_lookup names the upper as egress, the data plane sends on the
 * lower with these tags. QinQ uppers (a VLAN on a VLAN) are flattened by
 * the control plane to their physical lower and both tags.
 */
struct xdpfwd_vlan {
	__u32  lower_ifindex;    /* the attached (physical) device below */
	__u8   tags;             /* XDPFWD_VLAN_* bits, count 1 or 2 */
	__u8   pad;
	__be16 tci[2];           /* outer, inner TCI (PCP << 13 | VLAN id) */
	__u16  pad2;
	__be32 ipv4_addr;        /* the upper's IPv4 address: SNAT source; 0 none */
	__be32 ipv6_addr[4];     /* its first global IPv6 address; :: none */
};

/*
 * IPv6 twins of the rule and flow layouts: the same fields with 16-byte
 * addresses, in their own maps, so the IPv4 path keeps its 16-byte keys.
 */
struct xdpfwd_rule6_key {
	__u8   proto;        /* IPPROTO_TCP or IPPROTO_UDP */
	__u8   pad;
	__be16 port;         /* listen port */
	__be32 addr[4];      /* listen IPv6 address */
};

struct xdpfwd_rule6 {
	__be32 backend_addr[4]; /* single backend; 0 with XDPFWD_RULE_MAGLEV */
	__be32 snat_addr[4]; /* used when snat_mode == XDPFWD_SNAT_FIXED */
	__be16 backend_port; /* single backend, range offset already added */
	__u8   snat_mode;    /* enum xdpfwd_snat_mode */
	__u8   flags;        /* XDPFWD_RULE_* */
	__u32  rule_id;      /* slot in the rule_stats and maglev maps, shared with IPv4 rules */
	__u16  port_offset;  /* as in struct xdpfwd_rule */
	__u16  port_count;
};

struct xdpfwd_flow6_key {
	__be32 saddr[4];
	__be32 daddr[4];
	__be16 sport;
	__be16 dport;
	__u8   proto;
	__u8   pad[3];
};

/* struct xdpfwd_flow with 16-byte addresses; same meaning field by field. */
struct xdpfwd_flow6 {
	__be32 new_saddr[4];
	__be32 new_daddr[4];
	__be16 new_sport;
	__be16 new_dport;
	__u32  rule_id;
	__u8   direction;      /* enum xdpfwd_direction */
	__u8   state;          /* enum xdpfwd_ct_state */
	__u8   nh_valid;       /* cached next hop below is usable */
	__u8   nh_vlan;        /* egress tags: XDPFWD_VLAN_* bits, 0 untagged */
	__u32  nh_ifindex;
	__u64  last_seen_ns;
	__u64  bytes;
	__u32  packets;
	__u32  created;        /* whole seconds */
	__u8   nh_dmac[6];
	__u8   nh_smac[6];
	__u32  csum_delta;     /* one's-complement sum of key tuple -> new tuple (L4 checksum) */
	__be16 nh_vlan_tci[2]; /* egress TCI: outer, inner */
	__u32  pad2;
};

/* Interfaces xdpfwd is attached to, keyed by ifindex. */
enum xdpfwd_attach_mode {
	XDPFWD_MODE_NATIVE  = 1,
	XDPFWD_MODE_GENERIC = 2,
	XDPFWD_MODE_AFPACKET = 3, /* FastPath: AF_PACKET rings in user space */
};

struct xdpfwd_iface {
	__be32 ipv4_addr;        /* SNAT source for flows leaving here; 0: none */
	__u32  ifindex;
	__u8   mode;             /* enum xdpfwd_attach_mode */
	__u8   prev_forwarding;  /* IPv4 forwarding sysctl before attach */
	__u8   created_clsact;   /* attach created the clsact qdisc */
	__u8   prev_forwarding6; /* IPv6 forwarding sysctl before attach; 2: no IPv6 */
	__u32  pad2;
	__u64  attached_unix;    /* wall-clock seconds of attach */
	__be32 ipv6_addr[4];     /* IPv6 SNAT source (first global address); :: none */
};

/* Tunables, one entry at index 0. Zero fields mean the defaults below. */
struct xdpfwd_config {
	__u16 snat_port_min;     /* first SNAT source port (host order) */
	__u16 snat_port_max;     /* last SNAT source port (host order) */
	__u32 timeout_tcp_opening; /* seconds */
	__u32 timeout_tcp_est;
	__u32 timeout_tcp_fin;
	__u32 timeout_tcp_rst;
	__u32 timeout_udp;
};

/*
 * Data-plane scratch for creating an IPv6 flow: too big for the BPF stack
 * beside the rest of the IPv6 path. Per CPU, one entry, never pinned and
 * never read by the control plane.
 */
struct xdpfwd_flow6_scratch {
	struct xdpfwd_flow6_key rkey;  /* reply key; dport is the probed SNAT port */
	struct xdpfwd_flow6 rval;      /* reply entry being claimed */
	struct xdpfwd_flow6 fval;      /* forward entry */
	struct xdpfwd_config cfg;
	__u64 now;
	__u32 port, lo, hi;            /* SNAT port probe: current, range */
	__u32 delta_base;              /* rval's csum_delta with key port 0 */
	__s64 err;                     /* last claim's result */
};

/* Index of the IPv6 program in the data plane's program array. */
#define XDPFWD_PROG_IPV6 0

#define XDPFWD_DEFAULT_SNAT_PORT_MIN   1024
#define XDPFWD_DEFAULT_SNAT_PORT_MAX   65535
/* RFC 5382 REQ-5: established idle timeout no less than 2 h 4 min. */
#define XDPFWD_DEFAULT_TIMEOUT_TCP_EST     7440
/* RFC 5382: transitory states no less than 4 min. */
#define XDPFWD_DEFAULT_TIMEOUT_TCP_OPENING 240
#define XDPFWD_DEFAULT_TIMEOUT_TCP_FIN     120
#define XDPFWD_DEFAULT_TIMEOUT_TCP_RST     10
/* RFC 4787 REQ-5: UDP mapping timer no less than 2 min. */
#define XDPFWD_DEFAULT_TIMEOUT_UDP         120

/* Write last_seen and refresh the cached next hop at most this often. */
#define XDPFWD_TOUCH_NS        1000000000ULL
/* IPv6 extension headers skipped before giving up (pass_ipv6_exthdr). */
#define XDPFWD_MAX_EXTHDRS     4
/* How many SNAT ports a new flow probes before giving up. */
#define XDPFWD_PORT_PROBES     32

/* Per-rule counters (per CPU), indexed by rule_id. */
struct xdpfwd_rule_stats {
	__u64 fwd_packets;
	__u64 fwd_bytes;
	__u64 reply_packets;
	__u64 reply_bytes;
};

/* Global counters (per CPU), indexed by enum xdpfwd_stat. */
enum xdpfwd_stat {
	XDPFWD_STAT_RX = 0,             /* every packet the program saw; not written
	                                 * by the data plane: readers report the sum
	                                 * of the four VERDICT_* counters */
	XDPFWD_STAT_VERDICT_PASS,
	XDPFWD_STAT_VERDICT_DROP,
	XDPFWD_STAT_VERDICT_TX,
	XDPFWD_STAT_VERDICT_REDIRECT,
	XDPFWD_STAT_PASS_NOT_IPV4,      /* not IPv4 over Ethernet */
	XDPFWD_STAT_PASS_NOT_TCP_UDP,   /* IPv4 but another protocol */
	XDPFWD_STAT_PASS_MALFORMED,     /* truncated or invalid headers */
	XDPFWD_STAT_PASS_FRAGMENT,      /* IPv4 fragments */
	XDPFWD_STAT_PASS_NO_RULE,       /* no flow and no rule: not ours */
	XDPFWD_STAT_PASS_TTL,           /* TTL <= 1: the kernel sends ICMP */
	XDPFWD_STAT_PASS_NO_ROUTE,      /* FIB has no usable route */
	XDPFWD_STAT_PASS_FWD_DISABLED,  /* IPv4 forwarding off on ingress */
	XDPFWD_STAT_PASS_SLOWPATH,      /* translated, sent via TC to resolve the neighbour */
	XDPFWD_STAT_DROP_PORTS_EXHAUSTED, /* no free SNAT port for a new flow */
	XDPFWD_STAT_DROP_NO_SNAT_ADDR,  /* egress interface has no IPv4 address */
	XDPFWD_STAT_DROP_FLOW_TABLE,    /* conntrack insert failed */
	XDPFWD_STAT_DROP_MTU,           /* translated packet exceeds egress MTU */
	XDPFWD_STAT_DROP_NO_META,       /* driver lacks XDP metadata for the slow path */
	XDPFWD_STAT_DROP_FLOW_CLASH,    /* DNAT-only reply tuple owned by another flow */
	XDPFWD_STAT_FLOW_NEW,           /* conntrack flows created */
	XDPFWD_STAT_FLOW_EXPIRED,       /* expired entries found and replaced */
	XDPFWD_STAT_TC_SLOWPATH_REDIRECT, /* TC program redirected via neighbour */
	XDPFWD_STAT_PASS_IPV6_EXTHDR,   /* IPv6 extension header we do not parse */
	XDPFWD_STAT_ICMP_TRANSLATED,    /* ICMP/ICMPv6 errors about a flow, translated */
	XDPFWD_STAT_DROP_VLAN,          /* tags could not be pushed/popped, or a
	                                 * VLAN's lower is no longer attached */
	XDPFWD_STAT_MAX,
};

/* XDP metadata that asks the TC program to redirect via neighbour lookup. */
#define XDPFWD_META_MAGIC 0x58444657u /* "XDFW" */
struct xdpfwd_meta {
	__u32 magic;
	__u32 ifindex;
};

/*
 * FastPath (the AF_PACKET fallback, Sources/FastPath) shares every map above
 * with the XDP program. What only it needs:
 *
 * A FIB query for xdpfwd_fib, the XDP program FastPath runs through
 * BPF_PROG_TEST_RUN with this struct as packet data: the kernel's own
 * bpf_fib_lookup, so both paths route identically. In: ifindex (ingress),
 * tuple, tos, tot_len. Out: rc (BPF_FIB_LKUP_RET_*, or a negative errno),
 * ifindex (egress) and the MACs.
 */
struct xdpfwd_fib_query {
	__be32 src;
	__be32 dst;
	__be16 sport;
	__be16 dport;
	__u32  ifindex;
	__u16  tot_len;      /* host order */
	__u8   proto;
	__u8   tos;
	__s32  rc;
	__u8   smac[6];
	__u8   dmac[6];
	__u32  pad;
};

/* The IPv6 twin of xdpfwd_fib_query (bpf_fib_lookup with AF_INET6, as
 * nh6_fib_lookup makes it). xdpfwd_fib tells the two apart by size. */
struct xdpfwd_fib6_query {
	__be32 src[4];
	__be32 dst[4];
	__be32 flowinfo;     /* traffic class and flow label: the IPv6 header's first word & 0x0FFFFFFF */
	__be16 sport;
	__be16 dport;
	__u32  ifindex;
	__u16  tot_len;      /* host order: the IPv6 header plus payload */
	__u8   proto;
	__u8   pad;
	__s32  rc;
	__u8   smac[6];
	__u8   dmac[6];
};

/*
 * FastPath's deferred per-flow counts (a worker's flow cache gathers them),
 * for xdpfwd_ct_add, run through BPF_PROG_TEST_RUN with this struct as
 * packet data: it adds them to the entry at key in place, atomically, and
 * writes nothing else. A read-modify-write through bpf(2) would replace
 * the whole entry, losing whatever another worker or the XDP program
 * changed between the read and the write (a FIN's state). xdpfwd_ct_add
 * tells the two families apart by size. Returns XDP_PASS when added,
 * XDP_DROP when no entry has the key (its counts go with it).
 */
struct xdpfwd_ct_add {
	__u64  bytes;
	__u32  packets;
	__u32  pad;
	struct xdpfwd_flow_key key;
};

struct xdpfwd_ct6_add {
	__u64  bytes;
	__u32  packets;
	__u32  pad;
	struct xdpfwd_flow6_key key;
};

/*
 * The version record of pinned state: PIN_DIR/xdpfwd_state, a one-entry
 * ARRAY (u32 key 0) that the control plane creates before anything else is
 * pinned, and that only it reads. Every command that opens pinned state
 * compares it with its own, and checks every pinned map's definition
 * against the embedded object's, before it changes anything.
 *
 * Bump XDPFWD_STATE_VERSION when a pinned map's key, value or meaning
 * changes, or a pinned program's contract with the control plane does
 * (xdpfwd_fib's queries, the XDP metadata, tail-call slots, what a field,
 * flag or counter index means). Layout changes also change `layout`, a
 * fingerprint of every pinned map's definition (cxdp_object_layout_hash);
 * PinnedStateRecordTests pins the fingerprint of each version, so a layout
 * change without a bump fails the tests.
 *
 * This struct, its map (key 4, value 16) and the name never change: every
 * xdpfwd must be able to read every other's record to name the mismatch.
 */
#define XDPFWD_STATE_MAGIC   0x53504458u /* "XDPS" */
#define XDPFWD_STATE_VERSION 1
struct xdpfwd_state {
	__u32 magic;         /* XDPFWD_STATE_MAGIC */
	__u32 version;       /* XDPFWD_STATE_VERSION of the xdpfwd that pinned the state */
	__u64 layout;        /* its layout fingerprint */
};

/* FastPath's global counters (xdpfwd_fpstats, indexed by enum xdpfwd_stat)
 * and per-rule counters (xdpfwd_fprstats, struct xdpfwd_rule_stats) are
 * plain arrays with one writer, the forwarder process; readers add them to
 * the XDP program's per-CPU counters. */

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof(struct xdpfwd_rule_key) == 12, "rule key layout");
_Static_assert(sizeof(struct xdpfwd_rule) == 20, "rule layout");
_Static_assert(sizeof(struct xdpfwd_backend) == 20, "backend layout");
_Static_assert(sizeof(struct xdpfwd_addr6) == 16, "addr6 layout");
_Static_assert(sizeof(struct xdpfwd_flow_key) == 16, "flow key layout");
_Static_assert(sizeof(struct xdpfwd_flow) == 64, "flow layout");
_Static_assert(sizeof(struct xdpfwd_iface) == 40, "iface layout");
/* Purge reads these from state pinned by any xdpfwd version: they never move. */
_Static_assert(__builtin_offsetof(struct xdpfwd_iface, ifindex) == 4, "iface ifindex never moves");
_Static_assert(__builtin_offsetof(struct xdpfwd_iface, mode) == 8, "iface mode never moves");
_Static_assert(__builtin_offsetof(struct xdpfwd_iface, prev_forwarding) == 9, "iface prev_forwarding never moves");
_Static_assert(__builtin_offsetof(struct xdpfwd_iface, created_clsact) == 10, "iface created_clsact never moves");
_Static_assert(__builtin_offsetof(struct xdpfwd_iface, prev_forwarding6) == 11, "iface prev_forwarding6 never moves");
_Static_assert(sizeof(struct xdpfwd_rule6_key) == 20, "rule6 key layout");
_Static_assert(sizeof(struct xdpfwd_rule6) == 44, "rule6 layout");
_Static_assert(sizeof(struct xdpfwd_flow6_key) == 40, "flow6 key layout");
_Static_assert(sizeof(struct xdpfwd_flow6) == 96, "flow6 layout");
_Static_assert(sizeof(struct xdpfwd_flow6_scratch) == 288, "flow6 scratch layout");
_Static_assert(sizeof(struct xdpfwd_vlan) == 32, "vlan layout");
/* The established path reads one cache line per packet, tags included. */
_Static_assert(__builtin_offsetof(struct xdpfwd_flow, nh_vlan_tci) + 4 <= 64, "flow fits a cache line");
_Static_assert(__builtin_offsetof(struct xdpfwd_flow, bytes) % 8 == 0, "flow bytes counter aligned");
_Static_assert(__builtin_offsetof(struct xdpfwd_flow, packets) == 40, "flow packets counter");
_Static_assert(__builtin_offsetof(struct xdpfwd_flow6, bytes) % 8 == 0, "flow6 bytes counter aligned");
_Static_assert(sizeof(struct xdpfwd_config) == 24, "config layout");
_Static_assert(sizeof(struct xdpfwd_rule_stats) == 32, "rule stats layout");
_Static_assert(sizeof(struct xdpfwd_meta) == 8, "meta layout");
_Static_assert(sizeof(struct xdpfwd_state) == 16, "state record layout: never changes");
_Static_assert(sizeof(struct xdpfwd_fib_query) == 40, "fib query layout");
_Static_assert(sizeof(struct xdpfwd_fib6_query) == 64, "fib6 query layout");
_Static_assert(sizeof(struct xdpfwd_fib6_query) > sizeof(struct xdpfwd_fib_query), "xdpfwd_fib tells queries apart by size");
_Static_assert(sizeof(struct xdpfwd_ct_add) == 32, "ct add layout");
_Static_assert(sizeof(struct xdpfwd_ct6_add) == 56, "ct6 add layout");
_Static_assert(sizeof(struct xdpfwd_ct6_add) > sizeof(struct xdpfwd_ct_add), "xdpfwd_ct_add tells queries apart by size");
#endif

#endif /* XDPFWD_KERN_USER_H */
