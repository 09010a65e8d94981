import CXDP
import RuleModel

/// The rule compiler: ForwardingRule <-> the rules maps' per-port entries.
/// IPv4 rules go to xdpfwd_rules, IPv6 rules to xdpfwd_rules6; both share
/// the rule id space (the per-rule counter slots and Maglev tables).
///
/// A rule of N listen ports is N entries sharing one rule_id, each carrying
/// its offset into the range and the range's size, so the data plane looks
/// up one port in O(1) and the control plane can name the whole rule from
/// any of its entries.
public enum RuleCompiler {
    public static func key(_ key: RuleKey, port: UInt16? = nil) -> xdpfwd_rule_key {
        guard case .v4(let address) = key.listen.address else { preconditionFailure("IPv6 rule key in key(_:)") }
        var raw = xdpfwd_rule_key()
        raw.proto = key.protocol.ipProtocolNumber
        raw.addr = address.networkOrder
        raw.port = (port ?? key.listen.port).bigEndian
        return raw
    }

    public static func key6(_ key: RuleKey, port: UInt16? = nil) -> xdpfwd_rule6_key {
        guard case .v6(let address) = key.listen.address else { preconditionFailure("IPv4 rule key in key6(_:)") }
        var raw = xdpfwd_rule6_key()
        raw.proto = key.protocol.ipProtocolNumber
        raw.addr = address.networkOrderWords
        raw.port = (port ?? key.listen.port).bigEndian
        return raw
    }

    static func snatMode(_ snat: SNATPolicy) -> UInt8 {
        switch snat {
        case .auto: UInt8(XDPFWD_SNAT_AUTO.rawValue)
        case .none: UInt8(XDPFWD_SNAT_NONE.rawValue)
        case .fixed: UInt8(XDPFWD_SNAT_FIXED.rawValue)
        }
    }

    /// The IPv4 entry of listen port `listen.port + offset`.
    public static func value(_ rule: ForwardingRule, id: UInt32, offset: UInt16 = 0) -> xdpfwd_rule {
        var raw = xdpfwd_rule()
        if rule.isBalanced {
            raw.flags = UInt8(XDPFWD_RULE_MAGLEV)
        } else {
            if case .v4(let backend) = rule.backend.address { raw.backend_addr = backend.networkOrder }
            raw.backend_port = (rule.backend.port + offset).bigEndian
        }
        raw.rule_id = id
        raw.port_offset = offset
        raw.port_count = rule.portCount
        raw.snat_mode = snatMode(rule.snat)
        if case .fixed(.v4(let address)) = rule.snat { raw.snat_addr = address.networkOrder }
        return raw
    }

    /// The IPv6 entry of listen port `listen.port + offset`.
    public static func value6(_ rule: ForwardingRule, id: UInt32, offset: UInt16 = 0) -> xdpfwd_rule6 {
        var raw = xdpfwd_rule6()
        if rule.isBalanced {
            raw.flags = UInt8(XDPFWD_RULE_MAGLEV)
        } else {
            if case .v6(let backend) = rule.backend.address { raw.backend_addr = backend.networkOrderWords }
            raw.backend_port = (rule.backend.port + offset).bigEndian
        }
        raw.rule_id = id
        raw.port_offset = offset
        raw.port_count = rule.portCount
        raw.snat_mode = snatMode(rule.snat)
        if case .fixed(.v6(let address)) = rule.snat { raw.snat_addr = address.networkOrderWords }
        return raw
    }
}

/// One listen port's entry in either rules map, family-neutral.
struct PortEntry {
    var key: RuleKey          // protocol, listen address and this port (count 1)
    var backend: IPAddress
    var backendPort: UInt16   // host order, offset applied (single backend)
    var snatMode: UInt8
    var snatAddress: IPAddress
    var flags: UInt8
    var ruleID: UInt32
    var portOffset: UInt16
    var portCount: UInt16

    var isBalanced: Bool { Int32(flags) & XDPFWD_RULE_MAGLEV != 0 }

    static func damaged(_ key: RuleKey, _ what: String) -> XDPFwdError {
        .state("map \(key.listen.address.family == .ipv4 ? "xdpfwd_rules" : "xdpfwd_rules6") holds an invalid entry (\(what))")
    }

    /// The rule this entry belongs to: its first port and count.
    func ruleKey() throws -> RuleKey {
        let port = key.listen.port
        guard portCount >= 1, portOffset < portCount, port > portOffset,
              UInt32(port - portOffset) + UInt32(portCount) - 1 <= 65535
        else { throw Self.damaged(key, "port \(port) at offset \(portOffset) of \(portCount)") }
        return RuleKey(protocol: key.protocol, listen: Endpoint(address: key.listen.address, port: port - portOffset),
                       portCount: portCount)
    }

