import CXDP
import FastPath
import Glibc
import Packets
import RuleModel
import Testing
import XDPLoader

/// Two data planes side by side in one TestRunBed namespace (with its VLAN
/// uppers): A is the BPF program (BPF_PROG_TEST_RUN on the bed's private
/// maps), B is FastPath's packet function on a second private set of maps.
/// Both get the same rules, config, interfaces and VLAN uppers; each frame
/// goes through both (FastPath with `headroom` writable bytes in front of
/// it, the most a tag push needs), and
/// `feed` asserts identical verdicts, output bytes and counters (and,
/// every `flowCheckEvery` frames, identical conntrack tables).
///
/// Each frame also goes through the TC classifier of FastPath interfaces
/// (xdpfwd_afp_tc, BPF_PROG_TEST_RUN on A's maps, before A runs: the
/// classifier sees a packet before the forwarder does), which must take
/// (TC_ACT_SHOT) exactly the frames FastPath does not leave to the stack:
/// those it forwards or drops, and the documented FIB-failure passes
/// (pass_no_route, pass_fwd_disabled).
///
/// The one random choice, the SNAT port's probe start, is made
/// deterministic by feeding FastPath the BPF program's outcome: after A
/// runs, the forward entry for the frame's tuple names the port A claimed;
/// with A's and B's tables identical, starting B's probe at that port
/// claims the same port (and when A created no flow, the start does not
/// matter: exhaustion cases use ranges of at most XDPFWD_PORT_PROBES ports,
/// which every start probes completely).
final class DifferentialBed {
    let bed: TestRunBed
    let fastPath: Datapath
    var state: MapState
    let publisher: CounterPublisher
    var frames = 0
    var flowCheckEvery = 50
    var verdicts: [String: Int] = [:]
    /// Frames that went out with a moved head (tags pushed or popped).
    var headMoves = 0
    /// Bytes FastPath may write in front of a frame: two pushed tags.
    static let headroom = 8

    private static let counter = Counter()

    /// flowCacheSlots > 0 runs FastPath with the forwarder's conntrack cache.
    init(flowCacheSlots: Int = 0) throws {
        bed = try TestRunBed(namespaceName: "xfp-\(getpid())-\(Self.counter.next())", vlans: true)
        (fastPath, _) = try Datapath.load()
        for (ifindex, record) in try bed.maps.ifaces.entries() {
            try fastPath.maps.ifaces.update(ifindex, record)
        }
        for (address, ifindex) in try bed.maps.laddrs.entries() {
            try fastPath.maps.laddrs.update(address, ifindex)
        }
        for (ifindex, upper) in try bed.maps.vlans.entries() {
            try fastPath.maps.vlans.update(ifindex, upper)
        }
        for (address, ifindex) in try bed.maps.laddrs6.entries() {
            try fastPath.maps.laddrs6.update(address, ifindex)
        }
        state = MapState(datapath: fastPath,
                         egressInterfaces: [bed.inIndex, bed.outIndex], flowCacheSlots: flowCacheSlots)
        publisher = CounterPublisher(statsFD: fastPath.maps.fpStats.fd.raw, ruleStatsFD: fastPath.maps.fpRuleStats.fd.raw,
                                     keepAlive: [fastPath.maps.fpStats.fd, fastPath.maps.fpRuleStats.fd],
                                     workers: [state.counters])
    }

    var inIndex: UInt32 { bed.inIndex }
    var outIndex: UInt32 { bed.outIndex }

    func addRule(_ proto: String, _ listen: String, _ backend: String, snat: String = "auto") throws {
        let rule = try ForwardingRule.parse(protocol: proto, listen: listen, backends: backend.split(separator: " ").map(String.init),
                                            snat: snat)
        let a = try RuleTable(maps: bed.maps).add(rule).0
        let b = try RuleTable(maps: fastPath.maps).add(rule).0
        #expect(a.id == b.id)
    }

    func deleteRule(_ proto: String, _ listen: String) throws {
        let key = RuleKey(protocol: try TransportProtocol(parsing: proto), listen: try Endpoint(parsing: listen))
        _ = try RuleTable(maps: bed.maps).delete(key)
        _ = try RuleTable(maps: fastPath.maps).delete(key)
    }

