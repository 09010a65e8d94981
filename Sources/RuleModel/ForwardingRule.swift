/// One forwarding rule: packets to `listen` (a port or a range of ports)
/// over `protocol` go to one of `backends`.
///
/// A value of this type is always valid: the initializer checks every
/// address, port range and weight, so code downstream (map writers, the
/// CLI's printers) never re-validates.
public struct ForwardingRule: Hashable, Sendable {
    public let `protocol`: TransportProtocol
    /// The first listen port. An unspecified address (0.0.0.0) is the
    /// wildcard: any local address of the attached interfaces.
    public let listen: Endpoint
    /// Listen ports `listen.port ..< listen.port + portCount`; 1 for one port.
    public let portCount: UInt16
    /// At least one; each endpoint names the backend's first port.
    public let backends: [Backend]
    public let snat: SNATPolicy

    /// The most backends one rule takes.
    public static let maximumBackends = 256

    /// Validates the whole rule; see `ForwardingRule.validate`.
    public init(
        protocol: TransportProtocol, listen: Endpoint, portCount: UInt16 = 1, backends: [Backend],
        snat: SNATPolicy = .auto
    ) throws(RuleError) {
        try Self.validate(protocol: `protocol`, listen: listen, portCount: portCount, backends: backends, snat: snat)
        self.protocol = `protocol`
        self.listen = listen
        self.portCount = portCount
        self.backends = backends
        self.snat = snat
    }

    /// A one-port, one-backend rule.
    public init(
        protocol: TransportProtocol, listen: Endpoint, backend: Endpoint, snat: SNATPolicy = .auto
    ) throws(RuleError) {
        try self.init(protocol: `protocol`, listen: listen, backends: [Backend(backend)], snat: snat)
    }

    /// The first backend (the only one of a single-backend rule).
    public var backend: Endpoint { backends[0].endpoint }
    /// More than one backend: new flows pick one through a Maglev table.
    public var isBalanced: Bool { backends.count > 1 }
    /// The listen address is the wildcard (any local address).
    public var isWildcard: Bool { listen.address.unusableKind == .unspecified }
    /// "198.18.0.1:10000-10099" (or "198.18.0.1:80").
    public var listenDescription: String { PortRange.describe(listen, count: portCount) }

    /// Parses each field from its command-line or JSON string, then validates.
    public static func parse(
        protocol: String, listen: String, backend: String, snat: String = "auto"
    ) throws(RuleError) -> ForwardingRule {
        try parse(protocol: `protocol`, listen: listen, backends: [backend], snat: snat)
    }

    /// Parses `PROTO LISTEN BACKEND...`: LISTEN is ADDR:PORT or
    /// ADDR:FIRST-LAST; each BACKEND is ADDR:PORT or ADDR:FIRST-LAST (the
    /// size of the listen range), optionally with @WEIGHT.
    public static func parse(
        protocol: String, listen: String, backends: [String], snat: String = "auto"
    ) throws(RuleError) -> ForwardingRule {
        let proto = try TransportProtocol(parsing: `protocol`)
        if listen.contains("@") { throw .weightOnListen(listen) }
        let (first, count) = try PortRange.parse(listen)
        let portCount = count ?? 1
        guard !backends.isEmpty else { throw .noBackend }
        var parsed: [Backend] = []
        for text in backends {
            let spec = try Backend.parse(text)
            if let written = spec.portCount, written != portCount {
                throw .rangeSizeMismatch(backend: text, ports: written, listenPorts: portCount)
            }
            parsed.append(Backend(spec.endpoint, weight: spec.weight))
        }
        return try ForwardingRule(
            protocol: proto, listen: first, portCount: portCount, backends: parsed, snat: SNATPolicy(parsing: snat))
    }

