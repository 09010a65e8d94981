import FastPath
import Testing

/// Ring geometry and forwarder options are validated in pure Swift, before
/// any socket: each bad value is refused with the flag it came from.
@Suite("FastPath: ring geometry and options")
struct OptionsTests {
    @Test("defaults are valid")
    func defaults() throws {
        try RingGeometry().validate()
        #expect(RingGeometry().txBlockSize % RingGeometry.pageSize == 0)
        #expect(RingGeometry().txBlockCount * (RingGeometry().txBlockSize / RingGeometry().txFrameSize) == RingGeometry().txFrames)
    }

    static let bad: [(String, @Sendable (inout RingGeometry) -> Void, String)] = [
        ("block not a power of two", { $0.blockSize = 12288 }, "--ring-block-size"),
        ("block below a page", { $0.blockSize = 2048 }, "--ring-block-size"),
        ("frame not 16-aligned", { $0.frameSize = 2050 }, "--ring-frame-size"),
        ("frame above the block", { $0.blockSize = 4096; $0.frameSize = 8192 }, "--ring-frame-size"),
        ("no blocks", { $0.blockCount = 0 }, "--ring-blocks"),
        ("ring over 1 GiB", { $0.blockSize = 1 << 22; $0.blockCount = 1024 }, "exceeds"),
        ("retire 0 ms", { $0.retireMs = 0 }, "--ring-retire-ms"),
        ("tx slot too small for the MTU", { $0.txFrameSize = 1024 }, "--tx-frame-size"),
        ("tx frames not a power of two", { $0.txFrames = 1000 }, "--tx-frames"),
        ("tx batch zero", { $0.txBatch = 0 }, "--tx-batch 0: must be 1-1024"),
        ("tx batch beyond the ring", { $0.txFrames = 64; $0.txBatch = 65 }, "--tx-batch 65: must be 1-64"),
    ]

    @Test("bad geometry is refused, naming the flag", arguments: 0..<bad.count)
    func badGeometry(_ index: Int) {
        let (name, change, flag) = Self.bad[index]
        var geometry = RingGeometry()
        change(&geometry)
        #expect(throws: RingGeometry.Problem.self, "\(name)") { try geometry.validate() }
        do { try geometry.validate() } catch { #expect(error.description.contains(flag), "\(name): \(error)") }
    }

    @Test("CPU lists")
    func cpus() throws {
        #expect(try ForwarderOptions.parseCPUs("0,2-3") == [0, 2, 3])
        #expect(try ForwarderOptions.parseCPUs("1") == [1])
        for bad in ["", "a", "3-1", "0,0", "-1", "0-", "1,,2"] {
            #expect(throws: RingGeometry.Problem.self, "\(bad)") { try ForwarderOptions.parseCPUs(bad) }
        }
        var options = ForwarderOptions(cpus: [4096])
        #expect(throws: RingGeometry.Problem.self) { try options.validate() }
        options.cpus = [0]
        try options.validate()
        #expect(options.arguments.contains("--cpus"))
    }
}
