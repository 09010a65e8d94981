/// Reading IPv6 frames back, and the ICMP/ICMPv6 error messages of both
/// families: builders and from-scratch checksum checks.
extension Packet6 {
    /// Parses a frame with every override explicit, so `decode(b).bytes == b`
    /// for the headers this builder makes (hop-by-hop, routing, destination
    /// options, fragment; TCP, UDP). Anything else stays `.raw`.
    public static func decode(_ bytes: [UInt8]) throws(Packet.DecodeError) -> Packet6 {
        if let (tags, untagged) = Packet.Ethernet.untagged(bytes), !tags.isEmpty {
            var packet = try decode(untagged)
            packet.ethernet.tags = tags
            return packet
        }
        guard bytes.count >= 54 else {
            throw Packet.DecodeError(description: "\(bytes.count) bytes: shorter than Ethernet + IPv6 header (54)")
        }
        let ethernet = Packet.Ethernet(dst: Packet.MAC(Array(bytes[0..<6])), src: Packet.MAC(Array(bytes[6..<12])),
                                       etherType: bytes.be16(at: 12))
        let word = bytes.be32(at: 14)
        let payloadLength = bytes.be16(at: 18)
        var ip = IPv6(trafficClass: UInt8(word >> 20 & 0xFF), flowLabel: word & 0xFFFFF, payloadLength: payloadLength,
                      hopLimit: bytes[21], src: Address(Array(bytes[22..<38])), dst: Address(Array(bytes[38..<54])))
        ip.version = UInt8(word >> 28)
        let end = min(bytes.count, 54 + Int(payloadLength))
        var next = bytes[20]
        var at = 54
        var headers: [ExtensionHeader] = []
        while [0, 43, 60, 44].contains(next), at + 8 <= end {
            let length = next == 44 ? 8 : (Int(bytes[at + 1]) + 1) * 8
            guard at + length <= end else { break }
            headers.append(ExtensionHeader(type: next, body: Array(bytes[(at + 2)..<(at + length)])))
            next = bytes[at]
            at += length
        }
        ip.upperLayer = next
        let l4 = Array(bytes[at..<end])
        var packet = Packet6(ethernet: ethernet, ip: ip, extensionHeaders: headers, transport: .raw, payload: l4,
                             trailer: Array(bytes[end...]))
        let fragmented = headers.contains { $0.type == 44 && ($0.body.be16(at: 0) & 0xFFF8) != 0 }
        guard !fragmented else { return packet }
        switch next {
        case 6 where l4.count >= 20 && Int(l4[12] >> 4) * 4 >= 20 && Int(l4[12] >> 4) * 4 <= l4.count:
            let headerLength = Int(l4[12] >> 4) * 4
            packet.transport = .tcp(Packet.TCP(
                sport: l4.be16(at: 0), dport: l4.be16(at: 2), seq: l4.be32(at: 4), ack: l4.be32(at: 8),
                dataOffset: l4[12] >> 4, reservedBits: l4[12] & 0x0F, flags: Packet.TCPFlags(rawValue: l4[13]),
                window: l4.be16(at: 14), checksum: .value(l4.be16(at: 16)), urgentPointer: l4.be16(at: 18),
                options: Array(l4[20..<headerLength])))
            packet.payload = Array(l4[headerLength...])
        case 17 where l4.count >= 8:
            packet.transport = .udp(Packet.UDP(sport: l4.be16(at: 0), dport: l4.be16(at: 2), length: l4.be16(at: 4),
                                               checksum: .value(l4.be16(at: 6))))
            packet.payload = Array(l4[8...])
        default:
            break
        }
        return packet
    }

    /// TCP, UDP or ICMPv6 checksum problems, each verified from scratch over
    /// the pseudo-header; empty when right. UDP 0 counts as absent.
    public static func checksumErrors(_ bytes: [UInt8]) -> [String] {
        if let (tags, untagged) = Packet.Ethernet.untagged(bytes), !tags.isEmpty { return checksumErrors(untagged) }
        let packet: Packet6
        do { packet = try decode(bytes) } catch { return ["cannot verify: \(error)"] }
        let start = 54 + packet.extensionHeaders.reduce(0) { $0 + 2 + $1.body.count }
        let end = min(bytes.count, 54 + Int(packet.ip.payloadLength ?? 0))
        guard start <= end else { return ["extension headers run past the payload"] }
        var segment = Array(bytes[start..<end])
        let offset: Int
        switch packet.upperLayer {
        case 6: offset = 16
        case 17: offset = 6
        case 58: offset = 2
        default: return []
        }
        guard segment.count >= offset + 2 else { return ["L4 header truncated"] }
        if packet.upperLayer == 17 && segment.be16(at: 6) == 0 { return [] }
        let pseudo = InternetChecksum.sum(pseudoHeader(src: packet.ip.src, dst: packet.ip.dst, upperLayer: packet.upperLayer,
                                                      length: segment.count))
        if InternetChecksum.verifies(segment, initial: pseudo) { return [] }
        let field = segment.be16(at: offset)
        segment.setBE(0, at: offset)
        return ["protocol \(packet.upperLayer) checksum \(hex16(field)), expected \(hex16(InternetChecksum.checksum(segment, initial: pseudo)))"]
    }

