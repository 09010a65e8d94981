import CXDP
import FastPath
import Packets
import TestSupport
import Testing
import XDPLoader

/// Thousands of generated frames (CorpusGenerator: random protocols, sizes,
/// truncations, options, ports, VLAN tags, replies to live flows) through the BPF
/// program and FastPath side by side: identical verdicts, bytes, counters
/// and conntrack tables.
@Suite("FastPath parity: generated corpus", .serialized,
       .enabled(if: Capabilities.bpfAndNetns, Capabilities.reason))
struct GeneratedCorpusTests {
    static let framesPerRun = 1000

    /// A narrow SNAT range (24 ports, fewer than the 32 probes: exhaustion is
    /// reached and is deterministic) and the default range, each without and
    /// with the forwarder's conntrack cache (256 slots: collisions too).
    @Test("generated frames", arguments: [(UInt64(1), UInt16(40000), UInt16(40023), 0), (2, 0, 0, 0),
                                          (3, 40000, 40023, 256), (4, 0, 0, 256)])
    func generated(seed: UInt64, portMin: UInt16, portMax: UInt16, cacheSlots: Int) throws {
        let bed = try DifferentialBed(flowCacheSlots: cacheSlots)
        for (proto, listen, backend, snat) in CorpusGenerator.rules {
            try bed.addRule(proto, listen, backend, snat: snat)
        }
        try bed.setConfig { $0.snat_port_min = portMin; $0.snat_port_max = portMax }
        var generator = CorpusGenerator(seed: seed)
        for index in 0..<Self.framesPerRun {
            let (frame, fromBackend, fromClient) = generator.next()
            let outcome = try bed.feed(frame, ingress: fromBackend ? bed.outIndex : bed.inIndex, "seed \(seed) #\(index)")
            if [.redirect, .tx, .slowpath].contains(outcome.fastPath.action) {
                let output = outcome.fastPath.action == .slowpath ? Array(outcome.output.dropFirst(8)) : outcome.output
                if fromClient { generator.learn(output: output) } else { generator.learnQuote(output: output) }
            }
        }
        try bed.expectSameFlows("seed \(seed) end")
        // The corpus must reach every verdict, or it proves less than it seems.
        for verdict in ["pass", "drop", "tx", "redirect", "slowpath"] {
            #expect(bed.verdicts[verdict, default: 0] > 0, "seed \(seed): no \(verdict) verdicts in \(bed.verdicts)")
        }
        // Tags pushed, popped or rewritten to a different count.
        #expect(bed.headMoves > 20, "seed \(seed): \(bed.headMoves) frames left with their head moved")
        let snapshot = try CountersReader(maps: bed.fastPath.maps).snapshot()
        let reached = snapshot.global.filter { $0.value > 0 }.map(\.name)
        print("seed \(seed): \(bed.frames) frames, verdicts \(bed.verdicts), \(bed.headMoves) head moves, counters reached \(reached)")
    }

    /// The same for IPv6 frames (CorpusGenerator6: extension header chains,
    /// fragments, ICMPv6 errors, hop limits, VLAN tags) around IPv6 rules of
    /// every kind.
    @Test("generated IPv6 frames", arguments: [(UInt64(11), UInt16(40000), UInt16(40023), 0), (12, 0, 0, 0),
                                               (13, 40000, 40023, 256), (14, 0, 0, 256)])
    func generated6(seed: UInt64, portMin: UInt16, portMax: UInt16, cacheSlots: Int) throws {
        let bed = try DifferentialBed(flowCacheSlots: cacheSlots)
        for (proto, listen, backend, snat) in CorpusGenerator6.rules {
            try bed.addRule(proto, listen, backend, snat: snat)
        }
        try bed.setConfig { $0.snat_port_min = portMin; $0.snat_port_max = portMax }
        var generator = CorpusGenerator6(seed: seed)
        for index in 0..<Self.framesPerRun {
            let (frame, fromBackend, fromClient) = generator.next()
            let outcome = try bed.feed(frame, ingress: fromBackend ? bed.outIndex : bed.inIndex, "seed \(seed) #\(index)")
            if [.redirect, .tx, .slowpath].contains(outcome.fastPath.action) {
                let output = outcome.fastPath.action == .slowpath ? Array(outcome.output.dropFirst(8)) : outcome.output
                if fromClient { generator.learn(output: output) } else { generator.learnQuote(output: output) }
            }
        }
        try bed.expectSameFlows("seed \(seed) end")
        for verdict in ["pass", "drop", "tx", "redirect", "slowpath"] {
            #expect(bed.verdicts[verdict, default: 0] > 0, "seed \(seed): no \(verdict) verdicts in \(bed.verdicts)")
        }
        #expect(bed.headMoves > 5, "seed \(seed): \(bed.headMoves) IPv6 frames left with their head moved (VLAN tags)")
        // The IPv6-only paths must be reached too.
        let snapshot = try CountersReader(maps: bed.fastPath.maps).snapshot()
        for counter in ["pass_ipv6_exthdr", "pass_fragment", "icmp_translated", "flow_new", "pass_ttl", "pass_malformed"] {
            #expect(snapshot.global(counter) > 0, "seed \(seed): \(counter) never counted")
        }
        let reached = snapshot.global.filter { $0.value > 0 }.map(\.name)
        print("seed \(seed) (IPv6): \(bed.frames) frames, verdicts \(bed.verdicts), \(bed.headMoves) head moves, counters reached \(reached)")
    }
}
