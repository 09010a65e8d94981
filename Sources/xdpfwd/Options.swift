import ArgumentParser
import Glibc
import XDPLoader

/// Options every subcommand shares.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: "bpffs directory holding xdpfwd's pinned state (env XDPFWD_PIN_DIR).")
    var pinDir: String?

    func layout() throws -> PinLayout {
        if let pinDir { return try PinLayout(directory: pinDir) }
        if let env = getenv("XDPFWD_PIN_DIR"), env.pointee != 0 {
            return try PinLayout(directory: String(cString: env))
        }
        return try PinLayout(directory: PinLayout.defaultDirectory)
    }
}

extension AttachMode: ExpressibleByArgument {}

/// Writes one line to standard output with write(2): unbuffered, so output
/// interleaves correctly with stderr and survives `--watch` being killed.
func printLine(_ text: String) {
    var bytes = Array((text + "\n").utf8)[...]
    while !bytes.isEmpty {
        let written = bytes.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
        if written < 0 && errno == EINTR { continue }
        if written <= 0 { return }
        bytes = bytes.dropFirst(written)
    }
}
