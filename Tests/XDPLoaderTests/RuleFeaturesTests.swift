import CXDP
import Glibc
import Packets
import RuleModel
import TestSupport
import Testing
@testable import XDPLoader

/// Port ranges, wildcard listen addresses and Maglev balancing through the
/// real program (BPF_PROG_TEST_RUN): which backend and port a new flow
/// gets, that established flows keep theirs, and what the control plane
/// refuses. Expected backends are computed in Swift from the same hash and
/// the same MaglevTable the control plane installs.
@Suite("XDP: port ranges, wildcard listen, Maglev backends", .serialized,
       .enabled(if: Capabilities.bpfAndNetns, Capabilities.reason))
struct RuleFeaturesTests {
    typealias F = DatapathFixture
    static let client: Packet.Address = "198.18.0.2"
    /// Backends on out0 with permanent neighbours (redirected, not slow path).
    static let backends = ["198.18.1.2", "198.18.1.4", "198.18.1.5"]

    static func syn(_ sport: UInt16, to dst: Packet.Endpoint, flags: Packet.TCPFlags = [.syn]) -> [UInt8] {
        Packet.tcp(src: .init(client, sport), dst: dst, flags: flags,
                   srcMAC: "02:00:00:00:00:02", dstMAC: "02:00:00:00:00:01").bytes
    }

    static func fixture() throws -> F {
        let f = try F()
        try f.backendNeighbour("198.18.1.4", mac: "02:00:00:00:01:04")
        try f.backendNeighbour("198.18.1.5", mac: "02:00:00:00:01:05")
        return f
    }

    /// The backend Swift expects for a client flow, from FlowHash + MaglevTable.
    static func expected(_ rule: ForwardingRule, sport: UInt16, dst: Packet.Endpoint) -> Endpoint {
        let hash = FlowHash.ipv4(saddr: client.value, daddr: dst.address.value, sport: sport, dport: dst.port, protocol: 6)
        let backend = rule.backends[rule.maglevTable().backend(forHash: hash)]
        return Endpoint(address: backend.endpoint.address, port: rule.backendPort(backend, forListenPort: dst.port)!)
    }

