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
        commandName: "add", abstract: "Forward PROTO LISTEN to BACKEND; replaces the backend of an existing LISTEN atomically.")

    @OptionGroup var common: CommonOptions
    @Argument(help: "tcp or udp.") var proto: String
    @Argument(help: "Listen endpoint ADDR:PORT or [IPV6]:PORT.") var listen: String
    @Argument(help: "Backend endpoint of the same family, ADDR:PORT or [IPV6]:PORT.") var backend: String
    @Option(help: "Source NAT: auto (egress interface address), none (DNAT only) or an address of the rule's family (IPv6 without brackets).") var snat = "auto"

    func run() throws {
        let rule = try parsed { () throws(RuleError) in
            try ForwardingRule.parse(protocol: proto, listen: listen, backend: backend, snat: snat)
        }
        let (installed, outcome) = try withRuleTable(common) { try $0.add(rule) }
        switch outcome {
        case .added: printLine("added \(installed.rule) (id \(installed.id))")
        case .replaced(let previous):
            printLine("replaced \(previous.key): backend \(previous.backend) -> \(installed.rule.backend), snat \(installed.rule.snat) (id \(installed.id))")
        }
    }
}

struct RuleDel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "del", abstract: "Delete the rule for PROTO LISTEN; established flows finish on their translation.")

    @OptionGroup var common: CommonOptions
    @Argument(help: "tcp or udp.") var proto: String
    @Argument(help: "Listen endpoint ADDR:PORT or [IPV6]:PORT.") var listen: String

    func run() throws {
        let key = try parsed { () throws(RuleError) in
            RuleKey(protocol: try TransportProtocol(parsing: proto), listen: try Endpoint(parsing: listen))
        }
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
