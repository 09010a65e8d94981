import CXDP
import Glibc
import RuleModel

/// A VLAN device as rtnetlink describes it: the device directly below it
/// (a VLAN itself for QinQ), its TPID, VLAN id, and the PCP its
/// egress-qos-map gives priority 0, which is what the kernel would tag
/// forwarded packets with.
public struct VLANLink: Sendable, Equatable {
    public var ifindex: UInt32
    public var lowerIfindex: UInt32
    public var vlanID: UInt16
    public var is8021ad: Bool
    public var pcp: UInt8

    public init(ifindex: UInt32, lowerIfindex: UInt32, vlanID: UInt16, is8021ad: Bool = false, pcp: UInt8 = 0) {
        self.ifindex = ifindex
        self.lowerIfindex = lowerIfindex
        self.vlanID = vlanID
        self.is8021ad = is8021ad
        self.pcp = pcp
    }

    /// Every VLAN device of the calling thread's network namespace.
    public static func all() throws -> [VLANLink] {
        var buffer = [cxdp_vlan_link](repeating: cxdp_vlan_link(), count: Int(XDPFWD_MAX_VLANS))
        let count = try check(cxdp_vlan_links(&buffer, Int32(buffer.count)), "RTM_GETLINK dump", "VLAN devices")
        return buffer.prefix(Int(count)).map {
            VLANLink(ifindex: $0.ifindex, lowerIfindex: $0.lower_ifindex, vlanID: $0.vlan_id,
                     is8021ad: UInt16(bigEndian: $0.proto_be) == 0x88A8, pcp: $0.pcp)
        }
    }

    /// TCI in network order: PCP << 13 | VLAN id (DEI 0).
    var tciNetworkOrder: UInt16 { (UInt16(pcp & 7) << 13 | vlanID & 0x0FFF).bigEndian }
}

/// The data plane's view of VLAN uppers (`xdpfwd_vlans`): for every VLAN
/// device stacked on an attached interface, directly (one tag) or on a VLAN
/// of it (QinQ, two tags), its physical lower device and the tags to push.
public enum VLANTable {
    /// The entries for the VLANs above `attached` (pure: no syscalls).
    /// Deeper stacks, and QinQ whose inner VLAN is 802.1ad, are left out:
    /// the data plane pushes at most two tags, the inner one 802.1Q.
    public static func entries(links: [VLANLink], attached: Set<UInt32>,
                               addresses: (UInt32) -> (ipv4: UInt32, ipv6: IPv6Address?)) -> [UInt32: xdpfwd_vlan] {
        let byIndex = Dictionary(links.map { ($0.ifindex, $0) }, uniquingKeysWith: { first, _ in first })
        var result: [UInt32: xdpfwd_vlan] = [:]
        for link in links {
            var entry = xdpfwd_vlan()
            if attached.contains(link.lowerIfindex) {
                entry.lower_ifindex = link.lowerIfindex
                entry.tags = 1 | (link.is8021ad ? UInt8(XDPFWD_VLAN_OUTER_AD) : 0)
                entry.tci = (link.tciNetworkOrder, 0)
            } else if let outer = byIndex[link.lowerIfindex], attached.contains(outer.lowerIfindex), !link.is8021ad {
                entry.lower_ifindex = outer.lowerIfindex
                entry.tags = 2 | (outer.is8021ad ? UInt8(XDPFWD_VLAN_OUTER_AD) : 0)
                entry.tci = (outer.tciNetworkOrder, link.tciNetworkOrder)
            } else {
                continue
            }
            let (ipv4, ipv6) = addresses(link.ifindex)
            entry.ipv4_addr = ipv4
            if let ipv6 { entry.ipv6_addr = ipv6.networkOrderWords }
            result[link.ifindex] = entry
        }
        return result
    }

    /// Makes `xdpfwd_vlans` describe the VLANs above the attached interfaces
    /// now (XDP and afpacket alike): adds and updates entries, removes
    /// those of VLANs gone or no longer above an attached interface.
    public static func sync(_ maps: DatapathMaps) throws {
        let attached = Set(try maps.ifaces.keys())
        let wanted = entries(links: try VLANLink.all(), attached: attached) { ifindex in
            let upper = Interface(name: Interface.name(of: ifindex), ifindex: ifindex)
            return (upper.primaryIPv4NetworkOrder(), upper.primaryIPv6())
        }
        for ifindex in try maps.vlans.keys() where wanted[ifindex] == nil {
            try maps.vlans.delete(ifindex)
        }
        for (ifindex, entry) in wanted {
            try maps.vlans.update(ifindex, entry)
        }
    }
}
