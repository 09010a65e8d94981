@testable import Benchmarks
import Packets
import Testing

/// `bench topo` fails a run on any wrong sample: the IPv6 checks accept a
/// correctly translated frame and name each kind of mistake.
@Suite("bench topo sample checks (IPv6)")
struct BenchSampleCheckTests {
    let nat66 = ForwarderCase(key: "xdpfwd-native6", name: "n", kind: .xdpNative, ipv6: true)
    let dnat66 = ForwarderCase(key: "xdpfwd-native6-dnat", name: "d", kind: .xdpNative, snat: false, ipv6: true)
    let bare6 = ForwarderCase(key: "bare6", name: "b", kind: .bare, snat: false, ipv6: true)

    /// What the sink should see: 64 bytes from f1 to s0, to the backend.
    func frame(src: Packet6.Endpoint = "[2001:2:0:1::1]:40000", dst: Packet6.Endpoint = "[2001:2:0:1::2]:6000",
               hopLimit: UInt8 = 63, srcMAC: Packet.MAC = Topology.f1MAC) -> [UInt8] {
        Packet6.udp(src: src, dst: dst, payload: [0x5a, 0x5a], hopLimit: hopLimit, srcMAC: srcMAC, dstMAC: Topology.s0MAC).bytes
    }

    func problem(_ c: ForwarderCase, _ bytes: [UInt8], length: Int? = nil) -> String? {
        c.problem(with: bytes, length: length ?? bytes.count, size: 64)
    }

    @Test("correct frames pass")
    func correct() {
        #expect(frame().count == 64)
        #expect(problem(nat66, frame()) == nil)
        #expect(problem(dnat66, frame(src: "[2001:2::7]:1024")) == nil)
        #expect(problem(bare6, frame(src: "[2001:2::2]:1024", hopLimit: 64)) == nil)
    }

    @Test("each mistake is named")
    func mistakes() {
        #expect(problem(nat66, frame(src: "[2001:2::2]:1024"))?.hasPrefix("source ") == true)
        #expect(problem(dnat66, frame())?.contains("not the generator's") == true)
        #expect(problem(nat66, frame(dst: "[2001:2:0:1::2]:6001"))?.hasPrefix("destination") == true)
        #expect(problem(nat66, frame(dst: "[2001:2:0:1::3]:6000"))?.hasPrefix("destination") == true)
        #expect(problem(nat66, frame(hopLimit: 64)) == "hop limit 64, expected 63")
        #expect(problem(bare6, frame(src: "[2001:2::2]:1024")) == "hop limit 63, expected 64")
        #expect(problem(nat66, frame(srcMAC: Topology.f0MAC))?.hasPrefix("MACs") == true)
        #expect(problem(nat66, frame(), length: 70) == "length 70, sent 64")

        var zero = frame()
        zero[60] = 0
        zero[61] = 0
        #expect(problem(nat66, zero) == "UDP checksum 0 (IPv6 requires one)")
        var corrupt = frame()
        corrupt[63] ^= 0x01
        #expect(problem(nat66, corrupt)?.hasPrefix("bad checksum") == true)
        var plen = frame()
        plen[19] += 1
        #expect(problem(nat66, plen)?.hasPrefix("payload length") == true)
        let ipv4 = Packet.udp(src: "198.18.1.1:40000", dst: "198.18.1.2:6000", payload: Array(repeating: 0, count: 22),
                              srcMAC: Topology.f1MAC, dstMAC: Topology.s0MAC).bytes
        #expect(problem(nat66, ipv4) == "not untagged IPv6")
        let tcp = Packet6.tcp(src: "[2001:2:0:1::1]:40000", dst: "[2001:2:0:1::2]:6000", hopLimit: 63,
                              srcMAC: Topology.f1MAC, dstMAC: Topology.s0MAC).with { $0.trailer = [0, 0, 0, 0, 0, 0] }.bytes
        #expect(nat66.problem(with: tcp, length: tcp.count, size: tcp.count) == "not UDP without extension headers")
    }
}
