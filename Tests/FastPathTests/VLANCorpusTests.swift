import CXDP
@testable import FastPath
import Packets
import TestSupport
import Testing
import XDPLoader

/// The IPv4 cases of XDPLoaderTests' VLANTests through the BPF program and
/// FastPath side by side (DifferentialBed): 802.1Q and QinQ in and out,
/// pop, push, rewrite across devices and on one trunk (XDP_TX), the slow
/// path via a VLAN upper, the tagged frames both leave to the kernel, and
/// an upper without an address. Identical verdicts, bytes, counters and
/// conntrack tables. The TestRunBed's uppers:
///
///   in0.100 198.18.2.0/24, in0.101 198.18.5.0/24 (hairpin), out0.200 PCP 5
///   198.18.3.0/24 (.3 has no neighbour), out0.300.30 (802.1ad 300 + 802.1Q 30)
///   198.18.4.0/24; the host of each is .2.
@Suite("FastPath parity: VLAN corpus", .serialized,
       .enabled(if: Capabilities.bpfAndNetns, Capabilities.reason))
struct VLANCorpusTests {
    typealias T = Packet.VLANTag

    struct Side: Sendable {
        let host: Packet.Address
        let tags: [T]
        let hostMAC: Packet.MAC
        let ourMAC: Packet.MAC
        let ourAddress: Packet.Address
        let lower: String

