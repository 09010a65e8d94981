/// A test IPv6 frame: Ethernet + IPv6 + extension headers + TCP, UDP or raw
/// (ICMPv6, anything else), with the same conventions as `Packet`: nil
/// overrides mean "the correct value", checksums are computed from scratch
/// over the IPv6 pseudo-header (RFC 8200 8.1), never incrementally.
///
///     let syn = Packet6.tcp(src: "[2001:2::2]:40000", dst: "[2001:2::1]:8080", flags: [.syn])
public struct Packet6: Equatable, Sendable {
    public var ethernet: Packet.Ethernet
    public var ip: IPv6
    public var extensionHeaders: [ExtensionHeader] = []
    public var transport: Packet.Transport
    /// Bytes after the TCP/UDP header (after the extension headers for `.raw`).
    public var payload: [UInt8] = []
    /// Bytes after the IPv6 payload: Ethernet padding or junk.
    public var trailer: [UInt8] = []

    public init(ethernet: Packet.Ethernet, ip: IPv6, extensionHeaders: [ExtensionHeader] = [],
                transport: Packet.Transport, payload: [UInt8] = [], trailer: [UInt8] = []) {
        self.ethernet = ethernet
        self.ip = ip
        self.extensionHeaders = extensionHeaders
        self.transport = transport
        self.payload = payload
        self.trailer = trailer
    }

    public struct IPv6: Equatable, Sendable {
        public var version: UInt8 = 6
        public var trafficClass: UInt8 = 0
        public var flowLabel: UInt32 = 0
        /// nil: everything after the fixed header, trailer excluded.
        public var payloadLength: UInt16? = nil
        /// The upper-layer protocol after the extension headers; nil: from
        /// the transport (6, 17; 59 "no next header" for `.raw`).
        public var upperLayer: UInt8? = nil
        public var hopLimit: UInt8 = 64
        public var src: Address
        public var dst: Address

        public init(trafficClass: UInt8 = 0, flowLabel: UInt32 = 0, payloadLength: UInt16? = nil,
                    upperLayer: UInt8? = nil, hopLimit: UInt8 = 64, src: Address, dst: Address) {
            self.trafficClass = trafficClass
            self.flowLabel = flowLabel
            self.payloadLength = payloadLength
            self.upperLayer = upperLayer
            self.hopLimit = hopLimit
            self.src = src
            self.dst = dst
        }
    }

    /// One extension header: its type (the previous header's next-header
    /// value) and the bytes after its next-header and length fields. The
    /// builder fills those two fields and pads `body` with zeros to a
    /// multiple of 8 (the fragment header's fixed 8 bytes included).
    public struct ExtensionHeader: Equatable, Sendable {
        public var type: UInt8
        public var body: [UInt8]

        public init(type: UInt8, body: [UInt8]) {
            self.type = type
            self.body = body
        }

        public static func hopByHop(_ options: [UInt8] = [1, 4, 0, 0, 0, 0]) -> ExtensionHeader { .init(type: 0, body: options) }
        public static func destinationOptions(_ options: [UInt8] = [1, 4, 0, 0, 0, 0]) -> ExtensionHeader { .init(type: 60, body: options) }
        /// A type-0-style routing header with `segmentsLeft` and no addresses.
        public static func routing(segmentsLeft: UInt8) -> ExtensionHeader { .init(type: 43, body: [0, segmentsLeft, 0, 0, 0, 0]) }
        /// Fragment offset in 8-byte units, more-fragments flag, identification.
        public static func fragment(offset: UInt16, more: Bool, id: UInt32 = 0x1234) -> ExtensionHeader {
            let field = offset << 3 | (more ? 1 : 0)
            var body: [UInt8] = [UInt8(field >> 8), UInt8(field & 0xFF)]
            body.appendBE(id)
            return .init(type: 44, body: body)
        }
    }

    /// An IPv6 address; a literal in RFC 4291 text ("2001:2::1"), traps if malformed.
    public struct Address: Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
        public var bytes: [UInt8]

        public init(_ bytes: [UInt8]) {
            precondition(bytes.count == 16, "an IPv6 address has 16 bytes")
            self.bytes = bytes
        }

