import CXDP
import Glibc
import Packets
import RuleModel
import TestSupport
import Testing
import XDPLoader

/// The TC classifier (xdpfwd_afp_tc) on skbs whose headers are not in the
/// linear part. BPF_PROG_TEST_RUN only builds linear skbs, so the frames
/// come through a real veth: a packet socket's frame of a page or more
/// (packet_snd) is an skb with only the 14-byte Ethernet header linear,
/// which veth hands to the peer's TC ingress as it is (a probe program on
/// n0 read `data_end - data` 14 for `len` 5000). fp_hdr then copies the
/// headers with bpf_skb_load_bytes; small frames of the same flows take the
/// in-place path. The decision shows at the stack: a UDP socket on n0
/// receives exactly the frames the classifier did not take.
@Suite("FastPath: the TC classifier decides non-linear skbs as linear ones", .serialized,
       .enabled(if: Capabilities.bpfAndNetns, Capabilities.reason))
struct ClassifierNonLinearTests {
    static let n0MAC: Packet.MAC = "02:00:00:00:0c:01"
    static let large = 5000, small = 100
    /// The ports of the cases, on both families.
    static let rulePort: UInt16 = 5000, noRulePort: UInt16 = 5001, recentPort: UInt16 = 5002
    static let freshPort: UInt16 = 5003, expiredPort: UInt16 = 5004
    static let ports = [rulePort, noRulePort, recentPort, freshPort, expiredPort]

    /// n1 -> n0, both at MTU 9000; the classifier on n0's ingress with its
    /// own maps; a UDP socket on n0's addresses for every case's port; a
    /// packet socket on n1.
    final class Bed {
        let ns: NetworkNamespace
        let datapath: Datapath
        let sender: Int32
        let receivers: [(family: Int32, port: UInt16, fd: Int32)]

