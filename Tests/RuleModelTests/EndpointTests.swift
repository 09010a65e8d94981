import Testing
@testable import RuleModel

@Suite struct EndpointTests {
    @Test(arguments: [
        ("198.18.0.1:8080", IPv4Address(198, 18, 0, 1), UInt16(8080)),
        ("198.18.0.1:1", IPv4Address(198, 18, 0, 1), 1),
        ("10.0.0.1:65535", IPv4Address(10, 0, 0, 1), 65535),
        ("0.0.0.0:53", IPv4Address(0), 53),
    ])
    func parses(string: String, address: IPv4Address, port: UInt16) throws {
        let endpoint = try Endpoint(parsing: string)
        #expect(endpoint == Endpoint(address: address, port: port))
        #expect(endpoint.description == string)
        #expect(try Endpoint(parsing: endpoint.description) == endpoint)
    }

    @Test(arguments: [
        ("198.18.0.1", RuleError.missingPort("198.18.0.1")),
        ("", .missingPort("")),
        (":8080", .missingAddress(":8080")),
        ("198.18.0.256:80", .invalidAddress("198.18.0.256", in: "198.18.0.256:80")),
        ("host:80", .invalidAddress("host", in: "host:80")),
        ("198.18.0.1:0", .invalidPort("0", in: "198.18.0.1:0")),
        ("198.18.0.1:65536", .invalidPort("65536", in: "198.18.0.1:65536")),
        ("198.18.0.1:99999", .invalidPort("99999", in: "198.18.0.1:99999")),
        ("198.18.0.1:123456", .invalidPort("123456", in: "198.18.0.1:123456")),
        ("198.18.0.1:", .invalidPort("", in: "198.18.0.1:")),
        ("198.18.0.1:http", .invalidPort("http", in: "198.18.0.1:http")),
        ("198.18.0.1:+80", .invalidPort("+80", in: "198.18.0.1:+80")),
        ("198.18.0.1:-80", .invalidPort("-80", in: "198.18.0.1:-80")),
        ("198.18.0.1: 80", .invalidPort(" 80", in: "198.18.0.1: 80")),
        ("198.18.0.1:80 ", .invalidPort("80 ", in: "198.18.0.1:80 ")),
        ("198.18.0.1:080", .invalidPort("080", in: "198.18.0.1:080")),
        ("198.18.0.1:80:90", .invalidPort("80:90", in: "198.18.0.1:80:90")),
        ("::1", .unbracketedIPv6("::1")),
        ("fe80::1:80", .unbracketedIPv6("fe80::1:80")),
        ("2001:2::1:80", .unbracketedIPv6("2001:2::1:80")),
        ("[2001:2::1]", .missingPort("[2001:2::1]")),
        ("[2001:2::1:80", .invalidEndpoint("[2001:2::1:80")),
        ("[2001:2::1]x:80", .invalidEndpoint("[2001:2::1]x:80")),
        ("[]:80", .missingAddress("[]:80")),
        ("[2001:2::g]:80", .invalidAddress("2001:2::g", in: "[2001:2::g]:80")),
        ("[198.18.0.1]:80", .invalidAddress("198.18.0.1", in: "[198.18.0.1]:80")),
        ("[fe80::1%eth0]:80", .ipv6ZoneID("fe80::1%eth0", in: "[fe80::1%eth0]:80")),
        ("[2001:2::1]:0", .invalidPort("0", in: "[2001:2::1]:0")),
        ("[2001:2::1]:65536", .invalidPort("65536", in: "[2001:2::1]:65536")),
    ])
    func rejects(string: String, error: RuleError) {
        #expect(throws: error) { try Endpoint(parsing: string) }
    }

    @Test(arguments: [
        ("198.18.0.1:0", #"invalid port "0" in "198.18.0.1:0": ports are 1-65535"#),
        ("198.18.0.1:65536", #"invalid port "65536" in "198.18.0.1:65536": ports are 1-65535"#),
        ("198.18.0.1:080", #"invalid port "080" in "198.18.0.1:080": ports are 1-65535, without leading zeros"#),
        ("198.18.0.1:http", #"invalid port "http" in "198.18.0.1:http": expected a decimal number 1-65535"#),
        ("198.18.0.1:", #"invalid port "" in "198.18.0.1:": expected a decimal number 1-65535"#),
        ("198.18.0.1", #"missing port in "198.18.0.1": expected ADDRESS:PORT, like 198.18.0.1:8080"#),
        (":80", #"missing address in ":80": expected ADDRESS:PORT, like 198.18.0.1:8080"#),
        ("1.2.3.999:80",
         #"invalid IPv4 address "1.2.3.999" in "1.2.3.999:80": expected four decimal numbers 0-255 without leading zeros, like 198.18.0.1"#),
        ("2001:2::1:80", #"IPv6 endpoint "2001:2::1:80" needs brackets: expected [ADDRESS]:PORT, like [2001:2::1]:8080"#),
        ("1.2.3.4:\"\n", #"invalid port "\"\u{a}" in "1.2.3.4:\"\u{a}": expected a decimal number 1-65535"#),
    ])
    func errorText(string: String, message: String) {
        #expect(throws: RuleError.self) { try Endpoint(parsing: string) }
        do {
            _ = try Endpoint(parsing: string)
        } catch {
            #expect(error.description == message)
            #expect(!error.description.contains("\n"))
        }
    }

    @Test func networkOrderPort() {
        var raw = Endpoint(address: IPv4Address(1, 2, 3, 4), port: 0x1F90).networkOrderPort
        #expect(withUnsafeBytes(of: &raw) { Array($0) } == [0x1F, 0x90])
    }
}
