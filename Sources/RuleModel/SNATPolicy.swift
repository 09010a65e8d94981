/// What source address a forwarded packet leaves with.
public enum SNATPolicy: Hashable, Sendable {
    /// The egress interface's address of the rule's family (full NAT).
    case auto
    /// Keep the client's address (DNAT only); the backend must route replies back through us.
    case none
    /// This address.
    case fixed(IPAddress)

    /// Parses "auto", "none" (any case) or an address (IPv6 without brackets).
    public init(parsing string: String) throws(RuleError) {
        switch string.lowercased() {
        case "auto": self = .auto
        case "none": self = .none
        default:
            if string.contains("%") { throw .ipv6ZoneID(string, in: nil) }
            guard let address = IPAddress(string) else { throw .invalidSNAT(string) }
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
