import CXDP
import Packets
import XDPLoader

/// The sink of `bench topo` and of generator tests: an XDP program that
/// counts IPv4 TCP/UDP frames, keeps a sample of them and drops them.
public final class Sink: @unchecked Sendable {
    private let object: BenchObject
    private let counts: PerCPUMap<UInt32, xfb_sink_count>
    private let sampleMap: PerCPUMap<UInt32, xfb_sample>
    private var link: OwnedFD?

    public init() throws {
        object = try BenchObject()
        counts = try PerCPUMap(fd: object.map("xfb_sink_count"), name: "xfb_sink_count")
        sampleMap = try PerCPUMap(fd: object.map("xfb_samples"), name: "xfb_samples")
    }

    /// Attaches to ifindex in the calling thread's network namespace.
    public func attach(ifindex: UInt32) throws {
        link = try attachXDP(object.program("xfb_sink"), ifindex: ifindex, what: "sink ifindex \(ifindex)")
    }

    public func detach() { link = nil }

    /// Packets and bytes counted so far, summed over CPUs.
    public func count() throws -> (packets: UInt64, bytes: UInt64) {
        try counts.lookup(0).reduce((0, 0)) { ($0.0 + $1.packets, $0.1 + $1.bytes) }
    }

    /// Sampled frames (the first 16 per CPU, then every 1024th): each with
    /// its full length and the bytes captured (at most 128).
    public func samples() throws -> [(length: Int, bytes: [UInt8])] {
        var result: [(Int, [UInt8])] = []
        for slot in 0..<UInt32(XFB_SAMPLES) {
            for sample in try sampleMap.lookup(slot) where sample.len > 0 {
                let bytes = withUnsafeBytes(of: sample.data) { Array($0.prefix(Int(sample.captured))) }
                result.append((Int(sample.len), bytes))
            }
        }
        return result
    }

    /// Zeroes counters and samples.
    public func reset() throws {
        try counts.fill(0, xfb_sink_count())
        for slot in 0..<UInt32(XFB_SAMPLES) { try sampleMap.fill(slot, xfb_sample()) }
    }
}
