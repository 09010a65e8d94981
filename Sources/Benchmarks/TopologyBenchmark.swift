import CXDP
import Glibc
import Packets
import XDPLoader

/// `xdpfwd bench topo`: every forwarder in the same gen <-> fwd <-> sink
/// topology (Topology), interleaved round by round, so a change of the
/// host's state hits every figure alike. Per forwarder and round: set up,
/// re-pin NAPI threads, warm up (every flow seen once), zero the sink, send
/// for `duration` from the generator CPU, then read the packets the sink
/// counted and the CPU time of the forwarder's threads (NAPI kthreads of
/// its interfaces, plus the relay's thread), and check the sink's sampled
/// frames are translated as the forwarder should.
public struct TopologyBenchmark {
    public struct Options: Sendable {
        public var rounds = 5
        public var duration = 2.0
        public var size = 64
        public var rate = 0.0
        public var generatorCPU = 0
        /// Frames per live-frames batch; also the size of the generator's page
        /// pool ring, which frames freed on the forwarder CPU return to.
        public var generatorBatch = 64
        public var forwarderCPU = 1
        public var scaleRules = 100_000
        public var scaleFlows = 100_000
        public var only: [String]? = nil        // case keys
        public var xdpfwd = ""                  // this program, for attach and rules
        public var namePrefix = "xfb\(getpid())"
        public init() {}

        public func validate() throws {
            func bad(_ text: String) -> XDPFwdError { .invalidArgument(text) }
            guard (1...100).contains(rounds) else { throw bad("--rounds must be 1-100") }
            guard duration >= 0.05 && duration <= 600 else { throw bad("--duration must be 0.05-600 s") }
            guard (60...1514).contains(size) else { throw bad("--size must be 60-1514") }
            let cpus = sysconf(Int32(_SC_NPROCESSORS_ONLN))
            guard (0..<cpus).contains(generatorCPU), (0..<cpus).contains(forwarderCPU) else { throw bad("CPU out of range (0-\(cpus - 1))") }
            guard (1...256).contains(generatorBatch) else { throw bad("--gen-batch \(generatorBatch): must be 1-256 (the veth ring holds 256)") }
            guard (1...131_000).contains(scaleRules), (1...130_000).contains(scaleFlows) else { throw bad("scale counts out of range") }
            let cases = ForwarderCase.standard(scaleRules: 1, scaleFlows: 1)
            if let only {
                let keys = Set(cases.map(\.key))
                for key in only where !keys.contains(key) { throw bad("unknown forwarder \"\(key)\" (\(keys.sorted().joined(separator: ", ")))") }
            }
            // IPv6 frames carry 40 header bytes: refused here, not row by row.
            let ipv6Minimum = Int(XFB_GEN_HDR_LEN6_UDP)
            let ipv6Rows = cases.filter { $0.ipv6 && (only?.contains($0.key) ?? true) }.map(\.key)
            if size < ipv6Minimum, !ipv6Rows.isEmpty {
                throw bad("--size \(size) is below the \(ipv6Minimum) bytes of an IPv6 UDP frame (rows \(ipv6Rows.joined(separator: ", "))); "
                          + "use --only to run IPv4 rows alone")
            }
        }
    }

    public struct Measurement: Sendable, Codable {
        public let sent: UInt64
        public let delivered: UInt64
        public let seconds: Double
        public let forwarderCPUNs: UInt64
        /// Frames the forwarder sent that the sink's ring dropped: its CPU
        /// per delivered packet includes their cost.
        public let sinkDropped: UInt64
        public var deliveredPPS: Double { Double(delivered) / seconds }
        public var nsPerPacket: Double { delivered > 0 ? Double(forwarderCPUNs) / Double(delivered) : .infinity }
    }

    public struct CaseResult: Sendable {
        public let forwarder: ForwarderCase
        public var runs: [Measurement] = []
        public var samplesChecked = 0
        public var problems: [String] = []
        public var error: String?
    }

    public struct Report: Sendable {
        public let options: Options
        public var results: [CaseResult]
        public var cacheBefore: CacheProbe?
        public var cacheAfter: CacheProbe?
        public var generatorEngine = ""
    }

    public let options: Options
    public init(options: Options) { self.options = options }

    /// What a signal handler can still do when the run is interrupted:
    /// delete the namespaces (their veths and XDP programs go with them)
    /// and unmount the benchmark's bpffs.
    public static func emergencyTeardown(prefix: String) {
        for suffix in ["gen", "fwd", "sink"] { _ = try? XDPLoader.run("/usr/sbin/ip", ["netns", "del", "\(prefix)-\(suffix)"]) }
        _ = try? XDPLoader.run("/bin/umount", ["-l", "/run/xdpfwd-bench/\(prefix)"])
        rmdir("/run/xdpfwd-bench/\(prefix)")
        rmdir("/run/xdpfwd-bench")
    }

