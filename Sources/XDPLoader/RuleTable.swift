import CXDP
import RuleModel

/// The rule compiler: ForwardingRule <-> the rules maps' keys and values.
/// IPv4 rules go to xdpfwd_rules, IPv6 rules to xdpfwd_rules6; both share
/// the rule id space (the per-rule counter slots).
public enum RuleCompiler {
    public static func key(_ key: RuleKey) -> xdpfwd_rule_key {
        guard case .v4(let address) = key.listen.address else { preconditionFailure("IPv6 rule key in key(_:)") }
        var raw = xdpfwd_rule_key()
        raw.proto = key.protocol.ipProtocolNumber
        raw.addr = address.networkOrder
        raw.port = key.listen.port.bigEndian
        return raw
    }

    public static func key6(_ key: RuleKey) -> xdpfwd_rule6_key {
        guard case .v6(let address) = key.listen.address else { preconditionFailure("IPv4 rule key in key6(_:)") }
        var raw = xdpfwd_rule6_key()
        raw.proto = key.protocol.ipProtocolNumber
        raw.addr = address.networkOrderWords
        raw.port = key.listen.port.bigEndian
        return raw
    }

    static func snatMode(_ snat: SNATPolicy) -> UInt8 {
        switch snat {
        case .auto: UInt8(XDPFWD_SNAT_AUTO.rawValue)
        case .none: UInt8(XDPFWD_SNAT_NONE.rawValue)
        case .fixed: UInt8(XDPFWD_SNAT_FIXED.rawValue)
        }
    }

    /// An IPv4 rule's map value.
    public static func value(_ rule: ForwardingRule, id: UInt32) -> xdpfwd_rule {
        var raw = xdpfwd_rule()
        if case .v4(let backend) = rule.backend.address { raw.backend_addr = backend.networkOrder }
        raw.backend_port = rule.backend.port.bigEndian
        raw.rule_id = id
        raw.snat_mode = snatMode(rule.snat)
        if case .fixed(.v4(let address)) = rule.snat { raw.snat_addr = address.networkOrder }
        return raw
    }

    /// An IPv6 rule's map value.
    public static func value6(_ rule: ForwardingRule, id: UInt32) -> xdpfwd_rule6 {
        var raw = xdpfwd_rule6()
        if case .v6(let backend) = rule.backend.address { raw.backend_addr = backend.networkOrderWords }
        raw.backend_port = rule.backend.port.bigEndian
        raw.rule_id = id
        raw.snat_mode = snatMode(rule.snat)
        if case .fixed(.v6(let address)) = rule.snat { raw.snat_addr = address.networkOrderWords }
        return raw
    }

    static func damaged(_ map: String, _ what: String) -> XDPFwdError {
        .state("map \(map) holds an invalid entry (\(what))")
    }

    /// Decodes an entry read back from the kernel. Map contents are input
    /// too: anything another writer could have put there is validated.
    public static func decode(_ key: xdpfwd_rule_key, _ value: xdpfwd_rule) throws -> ForwardingRule {
        try decode(map: "xdpfwd_rules", proto: key.proto, mode: value.snat_mode, id: value.rule_id,
                   listen: .v4(IPv4Address(networkOrder: key.addr)), listenPort: key.port,
                   backend: .v4(IPv4Address(networkOrder: value.backend_addr)), backendPort: value.backend_port,
                   fixed: .v4(IPv4Address(networkOrder: value.snat_addr)))
    }

    public static func decode6(_ key: xdpfwd_rule6_key, _ value: xdpfwd_rule6) throws -> ForwardingRule {
        try decode(map: "xdpfwd_rules6", proto: key.proto, mode: value.snat_mode, id: value.rule_id,
                   listen: .v6(IPv6Address(networkOrderWords: key.addr)), listenPort: key.port,
                   backend: .v6(IPv6Address(networkOrderWords: value.backend_addr)), backendPort: value.backend_port,
                   fixed: .v6(IPv6Address(networkOrderWords: value.snat_addr)))
    }

