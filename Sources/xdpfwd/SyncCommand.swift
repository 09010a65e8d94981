import ArgumentParser
import RuleModel
import XDPLoader

struct Sync: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-read the attached interfaces' addresses and VLAN uppers (live, no detach).",
        discussion: """
            attach records each interface's IPv4 and IPv6 address (the --snat auto source), the VLAN \
            sub-interfaces above it and the local addresses wildcard rules match. After readdressing an \
            interface or adding or removing VLAN sub-interfaces, run sync: new flows use the new state at \
            once, established flows keep their translation, programs stay attached (any mode).
            """)

    @OptionGroup var common: CommonOptions
    @Flag(name: [.customShort("j"), .long], help: "Print JSON.") var json = false

    func run() throws {
        let report = try Attacher(layout: try common.layout()).sync()
        if json { return try printJSON(SyncJSON(report)) }
        for change in report.addressChanges {
            let family = change.family == "ipv4" ? "IPv4" : "IPv6"
            printLine("\(change.interface): \(family) \(change.old?.description ?? "none") -> \(change.new?.description ?? "none")")
        }
        for ifindex in report.vanished {
            printLine("ifindex \(ifindex): interface gone (xdpfwd detach --all cleans it up)")
        }
        if report.vlansBefore != report.vlansAfter {
            printLine("VLAN uppers: \(report.vlansBefore) -> \(report.vlansAfter)")
        }
        if report.localAddressesBefore != report.localAddressesAfter {
            let added = report.localAddressesAfter.filter { !report.localAddressesBefore.contains($0) }
            let removed = report.localAddressesBefore.filter { !report.localAddressesAfter.contains($0) }
            printLine("local addresses (wildcard rules): +[\(added.map(\.description).joined(separator: " "))] -[\(removed.map(\.description).joined(separator: " "))]")
        }
        if !report.changedAnything && report.vanished.isEmpty { printLine("in sync: nothing changed") }
    }
}

struct SyncJSON: Codable {
    struct AddressChange: Codable {
        let interface: String
        let family: String
        let old: String?
        let new: String?
    }

    let changed: Bool
    let address_changes: [AddressChange]
    let vanished_ifindexes: [UInt32]
    let vlans_before: Int
    let vlans_after: Int
    let local_addresses: [String]

    init(_ report: SyncReport) {
        changed = report.changedAnything
        address_changes = report.addressChanges.map {
            AddressChange(interface: $0.interface, family: $0.family, old: $0.old?.description, new: $0.new?.description)
        }
        vanished_ifindexes = report.vanished
        vlans_before = report.vlansBefore
        vlans_after = report.vlansAfter
        local_addresses = report.localAddressesAfter.map(\.description)
    }
}
