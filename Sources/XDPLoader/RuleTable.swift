import CXDP
import RuleModel

/// The rule compiler: ForwardingRule <-> the rules map's key and value.
public enum RuleCompiler {
    public static func key(_ key: RuleKey) -> xdpfwd_rule_key {
        var raw = xdpfwd_rule_key()
        raw.proto = key.protocol.ipProtocolNumber
        raw.addr = key.listen.address.networkOrder
        raw.port = key.listen.port.bigEndian
        return raw
    }

    public static func value(_ rule: ForwardingRule, id: UInt32) -> xdpfwd_rule {
        var raw = xdpfwd_rule()
        raw.backend_addr = rule.backend.address.networkOrder
        raw.backend_port = rule.backend.port.bigEndian
        raw.rule_id = id
        switch rule.snat {
        case .auto: raw.snat_mode = UInt8(XDPFWD_SNAT_AUTO.rawValue)
        case .none: raw.snat_mode = UInt8(XDPFWD_SNAT_NONE.rawValue)
        case .fixed(let address):
            raw.snat_mode = UInt8(XDPFWD_SNAT_FIXED.rawValue)
            raw.snat_addr = address.networkOrder
        }
        return raw
    }

    /// Decodes an entry read back from the kernel. Map contents are input
    /// too: anything another writer could have put there is validated.
    public static func decode(_ key: xdpfwd_rule_key, _ value: xdpfwd_rule) throws -> ForwardingRule {
        func damaged(_ what: String) -> XDPFwdError {
            .state("map xdpfwd_rules holds an invalid entry (\(what))")
        }
        guard let proto = TransportProtocol(ipProtocolNumber: key.proto) else { throw damaged("protocol \(key.proto)") }
        let snat: SNATPolicy
        switch UInt32(value.snat_mode) {
        case XDPFWD_SNAT_AUTO.rawValue: snat = .auto
        case XDPFWD_SNAT_NONE.rawValue: snat = .none
        case XDPFWD_SNAT_FIXED.rawValue: snat = .fixed(IPv4Address(networkOrder: value.snat_addr))
        default: throw damaged("snat mode \(value.snat_mode)")
        }
        guard value.rule_id < XDPFWD_MAX_RULES else { throw damaged("rule id \(value.rule_id)") }
        do {
            return try ForwardingRule(
                protocol: proto,
                listen: Endpoint(address: IPv4Address(networkOrder: key.addr), port: UInt16(bigEndian: key.port)),
                backend: Endpoint(address: IPv4Address(networkOrder: value.backend_addr), port: UInt16(bigEndian: value.backend_port)),
                snat: snat)
        } catch {
            throw damaged("\(error)")
        }
    }
}

public struct InstalledRule: Sendable {
    public let rule: ForwardingRule
    public let id: UInt32
}

/// Rule operations on the live rules map. Each change is one map update or
/// delete, which the data plane sees atomically.
public struct RuleTable {
    public let maps: DatapathMaps

    public init(maps: DatapathMaps) { self.maps = maps }

    public enum AddOutcome: Sendable { case added, replaced(previous: ForwardingRule) }

    /// Adds a rule, or replaces the backend of an existing listen endpoint
    /// in one update; established flows keep their translation (conntrack).
    @discardableResult
    public func add(_ rule: ForwardingRule) throws -> (InstalledRule, AddOutcome) {
        let key = RuleCompiler.key(rule.key)
        if let existing = try maps.rules.lookup(key) {
            let previous = try RuleCompiler.decode(key, existing)
            try maps.rules.update(key, RuleCompiler.value(rule, id: existing.rule_id), .exist)
            return (InstalledRule(rule: rule, id: existing.rule_id), .replaced(previous: previous))
        }
        let id = try freeRuleID()
        // A reused slot starts from zero, not from a deleted rule's totals.
        try maps.ruleStats.fill(id, xdpfwd_rule_stats())
        try maps.rules.update(key, RuleCompiler.value(rule, id: id), .noExist)
        return (InstalledRule(rule: rule, id: id), .added)
    }

    /// Deletes the rule for this listen endpoint; false if there was none.
    public func delete(_ key: RuleKey) throws -> Bool {
        try maps.rules.delete(RuleCompiler.key(key))
    }

    /// Every installed rule, sorted by protocol then listen endpoint.
    public func list() throws -> [InstalledRule] {
        try maps.rules.entries().map { key, value in
            InstalledRule(rule: try RuleCompiler.decode(key, value), id: value.rule_id)
        }.sorted { lhs, rhs in
            (lhs.rule.protocol.rawValue, lhs.rule.listen.address, lhs.rule.listen.port)
                < (rhs.rule.protocol.rawValue, rhs.rule.listen.address, rhs.rule.listen.port)
        }
    }

    /// The lowest rule id no installed rule uses.
    private func freeRuleID() throws -> UInt32 {
        let used = Set(try maps.rules.entries().map { $0.1.rule_id })
        guard used.count < Int(XDPFWD_MAX_RULES) else {
            throw XDPFwdError.state("rule table is full (\(XDPFWD_MAX_RULES) rules)")
        }
        var id: UInt32 = 0
        while used.contains(id) { id += 1 }
        return id
    }
}
