import CXDP

/// FlowCache for the IPv6 flow table (xdpfwd_flows6): the same direct-mapped
/// scheme and trust window, and the same deferred per-flow counts, with
/// 40-byte keys and 96-byte entries.
final class FlowCache6: @unchecked Sendable {
    struct Slot {
        var key = xdpfwd_flow6_key()
        var value = xdpfwd_flow6()
        var expires: UInt64 = 0
        var used = false
        /// Counted since the last flush, not yet in the map.
        var pendingPackets: UInt32 = 0
        var pendingBytes: UInt64 = 0
    }

    let slots: UnsafeMutablePointer<Slot>
    let mask: Int

    init(slots count: Int) {
        precondition(count > 0 && count & (count - 1) == 0, "a power of two")
        slots = .allocate(capacity: count)
        slots.initialize(repeating: Slot(), count: count)
        mask = count - 1
    }

    deinit { slots.deallocate() }

    @inline(__always)
    static func hash(_ key: xdpfwd_flow6_key) -> Int {
        var h = UInt64(key.saddr.0 ^ key.daddr.0) << 32 | UInt64(key.saddr.1 ^ key.daddr.1)
        h ^= UInt64(key.saddr.2 ^ key.daddr.2) << 32 | UInt64(key.saddr.3 ^ key.daddr.3)
        h &*= 0x9E37_79B9_7F4A_7C15
        h ^= (UInt64(key.sport) << 16 | UInt64(key.dport)) << 8 | UInt64(key.proto)
        h &*= 0x9E37_79B9_7F4A_7C15
        return Int(truncatingIfNeeded: h >> 40)
    }

    @inline(__always)
    static func same(_ a: xdpfwd_flow6_key, _ b: xdpfwd_flow6_key) -> Bool {
        Wire6.equal(a.saddr, b.saddr) && Wire6.equal(a.daddr, b.daddr) && a.sport == b.sport && a.dport == b.dport
            && a.proto == b.proto
    }
}
