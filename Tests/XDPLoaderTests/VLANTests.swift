import CXDP
import Packets
import RuleModel
import TestSupport
import Testing
@testable import XDPLoader

/// VLAN-tagged traffic: 802.1Q and QinQ tags parsed on ingress, the egress
/// VLAN upper mapped to its lower device with the right tags pushed,
/// popped or rewritten. The test bed's VLAN uppers (TestRunBed.VLANUpper):
///
///   in0.100     198.18.2.1, host .2   802.1Q 100 on in0
///   in0.101     198.18.5.1, host .2   802.1Q 101 on in0 (hairpin)
///   out0.200    198.18.3.1, host .2   802.1Q 200, PCP 5, on out0; .3 has no neighbour
///   out0.300.30 198.18.4.1, host .2   802.1ad 300 + 802.1Q 30 on out0
///
/// Expected frames are built from scratch by the packet builder, tags included.
@Suite("XDP: VLAN tags in and out", .serialized,
       .enabled(if: Capabilities.bpfAndNetns, Capabilities.reason))
struct VLANTests {
    typealias F = DatapathFixture
    typealias T = Packet.VLANTag

    /// One side of a flow: where a host sits, the tags its frames carry,
    /// and the MACs of the host and of the forwarder's device facing it.
    struct Side: Sendable {
        let host: Packet.Address
        let tags: [T]
        let hostMAC: Packet.MAC
        let ourMAC: Packet.MAC
        let ourAddress: Packet.Address
        let lower: String
        /// The IPv6 /64 of this side: ::1 ours, ::2 the host.
        let net6: String
        var host6: Packet6.Address { Packet6.Address(stringLiteral: "\(net6)::2") }
        var ourAddress6: Packet6.Address { Packet6.Address(stringLiteral: "\(net6)::1") }

