import CXDP
import Glibc
import RuleModel
import TestSupport
import Testing
@testable import XDPLoader

/// attach/detach and pinning against real interfaces (veth, bridge) in a
/// throwaway namespace, with a bpffs mounted just for the test.
@Suite("Attach, detach, pinning and rollback", .serialized,
       .enabled(if: Capabilities.bpfAndNetns, Capabilities.reason))
final class AttachTests {
    /// v0 - v1 and a bridge d0.
    let bed: PinnedBed
    var namespace: NetworkNamespace { bed.namespace }
    var bpffs: String { bed.bpffs }
    var layout: PinLayout { bed.layout }
    private static let counter = DatapathFixture.Counter()

    init() throws {
        bed = try PinnedBed(namespacePrefix: "xfa", mountTag: "", id: "\(getpid())-\(Self.counter.next())",
                            extraLinks: [("d0", "bridge")])
    }

    func inside<T>(_ body: () throws -> T) throws -> T { try namespace.enter(body) }

    func xdpProgram(_ name: String) throws -> UInt32 {
        try inside {
            var id: UInt32 = 0, mode: UInt8 = 0
            try check(cxdp_xdp_query(Int32(if_nametoindex(name)), &id, &mode), "bpf_xdp_query", name)
            return id
        }
    }

    func tcProgram(_ name: String) throws -> UInt32 {
        try inside {
            var id: UInt32 = 0
            try check(cxdp_tc_ingress_query(Int32(if_nametoindex(name)), &id), "bpf_tc_query", name)
            return id
        }
    }

    func forwarding(_ name: String) throws -> Bool {
        try inside { try Interface.named(name).readForwarding() }
    }

    @Test("attach pins programs, maps and links; detach undoes every step")
    func attachDetach() throws {
        #expect(try forwarding("v0") == false)
        let attached = try inside { try Attacher(layout: layout).attach(["v0", "v1"], mode: .native) }

        #expect(attached.map(\.mode) == ["native", "native"])
        #expect(attached[0].ipv4NetworkOrder == IPv4Address("198.18.0.1")!.networkOrder)
        #expect(attached.allSatisfy { $0.enabledForwarding })
        #expect(try xdpProgram("v0") != 0 && xdpProgram("v0") == xdpProgram("v1"))
        #expect(try tcProgram("v0") != 0)
        #expect(try forwarding("v0") && forwarding("v1"))
        for name in DatapathMaps.names { #expect(layout.exists(layout.map(name)), "\(name) pinned") }
        let v0 = try inside { try Interface.named("v0") }
        #expect(layout.exists(layout.xdpLink(ifindex: v0.ifindex)))

        let detached = try inside { try Attacher(layout: layout).detach(["v0"]) }

        #expect(detached == ["v0"])
        #expect(try xdpProgram("v0") == 0)
        #expect(try tcProgram("v0") == 0)
        #expect(try forwarding("v0") == false)
        #expect(!layout.exists(layout.xdpLink(ifindex: v0.ifindex)))
        #expect(try xdpProgram("v1") != 0, "the other interface stays attached")
        let datapath = try Datapath.openPinned(layout)
        #expect(try datapath.maps.ifaces.keys().count == 1)
    }

    @Test("state outlives the process that made it: a second opener sees the same maps")
    func pinnedStateIsShared() throws {
        _ = try inside { try Attacher(layout: layout).attach(["v0"], mode: .auto) }
        let writer = try Datapath.openPinned(layout)
        try RuleTable(maps: writer.maps).add(ForwardingRule.parse(protocol: "udp", listen: "198.18.0.1:53", backend: "198.18.1.2:5300"))

        let reader = try Datapath.openPinned(layout)
        let rules = try RuleTable(maps: reader.maps).list()

        #expect(rules.map(\.rule.description) == ["udp 198.18.0.1:53 -> 198.18.1.2:5300 snat auto"])
        // A second attach reuses the pinned program and maps.
        _ = try inside { try Attacher(layout: layout).attach(["v1"], mode: .auto) }
        #expect(try xdpProgram("v0") == xdpProgram("v1"))
        #expect(try RuleTable(maps: Datapath.openPinned(layout).maps).list().count == 1)
    }

    @Test("attaching twice, unknown and duplicate interfaces fail before changing anything")
    func refusals() throws {
        _ = try inside { try Attacher(layout: layout).attach(["v0"], mode: .native) }

        #expect(throws: XDPFwdError.self) { try self.inside { try Attacher(layout: self.layout).attach(["v0"], mode: .native) } }
        do {
            _ = try inside { try Attacher(layout: layout).attach(["v1", "nope0"], mode: .native) }
            Issue.record("unknown interface accepted")
        } catch let error as XDPFwdError {
            #expect(error.description == "unknown interface \"nope0\"")
            #expect(error.isUsageError)
        }
        do {
            _ = try inside { try Attacher(layout: layout).attach(["v1", "v1"], mode: .native) }
            Issue.record("duplicate interface accepted")
        } catch let error as XDPFwdError {
            #expect(error.description == "interface \"v1\" is named twice")
        }
        #expect(try xdpProgram("v1") == 0)
        do {
            _ = try inside { try Attacher(layout: layout).attach(["v0"], mode: .native) }
        } catch let error as XDPFwdError {
            #expect(error.description == "v0 is already attached to xdpfwd (xdpfwd detach v0 first)")
        }
    }

    @Test("a failure on the second interface rolls back the first, and a fresh pin dir disappears")
    func rollback() throws {
        // a bridge has no native XDP: the second link fails after v0 is done.
        #expect(throws: XDPFwdError.self) {
            try self.inside { try Attacher(layout: self.layout).attach(["v0", "d0"], mode: .native) }
        }
        #expect(try xdpProgram("v0") == 0)
        #expect(try tcProgram("v0") == 0)
        #expect(try forwarding("v0") == false)
        #expect(!layout.exists(layout.xdpProgram))
        #expect(!layout.exists(layout.map("xdpfwd_rules")))
    }

