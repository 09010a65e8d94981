import CXDP
import Glibc
import RuleModel

/// One live connection as `xdpfwd flows` shows it: both tuples of the flow,
/// read from its FORWARD conntrack entry (client side) and the rewrite that
/// entry holds (backend side), with the state, age, idle time and each
/// direction's counters.
public struct FlowRecord: Sendable {
    public let `protocol`: TransportProtocol
    /// Client side: the client's packets go client -> listen.
    public let client: Endpoint
    public let listen: Endpoint
    /// Backend side: the forwarder sends source -> backend (source is the SNAT address and port).
    public let source: Endpoint
    public let backend: Endpoint
    public let state: String
    public let ruleID: UInt32
    /// Whole seconds since the flow was created (the data plane records the
    /// creation time in whole seconds).
    public let ageSeconds: Double
    /// Since the last packet in either direction (as the data plane records
    /// it: at most once a second).
    public let idleSeconds: Double
    /// The REPLY entry is present and points back at this flow.
    public let hasReplyEntry: Bool
    /// Frames and bytes each direction's entry forwarded: client -> backend
    /// (FORWARD entry) and backend -> client (REPLY entry; zero without one).
    /// Bytes are frame lengths as received, Ethernet header included.
    public let forward: DirectionCounters
    public let reply: DirectionCounters
}

/// Which flows `xdpfwd flows flush` removes: every given filter must match.
public struct FlowFilter: Sendable {
    public var `protocol`: TransportProtocol?
    /// An address, or address and port, of the listen side.
    public var listen: (IPAddress, UInt16?)?
    public var backend: (IPAddress, UInt16?)?
    public var client: IPAddress?

    public init() {}

    public func matches(_ flow: FlowRecord) -> Bool {
        if let proto = `protocol`, proto != flow.protocol { return false }
        if let (address, port) = listen, address != flow.listen.address || (port.map { $0 != flow.listen.port } ?? false) { return false }
        if let (address, port) = backend, address != flow.backend.address || (port.map { $0 != flow.backend.port } ?? false) { return false }
        if let client, client != flow.client.address { return false }
        return true
    }

    /// Parses "ADDR:PORT", "[ADDR]:PORT", "ADDR" or "[ADDR]".
    public static func parseEndpoint(_ string: String) throws(RuleError) -> (IPAddress, UInt16?) {
        if let endpoint = try? Endpoint(parsing: string) { return (endpoint.address, endpoint.port) }
        return (try parseAddress(string), nil)
    }

    public static func parseAddress(_ string: String) throws(RuleError) -> IPAddress {
        var text = Substring(string)
        if text.hasPrefix("[") && text.hasSuffix("]") { text = text.dropFirst().dropLast() }
        guard let address = IPAddress(text) else { throw .invalidAddress(string, in: nil) }
        return address
    }
}

/// Reads and flushes the conntrack maps (IPv4 and IPv6). One flow is two
/// entries; a flow is listed once, from its FORWARD entry, and flushed by
/// deleting both.
public struct FlowTable {
    public let maps: DatapathMaps

    public init(maps: DatapathMaps) { self.maps = maps }

    /// A family-neutral view of one entry.
    struct Entry {
        var proto: UInt8
        var saddr: IPAddress, daddr: IPAddress, sport: UInt16, dport: UInt16
        var newSaddr: IPAddress, newDaddr: IPAddress, newSport: UInt16, newDport: UInt16
        var direction: UInt8, state: UInt8, ruleID: UInt32
        /// Seconds (coarse clock); lastSeen in ns.
        var created: UInt32, lastSeen: UInt64
        var counters: DirectionCounters
        var delete: () throws -> Void
    }

    /// Live flows (either entry within its state's idle timeout), sorted by
    /// protocol, listen and client.
    public func list(now: UInt64 = FlowTable.monotonicNow()) throws -> [FlowRecord] {
        try collect(now: now).filter { $0.live }.map(\.record).sorted {
            ($0.protocol.rawValue, $0.listen.address, $0.listen.port, $0.client.address, $0.client.port)
                < ($1.protocol.rawValue, $1.listen.address, $1.listen.port, $1.client.address, $1.client.port)
        }
    }

    /// Deletes both entries of every flow (live or expired) the filter
    /// matches; returns how many flows.
    @discardableResult
    public func flush(_ filter: FlowFilter, now: UInt64 = FlowTable.monotonicNow()) throws -> Int {
        var count = 0
        for flow in try collect(now: now) where filter.matches(flow.record) {
            try flow.deleteForward()
            try flow.deleteReply?()
            count += 1
        }
        return count
    }

    struct Collected {
        var record: FlowRecord
        var live: Bool
        var deleteForward: () throws -> Void
        var deleteReply: (() throws -> Void)?
    }

