import CXDP

/// parse_ip6hdr of bpf/parsing6.h: the fixed header and the bounded walk
/// over the extension headers the XDP program skips.
enum Parsing6 {
    /// What parse_ip6hdr returns besides an upper-layer protocol.
    enum Outcome {
        /// The upper-layer protocol (or IPPROTO_FRAGMENT), its offset and
        /// what remains of the payload there.
        case upper(proto: UInt8, offset: Int, length: Int)
        /// A header the XDP program leaves to the kernel (XDPFWD_EXTHDR_UNPARSED).
        case unparsed
        /// Truncated or invalid (-1).
        case malformed
    }

    /// `ip` is the offset of the IPv6 header.
    @inline(__always)
    static func parse(_ frame: Frame, ip: Int) -> Outcome {
        let length = frame.length
        guard ip + Wire6.header <= length, frame.u8(ip) >> 4 == 6 else { return .malformed }
        var payload = Int(frame.be16(ip + Wire6.payloadLength))
        // Payload length 0 (a jumbogram) is refused.
        guard payload != 0, ip + Wire6.header + payload <= length else { return .malformed }
        var offset = ip + Wire6.header
        var next = frame.u8(ip + Wire6.nextHeader)
        var index = 0
        while index <= Int(XDPFWD_MAX_EXTHDRS) {
            switch next {
            case Wire6.routing, Wire6.hopByHop, Wire6.destinationOptions:
                if index == Int(XDPFWD_MAX_EXTHDRS) { return .unparsed }
                // struct ip6_ext_hdr: next header, length, routing type, segments left.
                guard offset + 4 <= length else { return .malformed }
                // A routing header still in transit: not for us to skip.
                if next == Wire6.routing && frame.u8(offset + 3) != 0 { return .unparsed }
                let headerLength = (Int(frame.u8(offset + 1)) + 1) * 8
                guard headerLength <= payload else { return .malformed }
                payload -= headerLength
                next = frame.u8(offset)
                offset += headerLength
            case Wire6.authentication, Wire6.mobility, 139, 140, 253, 254:
                // AH, mobility, HIP, Shim6, experimental.
                return .unparsed
            default:
                return .upper(proto: next, offset: offset, length: payload)
            }
            index += 1
        }
        return .unparsed
    }
}
