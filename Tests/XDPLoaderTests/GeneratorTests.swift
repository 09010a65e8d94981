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
        for sample in samples {
            #expect(sample.length == o.size)
            let packet = try Packet.decode(sample.bytes)
            #expect(packet.ethernet.dst == peerMAC)
            #expect(packet.ethernet.src == "02:00:00:00:0b:01")
            #expect(packet.dst == o.dst)
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

    @Test("flows past the port range move the source address on")
    func manyFlows() throws {
        // 64512 ports from 1024; flows 64512-99999 come from 198.18.0.3.
        // The sink samples every 1024th frame too, so both addresses show.
        var o = options(.live, flows: 100_000, size: 64, count: 70_000)
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
    func validation() {
        var o = options(.live, flows: 1, size: 64, count: 1)
        o.size = 59
        #expect(throws: XDPFwdError.self) { try o.validate() }
        o.size = 64
        o.batch = 257
        #expect(throws: XDPFwdError.self) { try o.validate() }
        o.batch = 64
        o.dstMAC = nil
        #expect(throws: XDPFwdError.self) { try o.validate() }
    }
}