        static let in0 = Side(host: "198.18.0.2", tags: [], hostMAC: "02:00:00:00:00:02", ourMAC: "02:00:00:00:00:01",
                              ourAddress: "198.18.0.1", lower: "in0")
        static let in0v100 = Side(host: "198.18.2.2", tags: [.dot1q(100)], hostMAC: "02:00:00:00:02:02",
                                  ourMAC: "02:00:00:00:02:01", ourAddress: "198.18.2.1", lower: "in0")
        static let in0v101 = Side(host: "198.18.5.2", tags: [.dot1q(101)], hostMAC: "02:00:00:00:05:02",
                                  ourMAC: "02:00:00:00:05:01", ourAddress: "198.18.5.1", lower: "in0")
        static let out0 = Side(host: "198.18.1.2", tags: [], hostMAC: "02:00:00:00:01:02", ourMAC: "02:00:00:00:01:01",
                               ourAddress: "198.18.1.1", lower: "out0")
        static let out0v200 = Side(host: "198.18.3.2", tags: [.dot1q(200, pcp: 5)], hostMAC: "02:00:00:00:03:02",
                                   ourMAC: "02:00:00:00:03:01", ourAddress: "198.18.3.1", lower: "out0")
        static let out0qinq = Side(host: "198.18.4.2", tags: [.dot1ad(300), .dot1q(30)], hostMAC: "02:00:00:00:04:02",
                                   ourMAC: "02:00:00:00:04:01", ourAddress: "198.18.4.1", lower: "out0")
    }

    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let proto: String
        let client: Side
        let backend: Side
        var testDescription: String { name }
    }

    /// VLANTests.cases, plus QinQ in (the reply direction of the QinQ cases
    /// covers it too, but here the client sits behind two tags).
    static let cases: [Case] = [
        Case(name: "tagged in (802.1Q 100), untagged out: pop", proto: "tcp", client: .in0v100, backend: .out0),
        Case(name: "untagged in, tagged out (802.1Q 200, PCP 5): push", proto: "tcp", client: .in0, backend: .out0v200),
        Case(name: "single tag in and out: rewrite 100 -> 200 across devices", proto: "udp", client: .in0v100, backend: .out0v200),
        Case(name: "tag rewrite on one trunk: 100 -> 101, XDP_TX", proto: "tcp", client: .in0v100, backend: .in0v101),
        Case(name: "untagged in, QinQ out (802.1ad 300 + 802.1Q 30): push two", proto: "udp", client: .in0, backend: .out0qinq),
        Case(name: "single tag in, QinQ out", proto: "tcp", client: .in0v100, backend: .out0qinq),
        Case(name: "QinQ in, single tag out on the same trunk: XDP_TX", proto: "udp", client: .out0qinq, backend: .out0v200),
    ]

    static func packet(_ proto: String, src: Packet.Endpoint, dst: Packet.Endpoint, flags: Packet.TCPFlags,
                       srcMAC: Packet.MAC, dstMAC: Packet.MAC, tags: [T]) -> Packet {
        let p: Packet = proto == "tcp"
            ? .tcp(src: src, dst: dst, flags: flags, seq: 7, payload: Array("tagged".utf8), srcMAC: srcMAC, dstMAC: dstMAC)
            : .udp(src: src, dst: dst, payload: Array("tagged".utf8), srcMAC: srcMAC, dstMAC: dstMAC)
        return p.with { $0.ethernet.tags = tags }
    }

    static func headMove(in tagsIn: Int, out tagsOut: Int) -> Int { (tagsIn - tagsOut) * 4 }

    /// Forward, reply, established forward of every case, with and without
    /// the forwarder's conntrack cache; the frames are checked against
    /// builder-made expectations too (as VLANTests does for XDP). One bed
    /// for all cases: each has its own listen and client port.
    @Test(arguments: [0, 64])
    func forwardAndReply(cacheSlots: Int) throws {
        let bed = try DifferentialBed(flowCacheSlots: cacheSlots)
        for (index, c) in Self.cases.enumerated() {
            let listen = Packet.Endpoint(c.client.ourAddress, 8080 + UInt16(index))
            let backend = Packet.Endpoint(c.backend.host, 8000)
            try bed.addRule(c.proto, "\(listen)", "\(backend)")
            let ingress: (Side) -> UInt32 = { $0.lower == "in0" ? bed.inIndex : bed.outIndex }
            let sameTrunk = c.client.lower == c.backend.lower
            let client = Packet.Endpoint(c.client.host, 40000 + UInt16(index))

            let first = Self.packet(c.proto, src: client, dst: listen, flags: [.syn], srcMAC: c.client.hostMAC,
                                    dstMAC: c.client.ourMAC, tags: c.client.tags)
            let out = try bed.feed(first.bytes, ingress: ingress(c.client), "\(c.name): first")
            #expect(out.fastPath.action == (sameTrunk ? .tx : .redirect), "\(c.name)")
            #expect(out.fastPath.offset == Self.headMove(in: c.client.tags.count, out: c.backend.tags.count), "\(c.name)")
            let decoded = try Packet.decode(out.output)
            let port = try #require(decoded.tcp?.sport ?? decoded.udp?.sport)
            let snat = Packet.Endpoint(c.backend.ourAddress, port)
            #expect(out.output == Self.packet(c.proto, src: snat, dst: backend, flags: [.syn], srcMAC: c.backend.ourMAC,
                                              dstMAC: c.backend.hostMAC, tags: c.backend.tags).with { $0.ip.ttl = 63 }.bytes,
                    "\(c.name)")

            let reply = Self.packet(c.proto, src: backend, dst: snat, flags: [.syn, .ack], srcMAC: c.backend.hostMAC,
                                    dstMAC: c.backend.ourMAC, tags: c.backend.tags)
            let back = try bed.feed(reply.bytes, ingress: ingress(c.backend), "\(c.name): reply")
            #expect(back.fastPath.action == (sameTrunk ? .tx : .redirect), "\(c.name)")
            #expect(back.output == Self.packet(c.proto, src: listen, dst: client, flags: [.syn, .ack], srcMAC: c.client.ourMAC,
                                               dstMAC: c.client.hostMAC, tags: c.client.tags).with { $0.ip.ttl = 63 }.bytes,
                    "\(c.name)")

            try bed.feed(first.with { $0.tcp?.flags = [.ack] }.bytes, ingress: ingress(c.client), "\(c.name): established")
            try bed.expectSameFlows(c.name)
        }
    }

    @Test("unresolved neighbour behind a VLAN: tags popped, slow path to the VLAN upper")
    func slowPathViaUpper() throws {
        let bed = try DifferentialBed()
        try bed.addRule("tcp", "198.18.2.1:8080", "198.18.3.3:8000")
        for tags in [[T.dot1q(100)], [.dot1ad(300), .dot1q(30)]] {
            let syn = Self.packet("tcp", src: "198.18.2.2:40000", dst: "198.18.2.1:8080", flags: [.syn],
                                  srcMAC: Side.in0v100.hostMAC, dstMAC: Side.in0v100.ourMAC, tags: tags)
            let out = try bed.feed(syn.bytes, "slow path from \(tags.count) tags")
            #expect(out.fastPath.action == .slowpath && out.fastPath.ifindex == bed.bed.vlanIndex["out0.200"])
            #expect(out.fastPath.offset == 4 * tags.count, "every tag popped")
        }
        try bed.expectSameFlows("slow path")
    }

    static let syn = Packet.tcp(src: "198.18.2.2:40000", dst: "198.18.2.1:8080", flags: [.syn],
                                srcMAC: "02:00:00:00:02:02", dstMAC: "02:00:00:00:02:01")

    /// VLANTests.passCases: what both leave to the kernel, untouched.
    static let passCases: [(String, [UInt8])] = [
        ("802.1Q tag cut short", syn.tagged(.dot1q(100)).truncated(to: 14 + 2)),
        ("QinQ inner tag cut short", syn.tagged(.dot1ad(300), .dot1q(30)).truncated(to: 18 + 3)),
        ("tagged IPv4 header cut short", syn.tagged(.dot1q(100)).truncated(to: 18 + 19)),
        ("ARP behind an 802.1Q tag", syn.tagged(.dot1q(100)).with { $0.ethernet.etherType = 0x0806 }.bytes),
        ("unknown type behind QinQ", syn.tagged(.dot1ad(300), .dot1q(30)).with { $0.ethernet.etherType = 0x88B5 }.bytes),
        ("three tags", syn.tagged(.dot1ad(300), .dot1q(30), .dot1q(3)).bytes),
        ("802.1ad as the inner tag", syn.tagged(.dot1q(100), .dot1ad(300)).bytes),
        ("tagged, no rule for the port", syn.tagged(.dot1q(100)).with { $0.tcp?.dport = 9999 }.bytes),
        ("QinQ, TTL 1", syn.tagged(.dot1ad(300), .dot1q(30)).with { $0.ip.ttl = 1 }.bytes),
        ("tagged fragment", syn.tagged(.dot1q(100)).with { $0.ip.flags = [.moreFragments] }.bytes),
    ]

    @Test("tagged frames both leave to the kernel")
    func passesUntouched() throws {
        let bed = try DifferentialBed()
        try bed.addRule("tcp", "198.18.2.1:8080", "198.18.1.2:8000")
        for (name, frame) in Self.passCases {
            let out = try bed.feed(frame, name)
            #expect(out.fastPath == .pass, "\(name)")
        }
        try bed.expectSameFlows("pass cases")
    }

    @Test("a VLAN upper without an IPv4 address gives --snat auto no source: dropped, counted")
    func upperWithoutAddress() throws {
        let bed = try DifferentialBed()
        let upper = try #require(bed.bed.vlanIndex["out0.200"])
        for maps in [bed.bed.maps, bed.fastPath.maps] {
            var entry = try #require(try maps.vlans.lookup(upper))
            entry.ipv4_addr = 0
            try maps.vlans.update(upper, entry)
        }
        try bed.addRule("tcp", "198.18.0.1:8080", "198.18.3.2:8000")
        let out = try bed.feed(Packet.tcp(src: "198.18.0.2:40000", dst: "198.18.0.1:8080", flags: [.syn],
                                          srcMAC: Side.in0.hostMAC, dstMAC: Side.in0.ourMAC).bytes, "no SNAT source")
        #expect(out.fastPath == .drop)
    }

    @Test("ICMP errors about a VLAN flow, from the tagged backend side and the QinQ client side")
    func icmpErrors() throws {
        let bed = try DifferentialBed()
        try bed.addRule("tcp", "198.18.2.1:8080", "198.18.4.2:8000")
        let syn = Self.packet("tcp", src: "198.18.2.2:40000", dst: "198.18.2.1:8080", flags: [.syn],
                              srcMAC: Side.in0v100.hostMAC, dstMAC: Side.in0v100.ourMAC, tags: [.dot1q(100)])
            .with { $0.payload = Array(repeating: 0x5A, count: 100) }
        let forwarded = try Packet.decode(bed.feed(syn.bytes, "SYN").output)
        let fragNeeded = Packet.icmp(src: "198.18.4.2", dst: "198.18.4.1", type: 3, code: 4, rest: 1400, body: forwarded.ipBytes,
                                     srcMAC: Side.out0qinq.hostMAC, dstMAC: Side.out0qinq.ourMAC).tagged(.dot1ad(300), .dot1q(30))
        let out = try bed.feed(fragNeeded.bytes, ingress: bed.outIndex, "frag needed from QinQ")
        #expect(out.fastPath.action == .redirect && out.fastPath.offset == 4, "two tags in, one out: \(out.fastPath)")
        let reply = Self.packet("tcp", src: "198.18.4.2:8000", dst: .init("198.18.4.1", try #require(forwarded.tcp?.sport)),
                                flags: [.syn, .ack], srcMAC: Side.out0qinq.hostMAC, dstMAC: Side.out0qinq.ourMAC,
                                tags: [.dot1ad(300), .dot1q(30)])
        let delivered = try Packet.decode(bed.feed(reply.bytes, ingress: bed.outIndex, "SYN-ACK").output)
        let unreachable = Packet.icmp(src: "198.18.2.2", dst: "198.18.2.1", type: 3, code: 3, body: delivered.ipBytes,
                                      srcMAC: Side.in0v100.hostMAC, dstMAC: Side.in0v100.ourMAC).tagged(.dot1q(100))
        #expect(try bed.feed(unreachable.bytes, "port unreachable from VLAN 100").fastPath.offset == -4)
        try bed.expectSameFlows("ICMP errors")
    }
}

