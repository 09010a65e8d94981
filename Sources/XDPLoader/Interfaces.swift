import Glibc
import RuleModel

/// A network interface named by the user, resolved in the caller's netns.
public struct Interface: Sendable, Hashable {
    public let name: String
    public let ifindex: UInt32

    public init(name: String, ifindex: UInt32) {
        self.name = name
        self.ifindex = ifindex
    }

    /// Resolves a name; a clear error if it is malformed or absent.
    public static func named(_ name: String) throws -> Interface {
        guard !name.isEmpty, name.utf8.count < Int(IFNAMSIZ), !name.contains("/"),
              name != ".", name != "..", !name.contains(where: { $0.isWhitespace })
        else {
            throw XDPFwdError.invalidArgument("invalid interface name \"\(name)\"")
        }
        let index = if_nametoindex(name)
        guard index != 0 else { throw XDPFwdError.invalidArgument("unknown interface \"\(name)\"") }
        return Interface(name: name, ifindex: index)
    }

    /// The name of an ifindex, or "ifindex N" if it has gone away.
    public static func name(of ifindex: UInt32) -> String {
        var buffer = [CChar](repeating: 0, count: Int(IF_NAMESIZE))
        guard if_indextoname(ifindex, &buffer) != nil else { return "ifindex \(ifindex)" }
        return String(cString: buffer)
    }

    public static func exists(_ ifindex: UInt32) -> Bool {
        var buffer = [CChar](repeating: 0, count: Int(IF_NAMESIZE))
        return if_indextoname(ifindex, &buffer) != nil
    }

    /// The first IPv4 address on the interface in network byte order, or 0.
    public func primaryIPv4NetworkOrder() -> UInt32 {
        var head: UnsafeMutablePointer<ifaddrs>? = nil
        guard getifaddrs(&head) == 0 else { return 0 }
        defer { freeifaddrs(head) }
        var cursor = head
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let address = entry.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET),
                  String(cString: entry.pointee.ifa_name) == name
            else { continue }
            return address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr.s_addr }
        }
        return 0
    }

    /// The first global IPv6 address on the interface (not link-local,
    /// loopback, multicast or IPv4-mapped), or nil.
    public func primaryIPv6() -> IPv6Address? {
        var head: UnsafeMutablePointer<ifaddrs>? = nil
        guard getifaddrs(&head) == 0 else { return nil }
        defer { freeifaddrs(head) }
        var cursor = head
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let address = entry.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET6),
                  String(cString: entry.pointee.ifa_name) == name
            else { continue }
            let bytes = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                withUnsafeBytes(of: sin6.pointee.sin6_addr) { Array($0) }
            }
            let candidate = IPv6Address(bytes: bytes)
            if candidate.unusableKind == nil { return candidate }
        }
        return nil
    }

    /// /proc/sys/net/ipv4/conf/NAME/forwarding: bpf_fib_lookup refuses to
    /// route packets that arrive on an interface with forwarding off.
    public var forwardingSysctl: String { "/proc/sys/net/ipv4/conf/\(name)/forwarding" }

    public func readForwarding() throws -> Bool {
        try readSysctl(forwardingSysctl).first == "1"
    }

    public func writeForwarding(_ on: Bool) throws {
        try writeSysctl(forwardingSysctl, on ? "1" : "0")
    }

    /// /proc/sys/net/ipv6/conf/NAME/forwarding, the IPv6 twin (per
    /// interface: bpf_fib_lookup checks the ingress device's setting).
    /// Absent when IPv6 is disabled on the interface.
    public var forwarding6Sysctl: String { "/proc/sys/net/ipv6/conf/\(name)/forwarding" }

    /// nil when the interface has no IPv6 configuration.
    public func readForwarding6() throws -> Bool? {
        guard access(forwarding6Sysctl, F_OK) == 0 else { return nil }
        return try readSysctl(forwarding6Sysctl).first == "1"
    }

    public func writeForwarding6(_ on: Bool) throws {
        try writeSysctl(forwarding6Sysctl, on ? "1" : "0")
    }
}

func readSysctl(_ path: String) throws -> String {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    if fd < 0 { throw XDPFwdError.syscall(SyscallError("open", path, errno: errno)) }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 64)
    let count = read(fd, &buffer, buffer.count)
    if count < 0 { throw XDPFwdError.syscall(SyscallError("read", path, errno: errno)) }
    return String(decoding: buffer[0..<count], as: UTF8.self)
}

func writeSysctl(_ path: String, _ value: String) throws {
    let fd = open(path, O_WRONLY | O_CLOEXEC)
    if fd < 0 { throw XDPFwdError.syscall(SyscallError("open", path, errno: errno)) }
    defer { close(fd) }
    let bytes = Array(value.utf8)
    if write(fd, bytes, bytes.count) != bytes.count {
        throw XDPFwdError.syscall(SyscallError("write", path, errno: errno))
    }
}
