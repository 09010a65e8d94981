import CXDP
import Glibc
import RuleModel
import TestSupport
import Testing
@testable import XDPLoader

/// The version record of pinned state: state another xdpfwd pinned is
/// refused by every command that opens it, before anything changes, and
/// `detach --all --purge` still removes it. Real pins on a bpffs mounted
/// for the test, real interfaces in a throwaway namespace.
@Suite("Pinned state versions", .serialized, .enabled(if: Capabilities.bpfAndNetns, Capabilities.reason))
final class PinnedStateTests {
    let bed: PinnedBed
    var namespace: NetworkNamespace { bed.namespace }
    var bpffs: String { bed.bpffs }
    var layout: PinLayout { bed.layout }
    private static let counter = DatapathFixture.Counter()

    init() throws {
        bed = try PinnedBed(namespacePrefix: "xfs", mountTag: "xfs-", id: "\(getpid())-\(Self.counter.next())")
    }

    func inside<T>(_ body: () throws -> T) throws -> T { try namespace.enter(body) }

    /// A pinned map opened without the version check.
    func rawMap<Key, Value>(_ name: String, _: Key.Type, _: Value.Type) throws -> BPFMap<Key, Value> {
        guard let fd = try layout.open(layout.map(name)) else { throw XDPFwdError.state("\(name) not pinned") }
        return try BPFMap(fd: fd, name: name)
    }

    /// Everything a refused command could have changed.
    struct Snapshot: Equatable {
        var xdp: [UInt32]
        var tc: [UInt32]
        var forwarding: [Bool]
        var ifaces: [UInt32]
        /// The rules map's entries, key and value bytes.
        var rules: [[UInt8]]
        var pins: [String]
        var record: PinnedState.Record?
    }

    func snapshot() throws -> Snapshot {
        let perInterface = try inside {
            try ["v0", "v1"].map { name -> (UInt32, UInt32, Bool) in
                var xdp: UInt32 = 0, mode: UInt8 = 0, tc: UInt32 = 0
                let index = Int32(if_nametoindex(name))
                try check(cxdp_xdp_query(index, &xdp, &mode), "bpf_xdp_query", name)
                try check(cxdp_tc_ingress_query(index, &tc), "bpf_tc_query", name)
                return (xdp, tc, try Interface.named(name).readForwarding())
            }
        }
        return Snapshot(
            xdp: perInterface.map(\.0), tc: perInterface.map(\.1), forwarding: perInterface.map(\.2),
            ifaces: try rawMap("xdpfwd_ifaces", UInt32.self, xdpfwd_iface.self).keys().sorted(),
            rules: try rawMap("xdpfwd_rules", xdpfwd_rule_key.self, xdpfwd_rule.self).entries().map { key, value in
                var key = key, value = value
                return withUnsafeBytes(of: &key) { Array($0) } + withUnsafeBytes(of: &value) { Array($0) }
            }.sorted { $0.lexicographicallyPrecedes($1) },
            pins: try pins(), record: try? PinnedState.record(layout))
    }

