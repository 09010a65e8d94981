import CXDP
import Glibc

/// xdpfwd_established6, xdpfwd_new_flow6 and xdpfwd_send6 of bpf/forward6.h.
enum Forwarding6 {
    @inline(__always)
    static func send<S: DataPlaneState>(_ packet: PacketInfo6, _ flow: xdpfwd_flow6, ingress: UInt32, state: inout S) -> Verdict {
        NAT6.rewrite(packet, flow)
        state.countRule(flow.rule_id, reply: flow.direction == UInt8(XDPFWD_DIR_REPLY.rawValue), bytes: packet.len)
        return NextHop6.egress(packet.frame, flow, tagsIn: packet.vlanTags, ingress: ingress, state: &state)
    }

    /// A packet of a live flow; entry is a copy of its conntrack entry, and
    /// what the packet changes is written back as in Forwarding.established;
    /// its packet and byte counts go through `DataPlaneState.countFlow6`.
    @inline(__always)
    static func established<S: DataPlaneState>(_ packet: PacketInfo6, key: xdpfwd_flow6_key, entry: inout xdpfwd_flow6,
                                               ingress: UInt32, now: UInt64, state: inout S) -> Verdict {
        var changes = Forwarding.Changes()
        if packet.proto == Wire.tcp {
            changes.state = Conntrack6.tcpUpdate(key, &entry, flags: packet.tcpFlags, state: &state)
        }
        if packet.hopLimit <= 1 {
            writeBack(key, entry, changes, &state)
            state.count(XDPFWD_STAT_PASS_TTL)
            return .pass
        }
        // Stamp last_seen at most once per XDPFWD_TOUCH_NS, and look the
        // next hop up again with it.
        let touch = !Conntrack6.recent(entry, now: now)
        if touch {
            entry.last_seen_ns = now
            changes.lastSeen = true
        }
        let lookUp = NextHop6.needsLookup(entry, stale: touch)
        if let verdict = NextHop6.refresh(packet.frame, ip: packet.ip, proto: packet.proto, &entry, ingress: ingress, stale: touch,
                                          state: &state) {
            writeBack(key, entry, changes, &state)
            return verdict
        }
        changes.nextHop = lookUp
        writeBack(key, entry, changes, &state)
        state.countFlow6(key, bytes: packet.len)
        return send(packet, entry, ingress: ingress, state: &state)
    }

    /// Forwarding.writeBack for an IPv6 entry: only the changed fields go
    /// into the map's current entry.
    @inline(__always)
    static func writeBack<S: DataPlaneState>(_ key: xdpfwd_flow6_key, _ entry: xdpfwd_flow6, _ changes: Forwarding.Changes,
                                             _ state: inout S) {
        guard changes.any else { return }
        var current = xdpfwd_flow6()
        guard state.reloadFlow6(key, &current) else { return }
        if changes.state { current.state = entry.state }
        if changes.lastSeen { current.last_seen_ns = entry.last_seen_ns }
        if changes.nextHop {
            current.nh_ifindex = entry.nh_ifindex
            current.nh_valid = entry.nh_valid
            current.nh_vlan = entry.nh_vlan
            current.nh_vlan_tci = entry.nh_vlan_tci
            current.nh_dmac = entry.nh_dmac
            current.nh_smac = entry.nh_smac
        }
        _ = state.updateFlow6(key, current, flags: UInt64(CXDP_BPF_EXIST))
    }

