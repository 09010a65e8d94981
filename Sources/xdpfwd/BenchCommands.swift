import ArgumentParser
import Benchmarks
import Foundation
import XDPLoader

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the forwarder (results are ratios to peers measured in the same run).",
        subcommands: [BenchProg.self, BenchTopo.self, BenchAFPacket.self])
}

struct BenchProg: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prog",
        abstract: "Per-packet cost of the XDP program via BPF_PROG_TEST_RUN, next to an empty program.",
        discussion: """
            Runs in a throwaway network namespace with a private (unpinned) data plane; needs root. \
            Reports ns per packet for an established flow and for the first packet of a new flow, \
            with 1 and 100000 rules loaded, for an established IPv6 flow, for a 16-backend Maglev rule (established and new flows), \
            and for VLAN-tagged IPv4 flows (802.1Q 100 -> 200 rewrite, untagged -> QinQ push), each minus the empty XDP \
            program's cost from the same run.
            """)

    @Option(help: "Calls per figure (empty and established), 1000-100000000.") var runs = 1_000_000
    @Option(help: "New flows measured per rule count.") var newFlows = 20_000
    @Option(help: "Interleaved rounds; must divide --runs.") var rounds = 10
    @Option(help: "Comma-separated rule counts to load.") var rules = "1,100000"
    @Option(help: "CPU to pin the measuring thread to (-1: no pinning).") var cpu = 0
    @Flag(name: [.customShort("j"), .long], help: "Print JSON.") var json = false

    func run() throws {
        var options = ProgramBenchmark.Options()
        options.runs = runs
        options.newFlows = newFlows
        options.rounds = rounds
        options.cpu = cpu < 0 ? nil : cpu
        options.ruleCounts = try rules.split(separator: ",").map { part in
            guard let count = Int(part) else { throw XDPFwdError.invalidArgument("--rules: \"\(part)\" is not a number") }
            return count
        }
        let rows = try ProgramBenchmark(options: options).run { message in
            if !json { printLine("  \(message)") }
        }
        if json {
            return try printJSON(BenchProgJSON(runs: runs, new_flows: newFlows, rounds: rounds, results: rows.map(BenchProgJSON.Row.init)))
        }
        printLine("")
        printLine("xdpfwd bench prog: BPF_PROG_TEST_RUN, \(runs) calls per figure, \(newFlows) new flows, \(rounds) interleaved rounds")
        printLine("rules      empty ns   established ns  (-empty)   new flow ns  (-empty)   IPv6 est. ns  (-empty)  v6/v4")
        for row in rows {
            printLine(String(format: "%-9d  %8.1f   %14.1f  %8.1f   %11.1f  %8.1f   %12.1f  %8.1f  %5.2fx", row.rules, row.emptyNs,
                             row.establishedNs, row.establishedCostNs, row.newFlowNs, row.newFlowCostNs,
                             row.established6Ns, row.established6CostNs, row.established6CostNs / max(row.establishedCostNs, 0.1)))
        }
        printLine("16-backend Maglev rule, same rounds (-empty), and its ratio to the single-backend IPv4 rule:")
        printLine("rules      established ns  (-empty)  ratio   new flow ns  (-empty)  ratio")
        for row in rows {
            printLine(String(format: "%-9d  %14.1f  %8.1f  %4.2fx   %11.1f  %8.1f  %4.2fx", row.rules,
                             row.establishedMaglevNs, row.establishedMaglevCostNs,
                             row.establishedMaglevCostNs / max(row.establishedCostNs, 0.1),
                             row.newFlowMaglevNs, row.newFlowMaglevCostNs, row.newFlowMaglevCostNs / max(row.newFlowCostNs, 0.1)))
        }
        printLine("VLAN-tagged IPv4 flows, same rounds (-empty), and their ratio to the untagged IPv4 rule:")
        printLine("rules      802.1Q 100->200 est. ns  (-empty)  vlan/v4   untagged->QinQ est. ns  (-empty)  qinq/v4")
        for row in rows {
            let v4 = max(row.establishedCostNs, 0.1)
            printLine(String(format: "%-9d  %23.1f  %8.1f  %6.2fx   %22.1f  %8.1f  %6.2fx", row.rules,
                             row.establishedVLANNs, row.establishedVLANCostNs, row.establishedVLANCostNs / v4,
                             row.establishedQinQNs, row.establishedQinQCostNs, row.establishedQinQCostNs / v4))
        }
        if let first = rows.first, let last = rows.last, rows.count > 1 {
            printLine(String(format: "established cost, %d vs %d rules: %.2fx", last.rules, first.rules,
                             last.establishedCostNs / max(first.establishedCostNs, 0.1)))
        }
    }
}

