import Packets

/// SplitMix64: a seeded, reproducible generator for the corpus.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random frames around the rules of `CorpusGenerator.rules`: clients
/// talking to listen ports (and to ports without rules), backends replying
/// to translated flows seen so far, unrelated traffic, and every kind of
/// malformation the parser must survive: truncations, bad ihl/tot_len/
/// version/doff/UDP length, IP and TCP options, fragments, low TTLs,
/// trailers, odd ethertypes and protocols, sizes up to beyond the MTU.
struct CorpusGenerator {
    static let inMAC: Packet.MAC = "02:00:00:00:00:01"
    static let outMAC: Packet.MAC = "02:00:00:00:01:01"
    static let backendMAC: Packet.MAC = "02:00:00:00:01:02"

    /// (protocol, listen, backend, snat)
    static let rules: [(String, String, String, String)] = [
        ("tcp", "198.18.0.1:8080", "198.18.1.2:8000", "auto"),
        ("udp", "198.18.0.1:5353", "198.18.1.2:5300", "auto"),
        ("tcp", "198.18.0.1:9090", "198.18.1.2:9000", "none"),
        ("udp", "198.18.0.1:9091", "198.18.1.2:9001", "198.18.1.50"),
        ("tcp", "198.18.0.1:7000", "198.18.9.9:7000", "auto"),   // no route
        ("udp", "198.18.0.1:6000", "198.18.0.3:6000", "auto"),   // same side: XDP_TX
        ("tcp", "198.18.0.1:6001", "198.18.1.3:6001", "auto"),   // no neighbour: slow path
        ("udp", "0.0.0.0:7100", "198.18.1.2:7100", "auto"),      // wildcard listen address
        ("tcp", "198.18.0.1:7200-7203", "198.18.1.2:8200", "auto"),  // a port range onto a range
        ("udp", "198.18.0.1:7300", "198.18.1.2:9300 198.18.0.3:9300@2 198.18.1.3:9301", "auto"),  // Maglev
    ]

    var rng: SeededRandom
    /// Translated flows seen leaving towards a backend: (proto, backend side src, backend).
    var replyTargets: [(UInt8, Packet.Endpoint, Packet.Endpoint)] = []
    /// Translated packets as they left (IPv4 bytes), for ICMP errors quoting them.
    var quotes: [Packet] = []

    init(seed: UInt64) { rng = SeededRandom(seed: seed) }

    mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &rng) < percent }
    mutating func pick<T>(_ items: [T]) -> T { items[Int.random(in: 0..<items.count, using: &rng)] }
    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) } }

    mutating func flags() -> Packet.TCPFlags {
        pick([[.syn], [.ack], [.psh, .ack], [.fin, .ack], [.rst], [.syn, .ack], [.rst, .ack], [.syn, .fin], []])
    }

    mutating func payload() -> [UInt8] {
        switch Int.random(in: 0..<10, using: &rng) {
        case 0..<4: return []
        case 4..<8: return bytes(Int.random(in: 1...200, using: &rng))
        case 8: return bytes(Int.random(in: 1000...1460, using: &rng))
        default: return bytes(Int.random(in: 1461...1700, using: &rng))  // beyond the 1500 MTU
        }
    }

    /// The next frame and the ingress side (true: backend side, out0).
    mutating func next() -> (frame: [UInt8], fromBackend: Bool) {
        var fromBackend = false
        var packet: Packet
        switch Int.random(in: 0..<100, using: &rng) {
        case 0..<10 where !quotes.isEmpty:
            // An ICMP error about a translated packet, from the peer it reached
            // (sometimes about a tuple we do not know, or quoted short).
            let quoted = pick(quotes)
            fromBackend = quoted.ip.dst.value >> 8 & 0xFF == 1
            var body = quoted.ipBytes
            if chance(30) { body = Array(body.prefix(pick([20, 24, 28, 30, 36]))) }
            if chance(10), body.count > 23 { body[22] ^= 0x55 }  // a port we never used
            let errorSource = chance(90) ? quoted.ip.dst : Packet.Address("198.18.1.3")
            packet = .icmp(src: errorSource, dst: chance(95) ? quoted.ip.src : "198.18.0.1",
                           type: pick([3, 3, 11, 12, 8, 0]), code: pick([0, 1, 3, 4]), rest: pick([0, 1400]), body: body,
                           srcMAC: fromBackend ? Self.backendMAC : "02:00:00:00:00:02", dstMAC: fromBackend ? Self.outMAC : Self.inMAC)
        case 0..<55:
            // A client towards a listen endpoint (or a port without a rule).
            let (proto, listen, _, _) = pick(Self.rules)
            let listenAddress: Packet.Address = listen.hasPrefix("0.0.0.0") ? pick(["198.18.0.1", "198.18.1.1", "198.18.0.9"]) : "198.18.0.1"
            let listenPorts = listen.split(separator: ":")[1].split(separator: "-").compactMap { UInt16($0) }
            let listenPort = listenPorts.count == 2 ? UInt16.random(in: listenPorts[0]...(listenPorts[1] + 1), using: &rng) : listenPorts[0]
            let dst: Packet.Endpoint = chance(85) ? .init(listenAddress, listenPort)
                : .init("198.18.0.1", pick([8081, 5354, 22, 9999]))
            let client: Packet.Address = pick(["198.18.0.2", "198.18.0.2", "198.18.0.3", "198.18.0.4"])
            let src = Packet.Endpoint(client, UInt16.random(in: 40000...40040, using: &rng))
            let useTCP = chance(90) ? proto == "tcp" : proto != "tcp"
            packet = useTCP
                ? .tcp(src: src, dst: dst, flags: flags(), seq: UInt32.random(in: 0...UInt32.max, using: &rng), payload: payload(),
                       srcMAC: "02:00:00:00:00:02", dstMAC: Self.inMAC)
                : .udp(src: src, dst: dst, payload: payload(), checksum: chance(20) ? .none : .computed,
                       srcMAC: "02:00:00:00:00:02", dstMAC: Self.inMAC)
        case 55..<85 where !replyTargets.isEmpty:
            // A backend replying to a translated flow (sometimes to a wrong port).
            fromBackend = true
            let (proto, snat, backend) = pick(replyTargets)
            let dst = chance(90) ? snat : Packet.Endpoint(snat.address, UInt16.random(in: 1024...65535, using: &rng))
            packet = proto == 6
                ? .tcp(src: backend, dst: dst, flags: flags(), payload: payload(), srcMAC: Self.backendMAC, dstMAC: Self.outMAC)
                : .udp(src: backend, dst: dst, payload: payload(), checksum: chance(20) ? .none : .computed,
                       srcMAC: Self.backendMAC, dstMAC: Self.outMAC)
        default:
            // Unrelated traffic: other protocols over IPv4, or other ethertypes.
            packet = .udp(src: "198.18.0.2:40000", dst: "198.18.0.1:8080", payload: bytes(Int.random(in: 0...64, using: &rng)),
                          srcMAC: "02:00:00:00:00:02", dstMAC: Self.inMAC)
            if chance(60) {
                packet.transport = .raw
                packet.ip.protocol = pick([1, 2, 47, 50, 132, 255])
            } else {
                // Not 0x86DD, 0x8100, 0x88A8: FastPath does not forward IPv6
                // or VLANs yet (docs/fastpath.md).
                packet.ethernet.etherType = pick([0x0806, 0x0801, 0x0000, 0x88CC])
            }
        }
        mutate(&packet)
        var frame = packet.bytes
        if chance(8) && frame.count > 14 {
            // Truncated anywhere (BPF_PROG_TEST_RUN needs the 14-byte Ethernet header).
            frame = Array(frame.prefix(Int.random(in: 14..<frame.count, using: &rng)))
        }
        return (frame, fromBackend)
    }

    mutating func mutate(_ packet: inout Packet) {
        if chance(10) { packet.ip.ttl = pick([0, 1, 2, 255]) }
        if chance(8) { packet.ip.options = bytes(pick([1, 4, 8, 20, 40])) }
        if chance(4) { packet.ip.ihl = UInt8.random(in: 0...15, using: &rng) }
        if chance(4) { packet.ip.totalLength = UInt16.random(in: 0...1600, using: &rng) }
        if chance(2) { packet.ip.version = pick([0, 6, 15]) }
        if chance(5) { packet.ip.flags = pick([[.moreFragments], [.dontFragment], [.reserved]]) }
        if chance(4) { packet.ip.fragmentOffset = UInt16.random(in: 1...0x1FFF, using: &rng) }
        if chance(5) { packet.ip.tos = UInt8.random(in: 0...255, using: &rng) }
        if chance(5) { packet.ip.checksum = .corrupted }
        if chance(5) { packet.tcp?.options = bytes(pick([4, 8, 12, 40])) }
        if chance(4) { packet.tcp?.dataOffset = UInt8.random(in: 0...15, using: &rng) }
        if chance(4) { packet.udp?.length = UInt16.random(in: 0...300, using: &rng) }
        if chance(5) { packet.tcp?.checksum = .corrupted; packet.udp?.checksum = .corrupted }
        if chance(8) { packet.trailer = bytes(Int.random(in: 1...20, using: &rng)) }
    }

    /// Records a translated frame: replies to it, ICMP errors about it.
    mutating func learnQuote(output: [UInt8]) {
        guard let packet = try? Packet.decode(output), packet.ip.version == 4, packet.tcp != nil || packet.udp != nil else { return }
        quotes.append(packet)
        if quotes.count > 64 { quotes.removeFirst() }
    }

    /// Records a frame that left towards a backend, for later replies.
    mutating func learn(output: [UInt8]) {
        learnQuote(output: output)
        guard let packet = try? Packet.decode(output), packet.ip.version == 4 else { return }
        if let tcp = packet.tcp {
            replyTargets.append((6, .init(packet.ip.src, tcp.sport), .init(packet.ip.dst, tcp.dport)))
        } else if let udp = packet.udp {
            replyTargets.append((17, .init(packet.ip.src, udp.sport), .init(packet.ip.dst, udp.dport)))
        }
        if replyTargets.count > 64 { replyTargets.removeFirst() }
    }
}
