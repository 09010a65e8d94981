import ArgumentParser
import Benchmarks
import Foundation
import Glibc
import XDPLoader

struct BenchTopo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topo",
        abstract: "Forwarders side by side on a gen <-> forwarder <-> sink veth topology: delivered pps and CPU ns/packet.",
        discussion: """
            Builds throwaway namespaces (addresses in 198.18.0.0/15 and 2001:2::/48; the root namespace is not \
            touched), runs \
            `xdpfwd gen` on one CPU and each forwarder on another, interleaved over --rounds, and prints median \
            and spread, ratios to the bare limit and to nftables DNAT. The sink checks sampled frames are \
            correctly translated. Exit status 1 if a sample is wrong. Needs root. Forwarders: \
            \(ForwarderCase.standard(scaleRules: 100000, scaleFlows: 100000).map(\.key).joined(separator: ", ")).
            """)

    @Option(help: "Interleaved rounds (median and spread over them).") var rounds = 5
    @Option(help: "Seconds of traffic per forwarder and round.") var duration = 2.0
    @Option(help: "Frame bytes without FCS.") var size = 64
    @Option(help: "Generator rate cap in frames per second (0: none).") var rate = 0.0
    @Option(help: "CPU of the generator (and sink).") var genCpu = 0
    @Option(help: "CPU of the forwarder.") var fwdCpu = 1
    @Option(help: "Generator frames per live-frames batch, 1-256.") var genBatch = 64
    @Option(help: "Rules of the rule-scaling case.") var scaleRules = 100_000
    @Option(help: "Flows of the flow-scaling case.") var scaleFlows = 100_000
    @Option(help: "Comma-separated forwarder keys to run (default: all).") var only: String?
    @Flag(help: "A short smoke run: 1 round of 0.3 s, 2000 flows in the flow-scaling case.") var quick = false
    @Flag(help: "Also run `bench prog` (BPF_PROG_TEST_RUN cost) and report it alongside.") var prog = false
    @Flag(name: [.customShort("j"), .long], help: "Print JSON.") var json = false

    func run() throws {
        var options = TopologyBenchmark.Options()
        options.rounds = quick ? 1 : rounds
        options.duration = quick ? 0.3 : duration
        options.size = size
        options.rate = rate
        options.generatorCPU = genCpu
        options.forwarderCPU = fwdCpu
        options.generatorBatch = genBatch
        options.scaleRules = scaleRules
        options.scaleFlows = quick ? min(scaleFlows, 2000) : scaleFlows
        options.only = only.map { $0.split(separator: ",").map(String.init) }
        options.xdpfwd = try selfExecutable()
        try options.validate()
        // Ctrl-C or TERM mid-run: delete the namespaces (which detaches
        // everything in them) and the bpffs mount, then exit.
        let prefix = options.namePrefix
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let handlers = [SIGINT, SIGTERM].map { number -> DispatchSourceSignal in
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                TopologyBenchmark.emergencyTeardown(prefix: prefix)
                _exit(128 + number)
            }
            source.resume()
            return source
        }
        defer { handlers.forEach { $0.cancel() } }
        let report = try TopologyBenchmark(options: options).run { message in
            let line = "bench topo: \(message)\n"
            _ = line.withCString { write(2, $0, strlen($0)) }
        }
        var progRows: [ProgramBenchmark.Row]? = nil
        if prog {
            var p = ProgramBenchmark.Options()
            p.runs = 200_000
            p.newFlows = 10_000
            p.cpu = fwdCpu
            progRows = try ProgramBenchmark(options: p).run { _ in }
        }
        let out = TopoJSON(report, prog: progRows)
        if json { try printJSON(out) } else { out.printTable() }
        if out.results.contains(where: { !$0.sample_problems.isEmpty }) {
            throw XDPFwdError.state("sampled frames were not translated correctly (see sample_problems)")
        }
    }
}

func selfExecutable() throws -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard n > 0 else { throw XDPFwdError.syscall(SyscallError("readlink", "/proc/self/exe", errno: errno)) }
    return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// `bench topo --json` (also the input of scripts/plot-bench.py).
