/// An IPv4 address, stored in host byte order.
///
/// Parsing is strict: exactly four decimal parts, each 0-255, no leading
/// zeros, no signs or spaces. `networkOrder` is the value as it sits in a
/// `__be32` map field.
public struct IPv4Address: Hashable, Sendable, Comparable {
    /// The address in host byte order: 198.18.0.1 is 0xC612_0001.
    public let value: UInt32

    public init(_ value: UInt32) {
        self.value = value
    }

    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        value = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    /// From a `__be32` read out of a map or a packet.
    public init(networkOrder: UInt32) {
        value = UInt32(bigEndian: networkOrder)
    }

    /// The raw value for a `__be32` field.
    public var networkOrder: UInt32 { value.bigEndian }

    public var octets: [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }

    /// Parses a strict dotted quad such as "198.18.0.1"; nil for anything else.
    public init?(_ string: some StringProtocol) {
        var result: UInt32 = 0
        var parts = 0
        var part: UInt32 = 0
        var digits = 0
        var leadingZero = false
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                // "0" alone is fine; "01" is not (it reads as octal elsewhere).
                if leadingZero { return nil }
                if digits == 0 && byte == UInt8(ascii: "0") { leadingZero = true }
                part = part * 10 + UInt32(byte - UInt8(ascii: "0"))
                digits += 1
                if digits > 3 || part > 255 { return nil }
            case UInt8(ascii: "."):
                if digits == 0 || parts == 3 { return nil }
                result = result << 8 | part
                parts += 1
                (part, digits, leadingZero) = (0, 0, false)
            default:
                return nil
            }
        }
        if digits == 0 || parts != 3 { return nil }
        value = result << 8 | part
    }

    /// Parses like `init?(_:)`, throwing a `RuleError` that names the input.
    public init(parsing string: String) throws(RuleError) {
        guard let address = IPv4Address(string) else {
            throw .invalidAddress(string, in: nil)
        }
        self = address
    }

    public static func < (lhs: IPv4Address, rhs: IPv4Address) -> Bool {
        lhs.value < rhs.value
    }
}

// MARK: - Classification

extension IPv4Address {
    /// 0.0.0.0
    public var isUnspecified: Bool { value == 0 }
    /// 127.0.0.0/8
    public var isLoopback: Bool { value >> 24 == 127 }
    /// 224.0.0.0/4
    public var isMulticast: Bool { value >> 28 == 0xE }
    /// 255.255.255.255
    public var isBroadcast: Bool { value == .max }
    /// 240.0.0.0/4 except the broadcast address.
    public var isReserved: Bool { value >> 28 == 0xF && !isBroadcast }

    /// Why this address cannot be a listen, backend or SNAT address; nil if it can.
    public var unusableKind: UnusableAddressKind? {
        if isUnspecified { return .unspecified }
        if isLoopback { return .loopback }
        if isMulticast { return .multicast }
        if isBroadcast { return .broadcast }
        if isReserved { return .reserved }
        return nil
    }
}

/// The address classes a forwarding rule cannot use.
public enum UnusableAddressKind: String, Hashable, Sendable, CaseIterable {
    case unspecified
    case loopback
    case multicast
    case broadcast
    case reserved
    /// IPv6 fe80::/10.
    case linkLocal
    /// IPv6 ::ffff:0:0/96.
    case ipv4Mapped
}

extension IPv4Address: CustomStringConvertible {
    public var description: String {
        octets.map(String.init).joined(separator: ".")
    }
}

extension IPv4Address: Codable {
    public init(from decoder: any Decoder) throws {
        let string = try decoder.singleValueContainer().decode(String.self)
        self = try decodingRuleValue(decoder) { () throws(RuleError) in try IPv4Address(parsing: string) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
