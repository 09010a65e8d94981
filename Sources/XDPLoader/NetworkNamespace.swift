import CXDP
import Glibc

/// A throwaway network namespace made with iproute2 (`ip netns add`), used
/// by tests and benchmarks. `enter` runs a synchronous body with the calling
/// thread inside the namespace and always switches back: setns() moves only
/// the calling thread, which is all a synchronous body needs.
public final class NetworkNamespace: @unchecked Sendable {
    public let name: String

    public init(name: String) throws {
        guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }), !name.isEmpty else {
            throw XDPFwdError.invalidArgument("invalid namespace name \"\(name)\"")
        }
        self.name = name
        _ = try? Self.ip(["netns", "del", name])
        try Self.ip(["netns", "add", name])
    }

    /// Runs `ip -n NAME ARGS...`.
    public func ip(_ arguments: [String]) throws {
        try Self.ip(["-n", name] + arguments)
    }

    /// Runs a command inside the namespace (`ip netns exec`).
    public func exec(_ arguments: [String]) throws {
        try run("/usr/sbin/ip", ["netns", "exec", name] + arguments)
    }

    public func enter<T>(_ body: () throws -> T) throws -> T {
        let original = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
        if original < 0 { throw XDPFwdError.syscall(SyscallError("open", "/proc/thread-self/ns/net", errno: errno)) }
        defer { close(original) }
        let target = open("/run/netns/\(name)", O_RDONLY | O_CLOEXEC)
        if target < 0 { throw XDPFwdError.syscall(SyscallError("open", "/run/netns/\(name)", errno: errno)) }
        defer { close(target) }
        try check(cxdp_setns_net(target), "setns", name)
        defer { precondition(cxdp_setns_net(original) == 0, "cannot return to the original network namespace") }
        return try body()
    }

    deinit { _ = try? Self.ip(["netns", "del", name]) }

    static func ip(_ arguments: [String]) throws {
        try run("/usr/sbin/ip", arguments)
    }
}

/// Runs a program to completion; throws with its exit status otherwise.
public func run(_ path: String, _ arguments: [String]) throws {
    var pid: pid_t = 0
    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    let spawned = posix_spawn(&pid, path, &actions, nil, argv, environ)
    if spawned != 0 { throw XDPFwdError.syscall(SyscallError("posix_spawn", path, errno: spawned)) }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 {
        if errno != EINTR { throw XDPFwdError.syscall(SyscallError("waitpid", path, errno: errno)) }
    }
    let exited = (status & 0x7f) == 0
    let code = (status >> 8) & 0xff
    guard exited && code == 0 else {
        throw XDPFwdError.state("\(path) \(arguments.joined(separator: " ")) failed (status \(status))")
    }
}
