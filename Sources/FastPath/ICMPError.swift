import CXDP

/// icmp4_error of bpf/icmp.h: an ICMP error (unreachable, time exceeded,
/// parameter problem) that quotes a packet of one of our flows is
/// translated like the flow's packets: the quote's tuple and the outer
/// header, with every checksum updated incrementally, then sent along the
/// entry's next hop. Everything else is the stack's.
enum ICMPError {
    @inline(__always)
    static func isError(_ type: UInt8) -> Bool { type == 3 || type == 11 || type == 12 }

    /// `icmp` is the offset of the ICMP header (not yet bounds-checked);
    /// `vlanTags` the tags the frame arrived with.
    static func translate<S: DataPlaneState>(_ frame: Frame, ip: Int, icmp: Int, vlanTags: UInt8, ingress: UInt32,
                                             state: inout S) -> Verdict {
        let length = frame.length
        let messageLength = Int(frame.be16(ip + 2))
        guard icmp + 8 <= length, isError(frame.u8(icmp)) else {
            return PacketFunction.passed(XDPFWD_STAT_PASS_NOT_TCP_UDP, &state)
        }
        let q = icmp + 8
        guard q + 20 <= length else { return PacketFunction.passed(XDPFWD_STAT_PASS_NOT_TCP_UDP, &state) }
        let quotedVersionIHL = frame.u8(q), quotedProto = frame.u8(q + 9)
        guard quotedVersionIHL >> 4 == 4, quotedVersionIHL & 0xF >= 5, quotedProto == Wire.tcp || quotedProto == Wire.udp,
              frame.raw16(q + 6) & UInt16(0x1FFF).bigEndian == 0 else {
            return PacketFunction.passed(XDPFWD_STAT_PASS_NOT_TCP_UDP, &state)
        }
        let qp = q + Int(quotedVersionIHL & 0xF) * 4
        guard qp + 4 <= length, qp + 4 - ip <= messageLength, frame.raw32(ip + 16) == frame.raw32(q + 12) else {
            return PacketFunction.passed(XDPFWD_STAT_PASS_NOT_TCP_UDP, &state)
        }
        var key = xdpfwd_flow_key()
        key.saddr = frame.raw32(q + 16)
        key.daddr = frame.raw32(q + 12)
        key.sport = frame.raw16(qp + 2)
        key.dport = frame.raw16(qp)
        key.proto = quotedProto
        let now = state.now()
        let config = state.config()
        var entry = xdpfwd_flow()
        guard state.lookupFlow(key, &entry), Conntrack.live(key, entry, now: now, config: config, state: &state) else {
            return PacketFunction.passed(XDPFWD_STAT_PASS_NOT_TCP_UDP, &state)
        }
        guard frame.u8(ip + 8) > 1 else { return PacketFunction.passed(XDPFWD_STAT_PASS_TTL, &state) }
        let packet = PacketInfo(frame: frame, ip: ip, l4: icmp, proto: 1, tcpFlags: 0, len: 0, vlanTags: vlanTags)
        // The cached next hop, unless the flow was idle past the touch interval.
        let stale = !Conntrack.recent(entry, now: now)
        let lookUp = NextHop.needsLookup(entry, stale: stale)
        if let verdict = NextHop.refresh(packet, &entry, ingress: ingress, stale: stale, state: &state) { return verdict }
        var changes = Forwarding.Changes()
        changes.nextHop = lookUp
        Forwarding.writeBack(key, entry, changes, &state)

        // The quote: source becomes the peer's, destination ours.
        let newSource = entry.new_daddr, newDestination = entry.new_saddr
        var l4sum = Checksum.subAdd32(0, frame.raw32(q + 12), newSource)
        l4sum = Checksum.subAdd32(l4sum, frame.raw32(q + 16), newDestination)
        l4sum = Checksum.subAdd16(l4sum, frame.raw16(qp), entry.new_dport)
        l4sum = Checksum.subAdd16(l4sum, frame.raw16(qp + 2), entry.new_sport)
        // The ICMP checksum covers every quoted word that changes.
        var sum = Checksum.begin(frame.raw16(icmp + 2)) &+ l4sum

        let quotedSum = Checksum.subAdd32(Checksum.begin(frame.raw16(q + 10)), frame.raw32(q + 12), newSource)
        let quotedCheck = Checksum.finish(Checksum.subAdd32(quotedSum, frame.raw32(q + 16), newDestination))
        sum = Checksum.subAdd16(sum, frame.raw16(q + 10), quotedCheck)
        frame.setRaw16(q + 10, quotedCheck)

        // The quoted TCP/UDP checksum, when the quote holds it (and UDP's is not "none").
        let offset = quotedProto == Wire.tcp ? 16 : 6
        let room = messageLength - (qp - ip)
        if qp + offset + 2 <= length, offset + 2 <= room, !(quotedProto == Wire.udp && frame.raw16(qp + offset) == 0) {
            let old = frame.raw16(qp + offset)
            var updated = Checksum.finish(Checksum.begin(old) &+ Checksum.fold(l4sum))
            if quotedProto == Wire.udp && updated == 0 { updated = 0xFFFF }
            sum = Checksum.subAdd16(sum, old, updated)
            frame.setRaw16(qp + offset, updated)
        }
        frame.setRaw32(q + 12, newSource)
        frame.setRaw32(q + 16, newDestination)
        frame.setRaw16(qp, entry.new_dport)
        frame.setRaw16(qp + 2, entry.new_sport)
        frame.setRaw16(icmp + 2, Checksum.finish(Checksum.fold(sum)))

        // The outer header: from our address to the peer, one hop less.
        sum = Checksum.begin(frame.raw16(ip + 10))
        sum = Checksum.subAdd32(sum, frame.raw32(ip + 12), entry.new_saddr)
        sum = Checksum.subAdd32(sum, frame.raw32(ip + 16), entry.new_daddr)
        let oldWord = frame.raw16(ip + 8)
        frame.setU8(ip + 8, frame.u8(ip + 8) &- 1)
        sum = Checksum.subAdd16(sum, oldWord, frame.raw16(ip + 8))
        frame.setRaw16(ip + 10, Checksum.finish(Checksum.fold(sum)))
        frame.setRaw32(ip + 12, entry.new_saddr)
        frame.setRaw32(ip + 16, entry.new_daddr)

        state.count(XDPFWD_STAT_ICMP_TRANSLATED)
        return NextHop.egress(frame, entry, tagsIn: vlanTags, l3Proto: Wire.etherTypeIPv4Raw, ingress: ingress, state: &state)
    }
}
