import Benchmarks
import Glibc
import Packets
import TestSupport
import Testing
import XDPLoader

/// `xdpfwd gen` emits exactly the frames asked for: counted and inspected
/// by the sink XDP program on the veth peer, for both engines.
@Suite("Traffic generator", .serialized, .enabled(if: Capabilities.bpfAndNetns, Capabilities.reason))
final class GeneratorTests {
    let namespace: NetworkNamespace
    let sink: Sink
    let peerMAC: Packet.MAC = "02:00:00:00:0b:02"
    private static let counter = DatapathFixture.Counter()

    init() throws {
        namespace = try NetworkNamespace(name: "xfg-\(getpid())-\(Self.counter.next())")
        try namespace.ip(["link", "add", "g0", "address", "02:00:00:00:0b:01", "type", "veth",
                          "peer", "name", "p0", "address", peerMAC.description])
        for device in ["g0", "p0"] { try namespace.ip(["link", "set", device, "up"]) }
        sink = try Sink()
        try namespace.enter { try sink.attach(ifindex: if_nametoindex("p0")) }
    }

    func options(_ method: Generator.Method, l4: Generator.L4 = .udp, flows: Int, size: Int, count: UInt64) -> Generator.Options {
        var o = Generator.Options()
        o.interface = "g0"
        o.dstMAC = peerMAC
        o.src = "198.18.0.2:1024"
        o.dst = "198.18.0.1:5000"
        o.method = method
        o.l4 = l4
        o.flows = flows
        o.size = size
        o.count = count
        o.duration = 20
        o.rate = 200_000   // well below what the sink drains: nothing is lost
        o.batch = 32
        return o
    }

