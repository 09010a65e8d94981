/// An IPv6 address: 16 bytes in network order.
///
/// Parsing accepts any valid RFC 4291 text form (hex groups of 1-4 digits,
/// at most one `::`, an optional dotted-quad tail) and nothing else: no zone
/// ids (`%eth0`), no brackets, no spaces. `description` is the RFC 5952
/// canonical form: lowercase, no leading zeros, the longest run of two or
/// more zero groups (the first on a tie) as `::`, and IPv4-mapped addresses
/// with a dotted-quad tail.
public struct IPv6Address: Hashable, Sendable, Comparable {
    /// The address as two big-endian halves: 2001:db8::1 is
    /// (0x2001_0db8_0000_0000, 0x0000_0000_0000_0001).
    public let high: UInt64
    public let low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// From eight 16-bit groups, most significant first.
    public init(groups: [UInt16]) {
        precondition(groups.count == 8, "an IPv6 address has 8 groups")
        self.high = groups[0..<4].reduce(0) { $0 << 16 | UInt64($1) }
        self.low = groups[4..<8].reduce(0) { $0 << 16 | UInt64($1) }
    }

    public init(bytes: [UInt8]) {
        precondition(bytes.count == 16, "an IPv6 address has 16 bytes")
        self.high = bytes[0..<8].reduce(0) { $0 << 8 | UInt64($1) }
        self.low = bytes[8..<16].reduce(0) { $0 << 8 | UInt64($1) }
    }

    public var groups: [UInt16] {
        (0..<8).map { i in UInt16(truncatingIfNeeded: (i < 4 ? high : low) >> (48 - 16 * UInt64(i % 4))) }
    }

    public var bytes: [UInt8] {
        (0..<16).map { i in UInt8(truncatingIfNeeded: (i < 8 ? high : low) >> (56 - 8 * UInt64(i % 8))) }
    }

    /// The four `__be32` words of a map field (`__be32 addr[4]`), as the
    /// host reads them from memory.
    public var networkOrderWords: (UInt32, UInt32, UInt32, UInt32) {
        let b = bytes
        func word(_ i: Int) -> UInt32 {
            (UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])).bigEndian
        }
        return (word(0), word(4), word(8), word(12))
    }

    /// From a `__be32 addr[4]` map field.
    public init(networkOrderWords w: (UInt32, UInt32, UInt32, UInt32)) {
        self.init(high: UInt64(UInt32(bigEndian: w.0)) << 32 | UInt64(UInt32(bigEndian: w.1)),
                  low: UInt64(UInt32(bigEndian: w.2)) << 32 | UInt64(UInt32(bigEndian: w.3)))
    }

    public static func < (lhs: IPv6Address, rhs: IPv6Address) -> Bool {
        (lhs.high, lhs.low) < (rhs.high, rhs.low)
    }

    /// Parses RFC 4291 text; nil for anything else (zone ids included).
    public init?(_ string: some StringProtocol) {
        let text = Array(string.utf8)
        guard text.count >= 2, text.count <= 45 else { return nil }
        var head: [UInt16] = []     // groups before "::"
        var tail: [UInt16] = []     // groups after "::"
        var compressed = false
        var i = 0
        // A leading "::" is the only way to start with a colon.
        if text[0] == UInt8(ascii: ":") {
            guard text[1] == UInt8(ascii: ":") else { return nil }
            compressed = true
            i = 2
            if i == text.count { self.init(high: 0, low: 0); return }
        }
        while i < text.count {
            // One group: hex digits up to ":" or the end, or a dotted quad at the end.
            var j = i
            while j < text.count, text[j] != UInt8(ascii: ":") { j += 1 }
            let part = text[i..<j]
            if part.contains(UInt8(ascii: ".")) {
                // The embedded IPv4 tail must be last and fills two groups.
                guard j == text.count, let v4 = IPv4Address(String(decoding: part, as: UTF8.self)) else { return nil }
                let groups = [UInt16(v4.value >> 16), UInt16(v4.value & 0xFFFF)]
                if compressed { tail += groups } else { head += groups }
                i = j
                break
            }
            guard (1...4).contains(part.count), let group = UInt16(String(decoding: part, as: UTF8.self), radix: 16),
                  part.allSatisfy({ Self.isHexDigit($0) })
            else { return nil }
            if compressed { tail.append(group) } else { head.append(group) }
            if j == text.count { i = j; break }
            // After a group: ":" then a group, or "::" (once), or "::" at the end.
            if j + 1 < text.count, text[j + 1] == UInt8(ascii: ":") {
                guard !compressed else { return nil }
                compressed = true
                i = j + 2
            } else {
                guard j + 1 < text.count else { return nil }  // trailing single ":"
                i = j + 1
            }
        }
        let count = head.count + tail.count
        if compressed {
            // "::" stands for at least one zero group.
            guard count <= 7 else { return nil }
            self.init(groups: head + Array(repeating: 0, count: 8 - count) + tail)
        } else {
            guard count == 8 else { return nil }
            self.init(groups: head)
        }
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }

    /// Parses like `init?(_:)`, throwing a `RuleError` that names the input.
    public init(parsing string: String) throws(RuleError) {
        if string.contains("%") { throw .ipv6ZoneID(string, in: nil) }
        guard let address = IPv6Address(string) else { throw .invalidAddress(string, in: nil) }
        self = address
    }
}

// MARK: - Classification

extension IPv6Address {
    /// ::
    public var isUnspecified: Bool { high == 0 && low == 0 }
    /// ::1
    public var isLoopback: Bool { high == 0 && low == 1 }
    /// ff00::/8
    public var isMulticast: Bool { high >> 56 == 0xFF }
    /// fe80::/10
    public var isLinkLocal: Bool { high >> 54 == 0x3FA }
    /// ::ffff:0:0/96
    public var isIPv4Mapped: Bool { high == 0 && low >> 32 == 0xFFFF }

    /// Why this address cannot be a listen, backend or SNAT address; nil if it can.
    public var unusableKind: UnusableAddressKind? {
        if isUnspecified { return .unspecified }
        if isLoopback { return .loopback }
        if isMulticast { return .multicast }
        if isLinkLocal { return .linkLocal }
        if isIPv4Mapped { return .ipv4Mapped }
        return nil
    }
}

extension IPv6Address: CustomStringConvertible {
    /// RFC 5952 text.
    public var description: String {
        let g = groups
        if isIPv4Mapped {
            return "::ffff:" + IPv4Address(UInt32(low & 0xFFFF_FFFF)).description
        }
        // The longest run of zero groups, at least two long; the first wins a tie.
        var best = (start: -1, length: 0)
        var run = (start: -1, length: 0)
        for (index, group) in g.enumerated() {
            if group == 0 {
                run = run.start < 0 ? (index, 1) : (run.start, run.length + 1)
                if run.length > best.length { best = run }
            } else {
                run = (-1, 0)
            }
        }
        func hex(_ groups: ArraySlice<UInt16>) -> String {
            groups.map { String($0, radix: 16) }.joined(separator: ":")
        }
        guard best.length >= 2 else { return hex(g[...]) }
        return hex(g[..<best.start]) + "::" + hex(g[(best.start + best.length)...])
    }
}

extension IPv6Address: Codable {
    public init(from decoder: any Decoder) throws {
        let string = try decoder.singleValueContainer().decode(String.self)
        self = try decodingRuleValue(decoder) { () throws(RuleError) in try IPv6Address(parsing: string) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
