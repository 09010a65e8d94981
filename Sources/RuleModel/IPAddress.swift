/// An IPv4 or IPv6 address. A rule's addresses all share one family.
public enum IPAddress: Hashable, Sendable, Comparable {
    case v4(IPv4Address)
    case v6(IPv6Address)

    public enum Family: String, Hashable, Sendable {
        case ipv4 = "IPv4"
        case ipv6 = "IPv6"
    }

    public var family: Family {
        switch self {
        case .v4: .ipv4
        case .v6: .ipv6
        }
    }

    /// A strict dotted quad or RFC 4291 IPv6 text (no brackets, no zone).
    public init?(_ string: some StringProtocol) {
        if let v4 = IPv4Address(string) {
            self = .v4(v4)
        } else if let v6 = IPv6Address(string) {
            self = .v6(v6)
        } else {
            return nil
        }
    }

    /// Why this address cannot be a listen, backend or SNAT address; nil if it can.
    public var unusableKind: UnusableAddressKind? {
        switch self {
        case .v4(let address): address.unusableKind
        case .v6(let address): address.unusableKind
        }
    }

    /// IPv4 sorts before IPv6.
    public static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        switch (lhs, rhs) {
        case (.v4(let a), .v4(let b)): a < b
        case (.v6(let a), .v6(let b)): a < b
        case (.v4, .v6): true
        case (.v6, .v4): false
        }
    }
}

extension IPAddress: CustomStringConvertible {
    /// The bare address (IPv6 without brackets).
    public var description: String {
        switch self {
        case .v4(let address): address.description
        case .v6(let address): address.description
        }
    }
}
