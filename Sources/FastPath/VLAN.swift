import CXDP

/// bpf/vlan.h in Swift: 802.1Q / 802.1ad (QinQ) tags. Ingress: skip at most
/// two tags behind the Ethernet header (parse_vlan_tags). Egress: rebuild
/// the L2 header with the next hop's MACs and tags, moving the frame's head
/// when the tag count changes (vlan_write_l2, vlan_pop_all). The head moves
/// like bpf_xdp_adjust_head: nothing behind the L2 header is copied; a push
/// grows the frame into the headroom in front of it, a pop shrinks it.
///
/// AF_PACKET adds one step the XDP program does not need: the kernel takes
/// a received frame's outer tag off into skb metadata before packet taps
/// run, so the RX ring shows it in tpacket3_hdr (`restoreRXTag` puts it
/// back, so the packet function sees the frame as the wire had it).
enum VLAN {
    static let tagLength = 4
    static let dot1QRaw = UInt16(0x8100).bigEndian
    static let dot1ADRaw = UInt16(0x88A8).bigEndian

    /// What parse_vlan_tags found: how many tags, and the type behind them
    /// (raw, network order; still a TPID when a third tag follows).
    struct Tags {
        let count: UInt8
        let etherType: UInt16
        /// Offset of the L3 header.
        var l3: Int { Wire.ethHeader + Int(count) * VLAN.tagLength }
    }

    /// parse_vlan_tags on a frame of at least an Ethernet header: an outer
    /// 802.1Q or 802.1ad tag and an inner 802.1Q tag are skipped; nil when
    /// a tag is cut short.
    @inline(__always)
    static func parse(_ frame: Frame) -> Tags? {
        let outer = frame.raw16(12)
        guard outer == dot1QRaw || outer == dot1ADRaw else { return Tags(count: 0, etherType: outer) }
        guard frame.length >= Wire.ethHeader + tagLength else { return nil }
        let next = frame.raw16(16)
        guard next == dot1QRaw else { return Tags(count: 1, etherType: next) }
        guard frame.length >= Wire.ethHeader + 2 * tagLength else { return nil }
        return Tags(count: 2, etherType: frame.raw16(20))
    }

