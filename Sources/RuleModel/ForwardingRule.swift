/// One forwarding rule: packets to `listen` over `protocol` go to `backend`.
///
/// A value of this type is always valid: the initializer checks every
/// address and the endpoints, so code downstream (map writers, the CLI's
/// printers) never re-validates.
public struct ForwardingRule: Hashable, Sendable {
    public let `protocol`: TransportProtocol
    public let listen: Endpoint
    public let backend: Endpoint
    public let snat: SNATPolicy

    /// Validates the whole rule; see `ForwardingRule.validate`.
    public init(
        protocol: TransportProtocol, listen: Endpoint, backend: Endpoint, snat: SNATPolicy = .auto
    ) throws(RuleError) {
        try Self.validate(protocol: `protocol`, listen: listen, backend: backend, snat: snat)
        self.protocol = `protocol`
        self.listen = listen
        self.backend = backend
        self.snat = snat
    }

    /// Parses each field from its command-line or JSON string, then validates.
    public static func parse(
        protocol: String, listen: String, backend: String, snat: String = "auto"
    ) throws(RuleError) -> ForwardingRule {
        try ForwardingRule(
            protocol: TransportProtocol(parsing: `protocol`),
            listen: Endpoint(parsing: listen),
            backend: Endpoint(parsing: backend),
            snat: SNATPolicy(parsing: snat)
        )
    }

    /// The checks every rule passes, in the order they are reported:
    /// ports nonzero; backend and fixed SNAT address of the listen
    /// address's family (no NAT64/NAT46); listen, backend and fixed SNAT
    /// addresses usable unicast (IPv4: not unspecified, loopback, multicast,
    /// broadcast or 240/4; IPv6: not unspecified, loopback, multicast,
    /// link-local or IPv4-mapped); listen differs from backend.
    public static func validate(
        protocol: TransportProtocol, listen: Endpoint, backend: Endpoint, snat: SNATPolicy
    ) throws(RuleError) {
        if listen.port == 0 { throw .zeroPort(.listen) }
        if backend.port == 0 { throw .zeroPort(.backend) }
        if backend.address.family != listen.address.family {
            throw .familyMismatch(.backend, backend.address, listen: listen.address)
        }
        if case .fixed(let address) = snat, address.family != listen.address.family {
            throw .familyMismatch(.snat, address, listen: listen.address)
        }
        try checkUsable(listen.address, as: .listen)
        try checkUsable(backend.address, as: .backend)
        if case .fixed(let address) = snat { try checkUsable(address, as: .snat) }
        if listen == backend { throw .listenIsBackend(listen) }
    }

    /// Throws `.unusableAddress` if `address` cannot play `role` in a rule.
    public static func checkUsable(_ address: IPAddress, as role: AddressRole) throws(RuleError) {
        if let kind = address.unusableKind { throw .unusableAddress(role, address, kind) }
    }

    /// What identifies this rule among others: no two rules share a key.
    public var key: RuleKey { RuleKey(protocol: `protocol`, listen: listen) }
}

extension ForwardingRule: CustomStringConvertible {
    /// "tcp 198.18.0.1:8080 -> 198.18.1.2:8000 snat auto"
    public var description: String {
        "\(`protocol`) \(listen) -> \(backend) snat \(snat)"
    }
}

/// The part of a rule the data plane looks packets up by: protocol and listen endpoint.
public struct RuleKey: Hashable, Sendable, CustomStringConvertible {
    public let `protocol`: TransportProtocol
    public let listen: Endpoint

    public init(protocol: TransportProtocol, listen: Endpoint) {
        self.protocol = `protocol`
        self.listen = listen
    }

    /// "tcp 198.18.0.1:8080"
    public var description: String { "\(`protocol`) \(listen)" }
}

/// Which address of a rule an error is about.
public enum AddressRole: String, Hashable, Sendable, CaseIterable {
    case listen
    case backend
    case snat
}