    func pins() throws -> [String] {
        guard let dir = opendir(layout.directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Replaces the pin at `path` with a fresh ARRAY map.
    func pinArray(at path: String, name: String, valueSize: Int, fill: [UInt8]? = nil) throws {
        try layout.unpin(path)
        let fd = OwnedFD(try check(cxdp_array_map_create(name, UInt32(valueSize), 1), "bpf_map_create", name))
        if var value = fill {
            var key: UInt32 = 0
            try check(cxdp_map_update(fd.raw, &key, &value, 0), "bpf_map_update_elem", name)
        }
        try layout.pin(fd, at: path)
    }

    /// A version record as another xdpfwd would have pinned it.
    func pinRecord(version: UInt32, layoutHash: UInt64) throws {
        var record = xdpfwd_state(magic: XDPFWD_STATE_MAGIC, version: version, layout: layoutHash)
        let bytes = withUnsafeBytes(of: &record) { Array($0) }
        try pinArray(at: layout.stateRecord, name: "xdpfwd_state", valueSize: bytes.count, fill: bytes)
    }

    /// Attaches v0 and adds a rule: the state every refusal must leave alone.
    func attachWithRule() throws {
        _ = try inside { try Attacher(layout: layout).attach(["v0"], mode: .native) }
        let rule = try ForwardingRule.parse(protocol: "udp", listen: "198.18.0.1:53", backend: "198.18.1.2:5300")
        _ = try RuleTable(maps: Datapath.openPinned(layout).maps).add(rule)
    }

    /// Every command that opens the state, each refused with `message`.
    func expectEveryCommandRefused(_ message: String) throws {
        let commands: [(String, () throws -> Void)] = [
            ("attach", { _ = try self.inside { try Attacher(layout: self.layout).attach(["v1"], mode: .native) } }),
            ("rule/flows/stats (openPinned)", { _ = try Datapath.openPinned(self.layout) }),
            ("sync", { _ = try self.inside { try Attacher(layout: self.layout).sync() } }),
            ("detach", { _ = try self.inside { try Attacher(layout: self.layout).detach(["v0"]) } }),
            ("detach --all", { _ = try self.inside { try Attacher(layout: self.layout).detachAll(purge: false) } }),
        ]
        for (name, command) in commands {
            do {
                try command()
                Issue.record("\(name) accepted state it should refuse")
            } catch let error as XDPFwdError {
                #expect(error.description == message, "\(name)")
            }
        }
    }

    @Test("attach records this build's version first; the record names every pinned map's layout")
    func attachWritesRecord() throws {
        _ = try inside { try Attacher(layout: layout).attach(["v0"], mode: .native) }

        let expected = try PinnedState.expected()
        #expect(try PinnedState.record(layout) == expected.record)
        #expect(expected.record.version == UInt32(XDPFWD_STATE_VERSION))
        #expect(expected.maps.map(\.name).sorted() == DatapathMaps.names.sorted())
        #expect(try pins().contains("xdpfwd_state"))
    }

    @Test("a record of another version is refused by attach, rule, sync and detach; nothing changes; purge removes it all")
    func otherVersionRefused() throws {
        try attachWithRule()
        let ours = try PinnedState.expected().record
        try pinRecord(version: ours.version + 1, layoutHash: 0x0123_4567_89ab_cdef)
        let before = try snapshot()
        #expect(before.xdp[0] != 0 && before.xdp[1] == 0)
        #expect(before.rules.count == 1)

        try expectEveryCommandRefused(
            "the state pinned at \(layout.directory) is version \(ours.version + 1) (layout 0123456789abcdef), "
                + "this xdpfwd uses \(ours): run xdpfwd detach --all --purge, then attach and add the rules again")

        #expect(try snapshot() == before)

        let detached = try inside { try Attacher(layout: layout).detachAll(purge: true) }

        #expect(detached == ["v0"])
        let after = try inside { (try Interface.named("v0").readForwarding(), if_nametoindex("v0")) }
        #expect(after.0 == false, "forwarding restored from the record")
        var xdp: UInt32 = 0, mode: UInt8 = 0, tc: UInt32 = 0
        try inside {
            try check(cxdp_xdp_query(Int32(after.1), &xdp, &mode), "bpf_xdp_query", "v0")
            try check(cxdp_tc_ingress_query(Int32(after.1), &tc), "bpf_tc_query", "v0")
        }
        #expect(xdp == 0 && tc == 0)
        #expect(!layout.exists(layout.directory), "every pin and the directory are gone")
    }

    @Test("a pinned map with another value size under the expected name is refused, naming the map")
    func wrongValueSizeRefused() throws {
        try attachWithRule()
        // xdpfwd_config is an ARRAY of one 24-byte value; this one's values are 32 bytes.
        try pinArray(at: layout.map("xdpfwd_config"), name: "xdpfwd_config", valueSize: 32)
        let before = try snapshot()

        try expectEveryCommandRefused(
            "pinned map \(layout.map("xdpfwd_config")) has key/value size 4/32, this xdpfwd expects 4/24: "
                + "run xdpfwd detach --all --purge, then attach and add the rules again")

        #expect(try snapshot() == before)
        #expect(try inside { try Attacher(layout: layout).detachAll(purge: true) } == ["v0"])
        #expect(!layout.exists(layout.directory))
    }

    @Test("state without a record whose programs and maps are this build's is adopted: the record is written")
    func identicalUnrecordedStateAdopted() throws {
        try attachWithRule()
        try layout.unpin(layout.stateRecord)
        #expect(try PinnedState.record(layout) == nil)

        let rules = try RuleTable(maps: Datapath.openPinned(layout).maps).list()

        #expect(rules.map(\.rule.description) == ["udp 198.18.0.1:53 -> 198.18.1.2:5300 snat auto"])
        #expect(try PinnedState.record(layout) == PinnedState.expected().record)
    }

    @Test("state without a record whose xdpfwd_fib is another program is refused and not adopted")
    func unrecordedOtherProgramRefused() throws {
        try attachWithRule()
        try layout.unpin(layout.stateRecord)
        // What an older xdpfwd's FIB program looks like to this one: other instructions.
        let (other, pass) = try Datapath.load()
        try layout.unpin(layout.fibProgram)
        try layout.pin(pass, at: layout.fibProgram)
        withExtendedLifetime(other) {}
        let before = try snapshot()
        #expect(before.record == nil)

        try expectEveryCommandRefused(
            "the state pinned at \(layout.directory) has no version record and its xdpfwd_fib program differs "
                + "from this xdpfwd's (pinned by an older xdpfwd): run xdpfwd detach --all --purge, then attach and add the rules again")

        #expect(try snapshot() == before)
        #expect(try inside { try Attacher(layout: layout).detachAll(purge: true) } == ["v0"])
        #expect(!layout.exists(layout.directory))
    }

    @Test("leftover maps without a record and without programs are not reused by a fresh attach")
    func unrecordedLeftoverMapsRefused() throws {
        try attachWithRule()
        _ = try inside { try Attacher(layout: layout).detach(["v0"]) }
        for path in [layout.stateRecord] + layout.programs { try layout.unpin(path) }
        let before = try snapshot()

        do {
            _ = try inside { try Attacher(layout: layout).attach(["v0"], mode: .native) }
            Issue.record("attach reused unrecorded maps")
        } catch let error as XDPFwdError {
            #expect(error.description == "the state pinned at \(layout.directory) has no version record and no programs: "
                + "run xdpfwd detach --all --purge, then attach and add the rules again")
        }
        #expect(try snapshot() == before)
        #expect(try inside { try Attacher(layout: layout).detachAll(purge: true) } == [])
        #expect(!layout.exists(layout.directory))
    }
}

@Suite("Pinned state records (no root)")
struct PinnedStateRecordTests {
    /// The fingerprint of each XDPFWD_STATE_VERSION. When this fails, a
    /// pinned map's layout changed: bump XDPFWD_STATE_VERSION in
    /// xdpfwd_kern_user.h and add the new version's fingerprint here.
    static let fingerprints: [UInt32: UInt64] = [1: 0xa573_4d52_e265_7987]

