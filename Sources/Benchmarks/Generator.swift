import CXDP
import Glibc
import Packets
import RuleModel
import XDPLoader

/// `xdpfwd gen`: UDP or TCP SYN frames, IPv4 or IPv6, out of one interface,
/// as fast as the host allows or capped at a rate. Two engines emit exactly the same
/// frames (the flow patch is one C function, xfb_gen_patch in
/// xdpfwd_bench.h):
///   - live: BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES running
///     xfb_gen, which rewrites each frame and returns XDP_TX (kernel 5.18+);
///   - afpacket: an AF_PACKET TPACKET_V2 TX ring with PACKET_QDISC_BYPASS,
///     the fallback for kernels without live frames.
public struct Generator {
    public enum Method: String, Sendable, CaseIterable, Codable { case auto, live, afpacket }
    public enum L4: String, Sendable, CaseIterable, Codable { case udp, tcp }

    public struct Options: Sendable {
        public var interface = ""
        public var src: Endpoint = "198.18.0.2:1024"
        public var dst: Endpoint = "198.18.0.1:5000"   // the same family as src
        public var srcMAC: Packet.MAC? = nil   // nil: the interface's
        public var dstMAC: Packet.MAC? = nil   // required
        public var l4 = L4.udp
        public var flows = 1
        public var size = 64                    // frame bytes without FCS
        public var rate = 0.0                   // frames per second; 0: no cap
        public var duration: Double? = nil      // seconds
        public var count: UInt64? = nil
        public var batch = 64
        public var method = Method.auto

        public init() {}

        /// Pure checks, before any syscall.
        public func validate() throws {
            func bad(_ text: String) -> XDPFwdError { .invalidArgument(text) }
            guard !interface.isEmpty else { throw bad("an interface is required") }
            guard dstMAC != nil else { throw bad("--dst-mac is required (the MAC of the next hop, e.g. the forwarder)") }
            guard src.isIPv6 == dst.isIPv6 else { throw bad("source \(src) and destination \(dst) are of different address families") }
            guard (minimumSize...Int(XFB_GEN_MAX_FRAME)).contains(size) else {
                throw bad("--size must be \(minimumSize)-\(XFB_GEN_MAX_FRAME) for \(src.isIPv6 ? "IPv6" : "IPv4") \(l4.rawValue) (frame bytes without FCS), got \(size)")
            }
            guard (1...1_000_000).contains(flows) else { throw bad("--flows must be 1-1000000, got \(flows)") }
            guard src.port > 0, dst.port > 0 else { throw bad("ports must be 1-65535") }
            let span = portSpan
            guard Int(src.addressLow16) + (flows - 1) / span <= 0xFFFF else {
                throw bad("--flows \(flows) from \(src) would run past the source address's last 16 bits")
            }
            guard rate >= 0 else { throw bad("--rate must be >= 0") }
            if let duration { guard duration > 0 && duration <= 86_400 else { throw bad("--duration must be 0-86400 s") } }
            if let count { guard count > 0 else { throw bad("--count must be > 0") } }
            guard duration != nil || count != nil else { throw bad("give --count or --duration (or both)") }
            guard (1...256).contains(batch) else { throw bad("--batch must be 1-256 (the veth ring holds 256)") }
        }

        /// The smallest frame: the Ethernet minimum, or the IPv6 headers'
        /// length (which the generator restores on every frame).
        var minimumSize: Int {
            guard src.isIPv6 else { return Int(XFB_GEN_MIN_FRAME) }
            return Int(l4 == .tcp ? XFB_GEN_HDR_LEN6_TCP : XFB_GEN_HDR_LEN6_UDP)
        }

        /// Header bytes restored and patched per frame (xfb_gen_cfg.hdr_len).
        var headerLength: Int {
            src.isIPv6 ? minimumSize : Int(XFB_GEN_HDR_LEN)
        }

        /// Source ports per source address: flows beyond it move the address on.
        var portSpan: Int { max(1, min(flows, 65536 - Int(src.port))) }
    }

    public struct Result: Sendable, Codable {
        public let method: Method
        public let sent: UInt64
        public let seconds: Double
        public var pps: Double { seconds > 0 ? Double(sent) / seconds : 0 }
    }

    public let options: Options
    public init(options: Options) { self.options = options }