    /// Sends, then checks the count and every sampled frame.
    func check(_ o: Generator.Options, expectPorts: Set<UInt16>, expectSources: Set<String>) throws {
        try sink.reset()
        let result = try namespace.enter { try Generator(options: o).run() }
        #expect(result.sent == o.count)
        if o.method != .auto { #expect(result.method == o.method) }
        // The peer drains its ring asynchronously: wait (bounded) for the count.
        var delivered: UInt64 = 0
        for _ in 0..<50 {
            delivered = try sink.count().packets
            if delivered >= o.count! { break }
            usleep(20_000)
        }
        #expect(delivered == o.count)
        let samples = try sink.samples()
        #expect(samples.count >= min(16, Int(o.count!)))
        var ports = Set<UInt16>(), sources = Set<String>()
        if o.src.isIPv6 { return try check6(samples, o, expectPorts: expectPorts, expectSources: expectSources) }
        for sample in samples {
            #expect(sample.length == o.size)
            let packet = try Packet.decode(sample.bytes)
            #expect(packet.ethernet.dst == peerMAC)
            #expect(packet.ethernet.src == "02:00:00:00:0b:01")
            #expect(Generator.Endpoint.v4(packet.dst) == o.dst)
            #expect(o.l4 == .udp ? packet.udp != nil : packet.tcp?.flags == [.syn])
            if sample.bytes.count == sample.length {
                #expect(Packet.checksumsValid(sample.bytes), "\(Packet.describe(sample.bytes))")
            }
            ports.insert(packet.src.port)
            sources.insert(packet.ip.src.description)
        }
        #expect(ports.isSubset(of: expectPorts) && ports.count == min(expectPorts.count, 16))
        #expect(sources == expectSources)
    }

    /// The IPv6 half of check: every sample an untagged IPv6 frame of the
    /// asked size, to the destination, from flow ports and sources, with
    /// the payload length of the frame and a TCP/UDP checksum right over
    /// the pseudo-header (a UDP one present).
    func check6(_ samples: [(length: Int, bytes: [UInt8])], _ o: Generator.Options, expectPorts: Set<UInt16>,
                expectSources: Set<String>) throws {
        guard case .v6(let dst) = o.dst else { Issue.record("destination \(o.dst) is not IPv6"); return }
        var ports = Set<UInt16>(), sources = Set<Packet6.Address>()
        for sample in samples {
            #expect(sample.length == o.size)
            #expect(sample.bytes.count == min(o.size, 128))
            let packet = try Packet6.decode(sample.bytes)
            #expect(packet.ethernet.etherType == 0x86DD && packet.ethernet.tags.isEmpty)
            #expect(packet.ethernet.dst == peerMAC)
            #expect(packet.ethernet.src == "02:00:00:00:0b:01")
            #expect(packet.ip.dst == dst.address && packet.ip.hopLimit == 64 && packet.extensionHeaders.isEmpty)
            let l4Length = o.l4 == .udp ? o.size - 54 : 20   // the TCP SYN's padding is a trailer
            #expect(Int(packet.ip.payloadLength ?? 0) == l4Length, "\(Packet6.describe(sample.bytes))")
            switch o.l4 {
            case .udp:
                #expect(packet.udp?.dport == dst.port)
                #expect(sample.bytes.be16(at: 60) != 0, "UDP checksum 0")
                if let port = packet.udp?.sport { ports.insert(port) }
            case .tcp:
                #expect(packet.tcp?.dport == dst.port && packet.tcp?.flags == [.syn])
                if let port = packet.tcp?.sport { ports.insert(port) }
            }
            if sample.bytes.count == sample.length {
                #expect(Packet6.checksumErrors(sample.bytes).isEmpty, "\(Packet6.describe(sample.bytes))")
            }
            sources.insert(packet.ip.src)
        }
        #expect(ports.isSubset(of: expectPorts) && ports.count == min(expectPorts.count, 16))
        #expect(sources == Set(expectSources.map { Packet6.Address(stringLiteral: $0) }))
    }

    @Test("UDP flows: count, ports, size, checksums", arguments: [Generator.Method.live, .afpacket])
    func udpFlows(method: Generator.Method) throws {
        try check(options(method, flows: 8, size: 100, count: 1000),
                  expectPorts: Set(1024..<1032), expectSources: ["198.18.0.2"])
    }

    @Test("TCP SYN frames of minimum size", arguments: [Generator.Method.live, .afpacket])
    func tcpSyn(method: Generator.Method) throws {
        try check(options(method, l4: .tcp, flows: 3, size: 60, count: 300),
                  expectPorts: [1024, 1025, 1026], expectSources: ["198.18.0.2"])
    }

    @Test("IPv6 UDP flows, flows past the port span on the next source addresses", arguments: [Generator.Method.live, .afpacket])
    func udpFlows6(method: Generator.Method) throws {
        // A port span of 2 (from port 65534): flows 0-1 from ::2, 2-3 from ::3, 4 from ::4.
        var o = options(method, flows: 5, size: 100, count: 500)
        o.src = "[2001:2::2]:65534"
        o.dst = "[2001:2::1]:5000"
        try check(o, expectPorts: [65534, 65535], expectSources: ["2001:2::2", "2001:2::3", "2001:2::4"])
    }

    @Test("IPv6 frames of minimum size: UDP 62 bytes, TCP SYN 74 (and padded)", arguments: [Generator.Method.live, .afpacket])
    func minimum6(method: Generator.Method) throws {
        for (l4, size) in [(Generator.L4.udp, 62), (.tcp, 74), (.tcp, 90)] {
            var o = options(method, l4: l4, flows: 3, size: size, count: 300)
            o.src = "[2001:2::2]:1024"
            o.dst = "[2001:2::1]:5000"
            try check(o, expectPorts: [1024, 1025, 1026], expectSources: ["2001:2::2"])
        }
    }

    @Test("flows past the port range move the source address on")
    func manyFlows() throws {
        // 64512 ports from 1024; flows 64512-99999 come from 198.18.0.3.
        // The sink samples every 1024th frame too, so both addresses show.
        let o = options(.live, flows: 100_000, size: 64, count: 70_000)
        try sink.reset()
        _ = try namespace.enter { try Generator(options: o).run() }
        var delivered: UInt64 = 0
        for _ in 0..<50 where delivered < 70_000 {
            usleep(20_000)
            delivered = try sink.count().packets
        }
        #expect(delivered == 70_000)
        let sources = Set(try sink.samples().map { try Packet.decode($0.bytes).ip.src.description })
        #expect(sources == ["198.18.0.2", "198.18.0.3"])
        for sample in try sink.samples() { #expect(Packet.checksumsValid(sample.bytes)) }
    }

    @Test("options are checked before any syscall")
    func validation() throws {
        var o = options(.live, flows: 1, size: 64, count: 1)
        o.size = 59
        #expect(throws: XDPFwdError.self) { try o.validate() }
        o.size = 64
        o.batch = 257
        #expect(throws: XDPFwdError.self) { try o.validate() }
        o.batch = 64
        o.dstMAC = nil
        #expect(throws: XDPFwdError.self) { try o.validate() }
        o.dstMAC = peerMAC
        // IPv6: both ends, and frames that hold the headers.
        o.src = "[2001:2::2]:1024"
        #expect(throws: XDPFwdError.self) { try o.validate() }   // IPv4 destination
        o.dst = "[2001:2::1]:5000"
        try o.validate()
        o.size = 61
        #expect(throws: XDPFwdError.self) { try o.validate() }
        o.size = 73
        o.l4 = .tcp
        #expect(throws: XDPFwdError.self) { try o.validate() }
        o.size = 74
        try o.validate()
        o.src = "[2001:2::ffff]:65535"
        o.flows = 2
        #expect(throws: XDPFwdError.self) { try o.validate() }   // past the address's last 16 bits
        #expect(Generator.Endpoint(parsing: "[2001:2::1]:0") == nil)
        #expect(Generator.Endpoint(parsing: "[2001:2::1]:5000") == .v6("[2001:2::1]:5000"))
        #expect(Generator.Endpoint(parsing: "2001:2::1:80") == nil)
    }
}
