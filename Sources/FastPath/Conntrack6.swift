import CXDP
import Glibc

/// bpf/conntrack6.h: the IPv6 flow table (xdpfwd_flows6), the same scheme
/// as Conntrack (twins, expiry, TCP states, SNAT port claims), whose
/// timeouts and TCP state decisions it reuses. Entries are copies written
/// back with one update, as in Conntrack.
enum Conntrack6 {
    @inline(__always)
    static func fresh(_ entry: xdpfwd_flow6, now: UInt64, config: xdpfwd_config) -> Bool {
        Int64(bitPattern: now &- entry.last_seen_ns) <= Int64(bitPattern: Conntrack.timeoutNs(config, entry.state))
    }

    /// ct6_recent: seen within XDPFWD_TOUCH_NS, so fresh under any timeout.
    @inline(__always)
    static func recent(_ entry: xdpfwd_flow6, now: UInt64) -> Bool {
        Int64(bitPattern: now &- entry.last_seen_ns) <= Int64(bitPattern: XDPFWD_TOUCH_NS)
    }

    @inline(__always)
    static func twinKey(_ entry: xdpfwd_flow6, proto: UInt8) -> xdpfwd_flow6_key {
        var key = xdpfwd_flow6_key()
        key.saddr = entry.new_daddr
        key.daddr = entry.new_saddr
        key.sport = entry.new_dport
        key.dport = entry.new_sport
        key.proto = proto
        return key
    }

    @inline(__always)
    static func pointsBack(_ twin: xdpfwd_flow6, _ key: xdpfwd_flow6_key) -> Bool {
        Wire6.equal(twin.new_daddr, key.saddr) && Wire6.equal(twin.new_saddr, key.daddr)
            && twin.new_dport == key.sport && twin.new_sport == key.dport
    }

    /// entry's twin (and its key), if it still belongs to this flow.
    @inline(__always)
    static func twin<S: DataPlaneState>(_ key: xdpfwd_flow6_key, _ entry: xdpfwd_flow6, _ twin: inout xdpfwd_flow6,
                                        state: inout S) -> xdpfwd_flow6_key? {
        let twinKey = twinKey(entry, proto: key.proto)
        guard state.lookupFlow6(twinKey, &twin), pointsBack(twin, key) else { return nil }
        return twinKey
    }

    @inline(__always)
    static func live<S: DataPlaneState>(_ key: xdpfwd_flow6_key, _ entry: xdpfwd_flow6, now: UInt64,
                                        config: xdpfwd_config, state: inout S) -> Bool {
        if fresh(entry, now: now, config: config) { return true }
        var other = xdpfwd_flow6()
        guard twin(key, entry, &other, state: &state) != nil else { return false }
        return fresh(other, now: now, config: config)
    }

    /// ct_tcp_reuse on an IPv6 entry.
    @inline(__always)
    static func tcpReuse(_ entry: xdpfwd_flow6, flags: UInt8) -> Bool {
        let st = entry.state
        return flags & (Wire.tcpSYN | Wire.tcpACK) == Wire.tcpSYN
            && entry.direction == UInt8(XDPFWD_DIR_FORWARD.rawValue)
            && (st == UInt8(XDPFWD_CT_TCP_FIN.rawValue) || st == UInt8(XDPFWD_CT_TCP_RST.rawValue))
    }

    /// ct6_delete: the entry at key, and its twin (read from the map, not a
    /// cache) if it still points back.
    static func delete<S: DataPlaneState>(_ key: xdpfwd_flow6_key, _ entry: xdpfwd_flow6, state: inout S) {
        let twinKey = twinKey(entry, proto: key.proto)
        var other = xdpfwd_flow6()
        if state.reloadFlow6(twinKey, &other), pointsBack(other, key) {
            state.deleteFlow6(twinKey)
        }
        state.deleteFlow6(key)
    }

    /// ct6_tcp_update: the state machine of conntrack.h on entry (the
    /// caller writes it back) and its twin; true when entry changed.
    @inline(__always)
    static func tcpUpdate<S: DataPlaneState>(_ key: xdpfwd_flow6_key, _ entry: inout xdpfwd_flow6, flags: UInt8,
                                             state: inout S) -> Bool {
        let want = Conntrack.tcpNextState(entry.state, direction: entry.direction, flags: flags)
        guard want != entry.state else { return false }
        entry.state = want
        let twinKey = twinKey(entry, proto: key.proto)
        var other = xdpfwd_flow6()
        if state.reloadFlow6(twinKey, &other), pointsBack(other, key) {
            other.state = want
            _ = state.updateFlow6(twinKey, other, flags: UInt64(CXDP_BPF_EXIST))
        }
        return true
    }

    /// ct6_claim: the BPF_NOEXIST insert is the atomic claim of a reply tuple.
    static func claim<S: DataPlaneState>(_ replyKey: xdpfwd_flow6_key, _ replyValue: xdpfwd_flow6, now: UInt64,
                                         config: xdpfwd_config, state: inout S) -> Int32 {
        let noExist = UInt64(CXDP_BPF_NOEXIST)
        let err = state.updateFlow6(replyKey, replyValue, flags: noExist)
        if err != -EEXIST { return err }
        var old = xdpfwd_flow6()
        if state.lookupFlow6(replyKey, &old) && live(replyKey, old, now: now, config: config, state: &state) {
            return -EEXIST
        }
        state.deleteFlow6(replyKey)
        return state.updateFlow6(replyKey, replyValue, flags: noExist)
    }

    /// ct6_alloc_port: as Conntrack.allocatePort, and each probed port
    /// completes the reply entry's checksum delta (`deltaBase` is the delta
    /// with reply port 0; port 0 adds nothing, so the real one is added).
    static func allocatePort<S: DataPlaneState>(_ replyKey: inout xdpfwd_flow6_key, _ replyValue: inout xdpfwd_flow6,
                                                deltaBase: UInt32, now: UInt64, config: xdpfwd_config,
                                                state: inout S) -> Int32 {
        var low = UInt32(config.snat_port_min != 0 ? config.snat_port_min : UInt16(XDPFWD_DEFAULT_SNAT_PORT_MIN))
        var high = UInt32(config.snat_port_max != 0 ? config.snat_port_max : UInt16(XDPFWD_DEFAULT_SNAT_PORT_MAX))
        if low > high {
            low = UInt32(XDPFWD_DEFAULT_SNAT_PORT_MIN)
            high = UInt32(XDPFWD_DEFAULT_SNAT_PORT_MAX)
        }
        var port = low &+ state.random() % (high - low + 1)
        var err = -EEXIST
        for _ in 0..<Int(XDPFWD_PORT_PROBES) {
            replyKey.dport = UInt16(truncatingIfNeeded: port).bigEndian
            replyValue.csum_delta = Checksum.fold(deltaBase &+ UInt32(~replyKey.dport))
            err = claim(replyKey, replyValue, now: now, config: config, state: &state)
            if err != -EEXIST { break }
            port += 1
            if port > high { port = low }
        }
        return err
    }
}
