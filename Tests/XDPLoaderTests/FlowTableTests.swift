import CXDP
import Packets
import RuleModel
import TestSupport
import Testing
@testable import XDPLoader

/// `xdpfwd flows`: the conntrack reader lists each flow once with both
/// tuples, and flush deletes both entries of the flows a filter matches.
@Suite("flows: list and flush the conntrack maps", .serialized,
       .enabled(if: Capabilities.bpfAndNetns, Capabilities.reason))
struct FlowTableTests {
    typealias F = DatapathFixture

    static func tcp(_ src: Packet.Endpoint, _ dst: Packet.Endpoint) -> [UInt8] {
        Packet.tcp(src: src, dst: dst, flags: [.syn], srcMAC: "02:00:00:00:00:02", dstMAC: "02:00:00:00:00:01").bytes
    }

    @Test("each flow once, with client and backend tuples, state and rule; IPv6 too")
    func list() throws {
        let f = try F()
        let tcpRule = try f.addRule("tcp", "198.18.0.1:8080", "198.18.1.2:8000")
        try f.addRule("udp", "198.18.0.1:5353", "198.18.1.2:5300")
        try f.addRule("tcp", "[2001:2::1]:8080", "[2001:2:0:1::2]:8000")
        let out = try Packet.decode(f.run(Self.tcp("198.18.0.2:40000", "198.18.0.1:8080")).output)
        _ = try f.run(Packet.udp(src: "198.18.0.2:41000", dst: "198.18.0.1:5353", srcMAC: "02:00:00:00:00:02", dstMAC: "02:00:00:00:00:01").bytes)
        _ = try f.run(Packet6.tcp(src: "[2001:2::2]:42000", dst: "[2001:2::1]:8080", flags: [.syn],
                                  srcMAC: "02:00:00:00:00:02", dstMAC: "02:00:00:00:00:01").bytes)

        let flows = try FlowTable(maps: f.maps).list()
        #expect(flows.count == 3)
        let tcp = try #require(flows.first { $0.protocol == .tcp && $0.client.address.family == .ipv4 })
        #expect(tcp.client.description == "198.18.0.2:40000" && tcp.listen.description == "198.18.0.1:8080")
        #expect(tcp.source.description == "198.18.1.1:\(out.tcp!.sport)" && tcp.backend.description == "198.18.1.2:8000")
        #expect(tcp.state == "opening" && tcp.ruleID == tcpRule.id && tcp.hasReplyEntry)
        #expect(tcp.ageSeconds >= 0 && tcp.ageSeconds < 60 && tcp.idleSeconds < 60)
        #expect(flows.contains { $0.protocol == .udp && $0.state == "udp" })
        #expect(flows.contains { $0.client.description == "[2001:2::2]:42000" && $0.backend.description == "[2001:2:0:1::2]:8000" })
    }

    @Test("flush removes both entries of matching flows only")
    func flush() throws {
        let f = try F()
        try f.namespace.ip(["neigh", "add", "198.18.0.4", "lladdr", "02:00:00:00:00:04", "dev", "in0", "nud", "permanent"])
        try f.addRule("tcp", "198.18.0.1:8080", "198.18.1.2:8000")
        try f.addRule("tcp", "198.18.0.1:8081", "198.18.1.2:8001")
        _ = try f.run(Self.tcp("198.18.0.2:40000", "198.18.0.1:8080"))
        _ = try f.run(Self.tcp("198.18.0.4:40000", "198.18.0.1:8080"))
        _ = try f.run(Self.tcp("198.18.0.2:40001", "198.18.0.1:8081"))
        let table = FlowTable(maps: f.maps)
        #expect(try f.maps.flows.keys().count == 6)

        var byClient = FlowFilter()
        byClient.client = try FlowFilter.parseAddress("198.18.0.4")
        #expect(try table.flush(byClient) == 1)
        #expect(try f.maps.flows.keys().count == 4)

        var byBackend = FlowFilter()
        byBackend.backend = try FlowFilter.parseEndpoint("198.18.1.2:8001")
        byBackend.protocol = .tcp
        #expect(try table.flush(byBackend) == 1)
        #expect(try table.list().map(\.listen.description) == ["198.18.0.1:8080"])

        #expect(try table.flush(FlowFilter()) == 1)
        #expect(try f.maps.flows.keys().isEmpty)
    }
}
