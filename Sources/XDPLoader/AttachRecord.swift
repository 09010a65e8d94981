import CXDP
import Glibc

/// What undoing an attach needs from an interface's `xdpfwd_iface` record.
/// Every xdpfwd version wrote these fields at the same offsets (the shared
/// header asserts they never move), so `detach --all --purge` can undo the
/// attaches of state pinned by any version, whatever else its layout is.
public struct AttachRecord: Sendable, Equatable {
    public let ifindex: UInt32
    public let mode: UInt8
    public let prevForwarding: Bool
    /// nil: the interface had no IPv6, or the record predates IPv6
    /// forwarding (a 24-byte record), so there is nothing to restore.
    public let prevForwarding6: Bool?
    public let createdClsact: Bool

    public init(_ record: xdpfwd_iface) {
        self.init(ifindex: record.ifindex, mode: record.mode, prevForwarding: record.prev_forwarding,
                  createdClsact: record.created_clsact, prevForwarding6: record.prev_forwarding6)
    }

    init(ifindex: UInt32, mode: UInt8, prevForwarding: UInt8, createdClsact: UInt8, prevForwarding6: UInt8?) {
        self.ifindex = ifindex
        self.mode = mode
        self.prevForwarding = prevForwarding != 0
        self.createdClsact = createdClsact != 0
        self.prevForwarding6 = prevForwarding6.flatMap { $0 == 2 ? nil : $0 != 0 }
    }

    public var isAFPacket: Bool { UInt32(mode) == XDPFWD_MODE_AFPACKET.rawValue }

    /// The first record layout (no IPv6) was 24 bytes; the IPv6 forwarding
    /// byte is meaningful from the 40-byte one on.
    static let minimumValueSize = 24
    static let valueSizeWithIPv6 = 40

    /// Every record of the pinned ifaces map, read by those fixed offsets.
    public static func readPinned(_ layout: PinLayout) throws -> [AttachRecord] {
        let path = layout.map("xdpfwd_ifaces")
        guard let fd = try layout.open(path) else { return [] }
        let shape = try MapShape.of(fd, name: "xdpfwd_ifaces")
        guard shape.keySize == 4, shape.valueSize >= minimumValueSize else {
            throw XDPFwdError.state("\(path) (\(shape)) is not an interface table of any xdpfwd: detach its interfaces by hand")
        }
        var records: [AttachRecord] = []
        var value = [UInt8](repeating: 0, count: Int(shape.valueSize))
        var key: UInt32 = 0, next: UInt32 = 0
        var first = true
        while records.count <= Int(shape.maxEntries) {
            let result = first ? cxdp_map_next_key(fd.raw, nil, &next) : cxdp_map_next_key(fd.raw, &key, &next)
            if result == -ENOENT { break }
            try check(result, "bpf_map_get_next_key", path)
            first = false
            key = next
            let found = cxdp_map_lookup(fd.raw, &key, &value)
            if found == -ENOENT { continue }
            try check(found, "bpf_map_lookup_elem", path)
            records.append(AttachRecord(ifindex: key, value: value))
        }
        return records
    }

    /// A record from the bytes of any version's value (at least 24).
    init(ifindex: UInt32, value: [UInt8]) {
        precondition(value.count >= Self.minimumValueSize, "an xdpfwd_iface value is at least 24 bytes")
        self.init(ifindex: ifindex, mode: value[8], prevForwarding: value[9], createdClsact: value[10],
                  prevForwarding6: value.count >= Self.valueSizeWithIPv6 ? value[11] : nil)
    }
}