struct TopoJSON: Codable {
    struct Run: Codable { let sent: UInt64; let delivered: UInt64; let seconds: Double; let forwarder_cpu_ns: UInt64
        let delivered_pps: Double; let ns_per_packet: Double?
        /// Frames the forwarder sent that the sink's ring dropped.
        let sink_dropped: UInt64 }
    struct Result: Codable {
        let key: String
        let name: String
        let rules: Int
        let flows: Int
        let full_nat: Bool
        let family: String           // "ipv4" or "ipv6"
        let runs: [Run]
        let delivered_pps: Summary?
        let ns_per_packet: Summary?
        let ns_ratio_to_bare: Double?                 // to the bare limit of the same family
        let pps_per_core_ratio_to_nftables: Double?   // to nftables DNAT of the same family
        /// CPU per packet over the AF_PACKET floor's (afpacket-floor, IPv4), when it ran.
        let ns_ratio_to_afpacket_floor: Double?
        let pps_ratio_to_nftables: Double?
        let samples_checked: Int
        let sample_problems: [String]
        let error: String?
    }
    struct Machine: Codable { let kernel: String; let cpus: Int; let cache_before: CacheProbe?; let cache_after: CacheProbe? }
    let machine: Machine
    let generator: String
    let rounds: Int
    let duration_s: Double
    let size: Int
    let generator_cpu: Int
    let forwarder_cpu: Int
    let results: [Result]
    let prog: [BenchProgJSON.Row]?

