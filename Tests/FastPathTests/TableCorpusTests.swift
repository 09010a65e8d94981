import CXDP
import FastPath
import Glibc
import Packets
import TestSupport
import Testing
import XDPLoader

/// Every IPv4 packet of the XDP path's table-driven tests (XDPLoaderTests:
/// PassThroughTests, ForwardingTests and the IPv4 ICMPErrorTests; VLANTests
/// in VLANCorpusTests; IPv6 in TableCorpusV6Tests), in the same order with the same
/// rules, through the BPF program and FastPath's packet function side by
/// side (DifferentialBed): identical verdicts, bytes, counters, conntrack.
@Suite("FastPath parity: the XDP table-driven corpus", .serialized,
       .enabled(if: Capabilities.bpfAndNetns, Capabilities.reason))
struct TableCorpusTests {
    static let inMAC: Packet.MAC = "02:00:00:00:00:01"
    static let clientMAC: Packet.MAC = "02:00:00:00:00:02"
    static let outMAC: Packet.MAC = "02:00:00:00:01:01"
    static let backendMAC: Packet.MAC = "02:00:00:00:01:02"

    static let syn = Packet.tcp(src: "198.18.0.2:40000", dst: "198.18.0.1:8080", flags: [.syn],
                                srcMAC: clientMAC, dstMAC: inMAC)
    static let udp = Packet.udp(src: "198.18.0.2:40000", dst: "198.18.0.1:5353", payload: Array("ping".utf8),
                                srcMAC: clientMAC, dstMAC: inMAC)

    /// PassThroughTests.cases.
    static let passThrough: [(String, [UInt8])] = [
        ("no rule for the port", syn.with { $0.tcp?.dport = 9999 }.bytes),
        ("no rule for the protocol", udp.with { $0.udp?.dport = 8080 }.bytes),
        ("IPv4 header behind an IPv6 ethertype", syn.with { $0.ethernet.etherType = 0x86DD }.bytes),
        ("ARP ethertype", syn.with { $0.ethernet.etherType = 0x0806 }.bytes),
        ("802.1Q TPID with no IP behind the tag", syn.with { $0.ethernet.etherType = 0x8100 }.bytes),
        ("ICMP", syn.with { $0.transport = .raw; $0.ip.protocol = 1; $0.payload = [8, 0, 0xf7, 0xff, 0, 0, 0, 0] }.bytes),
        ("Ethernet header alone", syn.truncated(to: 14)),
        ("IPv4 header truncated", syn.truncated(to: 14 + 19)),
        ("TCP header truncated", syn.truncated(to: 14 + 20 + 19)),
        ("UDP header truncated", udp.truncated(to: 14 + 20 + 7)),
        ("IP options cut off", syn.with { $0.ip.options = Array(repeating: 1, count: 8) }.truncated(to: 14 + 24)),
        ("ihl below 5", syn.with { $0.ip.ihl = 4 }.bytes),
        ("version 6 inside IPv4", syn.with { $0.ip.version = 6 }.bytes),
        ("tot_len beyond the frame", syn.with { $0.ip.totalLength = 400 }.bytes),
        ("tot_len below the IP header", syn.with { $0.ip.totalLength = 19 }.bytes),
        ("tot_len inside the TCP header", syn.with { $0.ip.totalLength = 30 }.bytes),
        ("TCP data offset below 5", syn.with { $0.tcp?.dataOffset = 4 }.bytes),
        ("UDP length below 8", udp.with { $0.udp?.length = 7 }.bytes),
        ("UDP length beyond the IP payload", udp.with { $0.udp?.length = 200 }.bytes),
        ("first fragment", syn.with { $0.ip.flags = [.moreFragments] }.bytes),
        ("later fragment", udp.with { $0.ip.fragmentOffset = 185 }.bytes),
        ("TTL 1", syn.with { $0.ip.ttl = 1 }.bytes),
        ("TTL 0", syn.with { $0.ip.ttl = 0 }.bytes),
        ("backend without a route", syn.with { $0.tcp?.dport = 7000 }.bytes),
    ]