    private func collect(now: UInt64) throws -> [Collected] {
        let config = try maps.config.lookup(0) ?? xdpfwd_config()
        let entries = try entries4() + entries6()
        // Index by key tuple to find each FORWARD entry's twin.
        var byKey: [String: Entry] = [:]
        for entry in entries { byKey[Self.tuple(entry.proto, entry.saddr, entry.sport, entry.daddr, entry.dport)] = entry }
        var result: [Collected] = []
        for forward in entries where UInt32(forward.direction) == XDPFWD_DIR_FORWARD.rawValue {
            guard let proto = TransportProtocol(ipProtocolNumber: forward.proto) else { continue }
            var reply = byKey[Self.tuple(forward.proto, forward.newDaddr, forward.newDport, forward.newSaddr, forward.newSport)]
            if let r = reply, !(r.newDaddr == forward.saddr && r.newDport == forward.sport && r.newSaddr == forward.daddr
                                && r.newSport == forward.dport) {
                reply = nil  // the slot belongs to another flow now
            }
            let lastSeen = max(forward.lastSeen, reply?.lastSeen ?? 0)
            let fresh = { (entry: Entry) -> Bool in
                Int64(bitPattern: now &- entry.lastSeen) <= Int64(Self.timeoutSeconds(config, entry.state)) * 1_000_000_000
            }
            let record = FlowRecord(
                protocol: proto,
                client: Endpoint(address: forward.saddr, port: forward.sport),
                listen: Endpoint(address: forward.daddr, port: forward.dport),
                source: Endpoint(address: forward.newSaddr, port: forward.newSport),
                backend: Endpoint(address: forward.newDaddr, port: forward.newDport),
                state: Self.stateName(forward.state), ruleID: forward.ruleID,
                ageSeconds: Double(max(0, Int64(now / 1_000_000_000) - Int64(forward.created))),
                idleSeconds: max(0, Double(Int64(bitPattern: now &- lastSeen)) / 1e9),
                hasReplyEntry: reply != nil,
                forward: forward.counters, reply: reply?.counters ?? DirectionCounters())
            result.append(Collected(record: record, live: fresh(forward) || reply.map(fresh) ?? false,
                                    deleteForward: forward.delete, deleteReply: reply?.delete))
        }
        return result
    }

    private func entries4() throws -> [Entry] {
        try maps.flows.entries().map { key, value in
            Entry(proto: key.proto,
                  saddr: .v4(IPv4Address(networkOrder: key.saddr)), daddr: .v4(IPv4Address(networkOrder: key.daddr)),
                  sport: UInt16(bigEndian: key.sport), dport: UInt16(bigEndian: key.dport),
                  newSaddr: .v4(IPv4Address(networkOrder: value.new_saddr)), newDaddr: .v4(IPv4Address(networkOrder: value.new_daddr)),
                  newSport: UInt16(bigEndian: value.new_sport), newDport: UInt16(bigEndian: value.new_dport),
                  direction: value.direction, state: value.state, ruleID: value.rule_id,
                  created: value.created, lastSeen: value.last_seen_ns,
                  counters: DirectionCounters(packets: UInt64(value.packets), bytes: value.bytes),
                  delete: { _ = try maps.flows.delete(key) })
        }
    }

    private func entries6() throws -> [Entry] {
        try maps.flows6.entries().map { key, value in
            Entry(proto: key.proto,
                  saddr: .v6(IPv6Address(networkOrderWords: key.saddr)), daddr: .v6(IPv6Address(networkOrderWords: key.daddr)),
                  sport: UInt16(bigEndian: key.sport), dport: UInt16(bigEndian: key.dport),
                  newSaddr: .v6(IPv6Address(networkOrderWords: value.new_saddr)), newDaddr: .v6(IPv6Address(networkOrderWords: value.new_daddr)),
                  newSport: UInt16(bigEndian: value.new_sport), newDport: UInt16(bigEndian: value.new_dport),
                  direction: value.direction, state: value.state, ruleID: value.rule_id,
                  created: value.created, lastSeen: value.last_seen_ns,
                  counters: DirectionCounters(packets: UInt64(value.packets), bytes: value.bytes),
                  delete: { _ = try maps.flows6.delete(key) })
        }
    }

    static func tuple(_ proto: UInt8, _ saddr: IPAddress, _ sport: UInt16, _ daddr: IPAddress, _ dport: UInt16) -> String {
        "\(proto) \(saddr) \(sport) \(daddr) \(dport)"
    }

    /// The data plane's idle timeout for a state (zero config fields: defaults).
    static func timeoutSeconds(_ config: xdpfwd_config, _ state: UInt8) -> UInt32 {
        func or(_ value: UInt32, _ fallback: Int32) -> UInt32 { value != 0 ? value : UInt32(fallback) }
        switch UInt32(state) {
        case XDPFWD_CT_TCP_OPENING.rawValue: return or(config.timeout_tcp_opening, XDPFWD_DEFAULT_TIMEOUT_TCP_OPENING)
        case XDPFWD_CT_TCP_EST.rawValue: return or(config.timeout_tcp_est, XDPFWD_DEFAULT_TIMEOUT_TCP_EST)
        case XDPFWD_CT_TCP_FIN.rawValue: return or(config.timeout_tcp_fin, XDPFWD_DEFAULT_TIMEOUT_TCP_FIN)
        case XDPFWD_CT_TCP_RST.rawValue: return or(config.timeout_tcp_rst, XDPFWD_DEFAULT_TIMEOUT_TCP_RST)
        default: return or(config.timeout_udp, XDPFWD_DEFAULT_TIMEOUT_UDP)
        }
    }

    static func stateName(_ state: UInt8) -> String {
        switch UInt32(state) {
        case XDPFWD_CT_UDP.rawValue: "udp"
        case XDPFWD_CT_TCP_OPENING.rawValue: "opening"
        case XDPFWD_CT_TCP_EST.rawValue: "established"
        case XDPFWD_CT_TCP_FIN.rawValue: "fin"
        case XDPFWD_CT_TCP_RST.rawValue: "rst"
        default: "unknown(\(state))"
        }
    }

    /// The data plane's clock (bpf_ktime_get_coarse_ns is CLOCK_MONOTONIC, coarse).
    public static func monotonicNow() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
