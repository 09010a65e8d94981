/// The Internet checksum (RFC 1071), computed the slow, obvious way: the
/// one's-complement sum of every 16-bit big-endian word, odd byte padded
/// with zero, folded, inverted. Never incremental.
public enum InternetChecksum {
    /// The unfolded sum of `bytes` as big-endian words, added to `initial`.
    public static func sum(_ bytes: some Collection<UInt8>, initial: UInt64 = 0) -> UInt64 {
        var total = initial
        var high = true
        for byte in bytes {
            total += high ? UInt64(byte) << 8 : UInt64(byte)
            high.toggle()
        }
        return total
    }

    /// Folds carries back in until the sum fits 16 bits.
    public static func fold(_ sum: UInt64) -> UInt16 {
        var value = sum
        while value > 0xFFFF { value = (value & 0xFFFF) + (value >> 16) }
        return UInt16(value)
    }

    /// The checksum field value for `bytes` (with the field itself zero).
    public static func checksum(_ bytes: some Collection<UInt8>, initial: UInt64 = 0) -> UInt16 {
        ~fold(sum(bytes, initial: initial))
    }

    /// True when `bytes`, checksum field included, sum to 0xFFFF.
    public static func verifies(_ bytes: some Collection<UInt8>, initial: UInt64 = 0) -> Bool {
        fold(sum(bytes, initial: initial)) == 0xFFFF
    }

    /// The TCP/UDP pseudo-header: source, destination, zero, protocol, L4 length.
    public static func pseudoHeader(src: UInt32, dst: UInt32, protocol: UInt8, length: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.appendBE(src)
        bytes.appendBE(dst)
        bytes += [0, `protocol`]
        bytes.appendBE(UInt16(truncatingIfNeeded: length))
        return bytes
    }
}

extension [UInt8] {
    public mutating func appendBE(_ value: UInt16) {
        append(UInt8(value >> 8))
        append(UInt8(value & 0xFF))
    }

    public mutating func appendBE(_ value: UInt32) {
        appendBE(UInt16(value >> 16))
        appendBE(UInt16(value & 0xFFFF))
    }

    public mutating func setBE(_ value: UInt16, at offset: Int) {
        self[offset] = UInt8(value >> 8)
        self[offset + 1] = UInt8(value & 0xFF)
    }

    public func be16(at offset: Int) -> UInt16 {
        UInt16(self[offset]) << 8 | UInt16(self[offset + 1])
    }

    public func be32(at offset: Int) -> UInt32 {
        UInt32(be16(at: offset)) << 16 | UInt32(be16(at: offset + 2))
    }
}
