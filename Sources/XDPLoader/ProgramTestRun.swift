import CXDP

/// XDP verdicts as the kernel numbers them.
public enum XDPVerdict: UInt32, Sendable, CustomStringConvertible {
    case aborted = 0, drop = 1, pass = 2, tx = 3, redirect = 4

    public var description: String {
        switch self {
        case .aborted: "XDP_ABORTED"
        case .drop: "XDP_DROP"
        case .pass: "XDP_PASS"
        case .tx: "XDP_TX"
        case .redirect: "XDP_REDIRECT"
        }
    }
}

public struct TestRunResult: Sendable {
    public let verdict: XDPVerdict
    public let output: [UInt8]
    /// Kernel-measured average nanoseconds per repetition.
    public let durationNs: UInt32
}

/// BPF_PROG_TEST_RUN on an XDP program: the real program, the real
/// helpers (FIB, maps), one packet in, the verdict and packet out.
public struct XDPTestRunner {
    public let program: OwnedFD

    public init(program: OwnedFD) { self.program = program }

    public func run(_ packet: [UInt8], ingressIfindex: UInt32 = 0, repeat count: UInt32 = 1) throws -> TestRunResult {
        var output = [UInt8](repeating: 0, count: packet.count + 256)
        var outputLength = UInt32(output.count)
        var retval: UInt32 = 0, duration: UInt32 = 0
        let result = packet.withUnsafeBytes { input in
            output.withUnsafeMutableBytes { out in
                cxdp_test_run_xdp(program.raw, input.baseAddress, UInt32(input.count), out.baseAddress, &outputLength,
                                  ingressIfindex, count, &retval, &duration)
            }
        }
        try check(result, "bpf_prog_test_run_opts", "XDP program")
        guard let verdict = XDPVerdict(rawValue: retval) else {
            throw XDPFwdError.state("XDP program returned unknown verdict \(retval)")
        }
        return TestRunResult(verdict: verdict, output: Array(output.prefix(Int(outputLength))), durationNs: duration)
    }
}
