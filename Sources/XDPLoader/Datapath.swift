import CXDP
import Foundation

/// The maps of the data plane, typed by the shared header's structs.
public struct DatapathMaps: Sendable {
    public static let names = [
        "xdpfwd_rules", "xdpfwd_flows", "xdpfwd_ifaces", "xdpfwd_txports",
        "xdpfwd_config", "xdpfwd_stats", "xdpfwd_rstats", "xdpfwd_rules6", "xdpfwd_flows6",
        "xdpfwd_progs", "xdpfwd_maglev", "xdpfwd_laddrs", "xdpfwd_laddrs6",
        "xdpfwd_vlans", "xdpfwd_fpstats", "xdpfwd_fprstats",
    ]

    public let rules: BPFMap<xdpfwd_rule_key, xdpfwd_rule>
    public let flows: BPFMap<xdpfwd_flow_key, xdpfwd_flow>
    public let ifaces: BPFMap<UInt32, xdpfwd_iface>
    public let txports: BPFMap<UInt32, DevmapValue>
    public let config: BPFMap<UInt32, xdpfwd_config>
    public let stats: PerCPUMap<UInt32, UInt64>
    public let ruleStats: PerCPUMap<UInt32, xdpfwd_rule_stats>
    public let rules6: BPFMap<xdpfwd_rule6_key, xdpfwd_rule6>
    public let flows6: BPFMap<xdpfwd_flow6_key, xdpfwd_flow6>
    /// The tail-call program array (XDPFWD_PROG_*). Held open: the kernel
    /// empties a program array when its last user reference goes, and an
    /// unpinned (test) data plane has no other.
    public let programs: BPFMap<UInt32, UInt32>
    /// rule_id -> Maglev table; values are inner map fds on update, ids on lookup.
    public let maglev: BPFMap<UInt32, UInt32>
    /// Local IPv4 addresses of attached interfaces (network order) -> ifindex.
    public let laddrs: BPFMap<UInt32, UInt32>
    /// Local IPv6 addresses of attached interfaces -> ifindex.
    public let laddrs6: BPFMap<xdpfwd_addr6, UInt32>
    public let vlans: BPFMap<UInt32, xdpfwd_vlan>
    /// FastPath's (AF_PACKET) counters: plain arrays, one writer.
    public let fpStats: BPFMap<UInt32, UInt64>
    public let fpRuleStats: BPFMap<UInt32, xdpfwd_rule_stats>

    init(open: (String) throws -> OwnedFD) throws {
        rules = try BPFMap(fd: open("xdpfwd_rules"), name: "xdpfwd_rules")
        flows = try BPFMap(fd: open("xdpfwd_flows"), name: "xdpfwd_flows")
        ifaces = try BPFMap(fd: open("xdpfwd_ifaces"), name: "xdpfwd_ifaces")
        txports = try BPFMap(fd: open("xdpfwd_txports"), name: "xdpfwd_txports")
        config = try BPFMap(fd: open("xdpfwd_config"), name: "xdpfwd_config")
        stats = try PerCPUMap(fd: open("xdpfwd_stats"), name: "xdpfwd_stats")
        ruleStats = try PerCPUMap(fd: open("xdpfwd_rstats"), name: "xdpfwd_rstats")
        rules6 = try BPFMap(fd: open("xdpfwd_rules6"), name: "xdpfwd_rules6")
        flows6 = try BPFMap(fd: open("xdpfwd_flows6"), name: "xdpfwd_flows6")
        programs = try BPFMap(fd: open("xdpfwd_progs"), name: "xdpfwd_progs")
        maglev = try BPFMap(fd: open("xdpfwd_maglev"), name: "xdpfwd_maglev")
        laddrs = try BPFMap(fd: open("xdpfwd_laddrs"), name: "xdpfwd_laddrs")
        laddrs6 = try BPFMap(fd: open("xdpfwd_laddrs6"), name: "xdpfwd_laddrs6")
        vlans = try BPFMap(fd: open("xdpfwd_vlans"), name: "xdpfwd_vlans")
        fpStats = try BPFMap(fd: open("xdpfwd_fpstats"), name: "xdpfwd_fpstats")
        fpRuleStats = try BPFMap(fd: open("xdpfwd_fprstats"), name: "xdpfwd_fprstats")
    }
}

/// `struct bpf_devmap_val` as far as xdpfwd uses it: the egress ifindex and
/// no per-entry program.
public struct DevmapValue: BitwiseCopyable, Sendable {
    public var ifindex: UInt32
    public var programFD: Int32
    public init(ifindex: UInt32) { self.ifindex = ifindex; self.programFD = 0 }
}

