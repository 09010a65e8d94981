/// A test packet: Ethernet + IPv4 + TCP or UDP, described field by field and
/// turned into bytes by `bytes`. Checksums are computed from scratch over
/// the whole header (and pseudo-header), never incrementally, so they are
/// an oracle independent of the data plane's checksum code.
///
/// Every field that can be malformed has an override (`ip.ihl`,
/// `ip.totalLength`, `ip.version`, `udp.length`, `.checksum`); nil means
/// "the correct value". Decoding (`Packet.decode`) yields a packet with
/// every override explicit, so `decode(b).bytes == b`.
///
///     let syn = Packet.tcp(src: "198.18.0.2:40000", dst: "198.18.0.1:8080", flags: [.syn])
///     let bad = syn.with { $0.ip.ttl = 1 }
public struct Packet: Equatable, Sendable {
    public var ethernet: Ethernet
    public var ip: IPv4
    public var transport: Transport
    /// Bytes after the TCP/UDP header (or after the IPv4 header for `.raw`).
    public var payload: [UInt8] = []
    /// Bytes after the IPv4 packet, outside tot_len: Ethernet padding or junk.
    public var trailer: [UInt8] = []

    public init(ethernet: Ethernet, ip: IPv4, transport: Transport, payload: [UInt8] = [], trailer: [UInt8] = []) {
        self.ethernet = ethernet
        self.ip = ip
        self.transport = transport
        self.payload = payload
        self.trailer = trailer
    }

    public struct Ethernet: Equatable, Sendable {
        public var dst: MAC = .forwarder
        public var src: MAC = .client
        /// VLAN tags between the source MAC and `etherType`, outer first.
        public var tags: [VLANTag] = []
        /// The type after the tags (after the MACs when untagged).
        public var etherType: UInt16 = 0x0800

        public init(dst: MAC = .forwarder, src: MAC = .client, tags: [VLANTag] = [], etherType: UInt16 = 0x0800) {
            self.dst = dst
            self.src = src
            self.tags = tags
            self.etherType = etherType
        }

        /// The header as emitted: MACs, tags, type.
        public var bytes: [UInt8] {
            var header = dst.bytes + src.bytes
            for tag in tags {
                header.appendBE(tag.tpid)
                header.appendBE(tag.tci)
            }
            header.appendBE(etherType)
            return header
        }

        /// Decodes MACs, every 802.1Q/802.1ad tag (at most `maxTags`) and
        /// the type after them; nil when the frame ends inside them.
        public static func decode(_ bytes: [UInt8], maxTags: Int = 8) -> (Ethernet, length: Int)? {
            guard bytes.count >= 14 else { return nil }
            var ethernet = Ethernet(dst: MAC(Array(bytes[0..<6])), src: MAC(Array(bytes[6..<12])))
            var offset = 12
            while VLANTag.tpids.contains(bytes.be16(at: offset)), ethernet.tags.count < maxTags {
                guard offset + 6 <= bytes.count else { return nil }
                ethernet.tags.append(VLANTag(tpid: bytes.be16(at: offset), tci: bytes.be16(at: offset + 2)))
                offset += 4
            }
            guard offset + 2 <= bytes.count else { return nil }
            ethernet.etherType = bytes.be16(at: offset)
            return (ethernet, offset + 2)
        }

        /// The frame's tags, and the frame without them (MACs, the type
        /// behind the tags, the rest); nil when it ends inside them.
        public static func untagged(_ bytes: [UInt8]) -> (tags: [VLANTag], frame: [UInt8])? {
            guard let (ethernet, length) = decode(bytes) else { return nil }
            var frame = Array(bytes[0..<12])
            frame.appendBE(ethernet.etherType)
            return (ethernet.tags, frame + bytes[length...])
        }
    }

    /// An 802.1Q (TPID 0x8100) or 802.1ad (0x88a8) tag.
    public struct VLANTag: Equatable, Sendable, CustomStringConvertible {
        public static let tpids: Set<UInt16> = [0x8100, 0x88A8]
        public var tpid: UInt16
        /// Priority code point, 3 bits.
        public var pcp: UInt8
        /// Drop eligible indicator.
        public var dei: Bool
        /// VLAN id, 12 bits.
        public var id: UInt16