        init() throws {
            ns = try NetworkNamespace(name: "xfp-nl-\(getpid())")
            try ns.ip(["link", "add", "n0", "mtu", "9000", "address", ClassifierNonLinearTests.n0MAC.description,
                       "type", "veth", "peer", "name", "n1", "mtu", "9000"])
            try ns.ip(["addr", "add", "198.18.5.1/24", "dev", "n0"])
            try ns.ip(["addr", "add", "2001:2:0:5::1/64", "dev", "n0", "nodad"])
            for device in ["n0", "n1"] { try ns.ip(["link", "set", device, "up"]) }
            let (datapath, _) = try Datapath.load()
            self.datapath = datapath
            let table = RuleTable(maps: datapath.maps)
            _ = try table.add(ForwardingRule.parse(protocol: "udp", listen: "198.18.5.1:5000", backends: ["198.18.6.2:6000"],
                                                   snat: "none"))
            _ = try table.add(ForwardingRule.parse(protocol: "udp", listen: "[2001:2:0:5::1]:5000",
                                                   backends: ["[2001:2:0:6::2]:6000"], snat: "none"))
            (sender, receivers) = try ns.enter {
                var created: Int32 = 0
                _ = try check(cxdp_tc_ingress_attach(Int32(if_nametoindex("n0")), datapath.afpTCProgram.raw, &created),
                              "bpf_tc_attach", "n0 ingress")
                var receivers: [(family: Int32, port: UInt16, fd: Int32)] = []
                for port in ClassifierNonLinearTests.ports {
                    receivers.append((AF_INET, port, try Self.udpSocket(AF_INET, "198.18.5.1", port)))
                    receivers.append((AF_INET6, port, try Self.udpSocket(AF_INET6, "2001:2:0:5::1", port)))
                }
                let fd = socket(AF_PACKET, Int32(SOCK_RAW.rawValue), 0)
                var address = sockaddr_ll()
                address.sll_family = UInt16(AF_PACKET)
                address.sll_ifindex = Int32(if_nametoindex("n1"))
                let bound = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_ll>.size)) }
                }
                if fd < 0 || bound != 0 { throw XDPFwdError.state("packet socket on n1: errno \(errno)") }
                return (fd, receivers)
            }
        }

        deinit {
            close(sender)
            receivers.forEach { close($0.fd) }
        }

        static func udpSocket(_ family: Int32, _ address: String, _ port: UInt16) throws -> Int32 {
            let fd = socket(family, Int32(SOCK_DGRAM.rawValue), 0)
            var result: Int32 = -1
            if family == AF_INET {
                var sa = sockaddr_in()
                sa.sin_family = sa_family_t(AF_INET)
                sa.sin_port = port.bigEndian
                inet_pton(AF_INET, address, &sa.sin_addr)
                result = withUnsafePointer(to: &sa) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
            } else {
                var sa = sockaddr_in6()
                sa.sin6_family = sa_family_t(AF_INET6)
                sa.sin6_port = port.bigEndian
                inet_pton(AF_INET6, address, &sa.sin6_addr)
                result = withUnsafePointer(to: &sa) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
                }
            }
            if fd < 0 || result != 0 { throw XDPFwdError.state("UDP socket on \(address) port \(port): errno \(errno)") }
            return fd
        }

        func send(_ frame: [UInt8]) {
            let sent = frame.withUnsafeBytes { Glibc.send(sender, $0.baseAddress, $0.count, 0) }
            #expect(sent == frame.count, "send of \(frame.count) bytes on n1: \(sent), errno \(errno)")
        }

        /// What each socket received within 500 ms: the family, the port
        /// and the datagram's length, sorted.
        func received() -> [String] {
            var got: [String] = []
            var buffer = [UInt8](repeating: 0, count: 9000)
            let deadline = ClassifierNonLinearTests.coarseNs() + 500_000_000
            while ClassifierNonLinearTests.coarseNs() < deadline {
                var pollers = receivers.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
                guard poll(&pollers, nfds_t(pollers.count), 50) > 0 else { continue }
                for (index, poller) in pollers.enumerated() where poller.revents & Int16(POLLIN) != 0 {
                    let count = recv(poller.fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                    let receiver = receivers[index]
                    if count >= 0 { got.append(Self.label(receiver.family, receiver.port, count)) }
                }
            }
            return got.sorted()
        }

        static func label(_ family: Int32, _ port: UInt16, _ datagram: Int) -> String {
            "\(family == AF_INET ? "v4" : "v6") \(port) \(datagram)"
        }
    }

    /// bpf_ktime_get_coarse_ns()'s clock.
    static func coarseNs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    static func frame4(_ port: UInt16, size: Int) -> [UInt8] {
        Packet.udp(src: "198.18.5.2:40000", dst: Packet.Endpoint("198.18.5.1", port),
                   payload: [UInt8](repeating: 0x5a, count: size - 42), srcMAC: "02:00:00:00:0c:02", dstMAC: n0MAC).bytes
    }

    static func frame6(_ port: UInt16, size: Int) -> [UInt8] {
        Packet6.udp(src: "[2001:2:0:5::2]:40000", dst: Packet6.Endpoint("2001:2:0:5::1", port),
                    payload: [UInt8](repeating: 0x5a, count: size - 62), srcMAC: "02:00:00:00:0c:02", dstMAC: n0MAC).bytes
    }

    /// A forward UDP entry for the frames to `port`, last seen `age` ago,
    /// whose rewrite tuple has no twin in the table.
    static func flow4(_ bed: Bed, _ port: UInt16, age: UInt64) throws {
        var key = xdpfwd_flow_key()
        key.saddr = UInt32(0xC612_0502).bigEndian // 198.18.5.2
        key.daddr = UInt32(0xC612_0501).bigEndian // 198.18.5.1
        key.sport = UInt16(40000).bigEndian
        key.dport = port.bigEndian
        key.proto = UInt8(IPPROTO_UDP)
        var entry = xdpfwd_flow()
        entry.new_saddr = UInt32(0xC612_0601).bigEndian
        entry.new_daddr = UInt32(0xC612_0602).bigEndian
        entry.new_sport = UInt16(40000).bigEndian
        entry.new_dport = UInt16(6000).bigEndian
        entry.state = UInt8(XDPFWD_CT_UDP.rawValue)
        entry.last_seen_ns = Self.coarseNs() - age
        try bed.datapath.maps.flows.update(key, entry)
    }

    static func flow6(_ bed: Bed, _ port: UInt16, age: UInt64) throws {
        var key = xdpfwd_flow6_key()
        key.saddr = (UInt32(0x2001_0002).bigEndian, UInt32(5).bigEndian, 0, UInt32(2).bigEndian)
        key.daddr = (UInt32(0x2001_0002).bigEndian, UInt32(5).bigEndian, 0, UInt32(1).bigEndian)
        key.sport = UInt16(40000).bigEndian
        key.dport = port.bigEndian
        key.proto = UInt8(IPPROTO_UDP)
        var entry = xdpfwd_flow6()
        entry.new_saddr = (UInt32(0x2001_0002).bigEndian, UInt32(6).bigEndian, 0, UInt32(1).bigEndian)
        entry.new_daddr = (UInt32(0x2001_0002).bigEndian, UInt32(6).bigEndian, 0, UInt32(2).bigEndian)
        entry.new_sport = UInt16(40000).bigEndian
        entry.new_dport = UInt16(6000).bigEndian
        entry.state = UInt8(XDPFWD_CT_UDP.rawValue)
        entry.last_seen_ns = Self.coarseNs() - age
        try bed.datapath.maps.flows6.update(key, entry)
    }

    @Test("rule, live flows (recent, and older within the configured timeout) taken; no rule and an expired flow left to the stack; large frames as small")
    func sameDecisions() throws {
        let bed = try Bed()
        // A 5 s UDP timeout: the 10 s old entries are expired only under the
        // config, so they show that an entry that is not recent is judged
        // with it.
        var config = xdpfwd_config()
        config.timeout_udp = 5
        try bed.datapath.maps.config.update(0, config)
        try Self.flow4(bed, Self.recentPort, age: 0)
        try Self.flow4(bed, Self.freshPort, age: 3_000_000_000)
        try Self.flow4(bed, Self.expiredPort, age: 10_000_000_000)
        try Self.flow6(bed, Self.recentPort, age: 0)
        try Self.flow6(bed, Self.freshPort, age: 3_000_000_000)
        try Self.flow6(bed, Self.expiredPort, age: 10_000_000_000)
        for port in Self.ports {
            for size in [Self.large, Self.small] {
                bed.send(Self.frame4(port, size: size))
                bed.send(Self.frame6(port, size: size))
            }
        }
        // Only the frames to the port with neither rule nor flow, and to the
        // expired flow's, reach their sockets: both sizes, both families.
        var expected: [String] = []
        for family in [AF_INET, AF_INET6] {
            for port in [Self.noRulePort, Self.expiredPort] {
                for size in [Self.large, Self.small] {
                    expected.append(Bed.label(family, port, size - (family == AF_INET ? 42 : 62)))
                }
            }
        }
        #expect(bed.received() == expected.sorted())
    }
}
