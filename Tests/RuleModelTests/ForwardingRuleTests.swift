import Testing
@testable import RuleModel

@Suite struct ForwardingRuleTests {
    @Test(arguments: [
        ("tcp", "198.18.0.1:8080", "198.18.1.2:8000", "auto"),
        ("udp", "198.18.0.1:53", "198.18.1.2:53", "none"),
        ("TCP", "198.18.0.1:443", "198.18.1.2:443", "198.18.2.1"),
        // Same address, different port: a port redirect, not a loop.
        ("tcp", "198.18.0.1:80", "198.18.0.1:8080", "auto"),
    ])
    func parsesValidRule(proto: String, listen: String, backend: String, snat: String) throws {
        let rule = try ForwardingRule.parse(protocol: proto, listen: listen, backend: backend, snat: snat)
        #expect(rule.protocol.description == proto.lowercased())
        #expect(rule.listen.description == listen)
        #expect(rule.backend.description == backend)
        #expect(rule.snat.description == snat)
        let again = try ForwardingRule.parse(
            protocol: rule.protocol.description, listen: rule.listen.description,
            backend: rule.backend.description, snat: rule.snat.description)
        #expect(again == rule)
    }

    @Test func snatDefaultsToAuto() throws {
        let rule = try ForwardingRule.parse(protocol: "tcp", listen: "198.18.0.1:80", backend: "198.18.1.2:80")
        #expect(rule.snat == .auto)
        #expect(rule.description == "tcp 198.18.0.1:80 -> 198.18.1.2:80 snat auto")
    }

    @Test(arguments: [
        // Each field's own parse error comes through parse(...).
        ("icmp", "198.18.0.1:80", "198.18.1.2:80", "auto", RuleError.unknownProtocol("icmp")),
        ("tcp", "198.18.0.1", "198.18.1.2:80", "auto", .missingPort("198.18.0.1")),
        ("tcp", "198.18.0.1:80", "198.18.1.2:0", "auto", .invalidPort("0", in: "198.18.1.2:0")),
        ("tcp", "198.18.0.1:80", "198.18.1.2:80", "off", .invalidSNAT("off")),
        // Address classes no rule can use.
        ("tcp", "127.0.0.1:80", "198.18.1.2:80", "auto",
         .unusableAddress(.listen, .v4(IPv4Address(127, 0, 0, 1)), .loopback)),
        ("udp", "224.0.0.251:5353", "198.18.1.2:53", "auto",
         .unusableAddress(.listen, .v4(IPv4Address(224, 0, 0, 251)), .multicast)),
        ("udp", "255.255.255.255:67", "198.18.1.2:67", "auto",
         .unusableAddress(.listen, .v4(IPv4Address(255, 255, 255, 255)), .broadcast)),
        ("tcp", "240.0.0.1:80", "198.18.1.2:80", "auto",
         .unusableAddress(.listen, .v4(IPv4Address(240, 0, 0, 1)), .reserved)),
        ("tcp", "198.18.0.1:80", "127.0.0.1:80", "auto",
         .unusableAddress(.backend, .v4(IPv4Address(127, 0, 0, 1)), .loopback)),
        ("tcp", "198.18.0.1:80", "0.0.0.0:80", "auto",
         .unusableAddress(.backend, .v4(IPv4Address(0)), .unspecified)),
        ("tcp", "198.18.0.1:80", "239.1.1.1:80", "auto",
         .unusableAddress(.backend, .v4(IPv4Address(239, 1, 1, 1)), .multicast)),
        ("tcp", "198.18.0.1:80", "198.18.1.2:80", "0.0.0.0",
         .unusableAddress(.snat, .v4(IPv4Address(0)), .unspecified)),
        ("tcp", "198.18.0.1:80", "198.18.1.2:80", "127.0.0.1",
         .unusableAddress(.snat, .v4(IPv4Address(127, 0, 0, 1)), .loopback)),
        ("tcp", "198.18.0.1:80", "198.18.1.2:80", "255.255.255.255",
         .unusableAddress(.snat, .v4(IPv4Address(255, 255, 255, 255)), .broadcast)),
        // Listen first: the listen address is reported before the backend.
        ("tcp", "127.0.0.1:80", "127.0.0.2:80", "auto",
         .unusableAddress(.listen, .v4(IPv4Address(127, 0, 0, 1)), .loopback)),
        ("tcp", "198.18.0.1:80", "198.18.0.1:80", "auto",
         .listenIsBackend(Endpoint(address: IPv4Address(198, 18, 0, 1), port: 80))),
    ])
    func rejectsInvalidRule(proto: String, listen: String, backend: String, snat: String, error: RuleError) {
        #expect(throws: error) {
            try ForwardingRule.parse(protocol: proto, listen: listen, backend: backend, snat: snat)
        }
    }

    @Test(arguments: [
        (RuleError.unusableAddress(.listen, .v4(IPv4Address(127, 0, 0, 1)), .loopback),
         "listen address 127.0.0.1 is loopback: XDP never sees it"),
        (.unusableAddress(.backend, .v4(IPv4Address(127, 0, 0, 1)), .loopback),
         "backend address 127.0.0.1 is loopback: forwarded packets leave through a network interface and cannot reach it"),
        (.unusableAddress(.listen, .v4(IPv4Address(0)), .unspecified),
         "listen address 0.0.0.0 is unspecified: expected the specific address clients connect to"),
        (.unusableAddress(.snat, .v4(IPv4Address(224, 0, 0, 1)), .multicast),
         "SNAT address 224.0.0.1 is multicast: expected a unicast address"),
        (.unusableAddress(.backend, .v4(IPv4Address(255, 255, 255, 255)), .broadcast),
         "backend address 255.255.255.255 is the broadcast address: expected a unicast address"),
        (.unusableAddress(.listen, .v4(IPv4Address(240, 0, 0, 1)), .reserved),
         "listen address 240.0.0.1 is reserved (240.0.0.0/4): expected a unicast address"),
        (.listenIsBackend(Endpoint(address: IPv4Address(198, 18, 0, 1), port: 80)),
         "listen and backend are both 198.18.0.1:80: a rule cannot forward to itself"),
        (.zeroPort(.backend), "backend port 0 is invalid: ports are 1-65535"),
    ])
    func errorText(error: RuleError, message: String) {
        #expect(error.description == message)
    }

    @Test(arguments: [
        (UInt16(0), UInt16(80), AddressRole.listen),
        (80, 0, .backend),
    ])
    func rejectsZeroPortFromValues(listenPort: UInt16, backendPort: UInt16, role: AddressRole) {
        #expect(throws: RuleError.zeroPort(role)) {
            try ForwardingRule(
                protocol: .udp,
                listen: Endpoint(address: IPv4Address(198, 18, 0, 1), port: listenPort),
                backend: Endpoint(address: IPv4Address(198, 18, 1, 2), port: backendPort))
        }
    }

    @Test func keyIsProtocolAndListen() throws {
        let a = try ForwardingRule.parse(protocol: "tcp", listen: "198.18.0.1:80", backend: "198.18.1.2:80")
        let b = try ForwardingRule.parse(
            protocol: "tcp", listen: "198.18.0.1:80", backend: "198.18.1.3:81", snat: "none")
        let c = try ForwardingRule.parse(protocol: "udp", listen: "198.18.0.1:80", backend: "198.18.1.2:80")
        #expect(a.key == b.key)
        #expect(a.key != c.key)
        #expect(a != b)
        #expect(a.key.description == "tcp 198.18.0.1:80")
        #expect(Set([a.key, b.key, c.key]).count == 2)
    }
}
