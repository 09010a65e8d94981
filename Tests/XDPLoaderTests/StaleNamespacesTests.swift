import Glibc
import TestSupport
import Testing
@testable import XDPLoader

@Suite("Stale namespaces: names (no root)")
struct StaleNamespaceNameTests {
    @Test("the PID in each of our names; nil for every other name", arguments: [
        ("xft-123-4", 123), ("xfa-99-0", 99), ("xfg-7-12", 7), ("xfs-4242-1", 4242), ("xfp-16136-90", 16136),
        ("xdpfwd-bench-55-3", 55), ("xft-probe-8", 8), ("xfp-bench-31", 31),
        ("xfp-ring-77-on", 77), ("xfp-ring-77-off", 77), ("xfb4431-gen", 4431), ("xfb4431-fwd", 4431), ("xfb4431-sink", 4431),
    ] as [(String, Int32)])
    func ours(name: String, pid: Int32) {
        #expect(StaleNamespaces.ownerPID(of: name) == pid)
    }

    @Test("names that are not ours, or carry no valid PID, are never swept", arguments: [
        "", "xft", "xft-", "xft-123", "xft-123-", "xft--4", "xft-abc-4", "xft-12a-4", "xft-0-1", "xft-123-4-5",
        "xft-99999999999-1", "xft-١٢٣-4", "xfz-123-4", "myxft-123-4", "xft-probe", "xft-probe-x", "xfp-bench-1-2",
        "xfp-ring-77-maybe", "xfp-ring-x-on", "xfb-gen", "xfbx1-gen", "xfb12-client", "xfb12",
        "xfe123-client", "xfv5895-fwd", "xfl-client", "xfd-fwd", "xfvprobe12", "docker0-1-2",
    ])
    func notOurs(name: String) {
        #expect(StaleNamespaces.ownerPID(of: name) == nil)
    }
}

@Suite("Stale namespaces: sweep", .serialized, .enabled(if: Capabilities.bpfAndNetns, Capabilities.reason))
struct StaleNamespaceSweepTests {
    /// A PID that no process has: a child that already exited and was reaped.
    func deadPID() throws -> pid_t {
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/true"), nil]
        defer { argv.forEach { free($0) } }
        try #require(posix_spawn(&pid, "/bin/true", nil, nil, argv, environ) == 0)
        var status: Int32 = 0
        try #require(waitpid(pid, &status, 0) == pid)
        try #require(kill(pid, 0) != 0 && errno == ESRCH)
        return pid
    }

    func exists(_ name: String) -> Bool { access("/run/netns/\(name)", F_OK) == 0 }

    @Test("a namespace of ours whose PID is gone is removed; a live PID's and other names stay")
    func removesOnlyStaleOnes() throws {
        let dead = try deadPID()
        let stale = "xft-\(dead)-1", live = "xft-\(getpid())-9999", other = "xfz-\(dead)-1"
        for name in [stale, live, other] { try NetworkNamespace.ip(["netns", "add", name]) }
        defer { for name in [stale, live, other] { _ = try? NetworkNamespace.ip(["netns", "del", name]) } }
        #expect(exists(stale) && exists(live) && exists(other))

        let removed = StaleNamespaces.sweep()

        #expect(!exists(stale), "stale namespace removed")
        #expect(exists(live), "this process's namespace kept")
        #expect(exists(other), "a name that is not ours kept")
        #expect(!removed.contains(live) && !removed.contains(other))
    }
}

@Suite("Stale bpffs mounts: paths (no root)")
struct StaleMountPathTests {
    @Test("the PID in each of our mount points", arguments: [
        ("/run/xdpfwd-test-bpffs-123-4", 123), ("/run/xdpfwd-test-bpffs-xfs-7371-2", 7371), ("/run/xdpfwd-bench/xfb4431", 4431),
    ] as [(String, Int32)])
    func ours(path: String, pid: Int32) {
        #expect(StaleMounts.ownerPID(ofMountPoint: path) == pid)
    }

    @Test("other paths, or ours without a valid PID, are never swept", arguments: [
        "/sys/fs/bpf", "/run/xdpfwd-test-bpffs-123", "/run/xdpfwd-test-bpffs-123-", "/run/xdpfwd-test-bpffs--4",
        "/run/xdpfwd-test-bpffs-0-1", "/run/xdpfwd-test-bpffs-12a-1", "/run/xdpfwd-test-bpffs-xfs-abc-1",
        "/run/xdpfwd-test-bpffs-1-2-3", "/run/xdpfwd-bench/xfb", "/run/xdpfwd-bench/xfb12x", "/run/xdpfwd-bench",
        "/run/xdpfwd-lab/xfe1", "/tmp/xdpfwd-test-bpffs-123-4", "/run/xdpfwd-bench/xfb99999999999",
    ])
    func notOurs(path: String) {
        #expect(StaleMounts.ownerPID(ofMountPoint: path) == nil)
    }
}

@Suite("Stale bpffs mounts: sweep", .serialized, .enabled(if: Capabilities.bpfAndNetns, Capabilities.reason))
struct StaleMountSweepTests {
    func mounted(_ path: String) -> Bool { StaleMounts.bpffsMountPoints().contains(path) }

    @Test("a bpffs mount of ours whose PID is gone is unmounted and removed; a live PID's stays")
    func removesOnlyStaleOnes() throws {
        let dead = try StaleNamespaceSweepTests().deadPID()
        let stale = "/run/xdpfwd-test-bpffs-\(dead)-1", live = "/run/xdpfwd-test-bpffs-\(getpid())-9999"
        for path in [stale, live] {
            mkdir(path, 0o700)
            try run("/bin/mount", ["-t", "bpf", "bpf", path])
        }
        defer {
            for path in [stale, live] {
                _ = try? run("/bin/umount", ["-l", path])
                rmdir(path)
            }
        }
        #expect(mounted(stale) && mounted(live))

        let removed = StaleMounts.sweep()

        #expect(!mounted(stale), "stale mount unmounted")
        #expect(access(stale, F_OK) != 0, "stale mount point removed")
        #expect(mounted(live), "this process's mount kept")
        #expect(removed.contains(stale) && !removed.contains(live))
    }
}
