import CXDP
import Glibc
import RuleModel

/// What `xdpfwd sync` found changed since the data plane last looked at the
/// attached interfaces.
public struct SyncReport: Sendable, Equatable {
    /// An attached interface whose SNAT source address changed.
    public struct AddressChange: Sendable, Equatable {
        public let interface: String
        public let family: String            // "ipv4" or "ipv6"
        public let old: IPAddress?
        public let new: IPAddress?
    }

    public var addressChanges: [AddressChange] = []
    /// Attached ifindexes with no interface behind them any more.
    public var vanished: [UInt32] = []
    /// VLAN uppers described to the data plane, before and after.
    public var vlansBefore = 0, vlansAfter = 0
    /// Local addresses wildcard rules match, before and after.
    public var localAddressesBefore: [IPAddress] = [], localAddressesAfter: [IPAddress] = []

    public var changedAnything: Bool {
        !addressChanges.isEmpty || vlansBefore != vlansAfter || localAddressesBefore != localAddressesAfter
    }
}

extension Attacher {
    /// Re-reads what attach recorded about the attached interfaces, without
    /// touching their XDP or TC programs: the IPv4 and IPv6 SNAT source of
    /// each (`--snat auto` uses it for new flows), the VLAN uppers above
    /// them, and the local addresses that wildcard rules match. Established
    /// flows keep their translation. Run it after readdressing an interface
    /// or adding or removing VLAN sub-interfaces; works in every mode.
    public func sync() throws -> SyncReport {
        try layout.requireBPFFS()
        let datapath = try Datapath.openPinned(layout)
        let lock = try PinDirectoryLock(layout)
        defer { withExtendedLifetime(lock) {} }
        let maps = datapath.maps
        var report = SyncReport()
        report.vlansBefore = try maps.vlans.keys().count
        report.localAddressesBefore = try LocalAddresses.recorded(maps)

        for ifindex in try maps.ifaces.keys().sorted() {
            guard var record = try maps.ifaces.lookup(ifindex) else { continue }
            var nameBuffer = [CChar](repeating: 0, count: Int(IF_NAMESIZE))
            guard if_indextoname(ifindex, &nameBuffer) != nil else {
                // Gone with its device: detach cleans the record up.
                report.vanished.append(ifindex)
                continue
            }
            let interface = Interface(name: String(cString: nameBuffer), ifindex: ifindex)
            let ipv4 = interface.primaryIPv4NetworkOrder()
            let ipv6 = interface.primaryIPv6()
            let oldIPv6 = IPv6Address(networkOrderWords: record.ipv6_addr)
            let recordedIPv6: IPv6Address? = oldIPv6.isUnspecified ? nil : oldIPv6
            guard ipv4 != record.ipv4_addr || ipv6 != recordedIPv6 else { continue }

            if ipv4 != record.ipv4_addr {
                report.addressChanges.append(.init(
                    interface: interface.name, family: "ipv4",
                    old: record.ipv4_addr == 0 ? nil : .v4(IPv4Address(networkOrder: record.ipv4_addr)),
                    new: ipv4 == 0 ? nil : .v4(IPv4Address(networkOrder: ipv4))))
            }
            if ipv6 != recordedIPv6 {
                report.addressChanges.append(.init(interface: interface.name, family: "ipv6",
                                                   old: recordedIPv6.map { .v6($0) }, new: ipv6.map { .v6($0) }))
            }
            record.ipv4_addr = ipv4
            record.ipv6_addr = ipv6?.networkOrderWords ?? (0, 0, 0, 0)
            try maps.ifaces.update(ifindex, record)
        }
        try VLANTable.sync(maps)
        try LocalAddresses.sync(maps)
        report.vlansAfter = try maps.vlans.keys().count
        report.localAddressesAfter = try LocalAddresses.recorded(maps)
        return report
    }
}
