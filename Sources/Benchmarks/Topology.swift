import CXDP
import Foundation
import Glibc
import Packets
import XDPLoader

/// The namespaces of `xdpfwd bench topo`, torn down when this goes away:
///
///   NAME-gen             NAME-fwd                           NAME-sink
///   Tg0 198.18.0.2 <---> Tf0 198.18.0.1
///       2001:2::2/64         2001:2::1/64
///                        Tf1 198.18.1.1 <-----------------> Ts0 198.18.1.2
///                            2001:2:0:1::1/64                   2001:2:0:1::2/64
///
/// T is a short unique tag, so the threaded-NAPI kthreads ("napi/Tf0-N")
/// can be told apart from other namespaces'. Only 198.18.0.0/15 and
/// 2001:2::/48, never the root namespace. Neighbours are permanent (no ARP
/// or neighbour discovery in the measurement); IPv6 addresses skip DAD and
/// no router solicitations or advertisements are sent or accepted.
final class Topology: @unchecked Sendable {
    let gen: NetworkNamespace
    let fwd: NetworkNamespace
    let sinkNS: NetworkNamespace
    let tag: String
    let bpffs: String
    var g0: String { tag + "g0" }
    var f0: String { tag + "f0" }
    var f1: String { tag + "f1" }
    var s0: String { tag + "s0" }
    static let g0MAC: Packet.MAC = "02:00:00:00:0b:01"
    static let f0MAC: Packet.MAC = "02:00:00:00:0f:00"
    static let f1MAC: Packet.MAC = "02:00:00:00:0f:01"
    static let s0MAC: Packet.MAC = "02:00:00:00:0b:02"
    static let g0Address6: Packet6.Address = "2001:2::2"
    static let f0Address6: Packet6.Address = "2001:2::1"
    static let f1Address6: Packet6.Address = "2001:2:0:1::1"
    static let s0Address6: Packet6.Address = "2001:2:0:1::2"
    let sink: Sink
    private(set) var g0Index: UInt32 = 0

    init(prefix: String) throws {
        tag = "x\(getpid() % 10000)"
        gen = try NetworkNamespace(name: "\(prefix)-gen")
        fwd = try NetworkNamespace(name: "\(prefix)-fwd")
        sinkNS = try NetworkNamespace(name: "\(prefix)-sink")
        bpffs = "/run/xdpfwd-bench/\(prefix)"
        sink = try Sink()
        try build()
    }

