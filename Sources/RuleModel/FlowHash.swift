/// The hash that picks a new flow's slot in its rule's Maglev table. The BPF
/// program (bpf/maglev.h), the AF_PACKET FastPath and the tests compute it
/// alike; xdpfwd_kern_user.h documents it next to the table size.
///
/// MurmurHash3_x86_32 with seed `seed` over the flow's tuple as 32-bit
/// words, each word fed as its four bytes little-endian (so the BPF side
/// mixes the word values directly, with no byte loads):
///
///     IPv4: saddr, daddr, sport << 16 | dport, protocol            (4 words)
///     IPv6: saddr[0..3], daddr[0..3], sport << 16 | dport, protocol (10 words)
///
/// Addresses and ports are the packet's, as numbers (198.18.0.2 is
/// 0xC6120002; an IPv6 address is its four big-endian 32-bit groups), of the
/// client's packet as it arrives: saddr/sport the client, daddr/dport the
/// listen address and port. The slot is `hash % MaglevTable.defaultSize`.
public enum FlowHash {
    public static let seed: UInt32 = 0x7864_7066  // "xdpf"

    /// An IPv4 tuple; addresses and ports in host order (as numbers).
    public static func ipv4(saddr: UInt32, daddr: UInt32, sport: UInt16, dport: UInt16, protocol: UInt8) -> UInt32 {
        murmur3([saddr, daddr, UInt32(sport) << 16 | UInt32(dport), UInt32(`protocol`)])
    }

    /// An IPv6 tuple: each address as four 32-bit groups, most significant first.
    public static func ipv6(saddr: [UInt32], daddr: [UInt32], sport: UInt16, dport: UInt16, protocol: UInt8) -> UInt32 {
        precondition(saddr.count == 4 && daddr.count == 4, "IPv6 addresses are four words")
        return murmur3(saddr + daddr + [UInt32(sport) << 16 | UInt32(dport), UInt32(`protocol`)])
    }

    /// MurmurHash3_x86_32 of the words' little-endian bytes.
    public static func murmur3(_ words: [UInt32], seed: UInt32 = FlowHash.seed) -> UInt32 {
        var h = seed
        for word in words {
            var k = word &* 0xcc9e_2d51
            k = k << 15 | k >> 17
            k = k &* 0x1b87_3593
            h ^= k
            h = h << 13 | h >> 19
            h = h &* 5 &+ 0xe654_6b64
        }
        h ^= UInt32(words.count * 4)
        h ^= h >> 16
        h = h &* 0x85eb_ca6b
        h ^= h >> 13
        h = h &* 0xc2b2_ae35
        h ^= h >> 16
        return h
    }
}

extension ForwardingRule {
    /// The Maglev table of a multi-backend rule: backends are identified by
    /// their endpoint text, so every process builds the same table.
    public func maglevTable(size: Int = MaglevTable.defaultSize) -> MaglevTable {
        do {
            return try MaglevTable(backends: backends.map { (key: $0.endpoint.description, weight: $0.weight) }, size: size)
        } catch {
            // validate() rules out every build error for the default size.
            preconditionFailure("a valid rule's Maglev table failed to build: \(error)")
        }
    }
}
