import CXDP
import Glibc

/// Where xdpfwd keeps its state in bpffs. Maps are pinned by libbpf under
/// their own names; programs and per-interface links sit beside them.
public struct PinLayout: Sendable {
    public static let defaultDirectory = "/sys/fs/bpf/xdpfwd"
    public let directory: String

    public init(directory: String) throws {
        guard !directory.isEmpty else { throw XDPFwdError.invalidArgument("--pin-dir is empty") }
        guard directory.hasPrefix("/") else {
            throw XDPFwdError.invalidArgument("--pin-dir \"\(directory)\" must be an absolute path")
        }
        guard !directory.split(separator: "/").contains("..") else {
            throw XDPFwdError.invalidArgument("--pin-dir \"\(directory)\" must not contain \"..\"")
        }
        var trimmed = directory
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        self.directory = trimmed
    }

    public func map(_ name: String) -> String { "\(directory)/\(name)" }
    public var xdpProgram: String { "\(directory)/prog_xdp" }
    public var tcProgram: String { "\(directory)/prog_tc" }
    public var afpTCProgram: String { "\(directory)/prog_afp_tc" }
    public var fibProgram: String { "\(directory)/prog_fib" }
    public var flowCountProgram: String { "\(directory)/prog_ct_add" }
    public var programs: [String] { [xdpProgram, tcProgram, afpTCProgram, fibProgram, flowCountProgram] }
    public func xdpLink(ifindex: UInt32) -> String { "\(directory)/link_xdp_\(ifindex)" }
    /// The version record of the state (PinnedState).
    public var stateRecord: String { "\(directory)/xdpfwd_state" }

    /// The pin directory (or, before it exists, its parent) must be bpffs.
    public func requireBPFFS() throws {
        var probe = directory
        while !exists(probe) {
            guard let slash = probe.lastIndex(of: "/"), probe != "/" else { break }
            probe = slash == probe.startIndex ? "/" : String(probe[..<slash])
        }
        let result = cxdp_is_bpffs(probe)
        if result < 0 {
            throw XDPFwdError.syscall(SyscallError("statfs", probe, errno: -result))
        }
        if result == 0 {
            throw XDPFwdError.state(
                "\(probe) is not a bpffs mount: mount it first (mount -t bpf bpf /sys/fs/bpf) or choose --pin-dir on bpffs")
        }
    }

    /// Creates the pin directory (bpffs allows mkdir) if needed.
    public func createDirectory() throws {
        try requireBPFFS()
        var path = ""
        for component in directory.split(separator: "/") {
            path += "/" + component
            if mkdir(path, 0o700) != 0 && errno != EEXIST {
                throw XDPFwdError.syscall(SyscallError("mkdir", path, errno: errno))
            }
        }
    }

    public func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// The ifindexes of the XDP links pinned here (link_xdp_IFINDEX).
    public func pinnedXDPLinks() throws -> [UInt32] {
        guard let dir = opendir(directory) else {
            if errno == ENOENT { return [] }
            throw XDPFwdError.syscall(SyscallError("opendir", directory, errno: errno))
        }
        defer { closedir(dir) }
        var ifindexes: [UInt32] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name.hasPrefix("link_xdp_"), let ifindex = UInt32(name.dropFirst("link_xdp_".count)) {
                ifindexes.append(ifindex)
            }
        }
        return ifindexes.sorted()
    }

    /// Opens a pinned object, nil if the pin does not exist.
    public func open(_ path: String) throws -> OwnedFD? {
        let fd = cxdp_obj_get(path)
        if fd == -ENOENT { return nil }
        try check(fd, "bpf_obj_get", path)
        return OwnedFD(fd)
    }

    public func pin(_ fd: OwnedFD, at path: String) throws {
        try check(cxdp_obj_pin(fd.raw, path), "bpf_obj_pin", path)
    }

    public func unpin(_ path: String) throws {
        if unlink(path) != 0 && errno != ENOENT {
            throw XDPFwdError.syscall(SyscallError("unlink", path, errno: errno))
        }
    }
}

/// An exclusive lock on the pin directory, so two xdpfwd processes never
/// interleave read-modify-write sequences (rule ids, attach bookkeeping).
public final class PinDirectoryLock {
    private let fd: Int32

    public init(_ layout: PinLayout) throws {
        fd = Glibc.open(layout.directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 { throw XDPFwdError.syscall(SyscallError("open", layout.directory, errno: errno)) }
        while flock(fd, LOCK_EX) != 0 {
            if errno == EINTR { continue }
            let saved = errno
            close(fd)
            throw XDPFwdError.syscall(SyscallError("flock", layout.directory, errno: saved))
        }
    }

    deinit { close(fd) }
}