    private func build() throws {
        try gen.ip(["link", "add", g0, "address", Self.g0MAC.description, "type", "veth",
                    "peer", "name", f0, "address", Self.f0MAC.description, "netns", fwd.name])
        try fwd.ip(["link", "add", f1, "address", Self.f1MAC.description, "type", "veth",
                    "peer", "name", s0, "address", Self.s0MAC.description, "netns", sinkNS.name])
        try gen.ip(["addr", "add", "198.18.0.2/24", "dev", g0])
        try fwd.ip(["addr", "add", "198.18.0.1/24", "dev", f0])
        try fwd.ip(["addr", "add", "198.18.1.1/24", "dev", f1])
        try sinkNS.ip(["addr", "add", "198.18.1.2/24", "dev", s0])
        for (ns, devices) in [(gen, [g0]), (fwd, [f0, f1]), (sinkNS, [s0])] {
            for device in devices {
                // IPv6 without DAD, router solicitations or RAs: the
                // addresses are usable at once, nothing but the benchmark's
                // own frames crosses the links.
                for setting in ["accept_dad=0", "router_solicitations=0", "accept_ra=0"] {
                    try ns.exec(["sysctl", "-qw", "net.ipv6.conf.\(device).\(setting)"])
                }
                // Complete checksums in software (see PLATFORM: redirected
                // CHECKSUM_PARTIAL packets are never finished); GRO gives the
                // receiving veth NAPI, so it accepts XDP_TX'ed frames.
                try ns.exec(["ethtool", "-K", device, "tx", "off", "gro", "on"])
                try ns.ip(["link", "set", device, "up"])
            }
        }
        // veth advertises ndo_xdp_xmit on a device only while its peer has
        // GRO (or XDP), and recomputes that only when the peer's GRO changes
        // while the peer is up: GRO set on a down device leaves XDP_TX
        // towards it failing with EOPNOTSUPP (xdp_redirect_err). So toggle
        // GRO once everything is up, then make NAPI threaded.
        for (ns, devices) in [(gen, [g0]), (fwd, [f0, f1]), (sinkNS, [s0])] {
            for device in devices {
                try ns.exec(["ethtool", "-K", device, "gro", "off"])
                try ns.exec(["ethtool", "-K", device, "gro", "on"])
                try ns.exec(["sh", "-c", "echo 1 > /sys/class/net/\(device)/threaded"])
            }
        }
        for (ns, device, address) in [(gen, g0, Self.g0Address6), (fwd, f0, Self.f0Address6),
                                      (fwd, f1, Self.f1Address6), (sinkNS, s0, Self.s0Address6)] {
            try ns.ip(["-6", "addr", "add", "\(address)/64", "dev", device, "nodad"])
        }
        try fwd.exec(["sysctl", "-qw", "net.ipv4.conf.all.forwarding=1"])
        try fwd.exec(["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"])
        try fwd.exec(["sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0"])
        try fwd.ip(["neigh", "replace", "198.18.1.2", "lladdr", Self.s0MAC.description, "dev", f1, "nud", "permanent"])
        try fwd.ip(["neigh", "replace", "198.18.0.2", "lladdr", Self.g0MAC.description, "dev", f0, "nud", "permanent"])
        try sinkNS.ip(["neigh", "replace", "198.18.1.1", "lladdr", Self.f1MAC.description, "dev", s0, "nud", "permanent"])
        try fwd.ip(["-6", "neigh", "replace", "\(Self.s0Address6)", "lladdr", Self.s0MAC.description, "dev", f1, "nud", "permanent"])
        try fwd.ip(["-6", "neigh", "replace", "\(Self.g0Address6)", "lladdr", Self.g0MAC.description, "dev", f0, "nud", "permanent"])
        try sinkNS.ip(["-6", "neigh", "replace", "\(Self.f1Address6)", "lladdr", Self.f1MAC.description, "dev", s0, "nud", "permanent"])
        g0Index = try gen.enter { try Interface.named(g0).ifindex }
        try sinkNS.enter { try sink.attach(ifindex: try Interface.named(s0).ifindex) }
        try run("/bin/mkdir", ["-p", bpffs])
        try run("/bin/mount", ["-t", "bpf", "bpf", bpffs])
    }

    /// Where the forwarder's work runs: its interfaces' NAPI kthreads.
    var forwarderNAPI: [Int32] { CPUTime.napiThreads(device: f0) + CPUTime.napiThreads(device: f1) }
    var generatorNAPI: [Int32] { CPUTime.napiThreads(device: g0) + CPUTime.napiThreads(device: s0) }

    /// Pins NAPI kthreads; again after every XDP attach or detach, which
    /// makes veth recreate them.
    func pin(generatorCPU: Int, forwarderCPU: Int) throws {
        try CPUTime.pin(forwarderNAPI, cpu: forwarderCPU)
        try CPUTime.pin(generatorNAPI, cpu: generatorCPU)
        // The sink shares its CPU with the generator, which never stops
        // sending. At a fair share its NAPI falls behind, s0's ring (256
        // frames) overflows, and forwarders would be charged for frames
        // they delivered and the sink lost, burstier senders most. Run
        // first, it takes everything the forwarder sends (see egressDrops).
        try CPUTime.realtime(CPUTime.napiThreads(device: s0), priority: 10)
    }

    /// Frames the forwarder handed to f1 that did not reach the sink (f1's
    /// tx_dropped: s0's ring was full). The measurement's own check that
    /// the sink kept up.
    func egressDrops() throws -> UInt64 {
        // /proc/thread-self/net is the calling thread's namespace.
        let text = try fwd.enter { try String(contentsOfFile: "/proc/thread-self/net/dev", encoding: .utf8) }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == f1 else { continue }
            // Eight receive fields, then transmit: bytes packets errs drop.
            let fields = parts[1].split(separator: " ")
            guard fields.count >= 12, let dropped = UInt64(fields[11]) else { break }
            return dropped
        }
        throw XDPFwdError.state("/proc/net/dev of \(fwd.name): no transmit drop count for \(f1)")
    }

    deinit {
        sink.detach()
        _ = try? run("/bin/umount", [bpffs])
        rmdir(bpffs)
        rmdir("/run/xdpfwd-bench")
        // NetworkNamespace's deinit deletes each namespace (and its veths).
    }
}
