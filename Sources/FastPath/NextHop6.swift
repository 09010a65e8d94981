import CXDP

/// bpf/nexthop6.h: the AF_INET6 FIB lookup (the kernel's, via xdpfwd_fib),
/// the next hop cached in the IPv6 flow entry, and the egress decision.
enum NextHop6 {
    /// nh6_fib_lookup: route (src, dst, sport, dport) as if it arrived on
    /// the ingress interface, with the packet's traffic class, flow label
    /// and length.
    @inline(__always)
    static func lookup<S: DataPlaneState>(_ frame: Frame, ip: Int, proto: UInt8, ingress: UInt32, src: Address6, dst: Address6,
                                          sport: UInt16, dport: UInt16, state: inout S) -> xdpfwd_fib6_query {
        var query = xdpfwd_fib6_query()
        query.flowinfo = frame.raw32(ip) & UInt32(0x0FFF_FFFF).bigEndian
        query.proto = proto
        query.sport = sport
        query.dport = dport
        query.tot_len = UInt16(truncatingIfNeeded: Wire6.header + Int(frame.be16(ip + Wire6.payloadLength)))
        query.src = src
        query.dst = dst
        query.ifindex = ingress
        state.fibLookup6(&query)
        return query
    }

    /// nh6_store: a VLAN upper as egress becomes its lower device plus the
    /// tags to push (nh_vlan_egress).
    @inline(__always)
    static func store<S: DataPlaneState>(_ flow: inout xdpfwd_flow6, _ query: xdpfwd_fib6_query, state: inout S) {
        flow.nh_ifindex = query.ifindex
        flow.nh_vlan = 0
        if query.rc == Int32(CXDP_FIB_LKUP_RET_SUCCESS) {
            flow.nh_dmac = query.dmac
            flow.nh_smac = query.smac
            flow.nh_valid = 1
            var vlan = xdpfwd_vlan()
            if state.lookupVLAN(query.ifindex, &vlan) {
                flow.nh_ifindex = vlan.lower_ifindex
                flow.nh_vlan_tci = vlan.tci
                flow.nh_vlan = vlan.tags
            }
        } else {
            flow.nh_valid = 0
        }
    }

    /// nh6_snat_addr: the --snat auto IPv6 source for flows leaving through
    /// ifindex (the attached interface's global address, or the VLAN
    /// upper's); nil when it has none.
    @inline(__always)
    static func snatAddress<S: DataPlaneState>(_ ifindex: UInt32, state: inout S) -> Address6? {
        var iface = xdpfwd_iface()
        if state.lookupIface(ifindex, &iface) { return Wire6.isZero(iface.ipv6_addr) ? nil : iface.ipv6_addr }
        var vlan = xdpfwd_vlan()
        return state.lookupVLAN(ifindex, &vlan) && !Wire6.isZero(vlan.ipv6_addr) ? vlan.ipv6_addr : nil
    }

    /// nh6_refresh looks the next hop up again: none cached, or `stale`
    /// (the caller just touched last_seen).
    @inline(__always)
    static func needsLookup(_ flow: xdpfwd_flow6, stale: Bool) -> Bool {
        flow.nh_valid == 0 || stale
    }

    /// nh6_refresh: nil to continue, else the verdict for an untranslated
    /// packet. `proto` is the packet's upper layer (ICMPv6 for errors).
    @inline(__always)
    static func refresh<S: DataPlaneState>(_ frame: Frame, ip: Int, proto: UInt8, _ flow: inout xdpfwd_flow6, ingress: UInt32,
                                           stale: Bool, state: inout S) -> Verdict? {
        if !needsLookup(flow, stale: stale) { return nil }
        let query = lookup(frame, ip: ip, proto: proto, ingress: ingress, src: flow.new_saddr, dst: flow.new_daddr,
                           sport: flow.new_sport, dport: flow.new_dport, state: &state)
        guard NextHop.usable(query.rc) else { return NextHop.fail(query.rc, state: &state) }
        store(&flow, query, state: &state)
        return nil
    }

    /// nh6_egress: NextHop.egress (nh_send) for an IPv6 entry: out of the
    /// ingress interface, out of an attached one, VLAN tags pushed, popped
    /// or rewritten on the way, or through the kernel (slow path).
    @inline(__always)
    static func egress<S: DataPlaneState>(_ frame: Frame, _ flow: xdpfwd_flow6, tagsIn: UInt8, ingress: UInt32,
                                          state: inout S) -> Verdict {
        let l3Proto = Wire6.etherTypeIPv6Raw
        if flow.nh_valid != 0 {
            if flow.nh_ifindex == ingress {
                // Hairpin: out the interface (or trunk) it came in on.
                guard let offset = VLAN.writeL2(frame, VLAN.L2(flow), tagsIn: tagsIn, l3Proto: l3Proto) else {
                    return NextHop.dropVLAN(&state)
                }
                return Verdict(.tx, ingress, offset: offset)
            }
            if state.egressAttached(flow.nh_ifindex) {
                guard let offset = VLAN.writeL2(frame, VLAN.L2(flow), tagsIn: tagsIn, l3Proto: l3Proto) else {
                    return NextHop.dropVLAN(&state)
                }
                return Verdict(.redirect, flow.nh_ifindex, offset: offset)
            }
            // A VLAN whose lower device was detached since the next hop was cached.
            if flow.nh_vlan != 0 { return NextHop.dropVLAN(&state) }
        }
        // Neighbour unresolved or egress not ours: via the kernel, untagged.
        guard let offset = VLAN.popAll(frame, tagsIn: tagsIn, l3Proto: l3Proto) else { return NextHop.dropVLAN(&state) }
        state.count(XDPFWD_STAT_PASS_SLOWPATH)
        return Verdict(.slowpath, flow.nh_ifindex, offset: offset)
    }
}

extension VLAN.L2 {
    /// The L2 header an IPv6 entry caches.
    @inline(__always)
    init(_ flow: xdpfwd_flow6) {
        dmac = flow.nh_dmac
        smac = flow.nh_smac
        tci = flow.nh_vlan_tci
        vlan = flow.nh_vlan
    }
}
