/// An address and a port, written "198.18.0.1:8080" or "[2001:2::1]:8080".
public struct Endpoint: Hashable, Sendable {
    public let address: IPAddress
    /// Host byte order. A rule rejects 0; parsing never produces it.
    public let port: UInt16

    public init(address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    public init(address: IPv4Address, port: UInt16) {
        self.init(address: .v4(address), port: port)
    }

    public init(address: IPv6Address, port: UInt16) {
        self.init(address: .v6(address), port: port)
    }

    /// The port as it sits in a `__be16` map field.
    public var networkOrderPort: UInt16 { port.bigEndian }

    /// Parses "198.18.0.1:8080" or "[2001:2::1]:8080". IPv6 needs the
    /// brackets: without them the port would be ambiguous.
    public init(parsing string: String) throws(RuleError) {
        if string.hasPrefix("[") {
            guard let close = string.firstIndex(of: "]") else { throw .invalidEndpoint(string) }
            let addressPart = String(string[string.index(after: string.startIndex)..<close])
            let rest = string[string.index(after: close)...]
            guard rest.hasPrefix(":") else {
                throw rest.isEmpty ? .missingPort(string) : .invalidEndpoint(string)
            }
            if addressPart.isEmpty { throw .missingAddress(string) }
            if addressPart.contains("%") { throw .ipv6ZoneID(addressPart, in: string) }
            guard let address = IPv6Address(addressPart) else { throw .invalidAddress(addressPart, in: string) }
            let portPart = rest.dropFirst()
            guard let port = Endpoint.parsePort(portPart) else { throw .invalidPort(String(portPart), in: string) }
            self.init(address: address, port: port)
            return
        }
        guard let colon = string.firstIndex(of: ":") else {
            throw .missingPort(string)
        }
        let addressPart = string[..<colon]
        let portPart = string[string.index(after: colon)...]
        // Unbracketed IPv6 ("::1", "2001:2::1:80") has a colon in what would be the port.
        if !addressPart.contains(".") && portPart.contains(":") {
            throw .unbracketedIPv6(string)
        }
        if addressPart.isEmpty { throw .missingAddress(string) }
        guard let address = IPv4Address(addressPart) else {
            throw .invalidAddress(String(addressPart), in: string)
        }
        guard let port = Endpoint.parsePort(portPart) else {
            throw .invalidPort(String(portPart), in: string)
        }
        self.init(address: address, port: port)
    }

    /// Decimal 1-65535, digits only, no leading zeros.
    static func parsePort(_ string: Substring) -> UInt16? {
        let utf8 = string.utf8
        guard (1...5).contains(utf8.count), utf8.first != UInt8(ascii: "0") else { return nil }
        var value: UInt32 = 0
        for byte in utf8 {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            value = value * 10 + UInt32(byte - UInt8(ascii: "0"))
        }
        return value <= UInt32(UInt16.max) ? UInt16(value) : nil
    }
}

extension Endpoint: CustomStringConvertible {
    /// "198.18.0.1:8080" or "[2001:2::1]:8080", the address in canonical form.
    public var description: String {
        switch address {
        case .v4(let v4): "\(v4):\(port)"
        case .v6(let v6): "[\(v6)]:\(port)"
        }
    }
}

extension Endpoint: Codable {
    public init(from decoder: any Decoder) throws {
        let string = try decoder.singleValueContainer().decode(String.self)
        self = try decodingRuleValue(decoder) { () throws(RuleError) in try Endpoint(parsing: string) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
