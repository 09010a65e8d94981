import CXDP
import FastPath
import Glibc
import Packets
import TestSupport
import Testing
import XDPLoader

/// Every IPv6 packet of the XDP path's table-driven tests (XDPLoaderTests:
/// ForwardingV6Tests, RuleFeaturesV6Tests and the ICMPv6 cases of
/// ICMPErrorTests), in the same order with the same rules, through the BPF
/// program and FastPath's packet function side by side (DifferentialBed):
/// identical verdicts, bytes, counters and conntrack tables.
@Suite("FastPath parity: the XDP table-driven IPv6 corpus", .serialized,
       .enabled(if: Capabilities.bpfAndNetns, Capabilities.reason))
struct TableCorpusV6Tests {
    static let inMAC: Packet.MAC = "02:00:00:00:00:01"
    static let clientMAC: Packet.MAC = "02:00:00:00:00:02"
    static let outMAC: Packet.MAC = "02:00:00:00:01:01"
    static let backendMAC: Packet.MAC = "02:00:00:00:01:02"
    static let listen: Packet6.Endpoint = "[2001:2::1]:8080"
    static let client: Packet6.Endpoint = "[2001:2::2]:40000"
    static let backend: Packet6.Endpoint = "[2001:2:0:1::2]:8000"

    static func fromClient(_ src: Packet6.Endpoint = client, to dst: Packet6.Endpoint = listen,
                           flags: Packet.TCPFlags = [.syn]) -> Packet6 {
        .tcp(src: src, dst: dst, flags: flags, seq: 1000, srcMAC: clientMAC, dstMAC: inMAC)
    }

    static func sport(_ output: [UInt8]) throws -> UInt16 {
        let packet = try Packet6.decode(output)
        return try #require(packet.tcp?.sport ?? packet.udp?.sport)
    }

