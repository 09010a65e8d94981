import CXDP
import Glibc

/// A failed call of FastPath's: which call, on what, and errno.
public struct FastPathError: Error, CustomStringConvertible, Sendable {
    public let call: String
    public let target: String
    public let errno: Int32

    public init(_ call: String, _ target: String, errno: Int32) {
        self.call = call
        self.target = target
        self.errno = errno
    }

    public var description: String {
        var text = "\(call)(\(target)) failed: \(String(cString: strerror(errno))) (errno \(errno))"
        if errno == EPERM || errno == EACCES { text += "; xdpfwd needs root (CAP_NET_RAW, CAP_NET_ADMIN)" }
        return text
    }
}

/// A TPACKET_V3 RX ring: its socket and mapping, closed exactly once.
/// The packet loop reads it through `cursor`.
final class RXRing {
    let fd: Int32
    let ring: UnsafeMutableRawPointer
    let ifindex: UInt32
    let blockSize: UInt32
    let blockCount: UInt32

    /// fanoutID < 0: no fanout group (one worker: the group would only add
    /// a flow hash per packet).
    init(ifindex: UInt32, name: String, geometry: RingGeometry, fanoutID: Int32) throws {
        var ring: UnsafeMutableRawPointer? = nil
        var failed: UnsafePointer<CChar>? = nil
        let fd = cxdp_afp_rx_open(Int32(ifindex), geometry.blockSize, geometry.blockCount, geometry.frameSize,
                                  geometry.retireMs, fanoutID, &ring, &failed)
        if fd < 0 { throw FastPathError(failed.map { String(cString: $0) } ?? "AF_PACKET RX setup", name, errno: -fd) }
        self.fd = fd
        self.ring = ring!
        self.ifindex = ifindex
        blockSize = geometry.blockSize
        blockCount = geometry.blockCount
    }

    var cursor: RXCursor { RXCursor(ring: ring, blockSize: blockSize, blockCount: blockCount, ifindex: ifindex) }

    deinit { cxdp_afp_close(fd, ring, Int(blockSize) * Int(blockCount)) }
}

/// A TPACKET_V2 TX ring: its socket and mapping, closed exactly once.
/// The packet loop fills it through `cursor`.
final class TXRing {
    let fd: Int32
    let ring: UnsafeMutableRawPointer
    let ifindex: UInt32
    let frameSize: UInt32
    let frameCount: UInt32
    let ringBytes: Int
    let batch: Int

    init(ifindex: UInt32, name: String, geometry: RingGeometry, qdiscBypass: Bool) throws {
        var ring: UnsafeMutableRawPointer? = nil
        var failed: UnsafePointer<CChar>? = nil
        let fd = cxdp_afp_tx_open(Int32(ifindex), geometry.txBlockSize, geometry.txBlockCount, geometry.txFrameSize,
                                  qdiscBypass ? 1 : 0, &ring, &failed)
        if fd < 0 { throw FastPathError(failed.map { String(cString: $0) } ?? "AF_PACKET TX setup", name, errno: -fd) }
        self.fd = fd
        self.ring = ring!
        self.ifindex = ifindex
        frameSize = geometry.txFrameSize
        frameCount = geometry.txFrames
        batch = Int(geometry.txBatch)
        ringBytes = Int(geometry.txBlockSize) * Int(geometry.txBlockCount)
    }

    var cursor: TXCursor {
        TXCursor(fd: fd, ring: ring, ifindex: ifindex, frameSize: frameSize, frameCount: frameCount,
                 capacity: Int(cxdp_afp_tx_capacity(frameSize)), batch: batch)
    }

    deinit { cxdp_afp_close(fd, ring, ringBytes) }
}

/// What the packet loop needs of an RX ring, as plain values (no reference
/// counting in the loop). `current` is the next block to read.
struct RXCursor {
    let ring: UnsafeMutableRawPointer
    let blockSize: UInt32
    let blockCount: UInt32
    let ifindex: UInt32
    var current: UInt32 = 0
}

