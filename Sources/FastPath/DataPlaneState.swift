import CXDP

/// Everything the packet function reads or writes besides the packet: the
/// conntrack, rule and interface maps, the tunables, the FIB, the clock,
/// randomness and the counters. The XDP program reaches the same things
/// through BPF helpers; FastPath reaches them through a conforming type,
/// so the same function runs against the pinned maps (`MapState`, the
/// forwarder) and against a private data plane (the differential tests).
///
/// Map calls follow the kernel's convention: 0 or -errno.
public protocol DataPlaneState {
    /// bpf_ktime_get_coarse_ns(): CLOCK_MONOTONIC_COARSE in ns.
    mutating func now() -> UInt64
    /// bpf_get_prandom_u32().
    mutating func random() -> UInt32
    /// The xdpfwd_config entry (all zero when absent).
    mutating func config() -> xdpfwd_config

    mutating func lookupFlow(_ key: xdpfwd_flow_key, _ value: inout xdpfwd_flow) -> Bool
    /// The map's current entry, never a cached copy: read-modify-write
    /// of an entry reads with this.
    mutating func reloadFlow(_ key: xdpfwd_flow_key, _ value: inout xdpfwd_flow) -> Bool
    mutating func updateFlow(_ key: xdpfwd_flow_key, _ value: xdpfwd_flow, flags: UInt64) -> Int32
    mutating func deleteFlow(_ key: xdpfwd_flow_key)
    /// ct_count: one frame of `bytes` forwarded by the entry at key.
    /// MapState with a flow cache defers it (see FlowCache).
    mutating func countFlow(_ key: xdpfwd_flow_key, bytes: UInt64)
    mutating func lookupRule(_ key: xdpfwd_rule_key, _ value: inout xdpfwd_rule) -> Bool
    mutating func lookupIface(_ ifindex: UInt32, _ value: inout xdpfwd_iface) -> Bool
    /// The address (network order) is a local address of an attached
    /// interface (xdpfwd_laddrs): what a wildcard rule matches.
    mutating func isLocalAddress(_ address: UInt32) -> Bool
    /// The VLAN upper device `ifindex` (xdpfwd_vlans), if it is one.
    mutating func lookupVLAN(_ ifindex: UInt32, _ value: inout xdpfwd_vlan) -> Bool
    /// Slot `slot` of rule `ruleID`'s Maglev table (xdpfwd_maglev).
    mutating func maglevSlot(_ ruleID: UInt32, _ slot: UInt32, _ backend: inout xdpfwd_backend) -> Bool

    /// The IPv6 twins: xdpfwd_flows6, xdpfwd_rules6, xdpfwd_laddrs6.
    mutating func lookupFlow6(_ key: xdpfwd_flow6_key, _ value: inout xdpfwd_flow6) -> Bool
    mutating func reloadFlow6(_ key: xdpfwd_flow6_key, _ value: inout xdpfwd_flow6) -> Bool
    mutating func updateFlow6(_ key: xdpfwd_flow6_key, _ value: xdpfwd_flow6, flags: UInt64) -> Int32
    mutating func deleteFlow6(_ key: xdpfwd_flow6_key)
    /// ct6_count (see countFlow).
    mutating func countFlow6(_ key: xdpfwd_flow6_key, bytes: UInt64)
    mutating func lookupRule6(_ key: xdpfwd_rule6_key, _ value: inout xdpfwd_rule6) -> Bool
    mutating func isLocalAddress6(_ address: (UInt32, UInt32, UInt32, UInt32)) -> Bool

    /// bpf_fib_lookup on the query, as nh_fib_lookup makes it.
    mutating func fibLookup(_ query: inout xdpfwd_fib_query)
    /// The AF_INET6 lookup, as nh6_fib_lookup makes it.
    mutating func fibLookup6(_ query: inout xdpfwd_fib6_query)
    /// The egress interface can take the frame directly (the XDP program's
    /// devmap test): FastPath has a TX ring on it.
    mutating func egressAttached(_ ifindex: UInt32) -> Bool

    mutating func count(_ stat: xdpfwd_stat)
    mutating func countRule(_ ruleID: UInt32, reply: Bool, bytes: UInt64)
}

/// What the packet function decided, in XDP's terms.
public struct Verdict: Equatable, Sendable, CustomStringConvertible {
    public enum Action: UInt8, Sendable {
        /// Leave it to the kernel (XDP_PASS): FastPath does nothing more.
        case pass
        /// XDP_DROP.
        case drop
        /// Send the rewritten frame back out of the ingress interface (XDP_TX).
        case tx
        /// Send the rewritten frame out of `ifindex` (XDP_REDIRECT).
        case redirect
        /// Translated, but the next hop's MAC is unknown or `ifindex` is
        /// not ours: the kernel must route it (XDP_PASS with the TC note).
        case slowpath
    }

    public var action: Action
    public var ifindex: UInt32
    /// Where the frame to send starts relative to the frame given: negative
    /// when VLAN tags were pushed into the headroom, positive when popped
    /// (bpf_xdp_adjust_head). The frame ends where it ended.
    public var offset: Int

    @inlinable public init(_ action: Action, _ ifindex: UInt32 = 0, offset: Int = 0) {
        self.action = action
        self.ifindex = ifindex
        self.offset = offset
    }

    public static let pass = Verdict(.pass)
    public static let drop = Verdict(.drop)

    public var description: String {
        let name = switch action {
        case .pass: "pass"
        case .drop: "drop"
        case .tx: "tx"
        case .redirect: "redirect(\(ifindex))"
        case .slowpath: "slowpath(\(ifindex))"
        }
        return offset == 0 ? name : "\(name) head \(offset > 0 ? "+" : "")\(offset)"
    }
}
