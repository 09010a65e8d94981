import CXDP
@testable import FastPath
import Glibc
import Packets
import TestSupport
import Testing
import XDPLoader

/// The worker's TX ring against a device that refuses frames, on a real
/// veth pair in a throwaway namespace: a frame longer than the peer's MTU,
/// the peer down, the device itself down. tpacket_snd would keep a refused
/// frame queued and stop every later send at it; TXCursor counts each such
/// frame in `notSent`, has the kernel skip it, and the frames behind it
/// still reach the peer.
@Suite("FastPath: TX frames the device refuses are counted, not queued forever", .serialized,
       .enabled(if: Capabilities.bpfAndNetns, Capabilities.reason))
struct TXNotSentTests {
    static let senderMAC: Packet.MAC = "02:00:00:00:0b:02"

    /// A UDP frame of `size` bytes whose first payload byte is `marker`.
    static func frame(_ marker: UInt8, size: Int = 100) -> [UInt8] {
        Packet.udp(src: "198.18.3.2:40000", dst: "198.18.3.1:9", payload: [marker] + [UInt8](repeating: 0, count: size - 43),
                   srcMAC: senderMAC, dstMAC: "02:00:00:00:0b:01").bytes
    }

    /// t0 -> t1, t1's MTU 1280: a TX ring of 8 slots on t0 (sent by the
    /// kicks of `send`, or a full `txBatch`), a capture socket on t1.
    final class Bed {
        let ns: NetworkNamespace
        let ring: TXRing
        let capture: Int32
        var cursor: TXCursor

        init(_ name: String, txBatch: UInt32 = 8) throws {
            ns = try NetworkNamespace(name: "xfp-tx-\(getpid())-\(name)")
            try ns.exec(["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"])
            try ns.exec(["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"])
            try ns.ip(["link", "add", "t0", "type", "veth", "peer", "name", "t1"])
            try ns.ip(["link", "set", "t1", "mtu", "1280"])
            for device in ["t0", "t1"] { try ns.ip(["link", "set", device, "up"]) }
            var geometry = RingGeometry()
            geometry.txFrames = 8
            geometry.txBatch = txBatch
            try geometry.validate()
            (ring, capture) = try ns.enter {
                let ring = try TXRing(ifindex: if_nametoindex("t0"), name: "t0", geometry: geometry, qdiscBypass: true)
                let fd = socket(AF_PACKET, Int32(SOCK_RAW.rawValue), Int32(UInt16(ETH_P_ALL).bigEndian))
                var address = sockaddr_ll()
                address.sll_family = UInt16(AF_PACKET)
                address.sll_protocol = UInt16(ETH_P_ALL).bigEndian
                address.sll_ifindex = Int32(if_nametoindex("t1"))
                let bound = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_ll>.size)) }
                }
                if fd < 0 || bound != 0 { throw XDPFwdError.state("capture socket on t1: errno \(errno)") }
                return (ring, fd)
            }
            cursor = ring.cursor
        }

        deinit { close(capture) }

        /// Queues the frames (true for each one the ring took), then kicks.
        func send(_ frames: [[UInt8]]) -> [Bool] {
            let taken = frames.map { frame in frame.withUnsafeBytes { cursor.enqueue($0.baseAddress!, $0.count) } }
            cursor.kick()
            return taken
        }

        /// The markers of our frames that reached t1, within 300 ms.
        func received() -> [UInt8] {
            var markers: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 2048)
            let deadline = Worker.monotonicNs() + 300_000_000
            while Worker.monotonicNs() < deadline {
                var poller = pollfd(fd: capture, events: Int16(POLLIN), revents: 0)
                guard poll(&poller, 1, 50) > 0 else { continue }
                let count = recv(capture, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                if count > 42 && Array(buffer[6..<12]) == TXNotSentTests.senderMAC.bytes { markers.append(buffer[42]) }
            }
            return markers
        }
    }

    @Test("frames longer than the peer's MTU: counted, skipped, the frames between them sent")
    func longerThanPeerMTU() throws {
        let bed = try Bed("mtu")
        let taken = bed.send([Self.frame(1), Self.frame(2, size: 1400), Self.frame(3), Self.frame(4, size: 1400), Self.frame(5)])
        #expect(taken == [true, true, true, true, true])
        #expect(bed.cursor.notSent == 2)
        #expect(bed.cursor.pending == 0)
        #expect(bed.received() == [1, 3, 5])
        // The ring moves on: more than its 8 slots of frames, all sent.
        for marker in UInt8(10)..<UInt8(20) { _ = bed.send([Self.frame(marker)]) }
        #expect(bed.received() == Array(10..<20))
        #expect(bed.cursor.notSent == 2)
    }

    @Test("the peer down: every frame counted; nothing stale once it is back up")
    func peerDown() throws {
        let bed = try Bed("peer")
        try bed.ns.ip(["link", "set", "t1", "down"])
        #expect(bed.send([Self.frame(1), Self.frame(2), Self.frame(3)]) == [true, true, true])
        #expect(bed.cursor.notSent == 3)
        #expect(bed.cursor.pending == 0)
        try bed.ns.ip(["link", "set", "t1", "up"])
        _ = bed.send([Self.frame(4)])
        #expect(bed.received() == [4])
        #expect(bed.cursor.notSent == 3)
    }

    @Test("the device down: queued frames counted once, a full ring counts each refused frame; once up, only new frames go")
    func deviceDown() throws {
        let bed = try Bed("dev")
        try bed.ns.ip(["link", "set", "t0", "down"])
        // 8 slots take 8 frames; the kick finds the device down.
        #expect(bed.send((1...8).map { Self.frame($0) }) == Array(repeating: true, count: 8))
        #expect(bed.cursor.notSent == 8)
        #expect(bed.cursor.pending == 8)
        // The ring is full of them: the next two find no slot.
        #expect(bed.send([Self.frame(9), Self.frame(10)]) == [false, false])
        #expect(bed.cursor.notSent == 10)
        // Kicking again while down counts nothing twice.
        bed.cursor.kick()
        #expect(bed.cursor.notSent == 10)
        try bed.ns.ip(["link", "set", "t0", "up"])
        #expect(bed.send([Self.frame(11)]) == [true])
        #expect(bed.cursor.pending == 0)
        #expect(bed.received() == [11])
        #expect(bed.cursor.notSent == 10)
    }

    @Test("a full batch is sent as it fills; the frames after it wait for the next kick")
    func batchKick() throws {
        let bed = try Bed("batch", txBatch: 4)
        let queued = (1...6).map { marker in
            Self.frame(UInt8(marker)).withUnsafeBytes { bed.cursor.enqueue($0.baseAddress!, $0.count) }
        }
        #expect(queued == Array(repeating: true, count: 6))
        // The fourth frame completed a batch: 1-4 went; 5 and 6 wait.
        #expect(bed.cursor.pending == 2)
        #expect(bed.received() == [1, 2, 3, 4])
        bed.cursor.kick()
        #expect(bed.cursor.pending == 0)
        #expect(bed.received() == [5, 6])
        #expect(bed.cursor.notSent == 0)
    }

    @Test("a frame longer than a TX slot is counted and not queued")
    func longerThanSlot() throws {
        let bed = try Bed("slot")
        #expect(bed.send([Self.frame(1, size: Int(bed.cursor.capacity) + 1), Self.frame(2)]) == [false, true])
        #expect(bed.cursor.notSent == 1)
        #expect(bed.received() == [2])
    }
}
