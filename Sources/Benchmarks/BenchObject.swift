import CXDP
import Foundation
import XDPLoader

/// The benchmark BPF object (bpf/bench.bpf.c, embedded at build time):
/// generator, sink, bare-limit forwarder. Every instance is private (no
/// pinning); the object lives as long as this value.
final class BenchObject: @unchecked Sendable {
    private let handle: OpaquePointer

    init() throws {
        guard let data = Data(base64Encoded: "\(EmbeddedBenchObject.base64)") else {
            throw XDPFwdError.state("the embedded benchmark BPF object is not valid base64: rebuild xdpfwd")
        }
        let bytes = [UInt8](data)
        var handle: OpaquePointer? = nil
        cxdp_log_reset()
        let opened = bytes.withUnsafeBytes { cxdp_object_open_mem($0.baseAddress, $0.count, "xfbench", nil, &handle) }
        if opened < 0 {
            throw XDPFwdError.syscall(SyscallError("bpf_object__open_mem", "xfbench", errno: -opened, log: String(cString: cxdp_log_text())))
        }
        self.handle = handle!
        cxdp_log_reset()
        let loaded = cxdp_object_load(self.handle)
        if loaded < 0 {
            throw XDPFwdError.syscall(SyscallError("bpf_object__load", "xfbench", errno: -loaded, log: String(cString: cxdp_log_text())))
        }
    }

    func program(_ name: String) throws -> OwnedFD {
        let fd = cxdp_object_program_fd(handle, name)
        try check(fd, "bpf_object__find_program_by_name", name)
        return try OwnedFD.duplicating(fd, "program \(name)")
    }

    func map(_ name: String) throws -> OwnedFD {
        let fd = cxdp_object_map_fd(handle, name)
        try check(fd, "bpf_object__find_map_by_name", name)
        return try OwnedFD.duplicating(fd, "map \(name)")
    }

    deinit { cxdp_object_close(handle) }
}

/// Attaches an XDP program to ifindex in the calling thread's namespace with
/// a bpf_link; closing the returned descriptor detaches it.
func attachXDP(_ program: OwnedFD, ifindex: UInt32, generic: Bool = false, what: String) throws -> OwnedFD {
    let flags = UInt32(generic ? CXDP_XDP_FLAGS_SKB_MODE : CXDP_XDP_FLAGS_DRV_MODE)
    let fd = cxdp_xdp_link_create(program.raw, Int32(ifindex), flags)
    try check(fd, "bpf_link_create(BPF_XDP)", what)
    return OwnedFD(fd)
}