    static func destination(_ output: [UInt8]) throws -> Endpoint {
        let packet = try Packet.decode(output)
        return Endpoint(address: IPv4Address(packet.ip.dst.value), port: try #require(packet.tcp?.dport ?? packet.udp?.dport))
    }

    // MARK: ranges

    @Test("port range edges: first, last and one past each end", arguments: [
        (UInt16(10000), Optional(UInt16(20000))),
        (10001, 20001),
        (10099, 20099),
        (10100, nil),
        (9999, nil),
    ])
    func rangeEdges(port: UInt16, backendPort: UInt16?) throws {
        let f = try F()
        try f.addRule("tcp", "198.18.0.1:10000-10099", backends: ["198.18.1.2:20000"])
        let result = try f.run(Self.syn(40000, to: .init("198.18.0.1", port)))
        if let backendPort {
            #expect(result.verdict == .redirect)
            #expect(try Self.destination(result.output) == Endpoint(address: IPv4Address(198, 18, 1, 2), port: backendPort))
            #expect(Packet.checksumsValid(result.output))
        } else {
            #expect(result.verdict == .pass)
            #expect(try f.counter("pass_no_rule") == 1)
        }
    }

    @Test("a range is one rule: listed once, replaced by its exact spec, deleted whole")
    func rangeIsOneRule() throws {
        let f = try Self.fixture()
        let table = RuleTable(maps: f.maps)
        let first = try f.addRule("udp", "198.18.0.1:10000-10099", backends: ["198.18.1.2:20000-20099"])
        #expect(try f.maps.rules.keys().count == 100)
        #expect(try table.list().map(\.rule.listenDescription) == ["198.18.0.1:10000-10099"])
        #expect(try table.list().first?.rule.description == "udp 198.18.0.1:10000-10099 -> 198.18.1.2:20000-20099 snat auto")

        let replaced = try f.addRule("udp", "198.18.0.1:10000-10099", backends: ["198.18.1.4:30000"])
        #expect(replaced.id == first.id)
        let port = try Self.destination(f.run(Packet.udp(src: "198.18.0.2:5000", dst: "198.18.0.1:10050",
                                                         srcMAC: "02:00:00:00:00:02", dstMAC: "02:00:00:00:00:01").bytes).output)
        #expect(port == Endpoint(address: IPv4Address(198, 18, 1, 4), port: 30050))

        #expect(throws: XDPFwdError.self) { try table.delete(RuleKey.parse(protocol: "udp", listen: "198.18.0.1:10005")) }
        #expect(try table.delete(RuleKey.parse(protocol: "udp", listen: "198.18.0.1:10000-10099")))
        #expect(try f.maps.rules.keys().isEmpty)
    }

    @Test("overlapping rules are refused with the rule they overlap; a different protocol or address is no overlap")
    func overlap() throws {
        let f = try F()
        try f.addRule("tcp", "198.18.0.1:10000-10099", backends: ["198.18.1.2:20000"])
        do {
            try f.addRule("tcp", "198.18.0.1:10099-10100", backends: ["198.18.1.2:80"])
            Issue.record("overlap accepted")
        } catch {
            #expect("\(error)" == "tcp 198.18.0.1:10099-10100 overlaps the rule for tcp 198.18.0.1:10000-10099 (id 0): "
                + "delete that rule first, or give exactly its listen ports to replace it")
        }
        #expect(throws: XDPFwdError.self) { try f.addRule("tcp", "198.18.0.1:10050", "198.18.1.2:80") }
        try f.addRule("udp", "198.18.0.1:10050", "198.18.1.2:80")
        try f.addRule("tcp", "198.18.0.9:10050", "198.18.1.2:80")
        try f.addRule("tcp", "198.18.0.1:10100", "198.18.1.2:80")
        #expect(try RuleTable(maps: f.maps).list().count == 4)
        #expect(try f.maps.rules.keys().count == 103)
    }

    // MARK: wildcard

    @Test("wildcard listen: any local address of an attached interface; others pass; an exact rule wins",
          arguments: [
              ("198.18.0.1", Optional("198.18.1.2")),  // in0's address
              ("198.18.1.1", "198.18.1.2"),            // out0's address
              ("198.18.0.77", nil),                    // not local: not ours
          ])
    func wildcard(destination: String, backend: String?) throws {
        let f = try Self.fixture()
        try f.addRule("tcp", "0.0.0.0:8080", backends: ["198.18.1.2:8000"])
        let result = try f.run(Self.syn(40000, to: .init(Packet.Address(stringLiteral: destination), 8080)))
        if let backend {
            #expect(result.verdict == .redirect)
            #expect(try Self.destination(result.output).address.description == backend)
        } else {
            #expect(result.verdict == .pass)
        }
        // The exact listen address takes precedence over the wildcard.
        try f.addRule("tcp", "198.18.0.1:8080", backends: ["198.18.1.4:9000"])
        let exact = try f.run(Self.syn(40001, to: "198.18.0.1:8080"))
        #expect(try Self.destination(exact.output) == Endpoint(address: IPv4Address(198, 18, 1, 4), port: 9000))
    }

    // MARK: Maglev

    @Test("Maglev: every new flow goes where the Swift table and hash say, with the range offset")
    func maglevMatchesSwift() throws {
        let f = try Self.fixture()
        let installed = try f.addRule("tcp", "198.18.0.1:10000-10009",
                                      backends: ["198.18.1.2:20000", "198.18.1.4:30000@2", "198.18.1.5:40000"])
        var seen = Set<IPAddress>()
        for i in 0..<90 {
            let sport = UInt16(41000 + i)
            let dst = Packet.Endpoint("198.18.0.1", UInt16(10000 + i % 10))
            let result = try f.run(Self.syn(sport, to: dst))
            #expect(result.verdict == .redirect)
            let got = try Self.destination(result.output)
            #expect(got == Self.expected(installed.rule, sport: sport, dst: dst), "flow \(sport) -> \(dst)")
            seen.insert(got.address)
            #expect(Packet.checksumsValid(result.output))
        }
        #expect(seen.count == 3)
        // The installed slots are the Swift table's, backend by backend.
        let slots = try MaglevMaps(maps: f.maps).slots(id: installed.id)
        let table = installed.rule.maglevTable()
        let installedAddresses: [IPAddress] = slots.map { MaglevMaps.address($0, like: .ipv4) }
        let expectedAddresses: [IPAddress] = table.slots.map { installed.rule.backends[Int($0)].endpoint.address }
        #expect(installedAddresses == expectedAddresses)
        #expect(try RuleTable(maps: f.maps).list().first?.rule == installed.rule)
    }