        public init(stringLiteral string: String) {
            // Deliberately simple (no dotted tail): an oracle apart from RuleModel's parser.
            var halves: [String] = []
            if let range = string.firstRange(of: "::") {
                halves = [String(string[..<range.lowerBound]), String(string[range.upperBound...])]
                precondition(!halves[1].contains("::"), "bad IPv6 literal \"\(string)\"")
            } else {
                halves = [string]
            }
            precondition(halves.count <= 2, "bad IPv6 literal \"\(string)\"")
            func groups(_ text: String) -> [UInt16] {
                text.isEmpty ? [] : text.split(separator: ":").map { UInt16($0, radix: 16)! }
            }
            let head = groups(halves[0]), tail = halves.count == 2 ? groups(halves[1]) : []
            let all = halves.count == 2 ? head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail : head
            precondition(all.count == 8, "bad IPv6 literal \"\(string)\"")
            var bytes: [UInt8] = []
            for group in all { bytes.appendBE(group) }
            self.init(bytes)
        }

        /// Full form, every group four digits: unambiguous in failure messages.
        public var description: String {
            stride(from: 0, to: 16, by: 2).map { hexByte(bytes[$0]) + hexByte(bytes[$0 + 1]) }.joined(separator: ":")
        }
    }

    /// Address and port; a literal like "[2001:2::1]:8080".
    public struct Endpoint: Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
        public var address: Address
        public var port: UInt16

        public init(_ address: Address, _ port: UInt16) {
            self.address = address
            self.port = port
        }

        public init(stringLiteral string: String) {
            guard string.hasPrefix("["), let close = string.firstIndex(of: "]"),
                  let port = UInt16(string[string.index(close, offsetBy: 2)...])
            else { preconditionFailure("bad endpoint literal \"\(string)\"") }
            self.init(Address(stringLiteral: String(string[string.index(after: string.startIndex)..<close])), port)
        }

        public var description: String { "[\(address)]:\(port)" }
    }
}

// MARK: - Building

extension Packet6 {
    public static func tcp(
        src: Endpoint, dst: Endpoint, flags: Packet.TCPFlags = [.ack], seq: UInt32 = 1, ack: UInt32 = 0,
        payload: [UInt8] = [], hopLimit: UInt8 = 64, srcMAC: Packet.MAC = .client, dstMAC: Packet.MAC = .forwarder
    ) -> Packet6 {
        Packet6(
            ethernet: Packet.Ethernet(dst: dstMAC, src: srcMAC, etherType: 0x86DD),
            ip: IPv6(hopLimit: hopLimit, src: src.address, dst: dst.address),
            transport: .tcp(Packet.TCP(sport: src.port, dport: dst.port, seq: seq, ack: ack, flags: flags)),
            payload: payload)
    }

    public static func udp(
        src: Endpoint, dst: Endpoint, payload: [UInt8] = [], checksum: Packet.Checksum = .computed, hopLimit: UInt8 = 64,
        srcMAC: Packet.MAC = .client, dstMAC: Packet.MAC = .forwarder
    ) -> Packet6 {
        Packet6(
            ethernet: Packet.Ethernet(dst: dstMAC, src: srcMAC, etherType: 0x86DD),
            ip: IPv6(hopLimit: hopLimit, src: src.address, dst: dst.address),
            transport: .udp(Packet.UDP(sport: src.port, dport: dst.port, checksum: checksum)),
            payload: payload)
    }

    /// An ICMPv6 message (type, code, the 4 "rest" bytes, then `body`), its
    /// checksum computed over the pseudo-header.
    public static func icmp6(
        src: Address, dst: Address, type: UInt8, code: UInt8 = 0, rest: UInt32 = 0, body: [UInt8], hopLimit: UInt8 = 64,
        srcMAC: Packet.MAC = .client, dstMAC: Packet.MAC = .forwarder
    ) -> Packet6 {
        var message: [UInt8] = [type, code, 0, 0]
        message.appendBE(rest)
        message += body
        let sum = InternetChecksum.checksum(message, initial: InternetChecksum.sum(pseudoHeader(src: src, dst: dst, upperLayer: 58, length: message.count)))
        message.setBE(sum, at: 2)
        return Packet6(
            ethernet: Packet.Ethernet(dst: dstMAC, src: srcMAC, etherType: 0x86DD),
            ip: IPv6(upperLayer: 58, hopLimit: hopLimit, src: src, dst: dst),
            transport: .raw, payload: message)
    }

