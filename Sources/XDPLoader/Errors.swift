import Glibc

/// A failed system or libbpf call: which call, on what, and the errno it
/// returned. Loads also keep libbpf's log, which holds the verifier's verdict.
public struct SyscallError: Error, CustomStringConvertible, Sendable {
    public let call: String
    public let target: String
    public let errno: Int32
    public let log: String?

    public init(_ call: String, _ target: String, errno: Int32, log: String? = nil) {
        self.call = call
        self.target = target
        self.errno = errno
        self.log = log
    }

    public var errnoName: String { String(cString: strerror(errno)) }

    public var description: String {
        var text = "\(call)(\(target)) failed: \(errnoName) (errno \(errno))"
        if errno == EPERM || errno == EACCES {
            text += "; xdpfwd needs root (CAP_BPF, CAP_NET_ADMIN)"
        }
        return text
    }
}

/// Everything the loader reports to a user: one line each.
public enum XDPFwdError: Error, CustomStringConvertible, Sendable {
    /// Bad input caught before any syscall (exit 64).
    case invalidArgument(String)
    /// The system is not in a state that allows the operation (exit 1).
    case state(String)
    /// A syscall failed (exit 1).
    case syscall(SyscallError)

    public var description: String {
        switch self {
        case .invalidArgument(let text), .state(let text): return text
        case .syscall(let error): return error.description
        }
    }

    public var isUsageError: Bool {
        if case .invalidArgument = self { return true }
        return false
    }
}

/// Converts libbpf's `-errno` convention into a thrown error.
@discardableResult
public func check(_ result: Int32, _ call: String, _ target: String) throws -> Int32 {
    if result < 0 { throw XDPFwdError.syscall(SyscallError(call, target, errno: -result)) }
    return result
}
