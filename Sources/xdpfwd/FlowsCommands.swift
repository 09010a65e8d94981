import ArgumentParser
import Foundation
import RuleModel
import XDPLoader

struct FlowsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flows", abstract: "List or flush live conntrack flows (IPv4 and IPv6).",
        subcommands: [FlowsList.self, FlowsFlush.self], defaultSubcommand: FlowsList.self)
}

struct FlowsList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "Each live flow once: client and backend tuples, state, age, idle time, and its packets and bytes each way.",
        discussion: """
            Counters are the flow's own, per direction: "fwd" client -> backend, "reply" backend -> client; \
            bytes are frame lengths as received (Ethernet header included). They count frames the data \
            plane translated and sent; the AF_PACKET forwarder adds its counts to the entry within about \
            250 ms. The JSON's rule_counters are the flow's rule's totals.
            """)

    @OptionGroup var common: CommonOptions
    @Flag(name: [.customShort("j"), .long], help: "Print JSON.") var json = false
    @Option(help: "Show at most N flows (the total is still reported).") var limit: Int?

    func validate() throws {
        if let limit, limit < 0 { throw ValidationError("--limit must be 0 or more, got \(limit)") }
    }

    func run() throws {
        let maps = try Datapath.openPinned(common.layout()).maps
        let flows = try FlowTable(maps: maps).list()
        let shown = Array(flows.prefix(limit ?? flows.count))
        let reader = CountersReader(maps: maps)
        var counters: [UInt32: (forward: DirectionCounters, reply: DirectionCounters)] = [:]
        for id in Set(shown.map(\.ruleID)) { counters[id] = try reader.ruleCounters(id: id) }
        if json {
            return try printJSON(FlowListJSON(flows: shown.map { FlowJSON($0, counters[$0.ruleID]) }, total: flows.count))
        }
        if flows.isEmpty { return printLine("no flows") }
        for flow in shown {
            printLine("\(flow.protocol) \(flow.client) -> \(flow.listen)  =>  \(flow.source) -> \(flow.backend)  "
                + "\(flow.state)  age \(Int(flow.ageSeconds))s idle \(Int(flow.idleSeconds))s  rule \(flow.ruleID)  "
                + "fwd \(flow.forward.packets) pkts \(flow.forward.bytes) B  reply \(flow.reply.packets) pkts \(flow.reply.bytes) B")
        }
        if shown.count < flows.count { printLine("(\(shown.count) of \(flows.count) flows shown)") }
    }
}

struct FlowsFlush: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flush",
        abstract: "Delete matching flows (both conntrack entries); every filter given must match.",
        discussion: """
            A flushed connection's next packet is a new flow: it is matched against the rules again \
            (and may reach another backend, which will reset a TCP connection).
            """)

    @OptionGroup var common: CommonOptions
    @Option(help: "tcp or udp.") var proto: String?
    @Option(help: "Listen side: ADDR, ADDR:PORT, [IPV6] or [IPV6]:PORT.") var listen: String?
    @Option(help: "Backend: ADDR, ADDR:PORT, [IPV6] or [IPV6]:PORT.") var backend: String?
    @Option(help: "Client address.") var client: String?

    func run() throws {
        var filter = FlowFilter()
        try parsed { () throws(RuleError) in
            if let proto { filter.protocol = try TransportProtocol(parsing: proto) }
            if let listen { filter.listen = try FlowFilter.parseEndpoint(listen) }
            if let backend { filter.backend = try FlowFilter.parseEndpoint(backend) }
            if let client { filter.client = try FlowFilter.parseAddress(client) }
        }
        let count = try withRuleTable(common) { table in try FlowTable(maps: table.maps).flush(filter) }
        printLine("flushed \(count) flow\(count == 1 ? "" : "s")")
    }
}

struct FlowCountersJSON: Codable {
    let forward: DirectionCounters
    let reply: DirectionCounters
}

struct FlowJSON: Codable {
    let `protocol`: String
    let family: String
    let client: String
    let listen: String
    let source: String
    let backend: String
    let state: String
    let rule_id: UInt32
    let age_seconds: Double
    let idle_seconds: Double
    /// The flow's own counters, per direction.
    let counters: FlowCountersJSON
    /// Its rule's (every flow of the rule together).
    let rule_counters: FlowCountersJSON?

    init(_ flow: FlowRecord, _ counters: (forward: DirectionCounters, reply: DirectionCounters)?) {
        `protocol` = flow.protocol.rawValue
        family = flow.client.address.family == .ipv4 ? "ipv4" : "ipv6"
        client = flow.client.description
        listen = flow.listen.description
        source = flow.source.description
        backend = flow.backend.description
        state = flow.state
        rule_id = flow.ruleID
        age_seconds = flow.ageSeconds
        idle_seconds = (flow.idleSeconds * 10).rounded() / 10
        self.counters = FlowCountersJSON(forward: flow.forward, reply: flow.reply)
        rule_counters = counters.map { FlowCountersJSON(forward: $0.forward, reply: $0.reply) }
    }
}

struct FlowListJSON: Codable {
    let flows: [FlowJSON]
    let total: Int
}