    /// No live flow: create one if a rule matches (xdpfwd_new_flow6).
    static func newFlow<S: DataPlaneState>(_ packet: PacketInfo6, key: xdpfwd_flow6_key, expired: Bool, ingress: UInt32,
                                           now: UInt64, config: xdpfwd_config, state: inout S) -> Verdict {
        var rule = xdpfwd_rule6()
        guard Maglev6.rule(key, &rule, state: &state) else { return PacketFunction.passed(XDPFWD_STAT_PASS_NO_RULE, &state) }
        guard let (backendAddress, backendPort) = Maglev6.backend(rule, key, state: &state) else {
            // A balanced rule without its table (damaged state): untouched.
            return PacketFunction.passed(XDPFWD_STAT_PASS_NO_RULE, &state)
        }
        if expired { state.count(XDPFWD_STAT_FLOW_EXPIRED) }
        if packet.hopLimit <= 1 { return PacketFunction.passed(XDPFWD_STAT_PASS_TTL, &state) }

        let fib = NextHop6.lookup(packet.frame, ip: packet.ip, proto: packet.proto, ingress: ingress, src: key.saddr,
                                  dst: backendAddress, sport: key.sport, dport: backendPort, state: &state)
        guard NextHop.usable(fib.rc) else { return NextHop.fail(fib.rc, state: &state) }
        var forward = xdpfwd_flow6()
        NextHop6.store(&forward, fib, state: &state)

        let snat: Address6
        switch UInt32(rule.snat_mode) {
        case XDPFWD_SNAT_NONE.rawValue: snat = key.saddr
        case XDPFWD_SNAT_FIXED.rawValue: snat = rule.snat_addr
        default:
            // The FIB's egress (a VLAN upper, not the cached lower).
            guard let address = NextHop6.snatAddress(fib.ifindex, state: &state) else {
                state.count(XDPFWD_STAT_DROP_NO_SNAT_ADDR)
                return .drop
            }
            snat = address
        }

        var replyKey = xdpfwd_flow6_key()
        replyKey.saddr = backendAddress
        replyKey.daddr = snat
        replyKey.sport = backendPort
        replyKey.proto = key.proto

        let flowState: UInt8
        if packet.proto == Wire.tcp {
            flowState = UInt8(packet.tcpFlags & Wire.tcpRST != 0 ? XDPFWD_CT_TCP_RST.rawValue : XDPFWD_CT_TCP_OPENING.rawValue)
        } else {
            flowState = UInt8(XDPFWD_CT_UDP.rawValue)
        }

        var reply = xdpfwd_flow6()
        reply.new_saddr = key.daddr
        reply.new_daddr = key.saddr
        reply.new_sport = key.dport
        reply.new_dport = key.sport
        reply.rule_id = rule.rule_id
        reply.direction = UInt8(XDPFWD_DIR_REPLY.rawValue)
        reply.state = flowState
        reply.created = Conntrack.seconds(now)
        reply.last_seen_ns = now

        let err: Int32
        if UInt32(rule.snat_mode) == XDPFWD_SNAT_NONE.rawValue {
            replyKey.dport = key.sport
            reply.csum_delta = NAT6.checksumDelta(replyKey, reply)
            err = Conntrack6.claim(replyKey, reply, now: now, config: config, state: &state)
            if err == -EEXIST {
                state.count(XDPFWD_STAT_DROP_FLOW_CLASH)
                return .drop
            }
        } else {
            // replyKey.dport is still 0: the base each probed port adds to.
            let deltaBase = NAT6.checksumDelta(replyKey, reply)
            err = Conntrack6.allocatePort(&replyKey, &reply, deltaBase: deltaBase, now: now, config: config, state: &state)
            if err == -EEXIST {
                state.count(XDPFWD_STAT_DROP_PORTS_EXHAUSTED)
                return .drop
            }
        }
        if err != 0 {
            state.count(XDPFWD_STAT_DROP_FLOW_TABLE)
            return .drop
        }

        forward.new_saddr = replyKey.daddr
        forward.new_daddr = replyKey.saddr
        forward.new_sport = replyKey.dport
        forward.new_dport = replyKey.sport
        forward.rule_id = reply.rule_id
        forward.direction = UInt8(XDPFWD_DIR_FORWARD.rawValue)
        forward.state = flowState
        forward.created = Conntrack.seconds(now)
        forward.last_seen_ns = now
        // This packet is the forward entry's first.
        forward.packets = 1
        forward.bytes = packet.len
        forward.csum_delta = NAT6.checksumDelta(key, forward)
        if state.updateFlow6(key, forward, flags: UInt64(CXDP_BPF_ANY)) != 0 {
            state.deleteFlow6(replyKey)
            state.count(XDPFWD_STAT_DROP_FLOW_TABLE)
            return .drop
        }
        state.count(XDPFWD_STAT_FLOW_NEW)
        return send(packet, forward, ingress: ingress, state: &state)
    }
}