/// What the packet loop needs of a TX ring, as plain values: frames are
/// filled in order and sent by one kick per `batch` frames, and by the
/// worker's kick after each pass over its RX rings. `pending` counts the
/// frames before `next` that the kernel has not taken yet.
struct TXCursor {
    let fd: Int32
    let ring: UnsafeMutableRawPointer
    let ifindex: UInt32
    let frameSize: UInt32
    let frameCount: UInt32
    let capacity: Int
    /// Frames queued since the last kick that trigger the next one
    /// (RingGeometry.txBatch).
    let batch: Int
    var next: UInt32 = 0
    /// Frames queued since the last kick (frames the kernel left pending
    /// do not count again, so a full socket buffer does not kick per frame).
    var queued = 0
    var pending = 0
    /// Frames the worker meant to send here that never reached the device:
    /// the ring was full (the device could not keep up), the frame was
    /// longer than a slot, or the device refused it or was down (`kick`).
    var notSent: UInt64 = 0

    /// Copies a frame into the next free slot; false (counted in `notSent`)
    /// when it does not fit a slot or the ring is full even after a kick.
    @inline(__always)
    mutating func enqueue(_ data: UnsafeRawPointer, _ length: Int) -> Bool {
        guard length <= capacity else {
            notSent &+= 1
            return false
        }
        var slot = frame(next)
        if cxdp_afp_tx_available(slot) == 0 {
            kick()
            slot = frame(next)
            if cxdp_afp_tx_available(slot) == 0 {
                notSent &+= 1
                return false
            }
        }
        UnsafeMutableRawPointer(cxdp_afp_tx_data(slot)!).copyMemory(from: data, byteCount: length)
        cxdp_afp_tx_submit(slot, UInt32(length))
        next = next &+ 1 == frameCount ? 0 : next &+ 1
        pending &+= 1
        queued &+= 1
        if queued >= batch { kick() }
        return true
    }

    /// Sends the pending frames. What tpacket_snd (6.x) does decides what
    /// can be counted exactly: it takes frames in ring order and stops at
    /// the first it cannot take, so the frames not taken are the last
    /// `pending` ones, still TP_STATUS_SEND_REQUEST. A frame the device
    /// refuses at once (the xmit drops it: the veth peer down, longer than
    /// the peer's MTU, a stopped queue) is not dropped but queued again,
    /// and send() fails with ENOBUFS: every later kick would stop at it,
    /// and the byte count of the frames sent before it is lost. (PACKET_LOSS
    /// skips only frames that fail to parse.) So the kick reads the frames'
    /// status, not send()'s count: after ENOBUFS (any error but EAGAIN) it
    /// turns the first frame not taken into one the kernel skips, counts
    /// it, and kicks again; after ENETDOWN or ENXIO (the kernel took
    /// nothing) it does so to every frame not taken, which the first kick
    /// after the device is back skips. EAGAIN or a short send (the socket's
    /// buffer is full) leaves them queued for the next kick. Frames the
    /// device accepted and lost later (a qdisc, the driver) are its own
    /// tx_dropped, out of the ring's sight.
    @inline(__always)
    mutating func kick() {
        queued = 0
        guard pending > 0 else { return }
        while true {
            let result = cxdp_afp_tx_kick(fd)
            settle()
            if pending == 0 || result == 0 || result == -EAGAIN { return }
            if result == -ENETDOWN || result == -ENXIO {
                _ = discardPending(all: true)
                return
            }
            // Ends: every round marks a frame not marked before.
            guard discardPending(all: false) else { return }
        }
    }

    @inline(__always)
    private func frame(_ index: UInt32) -> UnsafeMutablePointer<tpacket2_hdr> {
        cxdp_afp_tx_frame(ring, frameSize, index)!
    }

    /// The slot `back` frames before `next` (frameCount is a power of two).
    @inline(__always)
    private func frame(before back: Int) -> UnsafeMutablePointer<tpacket2_hdr> {
        frame((next &+ frameCount &- UInt32(back)) & (frameCount &- 1))
    }

    /// Drops from `pending` the frames the kernel took.
    @inline(__always)
    private mutating func settle() {
        // Taken in order: the last one taken means all were.
        if cxdp_afp_tx_queued(frame(before: 1)) == 0 {
            pending = 0
            return
        }
        while pending > 0 && cxdp_afp_tx_queued(frame(before: pending)) == 0 { pending &-= 1 }
    }

    /// Marks the first pending frame not yet marked (every one with `all`)
    /// for the kernel to skip, counting each; false if none was left.
    @inline(__always)
    private mutating func discardPending(all: Bool) -> Bool {
        var back = pending, marked = false
        while back > 0 {
            let slot = frame(before: back)
            back &-= 1
            if cxdp_afp_tx_discarded(slot) != 0 { continue }
            cxdp_afp_tx_discard(slot)
            notSent &+= 1
            marked = true
            if !all { break }
        }
        return marked
    }
}