        public init(tpid: UInt16 = 0x8100, id: UInt16, pcp: UInt8 = 0, dei: Bool = false) {
            self.tpid = tpid
            self.id = id
            self.pcp = pcp
            self.dei = dei
        }

        public init(tpid: UInt16, tci: UInt16) {
            self.init(tpid: tpid, id: tci & 0x0FFF, pcp: UInt8(tci >> 13), dei: tci & 0x1000 != 0)
        }

        /// An 802.1Q tag (a single tag, or the inner tag of QinQ).
        public static func dot1q(_ id: UInt16, pcp: UInt8 = 0) -> VLANTag { VLANTag(tpid: 0x8100, id: id, pcp: pcp) }
        /// An 802.1ad service tag (the outer tag of QinQ).
        public static func dot1ad(_ id: UInt16, pcp: UInt8 = 0) -> VLANTag { VLANTag(tpid: 0x88A8, id: id, pcp: pcp) }

        /// Tag control information: PCP, DEI, VLAN id.
        public var tci: UInt16 { UInt16(pcp & 7) << 13 | (dei ? 0x1000 : 0) | id & 0x0FFF }

        public var description: String {
            "\(tpid == 0x88A8 ? "802.1ad" : tpid == 0x8100 ? "802.1Q" : hex16(tpid)) vlan \(id) pcp \(pcp)\(dei ? " dei" : "")"
        }
    }

    public struct IPv4: Equatable, Sendable {
        public var version: UInt8 = 4
        /// Header length in 32-bit words; nil: from the options.
        public var ihl: UInt8? = nil
        public var tos: UInt8 = 0
        /// nil: header + transport + payload.
        public var totalLength: UInt16? = nil
        public var id: UInt16 = 0
        public var flags: IPv4Flags = []
        /// In 8-byte units, 13 bits.
        public var fragmentOffset: UInt16 = 0
        public var ttl: UInt8 = 64
        /// nil: from the transport (6, 17; 255 for `.raw`).
        public var `protocol`: UInt8? = nil
        public var checksum: Checksum = .computed
        public var src: Address
        public var dst: Address
        /// Raw option bytes, zero-padded to a multiple of 4.
        public var options: [UInt8] = []

        public init(
            version: UInt8 = 4, ihl: UInt8? = nil, tos: UInt8 = 0, totalLength: UInt16? = nil, id: UInt16 = 0,
            flags: IPv4Flags = [], fragmentOffset: UInt16 = 0, ttl: UInt8 = 64, protocol: UInt8? = nil,
            checksum: Checksum = .computed, src: Address, dst: Address, options: [UInt8] = []
        ) {
            self.version = version
            self.ihl = ihl
            self.tos = tos
            self.totalLength = totalLength
            self.id = id
            self.flags = flags
            self.fragmentOffset = fragmentOffset
            self.ttl = ttl
            self.protocol = `protocol`
            self.checksum = checksum
            self.src = src
            self.dst = dst
            self.options = options
        }
    }

