import CXDP
import Glibc
import RuleModel

/// A private data plane (nothing pinned) inside a throwaway network
/// namespace wired like a forwarder, for BPF_PROG_TEST_RUN: the table-driven
/// tests and `xdpfwd bench prog` run the real program against real FIB,
/// neighbour and map state. Permanent neighbours make lookups deterministic.
///
///   client  198.18.0.2 02:00:00:00:00:02 --- in0  198.18.0.1 02:00:00:00:00:01
///   backend 198.18.1.2 02:00:00:00:01:02 --- out0 198.18.1.1 02:00:00:00:01:01
///   198.18.0.3 (02:00:00:00:00:03) is a backend on the client side (XDP_TX)
///   198.18.1.3 has a route but no neighbour (slow path)
///   198.18.9.9 has no route
///
/// IPv6, the same shape in 2001:2::/48 (the same MACs):
///   client  2001:2::2 --- in0 2001:2::1/64;  2001:2::3 a backend on the client side
///   backend 2001:2:0:1::2 --- out0 2001:2:0:1::1/64;  2001:2:0:1::3 has no neighbour
///   2001:2:0:9::9 has no route
///
/// With `vlans`, VLAN upper devices too (see `VLANUpper.all`), each with a
/// /24 and a /64, a host .2 / ::2 with a permanent neighbour, and an `xdpfwd_vlans` entry
/// naming in0 or out0 as its lower. This kernel may lack 802.1Q
/// (CONFIG_VLAN_8021Q), and the data plane sees only ifindexes, so each
/// upper is a veth standing in for `ip link add link in0 name in0.100 type
/// vlan id 100`: the FIB names it as egress exactly as it would a VLAN
/// device, and the map entry says which tags go out on which lower.
public final class TestRunBed: @unchecked Sendable {
    public let namespace: NetworkNamespace
    public let datapath: Datapath
    public let passProgram: OwnedFD
    public let inIndex: UInt32
    public let outIndex: UInt32
    /// ifindex of each VLAN upper, by name (empty without `vlans`).
    public private(set) var vlanIndex: [String: UInt32] = [:]
    private var passLinks: [OwnedFD] = []

    /// A VLAN upper of the test bed: name, lower, tags (outer first), MACs.
    public struct VLANUpper: Sendable {
        public let name: String
        public let lower: String
        public let outerAD: Bool
        /// (VLAN id, PCP) per tag, outer first.
        public let tags: [(id: UInt16, pcp: UInt8)]
        public let subnet: String       // "198.18.2": .1 is ours, .2 the host
        /// The IPv6 /64 alike: "2001:2:0:2" (third octet of `subnet`): ::1 ours, ::2 the host.
        public var subnet6: String { "2001:2:0:\(subnet.split(separator: ".")[2])" }
        public let mac: String          // the upper's MAC (frame source on egress)
        public let hostMAC: String

        /// in0.100, in0.101 (client side; 101 is a hairpin target), out0.200
        /// (backend side, PCP 5), out0.300.30 (QinQ: 802.1ad 300 + 802.1Q 30).
        public static let all: [VLANUpper] = [
            VLANUpper(name: "in0.100", lower: "in0", outerAD: false, tags: [(100, 0)], subnet: "198.18.2",
                      mac: "02:00:00:00:02:01", hostMAC: "02:00:00:00:02:02"),
            VLANUpper(name: "in0.101", lower: "in0", outerAD: false, tags: [(101, 0)], subnet: "198.18.5",
                      mac: "02:00:00:00:05:01", hostMAC: "02:00:00:00:05:02"),
            VLANUpper(name: "out0.200", lower: "out0", outerAD: false, tags: [(200, 5)], subnet: "198.18.3",
                      mac: "02:00:00:00:03:01", hostMAC: "02:00:00:00:03:02"),
            VLANUpper(name: "out0.300.30", lower: "out0", outerAD: true, tags: [(300, 0), (30, 0)], subnet: "198.18.4",
                      mac: "02:00:00:00:04:01", hostMAC: "02:00:00:00:04:02"),
        ]

        /// Device names stay under IFNAMSIZ: "vlan0".."vlan3", peers "vlanp0"...
        var deviceName: String { "vlan\(Self.all.firstIndex { $0.name == name }!)" }
    }

