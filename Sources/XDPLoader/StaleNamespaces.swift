import Glibc

/// Namespaces that xdpfwd's tests and benchmarks left behind. Each is named
/// with the PID of the process that made it; a killed process never runs
/// the deinit that deletes them. Before its first namespace, a process
/// removes the ones of these names whose PID is gone, and nothing else:
/// never another name, never a live process's, never its own.
public enum StaleNamespaces {
    /// Prefixes of names `PREFIX-PID-N`: the attach, generator, state and
    /// fixture tests (xfa, xfg, xfs, xft), FastPath's beds (xfp), and
    /// `bench prog`'s beds (xdpfwd-bench).
    static let numberedPrefixes = ["xfa", "xfg", "xfs", "xft", "xfp", "xdpfwd-bench"]
    /// Prefixes of names `PREFIX-PID` (the capability probe, `bench afpacket`).
    static let plainPrefixes = ["xft-probe", "xfp-bench"]
    /// `xfp-ring-PID-on|off` (VLANRingCaptureTests), `xfbPID-gen|fwd|sink` (`bench topo`).
    static let ringSuffixes = ["on", "off"]
    static let topologySuffixes = ["gen", "fwd", "sink"]

    /// The PID in `name` when it is one of the names above, nil otherwise.
    public static func ownerPID(of name: String) -> pid_t? {
        let parts = name.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        let pid = Self.pid(_:) as (String) -> pid_t?
        let number = Self.isNumber(_:) as (String) -> Bool

        for prefix in numberedPrefixes {
            let words = prefix.split(separator: "-").count
            if parts.count == words + 2, parts.prefix(words).joined(separator: "-") == prefix, number(parts[words + 1]),
               let owner = pid(parts[words]) {
                return owner
            }
        }
        for prefix in plainPrefixes {
            let words = prefix.split(separator: "-").count
            if parts.count == words + 1, parts.prefix(words).joined(separator: "-") == prefix, let owner = pid(parts[words]) {
                return owner
            }
        }
        if parts.count == 4, parts[0] == "xfp", parts[1] == "ring", ringSuffixes.contains(parts[3]) {
            return pid(parts[2])
        }
        if parts.count == 2, parts[0].hasPrefix("xfb"), topologySuffixes.contains(parts[1]) {
            return pid(String(parts[0].dropFirst(3)))
        }
        return nil
    }

    /// A PID written in ASCII digits, nil for anything else (or 0).
    static func pid<S: StringProtocol>(_ text: S) -> pid_t? {
        guard isNumber(text), text.count <= 10, let value = pid_t(text), value > 0 else { return nil }
        return value
    }

    /// One or more ASCII digits.
    static func isNumber<S: StringProtocol>(_ text: S) -> Bool {
        !text.isEmpty && text.allSatisfy { $0.isASCII && $0.isNumber }
    }

    /// A process with this PID exists (in our PID namespace).
    static func alive(_ pid: pid_t) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }

    /// Deletes every stale namespace of our names; returns their names.
    @discardableResult
    public static func sweep() -> [String] {
        var removed: [String] = []
        for name in namespaceNames() {
            guard let pid = ownerPID(of: name), pid != getpid(), !alive(pid) else { continue }
            if (try? NetworkNamespace.ip(["netns", "del", name])) != nil { removed.append(name) }
        }
        return removed
    }

    /// Once per process, before its first namespace; the bpffs mounts of
    /// the same runs go too (StaleMounts).
    static let sweptOnce: Void = {
        sweep()
        StaleMounts.sweep()
    }()

    /// The names in /run/netns (what `ip netns list` shows).
    static func namespaceNames() -> [String] {
        guard let dir = opendir("/run/netns") else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}
