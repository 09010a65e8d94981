import CXDP
import Glibc
import Testing

/// cxdp_vlan_links_parse over RTM_NEWLINK dumps built byte for byte the way
/// the kernel's vlan_fill_info lays them out. This kernel has no 802.1Q
/// (no `ip link add ... type vlan`), so these fixtures are what exercises
/// the discovery of real VLAN uppers; hostile messages must be skipped or
/// refused, never read past.
@Suite("rtnetlink VLAN dump parsing")
struct VLANLinkParseTests {
    @Test("VLAN devices found with lower, id, TPID and priority-0 PCP; other kinds skipped")
    func vlansFound() throws {
        var dump = NetlinkDump()
        dump.link(ifindex: 2, name: "eth0", kind: "veth")
        dump.link(ifindex: 10, name: "eth0.100", lower: 2, kind: "vlan",
                  vlan: .init(id: 100, tpid: 0x8100, qos: [(1, 6), (0, 5)]))
        dump.link(ifindex: 11, name: "eth0.300", lower: 2, kind: "vlan", vlan: .init(id: 300, tpid: 0x88A8))
        dump.link(ifindex: 12, name: "mv0", lower: 2, kind: "macvlan")
        dump.done()

        let (links, rc) = parse(dump.bytes, capacity: 8)

        #expect(rc == 1)
        #expect(links.map(\.ifindex) == [10, 11])
        #expect(links[0].lower_ifindex == 2)
        #expect(links[0].vlan_id == 100)
        #expect(UInt16(bigEndian: links[0].proto_be) == 0x8100)
        #expect(links[0].pcp == 5)
        #expect(links[1].vlan_id == 300)
        #expect(UInt16(bigEndian: links[1].proto_be) == 0x88A8)
        #expect(links[1].pcp == 0)
    }

    @Test("a dump split over recv() calls: 0 until NLMSG_DONE, results appended")
    func splitDump() {
        var first = NetlinkDump()
        first.link(ifindex: 10, name: "a.1", lower: 2, kind: "vlan", vlan: .init(id: 1, tpid: 0x8100))
        var second = NetlinkDump()
        second.link(ifindex: 11, name: "a.2", lower: 2, kind: "vlan", vlan: .init(id: 2, tpid: 0x8100))
        second.done()

        var out = [cxdp_vlan_link](repeating: cxdp_vlan_link(), count: 4)
        var count: Int32 = 0
        let rc1 = first.bytes.withUnsafeBytes { cxdp_vlan_links_parse($0.baseAddress, Int32($0.count), &out, 4, &count) }
        let rc2 = second.bytes.withUnsafeBytes { cxdp_vlan_links_parse($0.baseAddress, Int32($0.count), &out, 4, &count) }

        #expect(rc1 == 0)
        #expect(rc2 == 1)
        #expect(count == 2)
        #expect(out[0].vlan_id == 1 && out[1].vlan_id == 2)
    }

    @Test("more VLANs than capacity is -ENOSPC, not an overflow")
    func capacity() {
        var dump = NetlinkDump()
        for i in 0..<3 {
            dump.link(ifindex: UInt32(10 + i), name: "v\(i)", lower: 2, kind: "vlan", vlan: .init(id: UInt16(i + 1), tpid: 0x8100))
        }
        dump.done()

        let (links, rc) = parse(dump.bytes, capacity: 2)

        #expect(rc == -ENOSPC)
        #expect(links.count == 2)
    }

    @Test("NLMSG_ERROR carries the kernel's errno")
    func kernelError() {
        var dump = NetlinkDump()
        dump.error(-EPERM)

        #expect(parse(dump.bytes, capacity: 2).rc == -EPERM)
    }

    @Test("hostile messages: truncated or missing attributes are skipped, lengths never trusted past the buffer",
          arguments: HostileCase.allCases)
    func hostile(_ hostile: HostileCase) {
        var dump = NetlinkDump()
        switch hostile {
        case .kindWithoutNul:
            dump.link(ifindex: 10, name: "x", lower: 2, kindBytes: Array("vlan".utf8), vlan: .init(id: 7, tpid: 0x8100))
        case .vlanWithoutID:
            dump.link(ifindex: 10, name: "x", lower: 2, kind: "vlan", vlan: .init(id: nil, tpid: 0x8100))
        case .shortID:
            dump.link(ifindex: 10, name: "x", lower: 2, kind: "vlan", vlan: .init(id: 7, tpid: 0x8100, idBytes: [7]))
        case .idOutOfRange:
            dump.link(ifindex: 10, name: "x", lower: 2, kind: "vlan", vlan: .init(id: 4095, tpid: 0x8100))
        case .attributeLongerThanMessage:
            dump.link(ifindex: 10, name: "x", lower: 2, kind: "vlan", vlan: .init(id: 7, tpid: 0x8100))
            dump.corruptLastAttributeLength(to: 0x7FF0)
        case .messageShorterThanHeader:
            dump.raw(type: 16, payload: [0, 0, 0, 0])
        case .messageLongerThanBuffer:
            dump.link(ifindex: 10, name: "x", lower: 2, kind: "vlan", vlan: .init(id: 7, tpid: 0x8100))
            dump.bytes.removeLast(8) // what a recv() into a too-small buffer leaves
        }
        if hostile != .messageLongerThanBuffer { dump.done() }

        let (links, rc) = parse(dump.bytes, capacity: 4)

        #expect(links.isEmpty)
        // A message cut short is not parsed, and the dump is not over.
        #expect(rc == (hostile == .messageLongerThanBuffer ? 0 : 1))
    }

