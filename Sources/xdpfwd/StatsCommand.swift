import ArgumentParser
import FastPath
import Glibc
import XDPLoader

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show global and per-rule counters.")

    @OptionGroup var common: CommonOptions
    @Flag(name: [.customShort("j"), .long], help: "Print JSON.") var json = false
    @Option(help: "Print again every SECONDS (1-3600) until interrupted.") var watch: Int?
    @Option(help: "With --watch: stop after this many prints.") var count: Int?

    func validate() throws {
        if let watch, !(1...3600).contains(watch) { throw ValidationError("--watch takes 1-3600 seconds, got \(watch)") }
        if let count, count < 1 { throw ValidationError("--count must be at least 1, got \(count)") }
        if count != nil && watch == nil { throw ValidationError("--count needs --watch") }
    }

    func run() throws {
        let layout = try common.layout()
        let maps = try Datapath.openPinned(layout).maps
        let reader = CountersReader(maps: maps)
        var printed = 0
        var previous: CountersSnapshot? = nil
        var previousWorkers: [WorkerAllocations]? = nil
        while true {
            let snapshot = try reader.snapshot()
            // Read every print: interfaces come and go under --watch.
            let afpacket = try AFPacketWorkersOutput.afpacketAttached(maps)
                ? AFPacketWorkersOutput(layout: layout, afpacketAttached: true) : nil
            if json {
                var stats = StatsJSON(snapshot)
                stats.afpacket_workers = afpacket?.json
                try printJSON(stats)
            } else {
                printText(snapshot, afpacket, previous: previous, previousWorkers: previousWorkers)
            }
            printed += 1
            guard let watch, count.map({ printed < $0 }) ?? true else { return }
            previous = snapshot
            previousWorkers = afpacket?.workers
            sleep(UInt32(watch))
        }
    }

    private func printText(_ snapshot: CountersSnapshot, _ afpacket: AFPacketWorkersOutput?,
                           previous: CountersSnapshot?, previousWorkers: [WorkerAllocations]?) {
        let interval = UInt64(watch ?? 1)
        func rate(_ now: UInt64, _ before: UInt64?) -> String {
            guard let before else { return "" }
            return "  (\((now &- before) / interval)/s)"
        }
        printLine("global:")
        for (name, value) in snapshot.global where value != 0 || name == "rx" {
            printLine("  \(name.padding(toLength: 22, withPad: " ", startingAt: 0)) \(value)\(rate(value, previous?.global(name)))")
        }
        printLine("rules:")
        if snapshot.rules.isEmpty { printLine("  none") }
        for counters in snapshot.rules {
            let old = previous?.rules.first { $0.rule.id == counters.rule.id }
            printLine("  \(counters.rule.rule)")
            printLine("    forward \(counters.forward.packets) pkts \(counters.forward.bytes) bytes\(rate(counters.forward.packets, old?.forward.packets))")
            printLine("    reply   \(counters.reply.packets) pkts \(counters.reply.bytes) bytes\(rate(counters.reply.packets, old?.reply.packets))")
        }
        if let afpacket {
            printLine("afpacket workers:")
            if afpacket.pid == nil { printLine("  none: forwarder NOT running") }
            else if afpacket.workers == nil { printLine("  no report from forwarder pid \(afpacket.pid!) yet") }
            for worker in afpacket.workers ?? [] {
                let old = previousWorkers?.first { $0.cpu == worker.cpu }
                let frameRate = old.map { "  (\((worker.frames &- $0.frames) / interval) frames/s)" } ?? ""
                printLine("  " + AFPacketWorkersOutput.line(worker) + frameRate)
            }
        }
        if watch != nil { printLine("") }
    }
}