    public struct IPv4Flags: OptionSet, Equatable, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let reserved = IPv4Flags(rawValue: 4)
        public static let dontFragment = IPv4Flags(rawValue: 2)
        public static let moreFragments = IPv4Flags(rawValue: 1)
    }

    public enum Transport: Equatable, Sendable {
        case tcp(TCP)
        case udp(UDP)
        /// No L4 header: `payload` follows the IPv4 header (ICMP, fragments, junk).
        case raw
    }

    public struct TCP: Equatable, Sendable {
        public var sport: UInt16
        public var dport: UInt16
        public var seq: UInt32 = 1
        public var ack: UInt32 = 0
        /// Header length in 32-bit words; nil: from the options.
        public var dataOffset: UInt8? = nil
        /// The low four bits of byte 12 (reserved + NS).
        public var reservedBits: UInt8 = 0
        public var flags: TCPFlags = [.ack]
        public var window: UInt16 = 65535
        public var checksum: Checksum = .computed
        public var urgentPointer: UInt16 = 0
        /// Raw option bytes, zero-padded to a multiple of 4.
        public var options: [UInt8] = []

        public init(
            sport: UInt16, dport: UInt16, seq: UInt32 = 1, ack: UInt32 = 0, dataOffset: UInt8? = nil,
            reservedBits: UInt8 = 0, flags: TCPFlags = [.ack], window: UInt16 = 65535,
            checksum: Checksum = .computed, urgentPointer: UInt16 = 0, options: [UInt8] = []
        ) {
            self.sport = sport
            self.dport = dport
            self.seq = seq
            self.ack = ack
            self.dataOffset = dataOffset
            self.reservedBits = reservedBits
            self.flags = flags
            self.window = window
            self.checksum = checksum
            self.urgentPointer = urgentPointer
            self.options = options
        }
    }

    public struct TCPFlags: OptionSet, Equatable, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let fin = TCPFlags(rawValue: 0x01)
        public static let syn = TCPFlags(rawValue: 0x02)
        public static let rst = TCPFlags(rawValue: 0x04)
        public static let psh = TCPFlags(rawValue: 0x08)
        public static let ack = TCPFlags(rawValue: 0x10)
        public static let urg = TCPFlags(rawValue: 0x20)
        public static let ece = TCPFlags(rawValue: 0x40)
        public static let cwr = TCPFlags(rawValue: 0x80)
    }

    public struct UDP: Equatable, Sendable {
        public var sport: UInt16
        public var dport: UInt16
        /// nil: header + payload.
        public var length: UInt16? = nil
        /// `.computed` sends 0xFFFF when the sum is 0 (RFC 768); `.none` is 0.
        public var checksum: Checksum = .computed

        public init(sport: UInt16, dport: UInt16, length: UInt16? = nil, checksum: Checksum = .computed) {
            self.sport = sport
            self.dport = dport
            self.length = length
            self.checksum = checksum
        }
    }

    /// How a checksum field is filled in.
    public enum Checksum: Equatable, Sendable {
        /// The correct value, computed over the emitted bytes.
        case computed
        /// Exactly this value.
        case value(UInt16)
        /// A wrong value: the correct one with bits flipped, never 0.
        case corrupted

        /// UDP "no checksum".
        public static let none = Checksum.value(0)
    }
}

// MARK: - Addresses

extension Packet {
    /// An IPv4 address in host order; a literal like "198.18.0.1" (traps if malformed).
    public struct Address: Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
        public var value: UInt32

        public init(_ value: UInt32) { self.value = value }

        public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
            value = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
        }

        public init(stringLiteral string: String) {
            let parts = string.split(separator: ".", omittingEmptySubsequences: false).map { UInt8($0) }
            guard parts.count == 4, let a = parts[0], let b = parts[1], let c = parts[2], let d = parts[3] else {
                preconditionFailure("bad IPv4 literal \"\(string)\"")
            }
            self.init(a, b, c, d)
        }

        public var bytes: [UInt8] {
            [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
        }

        public var description: String { bytes.map(String.init).joined(separator: ".") }
    }

    /// Address and port; a literal like "198.18.0.1:8080".
    public struct Endpoint: Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
        public var address: Address
        public var port: UInt16

        public init(_ address: Address, _ port: UInt16) {
            self.address = address
            self.port = port
        }

        public init(stringLiteral string: String) {
            let parts = string.split(separator: ":")
            guard parts.count == 2, let port = UInt16(parts[1]) else {
                preconditionFailure("bad endpoint literal \"\(string)\"")
            }
            self.init(Address(stringLiteral: String(parts[0])), port)
        }

        public var description: String { "\(address):\(port)" }
    }

    /// A MAC address; a literal like "02:00:00:00:00:01".
    public struct MAC: Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
        public var bytes: [UInt8]

        public init(_ bytes: [UInt8]) {
            precondition(bytes.count == 6, "a MAC address has 6 bytes")
            self.bytes = bytes
        }

        public init(stringLiteral string: String) {
            let parts = string.split(separator: ":").compactMap { UInt8($0, radix: 16) }
            precondition(parts.count == 6, "bad MAC literal \"\(string)\"")
            self.init(parts)
        }

        public var description: String { bytes.map(hexByte).joined(separator: ":") }

        public static let client: MAC = "02:00:00:00:00:01"
        public static let forwarder: MAC = "02:00:00:00:00:02"
        public static let backend: MAC = "02:00:00:00:00:03"
    }
}

