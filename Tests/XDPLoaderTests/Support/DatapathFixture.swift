import CXDP
import Glibc
import RuleModel
import XDPLoader

/// A private data plane (no pins) in a throwaway namespace wired like a
/// forwarder: `in0` faces clients, `out0` faces backends, with permanent
/// neighbours so bpf_fib_lookup answers deterministically.
///
///   client 198.18.0.2 (02:00:00:00:00:02) ---- in0 198.18.0.1 (02:00:00:00:00:01)
///   backend 198.18.1.2 (02:00:00:00:01:02) --- out0 198.18.1.1 (02:00:00:00:01:01)
///   backend 198.18.0.3 (02:00:00:00:00:03) is on the client side (XDP_TX)
///   198.18.1.3 has a route but no neighbour (slow path)
///   198.18.9.9 has no route at all
final class DatapathFixture: @unchecked Sendable {
    static let inMAC: [UInt8] = [0x02, 0, 0, 0, 0, 0x01]
    static let clientMAC: [UInt8] = [0x02, 0, 0, 0, 0, 0x02]
    static let sameSideBackendMAC: [UInt8] = [0x02, 0, 0, 0, 0, 0x03]
    static let outMAC: [UInt8] = [0x02, 0, 0, 0, 0x01, 0x01]
    static let backendMAC: [UInt8] = [0x02, 0, 0, 0, 0x01, 0x02]

    let namespace: NetworkNamespace
    let datapath: Datapath
    let pass: OwnedFD
    private var passLinks: [OwnedFD] = []
    let inIndex: UInt32
    let outIndex: UInt32
    private static let counter = Counter()

    init() throws {
        namespace = try NetworkNamespace(name: "xft-\(getpid())-\(Self.counter.next())")
        let ns = namespace
        try ns.ip(["link", "add", "in0", "address", "02:00:00:00:00:01", "type", "veth", "peer", "name", "in1"])
        try ns.ip(["link", "add", "out0", "address", "02:00:00:00:01:01", "type", "veth", "peer", "name", "out1"])
        for device in ["lo", "in0", "in1", "out0", "out1"] { try ns.ip(["link", "set", device, "up"]) }
        try ns.ip(["addr", "add", "198.18.0.1/24", "dev", "in0"])
        try ns.ip(["addr", "add", "198.18.1.1/24", "dev", "out0"])
        try ns.ip(["neigh", "add", "198.18.0.2", "lladdr", "02:00:00:00:00:02", "dev", "in0", "nud", "permanent"])
        try ns.ip(["neigh", "add", "198.18.0.3", "lladdr", "02:00:00:00:00:03", "dev", "in0", "nud", "permanent"])
        try ns.ip(["neigh", "add", "198.18.1.2", "lladdr", "02:00:00:00:01:02", "dev", "out0", "nud", "permanent"])
        try ns.exec(["sysctl", "-qw", "net.ipv4.conf.all.forwarding=1"])

        let (datapath, pass) = try ns.enter { try Datapath.load() }
        self.datapath = datapath
        self.pass = pass
        (inIndex, outIndex) = try ns.enter { (if_nametoindex("in0"), if_nametoindex("out0")) }
        try ns.enter {
            // BPF_PROG_TEST_RUN with an ingress ifindex needs its rxq registered,
            // which an attached XDP program does.
            for index in [inIndex, outIndex] {
                let fd = cxdp_xdp_link_create(pass.raw, Int32(index), UInt32(CXDP_XDP_FLAGS_DRV_MODE))
                guard fd >= 0 else { throw XDPFwdError.syscall(SyscallError("bpf_link_create", "pass", errno: -fd)) }
                passLinks.append(OwnedFD(fd))
            }
        }
        // Devmap entries resolve the ifindex in the caller's namespace.
        try ns.enter {
            try addInterface(inIndex, address: "198.18.0.1")
            try addInterface(outIndex, address: "198.18.1.1")
        }
    }

    private func addInterface(_ index: UInt32, address: String) throws {
        var record = xdpfwd_iface()
        record.ifindex = index
        record.ipv4_addr = IPv4Address(address)!.networkOrder
        record.mode = UInt8(XDPFWD_MODE_NATIVE.rawValue)
        try datapath.maps.ifaces.update(index, record)
        try datapath.maps.txports.update(index, DevmapValue(ifindex: index))
    }

    var maps: DatapathMaps { datapath.maps }

    @discardableResult
    func addRule(_ proto: String, _ listen: String, _ backend: String, snat: String = "auto") throws -> InstalledRule {
        let rule = try ForwardingRule.parse(protocol: proto, listen: listen, backend: backend, snat: snat)
        return try RuleTable(maps: maps).add(rule).0
    }

    func setConfig(_ update: (inout xdpfwd_config) -> Void) throws {
        var config = try maps.config.lookup(0) ?? xdpfwd_config()
        update(&config)
        try maps.config.update(0, config)
    }

    /// Runs one packet through the real XDP program, arriving on `ingress`.
    func run(_ packet: [UInt8], ingress: UInt32? = nil) throws -> TestRunResult {
        let runner = XDPTestRunner(program: datapath.xdpProgram)
        return try namespace.enter { try runner.run(packet, ingressIfindex: ingress ?? inIndex) }
    }

    func counter(_ name: String) throws -> UInt64 {
        try CountersReader(maps: maps).snapshot().global(name)
    }

    func ruleCounters(_ id: UInt32) throws -> (forward: DirectionCounters, reply: DirectionCounters) {
        var forward = DirectionCounters(), reply = DirectionCounters()
        for cpu in try maps.ruleStats.lookup(id) {
            forward.packets += cpu.fwd_packets; forward.bytes += cpu.fwd_bytes
            reply.packets += cpu.reply_packets; reply.bytes += cpu.reply_bytes
        }
        return (forward, reply)
    }

    final class Counter: @unchecked Sendable {
        private var value = 0
        private var lock = pthread_mutex_t()
        init() { pthread_mutex_init(&lock, nil) }
        func next() -> Int {
            pthread_mutex_lock(&lock); defer { pthread_mutex_unlock(&lock) }
            value += 1
            return value
        }
    }
}
