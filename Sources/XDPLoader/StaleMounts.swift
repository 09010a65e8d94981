import Glibc

/// bpffs mounts that xdpfwd's tests and benchmarks left behind, the
/// mount-point twins of StaleNamespaces: each path carries the PID of the
/// process that mounted it, and a killed process never unmounts. Swept with
/// the namespaces (once per process, before its first namespace): only
/// these paths, only bpffs, never a live process's, never our own.
public enum StaleMounts {
    /// `/run/xdpfwd-test-bpffs-PID-N` (AttachTests),
    /// `/run/xdpfwd-test-bpffs-xfs-PID-N` (PinnedStateTests),
    /// `/run/xdpfwd-bench/xfbPID` (`bench topo`).
    public static func ownerPID(ofMountPoint path: String) -> pid_t? {
        let pid = StaleNamespaces.pid(_:) as (Substring) -> pid_t?
        let number = StaleNamespaces.isNumber(_:) as (Substring) -> Bool
        for prefix in ["/run/xdpfwd-test-bpffs-xfs-", "/run/xdpfwd-test-bpffs-"] where path.hasPrefix(prefix) {
            let parts = path.dropFirst(prefix.count).split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count == 2, number(parts[1]) else { return nil }
            return pid(parts[0])
        }
        let bench = "/run/xdpfwd-bench/xfb"
        if path.hasPrefix(bench) { return pid(path.dropFirst(bench.count)) }
        return nil
    }

    /// Unmounts (lazily) and removes every stale mount point of ours;
    /// returns their paths.
    @discardableResult
    public static func sweep() -> [String] {
        var removed: [String] = []
        for path in bpffsMountPoints() {
            guard let pid = ownerPID(ofMountPoint: path), pid != getpid(), !StaleNamespaces.alive(pid) else { continue }
            if (try? run("/bin/umount", ["-l", path])) != nil {
                rmdir(path)
                removed.append(path)
            }
        }
        return removed
    }

    /// Mount points of bpffs mounts, from /proc/self/mounts (ours have no
    /// characters that the file escapes).
    static func bpffsMountPoints() -> [String] {
        guard let file = fopen("/proc/self/mounts", "r") else { return [] }
        defer { fclose(file) }
        var points: [String] = []
        var line: UnsafeMutablePointer<CChar>? = nil
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, file) > 0, let line {
            let fields = String(cString: line).split(separator: " ")
            if fields.count >= 3, fields[2] == "bpf" { points.append(String(fields[1])) }
        }
        return points
    }
}
