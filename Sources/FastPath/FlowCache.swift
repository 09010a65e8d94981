import CXDP

/// What FlowCache needs of a conntrack table's key type: its entry type,
/// the slot it hashes to, equality, and the xdpfwd_ct_add query that adds
/// counts to its entry. xdpfwd_flow_key and xdpfwd_flow6_key conform; all
/// three are C structs, passed to bpf(2) as bytes.
protocol FlowKey {
    associatedtype Entry: BitwiseCopyable
    associatedtype CountQuery: BitwiseCopyable
    init()
    static var emptyEntry: Entry { get }
    var slotHash: Int { get }
    func same(_ other: Self) -> Bool
    func countQuery(packets: UInt32, bytes: UInt64) -> CountQuery
}

/// One conntrack map (xdpfwd_flows or xdpfwd_flows6) as a worker reaches
/// it, with or without a cache of its entries, so an established flow's
/// packets need no bpf(2) lookup. The cache is direct-mapped (one slot per
/// hash, a collision evicts), allocated once. An entry is trusted for
/// `ttlNs` after it was read from or written to the map; every write
/// FastPath makes goes to the map first (the map stays the truth, shared
/// with the XDP program, the other workers and the CLI), and
/// read-modify-writes bypass the cache (`reload`). What another writer
/// changes is seen within `ttlNs`: a state change by another worker, a
/// flow flushed or replaced. Timeouts are whole seconds, so 100 ms of
/// staleness changes no expiry decision that matters.
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
///
/// Map calls follow the kernel's convention: 0 or -errno.
struct FlowCache<Key: FlowKey & BitwiseCopyable> {
    typealias Entry = Key.Entry

    struct Slot {
        var key = Key()
        var value = Key.emptyEntry
        var expires: UInt64 = 0
        var used = false
        /// Counted since the last flush, not yet in the map.
        var pendingPackets: UInt32 = 0
        var pendingBytes: UInt64 = 0
    }

    /// Frees the slots once, however often the (worker's) state is copied.
    final class Storage: @unchecked Sendable {
        let slots: UnsafeMutablePointer<Slot>
        init(_ count: Int) {
            slots = .allocate(capacity: count)
            slots.initialize(repeating: Slot(), count: count)
        }
        deinit { slots.deallocate() }
    }

    private let mapFD: Int32, countFD: Int32
    private let storage: Storage?
    private let slots: UnsafeMutablePointer<Slot>?
    private let mask: Int
    private let ttlNs: UInt64

    /// `slots` 0: no cache, every call goes to the map.
    init(mapFD: Int32, countFD: Int32, slots count: Int, ttlNs: UInt64) {
        precondition(count == 0 || count & (count - 1) == 0, "a power of two")
        self.mapFD = mapFD
        self.countFD = countFD
        storage = count > 0 ? Storage(count) : nil
        slots = storage?.slots
        mask = count - 1
        self.ttlNs = ttlNs
    }

    @inline(__always)
    private func slot(_ key: Key) -> UnsafeMutablePointer<Slot>? {
        guard let slots else { return nil }
        return slots + (key.slotHash & mask)
    }

    @inline(__always)
    func lookup(_ key: Key, _ value: inout Entry, now: UInt64) -> Bool {
        guard let slot = slot(key) else { return reload(key, &value) }
        if slot.pointee.used && slot.pointee.key.same(key) && now < slot.pointee.expires {
            value = slot.pointee.value
            return true
        }
        // Expired, or another key's: its counts go to the map first.
        flushPending(slot)
        guard reload(key, &value) else {
            forgetIfHeld(slot, key)
            return false
        }
        remember(slot, key, value, now: now)
        return true
    }

    /// The map's current entry, never a cached copy.
    @inline(__always)
    func reload(_ key: Key, _ value: inout Entry) -> Bool {
        var rawKey = key
        return cxdp_map_lookup(mapFD, &rawKey, &value) == 0
    }

    func update(_ key: Key, _ value: Entry, flags: UInt64, now: UInt64) -> Int32 {
        var rawKey = key, rawValue = value
        let result = cxdp_map_update(mapFD, &rawKey, &rawValue, flags)
        guard let slot = slot(key) else { return result }
        if result == 0 {
            // A new entry (not BPF_EXIST) starts its own counts.
            if flags != UInt64(CXDP_BPF_EXIST) && slot.pointee.key.same(key) { Self.forget(slot) }
            remember(slot, key, value, now: now)
        } else if slot.pointee.key.same(key) {
            // Refused (a live owner on NOEXIST, gone on EXIST): the copy
            // is suspect, the counts still belong to the map's entry.
            flushPending(slot)
            slot.pointee.used = false
        }
        return result
    }

    func delete(_ key: Key) {
        var rawKey = key
        _ = cxdp_map_delete(mapFD, &rawKey)
        if let slot = slot(key) { forgetIfHeld(slot, key) }
    }

