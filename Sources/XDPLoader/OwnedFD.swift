import Glibc

/// A file descriptor closed exactly once, when its owner goes away.
public final class OwnedFD: @unchecked Sendable {
    public let raw: Int32

    public init(_ raw: Int32) {
        precondition(raw >= 0, "OwnedFD needs a valid descriptor")
        self.raw = raw
    }

    /// Takes a duplicate, so the original may be closed by its own owner.
    public static func duplicating(_ raw: Int32, _ what: String) throws -> OwnedFD {
        let copy = fcntl(raw, F_DUPFD_CLOEXEC, 3)
        if copy < 0 { throw XDPFwdError.syscall(SyscallError("fcntl(F_DUPFD_CLOEXEC)", what, errno: errno)) }
        return OwnedFD(copy)
    }

    deinit { close(raw) }
}
