import CXDP
import Glibc
import XDPLoader

/// DataPlaneState on a data plane's BPF maps, through bpf(2): the pinned
/// maps for the forwarder, a private set for the differential tests. Every
/// lookup copies into the caller's stack value; nothing allocates.
///
/// `configRefreshNs` bounds how stale the tunables may be (0: read the map
/// on every packet, as the XDP program does). With `flowCacheSlots` > 0,
/// conntrack reads go through a per-worker FlowCache (the forwarder's
/// setting; see FlowCache for what it may miss, and for how long). `fixedRandom`, when set, is
/// what random() returns: the tests feed FastPath the SNAT port start that
/// the BPF program drew.
public struct MapState: DataPlaneState {
    private let flowsFD: Int32, rulesFD: Int32, ifacesFD: Int32, configFD: Int32, fibFD: Int32, flowCountFD: Int32
    private let laddrsFD: Int32, maglevFD: Int32, vlansFD: Int32
    private let flows6FD: Int32, rules6FD: Int32, laddrs6FD: Int32
    private let keepAlive: [AnyObject]
    private let globalCounters: UnsafeMutablePointer<UInt64>
    private let ruleCounters: UnsafeMutablePointer<xdpfwd_rule_stats>
    public let counters: LocalCounters
    /// Interfaces FastPath transmits on directly.
    public var egressInterfaces: [UInt32]
    public var configRefreshNs: UInt64 = 0
    public var fixedRandom: UInt32? = nil
    private var cachedConfig = xdpfwd_config()
    private var configReadNs: UInt64 = 0
    private var configValid = false
    private var rng: UInt64
    private var lastNow: UInt64 = 0
    private let cache: UnsafeMutablePointer<FlowCache.Slot>?
    private let cacheMask: Int
    private let cacheTTLNs: UInt64
    private let cache6: UnsafeMutablePointer<FlowCache6.Slot>?
    private let cache6Mask: Int

    public init(datapath: Datapath, egressInterfaces: [UInt32], counters: LocalCounters = LocalCounters(),
                flowCacheSlots: Int = 0, flowCacheTTLNs: UInt64 = 100_000_000) {
        let maps = datapath.maps, fibProgram = datapath.fibProgram
        flowsFD = maps.flows.fd.raw
        rulesFD = maps.rules.fd.raw
        ifacesFD = maps.ifaces.fd.raw
        configFD = maps.config.fd.raw
        fibFD = fibProgram.raw
        flowCountFD = datapath.flowCountProgram.raw
        laddrsFD = maps.laddrs.fd.raw
        maglevFD = maps.maglev.fd.raw
        vlansFD = maps.vlans.fd.raw
        flows6FD = maps.flows6.fd.raw
        rules6FD = maps.rules6.fd.raw
        laddrs6FD = maps.laddrs6.fd.raw
        var owners: [AnyObject] = [maps.flows.fd, maps.rules.fd, maps.ifaces.fd, maps.config.fd, fibProgram, datapath.flowCountProgram,
                                   maps.laddrs.fd, maps.maglev.fd, maps.vlans.fd, maps.flows6.fd, maps.rules6.fd, maps.laddrs6.fd]
        if flowCacheSlots > 0 {
            let flowCache = FlowCache(slots: flowCacheSlots, ttlNs: flowCacheTTLNs)
            owners.append(flowCache)
            cache = flowCache.slots
            cacheMask = flowCache.mask
            let flowCache6 = FlowCache6(slots: flowCacheSlots)
            owners.append(flowCache6)
            cache6 = flowCache6.slots
            cache6Mask = flowCache6.mask
        } else {
            cache = nil
            cacheMask = 0
            cache6 = nil
            cache6Mask = 0
        }
        cacheTTLNs = flowCacheTTLNs
        keepAlive = owners
        self.counters = counters
        globalCounters = counters.global
        ruleCounters = counters.rules
        self.egressInterfaces = egressInterfaces
        rng = UInt64.random(in: 1...UInt64.max)
    }

