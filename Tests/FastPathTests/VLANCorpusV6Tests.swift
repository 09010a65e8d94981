import CXDP
import FastPath
import Packets
import TestSupport
import Testing
import XDPLoader

/// The IPv6 cases of XDPLoaderTests' VLANTests (forwardAndReply6) through
/// the BPF program and FastPath side by side, plus what VLANCorpusTests adds
/// for IPv4: QinQ in, the slow path via an upper, ICMPv6 errors across
/// VLANs, tagged IPv6 frames both leave to the kernel. The TestRunBed's
/// uppers carry a /64 each (2001:2:0:N::/64 for 198.18.N.0/24; ::2 the
/// host, ::3 on out0.200 without a neighbour).
@Suite("FastPath parity: VLAN corpus, IPv6", .serialized,
       .enabled(if: Capabilities.bpfAndNetns, Capabilities.reason))
struct VLANCorpusV6Tests {
    typealias T = Packet.VLANTag

    struct Side: Sendable {
        let net6: String
        let tags: [T]
        let hostMAC: Packet.MAC
        let ourMAC: Packet.MAC
        let lower: String
        var host: Packet6.Address { Packet6.Address(stringLiteral: "\(net6)::2") }
        var ourAddress: Packet6.Address { Packet6.Address(stringLiteral: "\(net6)::1") }

        static let in0 = Side(net6: "2001:2:0:0", tags: [], hostMAC: "02:00:00:00:00:02", ourMAC: "02:00:00:00:00:01", lower: "in0")
        static let in0v100 = Side(net6: "2001:2:0:2", tags: [.dot1q(100)], hostMAC: "02:00:00:00:02:02",
                                  ourMAC: "02:00:00:00:02:01", lower: "in0")
        static let in0v101 = Side(net6: "2001:2:0:5", tags: [.dot1q(101)], hostMAC: "02:00:00:00:05:02",
                                  ourMAC: "02:00:00:00:05:01", lower: "in0")
        static let out0 = Side(net6: "2001:2:0:1", tags: [], hostMAC: "02:00:00:00:01:02", ourMAC: "02:00:00:00:01:01", lower: "out0")
        static let out0v200 = Side(net6: "2001:2:0:3", tags: [.dot1q(200, pcp: 5)], hostMAC: "02:00:00:00:03:02",
                                   ourMAC: "02:00:00:00:03:01", lower: "out0")
        static let out0qinq = Side(net6: "2001:2:0:4", tags: [.dot1ad(300), .dot1q(30)], hostMAC: "02:00:00:00:04:02",
                                   ourMAC: "02:00:00:00:04:01", lower: "out0")
    }

    struct Case: Sendable {
        let name: String
        let proto: String
        let client: Side
        let backend: Side
    }

    /// VLANTests.cases (run over IPv6 by forwardAndReply6), plus QinQ in.
    static let cases: [Case] = [
        Case(name: "tagged in (802.1Q 100), untagged out: pop", proto: "tcp", client: .in0v100, backend: .out0),
        Case(name: "untagged in, tagged out (802.1Q 200, PCP 5): push", proto: "tcp", client: .in0, backend: .out0v200),
        Case(name: "single tag in and out: rewrite 100 -> 200 across devices", proto: "udp", client: .in0v100, backend: .out0v200),
        Case(name: "tag rewrite on one trunk: 100 -> 101, XDP_TX", proto: "tcp", client: .in0v100, backend: .in0v101),
        Case(name: "untagged in, QinQ out (802.1ad 300 + 802.1Q 30): push two", proto: "udp", client: .in0, backend: .out0qinq),
        Case(name: "single tag in, QinQ out", proto: "tcp", client: .in0v100, backend: .out0qinq),
        Case(name: "QinQ in, single tag out on the same trunk: XDP_TX", proto: "udp", client: .out0qinq, backend: .out0v200),
    ]

    static func packet(_ proto: String, src: Packet6.Endpoint, dst: Packet6.Endpoint, flags: Packet.TCPFlags,
                       srcMAC: Packet.MAC, dstMAC: Packet.MAC, tags: [T], hopLimit: UInt8 = 64) -> Packet6 {
        let p: Packet6 = proto == "tcp"
            ? .tcp(src: src, dst: dst, flags: flags, seq: 7, payload: Array("tagged".utf8), hopLimit: hopLimit,
                   srcMAC: srcMAC, dstMAC: dstMAC)
            : .udp(src: src, dst: dst, payload: Array("tagged".utf8), hopLimit: hopLimit, srcMAC: srcMAC, dstMAC: dstMAC)
        return p.with { $0.ethernet.tags = tags }
    }

