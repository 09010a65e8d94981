import CXDP
import Glibc

/// The version record of pinned state and the check every command makes
/// before it uses (let alone changes) state another xdpfwd may have pinned.
///
/// State is this build's when its record (`PIN_DIR/xdpfwd_state`) carries
/// this build's `XDPFWD_STATE_VERSION` and layout fingerprint, and every
/// pinned map has the shape this build's object defines. State pinned before
/// xdpfwd kept a record is accepted only when it is verifiably what this
/// build would pin: every map's shape matches and every program's kernel tag
/// (a hash of its instructions) equals that of the same program loaded from
/// this build. Then the record is written and the state is adopted. Anything
/// else is refused with one line naming the mismatch and the fix: pinned
/// programs keep running the code that pinned them, so a newer control plane
/// over them (FastPath's IPv6 route queries through an IPv4-only
/// `xdpfwd_fib`, say) would misbehave silently.
public enum PinnedState {
    public static let fix = "run xdpfwd detach --all --purge, then attach and add the rules again"

    /// What this build pins.
    public struct Expected: Sendable {
        public let record: Record
        public let maps: [MapShape]
    }

    /// The contents of a version record.
    public struct Record: Equatable, Sendable, CustomStringConvertible {
        public let version: UInt32
        public let layout: UInt64

        public var description: String {
            let hex = String(layout, radix: 16)
            return "version \(version) (layout \(String(repeating: "0", count: 16 - hex.count) + hex))"
        }
    }

    private static let expectedResult: Result<Expected, XDPFwdError> = {
        do {
            // A pin root marks the pin-by-name maps; nothing is loaded or pinned.
            let object = try BPFObject.open(base64: EmbeddedBPFObject.base64, name: "xdpfwd", pinRoot: "/")
            let record = Record(version: UInt32(XDPFWD_STATE_VERSION), layout: try object.layoutHash())
            return .success(Expected(record: record, maps: object.pinnedMapShapes()))
        } catch let error as XDPFwdError {
            return .failure(error)
        } catch {
            return .failure(.state("cannot read the embedded BPF object: \(error)"))
        }
    }()

    public static func expected() throws -> Expected { try expectedResult.get() }

    /// The record pinned in `layout`, nil when there is none. A pin under
    /// the record's name that is not one is refused.
    public static func record(_ layout: PinLayout) throws -> Record? {
        guard let fd = try layout.open(layout.stateRecord) else { return nil }
        let shape = try MapShape.of(fd, name: "xdpfwd_state")
        guard shape.type == 2 /* BPF_MAP_TYPE_ARRAY */, shape.keySize == 4,
              shape.valueSize == UInt32(MemoryLayout<xdpfwd_state>.size), shape.maxEntries >= 1 else {
            throw XDPFwdError.state("\(layout.stateRecord) is not an xdpfwd version record (\(shape)): \(fix)")
        }
        var key: UInt32 = 0
        var value = xdpfwd_state()
        try check(cxdp_map_lookup(fd.raw, &key, &value), "bpf_map_lookup_elem", layout.stateRecord)
        guard value.magic == XDPFWD_STATE_MAGIC else {
            throw XDPFwdError.state("\(layout.stateRecord) is not an xdpfwd version record (magic 0x\(String(value.magic, radix: 16))): \(fix)")
        }
        return Record(version: value.version, layout: value.layout)
    }

    /// Pins this build's record (before anything else, on a fresh load).
    /// False when a record was pinned meanwhile by someone else.
    @discardableResult
    static func pinRecord(_ layout: PinLayout) throws -> Bool {
        let expected = try expected().record
        let fd = cxdp_array_map_create("xdpfwd_state", UInt32(MemoryLayout<xdpfwd_state>.size), 1)
        try check(fd, "bpf_map_create", "xdpfwd_state")
        let map = OwnedFD(fd)
        var key: UInt32 = 0
        var value = xdpfwd_state(magic: XDPFWD_STATE_MAGIC, version: expected.version, layout: expected.layout)
        try check(cxdp_map_update(map.raw, &key, &value, MapUpdate.any.rawValue), "bpf_map_update_elem", "xdpfwd_state")
        let pinned = cxdp_obj_pin(map.raw, layout.stateRecord)
        if pinned == -EEXIST { return false }
        try check(pinned, "bpf_obj_pin", layout.stateRecord)
        return true
    }

