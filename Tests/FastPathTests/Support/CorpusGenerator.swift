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
/// Hosts on the TestRunBed's VLAN uppers send with their tags (802.1Q,
/// QinQ); now and then any frame gets other tags: none, a wrong VLAN,
/// three tags, an 802.1ad inner tag, an unknown TPID.
struct CorpusGenerator {
    static let inMAC: Packet.MAC = "02:00:00:00:00:01"
    static let outMAC: Packet.MAC = "02:00:00:00:01:01"
    static let backendMAC: Packet.MAC = "02:00:00:00:01:02"

    /// Where a host of the test bed sits: on out0 (else in0), its tags,
    /// its MAC and the MAC of the forwarder's device facing it.
    struct Side {
        let onOut: Bool
        let tags: [Packet.VLANTag]
        let hostMAC: Packet.MAC
        let ourMAC: Packet.MAC
    }

    static func side(of address: Packet.Address) -> Side {
        switch address.value >> 8 & 0xFF {
        case 1: Side(onOut: true, tags: [], hostMAC: backendMAC, ourMAC: outMAC)
        case 2: Side(onOut: false, tags: [.dot1q(100)], hostMAC: "02:00:00:00:02:02", ourMAC: "02:00:00:00:02:01")
        case 3: Side(onOut: true, tags: [.dot1q(200, pcp: 5)], hostMAC: "02:00:00:00:03:02", ourMAC: "02:00:00:00:03:01")
        case 4: Side(onOut: true, tags: [.dot1ad(300), .dot1q(30)], hostMAC: "02:00:00:00:04:02", ourMAC: "02:00:00:00:04:01")
        case 5: Side(onOut: false, tags: [.dot1q(101)], hostMAC: "02:00:00:00:05:02", ourMAC: "02:00:00:00:05:01")
        default: Side(onOut: false, tags: [], hostMAC: "02:00:00:00:00:02", ourMAC: inMAC)
        }
    }

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
        ("tcp", "198.18.2.1:8081", "198.18.3.2:8001", "auto"),   // VLAN 100 -> VLAN 200 (rewrite)
        ("udp", "198.18.2.1:5354", "198.18.4.2:5301", "auto"),   // VLAN 100 -> QinQ (push one more)
        ("tcp", "198.18.0.1:6100", "198.18.5.2:6100", "auto"),   // untagged -> VLAN 101 on the same trunk (push, XDP_TX)
        ("udp", "198.18.4.1:6200", "198.18.1.2:6200", "auto"),   // QinQ -> untagged on the same trunk (pop two, XDP_TX)
        ("tcp", "198.18.2.1:6300", "198.18.3.3:6300", "auto"),   // VLAN 100 -> upper without neighbour: slow path
        ("udp", "198.18.2.1:6400", "198.18.3.2:6400", "none"),   // VLAN 100 -> VLAN 200, DNAT only
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