    /// The whole rule, from its first port's entry. Map contents are input
    /// too: anything another writer could have put there is validated.
    /// `backends` is the Maglev table's list for balanced rules.
    func rule(backends: [Backend]?) throws -> ForwardingRule {
        let ruleKey = try ruleKey()
        let snat: SNATPolicy
        switch UInt32(snatMode) {
        case XDPFWD_SNAT_AUTO.rawValue: snat = .auto
        case XDPFWD_SNAT_NONE.rawValue: snat = .none
        case XDPFWD_SNAT_FIXED.rawValue: snat = .fixed(snatAddress)
        default: throw Self.damaged(key, "snat mode \(snatMode)")
        }
        guard ruleID < XDPFWD_MAX_RULES else { throw Self.damaged(key, "rule id \(ruleID)") }
        let list: [Backend]
        if isBalanced {
            guard let backends else { throw Self.damaged(key, "rule \(ruleID) is balanced but has no Maglev table") }
            list = backends
        } else {
            guard backendPort > portOffset else { throw Self.damaged(key, "backend port \(backendPort) at offset \(portOffset)") }
            list = [Backend(Endpoint(address: backend, port: backendPort - portOffset))]
        }
        do {
            return try ForwardingRule(protocol: ruleKey.protocol, listen: ruleKey.listen, portCount: ruleKey.portCount,
                                      backends: list, snat: snat)
        } catch {
            throw Self.damaged(key, "\(error)")
        }
    }
}

extension PortEntry {
    init(_ key: xdpfwd_rule_key, _ value: xdpfwd_rule) throws {
        guard let proto = TransportProtocol(ipProtocolNumber: key.proto) else {
            throw XDPFwdError.state("map xdpfwd_rules holds an invalid entry (protocol \(key.proto))")
        }
        self.init(key: RuleKey(protocol: proto, listen: Endpoint(address: IPv4Address(networkOrder: key.addr), port: UInt16(bigEndian: key.port))),
                  backend: .v4(IPv4Address(networkOrder: value.backend_addr)), backendPort: UInt16(bigEndian: value.backend_port),
                  snatMode: value.snat_mode, snatAddress: .v4(IPv4Address(networkOrder: value.snat_addr)), flags: value.flags,
                  ruleID: value.rule_id, portOffset: value.port_offset, portCount: value.port_count)
    }

    init(_ key: xdpfwd_rule6_key, _ value: xdpfwd_rule6) throws {
        guard let proto = TransportProtocol(ipProtocolNumber: key.proto) else {
            throw XDPFwdError.state("map xdpfwd_rules6 holds an invalid entry (protocol \(key.proto))")
        }
        self.init(key: RuleKey(protocol: proto, listen: Endpoint(address: IPv6Address(networkOrderWords: key.addr), port: UInt16(bigEndian: key.port))),
                  backend: .v6(IPv6Address(networkOrderWords: value.backend_addr)), backendPort: UInt16(bigEndian: value.backend_port),
                  snatMode: value.snat_mode, snatAddress: .v6(IPv6Address(networkOrderWords: value.snat_addr)), flags: value.flags,
                  ruleID: value.rule_id, portOffset: value.port_offset, portCount: value.port_count)
    }
}

public struct InstalledRule: Sendable {
    public let rule: ForwardingRule
    public let id: UInt32
}

/// Rule operations on the live rules maps. Each listen port's entry changes
/// in one map update, which the data plane sees atomically; a rule's Maglev
/// table is swapped whole (MaglevMaps).
public struct RuleTable {
    public let maps: DatapathMaps

    public init(maps: DatapathMaps) { self.maps = maps }

    public enum AddOutcome: Sendable { case added, replaced(previous: ForwardingRule) }

    /// Adds a rule, or replaces the rule with exactly the same protocol and
    /// listen ports. A rule overlapping another one (a shared port) any
    /// other way is refused. Established flows keep their translation.
    ///
    /// The order keeps every intermediate state valid for the data plane: a
    /// Maglev table is in place before any entry points to it, and a table
    /// is removed only after no entry does.
    @discardableResult
    public func add(_ rule: ForwardingRule) throws -> (InstalledRule, AddOutcome) {
        let previous = try existing(for: rule.key)
        let maglev = MaglevMaps(maps: maps)
        if let previous {
            let id = previous.id
            if rule.isBalanced { try maglev.install(rule, id: id) }
            for (offset, port) in rule.key.ports.enumerated() { try write(rule, id: id, port: port, offset: UInt16(offset), .exist) }
            if previous.rule.isBalanced && !rule.isBalanced { try maglev.remove(id: id) }
            return (InstalledRule(rule: rule, id: id), .replaced(previous: previous.rule))
        }
        let id = try freshRuleID()
        if rule.isBalanced { try maglev.install(rule, id: id) }
        var written: [UInt16] = []
        do {
            for (offset, port) in rule.key.ports.enumerated() {
                try write(rule, id: id, port: port, offset: UInt16(offset), .noExist)
                written.append(port)
            }
        } catch {
            // Nothing half-applied: a range that does not fit is undone.
            for port in written { _ = try? deleteEntry(rule.key, port: port) }
            if rule.isBalanced { _ = try? maglev.remove(id: id) }
            throw error
        }
        return (InstalledRule(rule: rule, id: id), .added)
    }

