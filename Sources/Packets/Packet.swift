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
struct Packet: Equatable, Sendable {
    var ethernet: Ethernet
    var ip: IPv4
    var transport: Transport
    /// Bytes after the TCP/UDP header (or after the IPv4 header for `.raw`).
    var payload: [UInt8] = []
    /// Bytes after the IPv4 packet, outside tot_len: Ethernet padding or junk.
    var trailer: [UInt8] = []

    struct Ethernet: Equatable, Sendable {
        var dst: MAC = .forwarder
        var src: MAC = .client
        var etherType: UInt16 = 0x0800
    }

    struct IPv4: Equatable, Sendable {
        var version: UInt8 = 4
        /// Header length in 32-bit words; nil: from the options.
        var ihl: UInt8? = nil
        var tos: UInt8 = 0
        /// nil: header + transport + payload.
        var totalLength: UInt16? = nil
        var id: UInt16 = 0
        var flags: IPv4Flags = []
        /// In 8-byte units, 13 bits.
        var fragmentOffset: UInt16 = 0
        var ttl: UInt8 = 64
        /// nil: from the transport (6, 17; 255 for `.raw`).
        var `protocol`: UInt8? = nil
        var checksum: Checksum = .computed
        var src: Address
        var dst: Address
        /// Raw option bytes, zero-padded to a multiple of 4.
        var options: [UInt8] = []
    }

    struct IPv4Flags: OptionSet, Equatable, Sendable {
        let rawValue: UInt8
        static let reserved = IPv4Flags(rawValue: 4)
        static let dontFragment = IPv4Flags(rawValue: 2)
        static let moreFragments = IPv4Flags(rawValue: 1)
    }

    enum Transport: Equatable, Sendable {
        case tcp(TCP)
        case udp(UDP)
        /// No L4 header: `payload` follows the IPv4 header (ICMP, fragments, junk).
        case raw
    }

    struct TCP: Equatable, Sendable {
        var sport: UInt16
        var dport: UInt16
        var seq: UInt32 = 1
        var ack: UInt32 = 0
        /// Header length in 32-bit words; nil: from the options.
        var dataOffset: UInt8? = nil
        /// The low four bits of byte 12 (reserved + NS).
        var reservedBits: UInt8 = 0
        var flags: TCPFlags = [.ack]
        var window: UInt16 = 65535
        var checksum: Checksum = .computed
        var urgentPointer: UInt16 = 0
        /// Raw option bytes, zero-padded to a multiple of 4.
        var options: [UInt8] = []
    }

    struct TCPFlags: OptionSet, Equatable, Sendable {
        let rawValue: UInt8
        static let fin = TCPFlags(rawValue: 0x01)
        static let syn = TCPFlags(rawValue: 0x02)
        static let rst = TCPFlags(rawValue: 0x04)
        static let psh = TCPFlags(rawValue: 0x08)
        static let ack = TCPFlags(rawValue: 0x10)
        static let urg = TCPFlags(rawValue: 0x20)
        static let ece = TCPFlags(rawValue: 0x40)
        static let cwr = TCPFlags(rawValue: 0x80)
    }

    struct UDP: Equatable, Sendable {
        var sport: UInt16
        var dport: UInt16
        /// nil: header + payload.
        var length: UInt16? = nil
        /// `.computed` sends 0xFFFF when the sum is 0 (RFC 768); `.none` is 0.
        var checksum: Checksum = .computed
    }

    /// How a checksum field is filled in.
    enum Checksum: Equatable, Sendable {
        /// The correct value, computed over the emitted bytes.
        case computed
        /// Exactly this value.
        case value(UInt16)
        /// A wrong value: the correct one with bits flipped, never 0.
        case corrupted

        /// UDP "no checksum".
        static let none = Checksum.value(0)
    }
}

// MARK: - Addresses

extension Packet {
    /// An IPv4 address in host order; a literal like "198.18.0.1" (traps if malformed).
    struct Address: Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
        var value: UInt32

        init(_ value: UInt32) { self.value = value }

