import CXDP
import RuleModel

/// The Maglev tables of multi-backend rules in `xdpfwd_maglev`, an
/// ARRAY_OF_MAPS indexed by rule id. A table is never edited in place: a
/// change builds a fresh inner map aside (slots, then the backend list),
/// and one update of the outer map swaps it in. The data plane sees the
/// old table or the new one, never a mix; the kernel frees the old one when
/// the last program run using it has finished.
public struct MaglevMaps {
    public let maps: DatapathMaps

    public init(maps: DatapathMaps) { self.maps = maps }

    /// Builds the rule's table in a fresh inner map and swaps it in at `id`.
    public func install(_ rule: ForwardingRule, id: UInt32) throws {
        let table = rule.maglevTable(size: Int(XDPFWD_MAGLEV_SIZE))
        let fd = try check(cxdp_array_map_create("xfwd_mg_\(id)", UInt32(MemoryLayout<xdpfwd_backend>.size),
                                                 UInt32(XDPFWD_MAGLEV_ENTRIES)),
                           "bpf_map_create(BPF_MAP_TYPE_ARRAY)", "Maglev table of rule \(id)")
        let inner = try BPFMap<UInt32, xdpfwd_backend>(fd: OwnedFD(fd), name: "Maglev table of rule \(id)")
        let entries = rule.backends.map(Self.entry)
        for (slot, index) in table.slots.enumerated() {
            try inner.update(UInt32(slot), entries[Int(index)])
        }
        for (index, entry) in entries.enumerated() {
            try inner.update(UInt32(XDPFWD_MAGLEV_SIZE) + UInt32(index), entry)
        }
        // The swap: one pointer in the outer map.
        try maps.maglev.update(id, UInt32(bitPattern: fd))
    }

    /// Removes rule `id`'s table (after its rule entries are gone).
    public func remove(id: UInt32) throws {
        try maps.maglev.delete(id)
    }

    /// The backend list rule `id`'s table was built from; nil if it has none.
    public func backends(id: UInt32, family: IPAddress.Family) throws -> [Backend]? {
        guard let tableID = try maps.maglev.lookup(id) else { return nil }
        let fd = try check(cxdp_map_fd_by_id(tableID), "bpf_map_get_fd_by_id", "Maglev table of rule \(id)")
        let inner = try BPFMap<UInt32, xdpfwd_backend>(fd: OwnedFD(fd), name: "Maglev table of rule \(id)")
        var backends: [Backend] = []
        for index in 0..<UInt32(XDPFWD_MAGLEV_MAX_BACKENDS) {
            guard let entry = try inner.lookup(UInt32(XDPFWD_MAGLEV_SIZE) + index), entry.port != 0 else { break }
            backends.append(Backend(Endpoint(address: Self.address(entry, like: family), port: UInt16(bigEndian: entry.port)),
                                    weight: UInt32(entry.weight)))
        }
        return backends
    }

    /// The table's slots (backend index per slot), for tests.
    public func slots(id: UInt32) throws -> [xdpfwd_backend] {
        guard let tableID = try maps.maglev.lookup(id) else { return [] }
        let fd = try check(cxdp_map_fd_by_id(tableID), "bpf_map_get_fd_by_id", "Maglev table of rule \(id)")
        let inner = try BPFMap<UInt32, xdpfwd_backend>(fd: OwnedFD(fd), name: "Maglev table of rule \(id)")
        return try (0..<UInt32(XDPFWD_MAGLEV_SIZE)).map { try inner.lookup($0) ?? xdpfwd_backend() }
    }

    /// A slot's address in the rule's family.
    public static func address(_ entry: xdpfwd_backend, like family: IPAddress.Family) -> IPAddress {
        switch family {
        case .ipv4: .v4(IPv4Address(networkOrder: entry.addr.0))
        case .ipv6: .v6(IPv6Address(networkOrderWords: entry.addr))
        }
    }

    static func entry(_ backend: Backend) -> xdpfwd_backend {
        var raw = xdpfwd_backend()
        switch backend.endpoint.address {
        case .v4(let address): raw.addr.0 = address.networkOrder
        case .v6(let address): raw.addr = address.networkOrderWords
        }
        raw.port = backend.endpoint.port.bigEndian
        raw.weight = UInt16(backend.weight)
        return raw
    }
}
