import ArgumentParser
import CXDP
import FastPath
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
    @Option(help: "auto (native XDP, else AF_PACKET), native, generic (skb XDP) or afpacket (FastPath rings).")
    var mode: CLIAttachMode = .auto
    @Flag(help: "afpacket: run the forwarder in this process (for supervisors) instead of in the background.")
    var foreground = false
    @OptionGroup(title: "AF_PACKET options") var afpacket: AFPacketOptions

    func validate() throws {
        if foreground && mode != .afpacket { throw ValidationError("--foreground needs --mode afpacket") }
    }

    func run() throws {
        let layout = try common.layout()
        switch mode {
        case .native: printXDP(try Attacher(layout: layout).attach(interfaces, mode: .native))
        case .generic: printXDP(try Attacher(layout: layout).attach(interfaces, mode: .generic))
        case .afpacket:
            try attachAFPacket(interfaces, layout: layout, reason: nil)
            try runForegroundForwarder(layout: layout)
        case .auto:
            // Native XDP where the driver has it; AF_PACKET elsewhere. All or
            // nothing: names are checked first, and a later failure detaches
            // the interfaces this command attached.
            _ = try afpacket.forwarderOptions()
            _ = try Attacher.resolveUnique(interfaces)
            var native: [AttachedInterface] = []
            var fallback: [String] = []
            do {
                for name in interfaces {
                    do {
                        native += try Attacher(layout: layout).attach([name], mode: .native)
                    } catch let error as XDPFwdError where error.description.contains("no native XDP support") {
                        fallback.append(name)
                    }
                }
                if !fallback.isEmpty {
                    try attachAFPacket(fallback, layout: layout, reason: "the driver has no native XDP", before: { printXDP(native) })
                } else {
                    printXDP(native)
                }
            } catch {
                if !native.isEmpty { _ = try? Attacher(layout: layout).detach(native.map(\.interface.name)) }
                throw error
            }
        }
    }

    /// `before` prints what was attached natively once the AF_PACKET attach
    /// succeeded (and before a --foreground forwarder takes over).
    private func attachAFPacket(_ names: [String], layout: PinLayout, reason: String?, before: () -> Void = {}) throws {
        let options = try afpacket.forwarderOptions()
        let attacher = AFPacketAttacher(layout: layout)
        let start: AFPacketAttacher.Start = foreground ? .foreground : .background(executable: try selfExecutable())
        let (attached, pid) = try attacher.attach(names, options: options, start: start)
        before()
        for entry in attached {
            let address = entry.ipv4NetworkOrder == 0
                ? "no IPv4 address: auto SNAT cannot use it"
                : IPv4Address(networkOrder: entry.ipv4NetworkOrder).description
            let why = reason.map { ", \($0)" } ?? ""
            printLine("attached \(entry.interface.name) (ifindex \(entry.interface.ifindex), afpacket\(why), \(address))"
                      + (entry.wasAttached ? " (already attached: forwarder restarted)" : ""))
            if entry.enabledForwarding { printLine("  enabled net.ipv4.conf.\(entry.interface.name).forwarding (restored on detach)") }
        }
        if let pid { printLine("afpacket forwarder running (pid \(pid), workers on CPU \(options.cpus.map(String.init).joined(separator: ",")))") }
    }

    /// --foreground: the forwarder runs in this process until signalled.
    private func runForegroundForwarder(layout: PinLayout) throws {
        guard foreground else { return }
        try AFPacketAttacher(layout: layout).runForeground(options: try afpacket.forwarderOptions()) { printLine($0) }
    }

    private func printXDP(_ attached: [AttachedInterface]) {
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
        let layout = try common.layout()
        let attacher = Attacher(layout: layout)
        let afpacket = AFPacketAttacher(layout: layout)
        var names: [String] = []
        if all {
            names += try afpacket.detachAll(purge: purge)
            names += try attacher.detachAll(purge: purge)
        } else {
            // Each interface goes to the path it is attached with.
            let afpacketNames = try interfaces.filter { try Self.isAFPacket($0, layout) }
            if !afpacketNames.isEmpty { names += try afpacket.detach(afpacketNames, executable: try selfExecutable()) }
            let xdpNames = interfaces.filter { !afpacketNames.contains($0) }
            if !xdpNames.isEmpty { names += try attacher.detach(xdpNames) }
        }
        for name in names { printLine("detached \(name)") }
        if all && names.isEmpty { printLine("nothing attached") }
        if purge { printLine("removed pinned state") }
    }
}

extension Detach {
    static func isAFPacket(_ name: String, _ layout: PinLayout) throws -> Bool {
        let interface = try Interface.named(name)
        guard layout.exists(layout.xdpProgram) else { return false }
        let record = try Datapath.openPinned(layout).maps.ifaces.lookup(interface.ifindex)
        return record.map { UInt32($0.mode) == XDPFWD_MODE_AFPACKET.rawValue } ?? false
    }
}
