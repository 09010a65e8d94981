import CXDP
import FastPath
import Foundation
import Glibc
import Synchronization
import TestSupport
import Testing
import XDPLoader

/// A worker's flow cache defers each flow's packet and byte counts and
/// flushes them into the pinned conntrack entry. The flush must add to the
/// entry as the map holds it at that instant, never write back anything
/// else: another worker (or the XDP program) may have changed the entry
/// since the worker cached it, e.g. set the FIN state of the flow's twin.
@Suite("FastPath: deferred per-flow counts keep what other writers changed", .serialized,
       .enabled(if: Capabilities.bpfAndNetns, Capabilities.reason))
struct FlowCountFlushTests {
    static let est = UInt8(XDPFWD_CT_TCP_EST.rawValue), fin = UInt8(XDPFWD_CT_TCP_FIN.rawValue)

    /// The reply entry of an established NATed TCP flow, as the maps hold it.
    static func replyEntry() -> (xdpfwd_flow_key, xdpfwd_flow) {
        var key = xdpfwd_flow_key()
        key.saddr = UInt32(0xC612_0102).bigEndian // 198.18.1.2
        key.daddr = UInt32(0xC612_0101).bigEndian // 198.18.1.1
        key.sport = UInt16(8000).bigEndian
        key.dport = UInt16(40000).bigEndian
        key.proto = 6
        var entry = xdpfwd_flow()
        entry.new_saddr = UInt32(0xC612_0001).bigEndian
        entry.new_daddr = UInt32(0xC612_0002).bigEndian
        entry.new_sport = UInt16(8080).bigEndian
        entry.new_dport = UInt16(40001).bigEndian
        entry.rule_id = 3
        entry.direction = UInt8(XDPFWD_DIR_REPLY.rawValue)
        entry.state = est
        entry.last_seen_ns = 1_000
        entry.packets = 7
        entry.bytes = 700
        entry.created = 42
        return (key, entry)
    }

    static func replyEntry6() -> (xdpfwd_flow6_key, xdpfwd_flow6) {
        var key = xdpfwd_flow6_key()
        key.saddr = (UInt32(0x2001_0002).bigEndian, 0, UInt32(1).bigEndian, UInt32(2).bigEndian)
        key.daddr = (UInt32(0x2001_0002).bigEndian, 0, UInt32(1).bigEndian, UInt32(1).bigEndian)
        key.sport = UInt16(8000).bigEndian
        key.dport = UInt16(40000).bigEndian
        key.proto = 6
        var entry = xdpfwd_flow6()
        entry.new_saddr = (UInt32(0x2001_0002).bigEndian, 0, 0, UInt32(1).bigEndian)
        entry.new_daddr = (UInt32(0x2001_0002).bigEndian, 0, 0, UInt32(2).bigEndian)
        entry.new_sport = UInt16(8080).bigEndian
        entry.new_dport = UInt16(40001).bigEndian
        entry.rule_id = 4
        entry.direction = UInt8(XDPFWD_DIR_REPLY.rawValue)
        entry.state = est
        entry.last_seen_ns = 2_000
        entry.packets = 9
        entry.bytes = 900
        entry.created = 43
        entry.csum_delta = 0x1234
        return (key, entry)
    }

    /// The entry's bytes with its counters zeroed: everything a flush must leave alone.
    static func withoutCounts<T>(_ entry: T, packets: WritableKeyPath<T, UInt32>, bytes: WritableKeyPath<T, UInt64>) -> [UInt8] {
        var entry = entry
        entry[keyPath: packets] = 0
        entry[keyPath: bytes] = 0
        return withUnsafeBytes(of: &entry) { Array($0) }
    }