struct BenchProgJSON: Codable {
    struct Row: Codable {
        let rules: Int
        let empty_ns: Double
        let established_ns: Double
        let established_minus_empty_ns: Double
        let new_flow_ns: Double
        let new_flow_minus_empty_ns: Double
        let ipv6_established_ns: Double
        let ipv6_established_minus_empty_ns: Double
        let maglev16_established_ns: Double
        let maglev16_established_minus_empty_ns: Double
        let maglev16_new_flow_ns: Double
        let maglev16_new_flow_minus_empty_ns: Double
        let vlan_established_ns: Double
        let vlan_established_minus_empty_ns: Double
        let qinq_established_ns: Double
        let qinq_established_minus_empty_ns: Double

        init(_ row: ProgramBenchmark.Row) {
            rules = row.rules
            empty_ns = row.emptyNs
            established_ns = row.establishedNs
            established_minus_empty_ns = row.establishedCostNs
            new_flow_ns = row.newFlowNs
            new_flow_minus_empty_ns = row.newFlowCostNs
            ipv6_established_ns = row.established6Ns
            ipv6_established_minus_empty_ns = row.established6CostNs
            maglev16_established_ns = row.establishedMaglevNs
            maglev16_established_minus_empty_ns = row.establishedMaglevCostNs
            maglev16_new_flow_ns = row.newFlowMaglevNs
            maglev16_new_flow_minus_empty_ns = row.newFlowMaglevCostNs
            vlan_established_ns = row.establishedVLANNs
            vlan_established_minus_empty_ns = row.establishedVLANCostNs
            qinq_established_ns = row.establishedQinQNs
            qinq_established_minus_empty_ns = row.establishedQinQCostNs
        }
    }
    let runs: Int
    let new_flows: Int
    let rounds: Int
    let results: [Row]
}

struct BenchAFPacket: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "afpacket",
        abstract: "Per-packet cost and heap allocations of FastPath's packet function (AF_PACKET mode).",
        discussion: """
            Runs in a throwaway network namespace with a private data plane; needs root. Reports ns per \
            packet of an established 64-byte UDP flow through the packet function, with the forwarder's \
            conntrack cache and with a bpf(2) lookup per packet, its VLAN variants (802.1Q tag rewrite, \
            untagged in and QinQ out), an IPv6 (NAT66) flow with the cache, and the heap allocations counted on the \
            measuring thread (target: 0). Best of --rounds.
            """)

    @Option(help: "Packets per figure.") var runs = 2_000_000
    @Option(help: "Rounds; must divide --runs.") var rounds = 10
    @Option(help: "CPU to pin the measuring thread to (-1: no pinning).") var cpu = 0
    @Flag(name: [.customShort("j"), .long], help: "Print JSON.") var json = false

    func run() throws {
        var options = FastPathBenchmark.Options()
        options.runs = runs
        options.rounds = rounds
        options.cpu = cpu < 0 ? nil : cpu
        let rows = try FastPathBenchmark(options: options).run { message in if !json { printLine("  \(message)") } }
        if json {
            struct Row: Codable { let name: String; let ns_per_packet: Double; let packets: Int; let allocations: UInt64 }
            struct Output: Codable { let runs: Int; let rounds: Int; let results: [Row] }
            return try printJSON(Output(runs: runs, rounds: rounds, results: rows.map {
                Row(name: $0.name, ns_per_packet: $0.nsPerPacket, packets: $0.packets, allocations: $0.allocations)
            }))
        }
        printLine("")
        printLine("xdpfwd bench afpacket: \(runs) packets per figure, best of \(rounds) rounds")
        printLine("ns/packet  allocations/packet  path")
        for row in rows {
            printLine(String(format: "%9.1f  %18.6f  %@", row.nsPerPacket, row.allocationsPerPacket, row.name))
        }
    }
}
