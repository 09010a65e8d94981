import CXDP

/// bpf/nat6.h: rewrite an IPv6 packet's tuple to an entry's new_* fields.
/// No header checksum; the TCP/UDP checksum change over the pseudo-header
/// is the entry's csum_delta, computed once at flow creation.
enum NAT6 {
    /// csum_sub_add128: a 16-byte address changing from old to new.
    @inline(__always)
    static func subAdd128(_ sum: UInt32, _ old: Address6, _ new: Address6) -> UInt32 {
        var sum = Checksum.subAdd32(sum, old.0, new.0)
        sum = Checksum.subAdd32(sum, old.1, new.1)
        sum = Checksum.subAdd32(sum, old.2, new.2)
        return Checksum.subAdd32(sum, old.3, new.3)
    }

    /// nat6_csum_delta: the L4 checksum change of rewriting key's tuple
    /// into the entry's new tuple.
    static func checksumDelta(_ key: xdpfwd_flow6_key, _ flow: xdpfwd_flow6) -> UInt32 {
        var sum = subAdd128(0, key.saddr, flow.new_saddr)
        sum = subAdd128(sum, key.daddr, flow.new_daddr)
        sum = Checksum.subAdd16(sum, key.sport, flow.new_sport)
        sum = Checksum.subAdd16(sum, key.dport, flow.new_dport)
        return Checksum.fold(sum)
    }

    /// nat6_rewrite; the caller checked hop limit > 1.
    @inline(__always)
    static func rewrite(_ packet: PacketInfo6, _ flow: xdpfwd_flow6) {
        let frame = packet.frame, ip = packet.ip, l4 = packet.l4
        if packet.proto == Wire.tcp {
            frame.setRaw16(l4 + 16, Checksum.finish(Checksum.begin(frame.raw16(l4 + 16)) &+ flow.csum_delta))
        } else {
            let check = frame.raw16(l4 + 6)
            // Zero (illegal over IPv6 but for tunnels) stays zero.
            if check != 0 {
                let result = Checksum.finish(Checksum.begin(check) &+ flow.csum_delta)
                // A computed zero is sent as 0xFFFF (RFC 768).
                frame.setRaw16(l4 + 6, result != 0 ? result : 0xFFFF)
            }
        }
        frame.setRaw16(l4, flow.new_sport)
        frame.setRaw16(l4 + 2, flow.new_dport)
        frame.setAddress6(ip + Wire6.source, flow.new_saddr)
        frame.setAddress6(ip + Wire6.destination, flow.new_daddr)
        frame.setU8(ip + Wire6.hopLimit, frame.u8(ip + Wire6.hopLimit) &- 1)
    }
}