    public init(namespaceName: String, vlans: Bool = false) throws {
        let ns = try NetworkNamespace(name: namespaceName)
        namespace = ns
        try ns.ip(["link", "add", "in0", "address", "02:00:00:00:00:01", "type", "veth", "peer", "name", "in1"])
        try ns.ip(["link", "add", "out0", "address", "02:00:00:00:01:01", "type", "veth", "peer", "name", "out1"])
        for device in ["lo", "in0", "in1", "out0", "out1"] { try ns.ip(["link", "set", device, "up"]) }
        try ns.ip(["addr", "add", "198.18.0.1/24", "dev", "in0"])
        try ns.ip(["addr", "add", "198.18.1.1/24", "dev", "out0"])
        try ns.ip(["neigh", "add", "198.18.0.2", "lladdr", "02:00:00:00:00:02", "dev", "in0", "nud", "permanent"])
        try ns.ip(["neigh", "add", "198.18.0.3", "lladdr", "02:00:00:00:00:03", "dev", "in0", "nud", "permanent"])
        try ns.ip(["neigh", "add", "198.18.1.2", "lladdr", "02:00:00:00:01:02", "dev", "out0", "nud", "permanent"])
        if vlans {
            for upper in VLANUpper.all {
                let device = upper.deviceName
                try ns.ip(["link", "add", device, "address", upper.mac, "type", "veth", "peer", "name", "\(device)p"])
                try ns.ip(["link", "set", device, "up"])
                try ns.ip(["link", "set", "\(device)p", "up"])
                try ns.ip(["addr", "add", "\(upper.subnet).1/24", "dev", device])
                try ns.ip(["neigh", "add", "\(upper.subnet).2", "lladdr", upper.hostMAC, "dev", device, "nud", "permanent"])
                try ns.ip(["-6", "addr", "add", "\(upper.subnet6)::1/64", "dev", device, "nodad"])
                try ns.ip(["-6", "neigh", "add", "\(upper.subnet6)::2", "lladdr", upper.hostMAC, "dev", device, "nud", "permanent"])
            }
        }
        try ns.exec(["sysctl", "-qw", "net.ipv4.conf.all.forwarding=1"])
        try ns.exec(["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"])
        try ns.ip(["-6", "addr", "add", "2001:2::1/64", "dev", "in0", "nodad"])
        try ns.ip(["-6", "addr", "add", "2001:2:0:1::1/64", "dev", "out0", "nodad"])
        try ns.ip(["-6", "neigh", "add", "2001:2::2", "lladdr", "02:00:00:00:00:02", "dev", "in0", "nud", "permanent"])
        try ns.ip(["-6", "neigh", "add", "2001:2::3", "lladdr", "02:00:00:00:00:03", "dev", "in0", "nud", "permanent"])
        try ns.ip(["-6", "neigh", "add", "2001:2:0:1::2", "lladdr", "02:00:00:00:01:02", "dev", "out0", "nud", "permanent"])

        (datapath, passProgram) = try Datapath.load()
        (inIndex, outIndex) = try ns.enter { (if_nametoindex("in0"), if_nametoindex("out0")) }
        // Inside the namespace: devmap entries and links resolve ifindexes there.
        try ns.enter {
            for (index, address, address6) in [(inIndex, "198.18.0.1", "2001:2::1"), (outIndex, "198.18.1.1", "2001:2:0:1::1")] {
                // BPF_PROG_TEST_RUN with an ingress ifindex needs the device's
                // rxq registered, which an attached XDP program does.
                let fd = cxdp_xdp_link_create(passProgram.raw, Int32(index), UInt32(CXDP_XDP_FLAGS_DRV_MODE))
                try check(fd, "bpf_link_create(BPF_XDP)", "test bed ifindex \(index)")
                passLinks.append(OwnedFD(fd))

                var record = xdpfwd_iface()
                record.ifindex = index
                record.ipv4_addr = IPv4Address(address)!.networkOrder
                record.ipv6_addr = IPv6Address(address6)!.networkOrderWords
                record.mode = UInt8(XDPFWD_MODE_NATIVE.rawValue)
                try datapath.maps.ifaces.update(index, record)
                try datapath.maps.txports.update(index, DevmapValue(ifindex: index))
                try datapath.maps.laddrs.update(record.ipv4_addr, index)
                var local6 = xdpfwd_addr6()
                local6.addr = record.ipv6_addr
                try datapath.maps.laddrs6.update(local6, index)
            }
            guard vlans else { return }
            for upper in VLANUpper.all {
                let index = if_nametoindex(upper.deviceName)
                let links = upper.tags.enumerated().map { depth, tag in
                    VLANLink(ifindex: index, lowerIfindex: 0, vlanID: tag.id, is8021ad: depth == 0 && upper.outerAD, pcp: tag.pcp)
                }
                var entry = xdpfwd_vlan()
                entry.lower_ifindex = upper.lower == "in0" ? inIndex : outIndex
                entry.tags = UInt8(links.count) | (upper.outerAD ? UInt8(XDPFWD_VLAN_OUTER_AD) : 0)
                entry.tci = (links[0].tciNetworkOrder, links.count > 1 ? links[1].tciNetworkOrder : 0)
                entry.ipv4_addr = IPv4Address("\(upper.subnet).1")!.networkOrder
                entry.ipv6_addr = IPv6Address("\(upper.subnet6)::1")!.networkOrderWords
                try datapath.maps.vlans.update(index, entry)
                vlanIndex[upper.name] = index
            }
        }
    }

    public var maps: DatapathMaps { datapath.maps }

    /// Runs one frame through the forwarder, arriving on `ingress` (in0).
    public func run(_ frame: [UInt8], ingress: UInt32? = nil) throws -> TestRunResult {
        let runner = XDPTestRunner(program: datapath.xdpProgram)
        return try namespace.enter { try runner.run(frame, ingressIfindex: ingress ?? inIndex) }
    }

    /// Runs the XDP_PASS-only program: the empty baseline for benchmarks.
    public func runEmpty(_ frame: [UInt8]) throws -> TestRunResult {
        let runner = XDPTestRunner(program: passProgram)
        return try namespace.enter { try runner.run(frame, ingressIfindex: inIndex) }
    }
}
