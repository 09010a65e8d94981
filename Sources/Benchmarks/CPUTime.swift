import CXDP
import Foundation
import XDPLoader

/// CPU time of the threads that do a forwarder's work, from
/// /proc/TID/schedstat (first field: nanoseconds on a CPU).
enum CPUTime {
    /// Nanoseconds thread `tid` has run, 0 if it is gone.
    static func ns(_ tid: Int32) -> UInt64 {
        guard let text = try? String(contentsOfFile: "/proc/\(tid)/schedstat", encoding: .utf8),
              let first = text.split(separator: " ").first, let value = UInt64(first) else { return 0 }
        return value
    }

    static func ns(_ tids: [Int32]) -> UInt64 { tids.reduce(0) { $0 + ns($1) } }

    /// Threaded-NAPI kthreads of a device: named "napi/DEV-ID" (truncated to
    /// 15 characters, so device names must be short and unique).
    static func napiThreads(device: String) -> [Int32] {
        let prefix = "napi/\(device)-"
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> Int32? in
            guard let pid = Int32(entry),
                  let comm = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8) else { return nil }
            return comm.hasPrefix(String(prefix.prefix(15))) ? pid : nil
        }
    }

    static func pin(_ tids: [Int32], cpu: Int) throws {
        for tid in tids { try check(cxdp_pin_task(tid, Int32(cpu)), "sched_setaffinity", "thread \(tid)") }
    }

    /// Real-time priority (SCHED_FIFO) for threads that must run as soon
    /// as they have work.
    static func realtime(_ tids: [Int32], priority: Int32) throws {
        for tid in tids {
            var param = sched_param(sched_priority: priority)
            guard sched_setscheduler(tid, SCHED_FIFO, &param) == 0 else {
                throw XDPFwdError.syscall(SyscallError("sched_setscheduler(SCHED_FIFO)", "thread \(tid)", errno: errno))
            }
        }
    }
}

/// The host's cache state (docs/benchmarks.md): a cache line bounced
/// between two CPUs reads about 85 ns round trip with a shared L3 and about
/// 400 ns with split L3s here.
public struct CacheProbe: Codable, Sendable {
    public let roundTripNs: Double
    public var state: String { roundTripNs < 200 ? "shared L3" : "split L3" }

    public static func measure(_ a: Int, _ b: Int) -> CacheProbe? {
        let ns = cxdp_cacheline_pingpong_ns(Int32(a), Int32(b), 200_000)
        return ns > 0 ? CacheProbe(roundTripNs: ns) : nil
    }

    enum CodingKeys: String, CodingKey { case roundTripNs = "round_trip_ns", state }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(roundTripNs, forKey: .roundTripNs)
        try c.encode(state, forKey: .state)
    }
    public init(roundTripNs: Double) { self.roundTripNs = roundTripNs }
    public init(from decoder: Decoder) throws {
        roundTripNs = try decoder.container(keyedBy: CodingKeys.self).decode(Double.self, forKey: .roundTripNs)
    }
}
