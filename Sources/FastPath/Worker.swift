import CXDP
import Glibc

/// One forwarding thread, pinned to its CPU: it owns an RX ring on every
/// FastPath interface (with several workers, each in that interface's
/// PACKET_FANOUT_HASH group, so a flow direction always reaches the same
/// worker), a TX ring on every interface, a raw socket for the slow path
/// and its own counters. Nothing is shared with other workers except the
/// BPF maps, so the packet loop takes no lock and allocates nothing: frames
/// are rewritten in place in the RX block and copied once into a TX slot.
final class Worker {
    let cpu: Int
    /// Owners of the sockets and mappings; the loop uses the cursors.
    let rx: [RXRing]
    let tx: [TXRing]
    let rawFD: Int32
    let raw6FD: Int32
    var state: MapState
    let stop: UnsafeMutablePointer<Int32>
    /// Frames and heap allocations of this thread, for the forwarder's
    /// report (written by the worker, read by the publisher).
    let report: WorkerReport

    init(cpu: Int, rx: [RXRing], tx: [TXRing], state: MapState, stop: UnsafeMutablePointer<Int32>) throws {
        self.cpu = cpu
        self.rx = rx
        self.tx = tx
        self.state = state
        self.stop = stop
        report = WorkerReport(cpu: cpu)
        var failed: UnsafePointer<CChar>? = nil
        let fd = cxdp_raw_ipv4_open(&failed)
        if fd < 0 { throw FastPathError(failed.map { String(cString: $0) } ?? "socket", "slow path", errno: -fd) }
        let fd6 = cxdp_raw_ipv6_open(&failed)
        if fd6 < 0 {
            close(fd)
            throw FastPathError(failed.map { String(cString: $0) } ?? "socket", "IPv6 slow path", errno: -fd6)
        }
        rawFD = fd
        raw6FD = fd6
    }

    deinit {
        close(rawFD)
        close(raw6FD)
    }

    /// Adds what the RX rings dropped since the last call to the report
    /// (the publisher thread's job: PACKET_STATISTICS resets on read).
    func collectRingDrops() {
        for ring in rx {
            var drops: UInt64 = 0
            if cxdp_afp_rx_drops(ring.fd, &drops) == 0 { report.ringDrops &+= drops }
        }
    }

    /// The thread body: drain every ring, kick the TX rings, sleep in poll
    /// when there was nothing to do. The rings' state lives in two buffers
    /// of plain structs allocated here, so the loop touches no reference.
    func run() {
        _ = cxdp_pin_thread(Int32(cpu))
        let startAllocations = cxdp_thread_allocations()
        let rxCursors = UnsafeMutableBufferPointer<RXCursor>.allocate(capacity: rx.count)
        _ = rxCursors.initialize(from: rx.map(\.cursor))
        let txCursors = UnsafeMutableBufferPointer<TXCursor>.allocate(capacity: tx.count)
        _ = txCursors.initialize(from: tx.map(\.cursor))
        let fds = UnsafeMutableBufferPointer<pollfd>.allocate(capacity: rx.count)
        _ = fds.initialize(from: rx.map { pollfd(fd: $0.fd, events: Int16(POLLIN | POLLERR), revents: 0) })
        defer {
            rxCursors.deallocate()
            txCursors.deallocate()
            fds.deallocate()
        }
        let report = self.report
        let stop = self.stop
        let rawFD = self.rawFD, raw6FD = self.raw6FD
        var state = self.state
        var frames: UInt64 = 0
        // What thread start-up and these buffers cost, before any frame.
        let startup = cxdp_thread_allocations() &- startAllocations
        report.store(frames: 0, allocations: startup, startupAllocations: startup, txNotSent: 0)
        var reportedNotSent: UInt64 = 0
        var flushed = Self.monotonicNs()
        while stop.pointee == 0 {
            var worked = false
            for index in 0..<rxCursors.count
            where Self.drain(&rxCursors[index], txCursors, rawFD, raw6FD, &frames, &state) {
                worked = true
            }
            // Kicks also run idle: frames a full socket buffer held back.
            var notSent: UInt64 = 0
            for index in 0..<txCursors.count {
                txCursors[index].kick()
                notSent &+= txCursors[index].notSent
            }
            if worked || notSent != reportedNotSent {
                report.store(frames: frames, allocations: cxdp_thread_allocations() &- startAllocations, startupAllocations: startup,
                             txNotSent: notSent)
                reportedNotSent = notSent
            }
            if !worked {
                _ = poll(fds.baseAddress, nfds_t(fds.count), 100)
            }
            // Per-flow counts the cache gathered reach the map at least
            // this often, busy or idle (FlowCache).
            let now = Self.monotonicNs()
            if now &- flushed >= Self.flowFlushNs {
                state.flushFlowCounters()
                flushed = now
            }
        }
        state.flushFlowCounters()
        self.state = state
    }

    static let flowFlushNs: UInt64 = 250_000_000

