import CXDP
import Glibc
import Packets
import RuleModel
import TestSupport
import Testing
@testable import XDPLoader

/// The IPv6 program's ranges, wildcard and Maglev choice: the same rules as
/// RuleFeaturesTests over 16-byte addresses, the expected backend computed
/// in Swift from FlowHash.ipv6.
@Suite("XDP: IPv6 port ranges, wildcard listen, Maglev backends", .serialized,
       .enabled(if: Capabilities.bpfAndNetns, Capabilities.reason))
struct RuleFeaturesV6Tests {
    typealias F = DatapathFixture
    static let client: Packet6.Address = "2001:2::2"

    static func syn(_ sport: UInt16, to dst: Packet6.Endpoint, flags: Packet.TCPFlags = [.syn]) -> [UInt8] {
        Packet6.tcp(src: .init(client, sport), dst: dst, flags: flags,
                    srcMAC: "02:00:00:00:00:02", dstMAC: "02:00:00:00:00:01").bytes
    }

    static func fixture() throws -> F {
        let f = try F()
        try f.namespace.ip(["-6", "neigh", "add", "2001:2:0:1::4", "lladdr", "02:00:00:00:01:04", "dev", "out0", "nud", "permanent"])
        try f.namespace.ip(["-6", "neigh", "add", "2001:2:0:1::5", "lladdr", "02:00:00:00:01:05", "dev", "out0", "nud", "permanent"])
        return f
    }

    static func words(_ address: Packet6.Address) -> [UInt32] {
        stride(from: 0, to: 16, by: 4).map { i in address.bytes[i..<i + 4].reduce(0) { $0 << 8 | UInt32($1) } }
    }

    static func destination(_ output: [UInt8]) throws -> Endpoint {
        let packet = try Packet6.decode(output)
        return Endpoint(address: IPv6Address(bytes: packet.ip.dst.bytes), port: try #require(packet.tcp?.dport ?? packet.udp?.dport))
    }

    @Test("IPv6 range edges", arguments: [(UInt16(10000), Optional(UInt16(20000))), (10009, 20009), (10010, nil)])
    func rangeEdges(port: UInt16, backendPort: UInt16?) throws {
        let f = try F()
        try f.addRule("tcp", "[2001:2::1]:10000-10009", backends: ["[2001:2:0:1::2]:20000"])
        let result = try f.run(Self.syn(40000, to: .init("2001:2::1", port)))
        if let backendPort {
            #expect(result.verdict == .redirect)
            #expect(try Self.destination(result.output) == Endpoint(address: IPv6Address("2001:2:0:1::2")!, port: backendPort))
        } else {
            #expect(result.verdict == .pass)
        }
    }

    @Test("IPv6 wildcard [::]: local addresses only")
    func wildcard() throws {
        let f = try F()
        try f.addRule("tcp", "[::]:8080", backends: ["[2001:2:0:1::2]:8000"])
        #expect(try f.run(Self.syn(40000, to: "[2001:2::1]:8080")).verdict == .redirect)
        #expect(try f.run(Self.syn(40001, to: "[2001:2:0:1::1]:8080")).verdict == .redirect)
        #expect(try f.run(Self.syn(40002, to: "[2001:2::77]:8080")).verdict == .pass)
    }

    @Test("IPv6 Maglev: new flows go where FlowHash.ipv6 and the Swift table say; established flows stay")
    func maglev() throws {
        let f = try Self.fixture()
        let rule = try f.addRule("tcp", "[2001:2::1]:8080",
                                 backends: ["[2001:2:0:1::2]:8000", "[2001:2:0:1::4]:8000", "[2001:2:0:1::5]:8000@2"]).rule
        let table = rule.maglevTable()
        var first: [UInt16: Endpoint] = [:]
        for i in 0..<60 {
            let sport = UInt16(47000 + i)
            let hash = FlowHash.ipv6(saddr: Self.words(Self.client), daddr: Self.words("2001:2::1"), sport: sport, dport: 8080, protocol: 6)
            let want = rule.backends[table.backend(forHash: hash)].endpoint
            let result = try f.run(Self.syn(sport, to: "[2001:2::1]:8080"))
            #expect(result.verdict == .redirect)
            let got = try Self.destination(result.output)
            #expect(got == want, "flow \(sport)")
            first[sport] = got
        }
        #expect(Set(first.values).count == 3)
        // Drain the third backend: its flows continue, new ones avoid it.
        try f.addRule("tcp", "[2001:2::1]:8080",
                      backends: ["[2001:2:0:1::2]:8000", "[2001:2:0:1::4]:8000", "[2001:2:0:1::5]:8000@0"])
        for (sport, backend) in first {
            #expect(try Self.destination(f.run(Self.syn(sport, to: "[2001:2::1]:8080", flags: [.ack])).output) == backend)
        }
        for i in 0..<40 {
            let got = try Self.destination(f.run(Self.syn(UInt16(48000 + i), to: "[2001:2::1]:8080")).output)
            #expect(got.address != .v6(IPv6Address("2001:2:0:1::5")!))
        }
        #expect(try RuleTable(maps: f.maps).list().first?.rule.backends.map(\.weight) == [1, 1, 0])
    }
}
