/// A frame in place (in a ring slot or a test buffer) with unchecked,
/// unaligned loads and stores: every offset was checked against `length`
/// by the parser first, as the BPF verifier makes the C code do. Fields
/// are read raw, in network order, as the maps store them. `headroom`
/// bytes before `base` are writable too: pushed VLAN tags go there.
struct Frame {
    let base: UnsafeMutableRawPointer
    let length: Int
    let headroom: Int

    /// bpf_xdp_adjust_head: the frame starting delta bytes later (earlier
    /// when negative, into the headroom); nil when that leaves the
    /// headroom or less than an Ethernet header, as the helper refuses.
    @inline(__always) func adjustedHead(_ delta: Int) -> Frame? {
        guard delta >= -headroom, delta <= length - Wire.ethHeader else { return nil }
        return Frame(base: base + delta, length: length - delta, headroom: headroom + delta)
    }

    @inline(__always) func u8(_ offset: Int) -> UInt8 {
        base.load(fromByteOffset: offset, as: UInt8.self)
    }

    @inline(__always) func raw16(_ offset: Int) -> UInt16 {
        base.loadUnaligned(fromByteOffset: offset, as: UInt16.self)
    }

    @inline(__always) func raw32(_ offset: Int) -> UInt32 {
        base.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
    }

    /// A big-endian field in host order.
    @inline(__always) func be16(_ offset: Int) -> UInt16 {
        UInt16(bigEndian: raw16(offset))
    }

    @inline(__always) func setU8(_ offset: Int, _ value: UInt8) {
        base.storeBytes(of: value, toByteOffset: offset, as: UInt8.self)
    }

    @inline(__always) func setRaw16(_ offset: Int, _ value: UInt16) {
        base.storeBytes(of: value, toByteOffset: offset, as: UInt16.self)
    }

    @inline(__always) func setRaw32(_ offset: Int, _ value: UInt32) {
        base.storeBytes(of: value, toByteOffset: offset, as: UInt32.self)
    }

    /// Copies 6 bytes (a MAC address) from a C `__u8[6]` tuple.
    @inline(__always) func setMAC(_ offset: Int, _ mac: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)) {
        withUnsafeBytes(of: mac) { base.advanced(by: offset).copyMemory(from: $0.baseAddress!, byteCount: 6) }
    }
}

/// Ethernet, IPv4 and L4 offsets and constants (network order where raw).
enum Wire {
    static let ethHeader = 14
    static let etherTypeIPv4Raw = UInt16(0x0800).bigEndian
    static let fragmentMaskRaw = UInt16(0x3FFF).bigEndian  // IP_MF | IP_OFFSET
    static let tcp: UInt8 = 6
    static let udp: UInt8 = 17
    static let tcpFIN: UInt8 = 0x01
    static let tcpSYN: UInt8 = 0x02
    static let tcpRST: UInt8 = 0x04
    static let tcpACK: UInt8 = 0x10
}

/// What parsing learned about a packet, for the later stages (struct pkt_info).
struct PacketInfo {
    let frame: Frame
    /// Offset of the IPv4 header and of the TCP/UDP header.
    let ip: Int
    let l4: Int
    let proto: UInt8
    let tcpFlags: UInt8
    /// Frame length, for the per-rule byte counters.
    let len: UInt64
    /// VLAN tags between the Ethernet and the IP header on ingress.
    let vlanTags: UInt8

    var ttl: UInt8 { frame.u8(ip + 8) }
}