        static let in0 = Side(host: "198.18.0.2", tags: [], hostMAC: "02:00:00:00:00:02", ourMAC: "02:00:00:00:00:01",
                              ourAddress: "198.18.0.1", lower: "in0", net6: "2001:2:0:0")
        static let in0v100 = Side(host: "198.18.2.2", tags: [.dot1q(100)], hostMAC: "02:00:00:00:02:02",
                                  ourMAC: "02:00:00:00:02:01", ourAddress: "198.18.2.1", lower: "in0", net6: "2001:2:0:2")
        static let in0v101 = Side(host: "198.18.5.2", tags: [.dot1q(101)], hostMAC: "02:00:00:00:05:02",
                                  ourMAC: "02:00:00:00:05:01", ourAddress: "198.18.5.1", lower: "in0", net6: "2001:2:0:5")
        static let out0 = Side(host: "198.18.1.2", tags: [], hostMAC: "02:00:00:00:01:02", ourMAC: "02:00:00:00:01:01",
                               ourAddress: "198.18.1.1", lower: "out0", net6: "2001:2:0:1")
        static let out0v200 = Side(host: "198.18.3.2", tags: [.dot1q(200, pcp: 5)], hostMAC: "02:00:00:00:03:02",
                                   ourMAC: "02:00:00:00:03:01", ourAddress: "198.18.3.1", lower: "out0", net6: "2001:2:0:3")
        static let out0qinq = Side(host: "198.18.4.2", tags: [.dot1ad(300), .dot1q(30)], hostMAC: "02:00:00:00:04:02",
                                   ourMAC: "02:00:00:00:04:01", ourAddress: "198.18.4.1", lower: "out0", net6: "2001:2:0:4")
    }

    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let proto: String
        let client: Side
        let backend: Side
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "tagged in (802.1Q 100), untagged out: pop", proto: "tcp", client: .in0v100, backend: .out0),
        Case(name: "untagged in, tagged out (802.1Q 200, PCP 5): push", proto: "tcp", client: .in0, backend: .out0v200),
        Case(name: "single tag in and out: rewrite 100 -> 200 across devices", proto: "udp", client: .in0v100, backend: .out0v200),
        Case(name: "tag rewrite on one trunk: 100 -> 101, XDP_TX", proto: "tcp", client: .in0v100, backend: .in0v101),
        Case(name: "untagged in, QinQ out (802.1ad 300 + 802.1Q 30): push two", proto: "udp", client: .in0, backend: .out0qinq),
        Case(name: "single tag in, QinQ out", proto: "tcp", client: .in0v100, backend: .out0qinq),
    ]

    static let listenPort: UInt16 = 8080
    static let backendPort: UInt16 = 8000

    static func packet(_ proto: String, src: Packet.Endpoint, dst: Packet.Endpoint, flags: Packet.TCPFlags,
                       srcMAC: Packet.MAC, dstMAC: Packet.MAC, tags: [T]) -> Packet {
        let p: Packet = proto == "tcp"
            ? .tcp(src: src, dst: dst, flags: flags, seq: 7, payload: Array("tagged".utf8), srcMAC: srcMAC, dstMAC: dstMAC)
            : .udp(src: src, dst: dst, payload: Array("tagged".utf8), srcMAC: srcMAC, dstMAC: dstMAC)
        return p.with { $0.ethernet.tags = tags }
    }

    static func expectBytes(_ actual: [UInt8], _ expected: Packet, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(actual == expected.bytes, "got \(Packet.describe(actual)), want \(Packet.describe(expected.bytes))",
                sourceLocation: sourceLocation)
        #expect(Packet.checksumsValid(actual), "bad checksums: \(Packet.checksumErrors(actual))", sourceLocation: sourceLocation)
    }

    static func verdict(from: Side, to: Side) -> XDPVerdict { from.lower == to.lower ? .tx : .redirect }

    /// Forward (client -> listen), reply (backend -> SNAT address), and the
    /// forward direction again on the established (cached) path.
    @Test(arguments: cases)
    func forwardAndReply(_ c: Case) throws {
        let f = try F(vlans: true)
        let listen = Packet.Endpoint(c.client.ourAddress, Self.listenPort)
        let backend = Packet.Endpoint(c.backend.host, Self.backendPort)
        try f.addRule(c.proto, "\(listen)", "\(backend)")
        let index: (Side) -> UInt32 = { $0.lower == "in0" ? f.inIndex : f.outIndex }
        let client = Packet.Endpoint(c.client.host, 40000)

        let first = Self.packet(c.proto, src: client, dst: listen, flags: [.syn], srcMAC: c.client.hostMAC,
                                dstMAC: c.client.ourMAC, tags: c.client.tags)
        let out = try f.run(first.bytes, ingress: index(c.client))
        #expect(out.verdict == Self.verdict(from: c.client, to: c.backend))
        let decoded = try Packet.decode(out.output)
        let port = try #require(decoded.tcp?.sport ?? decoded.udp?.sport)
        let snat = Packet.Endpoint(c.backend.ourAddress, port)
        Self.expectBytes(out.output, Self.packet(c.proto, src: snat, dst: backend, flags: [.syn], srcMAC: c.backend.ourMAC,
                                                 dstMAC: c.backend.hostMAC, tags: c.backend.tags).with { $0.ip.ttl = 63 })

        let reply = Self.packet(c.proto, src: backend, dst: snat, flags: [.syn, .ack], srcMAC: c.backend.hostMAC,
                                dstMAC: c.backend.ourMAC, tags: c.backend.tags)
        let back = try f.run(reply.bytes, ingress: index(c.backend))
        #expect(back.verdict == Self.verdict(from: c.backend, to: c.client))
        Self.expectBytes(back.output, Self.packet(c.proto, src: listen, dst: client, flags: [.syn, .ack], srcMAC: c.client.ourMAC,
                                                  dstMAC: c.client.hostMAC, tags: c.client.tags).with { $0.ip.ttl = 63 })

        // Established: the next hop and its tags come from the flow entry.
        let again = try f.run(first.with { $0.tcp?.flags = [.ack] }.bytes, ingress: index(c.client))
        Self.expectBytes(again.output, Self.packet(c.proto, src: snat, dst: backend, flags: [.ack], srcMAC: c.backend.ourMAC,
                                                   dstMAC: c.backend.hostMAC, tags: c.backend.tags).with { $0.ip.ttl = 63 })
        #expect(try f.counter("flow_new") == 1)
        #expect(try f.counter("drop_vlan") == 0)
        let forward = try #require(try f.maps.flows.entries().first { $0.1.direction == UInt8(XDPFWD_DIR_FORWARD.rawValue) }?.1)
        #expect(forward.nh_ifindex == index(c.backend), "the entry caches the lower device")
        #expect(Int(forward.nh_vlan & UInt8(XDPFWD_VLAN_COUNT_MASK)) == c.backend.tags.count)
    }

    static func packet6(_ proto: String, src: Packet6.Endpoint, dst: Packet6.Endpoint, flags: Packet.TCPFlags,
                        srcMAC: Packet.MAC, dstMAC: Packet.MAC, tags: [T], hopLimit: UInt8 = 64) -> Packet6 {
        let p: Packet6 = proto == "tcp"
            ? .tcp(src: src, dst: dst, flags: flags, seq: 7, payload: Array("tagged".utf8), hopLimit: hopLimit,
                   srcMAC: srcMAC, dstMAC: dstMAC)
            : .udp(src: src, dst: dst, payload: Array("tagged".utf8), hopLimit: hopLimit, srcMAC: srcMAC, dstMAC: dstMAC)
        return p.with { $0.ethernet.tags = tags }
    }

    static func expectBytes6(_ actual: [UInt8], _ expected: Packet6, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(actual == expected.bytes, "got \(Packet6.describe(actual)), want \(Packet6.describe(expected.bytes))",
                sourceLocation: sourceLocation)
        #expect(Packet6.checksumErrors(actual).isEmpty, "bad checksums: \(Packet6.checksumErrors(actual))",
                sourceLocation: sourceLocation)
    }

    /// The same cases over IPv6: the tail-called IPv6 program parses the
    /// tags again and pushes its flow entry's tags the same way.
    @Test(arguments: cases)
    func forwardAndReply6(_ c: Case) throws {
        let f = try F(vlans: true)
        let listen = Packet6.Endpoint(c.client.ourAddress6, Self.listenPort)
        let backend = Packet6.Endpoint(c.backend.host6, Self.backendPort)
        try f.addRule(c.proto, "\(listen)", "\(backend)")
        let index: (Side) -> UInt32 = { $0.lower == "in0" ? f.inIndex : f.outIndex }
        let client = Packet6.Endpoint(c.client.host6, 40000)

        let first = Self.packet6(c.proto, src: client, dst: listen, flags: [.syn], srcMAC: c.client.hostMAC,
                                 dstMAC: c.client.ourMAC, tags: c.client.tags)
        let out = try f.run(first.bytes, ingress: index(c.client))
        #expect(out.verdict == Self.verdict(from: c.client, to: c.backend))
        let decoded = try Packet6.decode(out.output)
        let port = try #require(decoded.tcp?.sport ?? decoded.udp?.sport)
        let snat = Packet6.Endpoint(c.backend.ourAddress6, port)
        Self.expectBytes6(out.output, Self.packet6(c.proto, src: snat, dst: backend, flags: [.syn], srcMAC: c.backend.ourMAC,
                                                   dstMAC: c.backend.hostMAC, tags: c.backend.tags, hopLimit: 63))

        let reply = Self.packet6(c.proto, src: backend, dst: snat, flags: [.syn, .ack], srcMAC: c.backend.hostMAC,
                                 dstMAC: c.backend.ourMAC, tags: c.backend.tags)
        let back = try f.run(reply.bytes, ingress: index(c.backend))
        #expect(back.verdict == Self.verdict(from: c.backend, to: c.client))
        Self.expectBytes6(back.output, Self.packet6(c.proto, src: listen, dst: client, flags: [.syn, .ack], srcMAC: c.client.ourMAC,
                                                    dstMAC: c.client.hostMAC, tags: c.client.tags, hopLimit: 63))

        let again = try f.run(first.with { $0.tcp?.flags = [.ack] }.bytes, ingress: index(c.client))
        Self.expectBytes6(again.output, Self.packet6(c.proto, src: snat, dst: backend, flags: [.ack], srcMAC: c.backend.ourMAC,
                                                     dstMAC: c.backend.hostMAC, tags: c.backend.tags, hopLimit: 63))
        #expect(try f.counter("flow_new") == 1)
        #expect(try f.counter("drop_vlan") == 0)
    }

    @Test("unresolved neighbour behind a VLAN: tags popped, slow path to the VLAN upper")
    func slowPathViaUpper() throws {
        let f = try F(vlans: true)
        try f.addRule("tcp", "198.18.2.1:8080", "198.18.3.3:8000")
        let syn = Self.packet("tcp", src: "198.18.2.2:40000", dst: "198.18.2.1:8080", flags: [.syn],
                              srcMAC: Side.in0v100.hostMAC, dstMAC: Side.in0v100.ourMAC, tags: [.dot1q(100)])

        let result = try f.run(syn.bytes)

        #expect(result.verdict == .pass)
        let meta = Array(result.output.prefix(MemoryLayout<xdpfwd_meta>.size))
        let frame = Array(result.output.dropFirst(meta.count))
        let ifindex = UInt32(meta[4]) | UInt32(meta[5]) << 8 | UInt32(meta[6]) << 16 | UInt32(meta[7]) << 24
        #expect(ifindex == f.bed.vlanIndex["out0.200"], "bpf_redirect_neigh to the upper, which tags it")
        let port = try #require(try Packet.decode(frame).tcp?.sport)
        // Untagged, MACs as received: the stack must not see the ingress VLAN.
        Self.expectBytes(frame, syn.with {
            $0.ethernet.tags = []
            $0.ip.src = "198.18.3.1"; $0.ip.dst = "198.18.3.3"; $0.ip.ttl = 63
            $0.tcp?.sport = port; $0.tcp?.dport = 8000
        })
        #expect(try f.counter("pass_slowpath") == 1)
    }

    struct PassCase: CustomTestStringConvertible, Sendable {
        let name: String
        let frame: [UInt8]
        let counter: String
        var testDescription: String { name }
    }

    static let syn = Packet.tcp(src: "198.18.2.2:40000", dst: "198.18.2.1:8080", flags: [.syn],
                                srcMAC: "02:00:00:00:02:02", dstMAC: "02:00:00:00:02:01")

    static let passCases: [PassCase] = [
        PassCase(name: "802.1Q tag cut short", frame: syn.tagged(.dot1q(100)).truncated(to: 14 + 2), counter: "pass_malformed"),
        PassCase(name: "QinQ inner tag cut short", frame: syn.tagged(.dot1ad(300), .dot1q(30)).truncated(to: 18 + 3),
                 counter: "pass_malformed"),
        PassCase(name: "tagged IPv4 header cut short", frame: syn.tagged(.dot1q(100)).truncated(to: 18 + 19), counter: "pass_malformed"),
        PassCase(name: "ARP behind an 802.1Q tag", frame: syn.tagged(.dot1q(100)).with { $0.ethernet.etherType = 0x0806 }.bytes,
                 counter: "pass_not_ipv4"),
        PassCase(name: "unknown type behind QinQ", frame: syn.tagged(.dot1ad(300), .dot1q(30)).with { $0.ethernet.etherType = 0x88B5 }.bytes,
                 counter: "pass_not_ipv4"),
        PassCase(name: "three tags", frame: syn.tagged(.dot1ad(300), .dot1q(30), .dot1q(3)).bytes, counter: "pass_not_ipv4"),
        PassCase(name: "802.1ad as the inner tag", frame: syn.tagged(.dot1q(100), .dot1ad(300)).bytes, counter: "pass_not_ipv4"),
        PassCase(name: "tagged, no rule for the port", frame: syn.tagged(.dot1q(100)).with { $0.tcp?.dport = 9999 }.bytes,
                 counter: "pass_no_rule"),
        PassCase(name: "QinQ, TTL 1", frame: syn.tagged(.dot1ad(300), .dot1q(30)).with { $0.ip.ttl = 1 }.bytes, counter: "pass_ttl"),
        PassCase(name: "tagged fragment", frame: syn.tagged(.dot1q(100)).with { $0.ip.flags = [.moreFragments] }.bytes,
                 counter: "pass_fragment"),
    ]

    @Test("tagged frames the forwarder leaves alone reach the kernel exactly as received", arguments: passCases)
    func passesUntouched(_ c: PassCase) throws {
        let f = try F(vlans: true)
        try f.addRule("tcp", "198.18.2.1:8080", "198.18.1.2:8000")

        let result = try f.run(c.frame)

        #expect(result.verdict == .pass)
        #expect(result.output == c.frame, "\(Packet.describe(result.output)) != \(Packet.describe(c.frame))")
        #expect(try f.counter(c.counter) == 1)
        #expect(try f.maps.flows.keys().isEmpty)
    }

    @Test("a VLAN upper without an IPv4 address gives --snat auto no source: dropped, counted")
    func upperWithoutAddress() throws {
        let f = try F(vlans: true)
        let upper = try #require(f.bed.vlanIndex["out0.200"])
        var entry = try #require(try f.maps.vlans.lookup(upper))
        entry.ipv4_addr = 0
        try f.maps.vlans.update(upper, entry)
        try f.addRule("tcp", "198.18.0.1:8080", "198.18.3.2:8000")

        let result = try f.run(Packet.tcp(src: "198.18.0.2:40000", dst: "198.18.0.1:8080", flags: [.syn],
                                          srcMAC: Side.in0.hostMAC, dstMAC: Side.in0.ourMAC).bytes)

        #expect(result.verdict == .drop)
        #expect(try f.counter("drop_no_snat_addr") == 1)
    }
}

