import Packets
import Testing

/// Self-tests of the packet builder the data-plane tests rely on: if these
/// fail, no BPF_PROG_TEST_RUN result can be trusted.
@Suite struct PacketBuilderTests {
    static func bytes(_ hex: String) -> [UInt8] {
        let digits = Array(hex.filter { !$0.isWhitespace })
        return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0...$0 + 1]), radix: 16)! }
    }

    static let syn = Packet.tcp(src: "198.18.0.2:40000", dst: "198.18.0.1:8080", flags: [.syn])
    static let hello = Packet.udp(src: "198.18.0.2:40000", dst: "198.18.0.1:8080", payload: Array("hello".utf8))

    // MARK: Known answers

    /// RFC 1071 section 3's worked example.
    @Test func rfc1071Sum() {
        let data = Self.bytes("0001 f203 f4f5 f6f7")
        #expect(InternetChecksum.fold(InternetChecksum.sum(data)) == 0xDDF2)
        #expect(InternetChecksum.checksum(data) == 0x220D)
        // Odd length: the last byte is the high half of a zero-padded word.
        #expect(InternetChecksum.fold(InternetChecksum.sum([0x01, 0x02, 0x03])) == 0x0402)
    }

    /// The classic header from Wikipedia's "IPv4 header checksum" article.
    @Test func wikipediaIPv4Header() {
        let header = Self.bytes("4500 0073 0000 4000 4011 0000 c0a8 0001 c0a8 00c7")
        #expect(InternetChecksum.checksum(header) == 0xB861)
        let packet = Packet.udp(
            src: "192.168.0.1:1", dst: "192.168.0.199:2", payload: Array(repeating: 0, count: 0x73 - 28)
        ).with { $0.ip.flags = [.dontFragment] }
        #expect(Array(packet.bytes[14..<34]) == Self.bytes("4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7"))
    }

    /// Whole frames, checksums computed by an independent Python script.
    @Test(arguments: [
        (syn, "020000000002 020000000001 0800"
            + " 4500 0028 0000 0000 4006 eea8 c612 0002 c612 0001"
            + " 9c40 1f90 0000 0001 0000 0000 5002 ffff 67e9 0000"),
        (hello, "020000000002 020000000001 0800"
            + " 4500 0021 0000 0000 4011 eea4 c612 0002 c612 0001"
            + " 9c40 1f90 000d 7409 68656c6c6f"),
    ])
    func knownFrames(packet: Packet, hex: String) {
        #expect(packet.bytes == Self.bytes(hex))
        #expect(Packet.checksumsValid(packet.bytes))
    }

    // MARK: Round trips

    static let variety: [Packet] = [
        syn,
        hello,
        syn.with { $0.tcp?.flags = [.fin, .ack]; $0.tcp?.seq = 0xDEAD_BEEF; $0.tcp?.ack = 7 },
        syn.with { $0.tcp?.options = [2, 4, 0x05, 0xB4, 1, 3, 3, 7]; $0.payload = Array(0..<100) },
        syn.with { $0.payload = [1, 2, 3] },  // odd length
        hello.with { $0.ip.options = [0x94, 0x04, 0, 0]; $0.ip.tos = 0x10; $0.ip.id = 0x1234 },
        hello.with { $0.udp?.checksum = .none },
        hello.padded(),
        hello.with { $0.ip.flags = [.moreFragments] },
        hello.with { $0.ip.fragmentOffset = 185; $0.transport = .raw; $0.ip.protocol = 17 },
        hello.with { $0.transport = .raw; $0.ip.protocol = 1; $0.payload = [8, 0, 0xF7, 0xFF, 0, 0, 0, 0] },
        hello.with { $0.ethernet.etherType = 0x86DD },
        syn.with { $0.ip.ttl = 1 },
    ]

    @Test(arguments: variety)
    func decodeRoundTrips(packet: Packet) throws {
        let decoded = try Packet.decode(packet.bytes)
        #expect(decoded.bytes == packet.bytes)
        #expect(decoded.ethernet == packet.ethernet)
        #expect(decoded.ip.src == packet.ip.src && decoded.ip.dst == packet.ip.dst)
        #expect(decoded.ip.ttl == packet.ip.ttl && decoded.ip.id == packet.ip.id && decoded.ip.flags == packet.ip.flags)
        #expect(decoded.payload == packet.payload)
        #expect(decoded.trailer == packet.trailer)
        #expect(decoded.src == packet.src && decoded.dst == packet.dst)
        #expect(decoded.tcp?.flags == packet.tcp?.flags)
        #expect(decoded.tcp?.seq == packet.tcp?.seq && decoded.tcp?.ack == packet.tcp?.ack)
        #expect(Packet.describe(packet.bytes) == decoded.description)
        #expect(Packet.checksumsValid(packet.bytes))
    }

    @Test func decodedFieldsAreExplicit() throws {
        let decoded = try Packet.decode(Self.syn.bytes)
        #expect(decoded.ip.ihl == 5)
        #expect(decoded.ip.totalLength == 40)
        #expect(decoded.ip.protocol == 6)
        #expect(decoded.ip.checksum == .value(0xEEA8))
        #expect(decoded.tcp?.dataOffset == 5)
        #expect(decoded.tcp?.checksum == .value(0x67E9))
        #expect(decoded.tcp?.window == 65535)
        #expect(
            decoded.description
                == "eth 02:00:00:00:00:01 > 02:00:00:00:00:02 type 0x0800"
                + " | ipv4 198.18.0.2 > 198.18.0.1 ihl 5 tos 0 len 40 id 0 flags [] off 0 ttl 64 proto 6 csum 0xeea8"
                + " | tcp 40000 > 8080 [S] seq 1 ack 0 win 65535 doff 5 csum 0x67e9 | payload -")
    }

    // MARK: Checksum verification

    /// Any single-bit flip from the IPv4 header to the end of the payload breaks a checksum.
    @Test(arguments: [syn, hello, syn.with { $0.payload = Array(0..<33) }])
    func checksumsValidCatchesEveryFlippedBit(packet: Packet) {
        let good = packet.bytes
        #expect(Packet.checksumsValid(good))
        for offset in 14..<good.count {
            for bit in 0..<8 {
                var bad = good
                bad[offset] ^= 1 << bit
                #expect(!Packet.checksumsValid(bad), "flip of bit \(bit) at byte \(offset) went unnoticed")
            }
        }
    }

    @Test func ethernetAndTrailerAreNotCovered() {
        var frame = Self.hello.padded().bytes
        frame[0] ^= 0xFF
        frame[frame.count - 1] ^= 0xFF
        #expect(Packet.checksumsValid(frame))
    }

    @Test(arguments: [
        (syn.corruptingIPChecksum(), ["IPv4 checksum 0xefa9, expected 0xeea8"]),
        (syn.corruptingL4Checksum(), ["TCP checksum 0x66e8, expected 0x67e9"]),
        (hello.corruptingL4Checksum(), ["UDP checksum 0x7508, expected 0x7409"]),
        (hello.corruptingIPChecksum().corruptingL4Checksum(),
         ["IPv4 checksum 0xefa5, expected 0xeea4", "UDP checksum 0x7508, expected 0x7409"]),
        (hello.with { $0.udp?.checksum = .none }, []),
        (hello.with { $0.udp?.length = 4 }, ["UDP length 4 is shorter than its header"]),
    ])
    func checksumErrors(packet: Packet, errors: [String]) {
        #expect(Packet.checksumErrors(packet.bytes) == errors)
        #expect(Packet.checksumsValid(packet.bytes) == errors.isEmpty)
    }

    /// RFC 768: a UDP sum of zero goes on the wire as 0xFFFF, since 0 means "none".
    @Test func computedUDPZeroIsSentAsAllOnes() throws {
        let probe = Self.hello.with { $0.payload = [0, 0] }
        let sum = try #require(probe.udp.map { _ in probe.bytes.be16(at: 40) })
        let zeroSum = probe.with { $0.payload = [UInt8(sum >> 8), UInt8(sum & 0xFF)] }
        #expect(zeroSum.bytes.be16(at: 40) == 0xFFFF)
        #expect(Packet.checksumsValid(zeroSum.bytes))
    }

    /// `.corrupted` must be wrong for every correct value, including the
    /// edge cases: 0x0101 (flipping would give 0, "no checksum") and 0xFFFF.
    @Test(arguments: [0x0001, 0x0101, 0x0202, 0x1234, 0x8000, 0xFEFE, 0xFFFE, 0xFFFF] as [UInt16])
    func corruptedChecksumIsNeverRight(target: UInt16) {
        // Choose a 2-byte payload word that makes the correct UDP checksum `target`:
        // checksum = ~(S + w), and with w = 0 it is z = ~S, so w = ~target + z.
        let base = Self.hello.with { $0.payload = [0, 0] }
        let z = base.bytes.be16(at: 40)
        let word = InternetChecksum.fold(UInt64(~target) + UInt64(z))
        let packet = base.with { $0.payload = [UInt8(word >> 8), UInt8(word & 0xFF)] }
        #expect(packet.bytes.be16(at: 40) == target)
        let corrupted = packet.corruptingL4Checksum().bytes
        #expect(corrupted.be16(at: 40) != 0)
        #expect(!Packet.checksumsValid(corrupted))
    }

    // MARK: Malformed variants

    @Test(arguments: [
        (syn.with { $0.ip.ihl = 4 }, UInt8(0x44)),
        (syn.with { $0.ip.ihl = 15 }, 0x4F),
        (syn.with { $0.ip.version = 6 }, 0x65),
        (syn.with { $0.ip.options = [1, 1, 1, 1] }, 0x46),
    ] as [(Packet, UInt8)])
    func versionAndIHLByte(packet: Packet, byte: UInt8) {
        #expect(packet.bytes[14] == byte)
    }

    @Test func overridesLandInTheirFields() throws {
        let longLen = Self.syn.with { $0.ip.totalLength = 1000 }
        #expect(longLen.bytes.be16(at: 16) == 1000)
        #expect(longLen.bytes.count == Self.syn.bytes.count)
        #expect(Packet.checksumErrors(longLen.bytes) == ["TCP length 980 runs past the packet"])

        let udpLen = Self.hello.with { $0.udp?.length = 200 }
        #expect(udpLen.bytes.be16(at: 38) == 200)
        #expect(try Packet.decode(udpLen.bytes).udp?.length == 200)

        let fixed = Self.syn.with { $0.ip.checksum = .value(0x1234); $0.tcp?.checksum = .value(0xABCD) }
        #expect(fixed.bytes.be16(at: 24) == 0x1234)
        #expect(fixed.bytes.be16(at: 50) == 0xABCD)

        let frag = Self.hello.with { $0.ip.flags = [.dontFragment, .moreFragments]; $0.ip.fragmentOffset = 0x1FFF }
        #expect(frag.bytes.be16(at: 20) == 0x7FFF)
    }

    @Test(arguments: [0, 13, 14, 33])
    func truncatedBelowIPv4HeaderIsUndecodable(count: Int) {
        let frame = Self.syn.truncated(to: count)
        #expect(frame.count == count)
        #expect(throws: Packet.DecodeError.self) { try Packet.decode(frame) }
        #expect(!Packet.checksumsValid(frame))
        #expect(Packet.describe(frame).hasPrefix("undecodable"))
    }

    @Test(arguments: [34, 40, 53])
    func truncatedTCPHeaderDecodesAsRaw(count: Int) throws {
        let frame = Self.syn.truncated(to: count)
        let decoded = try Packet.decode(frame)
        #expect(decoded.transport == .raw)
        #expect(decoded.bytes == frame)
        #expect(Packet.checksumErrors(frame) == ["TCP length 20 runs past the packet"])
    }

    @Test func truncatedPayloadFailsTheL4Check() {
        let frame = Self.syn.with { $0.payload = Array(0..<10) }.truncated(to: 60)
        #expect(Packet.checksumErrors(frame) == ["TCP length 30 runs past the packet"])
    }

    @Test func paddingFillsToMinimumFrame() {
        #expect(Self.hello.bytes.count == 47)
        #expect(Self.hello.padded().bytes.count == 60)
        #expect(Self.hello.padded().trailer == Array(repeating: 0, count: 13))
        #expect(Self.hello.padded().bytes.be16(at: 16) == 33)
        #expect(Self.hello.padded().padded(toFrameLength: 64).bytes.count == 64)
        #expect(Packet.tcp(src: "1.1.1.1:1", dst: "2.2.2.2:2", payload: Array(repeating: 7, count: 40)).padded().trailer == [])
    }
}
