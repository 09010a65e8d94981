import CXDP

/// The IPv6 half of bpf/maglev.h: the rule for a new flow's destination
/// (exact, else the [::] wildcard for a local address) and its backend.
enum Maglev6 {
    /// mg_hash6: MurmurHash3_x86_32 over the client tuple's ten words.
    @inline(__always) static func hash(_ key: xdpfwd_flow6_key) -> UInt32 {
        var h = UInt32(XDPFWD_HASH_SEED)
        h = Maglev.mix(h, UInt32(bigEndian: key.saddr.0))
        h = Maglev.mix(h, UInt32(bigEndian: key.saddr.1))
        h = Maglev.mix(h, UInt32(bigEndian: key.saddr.2))
        h = Maglev.mix(h, UInt32(bigEndian: key.saddr.3))
        h = Maglev.mix(h, UInt32(bigEndian: key.daddr.0))
        h = Maglev.mix(h, UInt32(bigEndian: key.daddr.1))
        h = Maglev.mix(h, UInt32(bigEndian: key.daddr.2))
        h = Maglev.mix(h, UInt32(bigEndian: key.daddr.3))
        h = Maglev.mix(h, UInt32(UInt16(bigEndian: key.sport)) << 16 | UInt32(UInt16(bigEndian: key.dport)))
        h = Maglev.mix(h, UInt32(key.proto))
        return Maglev.final(h, 10)
    }

    /// mg_rule6.
    @inline(__always)
    static func rule<S: DataPlaneState>(_ key: xdpfwd_flow6_key, _ rule: inout xdpfwd_rule6, state: inout S) -> Bool {
        var ruleKey = xdpfwd_rule6_key()
        ruleKey.proto = key.proto
        ruleKey.port = key.dport
        ruleKey.addr = key.daddr
        if state.lookupRule6(ruleKey, &rule) { return true }
        ruleKey.addr = (0, 0, 0, 0)
        return state.lookupRule6(ruleKey, &rule) && state.isLocalAddress6(key.daddr)
    }

    /// mg_backend6: (address, port) in network order, nil for a balanced
    /// rule without a table or with an empty slot.
    @inline(__always)
    static func backend<S: DataPlaneState>(_ rule: xdpfwd_rule6, _ key: xdpfwd_flow6_key, state: inout S) -> (Address6, UInt16)? {
        guard rule.flags & UInt8(XDPFWD_RULE_MAGLEV) != 0 else { return (rule.backend_addr, rule.backend_port) }
        var backend = xdpfwd_backend()
        guard state.maglevSlot(rule.rule_id, hash(key) % UInt32(XDPFWD_MAGLEV_SIZE), &backend), backend.port != 0 else {
            return nil
        }
        return (backend.addr, (UInt16(bigEndian: backend.port) &+ rule.port_offset).bigEndian)
    }
}
