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
        // Namespaces of killed test and benchmark runs go first.
        _ = StaleNamespaces.sweptOnce
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

/// Runs a program to completion, its stdout discarded; a failure throws
/// with the command line and the first line of what it wrote to stderr.
public func run(_ path: String, _ arguments: [String]) throws {
    var pipeFDs: [Int32] = [0, 0]
    guard pipe(&pipeFDs) == 0 else { throw XDPFwdError.syscall(SyscallError("pipe", path, errno: errno)) }
    _ = fcntl(pipeFDs[0], F_SETFD, FD_CLOEXEC)
    var pid: pid_t = 0
    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 2)
    let spawned = posix_spawn(&pid, path, &actions, nil, argv, environ)
    close(pipeFDs[1])
    defer { close(pipeFDs[0]) }
    if spawned != 0 { throw XDPFwdError.syscall(SyscallError("posix_spawn", path, errno: spawned)) }
    var stderrBytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = read(pipeFDs[0], &buffer, buffer.count)
        if count < 0 && errno == EINTR { continue }
        if count <= 0 { break }
        if stderrBytes.count < 65536 { stderrBytes += buffer[0..<count] }
    }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 {
        if errno != EINTR { throw XDPFwdError.syscall(SyscallError("waitpid", path, errno: errno)) }
    }
    guard status & 0x7f == 0 && (status >> 8) & 0xff == 0 else {
        let message = String(decoding: stderrBytes, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? "status \(status)"
        throw XDPFwdError.state("\(([path] + arguments).joined(separator: " ")) failed: \(message)")
    }
}
