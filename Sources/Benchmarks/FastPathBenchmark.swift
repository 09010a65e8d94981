import CXDP
import FastPath
import Glibc
import Packets
import RuleModel
import XDPLoader

/// `xdpfwd bench afpacket`: what FastPath's packet function costs per packet
/// of an established UDP flow (64-byte frames, full NAT), in-process on a
/// private data plane inside a throwaway namespace, with the forwarder's
/// conntrack cache and without it (one bpf(2) lookup per packet), the same
/// flow's VLAN variants with the cache (802.1Q 100 in, 200 out: a tag
/// rewrite; untagged in, QinQ out: an 8-byte push into the headroom), an
/// IPv6 flow (NAT66) with the cache, and
/// how many heap allocations the packet path makes (the thread's count from
/// CXDP's malloc counter, before and after). Each call first restores the
/// frame from a template, as a ring would hand over a fresh one.
public struct FastPathBenchmark {
    public struct Options: Sendable {
        public var runs = 2_000_000
        public var rounds = 10
        public var cpu: Int? = 0
        public init() {}
    }

    public struct Row: Sendable {
        public let name: String
        public let packets: Int
        public let nsPerPacket: Double
        public let allocations: UInt64
        public var allocationsPerPacket: Double { Double(allocations) / Double(max(packets, 1)) }
    }

    public let options: Options
    public init(options: Options) { self.options = options }

    public func run(progress: (String) -> Void) throws -> [Row] {
        guard options.runs >= 1000, options.rounds >= 1, options.runs % options.rounds == 0 else {
            throw XDPFwdError.invalidArgument("--runs must be >= 1000 and a multiple of --rounds")
        }
        let bed = try TestRunBed(namespaceName: "xfp-bench-\(getpid())", vlans: true)
        let (datapath, _) = try Datapath.load()
        for (ifindex, record) in try bed.maps.ifaces.entries() { try datapath.maps.ifaces.update(ifindex, record) }
        for (ifindex, upper) in try bed.maps.vlans.entries() { try datapath.maps.vlans.update(ifindex, upper) }
        // See TestRunBed.VLANUpper: in0.100 -> out0.200, and in0 -> out0.300.30.
        for (listen, backend) in [("198.18.0.1:5000", "198.18.1.2:6000"), ("198.18.2.1:5001", "198.18.3.2:6001"),
                                  ("198.18.0.1:5002", "198.18.4.2:6002")] {
            try RuleTable(maps: datapath.maps).add(try ForwardingRule.parse(protocol: "udp", listen: listen, backend: backend))
        }
        let template = Packet.udp(src: "198.18.0.2:40000", dst: "198.18.0.1:5000", payload: Array(repeating: 0x5A, count: 18),
                                  srcMAC: "02:00:00:00:00:02", dstMAC: "02:00:00:00:00:01").bytes
        let rewrite = Packet.udp(src: "198.18.2.2:40000", dst: "198.18.2.1:5001", payload: Array(repeating: 0x5A, count: 18),
                                 srcMAC: "02:00:00:00:02:02", dstMAC: "02:00:00:00:02:01").tagged(.dot1q(100)).bytes
        let push = Packet.udp(src: "198.18.0.2:40000", dst: "198.18.0.1:5002", payload: Array(repeating: 0x5A, count: 18),
                              srcMAC: "02:00:00:00:00:02", dstMAC: "02:00:00:00:00:01").bytes
        let rule6 = try ForwardingRule.parse(protocol: "udp", listen: "[2001:2::1]:5000", backend: "[2001:2:0:1::2]:6000")
        try RuleTable(maps: datapath.maps).add(rule6)
        // 64 bytes too: 14 + 40 + 8 + 2.
        let template6 = Packet6.udp(src: "[2001:2::2]:40000", dst: "[2001:2::1]:5000", payload: [0x5A, 0x5A],
                                    srcMAC: "02:00:00:00:00:02", dstMAC: "02:00:00:00:00:01").bytes
        let egress = [bed.inIndex, bed.outIndex]
        return try bed.namespace.enter {
            if let cpu = options.cpu { try check(cxdp_pin_thread(Int32(cpu)), "sched_setaffinity", "cpu \(cpu)") }
            var rows: [Row] = []
            for (name, slots, frame) in [("packet function, conntrack cache (the forwarder)", 8192, template),
                                         ("packet function, bpf(2) lookup per packet", 0, template),
                                         ("802.1Q 100 -> 200 tag rewrite, conntrack cache", 8192, rewrite),
                                         ("untagged -> QinQ push (8 bytes), conntrack cache", 8192, push),
                                         ("IPv6 packet function, conntrack cache", 8192, template6)] {
                var state = MapState(datapath: datapath, egressInterfaces: egress,
                                     flowCacheSlots: slots)
                let row = try measure(name, template: frame, ingress: bed.inIndex, state: &state)
                progress(String(format: "%@: %.1f ns/packet, %llu allocations in %d packets", row.name, row.nsPerPacket,
                                row.allocations, row.packets))
                rows.append(row)
            }
            return rows
        }
    }

    private func measure(_ name: String, template: [UInt8], ingress: UInt32, state: inout MapState) throws -> Row {
        // 14 bytes in front of the frame, as a ring frame has.
        let headroom = 14
        let allocation = UnsafeMutableRawPointer.allocate(byteCount: 2048 + headroom, alignment: 64)
        defer { allocation.deallocate() }
        let buffer = allocation + headroom
        let length = template.count
        let templateCopy = UnsafeMutableRawPointer.allocate(byteCount: length, alignment: 64)
        defer { templateCopy.deallocate() }
        template.withUnsafeBytes { templateCopy.copyMemory(from: $0.baseAddress!, byteCount: length) }

        // The first packet creates the flow; the rest are established.
        buffer.copyMemory(from: templateCopy, byteCount: length)
        let first = state.process(buffer, length: length, headroom: headroom, ingress: ingress)
        guard first.action == .redirect else { throw XDPFwdError.state("bench flow not forwarded: \(first)") }
        let perRound = options.runs / options.rounds
        var best = Double.infinity
        var allocations: UInt64 = 0
        var packets = 0
        for _ in 0..<(options.rounds + 1) {  // round 0 warms up
            let before = cxdp_thread_allocations()
            let start = monotonicNs()
            var redirected = 0
            for _ in 0..<perRound {
                buffer.copyMemory(from: templateCopy, byteCount: length)
                let verdict = state.process(buffer, length: length, headroom: headroom, ingress: ingress)
                redirected &+= verdict.action == .redirect ? 1 : 0
            }
            let elapsed = monotonicNs() - start
            let after = cxdp_thread_allocations()
            guard redirected == perRound else { throw XDPFwdError.state("\(perRound - redirected) packets not redirected") }
            if packets > 0 || best != .infinity {
                allocations &+= after &- before
                packets += perRound
            }
            best = min(best, Double(elapsed) / Double(perRound))
        }
        return Row(name: name, packets: packets, nsPerPacket: best, allocations: allocations)
    }

    private func monotonicNs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
