import CXDP
import Glibc
import Packets
import TestSupport
import Testing
@testable import XDPLoader

/// Packets the forwarder translates: packet in, verdict and the exact packet
/// out. Expected packets are built from scratch by the test packet builder,
/// whose checksums are full recomputations, independent of the data plane's
/// incremental updates. The one value the data plane picks at random, the
/// SNAT source port, is read from its output and checked against the range.
@Suite("XDP: forwarding and reply translation", .serialized,
       .enabled(if: Capabilities.bpfAndNetns, Capabilities.reason))
struct ForwardingTests {
    typealias F = DatapathFixture
    static let inMAC: Packet.MAC = "02:00:00:00:00:01"
    static let clientMAC: Packet.MAC = "02:00:00:00:00:02"
    static let sameSideMAC: Packet.MAC = "02:00:00:00:00:03"
    static let outMAC: Packet.MAC = "02:00:00:00:01:01"
    static let backendMAC: Packet.MAC = "02:00:00:00:01:02"

    static func fromClient(_ src: Packet.Endpoint = "198.18.0.2:40000", to dst: Packet.Endpoint = "198.18.0.1:8080",
                           flags: Packet.TCPFlags = [.syn]) -> Packet {
        .tcp(src: src, dst: dst, flags: flags, seq: 1000, payload: [], srcMAC: clientMAC, dstMAC: inMAC)
    }

    /// The SNAT port the data plane chose, checked against the default range.
    static func snatPort(_ output: [UInt8]) throws -> UInt16 {
        let packet = try Packet.decode(output)
        let port = try #require(packet.tcp?.sport ?? packet.udp?.sport)
        #expect((1024...65535).contains(port))
        return port
    }

    /// `packet` as it should leave the forwarder: tuple rewritten to
    /// src -> dst, TTL one less, MACs of the next hop.
    static func translated(_ packet: Packet, src: Packet.Endpoint, dst: Packet.Endpoint,
                           dstMAC: Packet.MAC = backendMAC, srcMAC: Packet.MAC = outMAC) -> Packet {
        packet.with {
            $0.ethernet = .init(dst: dstMAC, src: srcMAC)
            $0.ip.src = src.address; $0.ip.dst = dst.address; $0.ip.ttl -= 1
            $0.tcp?.sport = src.port; $0.tcp?.dport = dst.port
            $0.udp?.sport = src.port; $0.udp?.dport = dst.port
        }
    }

    static func expectBytes(_ actual: [UInt8], _ expected: Packet, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(actual == expected.bytes, "got \(Packet.describe(actual)), want \(Packet.describe(expected.bytes))",
                sourceLocation: sourceLocation)
        #expect(Packet.checksumsValid(actual), "bad checksums: \(Packet.checksumErrors(actual))", sourceLocation: sourceLocation)
    }

    @Test("TCP SYN: full NAT towards the backend, redirected out of out0")
    func forwardSYN() throws {
        let f = try F()
        let rule = try f.addRule("tcp", "198.18.0.1:8080", "198.18.1.2:8000")
        let syn = Self.fromClient()

        let result = try f.run(syn.bytes)

        #expect(result.verdict == .redirect)
        let port = try Self.snatPort(result.output)
        Self.expectBytes(result.output, Self.translated(syn, src: .init("198.18.1.1", port), dst: .init("198.18.1.2", 8000)))
        #expect(try f.counter("flow_new") == 1)
        #expect(try f.counter("verdict_redirect") == 1)
        #expect(try f.ruleCounters(rule.id).forward == DirectionCounters(packets: 1, bytes: UInt64(syn.bytes.count)))
        #expect(try f.maps.flows.keys().count == 2)
    }

