import CXDP
import Glibc
import RuleModel

/// The local addresses of the attached interfaces, as the data plane's
/// wildcard rules see them (`xdpfwd_laddrs`, `xdpfwd_laddrs6`). The sets
/// are re-read from the interfaces on every attach, detach, rule add and
/// sync: an address added or removed later takes effect at the next of
/// those commands. IPv6 link-local addresses are left out (a forwarded flow
/// cannot be routed back to one).
public enum LocalAddresses {
    /// Every address on the given interfaces -> ifindex.
    public static func addresses(of ifindexes: Set<UInt32>) -> [IPAddress: UInt32] {
        var result: [IPAddress: UInt32] = [:]
        var head: UnsafeMutablePointer<ifaddrs>? = nil
        guard getifaddrs(&head) == 0 else { return result }
        defer { freeifaddrs(head) }
        var cursor = head
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let address = entry.pointee.ifa_addr else { continue }
            let index = if_nametoindex(entry.pointee.ifa_name)
            guard ifindexes.contains(index) else { continue }
            switch Int32(address.pointee.sa_family) {
            case AF_INET:
                let value = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr.s_addr }
                result[.v4(IPv4Address(networkOrder: value))] = index
            case AF_INET6:
                let bytes = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                    withUnsafeBytes(of: pointer.pointee.sin6_addr) { Array($0) }
                }
                let v6 = IPv6Address(bytes: bytes)
                if !v6.isLinkLocal { result[.v6(v6)] = index }
            default:
                continue
            }
        }
        return result
    }

    /// The addresses the data plane holds now, IPv4 first, sorted.
    public static func recorded(_ maps: DatapathMaps) throws -> [IPAddress] {
        let v4 = try maps.laddrs.keys().map { IPAddress.v4(IPv4Address(networkOrder: $0)) }
        let v6 = try maps.laddrs6.keys().map { IPAddress.v6(IPv6Address(networkOrderWords: $0.addr)) }
        return (v4 + v6).sorted()
    }

    /// Makes the local-address maps hold exactly the attached interfaces' addresses.
    @discardableResult
    public static func sync(_ maps: DatapathMaps) throws -> Int {
        // VLAN uppers of attached interfaces are local too (VLANTable.sync first).
        let wanted = addresses(of: Set(try maps.ifaces.keys()).union(try maps.vlans.keys()))
        var v4: [UInt32: UInt32] = [:]
        var v6: [[UInt32]: UInt32] = [:]
        for (address, ifindex) in wanted {
            switch address {
            case .v4(let a): v4[a.networkOrder] = ifindex
            case .v6(let a): let w = a.networkOrderWords; v6[[w.0, w.1, w.2, w.3]] = ifindex
            }
        }
        for stale in try maps.laddrs.keys() where v4[stale] == nil { try maps.laddrs.delete(stale) }
        for (address, ifindex) in v4 { try maps.laddrs.update(address, ifindex) }
        for stale in try maps.laddrs6.keys() where v6[[stale.addr.0, stale.addr.1, stale.addr.2, stale.addr.3]] == nil {
            try maps.laddrs6.delete(stale)
        }
        for (words, ifindex) in v6 {
            var key = xdpfwd_addr6()
            key.addr = (words[0], words[1], words[2], words[3])
            try maps.laddrs6.update(key, ifindex)
        }
        return wanted.count
    }
}
