import ArgumentParser
import Glibc
import XDPLoader

/// Entry point: runs the command tree and maps errors to one line on stderr
/// and the exit codes of the iproute2/bpftool tradition (0, 1, 64).
struct XDPFwd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xdpfwd",
        abstract: "XDP L4 port forwarder: full-NAT TCP/UDP forwarding in the NIC driver.",
        discussion: """
            State lives in pinned BPF maps under --pin-dir (env XDPFWD_PIN_DIR, default \(PinLayout.defaultDirectory)): \
            rules changed by one command are live at once, and forwarding continues after xdpfwd exits.
            Exit status: 0 success, 1 runtime error, 64 usage error.
            """,
        version: "0.1.0",
        subcommands: [Attach.self, Forward.self, Detach.self, Sync.self, Status.self, RuleCommand.self, FlowsCommand.self, Stats.self, Bench.self, Gen.self]
    )
}

func fail(_ message: String, code: Int32) -> Never {
    let line = "xdpfwd: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(code)
}

do {
    var command = try XDPFwd.parseAsRoot()
    try command.run()
} catch let error as XDPFwdError {
    if case .syscall(let syscall) = error, let log = syscall.log, !log.isEmpty {
        let tail = log.split(separator: "\n").suffix(20).joined(separator: "\n")
        _ = "\(tail)\n".withCString { write(2, $0, strlen($0)) }
    }
    fail(error.description, code: error.isUsageError ? 64 : 1)
} catch {
    XDPFwd.exit(withError: error)
}
