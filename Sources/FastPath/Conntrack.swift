import CXDP
import Glibc

/// bpf/conntrack.h: flow entries in twins, expiry, the TCP state machine and
/// SNAT port claims. The XDP program writes entries in place through map
/// pointers; here an entry is a copy, so every change is written back with
/// one update (BPF_EXIST: an entry deleted meanwhile stays deleted, as an
/// in-place write to a freed element would be lost).
enum Conntrack {
    static let nsPerSecond: UInt64 = 1_000_000_000

    @inline(__always)
    static func timeoutNs(_ config: xdpfwd_config, _ state: UInt8) -> UInt64 {
        let seconds: UInt32
        switch UInt32(state) {
        case XDPFWD_CT_TCP_OPENING.rawValue:
            seconds = config.timeout_tcp_opening != 0 ? config.timeout_tcp_opening : UInt32(XDPFWD_DEFAULT_TIMEOUT_TCP_OPENING)
        case XDPFWD_CT_TCP_EST.rawValue:
            seconds = config.timeout_tcp_est != 0 ? config.timeout_tcp_est : UInt32(XDPFWD_DEFAULT_TIMEOUT_TCP_EST)
        case XDPFWD_CT_TCP_FIN.rawValue:
            seconds = config.timeout_tcp_fin != 0 ? config.timeout_tcp_fin : UInt32(XDPFWD_DEFAULT_TIMEOUT_TCP_FIN)
        case XDPFWD_CT_TCP_RST.rawValue:
            seconds = config.timeout_tcp_rst != 0 ? config.timeout_tcp_rst : UInt32(XDPFWD_DEFAULT_TIMEOUT_TCP_RST)
        default:
            seconds = config.timeout_udp != 0 ? config.timeout_udp : UInt32(XDPFWD_DEFAULT_TIMEOUT_UDP)
        }
        return UInt64(seconds) &* nsPerSecond
    }

    /// ct_seconds: an entry's `created`, the coarse clock in whole seconds.
    @inline(__always)
    static func seconds(_ now: UInt64) -> UInt32 {
        UInt32(truncatingIfNeeded: now / nsPerSecond)
    }

    /// Seen within its state's timeout (signed: clocks of two CPUs).
    @inline(__always)
    static func fresh(_ entry: xdpfwd_flow, now: UInt64, config: xdpfwd_config) -> Bool {
        Int64(bitPattern: now &- entry.last_seen_ns) <= Int64(bitPattern: timeoutNs(config, entry.state))
    }

    /// ct_recent: seen within XDPFWD_TOUCH_NS, so fresh under any timeout.
    @inline(__always)
    static func recent(_ entry: xdpfwd_flow, now: UInt64) -> Bool {
        Int64(bitPattern: now &- entry.last_seen_ns) <= Int64(bitPattern: XDPFWD_TOUCH_NS)
    }

    @inline(__always)
    static func twinKey(_ entry: xdpfwd_flow, proto: UInt8) -> xdpfwd_flow_key {
        var key = xdpfwd_flow_key()
        key.saddr = entry.new_daddr
        key.daddr = entry.new_saddr
        key.sport = entry.new_dport
        key.dport = entry.new_sport
        key.proto = proto
        return key
    }

    @inline(__always)
    static func pointsBack(_ twin: xdpfwd_flow, _ key: xdpfwd_flow_key) -> Bool {
        twin.new_daddr == key.saddr && twin.new_saddr == key.daddr
            && twin.new_dport == key.sport && twin.new_sport == key.dport
    }

    /// entry's twin (and its key), if it still belongs to this flow.
    @inline(__always)
    static func twin<S: DataPlaneState>(_ key: xdpfwd_flow_key, _ entry: xdpfwd_flow, _ twin: inout xdpfwd_flow,
                                        state: inout S) -> xdpfwd_flow_key? {
        let twinKey = twinKey(entry, proto: key.proto)
        guard state.lookupFlow(twinKey, &twin), pointsBack(twin, key) else { return nil }
        return twinKey
    }

    @inline(__always)
    static func live<S: DataPlaneState>(_ key: xdpfwd_flow_key, _ entry: xdpfwd_flow, now: UInt64,
                                        config: xdpfwd_config, state: inout S) -> Bool {
        if fresh(entry, now: now, config: config) { return true }
        var other = xdpfwd_flow()
        guard twin(key, entry, &other, state: &state) != nil else { return false }
        return fresh(other, now: now, config: config)
    }

