import Testing
@testable import RuleModel

@Suite struct IPv4AddressTests {
    @Test(arguments: [
        ("0.0.0.0", UInt32(0)),
        ("198.18.0.1", 0xC612_0001),
        ("255.255.255.255", 0xFFFF_FFFF),
        ("10.0.0.255", 0x0A00_00FF),
        ("1.2.3.4", 0x0102_0304),
    ])
    func parsesDottedQuad(string: String, value: UInt32) throws {
        let address = try #require(IPv4Address(string))
        #expect(address.value == value)
        #expect(address.description == string)
        #expect(IPv4Address(address.description) == address)
    }

    @Test(arguments: [
        "", "1.2.3", "1.2.3.4.5", "1.2.3.256", "256.0.0.1", "01.2.3.4", "1.2.3.04", "1.2.3.00",
        "1..2.3", ".1.2.3", "1.2.3.", "1.2.3.4 ", " 1.2.3.4", "+1.2.3.4", "-1.2.3.4", "1.2.3.-4",
        "0x1.2.3.4", "1.2.3.a", "1234.1.1.1", "1.2.3.4:80", "::1", "１.2.3.4", "1.2.3.4\n",
    ])
    func rejectsMalformed(string: String) {
        #expect(IPv4Address(string) == nil)
        #expect(throws: RuleError.invalidAddress(string, in: nil)) { try IPv4Address(parsing: string) }
    }

    @Test func invalidAddressMessage() {
        #expect(
            RuleError.invalidAddress("198.18.0.256", in: nil).description
                == #"invalid IPv4 address "198.18.0.256": expected four decimal numbers 0-255 without leading zeros, like 198.18.0.1"#
        )
    }

    @Test func networkOrderIsBigEndianInMemory() {
        let address = IPv4Address(198, 18, 0, 1)
        var raw = address.networkOrder
        let bytes = withUnsafeBytes(of: &raw) { Array($0) }
        #expect(bytes == [198, 18, 0, 1])
        #expect(IPv4Address(networkOrder: address.networkOrder) == address)
        #expect(address.octets == [198, 18, 0, 1])
    }

    @Test(arguments: [
        ("0.0.0.0", UnusableAddressKind?.some(.unspecified)),
        ("127.0.0.1", .loopback),
        ("127.255.255.254", .loopback),
        ("224.0.0.1", .multicast),
        ("239.255.255.255", .multicast),
        ("255.255.255.255", .broadcast),
        ("240.0.0.1", .reserved),
        ("255.255.255.254", .reserved),
        ("198.18.0.1", nil),
        ("126.255.255.255", nil),
        ("128.0.0.0", nil),
        ("223.255.255.255", nil),
        ("0.0.0.1", nil),
    ])
    func classifies(string: String, kind: UnusableAddressKind?) throws {
        let address = try #require(IPv4Address(string))
        #expect(address.unusableKind == kind)
        #expect(address.isUnspecified == (kind == .unspecified))
        #expect(address.isLoopback == (kind == .loopback))
        #expect(address.isMulticast == (kind == .multicast))
        #expect(address.isBroadcast == (kind == .broadcast))
        #expect(address.isReserved == (kind == .reserved))
    }
}
