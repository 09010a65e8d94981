import CXDP
import Glibc
import RuleModel
import XDPLoader

/// A TestRunBed (see its topology) plus the conveniences tests want: rules
/// from strings, config tweaks and counters by name.
final class DatapathFixture: @unchecked Sendable {
    let bed: TestRunBed
    private static let counter = Counter()

    init(vlans: Bool = false) throws {
        bed = try TestRunBed(namespaceName: "xft-\(getpid())-\(Self.counter.next())", vlans: vlans)
    }

    var maps: DatapathMaps { bed.maps }
    var namespace: NetworkNamespace { bed.namespace }
    var inIndex: UInt32 { bed.inIndex }
    var outIndex: UInt32 { bed.outIndex }

    func run(_ frame: [UInt8], ingress: UInt32? = nil) throws -> TestRunResult {
        try bed.run(frame, ingress: ingress)
    }

    @discardableResult
    func addRule(_ proto: String, _ listen: String, _ backend: String, snat: String = "auto") throws -> InstalledRule {
        let rule = try ForwardingRule.parse(protocol: proto, listen: listen, backend: backend, snat: snat)
        return try RuleTable(maps: maps).add(rule).0
    }

    @discardableResult
    func addRule(_ proto: String, _ listen: String, backends: [String], snat: String = "auto") throws -> InstalledRule {
        let rule = try ForwardingRule.parse(protocol: proto, listen: listen, backends: backends, snat: snat)
        return try RuleTable(maps: maps).add(rule).0
    }

    /// A permanent neighbour on out0 (the backend side), so flows to
    /// `address` are redirected instead of taking the slow path.
    func backendNeighbour(_ address: String, mac: String) throws {
        try namespace.ip(["neigh", "add", address, "lladdr", mac, "dev", "out0", "nud", "permanent"])
    }

    func setConfig(_ update: (inout xdpfwd_config) -> Void) throws {
        var config = try maps.config.lookup(0) ?? xdpfwd_config()
        update(&config)
        try maps.config.update(0, config)
    }

    func counter(_ name: String) throws -> UInt64 {
        try CountersReader(maps: maps).snapshot().global(name)
    }

    func ruleCounters(_ id: UInt32) throws -> (forward: DirectionCounters, reply: DirectionCounters) {
        try CountersReader(maps: maps).ruleCounters(id: id)
    }

    final class Counter: @unchecked Sendable {
        private var value = 0
        private var lock = pthread_mutex_t()
        init() { pthread_mutex_init(&lock, nil) }
        func next() -> Int {
            pthread_mutex_lock(&lock); defer { pthread_mutex_unlock(&lock) }
            value += 1
            return value
        }
    }
}
