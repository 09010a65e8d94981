import CXDP
import FastPath
import Foundation
import Packets
import RuleModel
import XDPLoader

/// One forwarder measured by `bench topo`. Adding a forwarder is one more
/// `Kind` (or a case of an existing one) and its set-up in `start`.
public struct ForwarderCase: Sendable, Codable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case bare, xdpNative = "xdpfwd-native", xdpGeneric = "xdpfwd-generic", nftDNAT = "nftables-dnat", udpRelay = "udp-relay"
        case afpacket = "xdpfwd-afpacket"
        case afpacketFloor = "afpacket-floor"
    }
    public let key: String
    public let name: String
    public let kind: Kind
    public var rules = 1
    public var flows = 1
    public var snat = true     // full NAT (source becomes the forwarder's)
    public var qdiscBypass = true  // AF_PACKET TX: PACKET_QDISC_BYPASS (else through the qdisc)
    public var txSendmmsg = false  // the AF_PACKET floor: sendmmsg(2) instead of a TX ring
    public var ipv6 = false        // IPv6 frames and rules (NAT66), else IPv4

    /// The listen endpoint the generator sends to, the backend the sink is,
    /// per family; the generator's source (flow 0).
    static let listen: Packet.Endpoint = "198.18.0.1:5000"
    static let backend: Packet.Endpoint = "198.18.1.2:6000"
    static let listen6: Packet6.Endpoint = "[2001:2::1]:5000"
    static let backend6: Packet6.Endpoint = "[2001:2:0:1::2]:6000"
    static let source: Generator.Endpoint = "198.18.0.2:1024"
    static let source6: Generator.Endpoint = "[2001:2::2]:1024"

    var listenEndpoint: Generator.Endpoint { ipv6 ? .v6(Self.listen6) : .v4(Self.listen) }
    var backendEndpoint: Generator.Endpoint { ipv6 ? .v6(Self.backend6) : .v4(Self.backend) }
    var generatorSource: Generator.Endpoint { ipv6 ? Self.source6 : Self.source }
    var generatorDestination: Generator.Endpoint { kind == .bare ? backendEndpoint : listenEndpoint }

    /// The rows this one's ratios refer to: the bare limit and nftables
    /// DNAT of the same address family.
    public var bareKey: String { ipv6 ? "bare6" : "bare" }
    public var nftablesKey: String { ipv6 ? "nftables-dnat6" : "nftables-dnat" }

    /// The default list: the five forwarders, xdpfwd's scaling cases, then
    /// IPv6 (NAT66) rows with their own bare limit and nftables DNAT.
    public static func standard(scaleRules: Int, scaleFlows: Int) -> [ForwarderCase] {
        [
            ForwarderCase(key: "bare", name: "bare limit (XDP MAC rewrite + redirect)", kind: .bare, snat: false),
            ForwarderCase(key: "xdpfwd-native", name: "xdpfwd native XDP", kind: .xdpNative),
            ForwarderCase(key: "xdpfwd-generic", name: "xdpfwd generic XDP", kind: .xdpGeneric),
            ForwarderCase(key: "nftables-dnat", name: "kernel forwarding + nftables DNAT", kind: .nftDNAT),
            ForwarderCase(key: "udp-relay", name: "UDP relay (recvmmsg/sendmmsg)", kind: .udpRelay),
            ForwarderCase(key: "xdpfwd-afpacket", name: "xdpfwd AF_PACKET (FastPath)", kind: .afpacket),
            ForwarderCase(key: "afpacket-floor", name: "AF_PACKET floor (C: rings, fixed NAT)", kind: .afpacketFloor),
            ForwarderCase(key: "afpacket-floor-sendmmsg", name: "AF_PACKET floor, TX by sendmmsg", kind: .afpacketFloor,
                          qdiscBypass: true, txSendmmsg: true),
            ForwarderCase(key: "xdpfwd-afpacket-qdisc", name: "xdpfwd AF_PACKET, TX via the qdisc", kind: .afpacket,
                          qdiscBypass: false),
            ForwarderCase(key: "xdpfwd-native-rules", name: "xdpfwd native, \(scaleRules) rules", kind: .xdpNative, rules: scaleRules),
            ForwarderCase(key: "xdpfwd-native-dnat", name: "xdpfwd native DNAT-only, 1 flow", kind: .xdpNative, snat: false),
            ForwarderCase(key: "xdpfwd-native-dnat-flows", name: "xdpfwd native DNAT-only, \(scaleFlows) flows",
                          kind: .xdpNative, flows: scaleFlows, snat: false),
            ForwarderCase(key: "bare6", name: "IPv6: bare limit", kind: .bare, snat: false, ipv6: true),
            ForwarderCase(key: "xdpfwd-native6", name: "IPv6: xdpfwd native XDP (NAT66)", kind: .xdpNative, ipv6: true),
            ForwarderCase(key: "xdpfwd-native6-dnat", name: "IPv6: xdpfwd native DNAT-only", kind: .xdpNative, snat: false, ipv6: true),
            ForwarderCase(key: "nftables-dnat6", name: "IPv6: kernel forwarding + nftables DNAT", kind: .nftDNAT, ipv6: true),
            ForwarderCase(key: "xdpfwd-afpacket6", name: "IPv6: xdpfwd AF_PACKET (FastPath)", kind: .afpacket, ipv6: true),
        ]
    }

    /// What a delivered frame must look like, or why it does not.
    func problem(with bytes: [UInt8], length: Int, size: Int) -> String? {
        guard length == size else { return "length \(length), sent \(size)" }
        if ipv6 { return problem6(with: bytes, length: length) }
        guard let packet = try? Packet.decode(bytes) else { return "undecodable" }
        guard packet.udp != nil else { return "not UDP" }
        guard packet.ethernet.src == Topology.f1MAC, packet.ethernet.dst == Topology.s0MAC else { return "MACs \(packet.ethernet.src) > \(packet.ethernet.dst)" }
        guard packet.dst == Self.backend else { return "destination \(packet.dst), expected \(Self.backend)" }
        let source = snat ? "198.18.1.1" : nil
        if let source, packet.ip.src.description != source { return "source \(packet.ip.src), expected \(source)" }
        if !snat, packet.ip.src.value & 0xFFFF_0000 != Packet.Address("198.18.0.0").value { return "source \(packet.ip.src) not the generator's" }
        if bytes.count == length, !Packet.checksumsValid(bytes) { return "bad checksum: \(Packet.checksumErrors(bytes).joined(separator: ", "))" }
        if bytes.count < length, !InternetChecksum.verifies(bytes[14..<34]) { return "bad IPv4 header checksum" }
        return nil
    }

    /// The IPv6 checks: untagged, no extension headers, MACs, destination,
    /// source (the forwarder's f1 address for full NAT, else the
    /// generator's /64), hop limit decremented once by a forwarder (the
    /// bare limit leaves it), payload length, a UDP checksum that is
    /// present (IPv6 requires it) and right.
    func problem6(with bytes: [UInt8], length: Int) -> String? {
        guard bytes.count >= Int(XFB_GEN_HDR_LEN6_UDP), bytes.be16(at: 12) == 0x86DD else { return "not untagged IPv6" }
        guard let packet = try? Packet6.decode(bytes) else { return "undecodable" }
        guard packet.extensionHeaders.isEmpty, let udp = packet.udp else { return "not UDP without extension headers" }
        guard packet.ethernet.src == Topology.f1MAC, packet.ethernet.dst == Topology.s0MAC else { return "MACs \(packet.ethernet.src) > \(packet.ethernet.dst)" }
        let dst = Packet6.Endpoint(packet.ip.dst, udp.dport)
        guard dst == Self.backend6 else { return "destination \(dst), expected \(Self.backend6)" }
        if snat {
            guard packet.ip.src == Topology.f1Address6 else { return "source \(packet.ip.src), expected \(Topology.f1Address6)" }
        } else {
            guard Array(packet.ip.src.bytes.prefix(8)) == Array(Topology.g0Address6.bytes.prefix(8)) else {
                return "source \(packet.ip.src) not the generator's"
            }
        }
        let hopLimit: UInt8 = kind == .bare ? 64 : 63
        guard packet.ip.hopLimit == hopLimit else { return "hop limit \(packet.ip.hopLimit), expected \(hopLimit)" }
        guard Int(packet.ip.payloadLength ?? 0) == length - 54 else { return "payload length \(packet.ip.payloadLength ?? 0), frame \(length)" }
        guard bytes.be16(at: 60) != 0 else { return "UDP checksum 0 (IPv6 requires one)" }
        if bytes.count == length, case let errors = Packet6.checksumErrors(bytes), !errors.isEmpty {
            return "bad checksum: \(errors.joined(separator: ", "))"
        }
        return nil
    }
}

