import CXDP
import Glibc
import RuleModel

public enum AttachMode: String, CaseIterable, Sendable {
    case auto, native, generic
}

public struct AttachedInterface: Sendable {
    public let interface: Interface
    public let mode: String          // "native" or "generic"
    public let ipv4NetworkOrder: UInt32
    /// The IPv6 --snat auto source, if the interface has a global address.
    public let ipv6: IPv6Address?
    public let enabledForwarding: Bool
    public let enabledForwarding6: Bool
    public let note: String?         // why auto fell back, etc.
}

/// Attaches the data plane to interfaces and detaches it, symmetrically:
/// every step of an attach has an undo, and a failure anywhere undoes all
/// steps taken so far, so nothing is half-applied.
public struct Attacher {
    public let layout: PinLayout

    public init(layout: PinLayout) { self.layout = layout }

    public func attach(_ names: [String], mode: AttachMode) throws -> [AttachedInterface] {
        let interfaces = try Self.resolveUnique(names)
        try layout.requireBPFFS()
        try layout.createDirectory()
        let lock = try PinDirectoryLock(layout)
        defer { withExtendedLifetime(lock) {} }

        let (datapath, loadedNow) = try Datapath.openOrLoadPinned(layout)
        var undo = UndoStack()
        if loadedNow {
            // A fresh data plane that ends up on no interface is removed again.
            undo.push { if (try? datapath.maps.ifaces.keys().isEmpty) ?? false { try? Datapath.unpinAll(layout) } }
        }
        do {
            for interface in interfaces { try checkNotAttached(interface, datapath: datapath) }
            var results: [AttachedInterface] = []
            // Runs last on undo, once these interfaces are out of the maps.
            undo.push { try? VLANTable.sync(datapath.maps) }
            for interface in interfaces {
                results.append(try attachOne(interface, mode: mode, datapath: datapath, undo: &undo))
            }
            // VLAN uppers of every attached interface, these included.
            try VLANTable.sync(datapath.maps)
            // Wildcard rules match the addresses of both.
            try LocalAddresses.sync(datapath.maps)
            return results
        } catch {
            undo.run()
            throw error
        }
    }

    private func checkNotAttached(_ interface: Interface, datapath: Datapath) throws {
        if let record = try datapath.maps.ifaces.lookup(interface.ifindex), UInt32(record.mode) == XDPFWD_MODE_AFPACKET.rawValue {
            throw XDPFwdError.state("\(interface.name) is already attached to xdpfwd in afpacket mode (xdpfwd detach \(interface.name) first)")
        }
        if layout.exists(layout.xdpLink(ifindex: interface.ifindex)) {
            throw XDPFwdError.state("\(interface.name) is already attached to xdpfwd (xdpfwd detach \(interface.name) first)")
        }
        var progID: UInt32 = 0, attachMode: UInt8 = 0
        try check(cxdp_xdp_query(Int32(interface.ifindex), &progID, &attachMode), "bpf_xdp_query", interface.name)
        if progID != 0 {
            throw XDPFwdError.state(
                "\(interface.name) already has an XDP program (id \(progID)) that xdpfwd does not own: remove it first (ip link set dev \(interface.name) xdp off)")
        }
    }