    @Test("IPv4: a FIN set in the map behind the cache survives the flush, and the counts are added")
    func stateSurvivesFlushIPv4() throws {
        let (datapath, _) = try Datapath.load()
        let (key, entry) = Self.replyEntry()
        try datapath.maps.flows.update(key, entry)
        var worker = MapState(datapath: datapath, egressInterfaces: [], flowCacheSlots: 16)
        var cached = xdpfwd_flow()
        #expect(worker.lookupFlow(key, &cached) && cached.state == Self.est)
        worker.countFlow(key, bytes: 100)
        worker.countFlow(key, bytes: 60)
        // Another worker sees the FIN and sets it, with a new last-seen.
        var changed = entry
        changed.state = Self.fin
        changed.last_seen_ns = 5_000
        try datapath.maps.flows.update(key, changed, .exist)
        worker.flushFlowCounters()
        let after = try #require(try datapath.maps.flows.lookup(key))
        #expect(after.state == Self.fin && after.last_seen_ns == 5_000)
        #expect(after.packets == 9 && after.bytes == 860, "packets \(after.packets) bytes \(after.bytes)")
        #expect(Self.withoutCounts(after, packets: \.packets, bytes: \.bytes)
            == Self.withoutCounts(changed, packets: \.packets, bytes: \.bytes))
        // Flushed once: a second flush adds nothing.
        worker.flushFlowCounters()
        #expect(try datapath.maps.flows.lookup(key)?.packets == 9)
    }

    @Test("IPv6: a FIN set in the map behind the cache survives the flush, and the counts are added")
    func stateSurvivesFlushIPv6() throws {
        let (datapath, _) = try Datapath.load()
        let (key, entry) = Self.replyEntry6()
        try datapath.maps.flows6.update(key, entry)
        var worker = MapState(datapath: datapath, egressInterfaces: [], flowCacheSlots: 16)
        var cached = xdpfwd_flow6()
        #expect(worker.lookupFlow6(key, &cached) && cached.state == Self.est)
        worker.countFlow6(key, bytes: 1500)
        var changed = entry
        changed.state = Self.fin
        changed.last_seen_ns = 6_000
        try datapath.maps.flows6.update(key, changed, .exist)
        worker.flushFlowCounters()
        let after = try #require(try datapath.maps.flows6.lookup(key))
        #expect(after.state == Self.fin && after.last_seen_ns == 6_000)
        #expect(after.packets == 10 && after.bytes == 2400, "packets \(after.packets) bytes \(after.bytes)")
        #expect(Self.withoutCounts(after, packets: \.packets, bytes: \.bytes)
            == Self.withoutCounts(changed, packets: \.packets, bytes: \.bytes))
    }

    @Test("a flush for an entry deleted meanwhile does not bring it back")
    func deletedStaysDeleted() throws {
        let (datapath, _) = try Datapath.load()
        let (key, entry) = Self.replyEntry()
        try datapath.maps.flows.update(key, entry)
        var worker = MapState(datapath: datapath, egressInterfaces: [], flowCacheSlots: 16)
        var cached = xdpfwd_flow()
        #expect(worker.lookupFlow(key, &cached))
        worker.countFlow(key, bytes: 100)
        try datapath.maps.flows.delete(key)
        worker.flushFlowCounters()
        #expect(try datapath.maps.flows.lookup(key) == nil)
    }

    final class Flusher: Sendable {
        let flushes = Atomic<Int>(0)
        let stop = Atomic<Bool>(false)
        let done = Atomic<Bool>(false)
        let ready = Atomic<Bool>(false)
    }

    /// Worker A flushes a busy flow's counts back to back on its own
    /// thread while worker B, as Conntrack.setState does, writes the
    /// entry's state (read, change the state, one BPF_EXIST update) and
    /// then waits for two more flushes. Every state B wrote must still be
    /// there. A flush that read the whole entry and wrote it back would
    /// undo B's write whenever B's update fell between its read and its
    /// write, about half of A's time.
    @Test("IPv4: state written by another worker while this one flushes back to back is never lost")
    func concurrentStateWritesSurvive() throws {
        let (datapath, _) = try Datapath.load()
        let (key, entry) = Self.replyEntry()
        try datapath.maps.flows.update(key, entry)
        let shared = Flusher()
        Thread.detachNewThread {
            var worker = MapState(datapath: datapath, egressInterfaces: [], flowCacheSlots: 16)
            var cached = xdpfwd_flow()
            _ = worker.lookupFlow(key, &cached)
            shared.ready.store(true, ordering: .releasing)
            // Bounded: at most 5 million flushes, whatever the main thread does.
            for _ in 0..<5_000_000 where !shared.stop.load(ordering: .acquiring) {
                worker.countFlow(key, bytes: 100)
                worker.flushFlowCounters()
                shared.flushes.add(1, ordering: .releasing)
            }
            shared.done.store(true, ordering: .releasing)
        }
        defer {
            shared.stop.store(true, ordering: .releasing)
            while !shared.done.load(ordering: .acquiring) { usleep(1_000) }
        }
        let deadline = Date().addingTimeInterval(20)
        while !shared.ready.load(ordering: .acquiring) && Date() < deadline { usleep(100) }

        var other = MapState(datapath: datapath, egressInterfaces: [])
        var lost: [String] = []
        var rounds = 0
        while rounds < 2_000 && Date() < deadline && !shared.done.load(ordering: .acquiring) {
            rounds += 1
            var current = xdpfwd_flow()
            try #require(other.reloadFlow(key, &current), "the entry vanished")
            current.state = rounds % 2 == 1 ? Self.fin : Self.est
            current.last_seen_ns = UInt64(rounds)
            try #require(other.updateFlow(key, current, flags: UInt64(CXDP_BPF_EXIST)) == 0)
            let seen = shared.flushes.load(ordering: .acquiring)
            while shared.flushes.load(ordering: .acquiring) < seen + 2 && !shared.done.load(ordering: .acquiring) { sched_yield() }
            var after = xdpfwd_flow()
            try #require(other.reloadFlow(key, &after), "the entry vanished")
            if after.state != current.state || after.last_seen_ns != current.last_seen_ns {
                lost.append("round \(rounds): wrote state \(current.state) last_seen \(current.last_seen_ns), "
                    + "read state \(after.state) last_seen \(after.last_seen_ns)")
            }
        }
        #expect(rounds >= 100, "only \(rounds) rounds ran before the deadline")
        #expect(lost.count == 0, "\(lost.count) of \(rounds) writes lost, first: \(lost.first ?? "")")
        shared.stop.store(true, ordering: .releasing)
        while !shared.done.load(ordering: .acquiring) { usleep(1_000) }
        let flushed = shared.flushes.load(ordering: .acquiring)
        let final = try #require(try datapath.maps.flows.lookup(key))
        // B's whole-entry writes may drop counts added between its read
        // and its write, never add any.
        #expect(flushed > 0 && UInt64(final.packets) <= 7 + UInt64(flushed) && final.bytes <= 700 + 100 * UInt64(flushed))
    }
}