    private static func decode(map: String, proto: UInt8, mode: UInt8, id: UInt32, listen: IPAddress, listenPort: UInt16,
                               backend: IPAddress, backendPort: UInt16, fixed: IPAddress) throws -> ForwardingRule {
        guard let transport = TransportProtocol(ipProtocolNumber: proto) else { throw damaged(map, "protocol \(proto)") }
        let snat: SNATPolicy
        switch UInt32(mode) {
        case XDPFWD_SNAT_AUTO.rawValue: snat = .auto
        case XDPFWD_SNAT_NONE.rawValue: snat = .none
        case XDPFWD_SNAT_FIXED.rawValue: snat = .fixed(fixed)
        default: throw damaged(map, "snat mode \(mode)")
        }
        guard id < XDPFWD_MAX_RULES else { throw damaged(map, "rule id \(id)") }
        do {
            return try ForwardingRule(
                protocol: transport,
                listen: Endpoint(address: listen, port: UInt16(bigEndian: listenPort)),
                backend: Endpoint(address: backend, port: UInt16(bigEndian: backendPort)),
                snat: snat)
        } catch {
            throw damaged(map, "\(error)")
        }
    }
}

public struct InstalledRule: Sendable {
    public let rule: ForwardingRule
    public let id: UInt32
}

/// Rule operations on the live rules maps. Each change is one map update or
/// delete, which the data plane sees atomically.
public struct RuleTable {
    public let maps: DatapathMaps

    public init(maps: DatapathMaps) { self.maps = maps }

    public enum AddOutcome: Sendable { case added, replaced(previous: ForwardingRule) }

    /// Adds a rule, or replaces the backend of an existing listen endpoint
    /// in one update; established flows keep their translation (conntrack).
    @discardableResult
    public func add(_ rule: ForwardingRule) throws -> (InstalledRule, AddOutcome) {
        switch rule.listen.address {
        case .v4:
            let key = RuleCompiler.key(rule.key)
            if let existing = try maps.rules.lookup(key) {
                let previous = try RuleCompiler.decode(key, existing)
                try maps.rules.update(key, RuleCompiler.value(rule, id: existing.rule_id), .exist)
                return (InstalledRule(rule: rule, id: existing.rule_id), .replaced(previous: previous))
            }
            let id = try freshRuleID()
            try maps.rules.update(key, RuleCompiler.value(rule, id: id), .noExist)
            return (InstalledRule(rule: rule, id: id), .added)
        case .v6:
            let key = RuleCompiler.key6(rule.key)
            if let existing = try maps.rules6.lookup(key) {
                let previous = try RuleCompiler.decode6(key, existing)
                try maps.rules6.update(key, RuleCompiler.value6(rule, id: existing.rule_id), .exist)
                return (InstalledRule(rule: rule, id: existing.rule_id), .replaced(previous: previous))
            }
            let id = try freshRuleID()
            try maps.rules6.update(key, RuleCompiler.value6(rule, id: id), .noExist)
            return (InstalledRule(rule: rule, id: id), .added)
        }
    }

    /// Deletes the rule for this listen endpoint; false if there was none.
    public func delete(_ key: RuleKey) throws -> Bool {
        switch key.listen.address {
        case .v4: try maps.rules.delete(RuleCompiler.key(key))
        case .v6: try maps.rules6.delete(RuleCompiler.key6(key))
        }
    }

    /// Every installed rule, sorted by protocol then listen endpoint (IPv4 first).
    public func list() throws -> [InstalledRule] {
        let v4 = try maps.rules.entries().map { key, value in
            InstalledRule(rule: try RuleCompiler.decode(key, value), id: value.rule_id)
        }
        let v6 = try maps.rules6.entries().map { key, value in
            InstalledRule(rule: try RuleCompiler.decode6(key, value), id: value.rule_id)
        }
        return (v4 + v6).sorted { lhs, rhs in
            (lhs.rule.protocol.rawValue, lhs.rule.listen.address, lhs.rule.listen.port)
                < (rhs.rule.protocol.rawValue, rhs.rule.listen.address, rhs.rule.listen.port)
        }
    }

    /// The lowest rule id no installed rule of either family uses, with its
    /// counters zeroed: a reused slot starts from zero, not from a deleted
    /// rule's totals.
    private func freshRuleID() throws -> UInt32 {
        let used = Set(try maps.rules.entries().map { $0.1.rule_id } + maps.rules6.entries().map { $0.1.rule_id })
        guard used.count < Int(XDPFWD_MAX_RULES) else {
            throw XDPFwdError.state("rule table is full (\(XDPFWD_MAX_RULES) rules)")
        }
        var id: UInt32 = 0
        while used.contains(id) { id += 1 }
        try maps.ruleStats.fill(id, xdpfwd_rule_stats())
        return id
    }
}
