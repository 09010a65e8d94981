import CXDP

/// One worker's counters: plain memory, written only by that worker,
/// cumulative since it started. `CounterPublisher` adds what is new to the
/// pinned FastPath counter maps. Allocated once; the packet path only
/// increments.
public final class LocalCounters: @unchecked Sendable {
    public static let globalCount = Int(XDPFWD_STAT_MAX.rawValue)
    public static let ruleCount = Int(XDPFWD_MAX_RULES)

    let global: UnsafeMutablePointer<UInt64>
    let rules: UnsafeMutablePointer<xdpfwd_rule_stats>

    public init() {
        global = .allocate(capacity: Self.globalCount)
        global.initialize(repeating: 0, count: Self.globalCount)
        rules = .allocate(capacity: Self.ruleCount)
        rules.initialize(repeating: xdpfwd_rule_stats(), count: Self.ruleCount)
    }

    deinit {
        global.deallocate()
        rules.deallocate()
    }

    public func global(_ stat: xdpfwd_stat) -> UInt64 { global[Int(stat.rawValue)] }
}

/// Publishes workers' counters into xdpfwd_fpstats / xdpfwd_fprstats, the
/// maps `xdpfwd stats` adds to the XDP program's. It is the maps' only
/// writer and adds deltas (read, add, write), so totals survive a restart
/// of the forwarder and a reused rule slot that `rule add` zeroed starts
/// from zero.
public final class CounterPublisher {
    private let globalFD: Int32
    private let rulesFD: Int32
    private let keepAlive: [AnyObject]
    private let workers: [LocalCounters]
    private let published = LocalCounters()

    public init(statsFD: Int32, ruleStatsFD: Int32, keepAlive: [AnyObject], workers: [LocalCounters]) {
        globalFD = statsFD
        rulesFD = ruleStatsFD
        self.keepAlive = keepAlive
        self.workers = workers
    }

    /// Adds everything counted since the last call; returns the first
    /// failed map call's -errno, or 0.
    @discardableResult
    public func publish() -> Int32 {
        var firstError: Int32 = 0
        for index in 0..<LocalCounters.globalCount {
            var total: UInt64 = 0
            for worker in workers { total &+= worker.global[index] }
            let delta = total &- published.global[index]
            guard delta != 0 else { continue }
            var key = UInt32(index), value: UInt64 = 0
            let looked = cxdp_map_lookup(globalFD, &key, &value)
            value &+= delta
            let result = looked < 0 ? looked : cxdp_map_update(globalFD, &key, &value, UInt64(CXDP_BPF_ANY))
            if result < 0 { if firstError == 0 { firstError = result }; continue }
            published.global[index] = total
        }
        for index in 0..<LocalCounters.ruleCount {
            var total = xdpfwd_rule_stats()
            for worker in workers {
                let stats = worker.rules[index]
                total.fwd_packets &+= stats.fwd_packets
                total.fwd_bytes &+= stats.fwd_bytes
                total.reply_packets &+= stats.reply_packets
                total.reply_bytes &+= stats.reply_bytes
            }
            let old = published.rules[index]
            guard total.fwd_packets != old.fwd_packets || total.reply_packets != old.reply_packets else { continue }
            var key = UInt32(index), value = xdpfwd_rule_stats()
            let looked = cxdp_map_lookup(rulesFD, &key, &value)
            value.fwd_packets &+= total.fwd_packets &- old.fwd_packets
            value.fwd_bytes &+= total.fwd_bytes &- old.fwd_bytes
            value.reply_packets &+= total.reply_packets &- old.reply_packets
            value.reply_bytes &+= total.reply_bytes &- old.reply_bytes
            let result = looked < 0 ? looked : cxdp_map_update(rulesFD, &key, &value, UInt64(CXDP_BPF_ANY))
            if result < 0 { if firstError == 0 { firstError = result }; continue }
            published.rules[index] = total
        }
        return firstError
    }
}
