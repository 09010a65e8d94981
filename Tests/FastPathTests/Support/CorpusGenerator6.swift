import Packets

/// CorpusGenerator's IPv6 twin: random IPv6 frames around `rules`: clients
/// towards listen ports (and ports without rules) behind random extension
/// header chains (skipped ones, fragments, AH, a routing header in transit,
/// more than the bound), backends replying to translated flows, ICMPv6
/// errors quoting translated packets (whole, cut short, about unknown
/// ports), unrelated upper layers, and malformations: truncations, bad
/// version, payload length, doff, UDP length, hop limits 0-2, traffic
/// class and flow label, trailers, sizes up to beyond the MTU. Hosts on the
/// TestRunBed's VLAN uppers (their /64s) send with their tags; now and then
/// any frame gets CorpusGenerator's odd tags.
struct CorpusGenerator6 {
    static let inMAC: Packet.MAC = "02:00:00:00:00:01"
    static let clientMAC: Packet.MAC = "02:00:00:00:00:02"
    static let outMAC: Packet.MAC = "02:00:00:00:01:01"
    static let backendMAC: Packet.MAC = "02:00:00:00:01:02"
    static let listenAddress: Packet6.Address = "2001:2::1"

    typealias Side = CorpusGenerator.Side

    /// The side of a host by its /64 (2001:2:0:N::/64 mirrors 198.18.N.0/24).
    static func side(of address: Packet6.Address) -> Side {
        let net = address.bytes[0..<6] == [0x20, 0x01, 0x00, 0x02, 0x00, 0x00] ? Int(address.bytes[6]) << 8 | Int(address.bytes[7]) : 0
        return CorpusGenerator.side(of: Packet.Address(UInt32(net & 0xFF) << 8))
    }

    /// (protocol, listen, backends, snat)
    static let rules: [(String, String, String, String)] = [
        ("tcp", "[2001:2::1]:8080", "[2001:2:0:1::2]:8000", "auto"),
        ("udp", "[2001:2::1]:5353", "[2001:2:0:1::2]:5300", "auto"),
        ("tcp", "[2001:2::1]:9090", "[2001:2:0:1::2]:9000", "none"),
        ("udp", "[2001:2::1]:9091", "[2001:2:0:1::2]:9001", "2001:2:0:1::50"),
        ("tcp", "[2001:2::1]:7000", "[2001:2:0:9::9]:7000", "auto"),      // no route
        ("udp", "[2001:2::1]:6000", "[2001:2::3]:6000", "auto"),          // same side: XDP_TX
        ("tcp", "[2001:2::1]:6001", "[2001:2:0:1::3]:6001", "auto"),      // no neighbour: slow path
        ("udp", "[::]:7100", "[2001:2:0:1::2]:7100", "auto"),             // wildcard listen address
        ("tcp", "[2001:2::1]:7200-7203", "[2001:2:0:1::2]:8200", "auto"), // a port range onto a range
        ("udp", "[2001:2::1]:7300", "[2001:2:0:1::2]:9300 [2001:2::3]:9300@2 [2001:2:0:1::3]:9301", "auto"),  // Maglev
        ("tcp", "[2001:2:0:2::1]:8081", "[2001:2:0:3::2]:8001", "auto"),  // VLAN 100 -> VLAN 200 (rewrite)
        ("udp", "[2001:2:0:2::1]:5354", "[2001:2:0:4::2]:5301", "auto"),  // VLAN 100 -> QinQ (push one more)
        ("tcp", "[2001:2::1]:6100", "[2001:2:0:5::2]:6100", "auto"),      // untagged -> VLAN 101 on the same trunk
        ("tcp", "[2001:2:0:2::1]:6300", "[2001:2:0:3::3]:6300", "auto"),  // VLAN 100 -> upper without neighbour: slow path
    ]

