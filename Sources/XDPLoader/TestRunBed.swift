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
public final class TestRunBed: @unchecked Sendable {
    public let namespace: NetworkNamespace
    public let datapath: Datapath
    public let passProgram: OwnedFD
    public let inIndex: UInt32
    public let outIndex: UInt32
    private var passLinks: [OwnedFD] = []

    public init(namespaceName: String) throws {
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