    static func destination(_ output: [UInt8]) throws -> Packet6.Endpoint {
        let packet = try Packet6.decode(output)
        return .init(packet.ip.dst, try #require(packet.tcp?.dport ?? packet.udp?.dport))
    }

    static let syn = fromClient()

    /// ForwardingV6Tests.passCases, and an IPv4 header behind the IPv6
    /// ethertype (PassThroughTests).
    static let passThrough: [(String, [UInt8])] = [
        ("no rule for the port", syn.with { $0.tcp?.dport = 9999 }.bytes),
        ("hop limit 1", syn.with { $0.ip.hopLimit = 1 }.bytes),
        ("hop limit 0", syn.with { $0.ip.hopLimit = 0 }.bytes),
        ("backend without a route", syn.with { $0.tcp?.dport = 7000 }.bytes),
        ("AH (not walked)", syn.with { $0.extensionHeaders = [.init(type: 51, body: Array(repeating: 0, count: 14))] }.bytes),
        ("routing header with segments left", syn.with { $0.extensionHeaders = [.routing(segmentsLeft: 1)] }.bytes),
        ("more extension headers than the bound", syn.with {
            $0.extensionHeaders = Array(repeating: .destinationOptions(), count: Int(XDPFWD_MAX_EXTHDRS) + 1)
        }.bytes),
        ("first fragment", syn.with { $0.extensionHeaders = [.fragment(offset: 0, more: true)] }.bytes),
        ("later fragment", syn.with { $0.extensionHeaders = [.fragment(offset: 185, more: false)] }.bytes),
        ("fragment behind a hop-by-hop header", syn.with { $0.extensionHeaders = [.hopByHop(), .fragment(offset: 0, more: true)] }.bytes),
        ("ICMPv6 echo request to the listen address",
         Packet6.icmp6(src: "2001:2::2", dst: "2001:2::1", type: 128, body: [0, 1, 0, 1], srcMAC: clientMAC, dstMAC: inMAC).bytes),
        ("neighbour solicitation",
         Packet6.icmp6(src: "2001:2::2", dst: "ff02::1:ff00:1", type: 135, body: Packet6.Address("2001:2::1").bytes,
                       hopLimit: 255, srcMAC: clientMAC, dstMAC: inMAC).bytes),
        ("IPv6 header truncated", Array(syn.bytes.prefix(14 + 39))),
        ("payload length beyond the frame", syn.with { $0.ip.payloadLength = 400 }.bytes),
        ("payload length 0 (jumbogram)", syn.with { $0.ip.payloadLength = 0 }.bytes),
        ("TCP header truncated", Array(syn.with { $0.ip.payloadLength = 19 }.bytes.dropLast(1))),
        ("extension header longer than the payload", syn.with {
            $0.extensionHeaders = [.destinationOptions()]; $0.ip.payloadLength = 6
        }.bytes),
        ("no next header", syn.with { $0.transport = .raw; $0.payload = [0, 0, 0, 0] }.bytes),
        ("version 4 behind the IPv6 ethertype", syn.with { $0.ip.version = 4 }.bytes),
        ("IPv4 header behind an IPv6 ethertype",
         Packet.tcp(src: "198.18.0.2:40000", dst: "198.18.0.1:8080", flags: [.syn], srcMAC: clientMAC, dstMAC: inMAC)
            .with { $0.ethernet.etherType = 0x86DD }.bytes),
    ]

    @Test("IPv6 pass-through cases")
    func passThroughCases() throws {
        for (name, frame) in Self.passThrough {
            let bed = try DifferentialBed()
            try bed.addRule("tcp", "[2001:2::1]:8080", "[2001:2:0:1::2]:8000")
            try bed.addRule("tcp", "[2001:2::1]:7000", "[2001:2:0:9::9]:7000")
            let outcome = try bed.feed(frame, name)
            #expect(outcome.fastPath == .pass, "\(name)")
            try bed.expectSameFlows(name)
        }
    }

    /// ForwardingV6Tests, scenario by scenario.
    @Test("IPv6 forwarding scenarios")
    func forwardingScenarios() throws {
        // forwardSYN, replyTranslation
        do {
            let bed = try DifferentialBed()
            try bed.addRule("tcp", "[2001:2::1]:8080", "[2001:2:0:1::2]:8000")
            let port = try Self.sport(bed.feed(Self.syn.bytes, "SYN").output)
            let synAck = Packet6.tcp(src: Self.backend, dst: .init("2001:2:0:1::1", port), flags: [.syn, .ack], seq: 5000,
                                     ack: 1001, payload: Array("hello".utf8), srcMAC: Self.backendMAC, dstMAC: Self.outMAC)
            #expect(try bed.feed(synAck.bytes, ingress: bed.outIndex, "SYN-ACK").fastPath.action == .redirect)
            #expect(try Self.sport(bed.feed(Self.fromClient(flags: [.ack]).bytes, "ACK").output) == port)
            try bed.expectSameFlows("reply translation")
        }
        // UDP checksums (computed over the pseudo-header, a computed 0xFFFF, none), Ethernet padding
        do {
            let bed = try DifferentialBed()
            try bed.addRule("udp", "[2001:2::1]:5353", "[2001:2:0:1::2]:5300")
            for (index, payload) in [Array("question".utf8), [], [0xFF, 0xFF]].enumerated() {
                let query = Packet6.udp(src: .init("2001:2::2", UInt16(41000 + index)), dst: "[2001:2::1]:5353", payload: payload,
                                        srcMAC: Self.clientMAC, dstMAC: Self.inMAC)
                try bed.feed(query.bytes, "UDP payload \(payload)")
            }
            let noChecksum = Packet6.udp(src: "[2001:2::2]:41010", dst: "[2001:2::1]:5353", payload: [1, 2], checksum: .none,
                                         srcMAC: Self.clientMAC, dstMAC: Self.inMAC)
            try bed.feed(noChecksum.bytes, "UDP checksum zero")
            let padded = Packet6.udp(src: "[2001:2::2]:41011", dst: "[2001:2::1]:5353", payload: [1],
                                     srcMAC: Self.clientMAC, dstMAC: Self.inMAC).with { $0.trailer = [0xAA, 0xBB, 0xCC] }
            try bed.feed(padded.bytes, "Ethernet padding")
            try bed.expectSameFlows("UDP")
        }
        // skippedExtensionHeaders
        do {
            let bed = try DifferentialBed()
            try bed.addRule("tcp", "[2001:2::1]:8080", "[2001:2:0:1::2]:8000")
            let withHeaders = Self.syn.with {
                $0.extensionHeaders = [.hopByHop(), .destinationOptions(Array(repeating: 1, count: 14)),
                                       .routing(segmentsLeft: 0), .destinationOptions()]
            }
            #expect(try bed.feed(withHeaders.bytes, "extension headers").fastPath.action == .redirect)
            try bed.expectSameFlows("extension headers")
        }
        // snatModes
        do {
            let bed = try DifferentialBed()
            try bed.addRule("tcp", "[2001:2::1]:8080", "[2001:2:0:1::2]:8000", snat: "none")
            try bed.addRule("tcp", "[2001:2::1]:8081", "[2001:2:0:1::2]:8000", snat: "2001:2:0:1::50")
            try bed.feed(Self.syn.bytes, "snat none")
            let reply = Packet6.tcp(src: Self.backend, dst: Self.client, flags: [.syn, .ack], srcMAC: Self.backendMAC, dstMAC: Self.outMAC)
            try bed.feed(reply.bytes, ingress: bed.outIndex, "snat none reply")
            try bed.feed(Self.fromClient(to: "[2001:2::1]:8081").bytes, "snat fixed")
            try bed.expectSameFlows("snat modes")
        }
        // reuseClosingTuple (and --snat none reuse), with and without the conntrack cache
        let finAck: Packet.TCPFlags = [.fin, .ack], rst: Packet.TCPFlags = [.rst]
        for (closing, cache) in [(finAck, 0), (rst, 0), (finAck, 64), (rst, 64)] {
            let label = "reuse after \(closing), cache \(cache)"
            let bed = try DifferentialBed(flowCacheSlots: cache)
            try bed.addRule("tcp", "[2001:2::1]:8080", "[2001:2:0:1::2]:8000")
            try bed.feed(Self.syn.bytes, "\(label): SYN")
            try bed.addRule("tcp", "[2001:2::1]:8080", "[2001:2:0:1::2]:9000")
            try bed.feed(Self.syn.bytes, "\(label): retransmitted SYN")
            try bed.feed(Self.fromClient(flags: closing).bytes, "\(label): close")
            try bed.feed(Self.fromClient(flags: [.ack]).bytes, "\(label): ACK while closing")
            let again = try bed.feed(Self.syn.bytes, "\(label): new SYN")
            #expect(again.fastPath.action == .redirect, "\(label)")
            #expect(try Self.destination(again.output) == "[2001:2:0:1::2]:9000", "\(label)")
            try bed.addRule("tcp", "[2001:2::1]:8081", "[2001:2:0:1::2]:8000", snat: "none")
            let dnat = Self.fromClient(to: "[2001:2::1]:8081")
            try bed.feed(dnat.bytes, "\(label): DNAT SYN")
            try bed.feed(Self.fromClient(to: "[2001:2::1]:8081", flags: closing).bytes, "\(label): DNAT close")
            #expect(try bed.feed(dnat.bytes, "\(label): DNAT new SYN").fastPath.action == .redirect, "\(label)")
            try bed.expectSameFlows(label)
        }
        // hairpinAndSlowPath
        do {
            let bed = try DifferentialBed()
            try bed.addRule("tcp", "[2001:2::1]:8080", "[2001:2::3]:8000")
            try bed.addRule("tcp", "[2001:2::1]:8081", "[2001:2:0:1::3]:8000")
            #expect(try bed.feed(Self.syn.bytes, "hairpin").fastPath.action == .tx)
            #expect(try bed.feed(Self.fromClient(to: "[2001:2::1]:8081").bytes, "slow path").fastPath.action == .slowpath)
            try bed.expectSameFlows("hairpin and slow path")
        }
        // An established flow whose next packets expire in transit, or are too big for the egress.
        do {
            let bed = try DifferentialBed()
            try bed.addRule("udp", "[2001:2::1]:5353", "[2001:2:0:1::2]:5300")
            let query = Packet6.udp(src: "[2001:2::2]:41000", dst: "[2001:2::1]:5353", payload: [1], srcMAC: Self.clientMAC, dstMAC: Self.inMAC)
            try bed.feed(query.bytes, "new flow")
            #expect(try bed.feed(query.with { $0.ip.hopLimit = 1 }.bytes, "established, hop limit 1").fastPath == .pass)
            let big = query.with { $0.payload = Array(repeating: 7, count: 1600) }
            // The cached next hop is not re-checked against the MTU within a second: sent as is.
            #expect(try bed.feed(big.bytes, "established, beyond the MTU").fastPath.action == .redirect)
            try bed.expectSameFlows("hop limit and MTU")
        }
    }

    /// RuleFeaturesV6Tests: range edges, the [::] wildcard, Maglev with a drain.
    @Test("IPv6 ranges, wildcard and Maglev")
    func ruleFeatures() throws {
        do {
            let bed = try DifferentialBed()
            try bed.addRule("tcp", "[2001:2::1]:10000-10009", "[2001:2:0:1::2]:20000")
            for port: UInt16 in [10000, 10009, 10010, 9999] {
                try bed.feed(Self.fromClient(to: .init("2001:2::1", port)).bytes, "range port \(port)")
            }
            try bed.expectSameFlows("range")
        }
        do {
            let bed = try DifferentialBed()
            try bed.addRule("tcp", "[::]:8080", "[2001:2:0:1::2]:8000")
            #expect(try bed.feed(Self.fromClient("[2001:2::2]:40000", to: "[2001:2::1]:8080").bytes).fastPath.action == .redirect)
            #expect(try bed.feed(Self.fromClient("[2001:2::2]:40001", to: "[2001:2:0:1::1]:8080").bytes).fastPath.action == .redirect)
            #expect(try bed.feed(Self.fromClient("[2001:2::2]:40002", to: "[2001:2::77]:8080").bytes).fastPath == .pass)
            try bed.expectSameFlows("wildcard")
        }
        do {
            let bed = try DifferentialBed()
            try bed.addNeighbour("2001:2:0:1::4", "02:00:00:00:01:04", dev: "out0")
            try bed.addNeighbour("2001:2:0:1::5", "02:00:00:00:01:05", dev: "out0")
            try bed.addRule("tcp", "[2001:2::1]:8080", "[2001:2:0:1::2]:8000 [2001:2:0:1::4]:8000 [2001:2:0:1::5]:8000@2")
            var backends = Set<Packet6.Endpoint>()
            for i in 0..<60 {
                let out = try bed.feed(Self.fromClient(.init("2001:2::2", UInt16(47000 + i))).bytes, "Maglev flow \(i)")
                backends.insert(try Self.destination(out.output))
            }
            #expect(backends.count == 3)
            try bed.addRule("tcp", "[2001:2::1]:8080", "[2001:2:0:1::2]:8000 [2001:2:0:1::4]:8000 [2001:2:0:1::5]:8000@0")
            for i in 0..<60 {
                try bed.feed(Self.fromClient(.init("2001:2::2", UInt16(47000 + i)), flags: [.ack]).bytes, "drained, established \(i)")
            }
            for i in 0..<40 {
                let out = try bed.feed(Self.fromClient(.init("2001:2::2", UInt16(48000 + i))).bytes, "drained, new \(i)")
                #expect(try Self.destination(out.output).address != "2001:2:0:1::5")
            }
            try bed.expectSameFlows("Maglev")
        }
    }

    /// ICMPErrorTests, IPv6 cases: packet too big from the backend side
    /// (whole quote and a quote ending inside the TCP header), port
    /// unreachable from the client side, errors about no flow of ours,
    /// echo, hop limit 1.
    @Test("ICMPv6 errors")
    func icmpErrors() throws {
        for quoteLength in [nil, 48, 56] as [Int?] {
            let bed = try DifferentialBed()
            try bed.addRule("tcp", "[2001:2::1]:8080", "[2001:2:0:1::2]:8000")
            let syn = Self.syn.with { $0.payload = Array(repeating: 0xA5, count: 200) }
            let forwarded = try Packet6.decode(bed.feed(syn.bytes, "SYN").output)
            let quote = quoteLength.map { Array(forwarded.ipBytes.prefix($0)) } ?? forwarded.ipBytes
            let error = Packet6.icmp6(src: "2001:2:0:1::2", dst: "2001:2:0:1::1", type: 2, rest: 1400, body: quote,
                                      srcMAC: Self.backendMAC, dstMAC: Self.outMAC)
            let out = try bed.feed(error.bytes, ingress: bed.outIndex, "packet too big, quote \(quoteLength ?? 0)")
            #expect(out.fastPath.action == .redirect)
            #expect(Packet6.checksumErrors(out.output).isEmpty, "\(Packet6.checksumErrors(out.output))")
            try bed.expectSameFlows("packet too big")
        }
        do {
            let bed = try DifferentialBed()
            try bed.addRule("udp", "[2001:2::1]:5353", "[2001:2:0:1::2]:5300")
            try bed.addRule("tcp", "[2001:2::1]:8080", "[2001:2:0:1::2]:8000")
            let query = Packet6.udp(src: "[2001:2::2]:41000", dst: "[2001:2::1]:5353", payload: [1], srcMAC: Self.clientMAC, dstMAC: Self.inMAC)
            let port = try Self.sport(bed.feed(query.bytes).output)
            let reply = Packet6.udp(src: "[2001:2:0:1::2]:5300", dst: .init("2001:2:0:1::1", port), payload: [9, 9],
                                    srcMAC: Self.backendMAC, dstMAC: Self.outMAC)
            let delivered = try Packet6.decode(bed.feed(reply.bytes, ingress: bed.outIndex).output)
            let error = Packet6.icmp6(src: "2001:2::2", dst: "2001:2::1", type: 1, code: 4, body: delivered.ipBytes,
                                      srcMAC: Self.clientMAC, dstMAC: Self.inMAC)
            #expect(try bed.feed(error.bytes, "port unreachable").fastPath.action == .redirect)
            let stranger = Packet6.icmp6(src: "2001:2:0:1::2", dst: "2001:2:0:1::1", type: 2, rest: 1400,
                                         body: Packet6.tcp(src: "[2001:2:0:1::1]:1234", dst: Self.backend).ipBytes,
                                         srcMAC: Self.backendMAC, dstMAC: Self.outMAC)
            try bed.feed(stranger.bytes, ingress: bed.outIndex, "error about no flow")
            let echo = Packet6.icmp6(src: "2001:2::2", dst: "2001:2::1", type: 128, body: [1, 2, 3, 4], srcMAC: Self.clientMAC, dstMAC: Self.inMAC)
            try bed.feed(echo.bytes, "echo request")
            try bed.feed(error.with { $0.ip.hopLimit = 1 }.bytes, "error with hop limit 1")
            let misaddressed = Packet6.icmp6(src: "2001:2::2", dst: "2001:2::1", type: 1, code: 4,
                                             body: delivered.with { $0.ip.src = "2001:2::9" }.ipBytes, srcMAC: Self.clientMAC, dstMAC: Self.inMAC)
            try bed.feed(misaddressed.bytes, "error not addressed to the quoted sender")
            try bed.expectSameFlows("ICMPv6 errors")
        }
    }
}
