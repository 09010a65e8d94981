/// The L4 protocols xdpfwd forwards.
public enum TransportProtocol: String, Hashable, Sendable, CaseIterable {
    case tcp
    case udp

    /// The IPv4 header's protocol field: IPPROTO_TCP or IPPROTO_UDP.
    public var ipProtocolNumber: UInt8 {
        switch self {
        case .tcp: 6
        case .udp: 17
        }
    }

    public init?(ipProtocolNumber: UInt8) {
        switch ipProtocolNumber {
        case 6: self = .tcp
        case 17: self = .udp
        default: return nil
        }
    }

    /// Parses "tcp" or "udp", in any case.
    public init(parsing string: String) throws(RuleError) {
        guard let value = TransportProtocol(rawValue: string.lowercased()) else {
            throw .unknownProtocol(string)
        }
        self = value
    }
}

extension TransportProtocol: CustomStringConvertible {
    public var description: String { rawValue }
}

extension TransportProtocol: Codable {
    public init(from decoder: any Decoder) throws {
        let string = try decoder.singleValueContainer().decode(String.self)
        self = try decodingRuleValue(decoder) { () throws(RuleError) in try TransportProtocol(parsing: string) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
