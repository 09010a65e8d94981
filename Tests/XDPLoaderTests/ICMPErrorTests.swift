import CXDP
import Packets
import TestSupport
import Testing
@testable import XDPLoader

/// ICMP and ICMPv6 errors about translated flows: the outer header goes to
/// the flow's peer from our address, the quoted packet is rewritten to the
/// tuple that peer knows, every checksum stays consistent. Expected frames
/// are built from scratch (the quote from a full packet's bytes, so its L4
/// checksum is the from-scratch one), and ICMPCheck verifies the checksums
/// on their own.
@Suite("XDP: ICMP and ICMPv6 error translation", .serialized,
       .enabled(if: Capabilities.bpfAndNetns, Capabilities.reason))
struct ICMPErrorTests {
    typealias F = DatapathFixture
    typealias T = ForwardingTests
    typealias V6 = ForwardingV6Tests

    static func expectFrame(_ actual: [UInt8], _ expected: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(actual == expected, "got \(hex(actual)), want \(hex(expected))", sourceLocation: sourceLocation)
        #expect(ICMPCheck.errors(actual).isEmpty, "checksums: \(ICMPCheck.errors(actual))", sourceLocation: sourceLocation)
    }

    @Test("IPv4 frag-needed from the backend side reaches the client about its own packet",
          arguments: [nil, 28])  // the whole packet quoted, or only IPv4 + 8 bytes (no TCP checksum)
    func fragNeededFromBackend(quoteLength: Int?) throws {
        let f = try F()
        try f.addRule("tcp", "198.18.0.1:8080", "198.18.1.2:8000")
        let syn = T.fromClient().with { $0.payload = Array(repeating: 0x5A, count: 100) }
        let forwarded = try Packet.decode(f.run(syn.bytes).output)
        let port = try #require(forwarded.tcp?.sport)
        let quote = quoteLength.map { Array(forwarded.ipBytes.prefix($0)) } ?? forwarded.ipBytes
        let error = Packet.icmp(src: "198.18.1.2", dst: "198.18.1.1", type: 3, code: 4, rest: 1400, body: quote,
                                srcMAC: T.backendMAC, dstMAC: T.outMAC)
        #expect(ICMPCheck.errors(error.bytes).isEmpty)

        let result = try f.run(error.bytes, ingress: f.outIndex)

        #expect(result.verdict == .redirect)
        // The client sees its own packet (as far as it reached: TTL 63) quoted, from the listen address.
        let original = syn.with { $0.ip.ttl = 63 }.ipBytes
        let expected = Packet.icmp(src: "198.18.0.1", dst: "198.18.0.2", type: 3, code: 4, rest: 1400,
                                   body: quoteLength.map { Array(original.prefix($0)) } ?? original, ttl: 63,
                                   srcMAC: T.inMAC, dstMAC: T.clientMAC)
        Self.expectFrame(result.output, expected.bytes)
        #expect(try f.counter("icmp_translated") == 1)
        #expect(port != 0)
    }

    @Test("IPv4 port unreachable from the client side reaches the backend about its reply (UDP)")
    func unreachableFromClient() throws {
        let f = try F()
        try f.addRule("udp", "198.18.0.1:5353", "198.18.1.2:5300")
        let query = Packet.udp(src: "198.18.0.2:41000", dst: "198.18.0.1:5353", payload: [1, 2, 3], srcMAC: T.clientMAC, dstMAC: T.inMAC)
        let port = try #require(try Packet.decode(f.run(query.bytes).output).udp?.sport)
        let reply = Packet.udp(src: "198.18.1.2:5300", dst: .init("198.18.1.1", port), payload: [4, 5, 6],
                               srcMAC: T.backendMAC, dstMAC: T.outMAC)
        let delivered = try Packet.decode(f.run(reply.bytes, ingress: f.outIndex).output)
        let error = Packet.icmp(src: "198.18.0.2", dst: "198.18.0.1", type: 3, code: 3, body: delivered.ipBytes,
                                srcMAC: T.clientMAC, dstMAC: T.inMAC)

        let result = try f.run(error.bytes)

        #expect(result.verdict == .redirect)
        let expected = Packet.icmp(src: "198.18.1.1", dst: "198.18.1.2", type: 3, code: 3,
                                   body: reply.with { $0.ip.ttl = 63 }.ipBytes, ttl: 63, srcMAC: T.outMAC, dstMAC: T.backendMAC)
        Self.expectFrame(result.output, expected.bytes)
    }