/// What only FastPath has: the kernel's RX view of a tagged frame, and a
/// headroom that can be too small.
@Suite("FastPath: VLAN tags in the AF_PACKET ring")
struct VLANRingTests {
    static let qinq = Packet.udp(src: "198.18.2.2:40000", dst: "198.18.2.1:5353", payload: [1, 2, 3],
                                 srcMAC: "02:00:00:00:02:02", dstMAC: "02:00:00:00:02:01").tagged(.dot1ad(300, pcp: 3), .dot1q(30))

    @Test("restoreRXTag puts the tag the kernel took off back: the wire's bytes, 802.1Q and 802.1ad")
    func restore() {
        for wire in [Self.qinq.bytes, Self.qinq.tagged(.dot1q(100, pcp: 7)).bytes] {
            // What the ring holds: the frame minus its outer tag, with the
            // tag in tpacket3_hdr; 14 bytes of headroom in front (filled
            // with junk, as the kernel's padding may be).
            let tpid = UInt16(wire[12]) << 8 | UInt16(wire[13]), tci = UInt16(wire[14]) << 8 | UInt16(wire[15])
            var ring = [UInt8](repeating: 0xEE, count: 14) + Array(wire[..<12]) + Array(wire[16...])
            let restored = ring.withUnsafeMutableBytes { bytes in
                let start = VLAN.restoreRXTag(bytes.baseAddress! + 14, tpid: tpid, tci: tci)
                return Array(UnsafeRawBufferPointer(start: start, count: wire.count))
            }
            #expect(restored == wire, "\(Packet.describe(restored))")
        }
    }