    @Test("this build's layout fingerprint is the one recorded for its version")
    func fingerprintMatchesVersion() throws {
        let record = try PinnedState.expected().record
        #expect(record.version == UInt32(XDPFWD_STATE_VERSION))
        #expect(Self.fingerprints[record.version] == record.layout,
                "layout \(record): bump XDPFWD_STATE_VERSION if a pinned layout changed")
    }

    @Test("purge reads attach records of every layout: 24-byte ones have no IPv6 forwarding byte")
    func attachRecordLayouts() {
        var old = [UInt8](repeating: 0, count: 24)
        old[8] = UInt8(XDPFWD_MODE_AFPACKET.rawValue); old[9] = 1; old[10] = 1; old[11] = 0
        #expect(AttachRecord(ifindex: 7, value: old)
            == AttachRecord(ifindex: 7, mode: UInt8(XDPFWD_MODE_AFPACKET.rawValue), prevForwarding: 1, createdClsact: 1, prevForwarding6: nil))
        #expect(AttachRecord(ifindex: 7, value: old).isAFPacket)

        var current = [UInt8](repeating: 0, count: MemoryLayout<xdpfwd_iface>.size)
        current[8] = UInt8(XDPFWD_MODE_NATIVE.rawValue); current[9] = 0; current[10] = 0; current[11] = 0
        let record = AttachRecord(ifindex: 9, value: current)
        #expect(record.prevForwarding6 == false && record.prevForwarding == false && !record.createdClsact && !record.isAFPacket)
        current[11] = 2
        #expect(AttachRecord(ifindex: 9, value: current).prevForwarding6 == nil, "2: the interface had no IPv6")
        current[11] = 1
        #expect(AttachRecord(ifindex: 9, value: current).prevForwarding6 == true)

        var iface = xdpfwd_iface()
        iface.mode = UInt8(XDPFWD_MODE_GENERIC.rawValue); iface.prev_forwarding = 1; iface.created_clsact = 1; iface.prev_forwarding6 = 0
        #expect(AttachRecord(iface) == AttachRecord(ifindex: 0, value: withUnsafeBytes(of: &iface) { Array($0) }))
    }
}
