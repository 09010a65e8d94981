import ArgumentParser
import RuleModel
import XDPLoader

struct Attach: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Attach the forwarder to interfaces (XDP + a TC slow path).",
        discussion: """
            Loads and pins the data plane on first use, enables IPv4 and IPv6 forwarding on each \
            interface (bpf_fib_lookup needs it; detach restores it) and attaches to all interfaces or to none.
            """)

    @OptionGroup var common: CommonOptions
    @Argument(help: "Interfaces to attach to.") var interfaces: [String] = []
    @Option(help: "XDP mode: auto (native, else generic), native or generic.") var mode: AttachMode = .auto

    func run() throws {
        let attached = try Attacher(layout: common.layout()).attach(interfaces, mode: mode)
        for entry in attached {
            let address = entry.ipv4NetworkOrder == 0
                ? "no IPv4 address: auto SNAT cannot use it"
                : IPv4Address(networkOrder: entry.ipv4NetworkOrder).description
            let address6 = entry.ipv6?.description ?? "no global IPv6 address: IPv6 auto SNAT cannot use it"
            printLine("attached \(entry.interface.name) (ifindex \(entry.interface.ifindex), \(entry.mode) XDP, \(address), \(address6))")
            if entry.enabledForwarding { printLine("  enabled net.ipv4.conf.\(entry.interface.name).forwarding (restored on detach)") }
            if entry.enabledForwarding6 { printLine("  enabled net.ipv6.conf.\(entry.interface.name).forwarding (restored on detach)") }
            if let note = entry.note { printLine("  \(note)") }
        }
    }
}

struct Detach: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Detach the forwarder from interfaces.",
        discussion: "Rules stay pinned for the next attach; --all --purge also removes rules and all pinned state.")

    @OptionGroup var common: CommonOptions
    @Argument(help: "Interfaces to detach from.") var interfaces: [String] = []
    @Flag(help: "Detach from every attached interface.") var all = false
    @Flag(help: "With --all: also remove rules, flows and every pin.") var purge = false

    func validate() throws {
        if all && !interfaces.isEmpty { throw ValidationError("give interfaces or --all, not both") }
        if !all && interfaces.isEmpty { throw ValidationError("give interfaces to detach, or --all") }
        if purge && !all { throw ValidationError("--purge needs --all") }
    }

    func run() throws {
        let attacher = try Attacher(layout: common.layout())
        let names = all ? try attacher.detachAll(purge: purge) : try attacher.detach(interfaces)
        for name in names { printLine("detached \(name)") }
        if all && names.isEmpty { printLine("nothing attached") }
        if purge { printLine("removed pinned state") }
    }
}