    init(_ report: TopologyBenchmark.Report, prog: [ProgramBenchmark.Row]?) {
        var uts = utsname()
        uname(&uts)
        let kernel = withUnsafeBytes(of: uts.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        machine = Machine(kernel: kernel, cpus: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))),
                          cache_before: report.cacheBefore, cache_after: report.cacheAfter)
        generator = report.generatorEngine
        rounds = report.options.rounds
        duration_s = report.options.duration
        size = report.options.size
        generator_cpu = report.options.generatorCPU
        forwarder_cpu = report.options.forwarderCPU
        // A reference that delivered nothing has no ratio (and JSON has no NaN).
        func positive(_ value: Double?) -> Double? { value.flatMap { $0 > 0 && $0.isFinite ? $0 : nil } }
        func ns(_ key: String) -> Double? {
            positive(report.results.first { $0.forwarder.key == key }.flatMap { Summary($0.runs.map(\.nsPerPacket))?.median })
        }
        func pps(_ key: String) -> Double? {
            positive(report.results.first { $0.forwarder.key == key }.flatMap { Summary($0.runs.map(\.deliveredPPS))?.median })
        }
        let floorNs = ns("afpacket-floor")
        results = report.results.map { r in
            let bareNs = ns(r.forwarder.bareKey), nftNs = ns(r.forwarder.nftablesKey), nftPPS = pps(r.forwarder.nftablesKey)
            let nsSummary = Summary(r.runs.map(\.nsPerPacket))
            let ppsSummary = Summary(r.runs.map(\.deliveredPPS))
            return Result(
                key: r.forwarder.key, name: r.forwarder.name, rules: r.forwarder.rules, flows: r.forwarder.flows,
                full_nat: r.forwarder.snat, family: r.forwarder.ipv6 ? "ipv6" : "ipv4",
                runs: r.runs.map { Run(sent: $0.sent, delivered: $0.delivered, seconds: $0.seconds, forwarder_cpu_ns: $0.forwarderCPUNs,
                                       delivered_pps: $0.deliveredPPS, ns_per_packet: $0.nsPerPacket.isFinite ? $0.nsPerPacket : nil,
                                       sink_dropped: $0.sinkDropped) },
                delivered_pps: ppsSummary, ns_per_packet: nsSummary,
                ns_ratio_to_bare: nsSummary.flatMap { s in bareNs.map { s.median / $0 } },
                pps_per_core_ratio_to_nftables: nsSummary.flatMap { s in nftNs.map { $0 / s.median } },
                ns_ratio_to_afpacket_floor: r.forwarder.ipv6 ? nil : nsSummary.flatMap { s in floorNs.map { s.median / $0 } },
                pps_ratio_to_nftables: ppsSummary.flatMap { s in nftPPS.map { s.median / $0 } },
                samples_checked: r.samplesChecked, sample_problems: Array(r.problems.prefix(5)), error: r.error)
        }
        self.prog = prog?.map(BenchProgJSON.Row.init)
    }

    func printTable() {
        printLine("")
        printLine("xdpfwd bench topo: \(size)-byte UDP (IPv4 and IPv6), generator (\(generator)) on CPU \(generator_cpu), forwarder on CPU \(forwarder_cpu), "
                  + "\(rounds) round(s) of \(duration_s) s, median (min-max)")
        func cache(_ c: CacheProbe?) -> String { c.map { String(format: "%.0f ns (%@)", $0.roundTripNs, $0.state) } ?? "n/a" }
        printLine("kernel \(machine.kernel), \(machine.cpus) CPUs; cache-line round trip before \(cache(machine.cache_before)), after \(cache(machine.cache_after))")
        printLine("")
        func row(_ cells: [String]) -> String {
            zip(cells, [-42, -24, -20, 8, 10, 8]).map { cell, width in
                let pad = String(repeating: " ", count: max(0, abs(width) - cell.count))
                return width < 0 ? cell + pad : pad + cell
            }.joined(separator: " ")
        }
        printLine(row(["forwarder", "delivered Mpps", "CPU ns/packet", "x bare", "/core vs", "samples"]))
        printLine(row(["", "", "", "ns", "nftables", "ok"]))
        for r in results {
            if let error = r.error {
                printLine(row([r.name, "not run: \(error)"]))
                continue
            }
            let p = r.delivered_pps.map { String(format: "%.3f (%.3f-%.3f)", $0.median / 1e6, $0.min / 1e6, $0.max / 1e6) } ?? "-"
            let n = r.ns_per_packet.map { String(format: "%.0f (%.0f-%.0f)", $0.median, $0.min, $0.max) } ?? "-"
            let bare = r.ns_ratio_to_bare.map { String(format: "%.2fx", $0) } ?? "-"
            let nft = r.pps_per_core_ratio_to_nftables.map { String(format: "%.2fx", $0) } ?? "-"
            let ok = "\(r.samples_checked - min(r.samples_checked, r.sample_problems.count))/\(r.samples_checked)"
            printLine(row([r.name, p, n, bare, nft, ok]))
            for problem in r.sample_problems { printLine("    wrong sample: \(problem)") }
        }
        printLine("")
        printLine("CPU ns/packet: CPU time of the forwarder's threads (NAPI kthreads of its interfaces, relay thread) per delivered packet.")
        printLine("/core vs nftables: packets per second per forwarding core (1e9 / ns per packet) relative to nftables DNAT.")
        for r in results where r.key.hasPrefix("xdpfwd-afpacket") {
            guard let floor = r.ns_ratio_to_afpacket_floor else { continue }
            printLine("\(r.name): " + String(format: "%.2fx", floor) + " the CPU per packet of the AF_PACKET floor (its rings, no logic)")
        }
        printLine("IPv6 rows: ratios to the IPv6 bare limit and the IPv6 nftables DNAT of the same run.")
        // The sink runs first on its CPU, so this should not happen; when it
        // does, the row's CPU per delivered packet includes the lost frames.
        for r in results {
            let dropped = r.runs.reduce(0) { $0 + $1.sink_dropped }, delivered = r.runs.reduce(0) { $0 + $1.delivered }
            if dropped > 0 && dropped * 100 >= delivered {
                printLine("warning: \(r.name): the sink dropped \(dropped) frames the forwarder sent (" +
                          String(format: "%.1f%%", Double(dropped) * 100 / Double(max(delivered, 1))) + " of those delivered)")
            }
        }
        if let prog {
            printLine("")
            printLine("bench prog (BPF_PROG_TEST_RUN, program alone, minus an empty program):")
            for row in prog {
                printLine(String(format: "  %6d rules: established %.1f ns, new flow %.1f ns", row.rules,
                                 row.established_minus_empty_ns, row.new_flow_minus_empty_ns))
            }
        }
    }
}