    @inline(__always)
    static func monotonicNs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// Every ready block of one RX ring; true if there was one.
    @inline(__always)
    private static func drain(_ ring: inout RXCursor, _ tx: UnsafeMutableBufferPointer<TXCursor>, _ rawFD: Int32,
                              _ raw6FD: Int32, _ frames: inout UInt64, _ state: inout MapState) -> Bool {
        var any = false
        while true {
            let block = cxdp_afp_block(ring.ring, ring.blockSize, ring.current)!
            guard cxdp_afp_block_ready(block) != 0 else { break }
            any = true
            var packet = cxdp_afp_block_first(block)!
            let count = cxdp_afp_block_packets(block)
            var index: UInt32 = 0
            while index < count {
                // A truncated capture cannot be forwarded whole (ring frames
                // smaller than the packet): the kernel keeps it (the TC
                // classifier lets it through).
                if cxdp_afp_snaplen(packet) == cxdp_afp_len(packet) {
                    handle(packet, ingress: ring.ifindex, tx, rawFD, raw6FD, &state)
                }
                packet = cxdp_afp_next(packet)!
                index &+= 1
            }
            frames &+= UInt64(count)
            cxdp_afp_block_release(block)
            ring.current = ring.current &+ 1 == ring.blockCount ? 0 : ring.current &+ 1
        }
        return any
    }

    @inline(__always)
    private static func handle(_ packet: UnsafeMutablePointer<tpacket3_hdr>, ingress: UInt32,
                               _ tx: UnsafeMutableBufferPointer<TXCursor>, _ rawFD: Int32, _ raw6FD: Int32,
                               _ state: inout MapState) {
        // The kernel took any outer VLAN tag off before the tap: back on,
        // so the packet function sees the frame as XDP would.
        guard let frame = VLAN.wireFrame(packet) else { return }
        let verdict = PacketFunction.run(frame.data, length: frame.length, headroom: frame.headroom, ingress: ingress,
                                         state: &state)
        // Tags pushed or popped moved the frame's head.
        let data = frame.data + verdict.offset
        let length = frame.length - verdict.offset
        switch verdict.action {
        case .tx:
            transmit(data, length, on: ingress, tx)
        case .redirect:
            transmit(data, length, on: verdict.ifindex, tx)
        case .slowpath:
            // The kernel routes the translated packet (untagged: the packet
            // function popped any tags) and resolves the neighbour (the XDP
            // path's TC bpf_redirect_neigh).
            let ip = data + 14
            if data.loadUnaligned(fromByteOffset: 12, as: UInt16.self) == UInt16(0x86DD).bigEndian {
                // IPv6: the parser checked the payload length against the frame.
                let payloadLength = Int(UInt16(bigEndian: ip.loadUnaligned(fromByteOffset: 4, as: UInt16.self)))
                _ = cxdp_raw_ipv6_send(raw6FD, ip, 40 + payloadLength)
                return
            }
            let totalLength = Int(UInt16(bigEndian: ip.loadUnaligned(fromByteOffset: 2, as: UInt16.self)))
            _ = cxdp_raw_ipv4_send(rawFD, ip, totalLength, ip.loadUnaligned(fromByteOffset: 16, as: UInt32.self))
        case .pass, .drop:
            // pass: the stack has its own copy (the TC classifier let it
            // through); drop: nothing to do.
            break
        }
    }

    @inline(__always)
    private static func transmit(_ data: UnsafeMutableRawPointer, _ length: Int, on ifindex: UInt32,
                                 _ tx: UnsafeMutableBufferPointer<TXCursor>) {
        var index = 0
        while index < tx.count {
            if tx[index].ifindex == ifindex {
                _ = tx[index].enqueue(data, length)
                return
            }
            index &+= 1
        }
    }
}

/// A worker's frames and heap allocations (malloc_count.c's per-thread
/// counter) since the worker started, those before its first frame, and
/// its TX frames not sent. Written by the worker once per batch, read by
/// the forwarder's publisher thread (relaxed atomics); and the RX rings'
/// drops, which only the publisher reads and writes.
public final class WorkerReport: @unchecked Sendable {
    public let cpu: Int
    var ringDrops: UInt64 = 0
    private let values = UnsafeMutablePointer<UInt64>.allocate(capacity: 4)

    init(cpu: Int) {
        self.cpu = cpu
        values.initialize(repeating: 0, count: 4)
    }

    deinit { values.deallocate() }

    @inline(__always)
    func store(frames: UInt64, allocations: UInt64, startupAllocations: UInt64, txNotSent: UInt64) {
        cxdp_store_relaxed_u64(values, frames)
        cxdp_store_relaxed_u64(values + 1, allocations)
        cxdp_store_relaxed_u64(values + 2, startupAllocations)
        cxdp_store_relaxed_u64(values + 3, txNotSent)
    }

    public var snapshot: WorkerAllocations {
        WorkerAllocations(cpu: cpu, frames: cxdp_load_relaxed_u64(values), allocations: cxdp_load_relaxed_u64(values + 1),
                          startupAllocations: cxdp_load_relaxed_u64(values + 2), ringDrops: ringDrops,
                          txNotSent: cxdp_load_relaxed_u64(values + 3))
    }
}
