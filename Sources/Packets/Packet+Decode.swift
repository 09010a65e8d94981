/// Reading frames back, for readable assertions and for checking what the
/// data plane emitted.
extension Packet {
    public struct DecodeError: Error, Equatable, CustomStringConvertible {
        public var description: String
    }

    /// Parses a frame into a packet with every override explicit (lengths,
    /// ihl, data offset, protocol, checksums as `.value`), so that
    /// `decode(bytes).bytes == bytes`. A TCP or UDP header that does not fit
    /// becomes `.raw`. Throws only when Ethernet or the IPv4 header itself
    /// does not fit.
    public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> Packet {
        guard let (ethernet, ipStart) = Ethernet.decode(bytes), bytes.count >= ipStart + 20 else {
            throw DecodeError(description: "\(bytes.count) bytes: shorter than Ethernet (with its VLAN tags) + IPv4 header")
        }
        let ihl = bytes[ipStart] & 0x0F
        let ipHeaderLength = max(20, Int(ihl) * 4)
        guard ipStart + ipHeaderLength <= bytes.count else {
            throw DecodeError(description: "ihl \(ihl) needs \(ipHeaderLength) header bytes, frame has \(bytes.count - ipStart)")
        }
        let totalLength = bytes.be16(at: ipStart + 2)
        let flagsAndOffset = bytes.be16(at: ipStart + 6)
        let ip = IPv4(
            version: bytes[ipStart] >> 4, ihl: ihl, tos: bytes[ipStart + 1], totalLength: totalLength,
            id: bytes.be16(at: ipStart + 4), flags: IPv4Flags(rawValue: UInt8(flagsAndOffset >> 13)),
            fragmentOffset: flagsAndOffset & 0x1FFF, ttl: bytes[ipStart + 8], protocol: bytes[ipStart + 9],
            checksum: .value(bytes.be16(at: ipStart + 10)),
            src: Address(bytes.be32(at: ipStart + 12)), dst: Address(bytes.be32(at: ipStart + 16)),
            options: Array(bytes[(ipStart + 20)..<(ipStart + ipHeaderLength)]))

        let l4Start = ipStart + ipHeaderLength
        let l4End = min(max(ipStart + Int(totalLength), l4Start), bytes.count)
        let l4 = Array(bytes[l4Start..<l4End])
        var packet = Packet(ethernet: ethernet, ip: ip, transport: .raw, payload: l4, trailer: Array(bytes[l4End...]))
        // A non-first fragment carries no L4 header.
        guard ip.fragmentOffset == 0 else { return packet }

        switch ip.protocol {
        case 6 where l4.count >= 20:
            let dataOffset = l4[12] >> 4
            let headerLength = max(20, Int(dataOffset) * 4)
            guard headerLength <= l4.count else { break }
            packet.transport = .tcp(TCP(
                sport: l4.be16(at: 0), dport: l4.be16(at: 2), seq: l4.be32(at: 4), ack: l4.be32(at: 8),
                dataOffset: dataOffset, reservedBits: l4[12] & 0x0F, flags: TCPFlags(rawValue: l4[13]),
                window: l4.be16(at: 14), checksum: .value(l4.be16(at: 16)), urgentPointer: l4.be16(at: 18),
                options: Array(l4[20..<headerLength])))
            packet.payload = Array(l4[headerLength...])
        case 17 where l4.count >= 8:
            packet.transport = .udp(UDP(
                sport: l4.be16(at: 0), dport: l4.be16(at: 2), length: l4.be16(at: 4), checksum: .value(l4.be16(at: 6))))
            packet.payload = Array(l4[8...])
        default:
            break
        }
        return packet
    }

    /// One line describing a frame, decoded if possible, else a hex dump.
    /// Compare `describe(actual)` with `describe(expected.bytes)` for a
    /// failure message that shows which field differs.
    public static func describe(_ bytes: [UInt8]) -> String {
        do {
            return try decode(bytes).fieldsDescription
        } catch {
            return "undecodable (\(error)): \(hex(bytes))"
        }
    }