/// VLANTable.entries: which VLAN devices become `xdpfwd_vlans` entries.
@Suite("VLAN uppers of attached interfaces")
struct VLANTableTests {
    @Test("single tags, QinQ flattened to the physical lower, unrelated and too-deep VLANs left out")
    func entries() {
        let links = [
            VLANLink(ifindex: 10, lowerIfindex: 2, vlanID: 100),                            // eth0.100
            VLANLink(ifindex: 11, lowerIfindex: 2, vlanID: 300, is8021ad: true, pcp: 3),    // eth0.300 (S-tag)
            VLANLink(ifindex: 12, lowerIfindex: 11, vlanID: 30),                            // eth0.300.30
            VLANLink(ifindex: 13, lowerIfindex: 12, vlanID: 5),                             // three deep
            VLANLink(ifindex: 14, lowerIfindex: 11, vlanID: 31, is8021ad: true),           // inner 802.1ad
            VLANLink(ifindex: 15, lowerIfindex: 9, vlanID: 100),                            // not on an attached device
        ]
        let table = VLANTable.entries(links: links, attached: [2, 3]) { ($0 == 10 ? 0x0102_A8C6 : 0, $0 == 12 ? IPv6Address("2001:2::7") : nil) }

        #expect(Set(table.keys) == [10, 11, 12])
        #expect(table[10]?.lower_ifindex == 2)
        #expect(table[10]?.tags == 1)
        #expect(table[10]?.tci.0 == UInt16(100).bigEndian)
        #expect(table[10]?.ipv4_addr == 0x0102_A8C6)
        #expect(table[11]?.tags == 1 | UInt8(XDPFWD_VLAN_OUTER_AD))
        #expect(table[11]?.tci.0 == UInt16(3 << 13 | 300).bigEndian)
        #expect(table[12]?.lower_ifindex == 2)
        #expect(table[12]?.tags == 2 | UInt8(XDPFWD_VLAN_OUTER_AD))
        #expect(table[12]?.tci.0 == UInt16(3 << 13 | 300).bigEndian)
        #expect(table[12]?.tci.1 == UInt16(30).bigEndian)
        #expect(table[12].map { IPv6Address(networkOrderWords: $0.ipv6_addr) } == IPv6Address("2001:2::7"))
    }
}
