import CXDP

/// An IPv6 address as the maps hold it: four 32-bit words in network order
/// (C's `__be32[4]`, which Swift imports as a tuple).
typealias Address6 = (UInt32, UInt32, UInt32, UInt32)

extension Frame {
    /// The 16-byte address at offset, raw (network order).
    @inline(__always) func address6(_ offset: Int) -> Address6 {
        (raw32(offset), raw32(offset + 4), raw32(offset + 8), raw32(offset + 12))
    }

    @inline(__always) func setAddress6(_ offset: Int, _ address: Address6) {
        setRaw32(offset, address.0)
        setRaw32(offset + 4, address.1)
        setRaw32(offset + 8, address.2)
        setRaw32(offset + 12, address.3)
    }
}

/// IPv6 offsets and constants (network order where raw).
enum Wire6 {
    static let etherTypeIPv6Raw = UInt16(0x86DD).bigEndian
    static let header = 40
    /// Offsets inside the fixed header.
    static let payloadLength = 4, nextHeader = 6, hopLimit = 7, source = 8, destination = 24
    static let hopByHop: UInt8 = 0, routing: UInt8 = 43, fragment: UInt8 = 44, destinationOptions: UInt8 = 60
    static let authentication: UInt8 = 51, mobility: UInt8 = 135
    static let icmp6: UInt8 = 58

    @inline(__always) static func equal(_ a: Address6, _ b: Address6) -> Bool {
        (a.0 ^ b.0) | (a.1 ^ b.1) | (a.2 ^ b.2) | (a.3 ^ b.3) == 0
    }

    @inline(__always) static func isZero(_ a: Address6) -> Bool {
        a.0 | a.1 | a.2 | a.3 == 0
    }
}

/// What parsing learned about an IPv6 packet (struct pkt6_info).
struct PacketInfo6 {
    let frame: Frame
    /// Offset of the IPv6 header and of the TCP/UDP header (after any
    /// skipped extension headers).
    let ip: Int
    let l4: Int
    let proto: UInt8
    let tcpFlags: UInt8
    /// Frame length, for the per-rule byte counters.
    let len: UInt64
    /// VLAN tags between the Ethernet and the IPv6 header on ingress.
    let vlanTags: UInt8

    var hopLimit: UInt8 { frame.u8(ip + Wire6.hopLimit) }
}
