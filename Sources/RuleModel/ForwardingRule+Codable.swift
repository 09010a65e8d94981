/// JSON form, stable for config files and `-j` output:
/// `{"protocol":"tcp","listen":"198.18.0.1:8080","backend":"198.18.1.2:8000","snat":"auto"}`.
/// A port range is written in "listen" and "backend" ("198.18.0.1:10000-10099").
/// Several backends, or a weight other than 1, add "backends": every
/// backend as `ADDR:PORT[-LAST][@WEIGHT]`, "backend" still naming the first.
/// On input "backends", when present, wins over "backend". "snat" may be
/// omitted on input (auto) but not null. Decoding validates like the
/// initializer: a config file is hostile input.
extension ForwardingRule: Codable {
    enum CodingKeys: String, CodingKey {
        case `protocol`, listen, backend, backends, snat
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let proto = try container.decode(TransportProtocol.self, forKey: .protocol)
        let listen = try container.decode(String.self, forKey: .listen)
        let backends = container.contains(.backends)
            ? try container.decode([String].self, forKey: .backends)
            : [try container.decode(String.self, forKey: .backend)]
        // Absent means auto; null is a mistake, not a default.
        let snat = container.contains(.snat) ? try container.decode(SNATPolicy.self, forKey: .snat) : .auto
        self = try decodingRuleValue(decoder) { () throws(RuleError) in
            let parsed = try ForwardingRule.parse(protocol: proto.rawValue, listen: listen, backends: backends)
            return try ForwardingRule(protocol: proto, listen: parsed.listen, portCount: parsed.portCount,
                                      backends: parsed.backends, snat: snat)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(`protocol`, forKey: .protocol)
        try container.encode(listenDescription, forKey: .listen)
        try container.encode(PortRange.describe(backend, count: portCount), forKey: .backend)
        if isBalanced || backends[0].weight != Backend.defaultWeight {
            try container.encode(backends.map { $0.description(portCount: portCount) }, forKey: .backends)
        }
        try container.encode(snat, forKey: .snat)
    }
}

/// Runs a rule parser inside `init(from:)`, turning its `RuleError` into a
/// `DecodingError.dataCorrupted` at the decoder's coding path. The
/// RuleError's one-line text is the debug description and the RuleError
/// itself the underlying error, so callers can match on it.
func decodingRuleValue<T>(_ decoder: any Decoder, _ body: () throws(RuleError) -> T) throws -> T {
    do {
        return try body()
    } catch {
        throw DecodingError.dataCorrupted(
            DecodingError.Context(
                codingPath: decoder.codingPath, debugDescription: error.description, underlyingError: error))
    }
}