    /// Deletes the rule with exactly these listen ports; false if there is
    /// none. A key naming only part of a range rule is refused.
    public func delete(_ key: RuleKey) throws -> Bool {
        guard let entry = try lookup(key, port: key.listen.port) else { return false }
        let owner = try entry.ruleKey()
        guard owner == key else {
            throw XDPFwdError.state("\(key) is part of the rule for \(owner): delete it by that listen spec")
        }
        // Entries first, so no entry ever names a missing table.
        for port in key.ports { try deleteEntry(key, port: port) }
        if entry.isBalanced { try MaglevMaps(maps: maps).remove(id: entry.ruleID) }
        return true
    }

    /// Every installed rule once (a range is one rule), sorted by protocol
    /// then listen endpoint (IPv4 first).
    public func list() throws -> [InstalledRule] {
        let firsts = try allEntries().filter { $0.portOffset == 0 }
        let maglev = MaglevMaps(maps: maps)
        return try firsts.map { entry in
            InstalledRule(rule: try entry.rule(backends: entry.isBalanced ? try maglev.backends(id: entry.ruleID, family: entry.key.listen.address.family) : nil),
                          id: entry.ruleID)
        }.sorted { lhs, rhs in
            (lhs.rule.protocol.rawValue, lhs.rule.listen.address, lhs.rule.listen.port)
                < (rhs.rule.protocol.rawValue, rhs.rule.listen.address, rhs.rule.listen.port)
        }
    }

    /// The installed rule `key` would replace, nil if none; throws if `key`
    /// overlaps a rule without naming exactly its ports.
    private func existing(for key: RuleKey) throws -> InstalledRule? {
        var found: InstalledRule? = nil
        for port in key.ports {
            guard let entry = try lookup(key, port: port) else { continue }
            let other = try entry.ruleKey()
            guard other == key else {
                throw XDPFwdError.state(
                    "\(key) overlaps the rule for \(other) (id \(entry.ruleID)): delete that rule first, or give exactly its listen ports to replace it")
            }
            if found == nil, let first = try lookup(key, port: key.listen.port) {
                let backends = first.isBalanced ? try MaglevMaps(maps: maps).backends(id: first.ruleID, family: first.key.listen.address.family) : nil
                found = InstalledRule(rule: try first.rule(backends: backends), id: first.ruleID)
            }
        }
        return found
    }

    // MARK: the two maps

    private func lookup(_ key: RuleKey, port: UInt16) throws -> PortEntry? {
        switch key.listen.address {
        case .v4:
            let raw = RuleCompiler.key(key, port: port)
            return try maps.rules.lookup(raw).map { try PortEntry(raw, $0) }
        case .v6:
            let raw = RuleCompiler.key6(key, port: port)
            return try maps.rules6.lookup(raw).map { try PortEntry(raw, $0) }
        }
    }

    private func write(_ rule: ForwardingRule, id: UInt32, port: UInt16, offset: UInt16, _ flags: MapUpdate) throws {
        switch rule.listen.address {
        case .v4: try maps.rules.update(RuleCompiler.key(rule.key, port: port), RuleCompiler.value(rule, id: id, offset: offset), flags)
        case .v6: try maps.rules6.update(RuleCompiler.key6(rule.key, port: port), RuleCompiler.value6(rule, id: id, offset: offset), flags)
        }
    }

    @discardableResult
    private func deleteEntry(_ key: RuleKey, port: UInt16) throws -> Bool {
        switch key.listen.address {
        case .v4: try maps.rules.delete(RuleCompiler.key(key, port: port))
        case .v6: try maps.rules6.delete(RuleCompiler.key6(key, port: port))
        }
    }

    private func allEntries() throws -> [PortEntry] {
        try maps.rules.entries().map { try PortEntry($0, $1) } + maps.rules6.entries().map { try PortEntry($0, $1) }
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
        // A table left by a rule deleted mid-way must not leak into this one.
        _ = try? maps.maglev.delete(id)
        try maps.fpRuleStats.update(id, xdpfwd_rule_stats())
        return id
    }
}