    enum HostileCase: CaseIterable, Sendable {
        case kindWithoutNul, vlanWithoutID, shortID, idOutOfRange, attributeLongerThanMessage
        case messageShorterThanHeader, messageLongerThanBuffer
    }

    private func parse(_ bytes: [UInt8], capacity: Int) -> (links: [cxdp_vlan_link], rc: Int32) {
        var out = [cxdp_vlan_link](repeating: cxdp_vlan_link(), count: capacity)
        var count: Int32 = 0
        let rc = bytes.withUnsafeBytes { cxdp_vlan_links_parse($0.baseAddress, Int32($0.count), &out, Int32(capacity), &count) }
        return (Array(out.prefix(Int(count))), rc)
    }
}

/// RTM_NEWLINK messages in host byte order with 4-byte attribute alignment,
/// as rtnetlink sends them.
private struct NetlinkDump {
    struct VLAN {
        var id: UInt16?
        var tpid: UInt16
        var qos: [(from: UInt32, to: UInt32)] = []
        var idBytes: [UInt8]? = nil
    }

    var bytes: [UInt8] = []
    private var lastAttributeOffset = 0

    // Constants from linux/rtnetlink.h and linux/if_link.h.
    private static let rtmNewLink: UInt16 = 16, nlmsgDone: UInt16 = 3, nlmsgError: UInt16 = 2
    private static let iflaIfname: UInt16 = 3, iflaLink: UInt16 = 5, iflaLinkinfo: UInt16 = 18
    private static let infoKind: UInt16 = 1, infoData: UInt16 = 2
    private static let vlanID: UInt16 = 1, vlanFlags: UInt16 = 2, vlanEgressQos: UInt16 = 3, vlanProtocol: UInt16 = 5
    private static let qosMapping: UInt16 = 1

    mutating func link(ifindex: UInt32, name: String, lower: UInt32? = nil, kind: String, vlan: VLAN? = nil) {
        link(ifindex: ifindex, name: name, lower: lower, kindBytes: Array(kind.utf8) + [0], vlan: vlan)
    }

    mutating func link(ifindex: UInt32, name: String, lower: UInt32?, kindBytes: [UInt8], vlan: VLAN?) {
        var ifinfo: [UInt8] = [0, 0] + le16(1) + le32(ifindex) + le32(0) + le32(0) // family, pad, type ARPHRD_ETHER, index, flags, change
        ifinfo += attribute(Self.iflaIfname, Array(name.utf8) + [0])
        if let lower { ifinfo += attribute(Self.iflaLink, le32(lower)) }
        var info = attribute(Self.infoKind, kindBytes)
        if let vlan {
            var data = attribute(Self.vlanProtocol, [UInt8(vlan.tpid >> 8), UInt8(vlan.tpid & 0xFF)])
            if let idBytes = vlan.idBytes {
                data += attribute(Self.vlanID, idBytes)
            } else if let id = vlan.id {
                data += attribute(Self.vlanID, le16(id))
            }
            data += attribute(Self.vlanFlags, le32(1) + le32(0xFFFF_FFFF)) // REORDER_HDR, mask
            if !vlan.qos.isEmpty {
                data += attribute(Self.vlanEgressQos, vlan.qos.flatMap { attribute(Self.qosMapping, le32($0.from) + le32($0.to)) })
            }
            info += attribute(Self.infoData, data)
        }
        lastAttributeOffset = bytes.count + 16 + ifinfo.count
        ifinfo += attribute(Self.iflaLinkinfo, info)
        message(type: Self.rtmNewLink, payload: ifinfo)
    }

    mutating func raw(type: UInt16, payload: [UInt8]) { message(type: type, payload: payload) }

    mutating func done() { message(type: Self.nlmsgDone, payload: le32(0)) }

    mutating func error(_ errno: Int32) {
        message(type: Self.nlmsgError, payload: le32(UInt32(bitPattern: errno)) + [UInt8](repeating: 0, count: 16))
    }

    /// Makes the last RTM_NEWLINK's IFLA_LINKINFO claim more bytes than its message has.
    mutating func corruptLastAttributeLength(to length: UInt16) {
        bytes[lastAttributeOffset] = UInt8(length & 0xFF)
        bytes[lastAttributeOffset + 1] = UInt8(length >> 8)
    }

    private mutating func message(type: UInt16, payload: [UInt8]) {
        let length = UInt32(16 + payload.count)
        bytes += le32(length) + le16(type) + le16(0x2) + le32(1) + le32(0) // len, type, NLM_F_MULTI, seq, pid
        bytes += payload
        bytes += [UInt8](repeating: 0, count: Self.pad(payload.count))
    }

    private func attribute(_ type: UInt16, _ payload: [UInt8]) -> [UInt8] {
        le16(UInt16(4 + payload.count)) + le16(type) + payload + [UInt8](repeating: 0, count: Self.pad(payload.count))
    }

    private static func pad(_ n: Int) -> Int { (4 - n % 4) % 4 }
    private func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
    private func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xFF) } }
}