    @Test("a push that does not fit the headroom fails (NextHop counts drop_vlan), the frame untouched; 8 bytes suffice")
    func headroomTooSmall() {
        let frame = Self.qinq.bytes
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: frame.count + 8, alignment: 8)
        defer { buffer.deallocate() }
        frame.withUnsafeBytes { (buffer + 8).copyMemory(from: $0.baseAddress!, byteCount: frame.count) }
        var flow = xdpfwd_flow()
        flow.nh_vlan = 2 | UInt8(XDPFWD_VLAN_OUTER_AD)
        flow.nh_dmac = (2, 0, 0, 0, 4, 2)
        let tagsIn = VLAN.parse(Frame(base: buffer + 8, length: frame.count, headroom: 0))!.count
        #expect(tagsIn == 2)
        let untagged = Packet.udp(src: "198.18.2.2:40000", dst: "198.18.2.1:5353", payload: [1, 2, 3]).bytes
        untagged.withUnsafeBytes { (buffer + 8).copyMemory(from: $0.baseAddress!, byteCount: untagged.count) }
        // Untagged in, two tags out: 8 bytes in front needed, 7 there.
        let small = Frame(base: buffer + 8, length: untagged.count, headroom: 7)
        #expect(VLAN.writeL2(small, VLAN.L2(flow), tagsIn: 0, l3Proto: Wire.etherTypeIPv4Raw) == nil)
        #expect(Array(UnsafeRawBufferPointer(start: buffer + 8, count: untagged.count)) == untagged)
        let enough = Frame(base: buffer + 8, length: untagged.count, headroom: 8)
        #expect(VLAN.writeL2(enough, VLAN.L2(flow), tagsIn: 0, l3Proto: Wire.etherTypeIPv4Raw) == -8)
        let pushed = Array(UnsafeRawBufferPointer(start: buffer, count: untagged.count + 8))
        #expect(Array(pushed[12..<22]) == [0x88, 0xA8, 0, 0, 0x81, 0x00, 0, 0, 0x08, 0x00])
        #expect(Array(pushed[22...]) == Array(untagged[14...]))
    }
}
