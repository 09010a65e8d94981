import Foundation
import Testing
@testable import RuleModel

/// IPv6 addresses, endpoints and rules: strict parsing, canonical
/// (RFC 5952) printing, the unusable classes, and one family per rule.
@Suite struct IPv6Tests {
    @Test(arguments: [
        ("2001:2::1", "2001:2::1"),
        ("2001:0002:0000:0000:0000:0000:0000:0001", "2001:2::1"),
        ("2001:DB8::ABCD", "2001:db8::abcd"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),      // first of two equal runs
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),   // one zero group is not compressed
        ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),            // the longest run wins
        ("::", "::"),
        ("::1", "::1"),
        ("1::", "1::"),
        ("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"),
        ("::ffff:198.18.0.1", "::ffff:198.18.0.1"),
        ("64:ff9b::198.18.0.1", "64:ff9b::c612:1"),
        ("fe80::1", "fe80::1"),
    ])
    func parsesAndPrintsCanonically(input: String, canonical: String) throws {
        let address = try #require(IPv6Address(input))
        #expect(address.description == canonical)
        #expect(IPv6Address(canonical) == address)
    }

    @Test(arguments: [
        "", ":", ":::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "1::2::3", "12345::1", "2001:db8::g",
        "1:2:3:4:5:6:7:8::", ":1::", "1:", "2001:db8::1 ", " ::1", "[::1]", "::1.2.3", "1.2.3.4::",
        "::ffff:198.18.0.256", "fe80::1%eth0", "+1::", "2001:db8::01.2.3.4",
    ])
    func rejects(input: String) {
        #expect(IPv6Address(input) == nil)
    }

    @Test func zoneIDError() {
        #expect(throws: RuleError.ipv6ZoneID("fe80::1%eth0", in: nil)) { try IPv6Address(parsing: "fe80::1%eth0") }
    }

    @Test func networkOrderWordsRoundTrip() throws {
        let address = try #require(IPv6Address("2001:2::1:2"))
        let words = address.networkOrderWords
        #expect(IPv6Address(networkOrderWords: words) == address)
        // As in memory: the first word's bytes are 20 01 00 02.
        #expect(withUnsafeBytes(of: words.0) { Array($0) } == [0x20, 0x01, 0x00, 0x02])
    }

    @Test func endpoints() throws {
        let endpoint = try Endpoint(parsing: "[2001:0002::0001]:8080")
        #expect(endpoint.address == .v6(IPv6Address("2001:2::1")!))
        #expect(endpoint.port == 8080)
        #expect(endpoint.description == "[2001:2::1]:8080")
        let data = try JSONEncoder().encode([endpoint])
        #expect(String(decoding: data, as: UTF8.self) == #"["[2001:2::1]:8080"]"#)
    }

    @Test(arguments: [
        // [::] as listen address is the wildcard (RangeAndBackendTests).
        ("[::1]:80", "[2001:2:0:1::2]:80", RuleError.unusableAddress(.listen, .v6(IPv6Address("::1")!), .loopback)),
        ("[ff02::1]:80", "[2001:2:0:1::2]:80", .unusableAddress(.listen, .v6(IPv6Address("ff02::1")!), .multicast)),
        ("[fe80::1]:80", "[2001:2:0:1::2]:80", .unusableAddress(.listen, .v6(IPv6Address("fe80::1")!), .linkLocal)),
        ("[::ffff:198.18.0.1]:80", "[2001:2:0:1::2]:80",
         .unusableAddress(.listen, .v6(IPv6Address("::ffff:198.18.0.1")!), .ipv4Mapped)),
        ("[2001:2::1]:80", "[fe80::2]:80", .unusableAddress(.backend, .v6(IPv6Address("fe80::2")!), .linkLocal)),
        ("[2001:2::1]:80", "198.18.1.2:80",
         .familyMismatch(.backend, .v4(IPv4Address(198, 18, 1, 2)), listen: .v6(IPv6Address("2001:2::1")!))),
        ("198.18.0.1:80", "[2001:2::2]:80",
         .familyMismatch(.backend, .v6(IPv6Address("2001:2::2")!), listen: .v4(IPv4Address(198, 18, 0, 1)))),
        ("[2001:2::1]:80", "[2001:2::1]:80", .listenIsBackend(Endpoint(address: IPv6Address("2001:2::1")!, port: 80))),
    ])
    func rejectsRules(listen: String, backend: String, error: RuleError) {
        #expect(throws: error) { try ForwardingRule.parse(protocol: "tcp", listen: listen, backend: backend) }
    }

    @Test func snatFamilies() throws {
        let rule = try ForwardingRule.parse(protocol: "udp", listen: "[2001:2::1]:53", backend: "[2001:2:0:1::2]:5353",
                                            snat: "2001:2:0:1::10")
        #expect(rule.snat == .fixed(.v6(IPv6Address("2001:2:0:1::10")!)))
        #expect(rule.description == "udp [2001:2::1]:53 -> [2001:2:0:1::2]:5353 snat 2001:2:0:1::10")
        #expect(throws: RuleError.familyMismatch(.snat, .v4(IPv4Address(198, 18, 1, 10)), listen: .v6(IPv6Address("2001:2::1")!))) {
            try ForwardingRule.parse(protocol: "udp", listen: "[2001:2::1]:53", backend: "[2001:2:0:1::2]:53", snat: "198.18.1.10")
        }
        #expect(throws: RuleError.unusableAddress(.snat, .v6(IPv6Address("fe80::9")!), .linkLocal)) {
            try ForwardingRule.parse(protocol: "udp", listen: "[2001:2::1]:53", backend: "[2001:2:0:1::2]:53", snat: "fe80::9")
        }
    }

    @Test func messages() {
        #expect(RuleError.familyMismatch(.backend, .v4(IPv4Address(198, 18, 1, 2)), listen: .v6(IPv6Address("2001:2::1")!)).description
            == "backend address 198.18.1.2 is IPv4 but the listen address 2001:2::1 is IPv6: a rule forwards within one family (NAT64 is not supported)")
        #expect(RuleError.unbracketedIPv6("2001:2::1:80").description
            == #"IPv6 endpoint "2001:2::1:80" needs brackets: expected [ADDRESS]:PORT, like [2001:2::1]:8080"#)
        #expect(RuleError.invalidAddress("2001:2::g", in: "[2001:2::g]:80").description.hasPrefix(#"invalid IPv6 address "2001:2::g""#))
    }

    @Test func jsonRoundTrip() throws {
        let json = #"{"backend":"[2001:2:0:1::2]:8000","listen":"[2001:2::1]:8080","protocol":"tcp","snat":"auto"}"#
        let rule = try JSONDecoder().decode(ForwardingRule.self, from: Data(json.utf8))
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        #expect(String(decoding: try encoder.encode(rule), as: UTF8.self) == json)
    }
}
