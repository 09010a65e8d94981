extension Packet {
    /// The frame: Ethernet, IPv4, TCP/UDP, payload, trailer.
    public var bytes: [UInt8] {
        let ipOptions = Self.paddedToWords(ip.options)
        let ipHeaderLength = 20 + ipOptions.count
        let l4 = transportBytes()

        var frame: [UInt8] = ethernet.bytes

        let ipStart = frame.count
        let ihl = ip.ihl ?? UInt8(ipHeaderLength / 4)
        frame.append(ip.version << 4 | ihl & 0x0F)
        frame.append(ip.tos)
        frame.appendBE(ip.totalLength ?? UInt16(truncatingIfNeeded: ipHeaderLength + l4.count))
        frame.appendBE(ip.id)
        frame.appendBE(UInt16(ip.flags.rawValue & 0x7) << 13 | ip.fragmentOffset & 0x1FFF)
        frame.append(ip.ttl)
        frame.append(ipProtocol)
        frame.appendBE(UInt16(0))
        frame.appendBE(ip.src.value)
        frame.appendBE(ip.dst.value)
        frame += ipOptions
        let computed = InternetChecksum.checksum(frame[ipStart...])
        frame.setBE(Self.fill(ip.checksum, computed: computed), at: ipStart + 10)

        frame += l4
        frame += trailer
        return frame
    }

    /// The IPv4 protocol field as emitted.
    public var ipProtocol: UInt8 {
        if let value = ip.protocol { return value }
        switch transport {
        case .tcp: return 6
        case .udp: return 17
        case .raw: return 255
        }
    }

    /// L4 header and payload, checksum filled in over the pseudo-header
    /// (with the emitted L4 length, not any overridden length field).
    private func transportBytes() -> [UInt8] {
        var segment: [UInt8] = []
        let checksumOffset: Int
        let checksum: Checksum
        switch transport {
        case .raw:
            return payload
        case .tcp(let tcp):
            let options = Self.paddedToWords(tcp.options)
            segment.appendBE(tcp.sport)
            segment.appendBE(tcp.dport)
            segment.appendBE(tcp.seq)
            segment.appendBE(tcp.ack)
            segment.append((tcp.dataOffset ?? UInt8((20 + options.count) / 4)) << 4 | tcp.reservedBits & 0x0F)
            segment.append(tcp.flags.rawValue)
            segment.appendBE(tcp.window)
            segment.appendBE(UInt16(0))
            segment.appendBE(tcp.urgentPointer)
            segment += options
            (checksumOffset, checksum) = (16, tcp.checksum)
        case .udp(let udp):
            segment.appendBE(udp.sport)
            segment.appendBE(udp.dport)
            segment.appendBE(udp.length ?? UInt16(truncatingIfNeeded: 8 + payload.count))
            segment.appendBE(UInt16(0))
            (checksumOffset, checksum) = (6, udp.checksum)
        }
        segment += payload
        let pseudo = InternetChecksum.pseudoHeader(
            src: ip.src.value, dst: ip.dst.value, protocol: ipProtocol, length: segment.count)
        var computed = InternetChecksum.checksum(segment, initial: InternetChecksum.sum(pseudo))
        // RFC 768: a computed UDP checksum of 0 is sent as all ones; 0 means "none".
        if case .udp = transport, computed == 0 { computed = 0xFFFF }
        segment.setBE(Self.fill(checksum, computed: computed), at: checksumOffset)
        return segment
    }

    private static func fill(_ checksum: Checksum, computed: UInt16) -> UInt16 {
        switch checksum {
        case .computed: computed
        case .value(let value): value
        // Flipping 0x0101 never yields an equivalent value (0x0000 and 0xFFFF
        // differ in every bit) and yields 0 only from 0x0101.
        case .corrupted: computed == 0x0101 ? computed ^ 0x0202 : computed ^ 0x0101
        }
    }

    private static func paddedToWords(_ bytes: [UInt8]) -> [UInt8] {
        bytes + Array(repeating: 0, count: (4 - bytes.count % 4) % 4)
    }
}
