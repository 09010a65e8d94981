/// Everything that can be wrong with a rule or one of its fields.
///
/// Each description is one line that names the offending input and says
/// what was expected, fit for a CLI's "error: ..." line.
public enum RuleError: Error, Hashable, Sendable {
    /// Not a strict dotted quad or RFC 4291 IPv6 text; `in:` is the whole
    /// "ADDR:PORT" when the address came from one.
    case invalidAddress(String, in: String?)
    /// An IPv6 address with a zone id ("fe80::1%eth0"): zones are link-local only.
    case ipv6ZoneID(String, in: String?)
    /// Not a decimal 1-65535, in the given "ADDR:PORT".
    case invalidPort(String, in: String)
    /// "ADDR:PORT" without the colon.
    case missingPort(String)
    /// "ADDR:PORT" with nothing before the colon.
    case missingAddress(String)
    /// An IPv6 endpoint without brackets ("2001:2::1:80").
    case unbracketedIPv6(String)
    /// "[ADDR" without "]", or junk between "]" and ":PORT".
    case invalidEndpoint(String)
    /// A backend or SNAT address of another family than the listen address.
    case familyMismatch(AddressRole, IPAddress, listen: IPAddress)
    case unknownProtocol(String)
    /// Not "auto", "none" or an IPv4 address.
    case invalidSNAT(String)
    /// A rule built from values (not parsed) with port 0.
    case zeroPort(AddressRole)
    case unusableAddress(AddressRole, IPAddress, UnusableAddressKind)
    /// Listen and backend are the same endpoint.
    case listenIsBackend(Endpoint)
    /// "FIRST-LAST" with LAST < FIRST, in the given endpoint.
    case invalidPortRange(String, in: String)
    /// A range that runs past port 65535 (a backend's range is the listen range's size).
    case portRangeOverflow(AddressRole, Endpoint, ports: UInt16)
    /// A backend range whose size differs from the listen range's.
    case rangeSizeMismatch(backend: String, ports: UInt16, listenPorts: UInt16)
    /// Not a decimal 0-1000 after "@".
    case invalidWeight(String, in: String)
    /// A weight above 1000 in a rule built from values.
    case weightTooLarge(UInt32, Endpoint)
    /// "@WEIGHT" on the listen endpoint.
    case weightOnListen(String)
    case noBackend
    case tooManyBackends(Int, max: Int)
    case duplicateBackend(Endpoint)
    /// Every backend has weight 0: nothing could take a new flow.
    case allBackendsDrained
}

