import CXDP
import XDPLoader

/// The benchmark BPF object (bpf/bench.bpf.c, embedded at build time):
/// generator, sink, bare-limit forwarder. Every instance is private (no
/// pinning); the object lives as long as this value.
final class BenchObject: @unchecked Sendable {
    private let object: BPFObject

    init() throws {
        object = try BPFObject.open(base64: EmbeddedBenchObject.base64, name: "xfbench")
        try object.load()
    }

    func program(_ name: String) throws -> OwnedFD { try object.programFD(name) }

    func map(_ name: String) throws -> OwnedFD { try object.mapFD(name) }
}

/// Attaches an XDP program to ifindex in the calling thread's namespace with
/// a bpf_link; closing the returned descriptor detaches it.
func attachXDP(_ program: OwnedFD, ifindex: UInt32, generic: Bool = false, what: String) throws -> OwnedFD {
    let flags = UInt32(generic ? CXDP_XDP_FLAGS_SKB_MODE : CXDP_XDP_FLAGS_DRV_MODE)
    let fd = cxdp_xdp_link_create(program.raw, Int32(ifindex), flags)
    try check(fd, "bpf_link_create(BPF_XDP)", what)
    return OwnedFD(fd)
}