    /// Forward, reply and established forward of every case, with and
    /// without the conntrack cache, checked against builder-made frames too.
    @Test(arguments: [0, 64])
    func forwardAndReply(cacheSlots: Int) throws {
        let bed = try DifferentialBed(flowCacheSlots: cacheSlots)
        for (index, c) in Self.cases.enumerated() {
            let listen = Packet6.Endpoint(c.client.ourAddress, 8080 + UInt16(index))
            let backend = Packet6.Endpoint(c.backend.host, 8000)
            try bed.addRule(c.proto, "\(listen)", "\(backend)")
            let ingress: (Side) -> UInt32 = { $0.lower == "in0" ? bed.inIndex : bed.outIndex }
            let sameTrunk = c.client.lower == c.backend.lower
            let client = Packet6.Endpoint(c.client.host, 40000 + UInt16(index))

            let first = Self.packet(c.proto, src: client, dst: listen, flags: [.syn], srcMAC: c.client.hostMAC,
                                    dstMAC: c.client.ourMAC, tags: c.client.tags)
            let out = try bed.feed(first.bytes, ingress: ingress(c.client), "\(c.name): first")
            #expect(out.fastPath.action == (sameTrunk ? .tx : .redirect), "\(c.name)")
            #expect(out.fastPath.offset == (c.client.tags.count - c.backend.tags.count) * 4, "\(c.name)")
            let decoded = try Packet6.decode(out.output)
            let port = try #require(decoded.tcp?.sport ?? decoded.udp?.sport)
            let snat = Packet6.Endpoint(c.backend.ourAddress, port)
            #expect(out.output == Self.packet(c.proto, src: snat, dst: backend, flags: [.syn], srcMAC: c.backend.ourMAC,
                                              dstMAC: c.backend.hostMAC, tags: c.backend.tags, hopLimit: 63).bytes, "\(c.name)")