    /// A next hop's L2 header (struct vlan_l2): where IPv4 and IPv6 flow
    /// entries keep it.
    struct L2 {
        let dmac: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)
        let smac: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)
        /// Outer, inner TCI (network order).
        let tci: (UInt16, UInt16)
        /// XDPFWD_VLAN_* bits.
        let vlan: UInt8

        @inline(__always)
        init(_ flow: xdpfwd_flow) {
            dmac = flow.nh_dmac
            smac = flow.nh_smac
            tci = flow.nh_vlan_tci
            vlan = flow.nh_vlan
        }
    }

    /// nh_write_l2: the egress L2 header, l2's MACs and tags in place of the
    /// tagsIn tags the frame arrived with, then l3Proto (raw). Returns how
    /// far the head moved (negative: into the headroom), or nil when the
    /// tags could not be moved (the frame is then untouched).
    @inline(__always)
    static func writeL2(_ frame: Frame, _ l2: L2, tagsIn: UInt8, l3Proto: UInt16) -> Int? {
        if l2.vlan | tagsIn == 0 {
            // Untagged in and out, the common case: MACs only.
            frame.setMAC(0, l2.dmac)
            frame.setMAC(6, l2.smac)
            return 0
        }
        return writeTagged(frame, l2, tagsIn: tagsIn, l3Proto: l3Proto)
    }

    /// vlan_write_l2 (kept out of line: the untagged path stays small).
    @inline(never)
    static func writeTagged(_ frame: Frame, _ l2: L2, tagsIn: UInt8, l3Proto: UInt16) -> Int? {
        let tagsOut = l2.vlan & UInt8(XDPFWD_VLAN_COUNT_MASK)
        let delta = (Int(tagsIn) - Int(tagsOut)) * tagLength
        guard let out = frame.adjustedHead(delta) else { return nil }
        // Room for two tags: an IP header always follows the L2 header.
        guard out.length >= Wire.ethHeader + Int(XDPFWD_VLAN_MAX_TAGS) * tagLength else { return nil }
        out.setMAC(0, l2.dmac)
        out.setMAC(6, l2.smac)
        if tagsOut == 0 {
            out.setRaw16(12, l3Proto)
            return delta
        }
        out.setRaw16(12, l2.vlan & UInt8(XDPFWD_VLAN_OUTER_AD) != 0 ? dot1ADRaw : dot1QRaw)
        out.setRaw16(14, l2.tci.0)
        if tagsOut == 1 {
            out.setRaw16(16, l3Proto)
            return delta
        }
        out.setRaw16(16, dot1QRaw)
        out.setRaw16(18, l2.tci.1)
        out.setRaw16(20, l3Proto)
        return delta
    }

    /// vlan_pop_all: the tagsIn tags go, the MACs stay, then l3Proto (raw):
    /// what the slow path hands the kernel. Returns how far the head moved,
    /// or nil when it cannot (the frame is then untouched).
    @inline(__always)
    static func popAll(_ frame: Frame, tagsIn: UInt8, l3Proto: UInt16) -> Int? {
        if tagsIn == 0 { return 0 }
        let delta = Int(tagsIn) * tagLength
        guard frame.length >= Wire.ethHeader, let out = frame.adjustedHead(delta) else { return nil }
        // The MACs move forward over the tags: read both before writing.
        let low = frame.base.loadUnaligned(as: UInt64.self)
        let high = frame.base.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
        out.base.storeBytes(of: low, as: UInt64.self)
        out.base.storeBytes(of: high, toByteOffset: 8, as: UInt32.self)
        out.setRaw16(12, l3Proto)
        return delta
    }

    /// The frame as it was on the wire, from what a TPACKET_V3 RX ring gives:
    /// the kernel took the outer tag (802.1Q or 802.1ad, whatever the
    /// device's rx-vlan offload setting) off into skb metadata before the
    /// tap, and tpacket3_hdr reports it (TP_STATUS_VLAN_VALID, tp_vlan_tci,
    /// tp_vlan_tpid when TP_STATUS_VLAN_TPID_VALID; 802.1Q without it). An
    /// inner tag stays in the bytes. The MACs move 4 bytes into the
    /// headroom and the tag goes between them and the rest; returns the
    /// new start. The caller checked that the headroom has 4 bytes.
    @inline(__always)
    static func restoreRXTag(_ data: UnsafeMutableRawPointer, tpid: UInt16, tci: UInt16) -> UnsafeMutableRawPointer {
        let start = data - tagLength
        let low = data.loadUnaligned(as: UInt64.self)
        let high = data.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
        start.storeBytes(of: low, as: UInt64.self)
        start.storeBytes(of: high, toByteOffset: 8, as: UInt32.self)
        start.storeBytes(of: tpid.bigEndian, toByteOffset: 12, as: UInt16.self)
        start.storeBytes(of: tci.bigEndian, toByteOffset: 14, as: UInt16.self)
        return start
    }

    /// A received frame as the packet function must see it: where it starts,
    /// how long it is, how many writable bytes lie in front of it.
    struct WireFrame {
        let data: UnsafeMutableRawPointer
        let length: Int
        let headroom: Int
    }

    /// One TPACKET_V3 ring packet as the wire had it: the outer tag the
    /// kernel reported in tpacket3_hdr put back in front of the bytes
    /// (restoreRXTag). nil when there is no room for it, which an Ethernet
    /// ring frame (14 bytes of headroom) never lacks.
    @inline(__always)
    static func wireFrame(_ packet: UnsafeMutablePointer<tpacket3_hdr>) -> WireFrame? {
        let data = UnsafeMutableRawPointer(cxdp_afp_data(packet)!)
        let length = Int(cxdp_afp_snaplen(packet))
        let headroom = Int(cxdp_afp_headroom(packet))
        guard cxdp_afp_status(packet) & UInt32(TP_STATUS_VLAN_VALID) != 0 else {
            return WireFrame(data: data, length: length, headroom: headroom)
        }
        guard headroom >= tagLength else { return nil }
        let start = restoreRXTag(data, tpid: cxdp_afp_vlan_tpid(packet), tci: cxdp_afp_vlan_tci(packet))
        return WireFrame(data: start, length: length + tagLength, headroom: headroom - tagLength)
    }
}
