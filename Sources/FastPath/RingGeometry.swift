/// Sizes of FastPath's packet rings, validated in pure Swift before any
/// socket exists (the kernel's own checks in packet_set_ring, plus sanity
/// limits), so a bad flag is a usage error with a reason, not an EINVAL.
///
/// RX is TPACKET_V3: packets are packed into blocks of `blockSize` bytes;
/// a block goes to user space when full or after `retireMs`. TX is
/// TPACKET_V2: `txFrames` fixed slots of `txFrameSize` bytes.
public struct RingGeometry: Sendable, Equatable, CustomStringConvertible {
    public var blockSize: UInt32 = 1 << 18        // 256 KiB
    public var blockCount: UInt32 = 32            // 8 MiB per RX ring
    public var frameSize: UInt32 = 2048           // V3: the kernel's frame accounting unit
    public var retireMs: UInt32 = 1               // latency bound for a part-filled block
    public var txFrameSize: UInt32 = 2048
    public var txFrames: UInt32 = 1024
    /// Frames queued before a kick sends them: a burst the device's queue
    /// can take (veth's ring holds 256; a NIC's TX ring often 256-1024).
    public var txBatch: UInt32 = 64

    public static let pageSize: UInt32 = 4096
    public static let maxRingBytes: UInt64 = 1 << 30

    public init() {}

    public enum Problem: Error, Equatable, CustomStringConvertible {
        case invalid(String)
        public var description: String {
            switch self { case .invalid(let text): text }
        }
    }

    /// Throws the first rule a value breaks.
    public func validate(mtu: UInt32 = 1500) throws(Problem) {
        func fail(_ text: String) -> Problem { .invalid(text) }
        guard blockSize >= Self.pageSize, blockSize % Self.pageSize == 0, blockSize & (blockSize - 1) == 0 else {
            throw fail("--ring-block-size \(blockSize): must be a power of two, at least the page size (\(Self.pageSize))")
        }
        guard frameSize >= 128, frameSize % 16 == 0 else {
            throw fail("--ring-frame-size \(frameSize): must be a multiple of 16 (TPACKET_ALIGNMENT), at least 128")
        }
        guard frameSize <= blockSize else {
            throw fail("--ring-frame-size \(frameSize) exceeds --ring-block-size \(blockSize)")
        }
        // The largest packet must fit in one block beside the block header.
        guard blockSize >= mtu + 14 + 256 else {
            throw fail("--ring-block-size \(blockSize) cannot hold one \(mtu)-byte-MTU packet with its headers")
        }
        guard (1...65536).contains(blockCount) else { throw fail("--ring-blocks \(blockCount): must be 1-65536") }
        guard UInt64(blockSize) * UInt64(blockCount) <= Self.maxRingBytes else {
            throw fail("RX ring of \(blockCount) x \(blockSize) bytes exceeds \(Self.maxRingBytes >> 20) MiB")
        }
        guard (1...1000).contains(retireMs) else { throw fail("--ring-retire-ms \(retireMs): must be 1-1000") }
        guard txFrameSize >= 128, txFrameSize % 16 == 0, txFrameSize <= Self.pageSize * 16, txFrameSize & (txFrameSize - 1) == 0 else {
            throw fail("--tx-frame-size \(txFrameSize): must be a power of two, 128-\(Self.pageSize * 16)")
        }
        // Frame header and sockaddr_ll gap (TPACKET2_HDRLEN - sockaddr_ll = 32),
        // the virtio_net_hdr (10), the packet.
        guard txFrameSize >= mtu + 14 + 32 + 10 else {
            throw fail("--tx-frame-size \(txFrameSize) cannot hold one \(mtu)-byte-MTU packet")
        }
        guard (8...262_144).contains(txFrames), txFrames & (txFrames - 1) == 0 else {
            throw fail("--tx-frames \(txFrames): must be a power of two, 8-262144")
        }
        guard (1...txFrames).contains(txBatch) else {
            throw fail("--tx-batch \(txBatch): must be 1-\(txFrames) (--tx-frames)")
        }
    }

    /// TX ring blocks: whole pages holding whole frames.
    public var txBlockSize: UInt32 { max(Self.pageSize, txFrameSize) }
    public var txBlockCount: UInt32 { txFrames / (txBlockSize / txFrameSize) }

    public var description: String {
        "rx \(blockCount) x \(blockSize / 1024) KiB blocks (frame \(frameSize), retire \(retireMs) ms), tx \(txFrames) x \(txFrameSize) B (kick every \(txBatch))"
    }
}
