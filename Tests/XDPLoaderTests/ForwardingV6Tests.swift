import CXDP
import Glibc
import Packets
import TestSupport
import Testing
@testable import XDPLoader

/// IPv6 packets the forwarder translates, and the ones it passes: packet
/// in, verdict and the exact packet out, expected packets built from
/// scratch by Packet6 (checksums over the pseudo-header, never incremental).
@Suite("XDP: IPv6 forwarding, reply translation and pass-through", .serialized,
       .enabled(if: Capabilities.bpfAndNetns, Capabilities.reason))
struct ForwardingV6Tests {
    typealias F = DatapathFixture
    typealias T = ForwardingTests
    static let listen: Packet6.Endpoint = "[2001:2::1]:8080"
    static let client: Packet6.Endpoint = "[2001:2::2]:40000"
    static let backend: Packet6.Endpoint = "[2001:2:0:1::2]:8000"
    static let snatAddress: Packet6.Address = "2001:2:0:1::1"

    static func fromClient(_ src: Packet6.Endpoint = client, to dst: Packet6.Endpoint = listen,
                           flags: Packet.TCPFlags = [.syn]) -> Packet6 {
        .tcp(src: src, dst: dst, flags: flags, seq: 1000, srcMAC: T.clientMAC, dstMAC: T.inMAC)
    }

    static func snatPort(_ output: [UInt8]) throws -> UInt16 {
        let packet = try Packet6.decode(output)
        let port = try #require(packet.tcp?.sport ?? packet.udp?.sport)
        #expect((1024...65535).contains(port))
        return port
    }

    /// `packet` as it should leave: tuple rewritten, hop limit one less, next hop's MACs.
    static func translated(_ packet: Packet6, src: Packet6.Endpoint, dst: Packet6.Endpoint,
                           dstMAC: Packet.MAC = T.backendMAC, srcMAC: Packet.MAC = T.outMAC) -> Packet6 {
        packet.with {
            $0.ethernet = .init(dst: dstMAC, src: srcMAC, etherType: 0x86DD)
            $0.ip.src = src.address; $0.ip.dst = dst.address; $0.ip.hopLimit -= 1
            $0.tcp?.sport = src.port; $0.tcp?.dport = dst.port
            $0.udp?.sport = src.port; $0.udp?.dport = dst.port
        }
    }

