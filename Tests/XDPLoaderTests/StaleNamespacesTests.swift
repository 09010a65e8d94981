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
