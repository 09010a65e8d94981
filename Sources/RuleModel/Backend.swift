/// One backend of a rule: where new flows may go, and how many of them.
///
/// Written `ADDR:PORT`, `ADDR:FIRST-LAST` (a port range the size of the
/// listen range) and either with `@WEIGHT` appended (`[ADDR]:PORT@WEIGHT`
/// for IPv6). The weight is the backend's share of new flows relative to
/// the rule's other backends; 0 drains it (no new flows, established flows
/// continue); the default is 1.
public struct Backend: Hashable, Sendable {
    /// The backend's first port: the one the listen range's first port maps to.
    public let endpoint: Endpoint
    public let weight: UInt32

    public static let defaultWeight: UInt32 = 1
    /// The largest weight; MaglevTable's limit.
    public static let maximumWeight: UInt32 = MaglevTable.maximumWeight

    public init(_ endpoint: Endpoint, weight: UInt32 = Backend.defaultWeight) {
        self.endpoint = endpoint
        self.weight = weight
    }

    /// A parsed backend argument: the endpoint, the number of ports written
    /// (nil for a single port, which maps a listen range of any size), and
    /// the weight.
    public struct Spec: Hashable, Sendable {
        public let endpoint: Endpoint
        public let portCount: UInt16?
        public let weight: UInt32
    }

    /// Parses "198.18.1.2:8000", "198.18.1.2:8000-8099@3", "[2001:2::2]:80@0".
    public static func parse(_ string: String) throws(RuleError) -> Spec {
        var rest = Substring(string)
        var weight = defaultWeight
        if let at = rest.lastIndex(of: "@") {
            let text = rest[rest.index(after: at)...]
            guard let value = parseWeight(text) else { throw .invalidWeight(String(text), in: string) }
            weight = value
            rest = rest[..<at]
        }
        let (endpoint, count) = try PortRange.parse(String(rest), whole: string)
        return Spec(endpoint: endpoint, portCount: count, weight: weight)
    }

    /// Decimal 0-maximumWeight, digits only, no leading zeros (except "0").
    static func parseWeight(_ text: Substring) -> UInt32? {
        let utf8 = text.utf8
        guard (1...4).contains(utf8.count), utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
              utf8.count == 1 || utf8.first != UInt8(ascii: "0"),
              let value = UInt32(text), value <= maximumWeight
        else { return nil }
        return value
    }
}

extension Backend: CustomStringConvertible {
    /// "198.18.1.2:8000@3"; the weight only when it is not the default.
    public var description: String {
        weight == Self.defaultWeight ? endpoint.description : "\(endpoint)@\(weight)"
    }

    /// "198.18.1.2:20000-20099@3" for a rule of `portCount` ports.
    public func description(portCount: UInt16) -> String {
        let base = PortRange.describe(endpoint, count: portCount)
        return weight == Self.defaultWeight ? base : "\(base)@\(weight)"
    }
}