    /// The checks every rule passes, in the order they are reported:
    /// ports nonzero; listen range within 1-65535; 1-256 backends, each
    /// range within 1-65535, weights 0-1000, none listed twice, at least
    /// one with a weight above 0; backends and fixed SNAT address of the
    /// listen address's family (no NAT64/NAT46); listen (unless the
    /// wildcard), backend and fixed SNAT addresses usable unicast (IPv4:
    /// not unspecified, loopback, multicast, broadcast or 240/4; IPv6: not
    /// unspecified, loopback, multicast, link-local or IPv4-mapped); listen
    /// differs from every backend.
    public static func validate(
        protocol: TransportProtocol, listen: Endpoint, portCount: UInt16 = 1, backends: [Backend], snat: SNATPolicy
    ) throws(RuleError) {
        if listen.port == 0 { throw .zeroPort(.listen) }
        if portCount == 0 || UInt32(listen.port) + UInt32(portCount) - 1 > 65535 {
            throw .portRangeOverflow(.listen, listen, ports: portCount)
        }
        guard !backends.isEmpty else { throw .noBackend }
        guard backends.count <= maximumBackends else { throw .tooManyBackends(backends.count, max: maximumBackends) }
        var seen = Set<Endpoint>()
        for backend in backends {
            if backend.endpoint.port == 0 { throw .zeroPort(.backend) }
            if backend.endpoint.address.family != listen.address.family {
                throw .familyMismatch(.backend, backend.endpoint.address, listen: listen.address)
            }
            if UInt32(backend.endpoint.port) + UInt32(portCount) - 1 > 65535 {
                throw .portRangeOverflow(.backend, backend.endpoint, ports: portCount)
            }
            if backend.weight > Backend.maximumWeight { throw .weightTooLarge(backend.weight, backend.endpoint) }
            guard seen.insert(backend.endpoint).inserted else { throw .duplicateBackend(backend.endpoint) }
        }
        if backends.allSatisfy({ $0.weight == 0 }) { throw .allBackendsDrained }
        if case .fixed(let address) = snat, address.family != listen.address.family {
            throw .familyMismatch(.snat, address, listen: listen.address)
        }
        if listen.address.unusableKind != .unspecified { try checkUsable(listen.address, as: .listen) }
        for backend in backends { try checkUsable(backend.endpoint.address, as: .backend) }
        if case .fixed(let address) = snat { try checkUsable(address, as: .snat) }
        if let loop = backends.first(where: { $0.endpoint == listen }) { throw .listenIsBackend(loop.endpoint) }
    }

    /// Throws `.unusableAddress` if `address` cannot play `role` in a rule.
    public static func checkUsable(_ address: IPAddress, as role: AddressRole) throws(RuleError) {
        if let kind = address.unusableKind { throw .unusableAddress(role, address, kind) }
    }

    /// What identifies this rule among others: no two rules share a key.
    public var key: RuleKey { RuleKey(protocol: `protocol`, listen: listen, portCount: portCount) }

    /// The port a listen port maps to on a backend: the same offset into
    /// the backend's range. nil when `port` is outside the listen range.
    public func backendPort(_ backend: Backend, forListenPort port: UInt16) -> UInt16? {
        guard port >= listen.port, UInt32(port) < UInt32(listen.port) + UInt32(portCount) else { return nil }
        return backend.endpoint.port + (port - listen.port)
    }
}

extension ForwardingRule: CustomStringConvertible {
    /// "tcp 198.18.0.1:8080 -> 198.18.1.2:8000 snat auto"; a range and
    /// several weighted backends read "tcp 198.18.0.1:80-81 -> 198.18.1.2:80-81@2, 198.18.1.3:80-81 snat auto".
    public var description: String {
        let targets = backends.map { $0.description(portCount: portCount) }.joined(separator: ", ")
        return "\(`protocol`) \(listenDescription) -> \(targets) snat \(snat)"
    }
}

/// What a rule is named by: protocol and listen endpoint (first port) with
/// its port count. The data plane looks packets up by protocol, address and
/// each port of the range.
public struct RuleKey: Hashable, Sendable, CustomStringConvertible {
    public let `protocol`: TransportProtocol
    public let listen: Endpoint
    public let portCount: UInt16

    public init(protocol: TransportProtocol, listen: Endpoint, portCount: UInt16 = 1) {
        self.protocol = `protocol`
        self.listen = listen
        self.portCount = portCount
    }

    /// Parses `PROTO LISTEN` as `rule del` takes it (LISTEN may be a range).
    public static func parse(protocol: String, listen: String) throws(RuleError) -> RuleKey {
        let proto = try TransportProtocol(parsing: `protocol`)
        let (first, count) = try PortRange.parse(listen)
        return RuleKey(protocol: proto, listen: first, portCount: count ?? 1)
    }

    /// The listen ports, in order.
    public var ports: ClosedRange<UInt16> { listen.port...UInt16(UInt32(listen.port) + UInt32(portCount) - 1) }

    /// Whether two keys share a (protocol, address, port).
    public func overlaps(_ other: RuleKey) -> Bool {
        `protocol` == other.protocol && listen.address == other.listen.address && ports.overlaps(other.ports)
    }

    /// "tcp 198.18.0.1:8080" or "tcp 198.18.0.1:10000-10099"
    public var description: String { "\(`protocol`) \(PortRange.describe(listen, count: portCount))" }
}

/// Which address of a rule an error is about.
public enum AddressRole: String, Hashable, Sendable, CaseIterable {
    case listen
    case backend
    case snat
}
