import Packets
import TestSupport
import Testing
@testable import XDPLoader

/// Packets the forwarder must leave alone: the verdict is XDP_PASS, the
/// bytes come out exactly as they went in, and the named counter moved.
@Suite("XDP: packets passed to the kernel untouched", .serialized,
       .enabled(if: Capabilities.bpfAndNetns, Capabilities.reason))
struct PassThroughTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let frame: [UInt8]
        let counter: String
        var testDescription: String { name }
    }

    static let syn = Packet.tcp(src: "198.18.0.2:40000", dst: "198.18.0.1:8080", flags: [.syn],
                                srcMAC: "02:00:00:00:00:02", dstMAC: "02:00:00:00:00:01")
    static let udp = Packet.udp(src: "198.18.0.2:40000", dst: "198.18.0.1:5353", payload: Array("ping".utf8),
                                srcMAC: "02:00:00:00:00:02", dstMAC: "02:00:00:00:00:01")

    static let cases: [Case] = [
        Case(name: "no rule for the port", frame: syn.with { $0.tcp?.dport = 9999 }.bytes, counter: "pass_no_rule"),
        Case(name: "no rule for the protocol", frame: udp.with { $0.udp?.dport = 8080 }.bytes, counter: "pass_no_rule"),
        Case(name: "IPv4 header behind an IPv6 ethertype", frame: syn.with { $0.ethernet.etherType = 0x86DD }.bytes, counter: "pass_malformed"),
        Case(name: "ARP ethertype", frame: syn.with { $0.ethernet.etherType = 0x0806 }.bytes, counter: "pass_not_ipv4"),
        Case(name: "802.1Q TPID with no IP behind the tag", frame: syn.with { $0.ethernet.etherType = 0x8100 }.bytes, counter: "pass_not_ipv4"),
        Case(name: "ICMP", frame: syn.with { $0.transport = .raw; $0.ip.protocol = 1; $0.payload = [8, 0, 0xf7, 0xff, 0, 0, 0, 0] }.bytes,
             counter: "pass_not_tcp_udp"),
        // BPF_PROG_TEST_RUN refuses frames under 14 bytes, so the shortest is Ethernet alone.
        Case(name: "Ethernet header alone", frame: syn.truncated(to: 14), counter: "pass_malformed"),
        Case(name: "IPv4 header truncated", frame: syn.truncated(to: 14 + 19), counter: "pass_malformed"),
        Case(name: "TCP header truncated", frame: syn.truncated(to: 14 + 20 + 19), counter: "pass_malformed"),
        Case(name: "UDP header truncated", frame: udp.truncated(to: 14 + 20 + 7), counter: "pass_malformed"),
        Case(name: "IP options cut off by the frame end", frame: syn.with { $0.ip.options = Array(repeating: 1, count: 8) }.truncated(to: 14 + 24),
             counter: "pass_malformed"),
        Case(name: "ihl below 5", frame: syn.with { $0.ip.ihl = 4 }.bytes, counter: "pass_malformed"),
        Case(name: "version 6 inside an IPv4 ethertype", frame: syn.with { $0.ip.version = 6 }.bytes, counter: "pass_malformed"),
        Case(name: "tot_len beyond the frame", frame: syn.with { $0.ip.totalLength = 400 }.bytes, counter: "pass_malformed"),
        Case(name: "tot_len shorter than the IP header", frame: syn.with { $0.ip.totalLength = 19 }.bytes, counter: "pass_malformed"),
        Case(name: "tot_len ends inside the TCP header", frame: syn.with { $0.ip.totalLength = 30 }.bytes, counter: "pass_malformed"),
        Case(name: "TCP data offset below 5", frame: syn.with { $0.tcp?.dataOffset = 4 }.bytes, counter: "pass_malformed"),
        Case(name: "UDP length below 8", frame: udp.with { $0.udp?.length = 7 }.bytes, counter: "pass_malformed"),
        Case(name: "UDP length beyond the IP payload", frame: udp.with { $0.udp?.length = 200 }.bytes, counter: "pass_malformed"),
        Case(name: "first fragment (MF set)", frame: syn.with { $0.ip.flags = [.moreFragments] }.bytes, counter: "pass_fragment"),
        Case(name: "later fragment (offset set)", frame: udp.with { $0.ip.fragmentOffset = 185 }.bytes, counter: "pass_fragment"),
        Case(name: "TTL 1 on a forwarded port", frame: syn.with { $0.ip.ttl = 1 }.bytes, counter: "pass_ttl"),
        Case(name: "TTL 0 on a forwarded port", frame: syn.with { $0.ip.ttl = 0 }.bytes, counter: "pass_ttl"),
        Case(name: "backend without a route", frame: syn.with { $0.tcp?.dport = 7000 }.bytes, counter: "pass_no_route"),
    ]

    @Test(arguments: cases)
    func passesUntouched(_ testCase: Case) throws {
        let fixture = try DatapathFixture()
        try fixture.addRule("tcp", "198.18.0.1:8080", "198.18.1.2:8000")
        try fixture.addRule("udp", "198.18.0.1:5353", "198.18.1.2:5300")
        try fixture.addRule("tcp", "198.18.0.1:7000", "198.18.9.9:7000")

        let result = try fixture.run(testCase.frame)

        #expect(result.verdict == .pass)
        #expect(result.output == testCase.frame, "\(Packet.describe(result.output)) != \(Packet.describe(testCase.frame))")
        #expect(try fixture.counter(testCase.counter) == 1)
        #expect(try fixture.counter("verdict_pass") == 1)
        #expect(try fixture.counter("flow_new") == 0)
        #expect(try fixture.maps.flows.keys().isEmpty)
    }
}
