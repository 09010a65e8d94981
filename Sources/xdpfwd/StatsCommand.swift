import ArgumentParser
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
        let reader = CountersReader(maps: try Datapath.openPinned(layout).maps)
        var printed = 0
        var previous: CountersSnapshot? = nil
        while true {
            let snapshot = try reader.snapshot()
            if json { try printJSON(StatsJSON(snapshot)) } else { printText(snapshot, previous: previous) }
            printed += 1
            guard let watch, count.map({ printed < $0 }) ?? true else { return }
            previous = snapshot
            sleep(UInt32(watch))
        }
    }

    private func printText(_ snapshot: CountersSnapshot, previous: CountersSnapshot?) {
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
        if watch != nil { printLine("") }
    }
}