    public static func describe(_ bytes: [UInt8]) -> String {
        guard let packet = try? decode(bytes) else { return "undecodable: \(hex(bytes))" }
        var parts = ["eth \(packet.ethernet.src) > \(packet.ethernet.dst)",
                     "ipv6 \(packet.ip.src) > \(packet.ip.dst) hlim \(packet.ip.hopLimit) plen \(packet.ip.payloadLength ?? 0) next \(packet.upperLayer)"]
        if !packet.extensionHeaders.isEmpty { parts.append("ext \(packet.extensionHeaders.map { String($0.type) }.joined(separator: ","))") }
        switch packet.transport {
        case .tcp(let t): parts.append("tcp \(t.sport) > \(t.dport) flags 0x\(hexByte(t.flags.rawValue)) csum \(String(describing: t.checksum))")
        case .udp(let u): parts.append("udp \(u.sport) > \(u.dport)")
        case .raw: break
        }
        parts.append("payload \(packet.payload.count > 48 ? "\(packet.payload.count) bytes" : hex(packet.payload))")
        return parts.joined(separator: " | ")
    }
}

// MARK: - ICMP errors (IPv4)

extension Packet {
    /// The IPv4 packet without Ethernet (and its VLAN tags) and trailer: what an ICMP error quotes.
    public var ipBytes: [UInt8] { Array(bytes.dropFirst(ethernet.bytes.count).dropLast(trailer.count)) }

    /// An ICMP message (type, code, 4 "rest" bytes, then `body`, typically
    /// a quoted packet) with its checksum computed from scratch.
    public static func icmp(
        src: Address, dst: Address, type: UInt8, code: UInt8 = 0, rest: UInt32 = 0, body: [UInt8], ttl: UInt8 = 64,
        srcMAC: MAC = .client, dstMAC: MAC = .forwarder
    ) -> Packet {
        var message: [UInt8] = [type, code, 0, 0]
        message.appendBE(rest)
        message += body
        message.setBE(InternetChecksum.checksum(message), at: 2)
        return Packet(ethernet: Ethernet(dst: dstMAC, src: srcMAC),
                      ip: IPv4(ttl: ttl, protocol: 1, src: src, dst: dst), transport: .raw, payload: message)
    }
}

/// Checks of an ICMP or ICMPv6 error frame, all from scratch: the outer
/// IPv4 header checksum, the ICMP checksum (ICMPv6: with its pseudo-header)
/// and the quoted IPv4 header's checksum. Empty when all are right.
public enum ICMPCheck {
    public static func errors(_ frame: [UInt8]) -> [String] {
        guard frame.count >= 14 else { return ["frame too short"] }
        if frame.be16(at: 12) == 0x86DD { return Packet6.checksumErrors(frame) }
        guard frame.count >= 34 else { return ["frame too short"] }
        var errors: [String] = []
        let ihl = Int(frame[14] & 0x0F) * 4
        let total = Int(frame.be16(at: 16))
        guard 14 + total <= frame.count, ihl >= 20, total >= ihl + 8 else { return ["bad IPv4 lengths"] }
        if !InternetChecksum.verifies(frame[14..<(14 + ihl)]) { errors.append("outer IPv4 header checksum") }
        let message = Array(frame[(14 + ihl)..<(14 + total)])
        if !InternetChecksum.verifies(message) { errors.append("ICMP checksum") }
        let quote = Array(message.dropFirst(8))
        if quote.count >= 20 {
            let qihl = Int(quote[0] & 0x0F) * 4
            if qihl >= 20 && qihl <= quote.count && !InternetChecksum.verifies(quote[0..<qihl]) {
                errors.append("quoted IPv4 header checksum")
            }
        }
        return errors
    }
}
