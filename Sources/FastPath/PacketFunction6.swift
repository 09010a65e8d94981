import CXDP

/// xdpfwd_process6 of bpf/forward6.h (the program xdpfwd_xdp6, which the
/// IPv4 entry point tail-calls for an IPv6 ethertype), in Swift. The
/// caller, PacketFunction, counts the verdict as xdpfwd_xdp6 does.
enum PacketFunction6 {
    /// `ip`: where the IPv6 header starts, behind `vlanTags` tags.
    @inline(__always)
    static func process<S: DataPlaneState>(_ frame: Frame, ip: Int, vlanTags: UInt8, ingress: UInt32, state: inout S) -> Verdict {
        let proto: UInt8, l4: Int, l4Length: Int
        switch Parsing6.parse(frame, ip: ip) {
        case .malformed: return PacketFunction.passed(XDPFWD_STAT_PASS_MALFORMED, &state)
        case .unparsed: return PacketFunction.passed(XDPFWD_STAT_PASS_IPV6_EXTHDR, &state)
        case let .upper(next, offset, length): (proto, l4, l4Length) = (next, offset, length)
        }
        // Fragment policy (docs/architecture.md): the stack's.
        if proto == Wire6.fragment { return PacketFunction.passed(XDPFWD_STAT_PASS_FRAGMENT, &state) }

        let length = frame.length
        var tcpFlags: UInt8 = 0
        if proto == Wire.tcp {
            guard l4 + 20 <= length else { return PacketFunction.passed(XDPFWD_STAT_PASS_MALFORMED, &state) }
            let headerLength = Int(frame.u8(l4 + 12) >> 4) * 4
            guard headerLength >= 20, headerLength <= l4Length else { return PacketFunction.passed(XDPFWD_STAT_PASS_MALFORMED, &state) }
            tcpFlags = frame.u8(l4 + 13)
        } else if proto == Wire.udp {
            guard l4 + 8 <= length, l4Length >= 8 else { return PacketFunction.passed(XDPFWD_STAT_PASS_MALFORMED, &state) }
            let udpLength = Int(frame.be16(l4 + 4))
            guard udpLength >= 8, udpLength <= l4Length else { return PacketFunction.passed(XDPFWD_STAT_PASS_MALFORMED, &state) }
        } else if proto == Wire6.icmp6 {
            // Errors about our flows are translated; the rest (echo,
            // neighbour discovery, ...) is the stack's.
            return ICMPError6.translate(frame, ip: ip, icmp: l4, vlanTags: vlanTags, ingress: ingress, state: &state)
        } else {
            return PacketFunction.passed(XDPFWD_STAT_PASS_NOT_TCP_UDP, &state)
        }

        let packet = PacketInfo6(frame: frame, ip: ip, l4: l4, proto: proto, tcpFlags: tcpFlags, len: UInt64(length),
                                 vlanTags: vlanTags)
        var key = xdpfwd_flow6_key()
        key.saddr = frame.address6(ip + Wire6.source)
        key.daddr = frame.address6(ip + Wire6.destination)
        key.sport = frame.raw16(l4)
        key.dport = frame.raw16(l4 + 2)
        key.proto = proto

        let now = state.now()
        var entry = xdpfwd_flow6()
        var found = state.lookupFlow6(key, &entry)
        if found && tcpFlags & (Wire.tcpSYN | Wire.tcpACK) == Wire.tcpSYN {
            // A client SYN on a known tuple: decide on the map's current
            // state, not a cached copy (as PacketFunction does).
            found = state.reloadFlow6(key, &entry)
        }
        let reuse = found && Conntrack6.tcpReuse(entry, flags: tcpFlags)
        if !found || reuse || !Conntrack6.recent(entry, now: now) {
            let config = state.config()
            if reuse { Conntrack6.delete(key, entry, state: &state) }
            if !found || reuse || !Conntrack6.live(key, entry, now: now, config: config, state: &state) {
                return Forwarding6.newFlow(packet, key: key, expired: found, ingress: ingress, now: now, config: config,
                                           state: &state)
            }
        }
        return Forwarding6.established(packet, key: key, entry: &entry, ingress: ingress, now: now, state: &state)
    }
}
