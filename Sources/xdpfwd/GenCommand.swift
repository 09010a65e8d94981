import ArgumentParser
import Benchmarks
import Foundation
import Packets
import RuleModel
import XDPLoader

struct Gen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Traffic generator: UDP or TCP SYN frames out of an interface, reporting packets per second sent.",
        discussion: """
            --method live (default with auto) runs an XDP program with BPF_PROG_TEST_RUN and \
            BPF_F_TEST_XDP_LIVE_FRAMES (kernel 5.18+), which transmits each frame with XDP_TX; it is attached to \
            IFACE while it runs. --method afpacket uses an AF_PACKET TX ring with PACKET_QDISC_BYPASS; auto falls \
            back to it where live frames are missing. Flow i uses source port SRC_PORT+i (and, past port 65535, \
            the next source addresses: their last 16 bits count up). On veth, the peer must carry an XDP program or have GRO on to accept \
            XDP_TX'ed frames. Needs root.
            """)

    @Argument(help: "Interface to send from.") var interface: String
    @Option(help: "Destination ADDR:PORT or [IPV6]:PORT.") var dst = "198.18.0.1:5000"
    @Option(help: "Source ADDR:PORT or [IPV6]:PORT of flow 0 (the destination's family).") var src = "198.18.0.2:1024"
    @Option(help: "Destination MAC (the next hop).") var dstMac: String
    @Option(help: "Source MAC (default: the interface's).") var srcMac: String?
    @Option(help: "udp or tcp (SYN).") var proto = "udp"
    @Option(help: "Concurrent flows (distinct source ports/addresses).") var flows = 1
    @Option(help: "Frame bytes without FCS, 60-1514 (IPv6: from 62 for UDP, 74 for TCP).") var size = 64
    @Option(help: "Rate cap in frames per second (0: none).") var rate = 0.0
    @Option(help: "Seconds to send.") var duration: Double?
    @Option(help: "Frames to send.") var count: UInt64?
    @Option(help: "Frames per live-frames batch, 1-256.") var batch = 64
    @Option(help: "auto, live or afpacket.") var method = "auto"
    @Flag(name: [.customShort("j"), .long], help: "Print JSON.") var json = false

    func run() throws {
        var options = Generator.Options()
        options.interface = interface
        options.dst = try parseEndpoint(dst, "--dst")
        options.src = try parseEndpoint(src, "--src")
        options.dstMAC = try parseMAC(dstMac, "--dst-mac")
        options.srcMAC = try srcMac.map { try parseMAC($0, "--src-mac") }
        guard let l4 = Generator.L4(rawValue: proto) else { throw XDPFwdError.invalidArgument("--proto must be udp or tcp") }
        guard let method = Generator.Method(rawValue: self.method) else {
            throw XDPFwdError.invalidArgument("--method must be auto, live or afpacket")
        }
        options.l4 = l4
        options.method = method
        options.flows = flows
        options.size = size
        options.rate = rate
        options.duration = duration
        options.count = count
        options.batch = batch
        if duration == nil && count == nil { options.duration = 10 }
        try options.validate()
        let result = try Generator(options: options).run { sent, seconds in
            if !json { printLine(String(format: "  %.1f s: %llu frames, %.0f pps", seconds, sent, Double(sent) / seconds)) }
        }
        let report = GenJSON(result: result, options: options)
        if json { return try printJSON(report) }
        printLine(report.line)
    }
}

/// The output of `xdpfwd gen` and `scripts/pktgen.sh` (same keys).
struct GenJSON: Codable {
    let engine: String
    let interface: String
    let sent: UInt64
    let seconds: Double
    let pps: Double
    let flows: Int
    let size: Int
    let proto: String

    init(result: Generator.Result, options: Generator.Options) {
        engine = result.method.rawValue
        interface = options.interface
        sent = result.sent
        seconds = result.seconds
        pps = result.pps
        flows = options.flows
        size = options.size
        proto = options.l4.rawValue
    }

    var line: String {
        String(format: "gen %@ %@: sent %llu frames in %.3f s: %.0f pps (%d flows, %d bytes, %@)",
               engine, interface, sent, seconds, pps, flows, size, proto)
    }
}

func parseEndpoint(_ text: String, _ option: String) throws -> Generator.Endpoint {
    guard let endpoint = Generator.Endpoint(parsing: text), endpoint.port > 0 else {
        throw XDPFwdError.invalidArgument("\(option): \"\(text)\" is not ADDR:PORT or [IPV6]:PORT")
    }
    return endpoint
}

func parseMAC(_ text: String, _ option: String) throws -> Packet.MAC {
    let parts = text.split(separator: ":", omittingEmptySubsequences: false)
    let bytes = parts.compactMap { $0.count == 2 ? UInt8($0, radix: 16) : nil }
    guard parts.count == 6, bytes.count == 6 else { throw XDPFwdError.invalidArgument("\(option): \"\(text)\" is not a MAC address") }
    return Packet.MAC(bytes)
}
