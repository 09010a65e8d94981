import CXDP
@testable import FastPath
import Glibc
import Packets
import TestSupport
import Testing
import XDPLoader

/// The worker report's `ringDrops` (TPACKET_V3 PACKET_STATISTICS
/// tp_drops) against drops that really happen: a worker that is not
/// running owns a tiny RX ring (2 blocks of a page) on a veth in a
/// throwaway namespace, and a bounded burst from the peer overfills it.
/// Every frame sent is either in the ring or counted as dropped, exactly.
@Suite("FastPath: RX ring drops in the worker report", .serialized,
       .enabled(if: Capabilities.bpfAndNetns, Capabilities.reason))
struct RXRingDropsTests {
    static let senderMAC: Packet.MAC = "02:00:00:00:0c:02"
    static let burst = 150

    @Test("a full ring's drops are counted once each, and the frames in it plus the drops are the burst")
    func dropsAreCounted() throws {
        let ns = try NetworkNamespace(name: "xfp-drops-\(getpid())")
        try ns.exec(["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"])
        try ns.exec(["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"])
        try ns.ip(["link", "add", "d0", "type", "veth", "peer", "name", "d1"])
        for device in ["d0", "d1"] { try ns.ip(["link", "set", device, "up"]) }

        var geometry = RingGeometry()
        geometry.blockSize = RingGeometry.pageSize
        geometry.blockCount = 2
        geometry.retireMs = 1
        try geometry.validate()
        let (datapath, _) = try Datapath.load()
        let stop = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
        stop.initialize(to: 1)
        defer { stop.deallocate() }
        let (worker, sender, d0) = try ns.enter {
            let ring = try RXRing(ifindex: if_nametoindex("d1"), name: "d1", geometry: geometry, fanoutID: -1)
            let state = MapState(datapath: datapath, egressInterfaces: [])
            return (try Worker(cpu: 0, rx: [ring], tx: [], state: state, stop: stop),
                    socket(AF_PACKET, Int32(SOCK_RAW.rawValue), 0), if_nametoindex("d0"))
        }
        #expect(sender >= 0)
        defer { close(sender) }

        // Nothing has arrived yet: no drops.
        worker.collectRingDrops()
        #expect(worker.report.snapshot.ringDrops == 0)

        #expect(send(Self.burst, from: sender, on: d0, marker: 1) == Self.burst)
        usleep(50_000)  // the last block retires after 1 ms
        worker.collectRingDrops()
        let drops = worker.report.snapshot.ringDrops
        var cursor = worker.rx[0].cursor
        let inRing = drain(&cursor)
        #expect(drops > 0, "a ring of 2 pages cannot hold \(Self.burst) frames")
        #expect(inRing.ours > 0)
        #expect(inRing.ours + Int(drops) == Self.burst, "in the ring \(inRing), dropped \(drops)")
        #expect(inRing.others == 0)

        // PACKET_STATISTICS resets when read: collecting again adds nothing.
        worker.collectRingDrops()
        #expect(worker.report.snapshot.ringDrops == drops)

        // Drained, the ring takes a burst that fits, and drops nothing more.
        #expect(send(10, from: sender, on: d0, marker: 2) == 10)
        usleep(50_000)
        worker.collectRingDrops()
        #expect(drain(&cursor).ours == 10)
        #expect(worker.report.snapshot.ringDrops == drops)
    }

    /// Sends `count` UDP frames to d1 through d0; how many sendto took.
    private func send(_ count: Int, from fd: Int32, on ifindex: UInt32, marker: UInt8) -> Int {
        let frame = Packet.udp(src: "198.18.4.2:40000", dst: "198.18.4.1:9", payload: [marker, 0, 0, 0],
                               srcMAC: Self.senderMAC, dstMAC: "02:00:00:00:0c:01").bytes
        var address = sockaddr_ll()
        address.sll_family = UInt16(AF_PACKET)
        address.sll_ifindex = Int32(ifindex)
        address.sll_halen = 6
        var sent = 0
        for _ in 0..<count {
            let result = frame.withUnsafeBytes { bytes in
                withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(fd, bytes.baseAddress, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_ll>.size))
                    }
                }
            }
            if result == frame.count { sent += 1 }
        }
        return sent
    }

    /// Reads and releases every ready block; our frames and any others.
    private func drain(_ cursor: inout RXCursor) -> (ours: Int, others: Int) {
        var ours = 0, others = 0
        while true {
            let block = cxdp_afp_block(cursor.ring, cursor.blockSize, cursor.current)!
            guard cxdp_afp_block_ready(block) != 0 else { break }
            var packet = cxdp_afp_block_first(block)!
            for _ in 0..<cxdp_afp_block_packets(block) {
                let data = cxdp_afp_data(packet)!
                if Array(UnsafeBufferPointer(start: data + 6, count: 6)) == Self.senderMAC.bytes { ours += 1 } else { others += 1 }
                packet = cxdp_afp_next(packet)!
            }
            cxdp_afp_block_release(block)
            cursor.current = cursor.current + 1 == cursor.blockCount ? 0 : cursor.current + 1
        }
        return (ours, others)
    }
}