/// A forwarder set up in the topology; `stop` undoes everything `start` did.
final class RunningForwarder: @unchecked Sendable {
    var extraThreads: [Int32] = []
    private var undo: [() -> Void] = []
    private var loop: BenchLoopThread?

    func stop() {
        loop?.stop()
        loop = nil
        for action in undo.reversed() { action() }
        undo = []
    }

    /// Sets the case up in `topo`; `xdpfwd` is this program's path, run
    /// inside the forwarder namespace for attach and rules.
    static func start(_ c: ForwarderCase, in topo: Topology, xdpfwd: String, forwarderCPU: Int) throws -> RunningForwarder {
        let running = RunningForwarder()
        do {
            try running.setUp(c, topo, xdpfwd, forwarderCPU)
        } catch {
            running.stop()
            throw error
        }
        return running
    }

    private func setUp(_ c: ForwarderCase, _ topo: Topology, _ xdpfwd: String, _ cpu: Int) throws {
        switch c.kind {
        case .bare:
            let object = try BenchObject()
            let cfgMap = try BPFMap<UInt32, xfb_bare_cfg>(fd: object.map("xfb_bare_cfg"), name: "xfb_bare_cfg")
            let txMap = try BPFMap<UInt32, UInt32>(fd: object.map("xfb_bare_tx"), name: "xfb_bare_tx")
            var cfg = xfb_bare_cfg()
            withUnsafeMutableBytes(of: &cfg.src_mac) { $0.copyBytes(from: Topology.f1MAC.bytes) }
            withUnsafeMutableBytes(of: &cfg.dst_mac) { $0.copyBytes(from: Topology.s0MAC.bytes) }
            try cfgMap.update(0, cfg)
            let link = try topo.fwd.enter { () -> OwnedFD in
                try txMap.update(0, try Interface.named(topo.f1).ifindex)
                return try attachXDP(object.program("xfb_bare"), ifindex: try Interface.named(topo.f0).ifindex, what: "bare \(topo.f0)")
            }
            undo.append { withExtendedLifetime((object, link)) {} }
        case .xdpNative, .xdpGeneric:
            let pinDir = "\(topo.bpffs)/xdpfwd"
            func cli(_ arguments: [String]) throws {
                try topo.fwd.exec([xdpfwd] + arguments + ["--pin-dir", pinDir])
            }
            try cli(["attach", topo.f0, topo.f1, "--mode", c.kind == .xdpNative ? "native" : "generic"])
            undo.append { _ = try? cli(["detach", "--all", "--purge"]) }
            try cli(["rule", "add", "udp", c.listenEndpoint.description, c.backendEndpoint.description, "--snat", c.snat ? "auto" : "none"])
            if c.rules > 1 { try Self.fillerRules(c.rules - 1, pinDir: pinDir) }
        case .afpacket:
            // One worker on the forwarder CPU; GRO stays on (UDP is not
            // merged, and it is what gives the veths NAPI here).
            let pinDir = "\(topo.bpffs)/xdpfwd"
            func cli(_ arguments: [String]) throws {
                try topo.fwd.exec([xdpfwd] + arguments + ["--pin-dir", pinDir])
            }
            try cli(["attach", topo.f0, topo.f1, "--mode", "afpacket", "--cpus", "\(cpu)", "--no-irq-pinning", "--keep-gro"]
                    + (c.qdiscBypass ? [] : ["--no-qdisc-bypass"]))
            undo.append { _ = try? cli(["detach", "--all", "--purge"]) }
            try cli(["rule", "add", "udp", c.listenEndpoint.description, c.backendEndpoint.description, "--snat", c.snat ? "auto" : "none"])
            // The forwarder process's threads (workers and the counter publisher).
            if let pid = ForwarderFiles(layout: try PinLayout(directory: pinDir)).livePID() {
                let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
                extraThreads = tasks.compactMap { Int32($0) }
            }
        case .nftDNAT:
            // Full NAT like xdpfwd's default: DNAT, then masquerade to f1's
            // address. One table per family.
            let family = c.ipv6 ? "ip6" : "ip"
            let script = """
                table \(family) xfb {
                  chain pre { type nat hook prerouting priority dstnat; udp dport \(c.listenEndpoint.port) dnat to \(c.backendEndpoint); }
                  chain post { type nat hook postrouting priority srcnat; oifname "\(topo.f1)" masquerade; }
                }
                """
            let path = "\(topo.bpffs).nft"
            try script.write(toFile: path, atomically: true, encoding: .utf8)
            defer { unlink(path) }
            try topo.fwd.exec(["nft", "-f", path])
            undo.append { _ = try? topo.fwd.exec(["nft", "delete", "table", family, "xfb"]) }
        case .udpRelay:
            let relay = try UDPRelay.start(namespace: topo.fwd, listen: ForwarderCase.listen, backend: ForwarderCase.backend, cpu: cpu)
            loop = relay
            extraThreads = [relay.tid]
        case .afpacketFloor:
            let floor = try AFPacketFloor.start(topo, cpu: cpu, sendmmsg: c.txSendmmsg, undo: &undo)
            loop = floor
            extraThreads = [floor.tid]
        }
    }

    /// count filler UDP rules on 198.19.0.0/16 ports 80-81, never matched,
    /// written straight into the pinned rules map (the CLI would take minutes).
    static func fillerRules(_ count: Int, pinDir: String) throws {
        let datapath = try Datapath.openPinned(PinLayout(directory: pinDir))
        let backend = Endpoint(address: IPv4Address("198.18.1.2")!, port: 6000)
        for i in 0..<count {
            let address = IPv4Address(UInt32(198) << 24 | UInt32(19) << 16 | UInt32(i & 0xFFFF))
            let rule = try ForwardingRule(protocol: .udp, listen: Endpoint(address: address, port: UInt16(80 + i >> 16)), backend: backend)
            try datapath.maps.rules.update(RuleCompiler.key(rule.key), RuleCompiler.value(rule, id: UInt32(i + 1)), .noExist)
        }
    }
}
