import CXDP

/// icmp6_error of bpf/icmp.h: an ICMPv6 error (unreachable, packet too big,
/// time exceeded, parameter problem) quoting a packet of one of our flows
/// right after the quoted IPv6 header is translated like the flow's
/// packets: the quote's tuple, the outer addresses and hop limit, the
/// quoted TCP/UDP checksum when quoted, and the ICMPv6 checksum with its
/// pseudo-header. Everything else is the stack's.
enum ICMPError6 {
    @inline(__always)
    static func isError(_ type: UInt8) -> Bool { type >= 1 && type <= 4 }

    /// `icmp` is the offset of the ICMPv6 header (not yet bounds-checked);
    /// `vlanTags` the tags the frame arrived with.
    static func translate<S: DataPlaneState>(_ frame: Frame, ip: Int, icmp: Int, vlanTags: UInt8, ingress: UInt32,
                                             state: inout S) -> Verdict {
        let length = frame.length
        // Message bytes from the IPv6 header on; the parser checked they are in the frame.
        let messageLength = Wire6.header + Int(frame.be16(ip + Wire6.payloadLength))
        guard icmp + 8 <= length, isError(frame.u8(icmp)) else {
            return PacketFunction.passed(XDPFWD_STAT_PASS_NOT_TCP_UDP, &state)
        }
        let q = icmp + 8, qp = q + Wire6.header
        let quotedProto = frame.u8(q + Wire6.nextHeader)
        // A quoted TCP/UDP header right after the quoted IPv6 header, and
        // the error addressed to the quoted packet's sender.
        guard qp + 4 <= length, qp + 4 - ip <= messageLength, quotedProto == Wire.tcp || quotedProto == Wire.udp,
              Wire6.equal(frame.address6(ip + Wire6.destination), frame.address6(q + Wire6.source)) else {
            return PacketFunction.passed(XDPFWD_STAT_PASS_NOT_TCP_UDP, &state)
        }
        var key = xdpfwd_flow6_key()
        key.saddr = frame.address6(q + Wire6.destination)
        key.daddr = frame.address6(q + Wire6.source)
        key.sport = frame.raw16(qp + 2)
        key.dport = frame.raw16(qp)
        key.proto = quotedProto
        let now = state.now()
        let config = state.config()
        var entry = xdpfwd_flow6()
        guard state.lookupFlow6(key, &entry), Conntrack6.live(key, entry, now: now, config: config, state: &state) else {
            return PacketFunction.passed(XDPFWD_STAT_PASS_NOT_TCP_UDP, &state)
        }
        guard frame.u8(ip + Wire6.hopLimit) > 1 else { return PacketFunction.passed(XDPFWD_STAT_PASS_TTL, &state) }
        // The cached next hop, unless the flow was idle past the touch interval.
        let stale = !Conntrack6.recent(entry, now: now)
        let lookUp = NextHop6.needsLookup(entry, stale: stale)
        if let verdict = NextHop6.refresh(frame, ip: ip, proto: Wire6.icmp6, &entry, ingress: ingress, stale: stale, state: &state) {
            return verdict
        }
        var changes = Forwarding.Changes()
        changes.nextHop = lookUp
        Forwarding6.writeBack(key, entry, changes, &state)

        // The quote: source becomes the peer's, destination ours.
        var l4sum = NAT6.subAdd128(0, frame.address6(q + Wire6.source), entry.new_daddr)
        l4sum = NAT6.subAdd128(l4sum, frame.address6(q + Wire6.destination), entry.new_saddr)
        l4sum = Checksum.subAdd16(l4sum, frame.raw16(qp), entry.new_dport)
        l4sum = Checksum.subAdd16(l4sum, frame.raw16(qp + 2), entry.new_sport)
        l4sum = Checksum.fold(l4sum)
        // ICMPv6: the pseudo-header's addresses and every changed quoted word.
        var sum = NAT6.subAdd128(Checksum.begin(frame.raw16(icmp + 2)) &+ l4sum, frame.address6(ip + Wire6.source), entry.new_saddr)
        sum = NAT6.subAdd128(sum, frame.address6(ip + Wire6.destination), entry.new_daddr)

        // The quoted TCP/UDP checksum, when the quote holds it (and UDP's is not "none").
        let offset = quotedProto == Wire.tcp ? 16 : 6
        let room = messageLength - (qp - ip)
        if qp + offset + 2 <= length, offset + 2 <= room, !(quotedProto == Wire.udp && frame.raw16(qp + offset) == 0) {
            let old = frame.raw16(qp + offset)
            var updated = Checksum.finish(Checksum.begin(old) &+ l4sum)
            if quotedProto == Wire.udp && updated == 0 { updated = 0xFFFF }
            sum = Checksum.subAdd16(sum, old, updated)
            frame.setRaw16(qp + offset, updated)
        }
        frame.setAddress6(q + Wire6.source, entry.new_daddr)
        frame.setAddress6(q + Wire6.destination, entry.new_saddr)
        frame.setRaw16(qp, entry.new_dport)
        frame.setRaw16(qp + 2, entry.new_sport)
        frame.setRaw16(icmp + 2, Checksum.finish(Checksum.fold(sum)))

        // The outer header: from our address to the peer, one hop less.
        frame.setAddress6(ip + Wire6.source, entry.new_saddr)
        frame.setAddress6(ip + Wire6.destination, entry.new_daddr)
        frame.setU8(ip + Wire6.hopLimit, frame.u8(ip + Wire6.hopLimit) &- 1)

        state.count(XDPFWD_STAT_ICMP_TRANSLATED)
        return NextHop6.egress(frame, entry, tagsIn: vlanTags, ingress: ingress, state: &state)
    }
}