    func setConfig(_ update: (inout xdpfwd_config) -> Void) throws {
        var config = try bed.maps.config.lookup(0) ?? xdpfwd_config()
        update(&config)
        try bed.maps.config.update(0, config)
        try fastPath.maps.config.update(0, config)
    }

    func addNeighbour(_ address: String, _ mac: String, dev: String = "in0") throws {
        try bed.namespace.ip(["neigh", "add", address, "lladdr", mac, "dev", dev, "nud", "permanent"])
    }

    struct Outcome {
        let verdict: XDPVerdict
        let output: [UInt8]
        let fastPath: Verdict
    }

    /// Runs one frame through both; records an issue on any difference.
    @discardableResult
    func feed(_ frame: [UInt8], ingress: UInt32? = nil, _ label: @autoclosure () -> String = "",
              sourceLocation: SourceLocation = #_sourceLocation) throws -> Outcome {
        let ingress = ingress ?? bed.inIndex
        let taken = try classifierTakes(frame)
        let fibPassesBefore = state.counters.global(XDPFWD_STAT_PASS_NO_ROUTE) + state.counters.global(XDPFWD_STAT_PASS_FWD_DISABLED)
        let a = try bed.run(frame, ingress: ingress)
        state.fixedRandom = try probeStart(for: frame)

        var buffer = [UInt8](repeating: 0xEE, count: Self.headroom) + frame
        let verdict = try bed.namespace.enter {
            buffer.withUnsafeMutableBytes { bytes in
                PacketFunction.run(bytes.baseAddress! + Self.headroom, length: frame.count, headroom: Self.headroom,
                                   ingress: ingress, state: &state)
            }
        }
        // The frame FastPath would send: from where the verdict says it
        // starts now (tags pushed into the headroom, or popped).
        let output = Array(buffer[(Self.headroom + verdict.offset)...])
        frames += 1
        verdicts["\(verdict.action)", default: 0] += 1
        if verdict.offset != 0 { headMoves += 1 }
        let context = "frame \(frames) \(label()): \(Self.describe(frame))"

        switch verdict.action {
        case .pass: #expect(a.verdict == .pass && a.output == output, "\(context): XDP \(a.verdict), FastPath pass", sourceLocation: sourceLocation)
        case .drop: #expect(a.verdict == .drop, "\(context): XDP \(a.verdict), FastPath drop", sourceLocation: sourceLocation)
        case .tx: #expect(a.verdict == .tx, "\(context): XDP \(a.verdict), FastPath tx", sourceLocation: sourceLocation)
        case .redirect: #expect(a.verdict == .redirect, "\(context): XDP \(a.verdict), FastPath \(verdict)", sourceLocation: sourceLocation)
        case .slowpath:
            var meta = xdpfwd_meta(magic: XDPFWD_META_MAGIC, ifindex: verdict.ifindex)
            let metaBytes = withUnsafeBytes(of: &meta) { Array($0) }
            #expect(a.verdict == .pass && a.output == metaBytes + output, "\(context): XDP \(a.verdict) \(a.output.count) bytes, FastPath \(verdict)",
                    sourceLocation: sourceLocation)
        }
        if verdict.action != .pass && verdict.action != .slowpath {
            #expect(a.output == output, "\(context): bytes differ\n  XDP      \(Self.describe(a.output))\n  FastPath \(Self.describe(output))",
                    sourceLocation: sourceLocation)
        }
        let fibPassed = state.counters.global(XDPFWD_STAT_PASS_NO_ROUTE) + state.counters.global(XDPFWD_STAT_PASS_FWD_DISABLED)
            != fibPassesBefore
        let fastPathTakes = verdict.action != .pass || fibPassed
        if let taken {
            #expect(taken == fastPathTakes, "\(context): the TC classifier \(taken ? "took" : "left") it, FastPath \(verdict)",
                    sourceLocation: sourceLocation)
        } else {
            #expect(!fastPathTakes, "\(context): FastPath \(verdict) on a frame shorter than its headers", sourceLocation: sourceLocation)
        }
        try expectSameCounters(context, sourceLocation: sourceLocation)
        if frames % flowCheckEvery == 0 { try expectSameFlows(context, sourceLocation: sourceLocation) }
        return Outcome(verdict: a.verdict, output: a.output, fastPath: verdict)
    }

    /// The TC classifier's decision on A's maps: true for TC_ACT_SHOT; nil
    /// for a frame the kernel's skb test run refuses (EINVAL): no more than
    /// an Ethernet header, or an IPv4/IPv6 ethertype before a whole
    /// IPv4/IPv6 header. The classifier gives up on those at its first
    /// load anyway.
    private func classifierTakes(_ frame: [UInt8]) throws -> Bool? {
        var output = [UInt8](repeating: 0, count: frame.count + 256)
        var outputLength = UInt32(output.count)
        var retval: UInt32 = 0, duration: UInt32 = 0
        let result = frame.withUnsafeBytes { input in
            output.withUnsafeMutableBytes { out in
                cxdp_test_run_xdp(bed.datapath.afpTCProgram.raw, input.baseAddress, UInt32(input.count), out.baseAddress,
                                  &outputLength, 0, 1, &retval, &duration)
            }
        }
        let etherType = frame.count >= 14 ? UInt16(frame[12]) << 8 | UInt16(frame[13]) : 0
        let short = frame.count <= 14 || (etherType == 0x0800 && frame.count < 34) || (etherType == 0x86DD && frame.count < 54)
        if result == -EINVAL && short { return nil }
        try check(result, "bpf_prog_test_run_opts", "xdpfwd_afp_tc on \(frame.count) bytes: \(Self.describe(frame))")
        #expect(retval == UInt32(bitPattern: -1) || retval == 2, "xdpfwd_afp_tc returned \(retval), not TC_ACT_UNSPEC or TC_ACT_SHOT")
        return retval == 2
    }

    /// The IPv6 ethertype, behind up to two VLAN tags.
    static func isIPv6(_ frame: [UInt8]) -> Bool {
        var at = 12
        for _ in 0..<3 {
            guard frame.count >= at + 2 else { return false }
            let type = UInt16(frame[at]) << 8 | UInt16(frame[at + 1])
            if type == 0x86DD { return true }
            guard type == 0x8100 || type == 0x88A8 else { return false }
            at += 4
        }
        return false
    }

    /// One line about either family's frame.
    static func describe(_ frame: [UInt8]) -> String {
        isIPv6(frame) ? Packet6.describe(frame) : Packet.describe(frame)
    }

    /// An IPv6 address as the maps hold it: four words in network order.
    static func words(_ address: Packet6.Address) -> (UInt32, UInt32, UInt32, UInt32) {
        address.bytes.withUnsafeBytes {
            ($0.loadUnaligned(fromByteOffset: 0, as: UInt32.self), $0.loadUnaligned(fromByteOffset: 4, as: UInt32.self),
             $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self), $0.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
        }
    }

    /// The SNAT port A's forward entry for the frame's tuple names, if any.
    private func claimedPort(for frame: [UInt8]) throws -> UInt16? {
        if Self.isIPv6(frame) {
            guard let packet = try? Packet6.decode(frame), let sport = packet.tcp?.sport ?? packet.udp?.sport,
                  let dport = packet.tcp?.dport ?? packet.udp?.dport else { return nil }
            var key = xdpfwd_flow6_key()
            key.saddr = Self.words(packet.ip.src)
            key.daddr = Self.words(packet.ip.dst)
            key.sport = sport.bigEndian
            key.dport = dport.bigEndian
            key.proto = packet.upperLayer
            guard let entry = try bed.maps.flows6.lookup(key), entry.direction == UInt8(XDPFWD_DIR_FORWARD.rawValue) else { return nil }
            return UInt16(bigEndian: entry.new_sport)
        }
        guard let packet = try? Packet.decode(frame), let sport = packet.tcp?.sport ?? packet.udp?.sport,
              let dport = packet.tcp?.dport ?? packet.udp?.dport else { return nil }
        var key = xdpfwd_flow_key()
        key.saddr = packet.ip.src.value.bigEndian
        key.daddr = packet.ip.dst.value.bigEndian
        key.sport = sport.bigEndian
        key.dport = dport.bigEndian
        key.proto = packet.ipProtocol
        guard let entry = try bed.maps.flows.lookup(key), entry.direction == UInt8(XDPFWD_DIR_FORWARD.rawValue) else { return nil }
        return UInt16(bigEndian: entry.new_sport)
    }

    /// The random value that makes FastPath's probe start at the port A claimed.
    private func probeStart(for frame: [UInt8]) throws -> UInt32? {
        guard let claimed = try claimedPort(for: frame) else { return 0 }
        let config = try bed.maps.config.lookup(0) ?? xdpfwd_config()
        var low = UInt32(config.snat_port_min != 0 ? config.snat_port_min : UInt16(XDPFWD_DEFAULT_SNAT_PORT_MIN))
        let high = UInt32(config.snat_port_max != 0 ? config.snat_port_max : UInt16(XDPFWD_DEFAULT_SNAT_PORT_MAX))
        if low > high { low = UInt32(XDPFWD_DEFAULT_SNAT_PORT_MIN) }
        let port = UInt32(claimed)
        return port >= low ? port - low : 0
    }

    func expectSameCounters(_ context: @autoclosure () -> String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(publisher.publish() == 0)
        let a = try CountersReader(maps: bed.maps).snapshot()
        let b = try CountersReader(maps: fastPath.maps).snapshot()
        let differing = zip(a.global, b.global).filter { $0.value != $1.value }.map { "\($0.name) XDP \($0.value) FastPath \($1.value)" }
        #expect(differing.isEmpty, "\(context()): counters differ: \(differing)", sourceLocation: sourceLocation)
        let ruleDiffs = zip(a.rules, b.rules).filter { $0.forward != $1.forward || $0.reply != $1.reply }.map { "\($0.0.rule.rule): XDP \($0.0.forward)/\($0.0.reply) FastPath \($0.1.forward)/\($0.1.reply)" }
        #expect(a.rules.count == b.rules.count && ruleDiffs.isEmpty, "\(context()): rule counters differ: \(ruleDiffs)",
                sourceLocation: sourceLocation)
    }

    /// Conntrack tables equal, packet and byte counts included, except the
    /// timestamps (two clocks read at slightly different moments). FastPath's
    /// cached counts are flushed first, as its worker does periodically.
    func expectSameFlows(_ context: @autoclosure () -> String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        state.flushFlowCounters()
        func table(_ maps: DatapathMaps) throws -> [[UInt8]: [UInt8]] {
            var result: [[UInt8]: [UInt8]] = [:]
            for (key, value) in try maps.flows.entries() {
                var value = value
                value.created = 0; value.last_seen_ns = 0
                result[withUnsafeBytes(of: key) { Array($0) }] = withUnsafeBytes(of: value) { Array($0) }
            }
            return result
        }
        func table6(_ maps: DatapathMaps) throws -> [[UInt8]: [UInt8]] {
            var result: [[UInt8]: [UInt8]] = [:]
            for (key, value) in try maps.flows6.entries() {
                var value = value
                value.created = 0; value.last_seen_ns = 0
                result[withUnsafeBytes(of: key) { Array($0) }] = withUnsafeBytes(of: value) { Array($0) }
            }
            return result
        }
        let a6 = try table6(bed.maps), b6 = try table6(fastPath.maps)
        #expect(a6.count == b6.count, "\(context()): XDP has \(a6.count) IPv6 conntrack entries, FastPath \(b6.count)",
                sourceLocation: sourceLocation)
        let differing6 = a6.filter { b6[$0.key] != $0.value }.count
        #expect(differing6 == 0, "\(context()): \(differing6) IPv6 conntrack entries differ", sourceLocation: sourceLocation)
        let a = try table(bed.maps), b = try table(fastPath.maps)
        #expect(a.count == b.count, "\(context()): XDP has \(a.count) conntrack entries, FastPath \(b.count)", sourceLocation: sourceLocation)
        let differing = a.filter { b[$0.key] != $0.value }.count
        #expect(differing == 0, "\(context()): \(differing) conntrack entries differ", sourceLocation: sourceLocation)
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
