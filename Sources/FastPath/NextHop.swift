import CXDP

/// bpf/nexthop.h: the FIB lookup (the kernel's, via xdpfwd_fib), the next
/// hop cached in the flow entry, and the egress decision.
enum NextHop {
    @inline(__always)
    static func lookup<S: DataPlaneState>(_ packet: PacketInfo, ingress: UInt32, src: UInt32, dst: UInt32,
                                          sport: UInt16, dport: UInt16, state: inout S) -> xdpfwd_fib_query {
        var query = xdpfwd_fib_query()
        query.tos = packet.frame.u8(packet.ip + 1)
        query.proto = packet.proto
        query.sport = sport
        query.dport = dport
        query.tot_len = packet.frame.be16(packet.ip + 2)
        query.src = src
        query.dst = dst
        query.ifindex = ingress
        state.fibLookup(&query)
        return query
    }

    @inline(__always)
    static func usable(_ rc: Int32) -> Bool {
        rc == Int32(CXDP_FIB_LKUP_RET_SUCCESS) || rc == Int32(CXDP_FIB_LKUP_RET_NO_NEIGH)
    }

    /// The verdict for an unusable lookup; the packet is still untouched.
    static func fail<S: DataPlaneState>(_ rc: Int32, state: inout S) -> Verdict {
        switch rc {
        case Int32(CXDP_FIB_LKUP_RET_FWD_DISABLED):
            state.count(XDPFWD_STAT_PASS_FWD_DISABLED)
            return .pass
        case Int32(CXDP_FIB_LKUP_RET_FRAG_NEEDED):
            state.count(XDPFWD_STAT_DROP_MTU)
            return .drop
        default:
            state.count(XDPFWD_STAT_PASS_NO_ROUTE)
            return .pass
        }
    }

    /// nh_store: a VLAN upper as egress becomes its lower device plus the
    /// tags to push (nh_vlan_egress).
    @inline(__always)
    static func store<S: DataPlaneState>(_ flow: inout xdpfwd_flow, _ query: xdpfwd_fib_query, state: inout S) {
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

    /// nh_snat_addr: the --snat auto source for flows leaving through
    /// ifindex (the attached interface's IPv4 address, or the VLAN upper's).
    @inline(__always)
    static func snatAddress<S: DataPlaneState>(_ ifindex: UInt32, state: inout S) -> UInt32 {
        var iface = xdpfwd_iface()
        if state.lookupIface(ifindex, &iface) { return iface.ipv4_addr }
        var vlan = xdpfwd_vlan()
        return state.lookupVLAN(ifindex, &vlan) ? vlan.ipv4_addr : 0
    }

    /// nh_refresh looks the next hop up again: none cached, or `stale` (the
    /// caller just touched last_seen).
    @inline(__always)
    static func needsLookup(_ flow: xdpfwd_flow, stale: Bool) -> Bool {
        flow.nh_valid == 0 || stale
    }

    /// nh_refresh: nil to continue, else the verdict for an untranslated packet.
    @inline(__always)
    static func refresh<S: DataPlaneState>(_ packet: PacketInfo, _ flow: inout xdpfwd_flow, ingress: UInt32,
                                           stale: Bool, state: inout S) -> Verdict? {
        if !needsLookup(flow, stale: stale) { return nil }
        let query = lookup(packet, ingress: ingress, src: flow.new_saddr, dst: flow.new_daddr,
                           sport: flow.new_sport, dport: flow.new_dport, state: &state)
        guard usable(query.rc) else { return fail(query.rc, state: &state) }
        store(&flow, query, state: &state)
        return nil
    }

    /// nh_send: out of the ingress interface (XDP_TX; a VLAN trunk too),
    /// out of an attached one (its TX ring), or through the kernel (slow
    /// path; FastPath never lacks "metadata room"). tagsIn: the tags the
    /// frame arrived with; l3Proto: the type behind them (raw).
    @inline(__always)
    static func egress<S: DataPlaneState>(_ frame: Frame, _ flow: xdpfwd_flow, tagsIn: UInt8, l3Proto: UInt16,
                                          ingress: UInt32, state: inout S) -> Verdict {
        if flow.nh_valid != 0 {
            if flow.nh_ifindex == ingress {
                // Hairpin: out the interface (or trunk) it came in on.
                guard let offset = VLAN.writeL2(frame, VLAN.L2(flow), tagsIn: tagsIn, l3Proto: l3Proto) else {
                    return dropVLAN(&state)
                }
                return Verdict(.tx, ingress, offset: offset)
            }
            if state.egressAttached(flow.nh_ifindex) {
                guard let offset = VLAN.writeL2(frame, VLAN.L2(flow), tagsIn: tagsIn, l3Proto: l3Proto) else {
                    return dropVLAN(&state)
                }
                return Verdict(.redirect, flow.nh_ifindex, offset: offset)
            }
            // A VLAN whose lower device was detached since the next hop was
            // cached: the slow path would need the upper, which the entry
            // no longer names.
            if flow.nh_vlan != 0 { return dropVLAN(&state) }
        }
        // Neighbour unresolved or egress not ours: via the kernel, untagged
        // (the stack would otherwise send it out with the ingress VLAN).
        guard let offset = VLAN.popAll(frame, tagsIn: tagsIn, l3Proto: l3Proto) else { return dropVLAN(&state) }
        state.count(XDPFWD_STAT_PASS_SLOWPATH)
        return Verdict(.slowpath, flow.nh_ifindex, offset: offset)
    }

    @inline(never)
    static func dropVLAN<S: DataPlaneState>(_ state: inout S) -> Verdict {
        state.count(XDPFWD_STAT_DROP_VLAN)
        return .drop
    }
}
