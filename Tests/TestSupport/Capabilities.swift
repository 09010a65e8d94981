import Glibc
import Testing
import XDPLoader

/// Probes for what privileged tests need, once per test process. Every test
/// target's privileged suites use
/// `.enabled(if: Capabilities.bpfAndNetns, Capabilities.reason)` so that a
/// machine without root, BPF or namespaces skips them with the reason.
public enum Capabilities {
    /// Root, a working `ip netns`, and the kernel accepting our BPF object.
    public static let bpfAndNetns: Bool = missing == nil

    public static var reason: Comment { Comment(rawValue: "needs \(missing ?? "nothing"); run the suite as root on Linux with BPF") }

    private static let missing: String? = {
        guard geteuid() == 0 else { return "root (CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN)" }
        guard access("/usr/sbin/ip", X_OK) == 0 else { return "iproute2 (/usr/sbin/ip)" }
        do {
            _ = try Datapath.load()
        } catch {
            return "a kernel that loads the xdpfwd BPF object (\(error))"
        }
        do {
            _ = try NetworkNamespace(name: "xft-probe-\(getpid())")
        } catch {
            return "network namespaces (\(error))"
        }
        return nil
    }()
}
