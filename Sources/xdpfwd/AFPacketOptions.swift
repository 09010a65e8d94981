import ArgumentParser
import FastPath
import Glibc
import XDPLoader

/// `attach --mode`: the XDP modes, AF_PACKET (FastPath), and auto
/// (native XDP, else AF_PACKET).
enum CLIAttachMode: String, ExpressibleByArgument, CaseIterable {
    case auto, native, generic, afpacket
}

/// Options of the AF_PACKET forwarder (attach --mode afpacket|auto, forward).
struct AFPacketOptions: ParsableArguments {
    @Option(help: "CPUs for forwarding workers, e.g. 0,2-3 (default: all online).") var cpus: String?
    @Option(help: "RX ring block size in bytes (power of two, >= 4096).") var ringBlockSize: UInt32 = RingGeometry().blockSize
    @Option(help: "RX ring blocks per socket.") var ringBlocks: UInt32 = RingGeometry().blockCount
    @Option(help: "RX ring frame size in bytes (multiple of 16).") var ringFrameSize: UInt32 = RingGeometry().frameSize
    @Option(help: "Milliseconds before a part-filled RX block is handed over.") var ringRetireMs: UInt32 = RingGeometry().retireMs
    @Option(help: "TX ring slot size in bytes (power of two).") var txFrameSize: UInt32 = RingGeometry().txFrameSize
    @Option(help: "TX ring slots per socket (power of two).") var txFrames: UInt32 = RingGeometry().txFrames
    @Option(help: "TX frames queued before they are sent (a burst the egress device's queue can take).")
    var txBatch: UInt32 = RingGeometry().txBatch
    @Flag(help: "Send through the qdisc layer instead of PACKET_QDISC_BYPASS.") var noQdiscBypass = false
    @Flag(help: "Leave NIC queue IRQ affinity alone.") var noIrqPinning = false
    @Flag(help: "Leave GRO on (attach turns it off so TCP segments arrive as sent; for UDP-only setups).") var keepGro = false

    func forwarderOptions() throws -> ForwarderOptions {
        var options = ForwarderOptions(cpus: ForwarderOptions.allCPUs())
        if let cpus {
            do { options.cpus = try ForwarderOptions.parseCPUs(cpus) } catch { throw XDPFwdError.invalidArgument(error.description) }
        }
        options.geometry.blockSize = ringBlockSize
        options.geometry.blockCount = ringBlocks
        options.geometry.frameSize = ringFrameSize
        options.geometry.retireMs = ringRetireMs
        options.geometry.txFrameSize = txFrameSize
        options.geometry.txFrames = txFrames
        options.geometry.txBatch = txBatch
        options.qdiscBypass = !noQdiscBypass
        options.pinIRQs = !noIrqPinning
        options.keepGRO = keepGro
        do { try options.validate() } catch { throw XDPFwdError.invalidArgument(error.description) }
        return options
    }
}

/// The forwarder process itself (spawned by `attach --mode afpacket`, or
/// run under a supervisor); hidden: users run attach.
struct Forward: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the AF_PACKET forwarder for the interfaces attached in afpacket mode.",
        shouldDisplay: false)

    @OptionGroup var common: CommonOptions
    @OptionGroup var afpacket: AFPacketOptions

    func run() throws {
        let options = try afpacket.forwarderOptions()
        try AFPacketAttacher(layout: common.layout()).runForeground(options: options) { printLine($0) }
    }
}