    private func attachOne(_ interface: Interface, mode: AttachMode, datapath: Datapath, undo: inout UndoStack) throws -> AttachedInterface {
        let maps = datapath.maps
        let address = interface.primaryIPv4NetworkOrder()
        let address6 = interface.primaryIPv6()

        let wasForwarding = try interface.readForwarding()
        if !wasForwarding {
            try interface.writeForwarding(true)
            undo.push { try? interface.writeForwarding(false) }
        }
        let wasForwarding6 = try interface.readForwarding6()
        if wasForwarding6 == false {
            try interface.writeForwarding6(true)
            undo.push { try? interface.writeForwarding6(false) }
        }

        var createdClsact: Int32 = 0
        try check(cxdp_tc_ingress_attach(Int32(interface.ifindex), datapath.tcProgram.raw, &createdClsact),
                  "bpf_tc_attach", "\(interface.name) ingress")
        let destroyClsact = createdClsact
        undo.push { _ = cxdp_tc_ingress_detach(Int32(interface.ifindex), destroyClsact) }

        var record = xdpfwd_iface()
        record.ipv4_addr = address
        record.ifindex = interface.ifindex
        record.prev_forwarding = wasForwarding ? 1 : 0
        record.prev_forwarding6 = wasForwarding6.map { $0 ? 1 : 0 } ?? 2
        if let address6 { record.ipv6_addr = address6.networkOrderWords }
        record.created_clsact = UInt8(createdClsact)
        record.attached_unix = UInt64(time(nil))
        try maps.ifaces.update(interface.ifindex, record)
        undo.push { _ = try? maps.ifaces.delete(interface.ifindex) }
        try maps.txports.update(interface.ifindex, DevmapValue(ifindex: interface.ifindex))
        undo.push { _ = try? maps.txports.delete(interface.ifindex) }

        let (link, attachedMode, note) = try createLink(interface, mode: mode, program: datapath.xdpProgram)
        undo.push { _ = cxdp_link_detach(link.raw) }
        let linkPath = layout.xdpLink(ifindex: interface.ifindex)
        try layout.pin(link, at: linkPath)
        undo.push { try? layout.unpin(linkPath) }

        record.mode = UInt8(attachedMode == "native" ? XDPFWD_MODE_NATIVE.rawValue : XDPFWD_MODE_GENERIC.rawValue)
        try maps.ifaces.update(interface.ifindex, record)

        return AttachedInterface(interface: interface, mode: attachedMode, ipv4NetworkOrder: address, ipv6: address6,
                                 enabledForwarding: !wasForwarding, enabledForwarding6: wasForwarding6 == false, note: note)
    }

    private func createLink(_ interface: Interface, mode: AttachMode, program: OwnedFD) throws -> (OwnedFD, String, String?) {
        func link(_ flags: Int32) -> Int32 {
            cxdp_xdp_link_create(program.raw, Int32(interface.ifindex), UInt32(flags))
        }
        switch mode {
        case .native:
            let fd = link(Int32(CXDP_XDP_FLAGS_DRV_MODE))
            if fd == -EOPNOTSUPP || fd == -EINVAL {
                throw XDPFwdError.state("\(interface.name): the driver has no native XDP support (use --mode generic or --mode auto)")
            }
            return (OwnedFD(try checkLink(fd, interface)), "native", nil)
        case .generic:
            return (OwnedFD(try checkLink(link(Int32(CXDP_XDP_FLAGS_SKB_MODE)), interface)), "generic", nil)
        case .auto:
            let native = link(Int32(CXDP_XDP_FLAGS_DRV_MODE))
            if native >= 0 { return (OwnedFD(native), "native", nil) }
            let generic = try checkLink(link(Int32(CXDP_XDP_FLAGS_SKB_MODE)), interface)
            let reason = String(cString: strerror(-native))
            return (OwnedFD(generic), "generic", "native XDP refused (\(reason)); using generic XDP")
        }
    }

    private func checkLink(_ fd: Int32, _ interface: Interface) throws -> Int32 {
        if fd == -EBUSY || fd == -EEXIST {
            throw XDPFwdError.state("\(interface.name) already has an XDP program attached")
        }
        return try check(fd, "bpf_link_create(BPF_XDP)", interface.name)
    }

    // MARK: detach

    /// Detaches the named interfaces; all of them must be attached.
    public func detach(_ names: [String]) throws -> [String] {
        let interfaces = try Self.resolveUnique(names)
        let datapath = try Datapath.openPinned(layout)
        let lock = try PinDirectoryLock(layout)
        defer { withExtendedLifetime(lock) {} }
        for interface in interfaces where try datapath.maps.ifaces.lookup(interface.ifindex) == nil {
            throw XDPFwdError.state("\(interface.name) is not attached to xdpfwd")
        }
        for interface in interfaces { try detachOne(interface.ifindex, datapath: datapath) }
        try VLANTable.sync(datapath.maps)
        try LocalAddresses.sync(datapath.maps)
        return interfaces.map(\.name)
    }

