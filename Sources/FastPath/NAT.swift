import CXDP

/// bpf/nat.h: rewrite the tuple to the entry's new_* fields, update the
/// checksums incrementally and decrement the TTL. The caller checked TTL > 1.
enum NAT {
    @inline(__always)
    static func l4Diff(_ sum: UInt32, _ frame: Frame, ip: Int, sport: UInt16, dport: UInt16, _ flow: xdpfwd_flow) -> UInt32 {
        var sum = Checksum.subAdd32(sum, frame.raw32(ip + 12), flow.new_saddr)
        sum = Checksum.subAdd32(sum, frame.raw32(ip + 16), flow.new_daddr)
        sum = Checksum.subAdd16(sum, sport, flow.new_sport)
        return Checksum.subAdd16(sum, dport, flow.new_dport)
    }

    @inline(__always)
    static func rewrite(_ packet: PacketInfo, _ flow: xdpfwd_flow) {
        let frame = packet.frame, ip = packet.ip, l4 = packet.l4
        let sport = frame.raw16(l4), dport = frame.raw16(l4 + 2)
        if packet.proto == Wire.tcp {
            let sum = l4Diff(Checksum.begin(frame.raw16(l4 + 16)), frame, ip: ip, sport: sport, dport: dport, flow)
            frame.setRaw16(l4 + 16, Checksum.finish(sum))
        } else {
            let check = frame.raw16(l4 + 6)
            // A zero UDP checksum means "none" and stays zero.
            if check != 0 {
                let sum = l4Diff(Checksum.begin(check), frame, ip: ip, sport: sport, dport: dport, flow)
                let result = Checksum.finish(sum)
                // A computed zero is sent as 0xFFFF (RFC 768).
                frame.setRaw16(l4 + 6, result != 0 ? result : 0xFFFF)
            }
        }
        frame.setRaw16(l4, flow.new_sport)
        frame.setRaw16(l4 + 2, flow.new_dport)

        var sum = Checksum.begin(frame.raw16(ip + 10))
        sum = Checksum.subAdd32(sum, frame.raw32(ip + 12), flow.new_saddr)
        sum = Checksum.subAdd32(sum, frame.raw32(ip + 16), flow.new_daddr)
        let oldWord = frame.raw16(ip + 8)  // TTL and protocol share a word
        frame.setU8(ip + 8, frame.u8(ip + 8) &- 1)
        sum = Checksum.subAdd16(sum, oldWord, frame.raw16(ip + 8))
        frame.setRaw16(ip + 10, Checksum.finish(sum))
        frame.setRaw32(ip + 12, flow.new_saddr)
        frame.setRaw32(ip + 16, flow.new_daddr)
    }
}