    @Test("auto mode falls back to generic XDP where native is unsupported")
    func autoFallsBack() throws {
        let attached = try inside { try Attacher(layout: layout).attach(["d0"], mode: .auto) }
        #expect(attached.first?.mode == "generic")
        #expect(attached.first?.note?.contains("native XDP refused") == true)
        #expect(try xdpProgram("d0") != 0)
    }

    @Test("sync re-reads readdressed interfaces and vanished ones, programs untouched; a second sync finds nothing")
    func syncReadsAddressesAgain() throws {
        _ = try inside { try Attacher(layout: layout).attach(["v0"], mode: .native) }
        _ = try inside { try Attacher(layout: layout).attach(["d0"], mode: .generic) }
        let program = try xdpProgram("v0")
        let d0 = try inside { try Interface.named("d0").ifindex }
        try namespace.ip(["addr", "del", "198.18.0.1/24", "dev", "v0"])
        try namespace.ip(["addr", "add", "198.18.0.7/24", "dev", "v0"])
        try namespace.ip(["-6", "addr", "add", "2001:2::7/64", "dev", "v0", "nodad"])
        try namespace.ip(["link", "del", "d0"])

        let report = try inside { try Attacher(layout: layout).sync() }

        #expect(report.addressChanges == [
            .init(interface: "v0", family: "ipv4", old: IPAddress("198.18.0.1"), new: IPAddress("198.18.0.7")),
            .init(interface: "v0", family: "ipv6", old: nil, new: IPAddress("2001:2::7")),
        ])
        #expect(report.vanished == [d0])
        #expect(report.localAddressesBefore.contains(IPAddress("198.18.0.1")!))
        #expect(report.localAddressesAfter == [IPAddress("198.18.0.7")!, IPAddress("2001:2::7")!])
        let record = try inside {
            try Datapath.openPinned(layout).maps.ifaces.lookup(try Interface.named("v0").ifindex)
        }
        #expect(record?.ipv4_addr == IPv4Address("198.18.0.7")!.networkOrder)
        #expect(record.map { IPv6Address(networkOrderWords: $0.ipv6_addr) } == IPv6Address("2001:2::7"))
        #expect(try xdpProgram("v0") == program, "the program stays attached")

        let again = try inside { try Attacher(layout: layout).sync() }

        #expect(!again.changedAnything)
        #expect(again.addressChanges.isEmpty)
    }

    @Test("a pin dir outside bpffs is refused with the fix in the message")
    func requiresBPFFS() throws {
        let layout = try PinLayout(directory: "/tmp/xdpfwd-not-bpffs-\(getpid())/state")
        do {
            _ = try Datapath.openPinned(layout)
            Issue.record("non-bpffs pin dir accepted")
        } catch let error as XDPFwdError {
            #expect(error.description == "/tmp is not a bpffs mount: mount it first (mount -t bpf bpf /sys/fs/bpf) or choose --pin-dir on bpffs")
        }
    }

    @Test("rule commands without an attached data plane name the fix")
    func notAttached() throws {
        do {
            _ = try Datapath.openPinned(layout)
            Issue.record("opened a data plane that was never attached")
        } catch let error as XDPFwdError {
            #expect(error.description == "no xdpfwd data plane at \(layout.directory): attach an interface first (xdpfwd attach IFACE)")
        }
    }
}