    @Test("weight 0 drains: no new flows go there, a flow already there continues")
    func drain() throws {
        let f = try Self.fixture()
        let backends = ["198.18.1.2:8000", "198.18.1.4:8000", "198.18.1.5:8000"]
        let rule = try f.addRule("tcp", "198.18.0.1:8080", backends: backends).rule
        // A flow that the table sends to the third backend.
        let sport = try #require((UInt16(42000)..<42200).first {
            Self.expected(rule, sport: $0, dst: "198.18.0.1:8080").address == .v4(IPv4Address(198, 18, 1, 5))
        })
        #expect(try Self.destination(f.run(Self.syn(sport, to: "198.18.0.1:8080")).output).address == .v4(IPv4Address(198, 18, 1, 5)))

        try f.addRule("tcp", "198.18.0.1:8080", backends: ["198.18.1.2:8000", "198.18.1.4:8000", "198.18.1.5:8000@0"])

        let established = try f.run(Self.syn(sport, to: "198.18.0.1:8080", flags: [.ack]))
        #expect(established.verdict == .redirect)
        #expect(try Self.destination(established.output).address == .v4(IPv4Address(198, 18, 1, 5)))
        for i in 0..<60 {
            let result = try f.run(Self.syn(UInt16(43000 + i), to: "198.18.0.1:8080"))
            #expect(try Self.destination(result.output).address != .v4(IPv4Address(198, 18, 1, 5)))
        }
    }

    @Test("table swap: flows created before a change keep their backend; new flows follow the new table")
    func tableSwap() throws {
        let f = try Self.fixture()
        let before = try f.addRule("tcp", "198.18.0.1:8080", backends: ["198.18.1.2:8000", "198.18.1.4:8000"]).rule
        var first: [UInt16: Endpoint] = [:]
        for i in 0..<40 {
            let sport = UInt16(44000 + i)
            first[sport] = try Self.destination(f.run(Self.syn(sport, to: "198.18.0.1:8080")).output)
        }
        let after = try f.addRule("tcp", "198.18.0.1:8080", backends: ["198.18.1.2:8000", "198.18.1.4:8000", "198.18.1.5:8000"]).rule
        #expect(before != after)
        var moved = 0
        for (sport, backend) in first {
            let again = try Self.destination(f.run(Self.syn(sport, to: "198.18.0.1:8080", flags: [.ack])).output)
            #expect(again == backend, "established flow \(sport) moved")
            if Self.expected(after, sport: sport, dst: "198.18.0.1:8080") != backend { moved += 1 }
        }
        #expect(moved > 0, "the new table changes some assignments (else this test proves nothing)")
        for i in 0..<40 {
            let sport = UInt16(45000 + i)
            #expect(try Self.destination(f.run(Self.syn(sport, to: "198.18.0.1:8080")).output)
                    == Self.expected(after, sport: sport, dst: "198.18.0.1:8080"))
        }
        // Back to one backend: the rule leaves its table behind.
        let single = try f.addRule("tcp", "198.18.0.1:8080", backends: ["198.18.1.4:8000"])
        #expect(try f.maps.maglev.lookup(single.id) == nil)
        #expect(try Self.destination(f.run(Self.syn(46000, to: "198.18.0.1:8080")).output)
                == Endpoint(address: IPv4Address(198, 18, 1, 4), port: 8000))
    }
}