    /// The next frame, its ingress side (true: out0), and whether it is a
    /// client's (its translation heads for a backend, which may reply).
    mutating func next() -> (frame: [UInt8], fromBackend: Bool, fromClient: Bool) {
        var fromClient = false
        var packet: Packet
        var from: Side
        switch Int.random(in: 0..<100, using: &rng) {
        case 0..<10 where !quotes.isEmpty:
            // An ICMP error about a translated packet, from the peer it reached
            // (sometimes about a tuple we do not know, or quoted short).
            let quoted = pick(quotes)
            from = Self.side(of: quoted.ip.dst)
            var body = quoted.ipBytes
            if chance(30) { body = Array(body.prefix(pick([20, 24, 28, 30, 36]))) }
            if chance(10), body.count > 23 { body[22] ^= 0x55 }  // a port we never used
            let errorSource = chance(90) ? quoted.ip.dst : Packet.Address("198.18.1.3")
            packet = .icmp(src: errorSource, dst: chance(95) ? quoted.ip.src : "198.18.0.1",
                           type: pick([3, 3, 11, 12, 8, 0]), code: pick([0, 1, 3, 4]), rest: pick([0, 1400]), body: body,
                           srcMAC: from.hostMAC, dstMAC: from.ourMAC)
        case 0..<55:
            // A client towards a listen endpoint (or a port without a rule),
            // from the network of the listen address (a VLAN's, tagged).
            fromClient = true
            let (proto, listen, _, _) = pick(Self.rules)
            let ruleAddress = Packet.Address(stringLiteral: String(listen.split(separator: ":")[0]))
            let listenAddress: Packet.Address = listen.hasPrefix("0.0.0.0") ? pick(["198.18.0.1", "198.18.1.1", "198.18.0.9"]) : ruleAddress
            let listenPorts = listen.split(separator: ":")[1].split(separator: "-").compactMap { UInt16($0) }
            let listenPort = listenPorts.count == 2 ? UInt16.random(in: listenPorts[0]...(listenPorts[1] + 1), using: &rng) : listenPorts[0]
            let dst: Packet.Endpoint = chance(85) ? .init(listenAddress, listenPort)
                : .init(listenAddress, pick([8082, 5355, 22, 9999]))
            // Clients of the VLAN networks sit on them; the rest on in0.
            let onVLAN = [2, 4, 5].contains(listenAddress.value >> 8 & 0xFF)
            let clientNet = onVLAN ? listenAddress.value & 0xFFFF_FF00 : Packet.Address("198.18.0.0").value
            let client = Packet.Address(clientNet | UInt32(pick([2, 2, 3, 4])))
            from = Self.side(of: client)
            let src = Packet.Endpoint(client, UInt16.random(in: 40000...40040, using: &rng))
            let useTCP = chance(90) ? proto == "tcp" : proto != "tcp"
            packet = useTCP
                ? .tcp(src: src, dst: dst, flags: flags(), seq: UInt32.random(in: 0...UInt32.max, using: &rng), payload: payload(),
                       srcMAC: from.hostMAC, dstMAC: from.ourMAC)
                : .udp(src: src, dst: dst, payload: payload(), checksum: chance(20) ? .none : .computed,
                       srcMAC: from.hostMAC, dstMAC: from.ourMAC)
        case 55..<85 where !replyTargets.isEmpty:
            // A backend replying to a translated flow (sometimes to a wrong port).
            let (proto, snat, backend) = pick(replyTargets)
            from = Self.side(of: backend.address)
            let dst = chance(90) ? snat : Packet.Endpoint(snat.address, UInt16.random(in: 1024...65535, using: &rng))
            packet = proto == 6
                ? .tcp(src: backend, dst: dst, flags: flags(), payload: payload(), srcMAC: from.hostMAC, dstMAC: from.ourMAC)
                : .udp(src: backend, dst: dst, payload: payload(), checksum: chance(20) ? .none : .computed,
                       srcMAC: from.hostMAC, dstMAC: from.ourMAC)
        default:
            // Unrelated traffic: other protocols over IPv4, or other ethertypes.
            from = Self.side(of: "198.18.0.2")
            packet = .udp(src: "198.18.0.2:40000", dst: "198.18.0.1:8080", payload: bytes(Int.random(in: 0...64, using: &rng)),
                          srcMAC: "02:00:00:00:00:02", dstMAC: Self.inMAC)
            if chance(60) {
                packet.transport = .raw
                packet.ip.protocol = pick([1, 2, 47, 50, 132, 255])
            } else {
                // An IPv4 packet behind the IPv6 ethertype too (the IPv6
                // parser's to refuse). A TPID here tags the IPv4 header's
                // first bytes: no IPv4 behind the tag.
                packet.ethernet.etherType = pick([0x0806, 0x0801, 0x0000, 0x88CC, 0x8100, 0x88A8, 0x86DD])
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

    /// Tags no host of the bed sends: none, another VLAN, three tags, an
    /// 802.1ad inner tag, an unknown TPID (0x9100), PCP and DEI bits set.
    mutating func oddTags() -> [Packet.VLANTag] {
        let id = UInt16.random(in: 0...4095, using: &rng)
        switch Int.random(in: 0..<6, using: &rng) {
        case 0: return []
        case 1: return [.dot1q(id, pcp: UInt8.random(in: 0...7, using: &rng))]
        case 2: return [.dot1ad(id), .dot1q(30), .dot1q(3)]
        case 3: return [.dot1q(100), .dot1ad(id)]
        case 4: return [Packet.VLANTag(tpid: 0x9100, tci: id)]
        default: return [.dot1ad(300), Packet.VLANTag(tpid: 0x8100, tci: 0x1000 | id)]
        }
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
