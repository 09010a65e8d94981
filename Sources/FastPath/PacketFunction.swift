import CXDP

/// The forwarder of bpf/xdpfwd.bpf.c, in Swift: one frame in (untagged or
/// behind up to two VLAN tags), rewritten in place, and a verdict. IPv6
/// frames go to PacketFunction6 (xdpfwd_xdp6). Each stage mirrors its C
/// counterpart line by line
/// (the differential tests hold the two to identical verdicts, bytes,
/// counters and conntrack entries), so read the C for the reasons.
public enum PacketFunction {
    /// xdpfwd_xdp: process, count the verdict (rx is their sum, derived by
    /// the counters reader). `headroom` bytes before `base` are writable:
    /// pushing VLAN tags needs up to 8 (the XDP program has 256); a frame
    /// whose tags do not fit is dropped as drop_vlan. The frame to send is
    /// at base + verdict.offset, length - verdict.offset bytes.
    @inline(__always)
    public static func run<S: DataPlaneState>(_ base: UnsafeMutableRawPointer, length: Int, headroom: Int, ingress: UInt32,
                                              state: inout S) -> Verdict {
        let verdict = process(Frame(base: base, length: length, headroom: headroom), ingress: ingress, state: &state)
        switch verdict.action {
        case .pass, .slowpath: state.count(XDPFWD_STAT_VERDICT_PASS)
        case .tx: state.count(XDPFWD_STAT_VERDICT_TX)
        case .redirect: state.count(XDPFWD_STAT_VERDICT_REDIRECT)
        case .drop: state.count(XDPFWD_STAT_VERDICT_DROP)
        }
        return verdict
    }

    /// xdpfwd_process: parse (bounds-checked like parsing.h), then the flow
    /// or the rule decides.
    @inline(__always)
    static func process<S: DataPlaneState>(_ frame: Frame, ingress: UInt32, state: inout S) -> Verdict {
        let length = frame.length
        guard length >= Wire.ethHeader else { return passed(XDPFWD_STAT_PASS_MALFORMED, &state) }
        // A VLAN tag cut short: malformed. ARP, more than two tags, ...: not ours.
        guard let tags = VLAN.parse(frame) else { return passed(XDPFWD_STAT_PASS_MALFORMED, &state) }
        guard tags.etherType == Wire.etherTypeIPv4Raw else {
            // xdpfwd_xdp6, which xdpfwd_xdp tail-calls.
            if tags.etherType == Wire6.etherTypeIPv6Raw {
                return PacketFunction6.process(frame, ip: tags.l3, vlanTags: tags.count, ingress: ingress, state: &state)
            }
            return passed(XDPFWD_STAT_PASS_NOT_IPV4, &state)
        }

        let ip = tags.l3
        guard ip + 20 <= length else { return passed(XDPFWD_STAT_PASS_MALFORMED, &state) }
        let versionIHL = frame.u8(ip)
        guard versionIHL >> 4 == 4, versionIHL & 0xF >= 5 else { return passed(XDPFWD_STAT_PASS_MALFORMED, &state) }
        let headerSize = Int(versionIHL & 0xF) * 4
        guard ip + headerSize <= length else { return passed(XDPFWD_STAT_PASS_MALFORMED, &state) }
        let totalLength = Int(frame.be16(ip + 2))
        guard totalLength >= headerSize, ip + totalLength <= length else {
            return passed(XDPFWD_STAT_PASS_MALFORMED, &state)
        }
        let l4Length = totalLength - headerSize
        guard frame.raw16(ip + 6) & Wire.fragmentMaskRaw == 0 else { return passed(XDPFWD_STAT_PASS_FRAGMENT, &state) }

        let proto = frame.u8(ip + 9)
        let l4 = ip + headerSize
        var tcpFlags: UInt8 = 0
        if proto == Wire.tcp {
            guard l4 + 20 <= length else { return passed(XDPFWD_STAT_PASS_MALFORMED, &state) }
            let headerLength = Int(frame.u8(l4 + 12) >> 4) * 4
            guard headerLength >= 20, headerLength <= l4Length else { return passed(XDPFWD_STAT_PASS_MALFORMED, &state) }
            tcpFlags = frame.u8(l4 + 13)
        } else if proto == Wire.udp {
            guard l4 + 8 <= length, l4Length >= 8 else { return passed(XDPFWD_STAT_PASS_MALFORMED, &state) }
            let udpLength = Int(frame.be16(l4 + 4))
            guard udpLength >= 8, udpLength <= l4Length else { return passed(XDPFWD_STAT_PASS_MALFORMED, &state) }
        } else if proto == 1 {
            // ICMP errors about our flows are translated; the rest is the stack's.
            return ICMPError.translate(frame, ip: ip, icmp: l4, vlanTags: tags.count, ingress: ingress, state: &state)
        } else {
            return passed(XDPFWD_STAT_PASS_NOT_TCP_UDP, &state)
        }

        let packet = PacketInfo(frame: frame, ip: ip, l4: l4, proto: proto, tcpFlags: tcpFlags, len: UInt64(length),
                                vlanTags: tags.count)
        var key = xdpfwd_flow_key()
        key.saddr = frame.raw32(ip + 12)
        key.daddr = frame.raw32(ip + 16)
        key.sport = frame.raw16(l4)
        key.dport = frame.raw16(l4 + 2)
        key.proto = proto

        let now = state.now()
        var entry = xdpfwd_flow()
        var found = state.lookupFlow(key, &entry)
        if found && tcpFlags & (Wire.tcpSYN | Wire.tcpACK) == Wire.tcpSYN {
            // A client SYN on a known tuple (rare): decide on the map's
            // current state, not a cached copy another worker may have
            // moved to FIN or RST meanwhile.
            found = state.reloadFlow(key, &entry)
        }
        // A new connection on a closing tuple: the old flow goes, its SNAT
        // port with it (ct_tcp_reuse).
        let reuse = found && Conntrack.tcpReuse(entry, flags: tcpFlags)
        // Touched within XDPFWD_TOUCH_NS: live whatever its state; only
        // older entries and misses need the config and the timeouts.
        if !found || reuse || !Conntrack.recent(entry, now: now) {
            let config = state.config()
            if reuse { Conntrack.delete(key, entry, state: &state) }
            if !found || reuse || !Conntrack.live(key, entry, now: now, config: config, state: &state) {
                return Forwarding.newFlow(packet, key: key, expired: found, ingress: ingress, now: now, config: config, state: &state)
            }
        }
        return Forwarding.established(packet, key: key, entry: &entry, ingress: ingress, now: now, state: &state)
    }

    @inline(__always)
    static func passed<S: DataPlaneState>(_ stat: xdpfwd_stat, _ state: inout S) -> Verdict {
        state.count(stat)
        return .pass
    }
}