// MARK: - Building

extension Packet {
    public static func tcp(
        src: Endpoint, dst: Endpoint, flags: TCPFlags = [.ack], seq: UInt32 = 1, ack: UInt32 = 0,
        window: UInt16 = 65535, payload: [UInt8] = [], ttl: UInt8 = 64,
        srcMAC: MAC = .client, dstMAC: MAC = .forwarder
    ) -> Packet {
        Packet(
            ethernet: Ethernet(dst: dstMAC, src: srcMAC),
            ip: IPv4(ttl: ttl, src: src.address, dst: dst.address),
            transport: .tcp(TCP(sport: src.port, dport: dst.port, seq: seq, ack: ack, flags: flags, window: window)),
            payload: payload)
    }

    public static func udp(
        src: Endpoint, dst: Endpoint, payload: [UInt8] = [], checksum: Checksum = .computed, ttl: UInt8 = 64,
        srcMAC: MAC = .client, dstMAC: MAC = .forwarder
    ) -> Packet {
        Packet(
            ethernet: Ethernet(dst: dstMAC, src: srcMAC),
            ip: IPv4(ttl: ttl, src: src.address, dst: dst.address),
            transport: .udp(UDP(sport: src.port, dport: dst.port, checksum: checksum)),
            payload: payload)
    }

    /// A copy carrying `tags` (outer first) between the MACs and the type.
    public func tagged(_ tags: VLANTag...) -> Packet {
        with { $0.ethernet.tags = tags }
    }

    /// A copy with `change` applied: `p.with { $0.ip.ttl = 1; $0.tcp?.window = 0 }`.
    public func with(_ change: (inout Packet) -> Void) -> Packet {
        var copy = self
        change(&copy)
        return copy
    }

    /// The TCP header, if any; settable through optional chaining.
    public var tcp: TCP? {
        get { if case .tcp(let tcp) = transport { tcp } else { nil } }
        set { if let newValue { transport = .tcp(newValue) } }
    }

    /// The UDP header, if any; settable through optional chaining.
    public var udp: UDP? {
        get { if case .udp(let udp) = transport { udp } else { nil } }
        set { if let newValue { transport = .udp(newValue) } }
    }

    /// Source and destination as endpoints (port 0 for `.raw`).
    public var src: Endpoint { Endpoint(ip.src, tcp?.sport ?? udp?.sport ?? 0) }
    public var dst: Endpoint { Endpoint(ip.dst, tcp?.dport ?? udp?.dport ?? 0) }
}

// MARK: - Malformed variants

extension Packet {
    /// The first `count` bytes of the frame.
    public func truncated(to count: Int) -> [UInt8] {
        Array(bytes.prefix(count))
    }

    /// Zero trailer up to `length` bytes of frame (60: the Ethernet minimum without FCS).
    public func padded(toFrameLength length: Int = 60) -> Packet {
        let unpadded = with { $0.trailer = [] }
        return unpadded.with {
            $0.trailer = Array(repeating: 0, count: max(0, length - unpadded.bytes.count))
        }
    }

    public func corruptingIPChecksum() -> Packet {
        with { $0.ip.checksum = .corrupted }
    }

    /// Corrupts the TCP or UDP checksum.
    public func corruptingL4Checksum() -> Packet {
        with {
            $0.tcp?.checksum = .corrupted
            $0.udp?.checksum = .corrupted
        }
    }
}

public func hexByte(_ byte: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return String([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
}