    static func expectBytes(_ actual: [UInt8], _ expected: Packet6, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(actual == expected.bytes, "got \(Packet6.describe(actual)), want \(Packet6.describe(expected.bytes))",
                sourceLocation: sourceLocation)
        #expect(Packet6.checksumErrors(actual).isEmpty, "bad checksum: \(Packet6.checksumErrors(actual))",
                sourceLocation: sourceLocation)
    }

    @Test("TCP SYN: NAT66 towards the backend, source = out0's global address")
    func forwardSYN() throws {
        let f = try F()
        let rule = try f.addRule("tcp", "[2001:2::1]:8080", "[2001:2:0:1::2]:8000")
        let syn = Self.fromClient()

        let result = try f.run(syn.bytes)

        #expect(result.verdict == .redirect)
        let port = try Self.snatPort(result.output)
        Self.expectBytes(result.output, Self.translated(syn, src: .init(Self.snatAddress, port), dst: Self.backend))
        #expect(try f.counter("flow_new") == 1)
        #expect(try f.ruleCounters(rule.id).forward == DirectionCounters(packets: 1, bytes: UInt64(syn.bytes.count)))
        #expect(try f.maps.flows6.keys().count == 2)
        #expect(try f.maps.flows.keys().isEmpty)
    }

    @Test("reply from the backend goes back to the client; the flow reaches established")
    func replyTranslation() throws {
        let f = try F()
        let rule = try f.addRule("tcp", "[2001:2::1]:8080", "[2001:2:0:1::2]:8000")
        let port = try Self.snatPort(f.run(Self.fromClient().bytes).output)
        let synAck = Packet6.tcp(src: Self.backend, dst: .init(Self.snatAddress, port), flags: [.syn, .ack], seq: 5000,
                                 ack: 1001, payload: Array("hello".utf8), srcMAC: T.backendMAC, dstMAC: T.outMAC)

        let result = try f.run(synAck.bytes, ingress: f.outIndex)

        #expect(result.verdict == .redirect)
        Self.expectBytes(result.output, Self.translated(synAck, src: Self.listen, dst: Self.client, dstMAC: T.clientMAC, srcMAC: T.inMAC))
        #expect(try f.ruleCounters(rule.id).reply == DirectionCounters(packets: 1, bytes: UInt64(synAck.bytes.count)))
        let ack = try f.run(Self.fromClient(flags: [.ack]).bytes)
        #expect(try Self.snatPort(ack.output) == port)
        let states = try f.maps.flows6.entries().map { UInt32($0.1.state) }
        #expect(states == [XDPFWD_CT_TCP_EST.rawValue, XDPFWD_CT_TCP_EST.rawValue])
    }

    @Test("UDP: the checksum is updated over the IPv6 pseudo-header", arguments: [Array("question".utf8), [], [0xFF, 0xFF]])
    func udp(payload: [UInt8]) throws {
        let f = try F()
        try f.addRule("udp", "[2001:2::1]:5353", "[2001:2:0:1::2]:5300")
        let query = Packet6.udp(src: "[2001:2::2]:41000", dst: "[2001:2::1]:5353", payload: payload,
                                srcMAC: T.clientMAC, dstMAC: T.inMAC)
        let result = try f.run(query.bytes)
        #expect(result.verdict == .redirect)
        let port = try Self.snatPort(result.output)
        Self.expectBytes(result.output, Self.translated(query, src: .init(Self.snatAddress, port), dst: "[2001:2:0:1::2]:5300"))
    }

    @Test("hop-by-hop, destination options and a spent routing header are skipped and carried through")
    func skippedExtensionHeaders() throws {
        let f = try F()
        try f.addRule("tcp", "[2001:2::1]:8080", "[2001:2:0:1::2]:8000")
        let syn = Self.fromClient().with {
            $0.extensionHeaders = [.hopByHop(), .destinationOptions(Array(repeating: 1, count: 14)),
                                   .routing(segmentsLeft: 0), .destinationOptions()]
        }
        let result = try f.run(syn.bytes)
        #expect(result.verdict == .redirect)
        let port = try Self.snatPort(result.output)
        Self.expectBytes(result.output, Self.translated(syn, src: .init(Self.snatAddress, port), dst: Self.backend))
    }

    @Test("--snat none keeps the client's address and port; --snat ADDR uses that address")
    func snatModes() throws {
        let f = try F()
        try f.addRule("tcp", "[2001:2::1]:8080", "[2001:2:0:1::2]:8000", snat: "none")
        try f.addRule("tcp", "[2001:2::1]:8081", "[2001:2:0:1::2]:8000", snat: "2001:2:0:1::50")
        let syn = Self.fromClient()
        let none = try f.run(syn.bytes)
        Self.expectBytes(none.output, Self.translated(syn, src: Self.client, dst: Self.backend))
        let reply = Packet6.tcp(src: Self.backend, dst: Self.client, flags: [.syn, .ack], srcMAC: T.backendMAC, dstMAC: T.outMAC)
        Self.expectBytes(try f.run(reply.bytes, ingress: f.outIndex).output,
                         Self.translated(reply, src: Self.listen, dst: Self.client, dstMAC: T.clientMAC, srcMAC: T.inMAC))

        let fixed = try f.run(Self.fromClient(to: "[2001:2::1]:8081").bytes)
        #expect(try Packet6.decode(fixed.output).ip.src == "2001:2:0:1::50")
        #expect(Packet6.checksumErrors(fixed.output).isEmpty)
    }

    @Test("a client SYN on a FIN or RST flow starts a new flow; a retransmitted SYN keeps it; --snat none reuse",
          arguments: T.closings)
    func reuseClosingTuple(closing: Packet.TCPFlags) throws {
        let f = try F()
        try f.addRule("tcp", "[2001:2::1]:8080", "[2001:2:0:1::2]:8000")
        let syn = Self.fromClient()
        let oldPort = try Self.snatPort(f.run(syn.bytes).output)
        // A retransmission while opening: same translation, even after the rule changed.
        try f.addRule("tcp", "[2001:2::1]:8080", "[2001:2:0:1::2]:9000")
        Self.expectBytes(try f.run(syn.bytes).output, Self.translated(syn, src: .init(Self.snatAddress, oldPort), dst: Self.backend))
        #expect(try f.run(Self.fromClient(flags: closing).bytes).verdict == .redirect)

        let again = try f.run(syn.bytes)

        #expect(again.verdict == .redirect)
        let port = try Self.snatPort(again.output)
        Self.expectBytes(again.output, Self.translated(syn, src: .init(Self.snatAddress, port), dst: "[2001:2:0:1::2]:9000"))
        let entries = try f.maps.flows6.entries()
        #expect(entries.count == 2, "the new flow's two entries only: \(entries.count)")
        #expect(!entries.contains { UInt16(bigEndian: $0.0.sport) == 8000 }, "the old reply entry is gone")
        #expect(try f.counter("flow_new") == 2)
        #expect(try f.counter("flow_expired") == 1)

        // --snat none: the same reply tuple is claimed again, no clash.
        try f.addRule("tcp", "[2001:2::1]:8081", "[2001:2:0:1::2]:8000", snat: "none")
        let dnat = Self.fromClient(to: "[2001:2::1]:8081")
        let expected = Self.translated(dnat, src: Self.client, dst: Self.backend)
        Self.expectBytes(try f.run(dnat.bytes).output, expected)
        #expect(try f.run(Self.fromClient(to: "[2001:2::1]:8081", flags: closing).bytes).verdict == .redirect)
        Self.expectBytes(try f.run(dnat.bytes).output, expected)
        #expect(try f.counter("drop_flow_clash") == 0)
        #expect(try f.counter("flow_new") == 4)
    }

    @Test("a backend on the ingress side goes back out with XDP_TX; no neighbour takes the slow path")
    func hairpinAndSlowPath() throws {
        let f = try F()
        try f.addRule("tcp", "[2001:2::1]:8080", "[2001:2::3]:8000")
        try f.addRule("tcp", "[2001:2::1]:8081", "[2001:2:0:1::3]:8000")
        let syn = Self.fromClient()
        let tx = try f.run(syn.bytes)
        #expect(tx.verdict == .tx)
        let port = try Self.snatPort(tx.output)
        Self.expectBytes(tx.output, Self.translated(syn, src: .init("2001:2::1", port), dst: "[2001:2::3]:8000",
                                                    dstMAC: T.sameSideMAC, srcMAC: T.inMAC))

        let slow = try f.run(Self.fromClient(to: "[2001:2::1]:8081").bytes)
        #expect(slow.verdict == .pass)
        let frame = Array(slow.output.dropFirst(MemoryLayout<xdpfwd_meta>.size))
        #expect(try Packet6.decode(frame).ip.dst == "2001:2:0:1::3")
        #expect(try f.counter("pass_slowpath") == 1)
    }

    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let frame: [UInt8]
        let counter: String
        var testDescription: String { name }
    }

    static let syn = fromClient()
    static let passCases: [Case] = [
        Case(name: "no rule for the port", frame: syn.with { $0.tcp?.dport = 9999 }.bytes, counter: "pass_no_rule"),
        Case(name: "hop limit 1", frame: syn.with { $0.ip.hopLimit = 1 }.bytes, counter: "pass_ttl"),
        Case(name: "backend without a route", frame: syn.with { $0.tcp?.dport = 7000 }.bytes, counter: "pass_no_route"),
        Case(name: "AH (not walked)", frame: syn.with { $0.extensionHeaders = [.init(type: 51, body: Array(repeating: 0, count: 14))] }.bytes,
             counter: "pass_ipv6_exthdr"),
        Case(name: "routing header with segments left", frame: syn.with { $0.extensionHeaders = [.routing(segmentsLeft: 1)] }.bytes,
             counter: "pass_ipv6_exthdr"),
        Case(name: "more extension headers than the bound", frame: syn.with {
            $0.extensionHeaders = Array(repeating: .destinationOptions(), count: Int(XDPFWD_MAX_EXTHDRS) + 1)
        }.bytes, counter: "pass_ipv6_exthdr"),
        Case(name: "first fragment", frame: syn.with { $0.extensionHeaders = [.fragment(offset: 0, more: true)] }.bytes,
             counter: "pass_fragment"),
        Case(name: "later fragment", frame: syn.with { $0.extensionHeaders = [.fragment(offset: 185, more: false)] }.bytes,
             counter: "pass_fragment"),
        Case(name: "ICMPv6 echo request to the listen address",
             frame: Packet6.icmp6(src: "2001:2::2", dst: "2001:2::1", type: 128, body: [0, 1, 0, 1], srcMAC: T.clientMAC, dstMAC: T.inMAC).bytes,
             counter: "pass_not_tcp_udp"),
        Case(name: "neighbour solicitation",
             frame: Packet6.icmp6(src: "2001:2::2", dst: "ff02::1:ff00:1", type: 135, body: Packet6.Address("2001:2::1").bytes,
                                  hopLimit: 255, srcMAC: T.clientMAC, dstMAC: T.inMAC).bytes,
             counter: "pass_not_tcp_udp"),
        Case(name: "IPv6 header truncated", frame: Array(syn.bytes.prefix(14 + 39)), counter: "pass_malformed"),
        Case(name: "payload length beyond the frame", frame: syn.with { $0.ip.payloadLength = 400 }.bytes, counter: "pass_malformed"),
        Case(name: "payload length 0 (jumbogram)", frame: syn.with { $0.ip.payloadLength = 0 }.bytes, counter: "pass_malformed"),
        Case(name: "TCP header truncated", frame: Array(syn.with { $0.ip.payloadLength = 19 }.bytes.dropLast(1)), counter: "pass_malformed"),
        Case(name: "no next header", frame: syn.with { $0.transport = .raw; $0.payload = [0, 0, 0, 0] }.bytes, counter: "pass_not_tcp_udp"),
    ]

    @Test(arguments: passCases)
    func passesUntouched(_ testCase: Case) throws {
        let f = try F()
        try f.addRule("tcp", "[2001:2::1]:8080", "[2001:2:0:1::2]:8000")
        try f.addRule("tcp", "[2001:2::1]:7000", "[2001:2:0:9::9]:7000")

        let result = try f.run(testCase.frame)

        #expect(result.verdict == .pass)
        #expect(result.output == testCase.frame, "\(Packet6.describe(result.output)) != \(Packet6.describe(testCase.frame))")
        #expect(try f.counter(testCase.counter) == 1)
        #expect(try f.counter("verdict_pass") == 1)
        #expect(try f.maps.flows6.keys().isEmpty)
    }
}