    var rng: SeededRandom
    /// Translated flows seen leaving towards a backend: (proto, backend side src, backend).
    var replyTargets: [(UInt8, Packet6.Endpoint, Packet6.Endpoint)] = []
    /// Translated packets as they left, for ICMPv6 errors quoting them.
    var quotes: [Packet6] = []

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
        case 8: return bytes(Int.random(in: 1000...1440, using: &rng))
        default: return bytes(Int.random(in: 1441...1700, using: &rng))  // beyond the 1500 MTU
        }
    }

    /// A chain of extension headers, mostly the skippable kinds.
    mutating func extensionHeaders() -> [Packet6.ExtensionHeader] {
        var chain: [Packet6.ExtensionHeader] = []
        for _ in 0..<Int.random(in: 1...5, using: &rng) {
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<3: chain.append(.hopByHop(bytes(pick([6, 14, 22]))))
            case 3..<6: chain.append(.destinationOptions(bytes(pick([6, 14]))))
            case 6: chain.append(.routing(segmentsLeft: pick([0, 0, 1])))
            case 7: chain.append(.fragment(offset: pick([0, 0, 185]), more: chance(50)))
            case 8: chain.append(.init(type: 51, body: bytes(14)))  // AH
            default: chain.append(.init(type: pick([135, 139, 253]), body: bytes(6)))
            }
        }
        return chain
    }

    /// The next frame, its ingress side (true: out0), and whether it is a
    /// client's (its translation heads for a backend, which may reply).
    mutating func next() -> (frame: [UInt8], fromBackend: Bool, fromClient: Bool) {
        var fromClient = false
        var from: Side
        var packet: Packet6
        switch Int.random(in: 0..<100, using: &rng) {
        case 0..<10 where !quotes.isEmpty:
            // An ICMPv6 error about a translated packet, from the peer it reached.
            let quoted = pick(quotes)
            from = Self.side(of: quoted.ip.dst)
            var body = quoted.ipBytes
            if chance(30) { body = Array(body.prefix(pick([40, 42, 44, 48, 50, 60]))) }
            if chance(10), body.count > 43 { body[42] ^= 0x55 }  // a port we never used
            let errorSource = chance(90) ? quoted.ip.dst : Packet6.Address("2001:2:0:1::3")
            packet = .icmp6(src: errorSource, dst: chance(95) ? quoted.ip.src : Self.listenAddress,
                            type: pick([1, 1, 2, 3, 4, 128, 129]), code: pick([0, 1, 3, 4]), rest: pick([0, 1280, 1400]), body: body,
                            srcMAC: from.hostMAC, dstMAC: from.ourMAC)
        case 0..<55:
            // A client towards a listen endpoint (or a port without a rule),
            // from the network of the listen address (a VLAN's, tagged).
            fromClient = true
            let (proto, listen, _, _) = pick(Self.rules)
            let ruleAddress = Packet6.Address(stringLiteral: String(listen.dropFirst().split(separator: "]")[0]))
            let address: Packet6.Address = listen.hasPrefix("[::]") ? pick(["2001:2::1", "2001:2:0:1::1", "2001:2::9"]) : ruleAddress
            let ports = listen.split(separator: "]")[1].dropFirst().split(separator: "-").compactMap { UInt16($0) }
            let port = ports.count == 2 ? UInt16.random(in: ports[0]...(ports[1] + 1), using: &rng) : ports[0]
            let dst: Packet6.Endpoint = chance(85) ? .init(address, port) : .init(address, pick([8082, 5355, 22, 9999]))
            // Clients of the VLAN networks sit on them; the rest on in0.
            let onVLAN = [2, 4, 5].contains(address.bytes[7]) && address.bytes[6] == 0
            var clientBytes = onVLAN ? address.bytes : Packet6.Address("2001:2::").bytes
            clientBytes[15] = pick([2, 2, 3, 4])
            let client = Packet6.Address(clientBytes)
            from = Self.side(of: client)
            let src = Packet6.Endpoint(client, UInt16.random(in: 40000...40040, using: &rng))
            let useTCP = chance(90) ? proto == "tcp" : proto != "tcp"
            packet = useTCP
                ? .tcp(src: src, dst: dst, flags: flags(), seq: UInt32.random(in: 0...UInt32.max, using: &rng), payload: payload(),
                       srcMAC: from.hostMAC, dstMAC: from.ourMAC)
                : .udp(src: src, dst: dst, payload: payload(), checksum: chance(20) ? .none : .computed,
                       srcMAC: from.hostMAC, dstMAC: from.ourMAC)
            if chance(15) { packet.extensionHeaders = extensionHeaders() }
        case 55..<85 where !replyTargets.isEmpty:
            // A backend replying to a translated flow (sometimes to a wrong port).
            let (proto, snat, backend) = pick(replyTargets)
            from = Self.side(of: backend.address)
            let dst = chance(90) ? snat : Packet6.Endpoint(snat.address, UInt16.random(in: 1024...65535, using: &rng))
            packet = proto == 6
                ? .tcp(src: backend, dst: dst, flags: flags(), payload: payload(), srcMAC: from.hostMAC, dstMAC: from.ourMAC)
                : .udp(src: backend, dst: dst, payload: payload(), checksum: chance(20) ? .none : .computed,
                       srcMAC: from.hostMAC, dstMAC: from.ourMAC)
            if chance(5) { packet.extensionHeaders = extensionHeaders() }
        default:
            // Unrelated traffic: other upper layers, ICMPv6 informational messages.
            from = Self.side(of: "2001:2::2")
            packet = .udp(src: "[2001:2::2]:40000", dst: "[2001:2::1]:8080", payload: bytes(Int.random(in: 0...64, using: &rng)),
                          srcMAC: Self.clientMAC, dstMAC: Self.inMAC)
            if chance(60) {
                packet.transport = .raw
                packet.ip.upperLayer = pick([58, 59, 47, 50, 132, 255, 4, 41])
            } else {
                packet = .icmp6(src: "2001:2::2", dst: pick(["2001:2::1", "ff02::1:ff00:1"]), type: pick([128, 129, 133, 135, 136, 143]),
                                body: bytes(Int.random(in: 0...24, using: &rng)), hopLimit: 255, srcMAC: Self.clientMAC, dstMAC: Self.inMAC)
            }
        }
        packet.ethernet.tags = from.tags
        if chance(8) { packet.ethernet.tags = oddTags() }
        mutate(&packet)
        var frame = packet.bytes
        if chance(8) && frame.count > 14 {
            // Truncated anywhere (BPF_PROG_TEST_RUN needs the 14-byte Ethernet header).
            frame = Array(frame.prefix(Int.random(in: 14..<frame.count, using: &rng)))
        }
        return (frame, from.onOut, fromClient)
    }

    /// CorpusGenerator.oddTags, from this generator's sequence.
    mutating func oddTags() -> [Packet.VLANTag] {
        var tags = CorpusGenerator(seed: rng.next())
        return tags.oddTags()
    }

    mutating func mutate(_ packet: inout Packet6) {
        if chance(10) { packet.ip.hopLimit = pick([0, 1, 2, 255]) }
        if chance(4) { packet.ip.payloadLength = UInt16.random(in: 0...1600, using: &rng) }
        if chance(2) { packet.ip.version = pick([0, 4, 15]) }
        if chance(5) { packet.ip.trafficClass = UInt8.random(in: 0...255, using: &rng) }
        if chance(5) { packet.ip.flowLabel = UInt32.random(in: 0...0xFFFFF, using: &rng) }
        if chance(5) { packet.tcp?.options = bytes(pick([4, 8, 12, 40])) }
        if chance(4) { packet.tcp?.dataOffset = UInt8.random(in: 0...15, using: &rng) }
        if chance(4) { packet.udp?.length = UInt16.random(in: 0...300, using: &rng) }
        if chance(5) { packet.tcp?.checksum = .corrupted; packet.udp?.checksum = .corrupted }
        if chance(8) { packet.trailer = bytes(Int.random(in: 1...20, using: &rng)) }
    }

    /// Records a translated frame: ICMPv6 errors about it.
    mutating func learnQuote(output: [UInt8]) {
        guard let packet = try? Packet6.decode(output), packet.ip.version == 6, packet.tcp != nil || packet.udp != nil else { return }
        quotes.append(packet)
        if quotes.count > 64 { quotes.removeFirst() }
    }

    /// Records a frame that left towards a backend, for later replies.
    mutating func learn(output: [UInt8]) {
        learnQuote(output: output)
        guard let packet = try? Packet6.decode(output), packet.ip.version == 6 else { return }
        if let tcp = packet.tcp {
            replyTargets.append((6, .init(packet.ip.src, tcp.sport), .init(packet.ip.dst, tcp.dport)))
        } else if let udp = packet.udp {
            replyTargets.append((17, .init(packet.ip.src, udp.sport), .init(packet.ip.dst, udp.dport)))
        }
        if replyTargets.count > 64 { replyTargets.removeFirst() }
    }
}
