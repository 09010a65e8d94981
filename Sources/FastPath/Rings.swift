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
        ringBytes = Int(geometry.txBlockSize) * Int(geometry.txBlockCount)
    }

    var cursor: TXCursor {
        TXCursor(fd: fd, ring: ring, ifindex: ifindex, frameSize: frameSize, frameCount: frameCount,
                 capacity: Int(cxdp_afp_tx_capacity(frameSize)))
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
/// filled in order and sent by one kick per batch. `pending` counts frames
/// queued since the last kick.
struct TXCursor {
    let fd: Int32
    let ring: UnsafeMutableRawPointer
    let ifindex: UInt32
    let frameSize: UInt32
    let frameCount: UInt32
    let capacity: Int
    var next: UInt32 = 0
    var pending = 0
    /// Frames that found the ring full (the device could not keep up).
    var overruns: UInt64 = 0

    /// Copies a frame into the next free slot; false when the ring is full
    /// even after a kick.
    @inline(__always)
    mutating func enqueue(_ data: UnsafeRawPointer, _ length: Int) -> Bool {
        guard length <= capacity else { return false }
        var slot = cxdp_afp_tx_frame(ring, frameSize, next)!
        if cxdp_afp_tx_available(slot) == 0 {
            kick()
            slot = cxdp_afp_tx_frame(ring, frameSize, next)!
            if cxdp_afp_tx_available(slot) == 0 {
                overruns &+= 1
                return false
            }
        }
        UnsafeMutableRawPointer(cxdp_afp_tx_data(slot)!).copyMemory(from: data, byteCount: length)
        cxdp_afp_tx_submit(slot, UInt32(length))
        next = next &+ 1 == frameCount ? 0 : next &+ 1
        pending &+= 1
        return true
    }

    @inline(__always)
    mutating func kick() {
        guard pending > 0 else { return }
        _ = cxdp_afp_tx_kick(fd)
        pending = 0
    }
}
