import Glibc
import XDPLoader

/// Where the forwarder process keeps what bpffs cannot hold (it stores
/// only BPF objects): its PID, the options to restart it with, its log and
/// the IRQ affinities to restore. They live in the run directory (env
/// XDPFWD_RUN_DIR, default /run/xdpfwd), named after the pin directory, so
/// every pin directory has its own forwarder.
public struct ForwarderFiles: Sendable {
    public static let defaultRunDirectory = "/run/xdpfwd"
    public let directory: String
    public let base: String

    public init(layout: PinLayout) {
        if let env = getenv("XDPFWD_RUN_DIR"), env.pointee != 0 {
            directory = String(cString: env)
        } else {
            directory = Self.defaultRunDirectory
        }
        base = String(layout.directory.dropFirst().map { $0 == "/" ? "_" : $0 })
    }

    public var pidFile: String { "\(directory)/\(base).afpacket.pid" }
    public var optionsFile: String { "\(directory)/\(base).afpacket.args" }
    public var logFile: String { "\(directory)/\(base).afpacket.log" }
    public var irqFile: String { "\(directory)/\(base).afpacket.irqs" }
    /// Interfaces whose GRO attach turned off (detach turns it back on).
    public var groFile: String { "\(directory)/\(base).afpacket.gro" }

    public func groDisabled() -> [String] {
        (readText(groFile) ?? "").split(separator: "\n").map(String.init)
    }

    public func setGRODisabled(_ names: [String]) throws {
        if names.isEmpty { unlink(groFile); return }
        try writeText(groFile, names.joined(separator: "\n") + "\n")
    }

    public func createDirectory() throws {
        var path = ""
        for component in directory.split(separator: "/") {
            path += "/" + component
            if mkdir(path, 0o755) != 0 && errno != EEXIST { throw FastPathError("mkdir", path, errno: errno) }
        }
    }

    /// The PID in the PID file if that process is alive (a zombie, which
    /// an init that does not reap leaves behind, is not).
    public func livePID() -> pid_t? {
        guard let text = readText(pidFile), let pid = pid_t(text.split(separator: "\n").first ?? ""), pid > 0 else { return nil }
        return Self.alive(pid) ? pid : nil
    }

    static func alive(_ pid: pid_t) -> Bool {
        guard let stat = readText("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(after: close)...].drop { $0 == " " }.first
        return state != "Z" && state != "X"
    }

    public func writePID(_ pid: pid_t) throws { try writeText(pidFile, "\(pid)\n") }
    public func removePID() { unlink(pidFile) }

    public func saveOptions(_ options: ForwarderOptions) throws {
        try writeText(optionsFile, options.arguments.joined(separator: "\n") + "\n")
    }

    public func savedArguments() -> [String]? {
        readText(optionsFile).map { $0.split(separator: "\n").map(String.init) }
    }

    public func logTail(_ lines: Int = 5) -> String {
        (readText(logFile) ?? "").split(separator: "\n").suffix(lines).joined(separator: "; ")
    }
}
