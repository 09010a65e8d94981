import Glibc
@testable import XDPLoader

/// A throwaway namespace with a veth pair v0 (198.18.0.1/24) - v1, both up,
/// plus `extraLinks` (`ip link add NAME type TYPE`, brought up), and a bpffs
/// mounted for the test with the pin layout under it. Going away detaches
/// and purges everything pinned there, unmounts and removes the mount point.
/// The names carry the PID (StaleNamespaces, StaleMounts sweep them after
/// a killed run): namespace `PREFIX-PID-N`, mount `/run/xdpfwd-test-bpffs-TAGPID-N`.
final class PinnedBed {
    let namespace: NetworkNamespace
    let bpffs: String
    let layout: PinLayout

    init(namespacePrefix: String, mountTag: String, id: String, extraLinks: [(name: String, type: String)] = []) throws {
        namespace = try NetworkNamespace(name: "\(namespacePrefix)-\(id)")
        try namespace.ip(["link", "add", "v0", "type", "veth", "peer", "name", "v1"])
        for link in extraLinks { try namespace.ip(["link", "add", link.name, "type", link.type]) }
        for device in ["v0", "v1"] + extraLinks.map(\.name) { try namespace.ip(["link", "set", device, "up"]) }
        try namespace.ip(["addr", "add", "198.18.0.1/24", "dev", "v0"])
        bpffs = "/run/xdpfwd-test-bpffs-\(mountTag)\(id)"
        mkdir(bpffs, 0o700)
        try run("/bin/mount", ["-t", "bpf", "bpf", bpffs])
        layout = try PinLayout(directory: "\(bpffs)/xdpfwd")
    }

    deinit {
        _ = try? namespace.enter { try Attacher(layout: layout).detachAll(purge: true) }
        _ = try? run("/bin/umount", [bpffs])
        rmdir(bpffs)
    }
}