    public mutating func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts)
        lastNow = UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
        return lastNow
    }

    public mutating func random() -> UInt32 {
        if let fixedRandom { return fixedRandom }
        // xorshift64*: bpf_get_prandom_u32 is not cryptographic either.
        rng ^= rng >> 12
        rng ^= rng << 25
        rng ^= rng >> 27
        return UInt32(truncatingIfNeeded: (rng &* 0x2545_F491_4F6C_DD1D) >> 32)
    }

    public mutating func config() -> xdpfwd_config {
        if configValid && configRefreshNs != 0 {
            let now = now()
            if now &- configReadNs < configRefreshNs { return cachedConfig }
            configReadNs = now
        } else if configRefreshNs != 0 {
            configReadNs = now()
        }
        var key: UInt32 = 0
        var value = xdpfwd_config()
        if cxdp_map_lookup(configFD, &key, &value) != 0 { value = xdpfwd_config() }
        cachedConfig = value
        configValid = true
        return value
    }

    public mutating func lookupFlow(_ key: xdpfwd_flow_key, _ value: inout xdpfwd_flow) -> Bool {
        guard let cache else { return reloadFlow(key, &value) }
        let slot = cache + (FlowCache.hash(key) & cacheMask)
        if slot.pointee.used && FlowCache.same(slot.pointee.key, key) && lastNow < slot.pointee.expires {
            value = slot.pointee.value
            return true
        }
        // Expired, or another key's: its counts go to the map first.
        flushPending(slot)
        let found = reloadFlow(key, &value)
        remember(slot, key, found ? value : nil)
        return found
    }

    public mutating func reloadFlow(_ key: xdpfwd_flow_key, _ value: inout xdpfwd_flow) -> Bool {
        var key = key
        return cxdp_map_lookup(flowsFD, &key, &value) == 0
    }

    public mutating func updateFlow(_ key: xdpfwd_flow_key, _ value: xdpfwd_flow, flags: UInt64) -> Int32 {
        var rawKey = key, rawValue = value
        let result = cxdp_map_update(flowsFD, &rawKey, &rawValue, flags)
        if let cache {
            let slot = cache + (FlowCache.hash(key) & cacheMask)
            if result == 0 {
                // A new entry (not BPF_EXIST) starts its own counts.
                if flags != UInt64(CXDP_BPF_EXIST) && FlowCache.same(slot.pointee.key, key) { Self.forget(slot) }
                remember(slot, key, value)
            } else if FlowCache.same(slot.pointee.key, key) {
                // Refused (a live owner on NOEXIST, gone on EXIST): the
                // copy is suspect, the counts still belong to the map's entry.
                flushPending(slot)
                slot.pointee.used = false
            }
        }
        return result
    }

    public mutating func deleteFlow(_ key: xdpfwd_flow_key) {
        var rawKey = key
        _ = cxdp_map_delete(flowsFD, &rawKey)
        if let cache {
            let slot = cache + (FlowCache.hash(key) & cacheMask)
            if FlowCache.same(slot.pointee.key, key) { Self.forget(slot) }
        }
    }

    public mutating func countFlow(_ key: xdpfwd_flow_key, bytes: UInt64) {
        if let cache {
            let slot = cache + (FlowCache.hash(key) & cacheMask)
            if slot.pointee.used && FlowCache.same(slot.pointee.key, key) {
                slot.pointee.pendingPackets &+= 1
                slot.pointee.pendingBytes &+= bytes
                return
            }
        }
        // No cache, or the slot went to another key since the lookup.
        addCounts(key, packets: 1, bytes: bytes)
    }

    /// Adds every flow's unflushed counts (FlowCache) to the map; the
    /// worker calls it periodically and when it stops.
    public mutating func flushFlowCounters() {
        if let cache { for index in 0...cacheMask { flushPending(cache + index) } }
        if let cache6 { for index in 0...cache6Mask { flushPending6(cache6 + index) } }
    }

    /// ct_count: adds to the map's entry in place (xdpfwd_ct_add), never
    /// writing the rest of it, so nothing another writer changed meanwhile
    /// is lost. A deleted entry stays deleted, its counts with it.
    private func addCounts(_ key: xdpfwd_flow_key, packets: UInt32, bytes: UInt64) {
        var query = xdpfwd_ct_add(bytes: bytes, packets: packets, pad: 0, key: key)
        runFlowCount(&query, MemoryLayout<xdpfwd_ct_add>.size)
    }

    /// One run of xdpfwd_ct_add on a query; its verdict (added, or no such
    /// entry) changes nothing here.
    @inline(__always)
    private func runFlowCount(_ query: UnsafeMutableRawPointer, _ size: Int) {
        var outLength = UInt32(size), retval: UInt32 = 0, duration: UInt32 = 0
        _ = cxdp_test_run_xdp(flowCountFD, query, UInt32(size), query, &outLength, 0, 1, &retval, &duration)
    }

    @inline(__always)
    private func flushPending(_ slot: UnsafeMutablePointer<FlowCache.Slot>) {
        guard slot.pointee.pendingPackets != 0 else { return }
        if slot.pointee.used { addCounts(slot.pointee.key, packets: slot.pointee.pendingPackets, bytes: slot.pointee.pendingBytes) }
        slot.pointee.pendingPackets = 0
        slot.pointee.pendingBytes = 0
    }

    /// Drops the slot's entry and any counts it gathered (the entry is gone
    /// or replaced).
    @inline(__always)
    private static func forget(_ slot: UnsafeMutablePointer<FlowCache.Slot>) {
        slot.pointee.used = false
        slot.pointee.pendingPackets = 0
        slot.pointee.pendingBytes = 0
    }

    /// Caches value for key (nil: forgets key if the slot holds it). A slot
    /// taken over from another key flushes that key's counts first.
    @inline(__always)
    private func remember(_ slot: UnsafeMutablePointer<FlowCache.Slot>, _ key: xdpfwd_flow_key, _ value: xdpfwd_flow?) {
        if let value {
            if !FlowCache.same(slot.pointee.key, key) { flushPending(slot) }
            slot.pointee.key = key
            slot.pointee.value = value
            slot.pointee.expires = lastNow &+ cacheTTLNs
            slot.pointee.used = true
        } else if FlowCache.same(slot.pointee.key, key) {
            Self.forget(slot)
        }
    }

    public mutating func lookupFlow6(_ key: xdpfwd_flow6_key, _ value: inout xdpfwd_flow6) -> Bool {
        guard let cache6 else { return reloadFlow6(key, &value) }
        let slot = cache6 + (FlowCache6.hash(key) & cache6Mask)
        if slot.pointee.used && FlowCache6.same(slot.pointee.key, key) && lastNow < slot.pointee.expires {
            value = slot.pointee.value
            return true
        }
        // Expired, or another key's: its counts go to the map first.
        flushPending6(slot)
        let found = reloadFlow6(key, &value)
        remember6(slot, key, found ? value : nil)
        return found
    }

    public mutating func reloadFlow6(_ key: xdpfwd_flow6_key, _ value: inout xdpfwd_flow6) -> Bool {
        var key = key
        return cxdp_map_lookup(flows6FD, &key, &value) == 0
    }

    public mutating func updateFlow6(_ key: xdpfwd_flow6_key, _ value: xdpfwd_flow6, flags: UInt64) -> Int32 {
        var rawKey = key, rawValue = value
        let result = cxdp_map_update(flows6FD, &rawKey, &rawValue, flags)
        if let cache6 {
            let slot = cache6 + (FlowCache6.hash(key) & cache6Mask)
            if result == 0 {
                // A new entry (not BPF_EXIST) starts its own counts.
                if flags != UInt64(CXDP_BPF_EXIST) && FlowCache6.same(slot.pointee.key, key) { Self.forget6(slot) }
                remember6(slot, key, value)
            } else if FlowCache6.same(slot.pointee.key, key) {
                // Refused: the copy is suspect, the counts still the map entry's.
                flushPending6(slot)
                slot.pointee.used = false
            }
        }
        return result
    }

    public mutating func deleteFlow6(_ key: xdpfwd_flow6_key) {
        var rawKey = key
        _ = cxdp_map_delete(flows6FD, &rawKey)
        if let cache6 {
            let slot = cache6 + (FlowCache6.hash(key) & cache6Mask)
            if FlowCache6.same(slot.pointee.key, key) { Self.forget6(slot) }
        }
    }

    public mutating func countFlow6(_ key: xdpfwd_flow6_key, bytes: UInt64) {
        if let cache6 {
            let slot = cache6 + (FlowCache6.hash(key) & cache6Mask)
            if slot.pointee.used && FlowCache6.same(slot.pointee.key, key) {
                slot.pointee.pendingPackets &+= 1
                slot.pointee.pendingBytes &+= bytes
                return
            }
        }
        addCounts6(key, packets: 1, bytes: bytes)
    }

    /// addCounts for an IPv6 entry.
    private func addCounts6(_ key: xdpfwd_flow6_key, packets: UInt32, bytes: UInt64) {
        var query = xdpfwd_ct6_add(bytes: bytes, packets: packets, pad: 0, key: key)
        runFlowCount(&query, MemoryLayout<xdpfwd_ct6_add>.size)
    }

    @inline(__always)
    private func flushPending6(_ slot: UnsafeMutablePointer<FlowCache6.Slot>) {
        guard slot.pointee.pendingPackets != 0 else { return }
        if slot.pointee.used { addCounts6(slot.pointee.key, packets: slot.pointee.pendingPackets, bytes: slot.pointee.pendingBytes) }
        slot.pointee.pendingPackets = 0
        slot.pointee.pendingBytes = 0
    }

    @inline(__always)
    private static func forget6(_ slot: UnsafeMutablePointer<FlowCache6.Slot>) {
        slot.pointee.used = false
        slot.pointee.pendingPackets = 0
        slot.pointee.pendingBytes = 0
    }

    /// remember for the IPv6 cache.
    @inline(__always)
    private func remember6(_ slot: UnsafeMutablePointer<FlowCache6.Slot>, _ key: xdpfwd_flow6_key, _ value: xdpfwd_flow6?) {
        if let value {
            if !FlowCache6.same(slot.pointee.key, key) { flushPending6(slot) }
            slot.pointee.key = key
            slot.pointee.value = value
            slot.pointee.expires = lastNow &+ cacheTTLNs
            slot.pointee.used = true
        } else if FlowCache6.same(slot.pointee.key, key) {
            Self.forget6(slot)
        }
    }

    public mutating func lookupRule6(_ key: xdpfwd_rule6_key, _ value: inout xdpfwd_rule6) -> Bool {
        var key = key
        return cxdp_map_lookup(rules6FD, &key, &value) == 0
    }

    public mutating func isLocalAddress6(_ address: (UInt32, UInt32, UInt32, UInt32)) -> Bool {
        var key = xdpfwd_addr6(addr: address), value: UInt32 = 0
        return cxdp_map_lookup(laddrs6FD, &key, &value) == 0
    }

    public mutating func fibLookup6(_ query: inout xdpfwd_fib6_query) {
        let size = UInt32(MemoryLayout<xdpfwd_fib6_query>.size)
        var input = query
        var outLength = size, retval: UInt32 = 0, duration: UInt32 = 0
        let result = cxdp_test_run_xdp(fibFD, &input, size, &query, &outLength, 0, 1, &retval, &duration)
        if result != 0 || outLength != size || retval != 2 { query.rc = -Int32(EINVAL) }
    }

    public mutating func lookupRule(_ key: xdpfwd_rule_key, _ value: inout xdpfwd_rule) -> Bool {
        var key = key
        return cxdp_map_lookup(rulesFD, &key, &value) == 0
    }

    public mutating func lookupIface(_ ifindex: UInt32, _ value: inout xdpfwd_iface) -> Bool {
        var key = ifindex
        return cxdp_map_lookup(ifacesFD, &key, &value) == 0
    }

    public mutating func isLocalAddress(_ address: UInt32) -> Bool {
        var key = address, value: UInt32 = 0
        return cxdp_map_lookup(laddrsFD, &key, &value) == 0
    }

    public mutating func lookupVLAN(_ ifindex: UInt32, _ value: inout xdpfwd_vlan) -> Bool {
        var key = ifindex
        return cxdp_map_lookup(vlansFD, &key, &value) == 0
    }

    /// Two lookups (outer map -> inner map id -> slot): new flows of
    /// balanced rules only.
    public mutating func maglevSlot(_ ruleID: UInt32, _ slot: UInt32, _ backend: inout xdpfwd_backend) -> Bool {
        var key = ruleID, tableID: UInt32 = 0
        guard cxdp_map_lookup(maglevFD, &key, &tableID) == 0 else { return false }
        let table = cxdp_map_fd_by_id(tableID)
        guard table >= 0 else { return false }
        defer { close(table) }
        var index = slot
        return cxdp_map_lookup(table, &index, &backend) == 0
    }

    public mutating func fibLookup(_ query: inout xdpfwd_fib_query) {
        let size = UInt32(MemoryLayout<xdpfwd_fib_query>.size)
        var input = query
        var outLength = size, retval: UInt32 = 0, duration: UInt32 = 0
        let result = cxdp_test_run_xdp(fibFD, &input, size, &query, &outLength, 0, 1, &retval, &duration)
        // The program cannot fail on a whole query; a failed run routes nowhere.
        if result != 0 || outLength != size || retval != 2 { query.rc = -Int32(EINVAL) }
    }

    public mutating func egressAttached(_ ifindex: UInt32) -> Bool {
        // An index loop, not contains(): unoptimised builds run the generic
        // Sequence path, whose Array read coroutine allocates a frame per
        // call (the e2e allocation check runs the debug build).
        var index = 0
        while index < egressInterfaces.count {
            if egressInterfaces[index] == ifindex { return true }
            index += 1
        }
        return false
    }

    public mutating func count(_ stat: xdpfwd_stat) {
        globalCounters[Int(stat.rawValue)] &+= 1
    }

    public mutating func countRule(_ ruleID: UInt32, reply: Bool, bytes: UInt64) {
        // An id out of range broke the control plane's contract: skip, as the C does.
        guard ruleID < XDPFWD_MAX_RULES else { return }
        let slot = ruleCounters + Int(ruleID)
        if reply {
            slot.pointee.reply_packets &+= 1
            slot.pointee.reply_bytes &+= bytes
        } else {
            slot.pointee.fwd_packets &+= 1
            slot.pointee.fwd_bytes &+= bytes
        }
    }
}

extension MapState {
    /// PacketFunction.run specialized for MapState inside this module, for
    /// callers in other modules (a generic call across modules would go
    /// through protocol witness tables on every map access).
    public mutating func process(_ base: UnsafeMutableRawPointer, length: Int, headroom: Int, ingress: UInt32) -> Verdict {
        PacketFunction.run(base, length: length, headroom: headroom, ingress: ingress, state: &self)
    }
}
