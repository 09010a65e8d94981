import CXDP
import RuleModel

/// Names of the global counters, in enum xdpfwd_stat order. They are the
/// stable keys of `xdpfwd stats --json`.
public enum GlobalCounter {
    public static let names: [String] = [
        "rx", "verdict_pass", "verdict_drop", "verdict_tx", "verdict_redirect",
        "pass_not_ipv4", "pass_not_tcp_udp", "pass_malformed", "pass_fragment",
        "pass_no_rule", "pass_ttl", "pass_no_route", "pass_fwd_disabled", "pass_slowpath",
        "drop_ports_exhausted", "drop_no_snat_addr", "drop_flow_table", "drop_mtu",
        "drop_no_meta", "drop_flow_clash", "flow_new", "flow_expired", "tc_slowpath_redirect",
        "pass_ipv6_exthdr", "icmp_translated",
        "drop_vlan",
    ]

    /// Slot of "rx", which the reader derives instead of reading.
    static let rxIndex = Int(XDPFWD_STAT_RX.rawValue)
    /// The per-packet verdict counters; rx is their sum.
    static let verdicts: Set<String> = ["verdict_pass", "verdict_drop", "verdict_tx", "verdict_redirect"]
}

public struct DirectionCounters: Sendable, Equatable, Codable {
    public var packets: UInt64
    public var bytes: UInt64

    public init(packets: UInt64 = 0, bytes: UInt64 = 0) {
        self.packets = packets
        self.bytes = bytes
    }
}

public struct RuleCounters: Sendable {
    public let rule: InstalledRule
    public var forward = DirectionCounters()
    public var reply = DirectionCounters()
}

public struct CountersSnapshot: Sendable {
    /// Global counters by name, summed over CPUs.
    public var global: [(name: String, value: UInt64)]
    public var rules: [RuleCounters]

    public func global(_ name: String) -> UInt64 { global.first { $0.name == name }?.value ?? 0 }
}

/// The one place counters flow back from the kernel.
public struct CountersReader {
    public let maps: DatapathMaps

    public init(maps: DatapathMaps) {
        precondition(GlobalCounter.names.count == Int(XDPFWD_STAT_MAX.rawValue), "counter names match enum xdpfwd_stat")
        self.maps = maps
    }

    public func snapshot() throws -> CountersSnapshot {
        var global: [(String, UInt64)] = []
        for (index, name) in GlobalCounter.names.enumerated() {
            let perCPU = try maps.stats.lookup(UInt32(index))
            let fastPath = try maps.fpStats.lookup(UInt32(index)) ?? 0
            global.append((name, perCPU.reduce(0, &+) &+ fastPath))
        }
        // The data plane no longer counts rx per packet (one write fewer on
        // the hot path): every packet gets exactly one verdict, so rx is
        // their sum. The slot stays so the map layout does not change.
        let rx = global.filter { GlobalCounter.verdicts.contains($0.0) }.reduce(0) { $0 &+ $1.1 }
        global[GlobalCounter.rxIndex].1 = rx
        var rules: [RuleCounters] = []
        for installed in try RuleTable(maps: maps).list() {
            var counters = RuleCounters(rule: installed)
            (counters.forward, counters.reply) = try ruleCounters(id: installed.id)
            rules.append(counters)
        }
        return CountersSnapshot(global: global, rules: rules)
    }

    /// One rule slot's counters, summed over CPUs and FastPath's.
    public func ruleCounters(id: UInt32) throws -> (forward: DirectionCounters, reply: DirectionCounters) {
        var forward = DirectionCounters(), reply = DirectionCounters()
        for cpu in try maps.ruleStats.lookup(id) {
            forward.packets &+= cpu.fwd_packets
            forward.bytes &+= cpu.fwd_bytes
            reply.packets &+= cpu.reply_packets
            reply.bytes &+= cpu.reply_bytes
        }
        if let fastPath = try maps.fpRuleStats.lookup(id) {
            forward.packets &+= fastPath.fwd_packets
            forward.bytes &+= fastPath.fwd_bytes
            reply.packets &+= fastPath.reply_packets
            reply.bytes &+= fastPath.reply_bytes
        }
        return (forward, reply)
    }
}