            let reply = Self.packet(c.proto, src: backend, dst: snat, flags: [.syn, .ack], srcMAC: c.backend.hostMAC,
                                    dstMAC: c.backend.ourMAC, tags: c.backend.tags)
            let back = try bed.feed(reply.bytes, ingress: ingress(c.backend), "\(c.name): reply")
            #expect(back.fastPath.action == (sameTrunk ? .tx : .redirect), "\(c.name)")
            #expect(back.output == Self.packet(c.proto, src: listen, dst: client, flags: [.syn, .ack], srcMAC: c.client.ourMAC,
                                               dstMAC: c.client.hostMAC, tags: c.client.tags, hopLimit: 63).bytes, "\(c.name)")

            try bed.feed(first.with { $0.tcp?.flags = [.ack] }.bytes, ingress: ingress(c.client), "\(c.name): established")
            try bed.expectSameFlows(c.name)
        }
    }

    @Test("IPv6: unresolved neighbour behind a VLAN: tags popped, slow path to the VLAN upper")
    func slowPathViaUpper() throws {
        let bed = try DifferentialBed()
        try bed.addRule("tcp", "[2001:2:0:2::1]:8080", "[2001:2:0:3::3]:8000")
        for (index, tags) in [[T.dot1q(100)], [.dot1ad(300), .dot1q(30)]].enumerated() {
            let syn = Self.packet("tcp", src: .init("2001:2:0:2::2", 40000 + UInt16(index)), dst: "[2001:2:0:2::1]:8080",
                                  flags: [.syn], srcMAC: Side.in0v100.hostMAC, dstMAC: Side.in0v100.ourMAC, tags: tags)
            let out = try bed.feed(syn.bytes, "slow path from \(tags.count) tags")
            #expect(out.fastPath.action == .slowpath && out.fastPath.ifindex == bed.bed.vlanIndex["out0.200"])
            #expect(out.fastPath.offset == 4 * tags.count, "every tag popped")
        }
        try bed.expectSameFlows("slow path")
    }

    static let syn = Packet6.tcp(src: "[2001:2:0:2::2]:40000", dst: "[2001:2:0:2::1]:8080", flags: [.syn],
                                 srcMAC: "02:00:00:00:02:02", dstMAC: "02:00:00:00:02:01")

    static func tagged(_ packet: Packet6, _ tags: T...) -> Packet6 { packet.with { $0.ethernet.tags = tags } }

    /// Tagged IPv6 frames both leave to the kernel, untouched.
    static let passCases: [(String, [UInt8])] = [
        ("tagged IPv6 header cut short", Array(tagged(syn, .dot1q(100)).bytes.prefix(18 + 39))),
        ("tagged, no rule for the port", tagged(syn.with { $0.tcp?.dport = 9999 }, .dot1q(100)).bytes),
        ("QinQ, hop limit 1", tagged(syn.with { $0.ip.hopLimit = 1 }, .dot1ad(300), .dot1q(30)).bytes),
        ("tagged fragment", tagged(syn.with { $0.extensionHeaders = [.fragment(offset: 0, more: true)] }, .dot1q(100)).bytes),
        ("tagged AH", tagged(syn.with { $0.extensionHeaders = [.init(type: 51, body: Array(repeating: 0, count: 14))] }, .dot1q(100)).bytes),
        ("three tags", tagged(syn, .dot1ad(300), .dot1q(30), .dot1q(3)).bytes),
    ]

    @Test("tagged IPv6 frames both leave to the kernel")
    func passesUntouched() throws {
        let bed = try DifferentialBed()
        try bed.addRule("tcp", "[2001:2:0:2::1]:8080", "[2001:2:0:1::2]:8000")
        for (name, frame) in Self.passCases {
            #expect(try bed.feed(frame, name).fastPath == .pass, "\(name)")
        }
        try bed.expectSameFlows("pass cases")
    }

    @Test("ICMPv6 errors about a VLAN flow, from the QinQ backend side and the tagged client side")
    func icmpErrors() throws {
        let bed = try DifferentialBed()
        try bed.addRule("tcp", "[2001:2:0:2::1]:8080", "[2001:2:0:4::2]:8000")
        let syn = Self.packet("tcp", src: "[2001:2:0:2::2]:40000", dst: "[2001:2:0:2::1]:8080", flags: [.syn],
                              srcMAC: Side.in0v100.hostMAC, dstMAC: Side.in0v100.ourMAC, tags: [.dot1q(100)])
            .with { $0.payload = Array(repeating: 0x5A, count: 100) }
        let forwarded = try Packet6.decode(bed.feed(syn.bytes, "SYN").output)
        let tooBig = Self.tagged(Packet6.icmp6(src: "2001:2:0:4::2", dst: "2001:2:0:4::1", type: 2, rest: 1400, body: forwarded.ipBytes,
                                               srcMAC: Side.out0qinq.hostMAC, dstMAC: Side.out0qinq.ourMAC), .dot1ad(300), .dot1q(30))
        let out = try bed.feed(tooBig.bytes, ingress: bed.outIndex, "packet too big from QinQ")
        #expect(out.fastPath.action == .redirect && out.fastPath.offset == 4, "two tags in, one out: \(out.fastPath)")
        let reply = Self.packet("tcp", src: "[2001:2:0:4::2]:8000", dst: .init("2001:2:0:4::1", try #require(forwarded.tcp?.sport)),
                                flags: [.syn, .ack], srcMAC: Side.out0qinq.hostMAC, dstMAC: Side.out0qinq.ourMAC,
                                tags: [.dot1ad(300), .dot1q(30)])
        let delivered = try Packet6.decode(bed.feed(reply.bytes, ingress: bed.outIndex, "SYN-ACK").output)
        let unreachable = Self.tagged(Packet6.icmp6(src: "2001:2:0:2::2", dst: "2001:2:0:2::1", type: 1, code: 4, body: delivered.ipBytes,
                                                    srcMAC: Side.in0v100.hostMAC, dstMAC: Side.in0v100.ourMAC), .dot1q(100))
        #expect(try bed.feed(unreachable.bytes, "port unreachable from VLAN 100").fastPath.offset == -4)
        try bed.expectSameFlows("ICMPv6 errors")
    }
}
