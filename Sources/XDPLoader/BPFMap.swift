import CXDP
import Glibc

public enum MapUpdate: UInt64, Sendable {
    case any = 0, noExist = 1, exist = 2
}

/// Typed access to one BPF map. Key and Value are the C structs from
/// xdpfwd_kern_user.h; `open` checks the kernel's sizes match them, so a
/// pinned map from another build is refused instead of misread.
public struct BPFMap<Key: BitwiseCopyable, Value: BitwiseCopyable>: @unchecked Sendable {
    public let fd: OwnedFD
    public let name: String
    public let maxEntries: UInt32

    public init(fd: OwnedFD, name: String, perCPU: Bool = false) throws {
        var type: UInt32 = 0, keySize: UInt32 = 0, valueSize: UInt32 = 0, maxEntries: UInt32 = 0, id: UInt32 = 0
        try check(cxdp_map_info(fd.raw, &type, &keySize, &valueSize, &maxEntries, &id), "bpf_obj_get_info_by_fd", "map \(name)")
        let expectedKey = MemoryLayout<Key>.size, expectedValue = MemoryLayout<Value>.size
        guard keySize == expectedKey && valueSize == expectedValue else {
            throw XDPFwdError.state(
                "map \(name) has key/value size \(keySize)/\(valueSize) but this xdpfwd expects \(expectedKey)/\(expectedValue): "
                    + "state pinned by another version (xdpfwd detach --all --purge)")
        }
        self.fd = fd
        self.name = name
        self.maxEntries = maxEntries
    }

    /// nil when the key is absent.
    public func lookup(_ key: Key) throws -> Value? {
        var key = key
        let value = UnsafeMutablePointer<Value>.allocate(capacity: 1)
        defer { value.deallocate() }
        let result = cxdp_map_lookup(fd.raw, &key, value)
        if result == -ENOENT { return nil }
        try check(result, "bpf_map_lookup_elem", "map \(name)")
        return value.pointee
    }

    public func update(_ key: Key, _ value: Value, _ flags: MapUpdate = .any) throws {
        var key = key, value = value
        let result = cxdp_map_update(fd.raw, &key, &value, flags.rawValue)
        if result == -E2BIG {
            throw XDPFwdError.state("map \(name) is full (\(maxEntries) entries)")
        }
        try check(result, "bpf_map_update_elem", "map \(name)")
    }

    /// false when the key was absent.
    @discardableResult
    public func delete(_ key: Key) throws -> Bool {
        var key = key
        let result = cxdp_map_delete(fd.raw, &key)
        if result == -ENOENT { return false }
        try check(result, "bpf_map_delete_elem", "map \(name)")
        return true
    }

    /// All keys, in the kernel's iteration order.
    public func keys(limit: Int = Int.max) throws -> [Key] {
        var keys: [Key] = []
        let next = UnsafeMutablePointer<Key>.allocate(capacity: 1)
        defer { next.deallocate() }
        var current: Key? = nil
        while keys.count < limit {
            let result: Int32
            if var key = current {
                result = cxdp_map_next_key(fd.raw, &key, next)
            } else {
                result = cxdp_map_next_key(fd.raw, nil, next)
            }
            if result == -ENOENT { break }
            try check(result, "bpf_map_get_next_key", "map \(name)")
            keys.append(next.pointee)
            current = next.pointee
        }
        return keys
    }

    public func entries(limit: Int = Int.max) throws -> [(Key, Value)] {
        try keys(limit: limit).compactMap { key in try lookup(key).map { (key, $0) } }
    }
}

/// A per-CPU map: one value per possible CPU.
public struct PerCPUMap<Key: BitwiseCopyable, Value: BitwiseCopyable>: @unchecked Sendable {
    public let fd: OwnedFD
    public let name: String
    public let cpus: Int

    public init(fd: OwnedFD, name: String) throws {
        _ = try BPFMap<Key, Value>(fd: fd, name: name)
        precondition(MemoryLayout<Value>.stride % 8 == 0, "per-CPU values are 8-byte aligned slots")
        let cpus = cxdp_possible_cpus()
        try check(cpus, "libbpf_num_possible_cpus", "")
        self.fd = fd
        self.name = name
        self.cpus = Int(cpus)
    }

    public func lookup(_ key: Key) throws -> [Value] {
        var key = key
        let values = UnsafeMutablePointer<Value>.allocate(capacity: cpus)
        defer { values.deallocate() }
        try check(cxdp_map_lookup(fd.raw, &key, values), "bpf_map_lookup_elem", "map \(name)")
        return Array(UnsafeBufferPointer(start: values, count: cpus))
    }

    /// Writes the same value on every CPU (used to zero a slot).
    public func fill(_ key: Key, _ value: Value) throws {
        var key = key
        var values = [Value](repeating: value, count: cpus)
        try check(cxdp_map_update(fd.raw, &key, &values, MapUpdate.any.rawValue), "bpf_map_update_elem", "map \(name)")
    }
}
