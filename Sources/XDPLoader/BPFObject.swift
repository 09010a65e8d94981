import CXDP
import Foundation

/// A libbpf object opened from ELF bytes that scripts/build-bpf.sh embedded
/// as base64 at build time (the data plane here, the benchmark programs in
/// Benchmarks). Program and map descriptors handed out are duplicates, so
/// they outlive the object.
public final class BPFObject: @unchecked Sendable {
    private let handle: OpaquePointer
    public let name: String

    private init(handle: OpaquePointer, name: String) {
        self.handle = handle
        self.name = name
    }

    /// Opens (does not load) the object. With pinRoot, maps marked
    /// pin-by-name are reused from / pinned to it at load; without, every
    /// map is private.
    public static func open(base64: StaticString, name: String, pinRoot: String? = nil) throws -> BPFObject {
        guard let data = Data(base64Encoded: "\(base64)") else {
            throw XDPFwdError.state("the embedded BPF object \(name) is not valid base64: rebuild xdpfwd")
        }
        let bytes = [UInt8](data)
        var handle: OpaquePointer? = nil
        cxdp_log_reset()
        let result = bytes.withUnsafeBytes { buffer in
            cxdp_object_open_mem(buffer.baseAddress, buffer.count, name, pinRoot, &handle)
        }
        if result < 0 {
            throw XDPFwdError.syscall(SyscallError("bpf_object__open_mem", name, errno: -result, log: String(cString: cxdp_log_text())))
        }
        return BPFObject(handle: handle!, name: name)
    }

    /// Loads every program (the verifier's log is kept in a failure).
    public func load() throws {
        cxdp_log_reset()
        let result = cxdp_object_load(handle)
        if result < 0 {
            throw XDPFwdError.syscall(SyscallError("bpf_object__load", name, errno: -result, log: String(cString: cxdp_log_text())))
        }
    }

    public func programFD(_ name: String) throws -> OwnedFD {
        let fd = cxdp_object_program_fd(handle, name)
        try check(fd, "bpf_object__find_program_by_name", name)
        return try OwnedFD.duplicating(fd, "program \(name)")
    }

    public func mapFD(_ name: String) throws -> OwnedFD {
        let fd = cxdp_object_map_fd(handle, name)
        try check(fd, "bpf_object__find_map_by_name", name)
        return try OwnedFD.duplicating(fd, "map \(name)")
    }

    /// The pin-by-name maps as defined (the object must be opened with a pin root).
    public func pinnedMapShapes() -> [MapShape] {
        var shapes: [MapShape] = []
        var shape = cxdp_map_shape()
        while cxdp_object_pinned_map(handle, Int32(shapes.count), &shape) == 1 {
            shapes.append(MapShape(shape))
        }
        return shapes
    }

    /// The fingerprint of every pin-by-name map's definition (see cxdp.h).
    public func layoutHash() throws -> UInt64 {
        var hash: UInt64 = 0
        try check(cxdp_object_layout_hash(handle, &hash), "cxdp_object_layout_hash", name)
        return hash
    }

    deinit { cxdp_object_close(handle) }
}
