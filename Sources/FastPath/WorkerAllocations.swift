import Glibc

/// One worker's frames and heap allocations, RX ring drops and TX frames
/// not sent, as the running forwarder reports them (`xdpfwd status` and
/// `stats`, afpacket mode). Counts are cumulative
/// since the worker started; allocations per packet over an interval is the
/// difference of two reports' `allocations` over that of their `frames`.
/// Steady state (docs/fastpath.md): once every code path the traffic takes
/// has run once (first use initialises lazily: Swift type metadata in an
/// unoptimised build), a repeat of the same traffic; the e2e check reports
/// 0 allocations over a second round of downloads.
public struct WorkerAllocations: Sendable, Equatable {
    public let cpu: Int
    /// Frames the worker read from its RX rings since it started.
    public let frames: UInt64
    /// Heap allocations by the worker thread since it started.
    public let allocations: UInt64
    /// Of those, the ones made before the worker's first frame (thread
    /// start-up, the loop's buffers).
    public let startupAllocations: UInt64
    /// Packets the worker's RX rings dropped because they were full (the
    /// kernel did the RX work, the worker never saw them).
    public let ringDrops: UInt64
    /// Frames the worker meant to transmit that never reached the egress
    /// device: its TX ring full, longer than a TX slot, refused by the
    /// device or the device down (TXCursor.kick).
    public let txNotSent: UInt64

    public init(cpu: Int, frames: UInt64, allocations: UInt64, startupAllocations: UInt64, ringDrops: UInt64 = 0,
                txNotSent: UInt64 = 0) {
        self.cpu = cpu
        self.frames = frames
        self.allocations = allocations
        self.startupAllocations = startupAllocations
        self.ringDrops = ringDrops
        self.txNotSent = txNotSent
    }

    /// The report file: one line per worker,
    /// "cpu frames allocations startup_allocations ring_drops tx_not_sent".
    public static func format(_ workers: [WorkerAllocations]) -> String {
        workers.map { "\($0.cpu) \($0.frames) \($0.allocations) \($0.startupAllocations) \($0.ringDrops) \($0.txNotSent)\n" }
            .joined()
    }

    /// Parses `format`'s text; a malformed line makes the whole report nil
    /// (a half-read report would mislead).
    public static func parse(_ text: String) -> [WorkerAllocations]? {
        var workers: [WorkerAllocations] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count == 6, let cpu = Int(fields[0]), cpu >= 0 else { return nil }
            let numbers = fields.dropFirst().compactMap { UInt64($0) }
            guard numbers.count == 5, numbers[2] <= numbers[1] else { return nil }
            workers.append(WorkerAllocations(cpu: cpu, frames: numbers[0], allocations: numbers[1],
                                             startupAllocations: numbers[2], ringDrops: numbers[3], txNotSent: numbers[4]))
        }
        return workers
    }
}

extension ForwarderFiles {
    /// The running forwarder's per-worker report, rewritten every 200 ms
    /// (written to a temporary name, then renamed).
    public var workersFile: String { "\(directory)/\(base).afpacket.workers" }

    public func writeWorkers(_ workers: [WorkerAllocations]) throws {
        let temporary = workersFile + ".tmp"
        try writeText(temporary, WorkerAllocations.format(workers))
        if rename(temporary, workersFile) != 0 { throw FastPathError("rename", workersFile, errno: errno) }
    }

    /// The report of the live forwarder; nil when none is running or the
    /// file is missing or malformed.
    public func liveWorkers() -> [WorkerAllocations]? {
        guard livePID() != nil, let text = readText(workersFile) else { return nil }
        return WorkerAllocations.parse(text)
    }

    public func removeWorkers() { unlink(workersFile) }
}
