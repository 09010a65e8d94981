import Foundation
import Testing
@testable import RuleModel

@Suite struct RuleJSONTests {
    static func decode(_ json: String) throws -> ForwardingRule {
        try JSONDecoder().decode(ForwardingRule.self, from: Data(json.utf8))
    }

    static func encode(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    @Test(arguments: ["auto", "none", "198.18.2.1"])
    func encodesStableShape(snat: String) throws {
        let rule = try ForwardingRule.parse(
            protocol: "tcp", listen: "198.18.0.1:8080", backend: "198.18.1.2:8000", snat: snat)
        #expect(
            try Self.encode(rule)
                == #"{"backend":"198.18.1.2:8000","listen":"198.18.0.1:8080","protocol":"tcp","snat":"\#(snat)"}"#)
        #expect(try Self.decode(Self.encode(rule)) == rule)
    }

    @Test func decodesDocumentedExample() throws {
        let rule = try Self.decode(
            #"{"protocol":"udp","listen":"198.18.0.1:53","backend":"198.18.1.2:5353","snat":"none"}"#)
        #expect(rule == (try ForwardingRule.parse(
            protocol: "udp", listen: "198.18.0.1:53", backend: "198.18.1.2:5353", snat: "none")))
    }

    @Test func missingSNATMeansAuto() throws {
        let rule = try Self.decode(#"{"protocol":"tcp","listen":"198.18.0.1:80","backend":"198.18.1.2:80"}"#)
        #expect(rule.snat == .auto)
    }

    @Test func roundTripsAnArray() throws {
        let rules = [
            try ForwardingRule.parse(protocol: "tcp", listen: "198.18.0.1:80", backend: "198.18.1.2:80"),
            try ForwardingRule.parse(
                protocol: "udp", listen: "198.18.0.1:53", backend: "198.18.1.3:53", snat: "198.18.2.1"),
        ]
        let data = try JSONEncoder().encode(rules)
        #expect(try JSONDecoder().decode([ForwardingRule].self, from: data) == rules)
    }

    /// Hostile or mistaken input: every field is parsed and the rule validated again.
    @Test(arguments: [
        (#"{"protocol":"icmp","listen":"198.18.0.1:80","backend":"198.18.1.2:80"}"#,
         RuleError.unknownProtocol("icmp")),
        (#"{"protocol":"tcp","listen":"198.18.0.1:0","backend":"198.18.1.2:80"}"#,
         .invalidPort("0", in: "198.18.0.1:0")),
        (#"{"protocol":"tcp","listen":"198.18.0.1:80","backend":"[2001:2::1]:80"}"#,
         .familyMismatch(.backend, .v6(IPv6Address("2001:2::1")!), listen: .v4(IPv4Address(198, 18, 0, 1)))),
        (#"{"protocol":"tcp","listen":"198.18.0.1:80","backend":"198.18.1.2:80","snat":"yes"}"#,
         .invalidSNAT("yes")),
        (#"{"protocol":"tcp","listen":"127.0.0.1:80","backend":"198.18.1.2:80"}"#,
         .unusableAddress(.listen, .v4(IPv4Address(127, 0, 0, 1)), .loopback)),
        (#"{"protocol":"tcp","listen":"198.18.0.1:80","backend":"198.18.1.2:80","snat":"224.0.0.1"}"#,
         .unusableAddress(.snat, .v4(IPv4Address(224, 0, 0, 1)), .multicast)),
        (#"{"protocol":"tcp","listen":"198.18.0.1:80","backend":"198.18.0.1:80"}"#,
         .listenIsBackend(Endpoint(address: IPv4Address(198, 18, 0, 1), port: 80))),
    ])
    func rejectsInvalidJSON(json: String, expected: RuleError) {
        do {
            _ = try Self.decode(json)
            Issue.record("decoded invalid rule \(json)")
        } catch DecodingError.dataCorrupted(let context) {
            #expect(context.underlyingError as? RuleError == expected)
            #expect(context.debugDescription == expected.description)
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test(arguments: [
        #"{"listen":"198.18.0.1:80","backend":"198.18.1.2:80"}"#,
        #"{"protocol":"tcp","backend":"198.18.1.2:80"}"#,
        #"{"protocol":6,"listen":"198.18.0.1:80","backend":"198.18.1.2:80"}"#,
        #"{"protocol":"tcp","listen":["198.18.0.1",80],"backend":"198.18.1.2:80"}"#,
        #"{"protocol":"tcp","listen":"198.18.0.1:80","backend":"198.18.1.2:80","snat":null}"#,
        #"[]"#,
    ])
    func rejectsWrongShape(json: String) {
        #expect(throws: DecodingError.self) { try Self.decode(json) }
    }

    @Test func fieldTypesEncodeAsStrings() throws {
        #expect(try Self.encode([IPv4Address(198, 18, 0, 1)]) == #"["198.18.0.1"]"#)
        #expect(try Self.encode([TransportProtocol.udp]) == #"["udp"]"#)
        #expect(try Self.encode([SNATPolicy.none, .auto, .fixed(.v4(IPv4Address(10, 0, 0, 1)))])
            == #"["none","auto","10.0.0.1"]"#)
        #expect(try Self.encode([Endpoint(address: IPv4Address(10, 0, 0, 1), port: 80)]) == #"["10.0.0.1:80"]"#)
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode([IPv4Address].self, from: Data(#"["10.0.0.01"]"#.utf8))
        }
    }
}