    public func run(progress: (String) -> Void) throws -> Report {
        try options.validate()
        let cases = ForwarderCase.standard(scaleRules: options.scaleRules, scaleFlows: options.scaleFlows)
            .filter { options.only?.contains($0.key) ?? true }
        var report = Report(options: options, results: cases.map { CaseResult(forwarder: $0) })
        report.cacheBefore = CacheProbe.measure(options.generatorCPU, options.forwarderCPU)
        progress("building topology \(options.namePrefix)-{gen,fwd,sink}")
        let topo = try Topology(prefix: options.namePrefix)
        try check(cxdp_pin_task(cxdp_gettid(), Int32(options.generatorCPU)), "sched_setaffinity", "generator")
        for round in 1...options.rounds {
            for (index, c) in cases.enumerated() where report.results[index].error == nil {
                progress("round \(round)/\(options.rounds): \(c.name)")
                do {
                    let (measurement, problems, checked) = try measure(c, topo, &report.generatorEngine)
                    report.results[index].runs.append(measurement)
                    report.results[index].samplesChecked += checked
                    report.results[index].problems += problems
                } catch {
                    // A forwarder that cannot run here is reported, not fatal.
                    report.results[index].error = "\(error)"
                }
            }
        }
        report.cacheAfter = CacheProbe.measure(options.generatorCPU, options.forwarderCPU)
        return report
    }

    private func generator(_ c: ForwarderCase, topo: Topology, count: UInt64?, duration: Double?) -> Generator {
        var o = Generator.Options()
        o.interface = topo.g0
        o.dstMAC = Topology.f0MAC
        o.src = c.generatorSource
        o.dst = c.generatorDestination
        o.flows = c.flows
        o.size = options.size
        o.rate = options.rate
        o.count = count
        o.duration = duration
        o.batch = options.generatorBatch
        return Generator(options: o)
    }

    private func measure(_ c: ForwarderCase, _ topo: Topology, _ engine: inout String) throws -> (Measurement, [String], Int) {
        let forwarder = try RunningForwarder.start(c, in: topo, xdpfwd: options.xdpfwd, forwarderCPU: options.forwarderCPU)
        defer { forwarder.stop() }
        try topo.pin(generatorCPU: options.generatorCPU, forwarderCPU: options.forwarderCPU)
        // Warm-up: every flow once (new flows, conntrack), then some more.
        _ = try topo.gen.enter { try generator(c, topo: topo, count: UInt64(2 * c.flows + 20_000), duration: 5).run() }
        sleepNanoseconds(50_000_000)
        try topo.sink.reset()
        let threads = topo.forwarderNAPI + forwarder.extraThreads
        let cpuBefore = CPUTime.ns(threads)
        let dropsBefore = try topo.egressDrops()
        let sent = try topo.gen.enter { try generator(c, topo: topo, count: nil, duration: options.duration).run() }
        sleepNanoseconds(50_000_000)   // let the rings drain
        let cpuAfter = CPUTime.ns(threads)
        let sinkDropped = try topo.egressDrops() &- dropsBefore
        engine = sent.method.rawValue
        let delivered = try topo.sink.count().packets
        var problems: [String] = []
        let samples = try topo.sink.samples()
        for sample in samples {
            if let problem = c.problem(with: sample.bytes, length: sample.length, size: options.size) {
                problems.append(problem + ": " + Packet.describe(sample.bytes))
            }
        }
        if delivered > 0 && samples.isEmpty { problems.append("no samples") }
        if delivered > sent.sent { problems.append("sink counted \(delivered) frames, generator sent \(sent.sent)") }
        let measurement = Measurement(sent: sent.sent, delivered: delivered, seconds: sent.seconds, forwarderCPUNs: cpuAfter &- cpuBefore,
                                      sinkDropped: sinkDropped)
        return (measurement, problems, samples.count)
    }
}

/// Median and spread of a series.
public struct Summary: Sendable, Codable {
    public let median: Double
    public let min: Double
    public let max: Double

    public init?(_ values: [Double]) {
        let sorted = values.filter { $0.isFinite }.sorted()
        guard !sorted.isEmpty else { return nil }
        let mid = sorted.count / 2
        median = sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
        min = sorted.first!
        max = sorted.last!
    }
}