    @Test("pass-through cases")
    func passThroughCases() throws {
        for (name, frame) in Self.passThrough {
            let bed = try DifferentialBed()
            try bed.addRule("tcp", "198.18.0.1:8080", "198.18.1.2:8000")
            try bed.addRule("udp", "198.18.0.1:5353", "198.18.1.2:5300")
            try bed.addRule("tcp", "198.18.0.1:7000", "198.18.9.9:7000")
            let outcome = try bed.feed(frame, name)
            #expect(outcome.fastPath == .pass, "\(name)")
            try bed.expectSameFlows(name)
        }
    }

    static func fromClient(_ src: Packet.Endpoint = "198.18.0.2:40000", to dst: Packet.Endpoint = "198.18.0.1:8080",
                           flags: Packet.TCPFlags = [.syn]) -> Packet {
        .tcp(src: src, dst: dst, flags: flags, seq: 1000, payload: [], srcMAC: clientMAC, dstMAC: inMAC)
    }

    static func sport(_ output: [UInt8]) throws -> UInt16 {
        let packet = try Packet.decode(output)
        return try #require(packet.tcp?.sport ?? packet.udp?.sport)
    }

    /// ForwardingTests, scenario by scenario.
    @Test("forwarding scenarios")
    func forwardingScenarios() throws {
        // forwardSYN, replyTranslation
        do {
            let bed = try DifferentialBed()
            try bed.addRule("tcp", "198.18.0.1:8080", "198.18.1.2:8000")
            let port = try Self.sport(bed.feed(Self.fromClient().bytes, "SYN").output)
            let synAck = Packet.tcp(src: "198.18.1.2:8000", dst: .init("198.18.1.1", port), flags: [.syn, .ack],
                                    seq: 5000, ack: 1001, payload: Array("hello".utf8), srcMAC: Self.backendMAC, dstMAC: Self.outMAC)
            try bed.feed(synAck.bytes, ingress: bed.outIndex, "SYN-ACK")
            try bed.feed(Self.fromClient(flags: [.ack]).bytes, "ACK")
            try bed.expectSameFlows("reply translation")
        }
        // ipOptions, udpChecksum (zero and computed), ethernetPadding
        do {
            let bed = try DifferentialBed()
            try bed.addRule("tcp", "198.18.0.1:8080", "198.18.1.2:8000")
            try bed.addRule("udp", "198.18.0.1:5353", "198.18.1.2:5300")
            try bed.feed(Self.fromClient().with { $0.ip.options = [7, 7, 4, 0, 0, 0, 0, 1] }.bytes, "IP options")
            for (sport, checksum) in [(41000, Packet.Checksum.none), (41001, .computed)] {
                let query = Packet.udp(src: .init("198.18.0.2", UInt16(sport)), dst: "198.18.0.1:5353", payload: Array("question".utf8),
                                       checksum: checksum, srcMAC: Self.clientMAC, dstMAC: Self.inMAC)
                try bed.feed(query.bytes, "UDP checksum \(checksum)")
            }
            let padded = Packet.udp(src: "198.18.0.2:41002", dst: "198.18.0.1:5353", payload: [1],
                                    srcMAC: Self.clientMAC, dstMAC: Self.inMAC).with { $0.trailer = [0xAA, 0xBB, 0xCC] }
            try bed.feed(padded.bytes, "Ethernet padding")
            try bed.expectSameFlows("options and checksums")
        }
        // sameSourcePort
        do {
            let bed = try DifferentialBed()
            try bed.addRule("tcp", "198.18.0.1:8080", "198.18.1.2:8000")
            try bed.addNeighbour("198.18.0.4", "02:00:00:00:00:04")
            let first = try Self.sport(bed.feed(Self.fromClient("198.18.0.2:40000").bytes).output)
            let second = try Self.sport(bed.feed(Self.fromClient("198.18.0.4:40000").bytes).output)
            for port in [first, second] {
                let reply = Packet.tcp(src: "198.18.1.2:8000", dst: .init("198.18.1.1", port), flags: [.syn, .ack],
                                       srcMAC: Self.backendMAC, dstMAC: Self.outMAC)
                try bed.feed(reply.bytes, ingress: bed.outIndex, "reply to \(port)")
            }
            try bed.expectSameFlows("same source port")
        }
        // portExhaustion
        do {
            let bed = try DifferentialBed()
            try bed.addRule("udp", "198.18.0.1:5353", "198.18.1.2:5300")
            try bed.setConfig { $0.snat_port_min = 40000; $0.snat_port_max = 40001 }
            for sport: UInt16 in [1000, 1001, 1002] {
                let query = Packet.udp(src: .init("198.18.0.2", sport), dst: "198.18.0.1:5353", srcMAC: Self.clientMAC, dstMAC: Self.inMAC)
                try bed.feed(query.bytes, "exhaustion \(sport)")
            }
            try bed.expectSameFlows("exhaustion")
        }
        // dnatOnly, fixedSNAT, hairpinTX, slowPath
        for (backend, snat) in [("198.18.1.2:8000", "none"), ("198.18.1.2:8000", "198.18.1.50"),
                                ("198.18.0.3:8000", "auto"), ("198.18.1.3:8000", "auto")] {
            let bed = try DifferentialBed()
            try bed.addRule("tcp", "198.18.0.1:8080", backend, snat: snat)
            let out = try bed.feed(Self.fromClient().bytes, "\(backend) snat \(snat)")
            if snat == "none" {
                let reply = Packet.tcp(src: "198.18.1.2:8000", dst: "198.18.0.2:40000", flags: [.syn, .ack],
                                       srcMAC: Self.backendMAC, dstMAC: Self.outMAC)
                try bed.feed(reply.bytes, ingress: bed.outIndex, "DNAT reply")
            }
            if backend.hasPrefix("198.18.1.3") { #expect(out.fastPath.action == .slowpath) }
            if backend.hasPrefix("198.18.0.3") { #expect(out.fastPath.action == .tx) }
            try bed.expectSameFlows("\(backend) snat \(snat)")
        }
        // liveBackendChange, ruleDelete, rstState
        do {
            let bed = try DifferentialBed()
            try bed.addRule("tcp", "198.18.0.1:8080", "198.18.1.2:8000")
            try bed.feed(Self.fromClient("198.18.0.2:40000").bytes)
            try bed.addRule("tcp", "198.18.0.1:8080", "198.18.0.3:9000")
            try bed.feed(Self.fromClient("198.18.0.2:40000", flags: [.ack]).bytes, "old backend")
            try bed.feed(Self.fromClient("198.18.0.2:40001").bytes, "new backend")
            try bed.deleteRule("tcp", "198.18.0.1:8080")
            try bed.feed(Self.fromClient("198.18.0.2:40000", flags: [.ack]).bytes, "after delete, established")
            try bed.feed(Self.fromClient("198.18.0.2:40002").bytes, "after delete, new")
            try bed.feed(Self.fromClient("198.18.0.2:40001", flags: [.rst]).bytes, "RST")
            try bed.expectSameFlows("backend change, delete, RST")
        }
        // reuseClosingTuple, retransmittedSYN, reuseClosingTupleDNAT; also
        // with the forwarder's conntrack cache.
        let finAck: Packet.TCPFlags = [.fin, .ack], rst: Packet.TCPFlags = [.rst]
        for (closing, snat, cache) in [(finAck, "auto", 0), (rst, "auto", 0), (finAck, "none", 0),
                                       (rst, "none", 0), (finAck, "auto", 64), (rst, "none", 64)] {
            let label = "reuse after \(closing), snat \(snat), cache \(cache)"
            let bed = try DifferentialBed(flowCacheSlots: cache)
            try bed.addRule("tcp", "198.18.0.1:8080", "198.18.1.2:8000", snat: snat)
            try bed.feed(Self.fromClient().bytes, "\(label): SYN")
            if snat == "none" {
                let reply = Packet.tcp(src: "198.18.1.2:8000", dst: "198.18.0.2:40000", flags: [.syn, .ack],
                                       srcMAC: Self.backendMAC, dstMAC: Self.outMAC)
                try bed.feed(reply.bytes, ingress: bed.outIndex, "\(label): SYN-ACK")
            } else {
                try bed.addRule("tcp", "198.18.0.1:8080", "198.18.1.2:9000", snat: snat)
            }
            try bed.feed(Self.fromClient().bytes, "\(label): retransmitted SYN")
            try bed.feed(Self.fromClient(flags: closing).bytes, "\(label): close")
            try bed.feed(Self.fromClient(flags: [.ack]).bytes, "\(label): ACK while closing")
            let again = try bed.feed(Self.fromClient().bytes, "\(label): new SYN")
            #expect(again.fastPath.action == .redirect, "\(label)")
            try bed.feed(Self.fromClient().bytes, "\(label): its retransmission")
            try bed.expectSameFlows(label)
        }
        // ICMPErrorTests (IPv4): frag-needed from the backend side, whole
        // quote and 28 bytes; port unreachable from the client side; errors
        // about no flow of ours and echo requests.
        for quoteLength in [nil, 28] as [Int?] {
            let bed = try DifferentialBed()
            try bed.addRule("tcp", "198.18.0.1:8080", "198.18.1.2:8000")
            let syn = Self.fromClient().with { $0.payload = Array(repeating: 0x5A, count: 100) }
            let forwarded = try Packet.decode(bed.feed(syn.bytes, "SYN").output)
            let quote = quoteLength.map { Array(forwarded.ipBytes.prefix($0)) } ?? forwarded.ipBytes
            let error = Packet.icmp(src: "198.18.1.2", dst: "198.18.1.1", type: 3, code: 4, rest: 1400, body: quote,
                                    srcMAC: Self.backendMAC, dstMAC: Self.outMAC)
            let out = try bed.feed(error.bytes, ingress: bed.outIndex, "frag needed, quote \(quoteLength ?? 0)")
            #expect(out.fastPath.action == .redirect)
        }
        do {
            let bed = try DifferentialBed()
            try bed.addRule("udp", "198.18.0.1:5353", "198.18.1.2:5300")
            try bed.addRule("tcp", "198.18.0.1:8080", "198.18.1.2:8000")
            let query = Packet.udp(src: "198.18.0.2:41000", dst: "198.18.0.1:5353", payload: [1, 2, 3], srcMAC: Self.clientMAC, dstMAC: Self.inMAC)
            let port = try #require(try Packet.decode(bed.feed(query.bytes).output).udp?.sport)
            let reply = Packet.udp(src: "198.18.1.2:5300", dst: .init("198.18.1.1", port), payload: [4, 5, 6],
                                   srcMAC: Self.backendMAC, dstMAC: Self.outMAC)
            let delivered = try Packet.decode(bed.feed(reply.bytes, ingress: bed.outIndex).output)
            let error = Packet.icmp(src: "198.18.0.2", dst: "198.18.0.1", type: 3, code: 3, body: delivered.ipBytes,
                                    srcMAC: Self.clientMAC, dstMAC: Self.inMAC)
            #expect(try bed.feed(error.bytes, "port unreachable").fastPath.action == .redirect)
            let stranger = Packet.tcp(src: "198.18.1.1:1234", dst: "198.18.1.2:8000", flags: [.syn])
            let unrelated = Packet.icmp(src: "198.18.1.2", dst: "198.18.1.1", type: 3, code: 1, body: stranger.ipBytes,
                                        srcMAC: Self.backendMAC, dstMAC: Self.outMAC)
            try bed.feed(unrelated.bytes, ingress: bed.outIndex, "error about no flow")
            let echo = Packet.icmp(src: "198.18.0.2", dst: "198.18.0.1", type: 8, body: [1, 2, 3, 4], srcMAC: Self.clientMAC, dstMAC: Self.inMAC)
            try bed.feed(echo.bytes, "echo request")
            try bed.feed(error.with { $0.ip.ttl = 1 }.bytes, "error with TTL 1")
            try bed.expectSameFlows("ICMP errors")
        }
        // FlowCountersTests (IPv4): frames of known sizes both ways, without
        // and with the conntrack cache (its counts are gathered in the slot
        // and flushed; expectSameFlows compares the counters too); then the
        // next hop follows a changed neighbour after the touch interval.
        for cache in [0, 64] {
            let label = "flow counters, cache \(cache)"
            let bed = try DifferentialBed(flowCacheSlots: cache)
            try bed.addRule("tcp", "198.18.0.1:8080", "198.18.1.2:8000")
            let syn = Self.fromClient()
            let port = try Self.sport(bed.feed(syn.bytes, "\(label): SYN").output)
            var forwardBytes = UInt64(syn.bytes.count), replyBytes: UInt64 = 0
            for size in [0, 1448, 200] {
                let reply = Packet.tcp(src: "198.18.1.2:8000", dst: .init("198.18.1.1", port), flags: [.syn, .ack],
                                       payload: Array(repeating: 0xA5, count: size), srcMAC: Self.backendMAC, dstMAC: Self.outMAC)
                try bed.feed(reply.bytes, ingress: bed.outIndex, "\(label): reply \(size)")
                replyBytes += UInt64(reply.bytes.count)
            }
            for size in [0, 100, 1000, 1400] {
                let data = Self.fromClient(flags: [.ack]).with { $0.payload = Array(repeating: 0x5A, count: size) }
                try bed.feed(data.bytes, "\(label): data \(size)")
                forwardBytes += UInt64(data.bytes.count)
            }
            try bed.feed(Self.fromClient(flags: [.ack]).with { $0.ip.ttl = 1 }.bytes, "\(label): TTL 1, not counted")
            try bed.expectSameFlows(label)
            let counts = try bed.fastPath.maps.flows.entries().map { ($0.1.direction, $0.1.packets, $0.1.bytes) }
            #expect(counts.contains { $0 == (UInt8(XDPFWD_DIR_FORWARD.rawValue), 5, forwardBytes) }, "\(label): \(counts)")
            #expect(counts.contains { $0 == (UInt8(XDPFWD_DIR_REPLY.rawValue), 3, replyBytes) }, "\(label): \(counts)")

            try bed.bed.namespace.ip(["neigh", "replace", "198.18.1.2", "lladdr", "02:00:00:00:01:09", "dev", "out0", "nud", "permanent"])
            usleep(1_300_000)  // past XDPFWD_TOUCH_NS (and the cache's TTL): behaviour, not a speed check
            let moved = try bed.feed(Self.fromClient(flags: [.ack]).bytes, "\(label): after the neighbour changed")
            #expect(try Packet.decode(moved.output).ethernet.dst == "02:00:00:00:01:09", "\(label)")
            try bed.expectSameFlows("\(label): next hop refreshed")
        }
        // expiry
        do {
            let bed = try DifferentialBed()
            try bed.addRule("udp", "198.18.0.1:5353", "198.18.1.2:5300")
            try bed.setConfig { $0.timeout_udp = 1 }
            let query = Packet.udp(src: "198.18.0.2:41000", dst: "198.18.0.1:5353", srcMAC: Self.clientMAC, dstMAC: Self.inMAC)
            try bed.feed(query.bytes, "before expiry")
            usleep(2_200_000)  // behaviour under a 1 s timeout, not a speed check
            try bed.feed(query.bytes, "after expiry")
            try bed.expectSameFlows("expiry")
        }
    }
}
