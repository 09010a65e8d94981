import Foundation
import Testing
@testable import RuleModel

/// Port ranges, wildcard listen addresses, several weighted backends: parsing,
/// validation and the exact one-line errors the CLI prints.
@Suite struct RangeAndBackendTests {
    @Test func rangeOntoRangeStart() throws {
        let rule = try ForwardingRule.parse(protocol: "tcp", listen: "198.18.0.1:10000-10099", backends: ["198.18.1.2:20000"])
        #expect(rule.listen == Endpoint(address: IPv4Address(198, 18, 0, 1), port: 10000))
        #expect(rule.portCount == 100)
        #expect(rule.backend.port == 20000)
        #expect(rule.key.ports == 10000...10099)
        #expect(rule.backendPort(rule.backends[0], forListenPort: 10000) == 20000)
        #expect(rule.backendPort(rule.backends[0], forListenPort: 10099) == 20099)
        #expect(rule.backendPort(rule.backends[0], forListenPort: 10100) == nil)
        #expect(rule.backendPort(rule.backends[0], forListenPort: 9999) == nil)
        #expect(rule.description == "tcp 198.18.0.1:10000-10099 -> 198.18.1.2:20000-20099 snat auto")
    }

    @Test func rangeWrittenOnBothSidesEqualsStartOnly() throws {
        let a = try ForwardingRule.parse(protocol: "udp", listen: "198.18.0.1:10000-10099", backends: ["198.18.1.2:20000-20099"])
        let b = try ForwardingRule.parse(protocol: "udp", listen: "198.18.0.1:10000-10099", backends: ["198.18.1.2:20000"])
        #expect(a == b)
        // A one-port range is a single port.
        let one = try ForwardingRule.parse(protocol: "udp", listen: "198.18.0.1:53-53", backends: ["198.18.1.2:5353"])
        #expect(one.portCount == 1 && one.listenDescription == "198.18.0.1:53")
    }

    @Test func weightedBackends() throws {
        let rule = try ForwardingRule.parse(
            protocol: "tcp", listen: "198.18.0.1:80",
            backends: ["198.18.1.2:8000", "198.18.1.3:8000@3", "198.18.1.4:8000@0"])
        #expect(rule.backends.map(\.weight) == [1, 3, 0])
        #expect(rule.isBalanced)
        #expect(rule.backend == rule.backends[0].endpoint)
        #expect(rule.description == "tcp 198.18.0.1:80 -> 198.18.1.2:8000, 198.18.1.3:8000@3, 198.18.1.4:8000@0 snat auto")
        // The table gives the drained backend nothing and the others 1:3.
        let table = rule.maglevTable()
        let counts = (0..<3).map { i in table.slots.filter { Int($0) == i }.count }
        #expect(counts[2] == 0)
        #expect(abs(Double(counts[1]) / Double(counts[0]) - 3) < 0.1)
    }

    @Test func wildcardListen() throws {
        let rule = try ForwardingRule.parse(protocol: "tcp", listen: "0.0.0.0:8080", backends: ["198.18.1.2:8000"])
        #expect(rule.isWildcard)
        #expect(!(try ForwardingRule.parse(protocol: "tcp", listen: "198.18.0.1:8080", backend: "198.18.1.2:8000")).isWildcard)
    }

    @Test func deleteKeyParsesRanges() throws {
        let key = try RuleKey.parse(protocol: "tcp", listen: "198.18.0.1:10000-10099")
        #expect(key.portCount == 100 && key.description == "tcp 198.18.0.1:10000-10099")
        let a = RuleKey(protocol: .tcp, listen: Endpoint(address: IPv4Address(198, 18, 0, 1), port: 10099))
        let b = RuleKey(protocol: .tcp, listen: Endpoint(address: IPv4Address(198, 18, 0, 1), port: 10100))
        let c = RuleKey(protocol: .udp, listen: Endpoint(address: IPv4Address(198, 18, 0, 1), port: 10050))
        #expect(key.overlaps(a) && !key.overlaps(b) && !key.overlaps(c))
    }

