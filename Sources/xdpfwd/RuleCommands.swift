import ArgumentParser
import RuleModel
import XDPLoader

struct RuleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rule", abstract: "Add, delete and list forwarding rules (live).",
        subcommands: [RuleAdd.self, RuleDel.self, RuleList.self])
}

/// Turns a model error into the CLI's usage error (exit 64).
func parsed<T>(_ body: () throws(RuleError) -> T) throws -> T {
    do { return try body() } catch { throw XDPFwdError.invalidArgument(error.description) }
}

/// Opens the pinned maps under the directory lock for a rule change.
func withRuleTable<T>(_ common: CommonOptions, _ body: (RuleTable) throws -> T) throws -> T {
    let layout = try common.layout()
    let datapath = try Datapath.openPinned(layout)
    let lock = try PinDirectoryLock(layout)
    defer { withExtendedLifetime(lock) {} }
    return try body(RuleTable(maps: datapath.maps))
}

struct RuleAdd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Forward PROTO LISTEN to one or more BACKENDs; replaces the rule with exactly the same LISTEN atomically.",
        discussion: """
            LISTEN is ADDR:PORT or ADDR:FIRST-LAST (a port range, mapped port by port onto each backend's range); \
            ADDR 0.0.0.0 or [::] means any local address of the attached interfaces. Each BACKEND is ADDR:PORT \
            (the first port of its range) or ADDR:FIRST-LAST of the listen range's size, optionally with @WEIGHT \
            (0-1000, default 1; 0 drains: no new flows, established ones continue). Several backends share new \
            flows through a Maglev table; established flows stay on their backend.
            """)

    @OptionGroup var common: CommonOptions
    @Argument(help: "tcp or udp.") var proto: String
    @Argument(help: "Listen endpoint ADDR:PORT, ADDR:FIRST-LAST, [IPV6]:PORT or [IPV6]:FIRST-LAST.") var listen: String
    @Argument(help: "Backends of the same family, ADDR:PORT[-LAST][@WEIGHT] or [IPV6]:PORT[-LAST][@WEIGHT].") var backends: [String] = []
    @Option(help: "Source NAT: auto (egress interface address), none (DNAT only) or an address of the rule's family (IPv6 without brackets).") var snat = "auto"

    func run() throws {
        let rule = try parsed { () throws(RuleError) in
            try ForwardingRule.parse(protocol: proto, listen: listen, backends: backends, snat: snat)
        }
        let (installed, outcome) = try withRuleTable(common) { table in
            // Wildcard rules match the attached interfaces' current addresses.
            try LocalAddresses.sync(table.maps)
            return try table.add(rule)
        }
        switch outcome {
        case .added: printLine("added \(installed.rule) (id \(installed.id))")
        case .replaced(let previous):
            printLine("replaced \(previous) with \(installed.rule) (id \(installed.id))")
        }
    }
}

struct RuleDel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "del", abstract: "Delete the rule for PROTO LISTEN (a range by its whole range); established flows finish on their translation.")

    @OptionGroup var common: CommonOptions
    @Argument(help: "tcp or udp.") var proto: String
    @Argument(help: "Listen endpoint as added: ADDR:PORT, ADDR:FIRST-LAST or [IPV6]:PORT[-LAST].") var listen: String

    func run() throws {
        let key = try parsed { () throws(RuleError) in try RuleKey.parse(protocol: proto, listen: listen) }
        let deleted = try withRuleTable(common) { try $0.delete(key) }
        guard deleted else { throw XDPFwdError.state("no rule for \(key)") }
        printLine("deleted \(key)")
    }
}

struct RuleList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List forwarding rules.")

    @OptionGroup var common: CommonOptions
    @Flag(name: [.customShort("j"), .long], help: "Print JSON.") var json = false

    func run() throws {
        let rules = try withRuleTable(common) { try $0.list() }
        if json { return try printJSON(RuleListJSON(rules: rules.map(RuleJSON.init))) }
        if rules.isEmpty { return printLine("no rules") }
        for installed in rules { printLine("\(installed.rule) (id \(installed.id))") }
    }
}