    /// Problems with the IPv4 header checksum and the TCP/UDP checksum,
    /// each verified from scratch; empty when both are right. UDP checksum 0
    /// means none. Fragments get only the IPv4 check. The L4 checksum covers
    /// tot_len's span for TCP and the UDP length field's span for UDP, as
    /// Linux does.
    public static func checksumErrors(_ bytes: [UInt8]) -> [String] {
        let packet: Packet
        do {
            packet = try decode(bytes)
        } catch {
            return ["cannot verify: \(error)"]
        }
        var errors: [String] = []
        let ipStart = Ethernet.decode(bytes)?.length ?? 14
        let ipEnd = ipStart + max(20, Int(packet.ip.ihl ?? 5) * 4)
        if !InternetChecksum.verifies(bytes[ipStart..<ipEnd]) {
            let field = bytes.be16(at: ipStart + 10)
            var zeroed = Array(bytes[ipStart..<ipEnd])
            zeroed.setBE(0, at: 10)
            errors.append("IPv4 checksum \(hex16(field)), expected \(hex16(InternetChecksum.checksum(zeroed)))")
        }
        if packet.ip.flags.contains(.moreFragments) || packet.ip.fragmentOffset != 0 { return errors }

        // Chosen by the protocol field and read from the raw segment, not from
        // the decoded header: a broken data offset must not hide a bad sum.
        let ipPayloadEnd = min(bytes.count, ipStart + Int(packet.ip.totalLength ?? 0))
        let l4Length: Int
        let checksumOffset: Int
        let name: String
        switch packet.ipProtocol {
        case 6:
            (name, checksumOffset) = ("TCP", 16)
            l4Length = Int(packet.ip.totalLength ?? 0) - (ipEnd - ipStart)
            if l4Length < 20 { return errors + ["TCP length \(l4Length) is shorter than its header"] }
        case 17:
            (name, checksumOffset) = ("UDP", 6)
            guard ipEnd + 8 <= ipPayloadEnd else { return errors + ["UDP header runs past the packet"] }
            if bytes.be16(at: ipEnd + 6) == 0 { return errors }  // no checksum
            l4Length = Int(bytes.be16(at: ipEnd + 4))
            if l4Length < 8 { return errors + ["UDP length \(l4Length) is shorter than its header"] }
        default:
            return errors
        }
        guard ipEnd + l4Length <= ipPayloadEnd else {
            return errors + ["\(name) length \(l4Length) runs past the packet"]
        }
        var segment = Array(bytes[ipEnd..<(ipEnd + l4Length)])
        let pseudo = InternetChecksum.pseudoHeader(
            src: packet.ip.src.value, dst: packet.ip.dst.value, protocol: packet.ipProtocol, length: l4Length)
        if !InternetChecksum.verifies(segment, initial: InternetChecksum.sum(pseudo)) {
            let field = segment.be16(at: checksumOffset)
            segment.setBE(0, at: checksumOffset)
            let expected = InternetChecksum.checksum(segment, initial: InternetChecksum.sum(pseudo))
            errors.append("\(name) checksum \(hex16(field)), expected \(hex16(expected))")
        }
        return errors
    }

    /// True when the IPv4 header checksum and the TCP/UDP checksum are right.
    public static func checksumsValid(_ bytes: [UInt8]) -> Bool {
        checksumErrors(bytes).isEmpty
    }
}

// MARK: - Description

extension Packet: CustomStringConvertible {
    /// The description of the emitted bytes, with computed fields filled in.
    public var description: String { Packet.describe(bytes) }

    /// Every field, assuming overrides are explicit (as after `decode`).
    private var fieldsDescription: String {
        var parts: [String] = []
        let tags = ethernet.tags.map { " [\($0)]" }.joined()
        parts.append("eth \(ethernet.src) > \(ethernet.dst)\(tags) type 0x\(hex16(ethernet.etherType).dropFirst(2))")
        var flags: [String] = []
        if ip.flags.contains(.reserved) { flags.append("RES") }
        if ip.flags.contains(.dontFragment) { flags.append("DF") }
        if ip.flags.contains(.moreFragments) { flags.append("MF") }
        var ipPart = "ipv\(ip.version) \(ip.src) > \(ip.dst) ihl \(ip.ihl.map(String.init) ?? "auto")"
        ipPart += " tos \(ip.tos) len \(ip.totalLength.map(String.init) ?? "auto") id \(ip.id)"
        ipPart += " flags [\(flags.joined(separator: ","))] off \(ip.fragmentOffset) ttl \(ip.ttl)"
        ipPart += " proto \(ipProtocol) csum \(Self.describe(ip.checksum))"
        if !ip.options.isEmpty { ipPart += " options \(hex(ip.options))" }
        parts.append(ipPart)
        switch transport {
        case .tcp(let tcp):
            let names: [(TCPFlags, String)] = [
                (.fin, "F"), (.syn, "S"), (.rst, "R"), (.psh, "P"), (.ack, "A"), (.urg, "U"), (.ece, "E"), (.cwr, "C"),
            ]
            let flagString = names.filter { tcp.flags.contains($0.0) }.map(\.1).joined()
            var tcpPart = "tcp \(tcp.sport) > \(tcp.dport) [\(flagString)] seq \(tcp.seq) ack \(tcp.ack)"
            tcpPart += " win \(tcp.window) doff \(tcp.dataOffset.map(String.init) ?? "auto")"
            tcpPart += " csum \(Self.describe(tcp.checksum))"
            if tcp.reservedBits != 0 { tcpPart += " res \(tcp.reservedBits)" }
            if tcp.urgentPointer != 0 { tcpPart += " urp \(tcp.urgentPointer)" }
            if !tcp.options.isEmpty { tcpPart += " options \(hex(tcp.options))" }
            parts.append(tcpPart)
        case .udp(let udp):
            parts.append(
                "udp \(udp.sport) > \(udp.dport) len \(udp.length.map(String.init) ?? "auto") csum \(Self.describe(udp.checksum))")
        case .raw:
            break
        }
        parts.append("payload \(payload.count > 32 ? "\(payload.count) bytes" : hex(payload))")
        if !trailer.isEmpty { parts.append("trailer \(trailer.count > 32 ? "\(trailer.count) bytes" : hex(trailer))") }
        return parts.joined(separator: " | ")
    }

    private static func describe(_ checksum: Checksum) -> String {
        switch checksum {
        case .computed: "computed"
        case .corrupted: "corrupted"
        case .value(let value): hex16(value)
        }
    }
}

public func hex(_ bytes: [UInt8]) -> String {
    bytes.isEmpty ? "-" : bytes.map(hexByte).joined()
}

public func hex16(_ value: UInt16) -> String {
    "0x" + hexByte(UInt8(value >> 8)) + hexByte(UInt8(value & 0xFF))
}
