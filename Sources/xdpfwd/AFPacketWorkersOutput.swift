import CXDP
import FastPath
import Glibc
import XDPLoader

/// The AF_PACKET forwarder's per-worker report as `status` and `stats`
/// show it: one reader, one text line, one JSON shape for both commands.
struct AFPacketWorkersOutput {
    /// The forwarder's PID; nil when no interface is in afpacket mode or no
    /// forwarder runs.
    let pid: pid_t?
    /// Its workers' report; nil without a live forwarder or when the report
    /// file is missing or malformed.
    let workers: [WorkerAllocations]?

    /// Reads the live forwarder's report if `afpacketAttached`.
    init(layout: PinLayout, afpacketAttached: Bool) {
        let files = ForwarderFiles(layout: layout)
        pid = afpacketAttached ? files.livePID() : nil
        workers = pid == nil ? nil : files.liveWorkers()
    }

    /// Whether the ifaces map records any interface in afpacket mode.
    static func afpacketAttached(_ maps: DatapathMaps) throws -> Bool {
        try maps.ifaces.entries().contains { UInt32($0.1.mode) == XDPFWD_MODE_AFPACKET.rawValue }
    }

    var json: [WorkerJSON]? { workers?.map(WorkerJSON.init) }

    /// One line per worker, as both commands print it.
    static func line(_ worker: WorkerAllocations) -> String {
        "afpacket worker on CPU \(worker.cpu): \(worker.frames) frames, \(worker.allocations) heap allocations "
            + "since start (\(worker.startupAllocations) before the first frame), \(worker.ringDrops) dropped by full RX rings, "
            + "\(worker.txNotSent) TX frames not sent"
    }
}
