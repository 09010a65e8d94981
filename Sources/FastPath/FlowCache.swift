import CXDP

/// A worker's cache of conntrack entries, so an established flow's packets
/// need no bpf(2) lookup. Direct-mapped (one slot per hash, a collision
/// evicts), allocated once. An entry is trusted for `ttlNs` after it was
/// read from or written to the map; every write FastPath makes goes to the
/// map first (the map stays the truth, shared with the XDP program, the
/// other workers and the CLI), and read-modify-writes bypass the cache
/// (`DataPlaneState.reloadFlow`). What another writer changes is seen
/// within `ttlNs`: a state change by another worker, a flow flushed or
/// replaced. Timeouts are whole seconds, so 100 ms of staleness changes
/// no expiry decision that matters.
///
/// A slot also gathers its entry's packet and byte counts (ct_count), so a
/// packet costs no bpf(2) write: they are added to the map's entry when
/// the cached copy expires (at most `ttlNs` after the last flush of a busy
/// flow), when the slot goes to another key, and when the worker flushes
/// (periodically and when it stops). The add runs in the kernel, in place
/// (xdpfwd_ct_add): a read-modify-write through bpf(2) would write back the
/// whole entry and undo what another worker or the XDP program changed
/// between its read and its write (a FIN's state). A flow deleted or
/// replaced meanwhile takes its unflushed counts with it, as the XDP
/// program's in-place counts go with a deleted entry.
final class FlowCache: @unchecked Sendable {
    struct Slot {
        var key = xdpfwd_flow_key()
        var value = xdpfwd_flow()
        var expires: UInt64 = 0
        var used = false
        /// Counted since the last flush, not yet in the map.
        var pendingPackets: UInt32 = 0
        var pendingBytes: UInt64 = 0
    }

    let slots: UnsafeMutablePointer<Slot>
    let mask: Int
    let ttlNs: UInt64

    init(slots count: Int, ttlNs: UInt64) {
        precondition(count > 0 && count & (count - 1) == 0, "a power of two")
        slots = .allocate(capacity: count)
        slots.initialize(repeating: Slot(), count: count)
        mask = count - 1
        self.ttlNs = ttlNs
    }

    deinit { slots.deallocate() }

    @inline(__always)
    static func hash(_ key: xdpfwd_flow_key) -> Int {
        var h = UInt64(key.saddr) << 32 | UInt64(key.daddr)
        h ^= (UInt64(key.sport) << 16 | UInt64(key.dport)) << 8 | UInt64(key.proto)
        h &*= 0x9E37_79B9_7F4A_7C15
        return Int(truncatingIfNeeded: h >> 40)
    }

    @inline(__always)
    static func same(_ a: xdpfwd_flow_key, _ b: xdpfwd_flow_key) -> Bool {
        a.saddr == b.saddr && a.daddr == b.daddr && a.sport == b.sport && a.dport == b.dport && a.proto == b.proto
    }

    @inline(__always)
    func slot(_ key: xdpfwd_flow_key) -> UnsafeMutablePointer<Slot> {
        slots + (Self.hash(key) & mask)
    }
}
