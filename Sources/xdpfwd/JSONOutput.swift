import FastPath
import Foundation
import RuleModel
import XDPLoader

/// `--json` shapes. Keys are snake_case and sorted; these are a stable
/// interface (documented in docs/cli.md): fields may be added, never renamed.
struct BackendJSON: Codable {
    let endpoint: String
    let weight: UInt32
}

struct RuleJSON: Codable {
    let id: UInt32
    let `protocol`: String
    let listen: String
    let backend: String
    let backends: [BackendJSON]
    let snat: String

    init(_ installed: InstalledRule) {
        let rule = installed.rule
        id = installed.id
        `protocol` = rule.protocol.rawValue
        listen = rule.listenDescription
        backend = PortRange.describe(rule.backend, count: rule.portCount)
        backends = rule.backends.map { BackendJSON(endpoint: PortRange.describe($0.endpoint, count: rule.portCount), weight: $0.weight) }
        snat = rule.snat.description
    }
}

struct RuleListJSON: Codable { let rules: [RuleJSON] }

struct RuleStatsJSON: Codable {
    let id: UInt32
    let `protocol`: String
    let listen: String
    let backend: String
    let backends: [BackendJSON]
    let snat: String
    let forward: DirectionCounters
    let reply: DirectionCounters
}

struct StatsJSON: Codable {
    let global: [String: UInt64]
    let rules: [RuleStatsJSON]
    /// With afpacket interfaces, the forwarder's workers as `status` shows
    /// them (absent otherwise, or when no forwarder runs).
    var afpacket_workers: [WorkerJSON]? = nil

    init(_ snapshot: CountersSnapshot) {
        global = Dictionary(uniqueKeysWithValues: snapshot.global.map { ($0.name, $0.value) })
        rules = snapshot.rules.map { counters in
            let rule = RuleJSON(counters.rule)
            return RuleStatsJSON(id: rule.id, protocol: rule.protocol, listen: rule.listen, backend: rule.backend,
                                 backends: rule.backends, snat: rule.snat, forward: counters.forward, reply: counters.reply)
        }
    }
}

struct InterfaceJSON: Codable {
    let name: String
    let ifindex: UInt32
    let mode: String
    let ipv4: String?
    let ipv6: String?
    let xdp_prog_id: UInt32
    let tc_prog_id: UInt32
    let attached_unix: UInt64
}

struct StatusJSON: Codable {
    let pin_dir: String
    let loaded: Bool
    let interfaces: [InterfaceJSON]
    let rules: Int
    let conntrack_entries: Int
    /// What wildcard rules match: the attached interfaces' addresses as last read.
    let local_addresses: [String]
    /// The AF_PACKET forwarder's PID when one runs (absent otherwise).
    let afpacket_forwarder_pid: Int?
    /// Its workers' frames and heap allocations (absent when none runs).
    var afpacket_workers: [WorkerJSON]? = nil
}

/// One FastPath worker: frames read and heap allocations since it started
/// (docs/fastpath.md: allocations per packet is the difference of two
/// reports), the allocations made before its first frame, RX ring drops and
/// TX frames not sent.
struct WorkerJSON: Codable {
    let cpu: Int
    let frames: UInt64
    let allocations: UInt64
    let startup_allocations: UInt64
    /// Packets the worker's RX rings dropped because they were full.
    let ring_drops: UInt64
    /// Frames it meant to transmit that never reached the egress device.
    let tx_not_sent: UInt64

    init(_ w: WorkerAllocations) {
        cpu = w.cpu
        frames = w.frames
        allocations = w.allocations
        startup_allocations = w.startupAllocations
        ring_drops = w.ringDrops
        tx_not_sent = w.txNotSent
    }
}

func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    let data = try encoder.encode(value)
    printLine(String(decoding: data, as: UTF8.self))
}
