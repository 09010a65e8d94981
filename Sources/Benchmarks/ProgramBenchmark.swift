import CXDP
import Glibc
import Packets
import RuleModel
import XDPLoader

/// `xdpfwd bench prog`: the per-packet cost of the XDP program measured by
/// BPF_PROG_TEST_RUN, next to an empty (XDP_PASS) program in the same run.
///
/// Each call runs one packet once (repeat 1): the forwarder rewrites its
/// input, so a repeated run would not see the same packet again. The kernel
/// times each call around the program alone; averaging over many calls and
/// subtracting the empty program's average leaves the program's own cost.
/// Configurations are interleaved round by round so that a change in the
/// host's state (the vCPUs move between shared and split caches here) hits
/// every figure alike.
public struct ProgramBenchmark {
    public struct Options: Sendable {
        public var runs = 1_000_000          // calls per figure (empty, established)
        public var newFlows = 20_000         // distinct new flows per rule count
        public var ruleCounts = [1, 100_000]
        public var rounds = 10
        public var cpu: Int? = 0

        public init() {}

        public func validate() throws {
            guard (1_000...100_000_000).contains(runs) else { throw XDPFwdError.invalidArgument("--runs must be 1000-100000000, got \(runs)") }
            guard (rounds...40_000).contains(newFlows) else {
                throw XDPFwdError.invalidArgument("--new-flows must be \(rounds)-40000 (SNAT ports of one backend), got \(newFlows)")
            }
            guard (1...100).contains(rounds), runs % rounds == 0 else {
                throw XDPFwdError.invalidArgument("--rounds must be 1-100 and divide --runs, got \(rounds)")
            }
            guard !ruleCounts.isEmpty, ruleCounts.allSatisfy({ (1...100_000).contains($0) }) else {
                throw XDPFwdError.invalidArgument("rule counts must be 1-100000")
            }
        }
    }

    public struct Row: Sendable, Codable {
        public let rules: Int
        public var emptyNs: Double
        public var establishedNs: Double
        public var newFlowNs: Double
        /// The same established TCP flow over IPv6 (NAT66), in the same rounds.
        public var established6Ns: Double = 0
        /// An established flow and new flows of a 16-backend Maglev rule.
        public var establishedMaglevNs: Double = 0
        public var newFlowMaglevNs: Double = 0
        public var establishedMaglevCostNs: Double { establishedMaglevNs - emptyNs }
        public var newFlowMaglevCostNs: Double { newFlowMaglevNs - emptyNs }
        /// An established IPv4 TCP flow from 802.1Q VLAN 100 to VLAN 200
        /// (tag rewritten in place), in the same rounds.
        public var establishedVLANNs: Double = 0
        /// An established IPv4 TCP flow from an untagged port into QinQ
        /// (802.1ad 300 + 802.1Q 30: two tags pushed, the head moves).
        public var establishedQinQNs: Double = 0
        public var establishedCostNs: Double { establishedNs - emptyNs }
        public var established6CostNs: Double { established6Ns - emptyNs }
        public var establishedVLANCostNs: Double { establishedVLANNs - emptyNs }
        public var establishedQinQCostNs: Double { establishedQinQNs - emptyNs }
        public var newFlowCostNs: Double { newFlowNs - emptyNs }
    }

    public let options: Options
    public init(options: Options) { self.options = options }

    /// The listen endpoint measured; filler rules never match it.
    static let listen = "198.18.0.1:8080"
    static let backend = "198.18.1.2:8000"
    /// The Maglev rule measured: 16 backends (one address, 16 ports).
    static let maglevListen = "198.18.0.1:8081"
    static let maglevBackends = (0..<16).map { "198.18.1.2:\(9000 + $0)" }