    /// Nothing of a data plane is pinned in `layout` (a fresh directory).
    static func isEmpty(_ layout: PinLayout) -> Bool {
        !([layout.stateRecord] + layout.programs + DatapathMaps.names.map(layout.map)).contains(where: layout.exists)
    }

    /// Throws the one-line refusal unless the state in `layout` is this
    /// build's (adopting verifiably identical unrecorded state). With
    /// `complete` false (no programs pinned yet: a fresh load will reuse
    /// what is there), missing maps are fine and unrecorded state is refused.
    public static func verify(_ layout: PinLayout, complete: Bool = true) throws {
        if let problem = try problem(layout, complete: complete) {
            throw XDPFwdError.state(problem)
        }
    }

    /// The state in `layout` is not this build's, or cannot be read as
    /// anyone's: purge must not trust its maps.
    public static func isForeign(_ layout: PinLayout) -> Bool {
        do { return try problem(layout) != nil } catch { return true }
    }

    /// Why the state in `layout` is not this build's, nil when it is.
    public static func problem(_ layout: PinLayout, complete: Bool = true) throws -> String? {
        let expected = try expected()
        let pinned = try record(layout)
        if let pinned, pinned != expected.record {
            return "the state pinned at \(layout.directory) is \(pinned), this xdpfwd uses \(expected.record): \(fix)"
        }
        for shape in expected.maps {
            guard let fd = try layout.open(layout.map(shape.name)) else {
                if complete { return "pinned map \(layout.map(shape.name)) is missing: state is damaged (\(fix))" }
                continue
            }
            if let difference = try MapShape.of(fd, name: shape.name).difference(from: shape) {
                return "pinned map \(layout.map(shape.name)) \(difference): \(fix)"
            }
        }
        if pinned != nil { return nil }
        let unrecorded = "the state pinned at \(layout.directory) has no version record"
        guard complete else { return "\(unrecorded) and no programs: \(fix)" }
        if let difference = try programDifference(layout) {
            return "\(unrecorded) and \(difference) (pinned by an older xdpfwd): \(fix)"
        }
        if try !pinRecord(layout) { return try problem(layout, complete: complete) }
        return nil
    }

    /// How the pinned programs differ from this build's, nil when every one
    /// (the tail-called IPv6 program included) has the same kernel tag.
    static func programDifference(_ layout: PinLayout) throws -> String? {
        let (fresh, _) = try Datapath.load()
        let programs = [
            (Datapath.xdpProgramName, layout.xdpProgram, fresh.xdpProgram),
            (Datapath.tcProgramName, layout.tcProgram, fresh.tcProgram),
            (Datapath.afpTCProgramName, layout.afpTCProgram, fresh.afpTCProgram),
            (Datapath.fibProgramName, layout.fibProgram, fresh.fibProgram),
            (Datapath.flowCountProgramName, layout.flowCountProgram, fresh.flowCountProgram),
        ]
        for (name, path, ours) in programs {
            guard let pinned = try layout.open(path) else { return "no pinned \(name) program" }
            if try tag(pinned, name) != tag(ours, name) { return "its \(name) program differs from this xdpfwd's" }
        }
        guard let pinnedArray = try layout.open(layout.map("xdpfwd_progs")) else { return "no pinned xdpfwd_progs" }
        let pinnedIPv6 = try BPFMap<UInt32, UInt32>(fd: pinnedArray, name: "xdpfwd_progs").lookup(UInt32(XDPFWD_PROG_IPV6))
        let oursIPv6 = try fresh.maps.programs.lookup(UInt32(XDPFWD_PROG_IPV6))
        guard let pinnedID = pinnedIPv6, let oursID = oursIPv6 else { return "no tail-called IPv6 program" }
        if try tag(programID: pinnedID) != tag(programID: oursID) { return "its xdpfwd_xdp6 program differs from this xdpfwd's" }
        return nil
    }

    private static func tag(_ program: OwnedFD, _ name: String) throws -> UInt64 {
        var tag: UInt64 = 0
        _ = try withUnsafeMutableBytes(of: &tag) { bytes in
            try check(cxdp_prog_tag(program.raw, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)), "bpf_obj_get_info_by_fd", "program \(name)")
        }
        return tag
    }

    private static func tag(programID: UInt32) throws -> UInt64 {
        let fd = cxdp_prog_fd_by_id(programID)
        try check(fd, "bpf_prog_get_fd_by_id", "program id \(programID)")
        return try tag(OwnedFD(fd), "id \(programID)")
    }
}
