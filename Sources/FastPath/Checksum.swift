/// Incremental Internet checksum updates (RFC 1624, eqn. 3), exactly as
/// bpf/csum.h computes them: raw 16-bit words as they sit in memory, so
/// nothing is byte-swapped (the one's complement sum does not care).
enum Checksum {
    @inline(__always) static func begin(_ check: UInt16) -> UInt32 {
        UInt32(~check)
    }

    @inline(__always) static func subAdd16(_ sum: UInt32, _ old: UInt16, _ new: UInt16) -> UInt32 {
        sum &+ UInt32(~old) &+ UInt32(new)
    }

    @inline(__always) static func subAdd32(_ sum: UInt32, _ old: UInt32, _ new: UInt32) -> UInt32 {
        let sum = subAdd16(sum, UInt16(truncatingIfNeeded: old >> 16), UInt16(truncatingIfNeeded: new >> 16))
        return subAdd16(sum, UInt16(truncatingIfNeeded: old), UInt16(truncatingIfNeeded: new))
    }

    /// Folds a running sum to 16 bits without complementing it.
    @inline(__always) static func fold(_ sum: UInt32) -> UInt32 {
        let sum = (sum & 0xffff) &+ (sum >> 16)
        return (sum & 0xffff) &+ (sum >> 16)
    }

    @inline(__always) static func finish(_ sum: UInt32) -> UInt16 {
        var sum = (sum & 0xffff) &+ (sum >> 16)
        sum = (sum & 0xffff) &+ (sum >> 16)
        return ~UInt16(truncatingIfNeeded: sum)
    }
}