    /// The first frame (flow 0); every other frame differs in source port
    /// (and, past the port span, the source address) and checksums.
    public func template(srcMAC: Packet.MAC) -> [UInt8] {
        let o = options
        switch (o.src, o.dst, o.l4) {
        case (.v4(let src), .v4(let dst), .udp):
            let payload = [UInt8](repeating: 0x5a, count: max(0, o.size - 42))
            return Packet.udp(src: src, dst: dst, payload: payload, srcMAC: srcMAC, dstMAC: o.dstMAC!).bytes
        case (.v4(let src), .v4(let dst), .tcp):
            return Packet.tcp(src: src, dst: dst, flags: [.syn], srcMAC: srcMAC, dstMAC: o.dstMAC!)
                .padded(toFrameLength: o.size).bytes
        case (.v6(let src), .v6(let dst), .udp):
            let payload = [UInt8](repeating: 0x5a, count: max(0, o.size - Int(XFB_GEN_HDR_LEN6_UDP)))
            return Packet6.udp(src: src, dst: dst, payload: payload, srcMAC: srcMAC, dstMAC: o.dstMAC!).bytes
        case (.v6(let src), .v6(let dst), .tcp):
            // Padded like the IPv4 SYN: a trailer after the packet, no payload.
            var packet = Packet6.tcp(src: src, dst: dst, flags: [.syn], srcMAC: srcMAC, dstMAC: o.dstMAC!)
            packet.trailer = [UInt8](repeating: 0, count: max(0, o.size - Int(XFB_GEN_HDR_LEN6_TCP)))
            return packet.bytes
        default:
            preconditionFailure("validate() refuses mixed families")
        }
    }

    func config(template: [UInt8]) -> xfb_gen_cfg {
        var cfg = xfb_gen_cfg()
        let ipv6 = options.src.isIPv6
        cfg.flows = UInt32(options.flows)
        cfg.port_span = UInt32(options.portSpan)
        cfg.sport_base = options.src.port
        cfg.l4_csum_off = UInt16(options.l4 == .tcp ? (ipv6 ? XFB_OFF6_TCP_CSUM : XFB_OFF_TCP_CSUM)
                                                    : (ipv6 ? XFB_OFF6_UDP_CSUM : XFB_OFF_UDP_CSUM))
        cfg.hdr_len = UInt16(options.headerLength)
        withUnsafeMutableBytes(of: &cfg.hdr) { hdr in
            for i in 0..<options.headerLength { hdr[i] = template[i] }
        }
        return cfg
    }

    /// Sends from the interface in the calling thread's network namespace.
    /// `progress` is called about once a second with frames sent so far.
    public func run(progress: (UInt64, Double) -> Void = { _, _ in }) throws -> Result {
        try options.validate()
        let interface = try Interface.named(options.interface)
        var mac = [UInt8](repeating: 0, count: 6)
        try check(cxdp_if_hwaddr(options.interface, &mac), "ioctl(SIOCGIFHWADDR)", options.interface)
        let frame = template(srcMAC: options.srcMAC ?? Packet.MAC(mac))
        switch options.method {
        case .live:
            return try runLive(interface, frame, progress)
        case .afpacket:
            return try runAFPacket(interface, frame, progress)
        case .auto:
            do {
                return try runLive(interface, frame, progress)
            } catch XDPFwdError.syscall(let error) where [EINVAL, EOPNOTSUPP, 524 /* ENOTSUPP */].contains(error.errno) {
                // Kernels before 5.18 refuse BPF_F_TEST_XDP_LIVE_FRAMES.
                return try runAFPacket(interface, frame, progress)
            }
        }
    }

    /// Frames per engine call: small enough for a smooth rate cap and a
    /// prompt stop, large enough that the call overhead does not show.
    private var chunk: UInt64 {
        let byRate = options.rate > 0 ? UInt64(max(1, options.rate / 200)) : 1 << 14
        return max(1, min(byRate, 1 << 14))
    }

    /// Calls send(n) until count or duration is reached, at most at rate.
    private func pace(_ progress: (UInt64, Double) -> Void, _ send: (_ first: UInt64, _ n: UInt32) throws -> UInt64) throws -> (UInt64, Double) {
        let start = cxdp_monotonic_ns()
        let limit = options.count ?? UInt64.max
        let deadline = options.duration.map { start + UInt64($0 * 1e9) } ?? UInt64.max
        var sent: UInt64 = 0
        var lastReport = start
        while sent < limit {
            var now = cxdp_monotonic_ns()
            if now >= deadline { break }
            if options.rate > 0 {
                let due = start + UInt64(Double(sent) / options.rate * 1e9)
                if due > now {
                    sleepNanoseconds(due - now)
                    now = cxdp_monotonic_ns()
                }
            }
            let n = UInt32(min(chunk, limit - sent))
            sent += try send(sent, n)
            if now - lastReport >= 1_000_000_000 {
                progress(sent, Double(now - start) / 1e9)
                lastReport = now
            }
        }
        return (sent, Double(cxdp_monotonic_ns() - start) / 1e9)
    }

