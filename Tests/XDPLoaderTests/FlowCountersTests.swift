import CXDP
import Glibc
import Packets
import RuleModel
import TestSupport
import Testing
@testable import XDPLoader

/// Per-flow counters: each conntrack entry counts the frames it translated
/// and sent, and their lengths as received; `flows` reports them per
/// direction. And the cached next hop, refreshed when the entry's
/// last_seen is (once a second), follows a changed neighbour.
@Suite("XDP: per-flow counters and next-hop refresh", .serialized,
       .enabled(if: Capabilities.bpfAndNetns, Capabilities.reason))
struct FlowCountersTests {
    typealias F = DatapathFixture
    typealias T = ForwardingTests
    typealias T6 = ForwardingV6Tests

    /// Client payload sizes after the SYN, and the backend's replies.
    static let clientPayloads = [0, 100, 1000, 1400]
    static let replyPayloads = [0, 1448, 200]

    static func entry(_ f: F, _ key: xdpfwd_flow_key) throws -> xdpfwd_flow {
        try #require(try f.maps.flows.lookup(key), "no conntrack entry for \(key)")
    }

    static func entry6(_ f: F, _ key: xdpfwd_flow6_key) throws -> xdpfwd_flow6 {
        try #require(try f.maps.flows6.lookup(key), "no conntrack entry for \(key)")
    }

    @Test("IPv4: N frames each way give N packets and the sum of frame lengths on each direction's entry")
    func countsIPv4() throws {
        let f = try F()
        try f.addRule("tcp", "198.18.0.1:8080", "198.18.1.2:8000")
        let syn = T.fromClient()
        let port = try T.snatPort(f.run(syn.bytes).output)
        var forwardBytes = UInt64(syn.bytes.count)
        var replyBytes: UInt64 = 0
        for (index, size) in Self.replyPayloads.enumerated() {
            let reply = Packet.tcp(src: "198.18.1.2:8000", dst: .init("198.18.1.1", port), flags: index == 0 ? [.syn, .ack] : [.ack],
                                   payload: Array(repeating: 0xA5, count: size), srcMAC: T.backendMAC, dstMAC: T.outMAC)
            #expect(try f.run(reply.bytes, ingress: f.outIndex).verdict == .redirect)
            replyBytes += UInt64(reply.bytes.count)
        }
        for size in Self.clientPayloads {
            let data = T.fromClient(flags: [.ack]).with { $0.payload = Array(repeating: 0x5A, count: size) }
            #expect(try f.run(data.bytes).verdict == .redirect)
            forwardBytes += UInt64(data.bytes.count)
        }
        // Not forwarded (TTL 1: the kernel's), so not counted.
        #expect(try f.run(T.fromClient(flags: [.ack]).with { $0.ip.ttl = 1 }.bytes).verdict == .pass)

        var forwardKey = xdpfwd_flow_key()
        forwardKey.saddr = IPv4Address("198.18.0.2")!.networkOrder
        forwardKey.daddr = IPv4Address("198.18.0.1")!.networkOrder
        forwardKey.sport = UInt16(40000).bigEndian
        forwardKey.dport = UInt16(8080).bigEndian
        forwardKey.proto = 6
        var replyKey = xdpfwd_flow_key()
        replyKey.saddr = IPv4Address("198.18.1.2")!.networkOrder
        replyKey.daddr = IPv4Address("198.18.1.1")!.networkOrder
        replyKey.sport = UInt16(8000).bigEndian
        replyKey.dport = port.bigEndian
        replyKey.proto = 6
        let forward = try Self.entry(f, forwardKey), reply = try Self.entry(f, replyKey)
        #expect(forward.packets == UInt32(1 + Self.clientPayloads.count) && forward.bytes == forwardBytes)
        #expect(reply.packets == UInt32(Self.replyPayloads.count) && reply.bytes == replyBytes)

        let flow = try #require(try FlowTable(maps: f.maps).list().first)
        #expect(flow.forward == DirectionCounters(packets: UInt64(1 + Self.clientPayloads.count), bytes: forwardBytes))
        #expect(flow.reply == DirectionCounters(packets: UInt64(Self.replyPayloads.count), bytes: replyBytes))
        #expect(flow.ageSeconds >= 0 && flow.ageSeconds <= 2, "age \(flow.ageSeconds)")
    }