    @Test("ICMPv6 packet too big from the backend side reaches the client about its own packet")
    func packetTooBig() throws {
        let f = try F()
        try f.addRule("tcp", "[2001:2::1]:8080", "[2001:2:0:1::2]:8000")
        let syn = V6.fromClient().with { $0.payload = Array(repeating: 0xA5, count: 200) }
        let forwarded = try Packet6.decode(f.run(syn.bytes).output)
        let error = Packet6.icmp6(src: "2001:2:0:1::2", dst: "2001:2:0:1::1", type: 2, rest: 1400, body: forwarded.ipBytes,
                                  srcMAC: T.backendMAC, dstMAC: T.outMAC)

        let result = try f.run(error.bytes, ingress: f.outIndex)

        #expect(result.verdict == .redirect)
        let expected = Packet6.icmp6(src: "2001:2::1", dst: "2001:2::2", type: 2, rest: 1400,
                                     body: syn.with { $0.ip.hopLimit = 63 }.ipBytes, hopLimit: 63,
                                     srcMAC: T.inMAC, dstMAC: T.clientMAC)
        Self.expectFrame(result.output, expected.bytes)
        #expect(try f.counter("icmp_translated") == 1)
    }

    @Test("ICMPv6 port unreachable from the client side reaches the backend about its reply (UDP)")
    func unreachable6FromClient() throws {
        let f = try F()
        try f.addRule("udp", "[2001:2::1]:5353", "[2001:2:0:1::2]:5300")
        let query = Packet6.udp(src: "[2001:2::2]:41000", dst: "[2001:2::1]:5353", payload: [1], srcMAC: T.clientMAC, dstMAC: T.inMAC)
        let port = try #require(try Packet6.decode(f.run(query.bytes).output).udp?.sport)
        let reply = Packet6.udp(src: "[2001:2:0:1::2]:5300", dst: .init("2001:2:0:1::1", port), payload: [9, 9],
                                srcMAC: T.backendMAC, dstMAC: T.outMAC)
        let delivered = try Packet6.decode(f.run(reply.bytes, ingress: f.outIndex).output)
        let error = Packet6.icmp6(src: "2001:2::2", dst: "2001:2::1", type: 1, code: 4, body: delivered.ipBytes,
                                  srcMAC: T.clientMAC, dstMAC: T.inMAC)

        let result = try f.run(error.bytes)

        #expect(result.verdict == .redirect)
        let expected = Packet6.icmp6(src: "2001:2:0:1::1", dst: "2001:2:0:1::2", type: 1, code: 4,
                                     body: reply.with { $0.ip.hopLimit = 63 }.ipBytes, hopLimit: 63,
                                     srcMAC: T.outMAC, dstMAC: T.backendMAC)
        Self.expectFrame(result.output, expected.bytes)
    }

    @Test("errors about no flow of ours, and echo requests, pass to the kernel untouched")
    func unrelatedPass() throws {
        let f = try F()
        try f.addRule("tcp", "198.18.0.1:8080", "198.18.1.2:8000")
        try f.addRule("tcp", "[2001:2::1]:8080", "[2001:2:0:1::2]:8000")
        let stranger = Packet.tcp(src: "198.18.1.1:1234", dst: "198.18.1.2:8000", flags: [.syn])
        let frames = [
            Packet.icmp(src: "198.18.1.2", dst: "198.18.1.1", type: 3, code: 4, rest: 1400, body: stranger.ipBytes,
                        srcMAC: T.backendMAC, dstMAC: T.outMAC).bytes,
            Packet.icmp(src: "198.18.0.2", dst: "198.18.0.1", type: 8, body: [0, 1, 0, 1]).bytes,
            Packet6.icmp6(src: "2001:2:0:1::2", dst: "2001:2:0:1::1", type: 2, rest: 1400,
                          body: Packet6.tcp(src: "[2001:2:0:1::1]:1234", dst: V6.backend).ipBytes).bytes,
        ]
        for frame in frames {
            let result = try f.run(frame, ingress: f.outIndex)
            #expect(result.verdict == .pass)
            #expect(result.output == frame)
        }
        #expect(try f.counter("pass_not_tcp_udp") == 3)
        #expect(try f.counter("icmp_translated") == 0)
    }
}
