import ArgumentParser
import Foundation
import CXDP
import FastPath
import RuleModel
import XDPLoader

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show attached interfaces, rule and flow counts.")

    @OptionGroup var common: CommonOptions
    @Flag(name: [.customShort("j"), .long], help: "Print JSON.") var json = false

    func run() throws {
        let layout = try common.layout()
        try layout.requireBPFFS()
        guard layout.exists(layout.xdpProgram) else {
            if json {
                try printJSON(StatusJSON(pin_dir: layout.directory, loaded: false, interfaces: [], rules: 0, conntrack_entries: 0,
                                         local_addresses: [],
                                         afpacket_forwarder_pid: nil))
            } else {
                printLine("xdpfwd: not loaded (pin dir \(layout.directory)); attach with: xdpfwd attach IFACE")
            }
            return
        }
        let datapath = try Datapath.openPinned(layout)
        let maps = datapath.maps
        let interfaces = try maps.ifaces.entries().map { ifindex, record in
            var progID: UInt32 = 0, mode: UInt8 = 0, tcProg: UInt32 = 0
            _ = cxdp_xdp_query(Int32(ifindex), &progID, &mode)
            _ = cxdp_tc_ingress_query(Int32(ifindex), &tcProg)
            return InterfaceJSON(
                name: Interface.name(of: ifindex), ifindex: ifindex,
                mode: Self.modeName(record.mode),
                ipv4: record.ipv4_addr == 0 ? nil : IPv4Address(networkOrder: record.ipv4_addr).description,
                ipv6: IPv6Address(networkOrderWords: record.ipv6_addr).isUnspecified
                    ? nil : IPv6Address(networkOrderWords: record.ipv6_addr).description,
                xdp_prog_id: progID, tc_prog_id: tcProg, attached_unix: record.attached_unix)
        }.sorted { $0.ifindex < $1.ifindex }
        let afpacket = AFPacketWorkersOutput(layout: layout, afpacketAttached: interfaces.contains { $0.mode == "afpacket" })
        let pid = afpacket.pid
        var status = StatusJSON(
            pin_dir: layout.directory, loaded: true, interfaces: interfaces,
            rules: try RuleTable(maps: maps).list().count, conntrack_entries: try maps.flows.keys().count,
            local_addresses: try LocalAddresses.recorded(maps).map(\.description),
            afpacket_forwarder_pid: pid.map(Int.init))
        status.afpacket_workers = afpacket.json
        if json { return try printJSON(status) }

        printLine("pin dir: \(status.pin_dir)")
        if interfaces.isEmpty { printLine("interfaces: none attached") }
        for entry in interfaces {
            if entry.mode == "afpacket" {
                let forwarder = pid.map { "forwarder pid \($0)" } ?? "forwarder NOT running (xdpfwd attach --mode afpacket \(entry.name) restarts it)"
                printLine("  \(entry.name) (ifindex \(entry.ifindex)): afpacket, \(entry.ipv4 ?? "no IPv4"), \(entry.ipv6 ?? "no global IPv6"), tc prog \(entry.tc_prog_id), \(forwarder)")
                continue
            }
            let program = entry.xdp_prog_id == 0 ? "XDP program missing!" : "xdp prog \(entry.xdp_prog_id), tc prog \(entry.tc_prog_id)"
            printLine("  \(entry.name) (ifindex \(entry.ifindex)): \(entry.mode) XDP, \(entry.ipv4 ?? "no IPv4"), \(entry.ipv6 ?? "no global IPv6"), \(program)")
        }
        for worker in afpacket.workers ?? [] { printLine("  " + AFPacketWorkersOutput.line(worker)) }
        printLine("local addresses (wildcard rules): \(status.local_addresses.isEmpty ? "none" : status.local_addresses.joined(separator: " "))")
        printLine("rules: \(status.rules)")
        printLine("conntrack entries: \(status.conntrack_entries) (two per flow)")
    }
}

extension Status {
    static func modeName(_ mode: UInt8) -> String {
        switch UInt32(mode) {
        case XDPFWD_MODE_NATIVE.rawValue: "native"
        case XDPFWD_MODE_AFPACKET.rawValue: "afpacket"
        default: "generic"
        }
    }
}
