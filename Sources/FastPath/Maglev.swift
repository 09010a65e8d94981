import CXDP

/// bpf/maglev.h: which rule a new flow matches (the exact listen address,
/// else the wildcard entry for a local address) and which backend it gets
/// (the rule's own, or its Maglev table's slot for the flow hash).
enum Maglev {
    @inline(__always) static func rotl(_ x: UInt32, _ r: UInt32) -> UInt32 { x << r | x >> (32 - r) }

    @inline(__always) static func mix(_ h: UInt32, _ k: UInt32) -> UInt32 {
        var k = k &* 0xcc9e_2d51
        k = rotl(k, 15)
        k = k &* 0x1b87_3593
        var h = h ^ k
        h = rotl(h, 13)
        return h &* 5 &+ 0xe654_6b64
    }

    @inline(__always) static func final(_ h: UInt32, _ words: UInt32) -> UInt32 {
        var h = h ^ (words * 4)
        h ^= h >> 16
        h = h &* 0x85eb_ca6b
        h ^= h >> 13
        h = h &* 0xc2b2_ae35
        h ^= h >> 16
        return h
    }

    /// mg_hash4: MurmurHash3_x86_32 over the client tuple's words.
    @inline(__always) static func hash(_ key: xdpfwd_flow_key) -> UInt32 {
        var h = UInt32(XDPFWD_HASH_SEED)
        h = mix(h, UInt32(bigEndian: key.saddr))
        h = mix(h, UInt32(bigEndian: key.daddr))
        h = mix(h, UInt32(UInt16(bigEndian: key.sport)) << 16 | UInt32(UInt16(bigEndian: key.dport)))
        h = mix(h, UInt32(key.proto))
        return final(h, 4)
    }

    /// mg_rule4.
    @inline(__always)
    static func rule<S: DataPlaneState>(_ key: xdpfwd_flow_key, _ rule: inout xdpfwd_rule, state: inout S) -> Bool {
        var ruleKey = xdpfwd_rule_key()
        ruleKey.proto = key.proto
        ruleKey.addr = key.daddr
        ruleKey.port = key.dport
        if state.lookupRule(ruleKey, &rule) { return true }
        ruleKey.addr = 0
        return state.lookupRule(ruleKey, &rule) && state.isLocalAddress(key.daddr)
    }

    /// mg_backend4: (address, port) in network order, nil for a balanced
    /// rule without a table or with an empty slot.
    @inline(__always)
    static func backend<S: DataPlaneState>(_ rule: xdpfwd_rule, _ key: xdpfwd_flow_key, state: inout S) -> (UInt32, UInt16)? {
        guard rule.flags & UInt8(XDPFWD_RULE_MAGLEV) != 0 else { return (rule.backend_addr, rule.backend_port) }
        var backend = xdpfwd_backend()
        guard state.maglevSlot(rule.rule_id, hash(key) % UInt32(XDPFWD_MAGLEV_SIZE), &backend), backend.port != 0 else {
            return nil
        }
        return (backend.addr.0, (UInt16(bigEndian: backend.port) &+ rule.port_offset).bigEndian)
    }
}