/// Program and map handles of one data plane instance: either the pinned
/// one that the CLI manages, or a private one for tests and benchmarks.
public struct Datapath: Sendable {
    public static let xdpProgramName = "xdpfwd_xdp"
    public static let tcProgramName = "xdpfwd_tc"
    public static let passProgramName = "xdpfwd_pass"
    public static let afpTCProgramName = "xdpfwd_afp_tc"
    public static let fibProgramName = "xdpfwd_fib"
    public static let flowCountProgramName = "xdpfwd_ct_add"

    public let xdpProgram: OwnedFD
    public let tcProgram: OwnedFD
    /// FastPath (AF_PACKET): the TC classifier that drops the stack's copy
    /// of forwarded packets, and, run via BPF_PROG_TEST_RUN, the FIB lookup
    /// and the in-place add of deferred per-flow counts.
    public let afpTCProgram: OwnedFD
    public let fibProgram: OwnedFD
    public let flowCountProgram: OwnedFD
    public let maps: DatapathMaps

    /// Loads the embedded object. With a layout, maps are reused from or
    /// pinned to its directory; without one every map is private.
    public static func load(pinnedAt layout: PinLayout? = nil) throws -> (Datapath, passProgram: OwnedFD) {
        let object = try BPFObject.open(base64: EmbeddedBPFObject.base64, name: "xdpfwd", pinRoot: layout?.directory)
        try object.load()
        let maps = try DatapathMaps { try object.mapFD($0) }
        let datapath = Datapath(
            xdpProgram: try object.programFD(xdpProgramName),
            tcProgram: try object.programFD(tcProgramName),
            afpTCProgram: try object.programFD(afpTCProgramName),
            fibProgram: try object.programFD(fibProgramName),
            flowCountProgram: try object.programFD(flowCountProgramName),
            maps: maps)
        return (datapath, try object.programFD(passProgramName))
    }

    /// Opens the pinned data plane; a clear error if nothing is pinned, or
    /// if what is pinned is not this build's (PinnedState).
    public static func openPinned(_ layout: PinLayout) throws -> Datapath {
        try layout.requireBPFFS()
        guard let xdp = try layout.open(layout.xdpProgram), let tc = try layout.open(layout.tcProgram) else {
            throw XDPFwdError.state(
                "no xdpfwd data plane at \(layout.directory): attach an interface first (xdpfwd attach IFACE)")
        }
        try PinnedState.verify(layout)
        guard let afpTC = try layout.open(layout.afpTCProgram), let fib = try layout.open(layout.fibProgram),
              let flowCount = try layout.open(layout.flowCountProgram) else {
            throw XDPFwdError.state(
                "the data plane at \(layout.directory) was pinned by an older xdpfwd: detach it first (xdpfwd detach --all --purge)")
        }
        let maps = try DatapathMaps { name in
            guard let fd = try layout.open(layout.map(name)) else {
                throw XDPFwdError.state("pinned map \(layout.map(name)) is missing: state is damaged (xdpfwd detach --all --purge)")
            }
            return fd
        }
        return Datapath(xdpProgram: xdp, tcProgram: tc, afpTCProgram: afpTC, fibProgram: fib, flowCountProgram: flowCount,
                        maps: maps)
    }

    /// Opens the pinned data plane, loading and pinning it first if absent.
    public static func openOrLoadPinned(_ layout: PinLayout) throws -> (Datapath, loaded: Bool) {
        try layout.createDirectory()
        if layout.exists(layout.xdpProgram) {
            return (try openPinned(layout), false)
        }
        // No programs: a fresh directory gets this build's version record
        // first; maps left from an interrupted attach are reused only when
        // recorded as this build's.
        if PinnedState.isEmpty(layout) {
            try PinnedState.pinRecord(layout)
        }
        try PinnedState.verify(layout, complete: false)
        let (datapath, _) = try load(pinnedAt: layout)
        do {
            try layout.pin(datapath.xdpProgram, at: layout.xdpProgram)
            try layout.pin(datapath.tcProgram, at: layout.tcProgram)
            try layout.pin(datapath.afpTCProgram, at: layout.afpTCProgram)
            try layout.pin(datapath.fibProgram, at: layout.fibProgram)
            try layout.pin(datapath.flowCountProgram, at: layout.flowCountProgram)
        } catch {
            for path in layout.programs { try? layout.unpin(path) }
            throw error
        }
        return (datapath, true)
    }

    /// Removes every pin of the data plane (maps, programs). Links must be
    /// gone first; the caller checks.
    public static func unpinAll(_ layout: PinLayout) throws {
        // The record first: a purge cut short leaves state no xdpfwd trusts.
        for path in [layout.stateRecord] + layout.programs + DatapathMaps.names.map(layout.map) {
            try layout.unpin(path)
        }
        _ = rmdir(layout.directory)
    }
}