extension RuleError: CustomStringConvertible {
    public var description: String {
        switch self {
        case .invalidAddress(let string, let endpoint?) where endpoint.hasPrefix("["):
            "invalid IPv6 address \(quoted(string)) in \(quoted(endpoint)): \(Self.expectedIPv6)"
        case .invalidAddress(let string, let endpoint?):
            "invalid IPv4 address \(quoted(string)) in \(quoted(endpoint)): \(Self.expectedAddress)"
        case .invalidAddress(let string, nil) where string.contains(":"):
            "invalid IPv6 address \(quoted(string)): \(Self.expectedIPv6)"
        case .invalidAddress(let string, nil):
            "invalid IPv4 address \(quoted(string)): \(Self.expectedAddress)"
        case .ipv6ZoneID(let string, let endpoint):
            "IPv6 address \(quoted(string))\(endpoint.map { " in \(quoted($0))" } ?? "") has a zone id: zones name link-local scopes, which are never forwarded; use a global address"
        case .invalidPort(let port, let endpoint):
            "invalid port \(quoted(port)) in \(quoted(endpoint)): \(Self.expectedPort(port))"
        case .missingPort(let string):
            "missing port in \(quoted(string)): expected ADDRESS:PORT, like 198.18.0.1:8080"
        case .missingAddress(let string):
            "missing address in \(quoted(string)): expected ADDRESS:PORT, like 198.18.0.1:8080"
        case .unbracketedIPv6(let string):
            "IPv6 endpoint \(quoted(string)) needs brackets: expected [ADDRESS]:PORT, like [2001:2::1]:8080"
        case .invalidEndpoint(let string):
            "invalid endpoint \(quoted(string)): expected [ADDRESS]:PORT, like [2001:2::1]:8080"
        case .familyMismatch(let role, let address, let listen):
            "\(role.label) address \(address) is \(address.family.rawValue) but the listen address \(listen) is \(listen.family.rawValue): a rule forwards within one family (NAT64 is not supported)"
        case .unknownProtocol(let string):
            "unknown protocol \(quoted(string)): expected tcp or udp"
        case .invalidSNAT(let string):
            "invalid SNAT \(quoted(string)): expected auto, none or an address (IPv6 without brackets)"
        case .zeroPort(let role):
            "\(role.label) port 0 is invalid: ports are 1-65535"
        case .unusableAddress(let role, let address, let kind):
            "\(role.label) address \(address) is \(kind.phrase): \(kind.reason(for: role))"
        case .listenIsBackend(let endpoint):
            "listen and backend are both \(endpoint): a rule cannot forward to itself"
        case .invalidPortRange(let range, let endpoint):
            "invalid port range \(quoted(range)) in \(quoted(endpoint)): expected FIRST-LAST with FIRST <= LAST, like 10000-10099"
        case .portRangeOverflow(let role, let endpoint, let ports):
            "\(role.label) \(endpoint) cannot take \(ports) ports: \(endpoint.port)-\(UInt32(endpoint.port) + UInt32(ports) - 1) goes past 65535"
        case .rangeSizeMismatch(let backend, let ports, let listenPorts):
            "backend \(quoted(backend)) has \(ports) ports but the listen range has \(listenPorts): give the first port alone or a range of the same size"
        case .invalidWeight(let weight, let backend):
            "invalid weight \(quoted(weight)) in \(quoted(backend)): expected a whole number 0-\(Backend.maximumWeight) (0 drains the backend)"
        case .weightTooLarge(let weight, let endpoint):
            "backend \(endpoint) has weight \(weight): weights are 0-\(Backend.maximumWeight)"
        case .weightOnListen(let string):
            "a weight belongs on a backend, not on the listen endpoint \(quoted(string))"
        case .noBackend:
            "no backend: expected at least one ADDRESS:PORT"
        case .tooManyBackends(let count, let max):
            "\(count) backends: a rule takes at most \(max)"
        case .duplicateBackend(let endpoint):
            "backend \(endpoint) is listed twice"
        case .allBackendsDrained:
            "every backend has weight 0: at least one must take new flows"
        }
    }

    static let expectedAddress = "expected four decimal numbers 0-255 without leading zeros, like 198.18.0.1"
    static let expectedIPv6 = "expected IPv6 text like 2001:2::1 (hex groups of 1-4 digits, at most one ::)"

    static func expectedPort(_ port: String) -> String {
        if !port.isEmpty && port.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) {
            return port.count > 1 && port.hasPrefix("0")
                ? "ports are 1-65535, without leading zeros" : "ports are 1-65535"
        }
        return "expected a decimal number 1-65535"
    }
}

/// The input between double quotes, with control characters and quotes
/// escaped so a hostile string cannot break the one-line message.
func quoted(_ string: String) -> String {
    var result = "\""
    for scalar in string.unicodeScalars {
        switch scalar {
        case "\"": result += "\\\""
        case "\\": result += "\\\\"
        default:
            if scalar.properties.generalCategory == .control {
                result += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
    }
    return result + "\""
}

extension AddressRole {
    var label: String {
        switch self {
        case .listen: "listen"
        case .backend: "backend"
        case .snat: "SNAT"
        }
    }
}

extension UnusableAddressKind {
    var phrase: String {
        switch self {
        case .unspecified: "unspecified"
        case .loopback: "loopback"
        case .multicast: "multicast"
        case .broadcast: "the broadcast address"
        case .reserved: "reserved (240.0.0.0/4)"
        case .linkLocal: "link-local (fe80::/10)"
        case .ipv4Mapped: "IPv4-mapped (::ffff:0:0/96)"
        }
    }

    func reason(for role: AddressRole) -> String {
        switch (self, role) {
        case (.loopback, .listen): "XDP never sees it"
        case (.loopback, _): "forwarded packets leave through a network interface and cannot reach it"
        case (.unspecified, .listen): "expected the specific address clients connect to"
        case (.linkLocal, _): "link-local addresses are never forwarded (the kernel's FIB lookup refuses them); use a global address"
        case (.ipv4Mapped, _): "it is an IPv4 address: write it as a dotted quad (NAT64 is not supported)"
        default: "expected a unicast address"
        }
    }
}
