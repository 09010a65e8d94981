import Testing
@testable import RuleModel

@Suite struct TransportProtocolTests {
    @Test(arguments: [
        ("tcp", TransportProtocol.tcp), ("TCP", .tcp), ("Tcp", .tcp), ("udp", .udp), ("UDP", .udp),
    ])
    func parses(string: String, expected: TransportProtocol) throws {
        let parsed = try TransportProtocol(parsing: string)
        #expect(parsed == expected)
        #expect(parsed.description == string.lowercased())
    }

    @Test(arguments: ["icmp", "", " tcp", "tcp ", "sctp", "6", "tcp4"])
    func rejects(string: String) {
        #expect(throws: RuleError.unknownProtocol(string)) { try TransportProtocol(parsing: string) }
    }

    @Test func unknownProtocolMessage() {
        #expect(RuleError.unknownProtocol("icmp").description == #"unknown protocol "icmp": expected tcp or udp"#)
    }

    @Test(arguments: [(TransportProtocol.tcp, UInt8(6)), (.udp, 17)])
    func ipProtocolNumber(proto: TransportProtocol, number: UInt8) {
        #expect(proto.ipProtocolNumber == number)
        #expect(TransportProtocol(ipProtocolNumber: number) == proto)
    }

    @Test func otherProtocolNumbersAreNotTransport() {
        for number in UInt8.min...UInt8.max where number != 6 && number != 17 {
            #expect(TransportProtocol(ipProtocolNumber: number) == nil)
        }
    }
}

@Suite struct SNATPolicyTests {
    @Test(arguments: [
        ("auto", SNATPolicy.auto, "auto"),
        ("AUTO", .auto, "auto"),
        ("none", .none, "none"),
        ("None", .none, "none"),
        ("198.18.2.1", .fixed(.v4(IPv4Address(198, 18, 2, 1))), "198.18.2.1"),
    ])
    func parses(string: String, expected: SNATPolicy, canonical: String) throws {
        let parsed = try SNATPolicy(parsing: string)
        #expect(parsed == expected)
        #expect(parsed.description == canonical)
        #expect(try SNATPolicy(parsing: parsed.description) == parsed)
    }

    @Test(arguments: ["", "off", "masquerade", "198.18.2", "198.18.2.1:80", " auto"])
    func rejects(string: String) {
        #expect(throws: RuleError.invalidSNAT(string)) { try SNATPolicy(parsing: string) }
    }

    @Test func invalidSNATMessage() {
        #expect(
            RuleError.invalidSNAT("off").description
                == #"invalid SNAT "off": expected auto, none or an address (IPv6 without brackets)"#)
    }
}
