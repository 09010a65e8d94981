import CXDP
import Glibc

/// xdpfwd_established, xdpfwd_new_flow and xdpfwd_send of bpf/xdpfwd.bpf.c.
enum Forwarding {
    @inline(__always)
    static func send<S: DataPlaneState>(_ packet: PacketInfo, _ flow: xdpfwd_flow, ingress: UInt32, state: inout S) -> Verdict {
        NAT.rewrite(packet, flow)
        state.countRule(flow.rule_id, reply: flow.direction == UInt8(XDPFWD_DIR_REPLY.rawValue), bytes: packet.len)
        return NextHop.egress(packet.frame, flow, tagsIn: packet.vlanTags, l3Proto: Wire.etherTypeIPv4Raw, ingress: ingress,
                               state: &state)
    }

    /// A packet of a live flow; entry is a copy of its conntrack entry.
    /// What this packet changes in it (TCP state, last-seen, next hop) is
    /// written back into the map's current entry, field by field; its
    /// packet and byte counts go through `DataPlaneState.countFlow`.
    @inline(__always)
    static func established<S: DataPlaneState>(_ packet: PacketInfo, key: xdpfwd_flow_key, entry: inout xdpfwd_flow,
                                               ingress: UInt32, now: UInt64, state: inout S) -> Verdict {
        var changes = Changes()
        if packet.proto == Wire.tcp {
            changes.state = Conntrack.tcpUpdate(key, &entry, flags: packet.tcpFlags, state: &state)
        }
        if packet.ttl <= 1 {
            writeBack(key, entry, changes, &state)
            state.count(XDPFWD_STAT_PASS_TTL)
            return .pass
        }
        let touch = !Conntrack.recent(entry, now: now)
        if touch {
            entry.last_seen_ns = now
            changes.lastSeen = true
        }
        let lookUp = NextHop.needsLookup(entry, stale: touch)
        if let verdict = NextHop.refresh(packet, &entry, ingress: ingress, stale: touch, state: &state) {
            writeBack(key, entry, changes, &state)
            return verdict
        }
        changes.nextHop = lookUp
        writeBack(key, entry, changes, &state)
        state.countFlow(key, bytes: packet.len)
        return send(packet, entry, ingress: ingress, state: &state)
    }

    struct Changes {
        var state = false
        var lastSeen = false
        var nextHop = false
        var any: Bool { state || lastSeen || nextHop }
    }

    /// The XDP program's in-place writes, as one read-modify-write: only
    /// the changed fields are copied into the map's current entry.
    @inline(__always)
    static func writeBack<S: DataPlaneState>(_ key: xdpfwd_flow_key, _ entry: xdpfwd_flow, _ changes: Changes, _ state: inout S) {
        guard changes.any else { return }
        var current = xdpfwd_flow()
        guard state.reloadFlow(key, &current) else { return }
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
        _ = state.updateFlow(key, current, flags: UInt64(CXDP_BPF_EXIST))
    }

    /// No live flow: create one if a rule matches.
    static func newFlow<S: DataPlaneState>(_ packet: PacketInfo, key: xdpfwd_flow_key, expired: Bool, ingress: UInt32,
                                           now: UInt64, config: xdpfwd_config, state: inout S) -> Verdict {
        var rule = xdpfwd_rule()
        guard Maglev.rule(key, &rule, state: &state) else { return PacketFunction.passed(XDPFWD_STAT_PASS_NO_RULE, &state) }
        guard let (backendAddress, backendPort) = Maglev.backend(rule, key, state: &state) else {
            // A balanced rule without its table (damaged state): untouched.
            return PacketFunction.passed(XDPFWD_STAT_PASS_NO_RULE, &state)
        }
        if expired { state.count(XDPFWD_STAT_FLOW_EXPIRED) }
        if packet.ttl <= 1 { return PacketFunction.passed(XDPFWD_STAT_PASS_TTL, &state) }

        let fib = NextHop.lookup(packet, ingress: ingress, src: key.saddr, dst: backendAddress,
                                 sport: key.sport, dport: backendPort, state: &state)
        guard NextHop.usable(fib.rc) else { return NextHop.fail(fib.rc, state: &state) }

        let snat: UInt32
        switch UInt32(rule.snat_mode) {
        case XDPFWD_SNAT_NONE.rawValue: snat = key.saddr
        case XDPFWD_SNAT_FIXED.rawValue: snat = rule.snat_addr
        default:
            snat = NextHop.snatAddress(fib.ifindex, state: &state)
            guard snat != 0 else {
                state.count(XDPFWD_STAT_DROP_NO_SNAT_ADDR)
                return .drop
            }
        }

        let flowState: UInt8
        if packet.proto == Wire.tcp {
            flowState = UInt8(packet.tcpFlags & Wire.tcpRST != 0 ? XDPFWD_CT_TCP_RST.rawValue : XDPFWD_CT_TCP_OPENING.rawValue)
        } else {
            flowState = UInt8(XDPFWD_CT_UDP.rawValue)
        }

        var replyKey = xdpfwd_flow_key()
        replyKey.saddr = backendAddress
        replyKey.daddr = snat
        replyKey.sport = backendPort
        replyKey.proto = key.proto
        var reply = xdpfwd_flow()
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
            err = Conntrack.claim(replyKey, reply, now: now, config: config, state: &state)
            if err == -EEXIST {
                state.count(XDPFWD_STAT_DROP_FLOW_CLASH)
                return .drop
            }
        } else {
            err = Conntrack.allocatePort(&replyKey, reply, now: now, config: config, state: &state)
            if err == -EEXIST {
                state.count(XDPFWD_STAT_DROP_PORTS_EXHAUSTED)
                return .drop
            }
        }
        if err != 0 {
            state.count(XDPFWD_STAT_DROP_FLOW_TABLE)
            return .drop
        }

        var forward = xdpfwd_flow()
        forward.new_saddr = snat
        forward.new_daddr = backendAddress
        forward.new_sport = replyKey.dport
        forward.new_dport = backendPort
        forward.rule_id = rule.rule_id
        forward.direction = UInt8(XDPFWD_DIR_FORWARD.rawValue)
        forward.state = flowState
        forward.created = Conntrack.seconds(now)
        forward.last_seen_ns = now
        // This packet is the forward entry's first.
        forward.packets = 1
        forward.bytes = packet.len
        NextHop.store(&forward, fib, state: &state)
        if state.updateFlow(key, forward, flags: UInt64(CXDP_BPF_ANY)) != 0 {
            state.deleteFlow(replyKey)
            state.count(XDPFWD_STAT_DROP_FLOW_TABLE)
            return .drop
        }
        state.count(XDPFWD_STAT_FLOW_NEW)
        return send(packet, forward, ingress: ingress, state: &state)
    }
}