    @Test("IPv6: N frames each way give N packets and the sum of frame lengths on each direction's entry")
    func countsIPv6() throws {
        let f = try F()
        try f.addRule("udp", "[2001:2::1]:5353", "[2001:2:0:1::2]:5300")
        let query = { (size: Int) in
            Packet6.udp(src: "[2001:2::2]:41000", dst: "[2001:2::1]:5353", payload: Array(repeating: 1, count: size),
                        srcMAC: T.clientMAC, dstMAC: T.inMAC)
        }
        let first = query(10)
        let port = try T6.snatPort(f.run(first.bytes).output)
        var forwardBytes = UInt64(first.bytes.count)
        var replyBytes: UInt64 = 0
        for size in Self.clientPayloads {
            #expect(try f.run(query(size).bytes).verdict == .redirect)
            forwardBytes += UInt64(query(size).bytes.count)
        }
        for size in Self.replyPayloads {
            let reply = Packet6.udp(src: "[2001:2:0:1::2]:5300", dst: .init(T6.snatAddress, port),
                                    payload: Array(repeating: 2, count: size), srcMAC: T.backendMAC, dstMAC: T.outMAC)
            #expect(try f.run(reply.bytes, ingress: f.outIndex).verdict == .redirect)
            replyBytes += UInt64(reply.bytes.count)
        }
        #expect(try f.run(query(5).with { $0.ip.hopLimit = 1 }.bytes).verdict == .pass)

        var forwardKey = xdpfwd_flow6_key()
        forwardKey.saddr = IPv6Address("2001:2::2")!.networkOrderWords
        forwardKey.daddr = IPv6Address("2001:2::1")!.networkOrderWords
        forwardKey.sport = UInt16(41000).bigEndian
        forwardKey.dport = UInt16(5353).bigEndian
        forwardKey.proto = 17
        var replyKey = xdpfwd_flow6_key()
        replyKey.saddr = IPv6Address("2001:2:0:1::2")!.networkOrderWords
        replyKey.daddr = IPv6Address("2001:2:0:1::1")!.networkOrderWords
        replyKey.sport = UInt16(5300).bigEndian
        replyKey.dport = port.bigEndian
        replyKey.proto = 17
        let forward = try Self.entry6(f, forwardKey), reply = try Self.entry6(f, replyKey)
        #expect(forward.packets == UInt32(1 + Self.clientPayloads.count) && forward.bytes == forwardBytes)
        #expect(reply.packets == UInt32(Self.replyPayloads.count) && reply.bytes == replyBytes)

        let flow = try #require(try FlowTable(maps: f.maps).list().first)
        #expect(flow.forward == DirectionCounters(packets: UInt64(1 + Self.clientPayloads.count), bytes: forwardBytes))
        #expect(flow.reply == DirectionCounters(packets: UInt64(Self.replyPayloads.count), bytes: replyBytes))
    }

    static func monotonicSeconds() -> Double { Double(FlowTable.monotonicNow()) / 1e9 }

    @Test("a changed neighbour reaches an established flow after the once-a-second touch, not before")
    func nextHopRefreshIPv4() throws {
        let f = try F()
        try f.addRule("tcp", "198.18.0.1:8080", "198.18.1.2:8000")
        let created = Self.monotonicSeconds()
        #expect(try Packet.decode(f.run(T.fromClient().bytes).output).ethernet.dst == T.backendMAC)
        try f.namespace.ip(["neigh", "replace", "198.18.1.2", "lladdr", "02:00:00:00:01:09", "dev", "out0", "nud", "permanent"])

        let cached = try Packet.decode(f.run(T.fromClient(flags: [.ack]).bytes).output)
        // The cached next hop, unless this slow machine took most of the touch interval to get here.
        if Self.monotonicSeconds() - created < 0.8 { #expect(cached.ethernet.dst == T.backendMAC) }
        usleep(1_300_000)  // past XDPFWD_TOUCH_NS: behaviour, not a speed check

        let refreshed = try f.run(T.fromClient(flags: [.ack]).bytes)
        #expect(refreshed.verdict == .redirect)
        #expect(try Packet.decode(refreshed.output).ethernet.dst == "02:00:00:00:01:09")
    }

    @Test("IPv6: a changed neighbour reaches an established flow after the touch interval")
    func nextHopRefreshIPv6() throws {
        let f = try F()
        try f.addRule("tcp", "[2001:2::1]:8080", "[2001:2:0:1::2]:8000")
        let created = Self.monotonicSeconds()
        #expect(try Packet6.decode(f.run(T6.fromClient().bytes).output).ethernet.dst == T.backendMAC)
        try f.namespace.ip(["-6", "neigh", "replace", "2001:2:0:1::2", "lladdr", "02:00:00:00:01:09", "dev", "out0", "nud", "permanent"])

        let cached = try Packet6.decode(f.run(T6.fromClient(flags: [.ack]).bytes).output)
        if Self.monotonicSeconds() - created < 0.8 { #expect(cached.ethernet.dst == T.backendMAC) }
        usleep(1_300_000)  // past XDPFWD_TOUCH_NS: behaviour, not a speed check

        let refreshed = try f.run(T6.fromClient(flags: [.ack]).bytes)
        #expect(refreshed.verdict == .redirect)
        #expect(try Packet6.decode(refreshed.output).ethernet.dst == "02:00:00:00:01:09")
    }
}