    /// The IPv6 packet without Ethernet (and its VLAN tags): what an ICMPv6 error quotes.
    public var ipBytes: [UInt8] { Array(bytes.dropFirst(ethernet.bytes.count).dropLast(trailer.count)) }

    public func with(_ change: (inout Packet6) -> Void) -> Packet6 {
        var copy = self
        change(&copy)
        return copy
    }

    public var tcp: Packet.TCP? {
        get { if case .tcp(let tcp) = transport { tcp } else { nil } }
        set { if let newValue { transport = .tcp(newValue) } }
    }

    public var udp: Packet.UDP? {
        get { if case .udp(let udp) = transport { udp } else { nil } }
        set { if let newValue { transport = .udp(newValue) } }
    }

    /// The upper-layer protocol number as emitted.
    public var upperLayer: UInt8 {
        if let value = ip.upperLayer { return value }
        switch transport {
        case .tcp: return 6
        case .udp: return 17
        case .raw: return 59
        }
    }

    static func pseudoHeader(src: Address, dst: Address, upperLayer: UInt8, length: Int) -> [UInt8] {
        var bytes = src.bytes + dst.bytes
        bytes.appendBE(UInt32(length))
        bytes += [0, 0, 0, upperLayer]
        return bytes
    }
}

// MARK: - Encoding

extension Packet6 {
    public var bytes: [UInt8] {
        var frame: [UInt8] = ethernet.bytes

        var chain: [UInt8] = []
        for (index, header) in extensionHeaders.enumerated() {
            let next = index + 1 < extensionHeaders.count ? extensionHeaders[index + 1].type : upperLayer
            var body = header.body
            body += Array(repeating: 0, count: (8 - (2 + body.count) % 8) % 8)
            // The fragment header's second byte is reserved, not a length.
            chain += [next, header.type == 44 ? 0 : UInt8((2 + body.count) / 8 - 1)] + body
        }
        let l4 = transportBytes()
        let first = extensionHeaders.first?.type ?? upperLayer

        frame.appendBE(UInt32(ip.version & 0xF) << 28 | UInt32(ip.trafficClass) << 20 | ip.flowLabel & 0xFFFFF)
        frame.appendBE(ip.payloadLength ?? UInt16(truncatingIfNeeded: chain.count + l4.count))
        frame.append(first)
        frame.append(ip.hopLimit)
        frame += ip.src.bytes
        frame += ip.dst.bytes
        frame += chain
        frame += l4
        frame += trailer
        return frame
    }

    private func transportBytes() -> [UInt8] {
        var segment: [UInt8] = []
        let checksumOffset: Int
        let checksum: Packet.Checksum
        switch transport {
        case .raw:
            return payload
        case .tcp(let tcp):
            segment.appendBE(tcp.sport)
            segment.appendBE(tcp.dport)
            segment.appendBE(tcp.seq)
            segment.appendBE(tcp.ack)
            segment.append((tcp.dataOffset ?? UInt8((20 + tcp.options.count) / 4)) << 4 | tcp.reservedBits & 0x0F)
            segment.append(tcp.flags.rawValue)
            segment.appendBE(tcp.window)
            segment.appendBE(UInt16(0))
            segment.appendBE(tcp.urgentPointer)
            segment += tcp.options
            (checksumOffset, checksum) = (16, tcp.checksum)
        case .udp(let udp):
            segment.appendBE(udp.sport)
            segment.appendBE(udp.dport)
            segment.appendBE(udp.length ?? UInt16(truncatingIfNeeded: 8 + payload.count))
            segment.appendBE(UInt16(0))
            (checksumOffset, checksum) = (6, udp.checksum)
        }
        segment += payload
        let pseudo = Self.pseudoHeader(src: ip.src, dst: ip.dst, upperLayer: upperLayer, length: segment.count)
        var computed = InternetChecksum.checksum(segment, initial: InternetChecksum.sum(pseudo))
        if case .udp = transport, computed == 0 { computed = 0xFFFF }
        let value: UInt16
        switch checksum {
        case .computed: value = computed
        case .value(let v): value = v
        case .corrupted: value = computed == 0x0101 ? computed ^ 0x0202 : computed ^ 0x0101
        }
        segment.setBE(value, at: checksumOffset)
        return segment
    }
}
