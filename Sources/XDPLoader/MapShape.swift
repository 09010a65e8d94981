import CXDP

/// What a map is, as far as reusing a pinned one goes: its type, key and
/// value sizes, capacity and flags. From an opened object (what this build
/// defines) or from the kernel (what is pinned).
public struct MapShape: Equatable, Sendable, CustomStringConvertible {
    public let name: String
    public let type: UInt32
    public let keySize: UInt32
    public let valueSize: UInt32
    public let maxEntries: UInt32
    public let flags: UInt32

    public init(name: String, type: UInt32, keySize: UInt32, valueSize: UInt32, maxEntries: UInt32, flags: UInt32) {
        self.name = name
        self.type = type
        self.keySize = keySize
        self.valueSize = valueSize
        self.maxEntries = maxEntries
        self.flags = flags
    }

    init(_ shape: cxdp_map_shape) {
        var shape = shape
        let name = withUnsafeBytes(of: &shape.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        self.init(name: name, type: shape.type, keySize: shape.key_size, valueSize: shape.value_size,
                  maxEntries: shape.max_entries, flags: shape.flags)
    }

    /// The kernel's shape of an open map.
    public static func of(_ fd: OwnedFD, name: String) throws -> MapShape {
        var shape = cxdp_map_shape()
        try check(cxdp_map_shape(fd.raw, &shape), "bpf_obj_get_info_by_fd", "map \(name)")
        return MapShape(shape)
    }

    /// The flags less those the kernel adds itself: devmaps and cpumaps
    /// are always read-only to programs (BPF_F_RDONLY_PROG).
    var comparableFlags: UInt32 {
        let devmapTypes: Set<UInt32> = [14, 16, 25] // DEVMAP, CPUMAP, DEVMAP_HASH
        return devmapTypes.contains(type) ? flags & ~UInt32(1 << 7) : flags
    }

    public var description: String {
        "type \(type), key/value size \(keySize)/\(valueSize), \(maxEntries) entries, flags \(flags)"
    }

    /// How `self` (pinned) differs from `expected`, the first difference
    /// in words; nil when they match (names aside: the kernel truncates them).
    public func difference(from expected: MapShape) -> String? {
        if type != expected.type { return "has map type \(type), this xdpfwd expects \(expected.type)" }
        if keySize != expected.keySize || valueSize != expected.valueSize {
            return "has key/value size \(keySize)/\(valueSize), this xdpfwd expects \(expected.keySize)/\(expected.valueSize)"
        }
        if maxEntries != expected.maxEntries { return "has \(maxEntries) entries, this xdpfwd expects \(expected.maxEntries)" }
        if comparableFlags != expected.comparableFlags { return "has map flags \(flags), this xdpfwd expects \(expected.flags)" }
        return nil
    }
}
