import CXDP
@testable import FastPath
import Glibc
import Packets
import TestSupport
import Testing
import XDPLoader

/// The kernel's side of FastPath's VLAN handling, on a real veth pair in a
/// throwaway namespace: frames sent with their tags in the bytes arrive in
/// a TPACKET_V3 ring with the outer tag taken off into tpacket3_hdr (with
/// the device's rx-vlan offload on or off), and VLAN.wireFrame, which the
/// worker runs on every packet, gives back exactly the bytes that were sent.
@Suite("FastPath: tagged frames through a real AF_PACKET ring", .serialized,
       .enabled(if: Capabilities.bpfAndNetns, Capabilities.reason))
struct VLANRingCaptureTests {
    static let senderMAC: Packet.MAC = "02:00:00:00:0a:02"

    static func frame(_ tags: [Packet.VLANTag], _ marker: UInt8) -> [UInt8] {
        Packet.udp(src: "198.18.2.2:40000", dst: "198.18.2.1:5353", payload: [marker, 1, 2, 3],
                   srcMAC: senderMAC, dstMAC: "02:00:00:00:0a:01").with { $0.ethernet.tags = tags }.bytes
    }

    static let sent: [[UInt8]] = [
        frame([], 0),
        frame([.dot1q(100, pcp: 5)], 1),
        frame([.dot1ad(300, pcp: 3), .dot1q(30)], 2),
        frame([.dot1ad(7)], 3),
        frame([.dot1q(100), .dot1q(200)], 4),
        frame([.dot1ad(300), .dot1q(30), .dot1q(3)], 5),
    ]

    @Test("outer tag in metadata, inner tags in the bytes, restored to the wire's frame", arguments: ["on", "off"])
    func restoresWireFrames(rxvlan: String) throws {
        let ns = try NetworkNamespace(name: "xfp-ring-\(getpid())-\(rxvlan)")
        try ns.exec(["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"])
        try ns.exec(["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"])
        try ns.ip(["link", "add", "r0", "type", "veth", "peer", "name", "r1"])
        try ns.exec(["ethtool", "-K", "r1", "rxvlan", rxvlan])
        for device in ["r0", "r1"] { try ns.ip(["link", "set", device, "up"]) }

        var geometry = RingGeometry()
        geometry.blockCount = 4
        let (ring, sender, r0) = try ns.enter {
            (try RXRing(ifindex: if_nametoindex("r1"), name: "r1", geometry: geometry, fanoutID: -1),
             socket(AF_PACKET, Int32(SOCK_RAW.rawValue), 0), if_nametoindex("r0"))
        }
        #expect(sender >= 0)
        defer { close(sender) }
        var address = sockaddr_ll()
        address.sll_family = UInt16(AF_PACKET)
        address.sll_ifindex = Int32(r0)
        address.sll_halen = 6
        for frame in Self.sent {
            let sentBytes = frame.withUnsafeBytes { bytes in
                withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(sender, bytes.baseAddress, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_ll>.size))
                    }
                }
            }
            #expect(sentBytes == frame.count, "sendto: errno \(errno)")
        }

        var received: [[UInt8]] = [], metadataTags = 0
        var cursor = ring.cursor
        let deadline = time(nil) + 3
        while received.count < Self.sent.count && time(nil) < deadline {
            let block = cxdp_afp_block(cursor.ring, cursor.blockSize, cursor.current)!
            guard cxdp_afp_block_ready(block) != 0 else {
                var poller = pollfd(fd: ring.fd, events: Int16(POLLIN), revents: 0)
                _ = poll(&poller, 1, 100)
                continue
            }
            var packet = cxdp_afp_block_first(block)!
            for _ in 0..<cxdp_afp_block_packets(block) {
                let wire = try #require(VLAN.wireFrame(packet))
                let bytes = Array(UnsafeRawBufferPointer(start: wire.data, count: wire.length))
                // Only our frames (nothing else should be on the link).
                if bytes.count > 12 && Array(bytes[6..<12]) == Self.senderMAC.bytes {
                    received.append(bytes)
                    if cxdp_afp_status(packet) & UInt32(TP_STATUS_VLAN_VALID) != 0 { metadataTags += 1 }
                    #expect(wire.headroom >= 8, "a push of two tags must still fit: \(wire.headroom)")
                }
                packet = cxdp_afp_next(packet)!
            }
            cxdp_afp_block_release(block)
            cursor.current = cursor.current + 1 == cursor.blockCount ? 0 : cursor.current + 1
        }
        #expect(received == Self.sent, "\(received.map { Packet.describe($0) })")
        // Every tagged frame's outer tag came through the metadata.
        #expect(metadataTags == Self.sent.count - 1)
    }
}