    /// Sets the state in entry (the caller writes it back) and in its twin
    /// (read from the map, not a cache: only the state changes).
    static func setState<S: DataPlaneState>(_ key: xdpfwd_flow_key, _ entry: inout xdpfwd_flow, _ newState: UInt8,
                                            state: inout S) {
        entry.state = newState
        let twinKey = twinKey(entry, proto: key.proto)
        var other = xdpfwd_flow()
        if state.reloadFlow(twinKey, &other), pointsBack(other, key) {
            other.state = newState
            _ = state.updateFlow(twinKey, other, flags: UInt64(CXDP_BPF_EXIST))
        }
    }

    /// ct_tcp_reuse: a client SYN (no ACK) on a flow in FIN or RST state
    /// starts a new flow, like Linux conntrack; the old one is deleted.
    @inline(__always)
    static func tcpReuse(_ entry: xdpfwd_flow, flags: UInt8) -> Bool {
        let st = entry.state
        return flags & (Wire.tcpSYN | Wire.tcpACK) == Wire.tcpSYN
            && entry.direction == UInt8(XDPFWD_DIR_FORWARD.rawValue)
            && (st == UInt8(XDPFWD_CT_TCP_FIN.rawValue) || st == UInt8(XDPFWD_CT_TCP_RST.rawValue))
    }

    /// ct_delete: the entry at key, and its twin (read from the map, not a
    /// cache) if it still points back.
    static func delete<S: DataPlaneState>(_ key: xdpfwd_flow_key, _ entry: xdpfwd_flow, state: inout S) {
        let twinKey = twinKey(entry, proto: key.proto)
        var other = xdpfwd_flow()
        if state.reloadFlow(twinKey, &other), pointsBack(other, key) {
            state.deleteFlow(twinKey)
        }
        state.deleteFlow(key)
    }

    /// The TCP state machine; true when entry changed.
    @inline(__always)
    static func tcpUpdate<S: DataPlaneState>(_ key: xdpfwd_flow_key, _ entry: inout xdpfwd_flow, flags: UInt8,
                                             state: inout S) -> Bool {
        let want = tcpNextState(entry.state, direction: entry.direction, flags: flags)
        guard want != entry.state else { return false }
        setState(key, &entry, want, state: &state)
        return true
    }

    /// ct_tcp_next_state, family-independent: the state an entry moves to
    /// when a packet with TCP `flags` passes.
    @inline(__always)
    static func tcpNextState(_ current: UInt8, direction: UInt8, flags: UInt8) -> UInt8 {
        let rst = UInt8(XDPFWD_CT_TCP_RST.rawValue), fin = UInt8(XDPFWD_CT_TCP_FIN.rawValue)
        let opening = UInt8(XDPFWD_CT_TCP_OPENING.rawValue), established = UInt8(XDPFWD_CT_TCP_EST.rawValue)
        if flags & Wire.tcpRST != 0 { return rst }
        if flags & Wire.tcpFIN != 0 { return current == rst ? current : fin }
        if direction == UInt8(XDPFWD_DIR_REPLY.rawValue) && current == opening { return established }
        return current
    }

    /// ct_claim: the BPF_NOEXIST insert is the atomic claim of a reply tuple.
    static func claim<S: DataPlaneState>(_ replyKey: xdpfwd_flow_key, _ replyValue: xdpfwd_flow, now: UInt64,
                                         config: xdpfwd_config, state: inout S) -> Int32 {
        let noExist = UInt64(CXDP_BPF_NOEXIST)
        let err = state.updateFlow(replyKey, replyValue, flags: noExist)
        if err != -EEXIST { return err }
        var old = xdpfwd_flow()
        if state.lookupFlow(replyKey, &old) && live(replyKey, old, now: now, config: config, state: &state) {
            return -EEXIST
        }
        state.deleteFlow(replyKey)
        return state.updateFlow(replyKey, replyValue, flags: noExist)
    }

    /// ct_alloc_port: probe up to XDPFWD_PORT_PROBES ports from a random
    /// start in the range; the claimed port is left in replyKey.dport.
    static func allocatePort<S: DataPlaneState>(_ replyKey: inout xdpfwd_flow_key, _ replyValue: xdpfwd_flow,
                                                now: UInt64, config: xdpfwd_config, state: inout S) -> Int32 {
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
            err = claim(replyKey, replyValue, now: now, config: config, state: &state)
            if err != -EEXIST { break }
            port += 1
            if port > high { port = low }
        }
        return err
    }
}
