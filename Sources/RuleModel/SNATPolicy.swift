/// What source address a forwarded packet leaves with.
public enum SNATPolicy: Hashable, Sendable {
    /// The egress interface's IPv4 address (full NAT).
    case auto
    /// Keep the client's address (DNAT only); the backend must route replies back through us.
    case none
    /// This address.
    case fixed(IPv4Address)

    /// Parses "auto", "none" (any case) or an IPv4 address.
    public init(parsing string: String) throws(RuleError) {
        switch string.lowercased() {
        case "auto": self = .auto
        case "none": self = .none
        default:
            guard let address = IPv4Address(string) else { throw .invalidSNAT(string) }
            self = .fixed(address)
        }
    }
}

extension SNATPolicy: CustomStringConvertible {
    /// "auto", "none" or the address: the same strings `init(parsing:)` reads.
    public var description: String {
        switch self {
        case .auto: "auto"
        case .none: "none"
        case .fixed(let address): address.description
        }
    }
}

extension SNATPolicy: Codable {
    public init(from decoder: any Decoder) throws {
        let string = try decoder.singleValueContainer().decode(String.self)
        self = try decodingRuleValue(decoder) { () throws(RuleError) in try SNATPolicy(parsing: string) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