        init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
            value = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
        }

        init(stringLiteral string: String) {
            let parts = string.split(separator: ".", omittingEmptySubsequences: false).map { UInt8($0) }
            guard parts.count == 4, let a = parts[0], let b = parts[1], let c = parts[2], let d = parts[3] else {
                preconditionFailure("bad IPv4 literal \"\(string)\"")
            }
            self.init(a, b, c, d)
        }

        var bytes: [UInt8] {
            [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
        }

        var description: String { bytes.map(String.init).joined(separator: ".") }
    }

    /// Address and port; a literal like "198.18.0.1:8080".
    struct Endpoint: Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
        var address: Address
        var port: UInt16

        init(_ address: Address, _ port: UInt16) {
            self.address = address
            self.port = port
        }

        init(stringLiteral string: String) {
            let parts = string.split(separator: ":")
            guard parts.count == 2, let port = UInt16(parts[1]) else {
                preconditionFailure("bad endpoint literal \"\(string)\"")
            }
            self.init(Address(stringLiteral: String(parts[0])), port)
        }

        var description: String { "\(address):\(port)" }
    }

    /// A MAC address; a literal like "02:00:00:00:00:01".
    struct MAC: Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
        var bytes: [UInt8]

        init(_ bytes: [UInt8]) {
            precondition(bytes.count == 6, "a MAC address has 6 bytes")
            self.bytes = bytes
        }

        init(stringLiteral string: String) {
            let parts = string.split(separator: ":").compactMap { UInt8($0, radix: 16) }
            precondition(parts.count == 6, "bad MAC literal \"\(string)\"")
            self.init(parts)
        }

        var description: String { bytes.map(hexByte).joined(separator: ":") }

        static let client: MAC = "02:00:00:00:00:01"
        static let forwarder: MAC = "02:00:00:00:00:02"
        static let backend: MAC = "02:00:00:00:00:03"
    }
}

// MARK: - Building

extension Packet {
    static func tcp(
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

    static func udp(
        src: Endpoint, dst: Endpoint, payload: [UInt8] = [], checksum: Checksum = .computed, ttl: UInt8 = 64,
        srcMAC: MAC = .client, dstMAC: MAC = .forwarder
    ) -> Packet {
        Packet(
            ethernet: Ethernet(dst: dstMAC, src: srcMAC),
            ip: IPv4(ttl: ttl, src: src.address, dst: dst.address),
            transport: .udp(UDP(sport: src.port, dport: dst.port, checksum: checksum)),
            payload: payload)
    }

    /// A copy with `change` applied: `p.with { $0.ip.ttl = 1; $0.tcp?.window = 0 }`.
    func with(_ change: (inout Packet) -> Void) -> Packet {
        var copy = self
        change(&copy)
        return copy
    }

    /// The TCP header, if any; settable through optional chaining.
    var tcp: TCP? {
        get { if case .tcp(let tcp) = transport { tcp } else { nil } }
        set { if let newValue { transport = .tcp(newValue) } }
    }

    /// The UDP header, if any; settable through optional chaining.
    var udp: UDP? {
        get { if case .udp(let udp) = transport { udp } else { nil } }
        set { if let newValue { transport = .udp(newValue) } }
    }

    /// Source and destination as endpoints (port 0 for `.raw`).
    var src: Endpoint { Endpoint(ip.src, tcp?.sport ?? udp?.sport ?? 0) }
    var dst: Endpoint { Endpoint(ip.dst, tcp?.dport ?? udp?.dport ?? 0) }
}

// MARK: - Malformed variants

extension Packet {
    /// The first `count` bytes of the frame.
    func truncated(to count: Int) -> [UInt8] {
        Array(bytes.prefix(count))
    }

    /// Zero trailer up to `length` bytes of frame (60: the Ethernet minimum without FCS).
    func padded(toFrameLength length: Int = 60) -> Packet {
        let unpadded = with { $0.trailer = [] }
        return unpadded.with {
            $0.trailer = Array(repeating: 0, count: max(0, length - unpadded.bytes.count))
        }
    }

    func corruptingIPChecksum() -> Packet {
        with { $0.ip.checksum = .corrupted }
    }

    /// Corrupts the TCP or UDP checksum.
    func corruptingL4Checksum() -> Packet {
        with {
            $0.tcp?.checksum = .corrupted
            $0.udp?.checksum = .corrupted
        }
    }
}

func hexByte(_ byte: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return String([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
}