    @Test(arguments: [
        (["198.18.0.1:10099-10000", "198.18.1.2:80"],
         #"invalid port range "10099-10000" in "198.18.0.1:10099-10000": expected FIRST-LAST with FIRST <= LAST, like 10000-10099"#),
        (["198.18.0.1:10000-10099", "198.18.1.2:20000-20049"],
         #"backend "198.18.1.2:20000-20049" has 50 ports but the listen range has 100: give the first port alone or a range of the same size"#),
        (["198.18.0.1:10000-10099", "198.18.1.2:65500"],
         "backend 198.18.1.2:65500 cannot take 100 ports: 65500-65599 goes past 65535"),
        (["198.18.0.1:10000-x", "198.18.1.2:80"],
         #"invalid port "x" in "198.18.0.1:10000-x": expected a decimal number 1-65535"#),
        (["198.18.0.1:80", "198.18.1.2:80@x"],
         #"invalid weight "x" in "198.18.1.2:80@x": expected a whole number 0-1000 (0 drains the backend)"#),
        (["198.18.0.1:80", "198.18.1.2:80@1001"],
         #"invalid weight "1001" in "198.18.1.2:80@1001": expected a whole number 0-1000 (0 drains the backend)"#),
        (["198.18.0.1:80", "198.18.1.2:80@0"],
         "every backend has weight 0: at least one must take new flows"),
        (["198.18.0.1:80", "198.18.1.2:80", "198.18.1.2:80@2"],
         "backend 198.18.1.2:80 is listed twice"),
        (["198.18.0.1:80@2", "198.18.1.2:80"],
         #"a weight belongs on a backend, not on the listen endpoint "198.18.0.1:80@2""#),
        (["198.18.0.1:80"], "no backend: expected at least one ADDRESS:PORT"),
        (["0.0.0.0:80", "0.0.0.0:80"],
         "backend address 0.0.0.0 is unspecified: expected a unicast address"),
    ])
    func rejects(arguments: [String], message: String) {
        #expect {
            try ForwardingRule.parse(protocol: "tcp", listen: arguments[0], backends: Array(arguments.dropFirst()))
        } throws: { error in
            (error as? RuleError)?.description == message
        }
    }

    @Test func tooManyBackends() {
        let backends = (0..<257).map { "198.18.1.2:\(1000 + $0)" }
        #expect(throws: RuleError.tooManyBackends(257, max: 256)) {
            try ForwardingRule.parse(protocol: "tcp", listen: "198.18.0.1:80", backends: backends)
        }
    }

    @Test func jsonCarriesRangeAndBackends() throws {
        let rule = try ForwardingRule.parse(
            protocol: "tcp", listen: "198.18.0.1:10000-10001", backends: ["198.18.1.2:20000", "198.18.1.3:30000@2"])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(rule), as: UTF8.self)
        #expect(json == #"{"backend":"198.18.1.2:20000-20001","backends":["198.18.1.2:20000-20001","198.18.1.3:30000-30001@2"],"listen":"198.18.0.1:10000-10001","protocol":"tcp","snat":"auto"}"#)
        #expect(try JSONDecoder().decode(ForwardingRule.self, from: Data(json.utf8)) == rule)
    }

    @Test func flowHashIsMurmur3() {
        // MurmurHash3_x86_32 reference vectors (4-byte inputs, little-endian words).
        #expect(FlowHash.murmur3([0], seed: 0) == 0x2362_F9DE)
        #expect(FlowHash.murmur3([0x6161_6161], seed: 0x9747_B28C) == 0x5A97_808A)
        #expect(FlowHash.murmur3([], seed: 1) == 0x514E_28B7)
        // The tuple order matters: a reply tuple hashes elsewhere.
        let forward = FlowHash.ipv4(saddr: 0xC612_0002, daddr: 0xC612_0001, sport: 40000, dport: 80, protocol: 6)
        let reverse = FlowHash.ipv4(saddr: 0xC612_0001, daddr: 0xC612_0002, sport: 80, dport: 40000, protocol: 6)
        #expect(forward != reverse)
    }
}

@Suite struct RangeAndBackendIPv6Tests {
    @Test func ipv6RangeWildcardAndWeights() throws {
        let rule = try ForwardingRule.parse(
            protocol: "udp", listen: "[::]:10000-10009", backends: ["[2001:2:0:1::2]:20000-20009@2", "[2001:2:0:1::3]:30000"])
        #expect(rule.isWildcard && rule.isBalanced && rule.portCount == 10)
        #expect(rule.description == "udp [::]:10000-10009 -> [2001:2:0:1::2]:20000-20009@2, [2001:2:0:1::3]:30000-30009 snat auto")
        #expect(try RuleKey.parse(protocol: "udp", listen: "[::]:10000-10009") == rule.key)
    }

    @Test func familiesDoNotMix() {
        #expect {
            try ForwardingRule.parse(protocol: "tcp", listen: "198.18.0.1:80", backends: ["198.18.1.2:80", "[2001:2:0:1::2]:80"])
        } throws: { error in
            if case .familyMismatch = error as? RuleError { return true }
            return false
        }
    }
}