    /// ct_count: one frame of `bytes` forwarded by the entry at key,
    /// gathered in its slot when the slot holds it.
    @inline(__always)
    func count(_ key: Key, bytes: UInt64) {
        if let slot = slot(key), slot.pointee.used && slot.pointee.key.same(key) {
            slot.pointee.pendingPackets &+= 1
            slot.pointee.pendingBytes &+= bytes
            return
        }
        // No cache, or the slot went to another key since the lookup.
        addCounts(key, packets: 1, bytes: bytes)
    }

    /// Adds every slot's unflushed counts to the map.
    func flush() {
        guard let slots else { return }
        for index in 0...mask { flushPending(slots + index) }
    }

    /// Adds to the map's entry in place (xdpfwd_ct_add), never writing the
    /// rest of it. A deleted entry stays deleted, its counts with it.
    private func addCounts(_ key: Key, packets: UInt32, bytes: UInt64) {
        var query = key.countQuery(packets: packets, bytes: bytes)
        // The verdict (added, or no such entry) changes nothing here.
        var outLength: UInt32 = 0, retval: UInt32 = 0, duration: UInt32 = 0
        _ = cxdp_test_run_xdp(countFD, &query, UInt32(MemoryLayout<Key.CountQuery>.size), nil, &outLength, 0, 1,
                              &retval, &duration)
    }

    @inline(__always)
    private func flushPending(_ slot: UnsafeMutablePointer<Slot>) {
        guard slot.pointee.pendingPackets != 0 else { return }
        if slot.pointee.used { addCounts(slot.pointee.key, packets: slot.pointee.pendingPackets, bytes: slot.pointee.pendingBytes) }
        slot.pointee.pendingPackets = 0
        slot.pointee.pendingBytes = 0
    }

    /// Drops the slot's entry and any counts it gathered (the entry is gone
    /// or replaced).
    @inline(__always)
    private static func forget(_ slot: UnsafeMutablePointer<Slot>) {
        slot.pointee.used = false
        slot.pointee.pendingPackets = 0
        slot.pointee.pendingBytes = 0
    }

    @inline(__always)
    private func forgetIfHeld(_ slot: UnsafeMutablePointer<Slot>, _ key: Key) {
        if slot.pointee.key.same(key) { Self.forget(slot) }
    }

    /// Caches value for key. A slot taken over from another key flushes
    /// that key's counts first.
    @inline(__always)
    private func remember(_ slot: UnsafeMutablePointer<Slot>, _ key: Key, _ value: Entry, now: UInt64) {
        if !slot.pointee.key.same(key) { flushPending(slot) }
        slot.pointee.key = key
        slot.pointee.value = value
        slot.pointee.expires = now &+ ttlNs
        slot.pointee.used = true
    }
}

extension xdpfwd_flow_key: FlowKey {
    typealias Entry = xdpfwd_flow
    static var emptyEntry: xdpfwd_flow { xdpfwd_flow() }

    var slotHash: Int {
        @inline(__always) get {
            var h = UInt64(saddr) << 32 | UInt64(daddr)
            h ^= (UInt64(sport) << 16 | UInt64(dport)) << 8 | UInt64(proto)
            h &*= 0x9E37_79B9_7F4A_7C15
            return Int(truncatingIfNeeded: h >> 40)
        }
    }

    @inline(__always)
    func same(_ other: xdpfwd_flow_key) -> Bool {
        saddr == other.saddr && daddr == other.daddr && sport == other.sport && dport == other.dport && proto == other.proto
    }

    @inline(__always)
    func countQuery(packets: UInt32, bytes: UInt64) -> xdpfwd_ct_add {
        xdpfwd_ct_add(bytes: bytes, packets: packets, pad: 0, key: self)
    }
}

extension xdpfwd_flow6_key: FlowKey {
    typealias Entry = xdpfwd_flow6
    static var emptyEntry: xdpfwd_flow6 { xdpfwd_flow6() }

    var slotHash: Int {
        @inline(__always) get {
            var h = UInt64(saddr.0 ^ daddr.0) << 32 | UInt64(saddr.1 ^ daddr.1)
            h ^= UInt64(saddr.2 ^ daddr.2) << 32 | UInt64(saddr.3 ^ daddr.3)
            h &*= 0x9E37_79B9_7F4A_7C15
            h ^= (UInt64(sport) << 16 | UInt64(dport)) << 8 | UInt64(proto)
            h &*= 0x9E37_79B9_7F4A_7C15
            return Int(truncatingIfNeeded: h >> 40)
        }
    }

    @inline(__always)
    func same(_ other: xdpfwd_flow6_key) -> Bool {
        Wire6.equal(saddr, other.saddr) && Wire6.equal(daddr, other.daddr) && sport == other.sport && dport == other.dport
            && proto == other.proto
    }

    @inline(__always)
    func countQuery(packets: UInt32, bytes: UInt64) -> xdpfwd_ct6_add {
        xdpfwd_ct6_add(bytes: bytes, packets: packets, pad: 0, key: self)
    }
}
