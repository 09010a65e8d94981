import CXDP
import Glibc
import XDPLoader

/// DataPlaneState on a data plane's BPF maps, through bpf(2): the pinned
/// maps for the forwarder, a private set for the differential tests. Every
/// lookup copies into the caller's stack value; nothing allocates.
///
/// `configRefreshNs` bounds how stale the tunables may be (0: read the map
/// on every packet, as the XDP program does). With `flowCacheSlots` > 0,
/// conntrack reads go through a per-worker cache for each family (the
/// forwarder's setting; see FlowCache for what it may miss, and for how
/// long). `fixedRandom`, when set, is what random() returns: the tests feed FastPath the SNAT port start that
/// the BPF program drew.
public struct MapState: DataPlaneState {
    private let rulesFD: Int32, ifacesFD: Int32, configFD: Int32, fibFD: Int32
    private let laddrsFD: Int32, maglevFD: Int32, vlansFD: Int32
    private let rules6FD: Int32, laddrs6FD: Int32
    private let flows: FlowCache<xdpfwd_flow_key>
    private let flows6: FlowCache<xdpfwd_flow6_key>
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

    public init(datapath: Datapath, egressInterfaces: [UInt32], counters: LocalCounters = LocalCounters(),
                flowCacheSlots: Int = 0, flowCacheTTLNs: UInt64 = 100_000_000) {
        let maps = datapath.maps, fibProgram = datapath.fibProgram
        rulesFD = maps.rules.fd.raw
        ifacesFD = maps.ifaces.fd.raw
        configFD = maps.config.fd.raw
        fibFD = fibProgram.raw
        let flowCountFD = datapath.flowCountProgram.raw
        flows = FlowCache(mapFD: maps.flows.fd.raw, countFD: flowCountFD, slots: flowCacheSlots, ttlNs: flowCacheTTLNs)
        flows6 = FlowCache(mapFD: maps.flows6.fd.raw, countFD: flowCountFD, slots: flowCacheSlots, ttlNs: flowCacheTTLNs)
        laddrsFD = maps.laddrs.fd.raw
        maglevFD = maps.maglev.fd.raw
        vlansFD = maps.vlans.fd.raw
        rules6FD = maps.rules6.fd.raw
        laddrs6FD = maps.laddrs6.fd.raw
        keepAlive = [maps.flows.fd, maps.rules.fd, maps.ifaces.fd, maps.config.fd, fibProgram, datapath.flowCountProgram,
                     maps.laddrs.fd, maps.maglev.fd, maps.vlans.fd, maps.flows6.fd, maps.rules6.fd, maps.laddrs6.fd]
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
        flows.lookup(key, &value, now: lastNow)
    }

    public mutating func reloadFlow(_ key: xdpfwd_flow_key, _ value: inout xdpfwd_flow) -> Bool { flows.reload(key, &value) }

    public mutating func updateFlow(_ key: xdpfwd_flow_key, _ value: xdpfwd_flow, flags: UInt64) -> Int32 {
        flows.update(key, value, flags: flags, now: lastNow)
    }

    public mutating func deleteFlow(_ key: xdpfwd_flow_key) { flows.delete(key) }

    public mutating func countFlow(_ key: xdpfwd_flow_key, bytes: UInt64) { flows.count(key, bytes: bytes) }

    public mutating func lookupFlow6(_ key: xdpfwd_flow6_key, _ value: inout xdpfwd_flow6) -> Bool {
        flows6.lookup(key, &value, now: lastNow)
    }

    public mutating func reloadFlow6(_ key: xdpfwd_flow6_key, _ value: inout xdpfwd_flow6) -> Bool { flows6.reload(key, &value) }

    public mutating func updateFlow6(_ key: xdpfwd_flow6_key, _ value: xdpfwd_flow6, flags: UInt64) -> Int32 {
        flows6.update(key, value, flags: flags, now: lastNow)
    }

    public mutating func deleteFlow6(_ key: xdpfwd_flow6_key) { flows6.delete(key) }

    public mutating func countFlow6(_ key: xdpfwd_flow6_key, bytes: UInt64) { flows6.count(key, bytes: bytes) }

    /// Adds every flow's unflushed counts (FlowCache) to the map; the
    /// worker calls it periodically and when it stops.
    public mutating func flushFlowCounters() {
        flows.flush()
        flows6.flush()
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