    public func run(progress: (String) -> Void) throws -> [Row] {
        try options.validate()
        if let cpu = options.cpu { try pinCurrentThread(to: cpu) }
        let beds = try options.ruleCounts.enumerated().map { index, count in
            progress("setting up a test bed with \(count) rule(s)")
            let bed = try TestRunBed(namespaceName: "xdpfwd-bench-\(getpid())-\(index)", vlans: true)
            try Self.installRules(count: count, in: bed)
            return bed
        }
        let established = Packet.tcp(src: "198.18.0.2:40000", dst: "198.18.0.1:8080", flags: [.ack],
                                     srcMAC: "02:00:00:00:00:02", dstMAC: "02:00:00:00:00:01").padded(toFrameLength: 60).bytes
        let established6 = Packet6.tcp(src: "[2001:2::2]:40000", dst: "[2001:2::1]:8080", flags: [.ack],
                                       srcMAC: "02:00:00:00:00:02", dstMAC: "02:00:00:00:00:01").bytes
        let establishedMaglev = Packet.tcp(src: "198.18.0.2:40000", dst: "198.18.0.1:8081", flags: [.ack],
                                           srcMAC: "02:00:00:00:00:02", dstMAC: "02:00:00:00:00:01").padded(toFrameLength: 60).bytes
        // See TestRunBed.VLANUpper: in0.100 -> out0.200, and in0 (untagged) -> out0.300.30.
        let establishedVLAN = Packet.tcp(src: "198.18.2.2:40000", dst: "198.18.2.1:8080", flags: [.ack],
                                         srcMAC: "02:00:00:00:02:02", dstMAC: "02:00:00:00:02:01")
            .tagged(.dot1q(100)).padded(toFrameLength: 64).bytes
        let establishedQinQ = Packet.tcp(src: "198.18.0.2:40000", dst: "198.18.0.1:8082", flags: [.ack],
                                         srcMAC: "02:00:00:00:00:02", dstMAC: "02:00:00:00:00:01").padded(toFrameLength: 60).bytes
        for bed in beds {
            // The first packet creates the flow every later call hits.
            guard try bed.run(established).verdict == .redirect, try bed.run(established6).verdict == .redirect,
                  try bed.run(establishedMaglev).verdict == .redirect, try bed.run(establishedVLAN).verdict == .redirect,
                  try bed.run(establishedQinQ).verdict == .redirect else {
                throw XDPFwdError.state("benchmark flow was not forwarded: the test bed is broken")
            }
        }
        var totals = options.ruleCounts.map { Row(rules: $0, emptyNs: 0, establishedNs: 0, newFlowNs: 0) }
        let perRound = options.runs / options.rounds
        let newPerRound = options.newFlows / options.rounds
        for round in 0..<options.rounds {
            progress("round \(round + 1)/\(options.rounds)")
            for (index, bed) in beds.enumerated() {
                try bed.namespace.enter {
                    let forwarder = XDPTestRunner(program: bed.datapath.xdpProgram)
                    let empty = XDPTestRunner(program: bed.passProgram)
                    totals[index].emptyNs += try Self.total(empty, established, bed.inIndex, calls: perRound)
                    totals[index].establishedNs += try Self.total(forwarder, established, bed.inIndex, calls: perRound)
                    totals[index].established6Ns += try Self.total(forwarder, established6, bed.inIndex, calls: perRound)
                    totals[index].establishedMaglevNs += try Self.total(forwarder, establishedMaglev, bed.inIndex, calls: perRound)
                    totals[index].establishedVLANNs += try Self.total(forwarder, establishedVLAN, bed.inIndex, calls: perRound)
                    totals[index].establishedQinQNs += try Self.total(forwarder, establishedQinQ, bed.inIndex, calls: perRound)
                    // New flows alternate between the single-backend and the
                    // Maglev rule, so both see the same host state.
                    for (port, keyPath) in [(UInt16(8080), \Row.newFlowNs), (8081, \Row.newFlowMaglevNs)] {
                        var newFlowNs = 0.0
                        for i in 0..<newPerRound {
                            let flow = round * newPerRound + i
                            let frame = Packet.tcp(src: .init("198.18.0.2", UInt16(1024 + flow)), dst: .init("198.18.0.1", port),
                                                   flags: [.syn], srcMAC: "02:00:00:00:00:02", dstMAC: "02:00:00:00:00:01")
                                .padded(toFrameLength: 60).bytes
                            let result = try forwarder.run(frame, ingressIfindex: bed.inIndex)
                            guard result.verdict == .redirect else {
                                throw XDPFwdError.state("new flow \(flow) to port \(port) got \(result.verdict), not XDP_REDIRECT")
                            }
                            newFlowNs += Double(result.durationNs)
                        }
                        totals[index][keyPath: keyPath] += newFlowNs
                    }
                }
            }
        }
        return totals.map { row in
            var row = row
            row.emptyNs /= Double(options.runs)
            row.establishedNs /= Double(options.runs)
            row.established6Ns /= Double(options.runs)
            row.establishedMaglevNs /= Double(options.runs)
            row.establishedVLANNs /= Double(options.runs)
            row.establishedQinQNs /= Double(options.runs)
            row.newFlowNs /= Double(newPerRound * options.rounds)
            row.newFlowMaglevNs /= Double(newPerRound * options.rounds)
            return row
        }
    }

    private static func total(_ runner: XDPTestRunner, _ frame: [UInt8], _ ifindex: UInt32, calls: Int) throws -> Double {
        var sum = 0.0
        for _ in 0..<calls {
            sum += Double(try runner.run(frame, ingressIfindex: ifindex).durationNs)
        }
        return sum
    }

    /// The measured rule plus count-1 filler rules on other listen addresses
    /// (198.19.0.0/16, ports 80 and 81), written straight into the map.
    static func installRules(count: Int, in bed: TestRunBed) throws {
        let table = RuleTable(maps: bed.maps)
        try table.add(ForwardingRule.parse(protocol: "tcp", listen: listen, backend: backend))
        try table.add(ForwardingRule.parse(protocol: "tcp", listen: "[2001:2::1]:8080", backend: "[2001:2:0:1::2]:8000"))
        try table.add(ForwardingRule.parse(protocol: "tcp", listen: maglevListen, backends: maglevBackends))
        try table.add(ForwardingRule.parse(protocol: "tcp", listen: "198.18.2.1:8080", backend: "198.18.3.2:8000"))
        try table.add(ForwardingRule.parse(protocol: "tcp", listen: "198.18.0.1:8082", backend: "198.18.4.2:8000"))
        for i in 0..<(count - 1) {
            let address = IPv4Address(UInt32(198) << 24 | UInt32(19) << 16 | UInt32(i & 0xFFFF))
            let rule = try ForwardingRule(protocol: .tcp, listen: Endpoint(address: address, port: UInt16(80 + i >> 16)),
                                          backend: Endpoint(parsing: backend))
            try bed.maps.rules.update(RuleCompiler.key(rule.key), RuleCompiler.value(rule, id: UInt32(i + 3)), .noExist)
        }
    }

    private func pinCurrentThread(to cpu: Int) throws {
        guard (0..<sysconf(Int32(_SC_NPROCESSORS_CONF))).contains(cpu) else { throw XDPFwdError.invalidArgument("--cpu \(cpu) is out of range") }
        try check(cxdp_pin_thread(Int32(cpu)), "sched_setaffinity", "cpu \(cpu)")
    }
}