    private func runLive(_ interface: Interface, _ frame: [UInt8], _ progress: (UInt64, Double) -> Void) throws -> Result {
        let object = try BenchObject()
        let program = try object.program("xfb_gen")
        let cfgMap = try BPFMap<UInt32, xfb_gen_cfg>(fd: object.map("xfb_gen_cfg"), name: "xfb_gen_cfg")
        // Attached to its own interface, the program is already in the XDP
        // dispatcher, so each test run skips two RCU waits. Not fatal if the
        // interface carries another program: slower, same frames.
        let link = try? attachXDP(program, ifindex: interface.ifindex, what: "generator \(interface.name)")
        defer { withExtendedLifetime(link) {} }
        var cfg = config(template: frame)
        cfg.armed = 1
        try cfgMap.update(0, cfg)
        defer {
            cfg.armed = 0
            try? cfgMap.update(0, cfg)
        }
        let (sent, seconds) = try pace(progress) { _, n in
            let rc = frame.withUnsafeBytes {
                cxdp_test_run_xdp_live(program.raw, $0.baseAddress, UInt32($0.count), interface.ifindex, n, UInt32(options.batch))
            }
            try check(rc, "bpf_prog_test_run_opts(BPF_F_TEST_XDP_LIVE_FRAMES)", interface.name)
            return UInt64(n)
        }
        return Result(method: .live, sent: sent, seconds: seconds)
    }

    private func runAFPacket(_ interface: Interface, _ frame: [UInt8], _ progress: (UInt64, Double) -> Void) throws -> Result {
        var ring = cxdp_txring()
        try check(cxdp_txring_open(Int32(interface.ifindex), 1, &ring), "AF_PACKET TX ring", interface.name)
        defer { cxdp_txring_close(&ring) }
        var cfg = config(template: frame)
        let (sent, seconds) = try pace(progress) { first, n in
            var done: UInt64 = 0
            while done < UInt64(n) {
                let part = UInt32(min(UInt64(n) - done, 256))
                let rc = frame.withUnsafeBytes {
                    cxdp_txring_send(&ring, $0.baseAddress, UInt32($0.count), &cfg, first + done, part)
                }
                try check(rc, "send(AF_PACKET TX ring)", interface.name)
                done += UInt64(rc)
            }
            return done
        }
        return Result(method: .afpacket, sent: sent, seconds: seconds)
    }
}

extension Generator {
    /// A generator endpoint: "198.18.0.2:1024" or "[2001:2::2]:1024".
    public enum Endpoint: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
        case v4(Packet.Endpoint)
        case v6(Packet6.Endpoint)

        /// Parses either form; nil for anything else.
        public init?(parsing text: String) {
            guard let endpoint = try? RuleModel.Endpoint(parsing: text) else { return nil }
            switch endpoint.address {
            case .v4(let address): self = .v4(Packet.Endpoint(Packet.Address(address.value), endpoint.port))
            case .v6(let address): self = .v6(Packet6.Endpoint(Packet6.Address(address.bytes), endpoint.port))
            }
        }

        public init(stringLiteral text: String) {
            guard let endpoint = Endpoint(parsing: text) else { preconditionFailure("not ADDR:PORT or [ADDR]:PORT: \(text)") }
            self = endpoint
        }

        public var isIPv6: Bool { if case .v6 = self { true } else { false } }

        public var port: UInt16 {
            switch self {
            case .v4(let e): e.port
            case .v6(let e): e.port
            }
        }

        /// The last 16 bits of the address, which flows past the port span advance.
        var addressLow16: UInt16 {
            switch self {
            case .v4(let e): UInt16(truncatingIfNeeded: e.address.value)
            case .v6(let e): UInt16(e.address.bytes[14]) << 8 | UInt16(e.address.bytes[15])
            }
        }

        public var description: String {
            switch self {
            case .v4(let e): e.description
            case .v6(let e): e.description
            }
        }
    }
}

/// Sleeps, resuming after signals.
func sleepNanoseconds(_ ns: UInt64) {
    var pause = timespec(tv_sec: Int(ns / 1_000_000_000), tv_nsec: Int(ns % 1_000_000_000))
    var rest = timespec()
    while nanosleep(&pause, &rest) != 0 && errno == EINTR { pause = rest }
}