    @Test("reply from the backend is translated back to the client")
    func replyTranslation() throws {
        let f = try F()
        let rule = try f.addRule("tcp", "198.18.0.1:8080", "198.18.1.2:8000")
        let port = try Self.snatPort(f.run(Self.fromClient().bytes).output)
        let synAck = Packet.tcp(src: "198.18.1.2:8000", dst: .init("198.18.1.1", port), flags: [.syn, .ack],
                                seq: 5000, ack: 1001, payload: Array("hello".utf8), srcMAC: Self.backendMAC, dstMAC: Self.outMAC)

        let result = try f.run(synAck.bytes, ingress: f.outIndex)

        #expect(result.verdict == .redirect)
        Self.expectBytes(result.output, Self.translated(synAck, src: .init("198.18.0.1", 8080), dst: .init("198.18.0.2", 40000), dstMAC: Self.clientMAC, srcMAC: Self.inMAC))
        #expect(try f.ruleCounters(rule.id).reply == DirectionCounters(packets: 1, bytes: UInt64(synAck.bytes.count)))

        // The same flow's next client packet reuses the translation.
        let ack = try f.run(Self.fromClient(flags: [.ack]).bytes)
        #expect(try Self.snatPort(ack.output) == port)
        #expect(try f.counter("flow_new") == 1)
        let states = try f.maps.flows.entries().map { $0.1.state }
        #expect(states.allSatisfy { UInt32($0) == XDPFWD_CT_TCP_EST.rawValue }, "both directions established: \(states)")
    }

    @Test("IPv4 options are carried through and the header checksum stays valid")
    func ipOptions() throws {
        let f = try F()
        try f.addRule("tcp", "198.18.0.1:8080", "198.18.1.2:8000")
        // Record Route (7) with room for one address, then NOP padding.
        let syn = Self.fromClient().with { $0.ip.options = [7, 7, 4, 0, 0, 0, 0, 1] }

        let result = try f.run(syn.bytes)

        #expect(result.verdict == .redirect)
        let port = try Self.snatPort(result.output)
        Self.expectBytes(result.output, Self.translated(syn, src: .init("198.18.1.1", port), dst: .init("198.18.1.2", 8000)))
    }