    /// Detaches every interface; with purge, also removes rules and all pins,
    /// whichever xdpfwd pinned them.
    public func detachAll(purge: Bool) throws -> [String] {
        try layout.requireBPFFS()
        guard layout.exists(layout.xdpProgram) else {
            if purge { try Datapath.unpinAll(layout) }
            return []
        }
        if purge && PinnedState.isForeign(layout) { return try purgeForeign() }
        let datapath = try Datapath.openPinned(layout)
        let lock = try PinDirectoryLock(layout)
        var names: [String] = []
        for ifindex in try datapath.maps.ifaces.keys() {
            names.append(Interface.name(of: ifindex))
            try detachOne(ifindex, datapath: datapath)
        }
        try VLANTable.sync(datapath.maps)
        try LocalAddresses.sync(datapath.maps)
        withExtendedLifetime(lock) {}
        if purge { try Datapath.unpinAll(layout) }
        return names
    }

    private func detachOne(_ ifindex: UInt32, datapath: Datapath) throws {
        let maps = datapath.maps
        try undoAttach(ifindex, record: try maps.ifaces.lookup(ifindex).map(AttachRecord.init))
        try maps.txports.delete(ifindex)
        try maps.ifaces.delete(ifindex)
    }

    /// Undoes what attach did to the system for one interface: the XDP
    /// link, the TC filter (and the clsact qdisc if attach made it), the
    /// forwarding sysctls. The maps are the caller's business.
    private func undoAttach(_ ifindex: UInt32, record: AttachRecord?) throws {
        let linkPath = layout.xdpLink(ifindex: ifindex)
        if let link = try layout.open(linkPath) {
            let result = cxdp_link_detach(link.raw)
            // ENOLINK/ENODEV: the interface is gone and took the link with it.
            if result < 0 && result != -ENOLINK && result != -ENODEV {
                try check(result, "bpf_link_detach", Interface.name(of: ifindex))
            }
            try layout.unpin(linkPath)
        }
        if Interface.exists(ifindex) {
            let name = Interface.name(of: ifindex)
            try check(cxdp_tc_ingress_detach(Int32(ifindex), record?.createdClsact == true ? 1 : 0), "bpf_tc_detach", "\(name) ingress")
            if let record, !record.prevForwarding {
                try Interface(name: name, ifindex: ifindex).writeForwarding(false)
            }
            if let record, record.prevForwarding6 == false {
                try Interface(name: name, ifindex: ifindex).writeForwarding6(false)
            }
        }
    }

    /// Purges state this build cannot read as its own (PinnedState): each
    /// XDP attach is undone from the fields every version's records share,
    /// links without a record too, then every pin goes. Nothing is written
    /// to maps whose layout is another version's. (AFPacketAttacher undoes
    /// the afpacket attaches first.)
    private func purgeForeign() throws -> [String] {
        let lock = try PinDirectoryLock(layout)
        defer { withExtendedLifetime(lock) {} }
        var names: [String] = []
        for record in try AttachRecord.readPinned(layout) where !record.isAFPacket {
            names.append(Interface.name(of: record.ifindex))
            try undoAttach(record.ifindex, record: record)
        }
        for ifindex in try layout.pinnedXDPLinks() {
            names.append(Interface.name(of: ifindex))
            try undoAttach(ifindex, record: nil)
        }
        try Datapath.unpinAll(layout)
        return names
    }

    /// The interfaces by name: refuses none, unknown and repeated names.
    public static func resolveUnique(_ names: [String]) throws -> [Interface] {
        guard !names.isEmpty else { throw XDPFwdError.invalidArgument("no interface given") }
        var seen = Set<String>()
        for name in names where !seen.insert(name).inserted {
            throw XDPFwdError.invalidArgument("interface \"\(name)\" is named twice")
        }
        return try names.map(Interface.named)
    }
}

/// Undo actions of a multi-step change, run newest first.
struct UndoStack {
    private var actions: [() -> Void] = []
    mutating func push(_ action: @escaping () -> Void) { actions.append(action) }
    func run() { for action in actions.reversed() { action() } }
}