    @Test("UDP: a zero (absent) checksum stays zero; a present one is updated", arguments: [true, false])
    func udpChecksum(zero: Bool) throws {
        let f = try F()
        try f.addRule("udp", "198.18.0.1:5353", "198.18.1.2:5300")
        let query = Packet.udp(src: "198.18.0.2:41000", dst: "198.18.0.1:5353", payload: Array("question".utf8),
                               checksum: zero ? .none : .computed, srcMAC: Self.clientMAC, dstMAC: Self.inMAC)

        let result = try f.run(query.bytes)

        #expect(result.verdict == .redirect)
        let port = try Self.snatPort(result.output)
        Self.expectBytes(result.output, Self.translated(query, src: .init("198.18.1.1", port), dst: .init("198.18.1.2", 5300)))
        #expect(try Packet.decode(result.output).udp?.checksum == (zero ? .value(0) : Packet.decode(result.output).udp?.checksum))
        if zero { #expect(result.output[14 + 20 + 6] == 0 && result.output[14 + 20 + 7] == 0) }
    }

    @Test("Ethernet padding after tot_len is carried through untouched")
    func ethernetPadding() throws {
        let f = try F()
        try f.addRule("udp", "198.18.0.1:5353", "198.18.1.2:5300")
        let query = Packet.udp(src: "198.18.0.2:41000", dst: "198.18.0.1:5353", payload: [1],
                               srcMAC: Self.clientMAC, dstMAC: Self.inMAC).with { $0.trailer = [0xAA, 0xBB, 0xCC] }

        let result = try f.run(query.bytes)

        #expect(result.verdict == .redirect)
        let port = try Self.snatPort(result.output)
        Self.expectBytes(result.output, Self.translated(query, src: .init("198.18.1.1", port), dst: .init("198.18.1.2", 5300)))
    }

    @Test("two clients with the same source port get distinct SNAT ports, and replies reach each")
    func sameSourcePort() throws {
        let f = try F()
        try f.addRule("tcp", "198.18.0.1:8080", "198.18.1.2:8000")
        try f.namespace.ip(["neigh", "add", "198.18.0.4", "lladdr", "02:00:00:00:00:04", "dev", "in0", "nud", "permanent"])
        let first = try Self.snatPort(f.run(Self.fromClient("198.18.0.2:40000").bytes).output)
        let second = try Self.snatPort(f.run(Self.fromClient("198.18.0.4:40000").bytes).output)
        #expect(first != second)

        for (port, client) in [(first, "198.18.0.2"), (second, "198.18.0.4")] {
            let reply = Packet.tcp(src: "198.18.1.2:8000", dst: .init("198.18.1.1", port), flags: [.syn, .ack],
                                   srcMAC: Self.backendMAC, dstMAC: Self.outMAC)
            let out = try Packet.decode(f.run(reply.bytes, ingress: f.outIndex).output)
            #expect(out.ip.dst == Packet.Address(stringLiteral: client))
            #expect(out.tcp?.dport == 40000)
        }
    }

    @Test("a narrow SNAT port range is honoured and exhaustion drops with a counter")
    func portExhaustion() throws {
        let f = try F()
        try f.addRule("udp", "198.18.0.1:5353", "198.18.1.2:5300")
        try f.setConfig { $0.snat_port_min = 40000; $0.snat_port_max = 40001 }
        var ports: Set<UInt16> = []
        for sport: UInt16 in [1000, 1001] {
            let query = Packet.udp(src: .init("198.18.0.2", sport), dst: "198.18.0.1:5353", srcMAC: Self.clientMAC, dstMAC: Self.inMAC)
            let result = try f.run(query.bytes)
            #expect(result.verdict == .redirect)
            ports.insert(try Packet.decode(result.output).udp!.sport)
        }
        #expect(ports == [40000, 40001])

        let third = Packet.udp(src: "198.18.0.2:1002", dst: "198.18.0.1:5353", srcMAC: Self.clientMAC, dstMAC: Self.inMAC)
        let result = try f.run(third.bytes)
        #expect(result.verdict == .drop)
        #expect(try f.counter("drop_ports_exhausted") == 1)
    }

    @Test("--snat none keeps the client address and port (DNAT only)")
    func dnatOnly() throws {
        let f = try F()
        try f.addRule("tcp", "198.18.0.1:8080", "198.18.1.2:8000", snat: "none")
        let syn = Self.fromClient()

        let result = try f.run(syn.bytes)

        #expect(result.verdict == .redirect)
        Self.expectBytes(result.output, syn.with {
            $0.ethernet = .init(dst: Self.backendMAC, src: Self.outMAC)
            $0.ip.dst = "198.18.1.2"; $0.ip.ttl = 63
            $0.tcp?.dport = 8000
        })
        let reply = Packet.tcp(src: "198.18.1.2:8000", dst: "198.18.0.2:40000", flags: [.syn, .ack],
                               srcMAC: Self.backendMAC, dstMAC: Self.outMAC)
        let back = try f.run(reply.bytes, ingress: f.outIndex)
        #expect(back.verdict == .redirect)
        Self.expectBytes(back.output, reply.with {
            $0.ethernet = .init(dst: Self.clientMAC, src: Self.inMAC)
            $0.ip.src = "198.18.0.1"; $0.ip.ttl = 63
            $0.tcp?.sport = 8080
        })
    }

    @Test("--snat ADDR uses that source address")
    func fixedSNAT() throws {
        let f = try F()
        try f.addRule("tcp", "198.18.0.1:8080", "198.18.1.2:8000", snat: "198.18.1.50")
        let result = try f.run(Self.fromClient().bytes)
        #expect(result.verdict == .redirect)
        #expect(try Packet.decode(result.output).ip.src == "198.18.1.50")
        #expect(Packet.checksumsValid(result.output))
    }

    @Test("a backend on the ingress side goes back out with XDP_TX")
    func hairpinTX() throws {
        let f = try F()
        try f.addRule("tcp", "198.18.0.1:8080", "198.18.0.3:8000")
        let syn = Self.fromClient()

        let result = try f.run(syn.bytes)

        #expect(result.verdict == .tx)
        let port = try Self.snatPort(result.output)
        Self.expectBytes(result.output, Self.translated(syn, src: .init("198.18.0.1", port), dst: .init("198.18.0.3", 8000), dstMAC: Self.sameSideMAC, srcMAC: Self.inMAC))
        #expect(try f.counter("verdict_tx") == 1)
    }

    @Test("unresolved neighbour: translated and passed up for the TC slow path")
    func slowPath() throws {
        let f = try F()
        try f.addRule("tcp", "198.18.0.1:8080", "198.18.1.3:8000")
        let syn = Self.fromClient()

        let result = try f.run(syn.bytes)

        #expect(result.verdict == .pass)
        // BPF_PROG_TEST_RUN returns the XDP metadata in front of the frame:
        // the request to the TC program, {magic, egress ifindex}, host order.
        let meta = Array(result.output.prefix(MemoryLayout<xdpfwd_meta>.size))
        let frame = Array(result.output.dropFirst(meta.count))
        let magic = UInt32(meta[0]) | UInt32(meta[1]) << 8 | UInt32(meta[2]) << 16 | UInt32(meta[3]) << 24
        let ifindex = UInt32(meta[4]) | UInt32(meta[5]) << 8 | UInt32(meta[6]) << 16 | UInt32(meta[7]) << 24
        #expect(magic == XDPFWD_META_MAGIC)
        #expect(ifindex == f.outIndex)
        let port = try Self.snatPort(frame)
        // MACs stay: the kernel's neighbour output writes them after resolution.
        Self.expectBytes(frame, syn.with {
            $0.ip.src = "198.18.1.1"; $0.ip.dst = "198.18.1.3"; $0.ip.ttl = 63
            $0.tcp?.sport = port; $0.tcp?.dport = 8000
        })
        #expect(try f.counter("pass_slowpath") == 1)
        #expect(try f.counter("flow_new") == 1)
    }

    @Test("replacing a rule's backend keeps established flows on the old backend")
    func liveBackendChange() throws {
        let f = try F()
        try f.addRule("tcp", "198.18.0.1:8080", "198.18.1.2:8000")
        _ = try f.run(Self.fromClient("198.18.0.2:40000").bytes)
        try f.addRule("tcp", "198.18.0.1:8080", "198.18.0.3:9000")

        let old = try Packet.decode(f.run(Self.fromClient("198.18.0.2:40000", flags: [.ack]).bytes).output)
        let new = try Packet.decode(f.run(Self.fromClient("198.18.0.2:40001").bytes).output)

        #expect(old.ip.dst == "198.18.1.2" && old.tcp?.dport == 8000)
        #expect(new.ip.dst == "198.18.0.3" && new.tcp?.dport == 9000)
    }

    @Test("deleting a rule: established flows continue, new ones pass to the kernel")
    func ruleDelete() throws {
        let f = try F()
        let rule = try f.addRule("tcp", "198.18.0.1:8080", "198.18.1.2:8000")
        _ = try f.run(Self.fromClient("198.18.0.2:40000").bytes)
        #expect(try RuleTable(maps: f.maps).delete(rule.rule.key))

        #expect(try f.run(Self.fromClient("198.18.0.2:40000", flags: [.ack]).bytes).verdict == .redirect)
        let fresh = Self.fromClient("198.18.0.2:40001").bytes
        let result = try f.run(fresh)
        #expect(result.verdict == .pass && result.output == fresh)
        #expect(try f.counter("pass_no_rule") == 1)
    }

    @Test("RST moves both conntrack entries to the short RST timeout")
    func rstState() throws {
        let f = try F()
        try f.addRule("tcp", "198.18.0.1:8080", "198.18.1.2:8000")
        _ = try f.run(Self.fromClient().bytes)
        #expect(try f.run(Self.fromClient(flags: [.rst]).bytes).verdict == .redirect)
        let states = try f.maps.flows.entries().map { UInt32($0.1.state) }
        #expect(states == [XDPFWD_CT_TCP_RST.rawValue, XDPFWD_CT_TCP_RST.rawValue])
    }

    /// The client's FIN, or its RST, that moves a flow to a closing state.
    static let closings: [Packet.TCPFlags] = [[.fin, .ack], [.rst]]

    @Test("a client SYN on a FIN or RST flow starts a new flow: the current backend, the old reply entry gone",
          arguments: closings)
    func reuseClosingTuple(closing: Packet.TCPFlags) throws {
        let f = try F()
        try f.addRule("tcp", "198.18.0.1:8080", "198.18.1.2:8000")
        let syn = Self.fromClient()
        let first = try f.run(syn.bytes)
        let oldPort = try Self.snatPort(first.output)
        Self.expectBytes(first.output, Self.translated(syn, src: .init("198.18.1.1", oldPort), dst: "198.18.1.2:8000"))
        #expect(try f.run(Self.fromClient(flags: closing).bytes).verdict == .redirect)
        try f.addRule("tcp", "198.18.0.1:8080", "198.18.1.2:9000")

        let again = try f.run(syn.bytes)

        #expect(again.verdict == .redirect)
        let port = try Self.snatPort(again.output)
        Self.expectBytes(again.output, Self.translated(syn, src: .init("198.18.1.1", port), dst: "198.18.1.2:9000"))
        let entries = try f.maps.flows.entries()
        #expect(entries.count == 2, "the new flow's two entries only: \(entries.count)")
        #expect(!entries.contains { UInt16(bigEndian: $0.0.sport) == 8000 }, "the old reply entry is gone")
        #expect(entries.allSatisfy { UInt32($0.1.state) == XDPFWD_CT_TCP_OPENING.rawValue })
        #expect(try f.counter("flow_new") == 2)
        #expect(try f.counter("flow_expired") == 1)
    }

    @Test("a retransmitted SYN on an opening flow keeps its translation")
    func retransmittedSYN() throws {
        let f = try F()
        try f.addRule("tcp", "198.18.0.1:8080", "198.18.1.2:8000")
        let syn = Self.fromClient()
        let port = try Self.snatPort(f.run(syn.bytes).output)
        try f.addRule("tcp", "198.18.0.1:8080", "198.18.1.2:9000")

        let again = try f.run(syn.bytes)

        #expect(again.verdict == .redirect)
        Self.expectBytes(again.output, Self.translated(syn, src: .init("198.18.1.1", port), dst: "198.18.1.2:8000"))
        #expect(try f.counter("flow_new") == 1)
        #expect(try f.maps.flows.keys().count == 2)
    }

    @Test("--snat none: a new connection on a closing tuple claims the same reply tuple again", arguments: closings)
    func reuseClosingTupleDNAT(closing: Packet.TCPFlags) throws {
        let f = try F()
        try f.addRule("tcp", "198.18.0.1:8080", "198.18.1.2:8000", snat: "none")
        let syn = Self.fromClient()
        let expected = Self.translated(syn, src: "198.18.0.2:40000", dst: "198.18.1.2:8000")
        Self.expectBytes(try f.run(syn.bytes).output, expected)
        let reply = Packet.tcp(src: "198.18.1.2:8000", dst: "198.18.0.2:40000", flags: [.syn, .ack],
                               srcMAC: Self.backendMAC, dstMAC: Self.outMAC)
        #expect(try f.run(reply.bytes, ingress: f.outIndex).verdict == .redirect)
        #expect(try f.run(Self.fromClient(flags: closing).bytes).verdict == .redirect)

        let again = try f.run(syn.bytes)

        #expect(again.verdict == .redirect)
        Self.expectBytes(again.output, expected)
        #expect(try f.counter("drop_flow_clash") == 0)
        #expect(try f.counter("flow_new") == 2)
        let states = try f.maps.flows.entries().map { UInt32($0.1.state) }
        #expect(states == [XDPFWD_CT_TCP_OPENING.rawValue, XDPFWD_CT_TCP_OPENING.rawValue])
    }

    @Test("an idle flow past its timeout is replaced by a new one")
    func expiry() throws {
        let f = try F()
        try f.addRule("udp", "198.18.0.1:5353", "198.18.1.2:5300")
        try f.setConfig { $0.timeout_udp = 1 }
        let query = Packet.udp(src: "198.18.0.2:41000", dst: "198.18.0.1:5353", srcMAC: Self.clientMAC, dstMAC: Self.inMAC)
        #expect(try f.run(query.bytes).verdict == .redirect)
        usleep(2_200_000)  // behaviour under a 1 s timeout, not a speed check

        #expect(try f.run(query.bytes).verdict == .redirect)
        #expect(try f.counter("flow_expired") == 1)
        #expect(try f.counter("flow_new") == 2)
    }
}
