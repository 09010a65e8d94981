#!/usr/bin/env bash
# End-to-end test of xdpfwd with VLAN-tagged traffic and real peers, on the
# three-namespace lab (scripts/lab.sh) plus a VLAN on the client side:
#
#   client on VLAN 100      fwd                                  backend
#   c0 (tags 100) <-trunk-> f0 (xdpfwd)  f0.100 198.18.10.1/24
#   198.18.10.2/24                              2001:2:0:10::1/64
#   2001:2:0:10::2/64                    f1 198.18.1.1 <------> b0 198.18.1.2
#                                           2001:2:0:1::1          2001:2:0:1::2
#                           f2 (trunk)   f2.300.30 198.18.11.1/24
#                                                  2001:2:0:11::1/64
#                              <--------------------------> b1 (tags 802.1ad
#                                                           300 + 802.1Q 30)
#                                                           198.18.11.2/24
#                                                           2001:2:0:11::2/64
#
# Client -> backend pops the tag in XDP, backend -> client pushes it; towards
# the QinQ backend b1 the client's tag becomes two (and two become one on
# the way back). Cases: HTTP downloads checked by sha256 and UDP echo
# exchanges through `tcp/udp 198.18.10.1:PORT`, from each backend, the same
# over IPv6 through `tcp/udp [2001:2:0:10::1]:PORT` (NAT66, tagged IPv6
# frames, neighbour discovery across the VLANs), then counters (both
# directions through the XDP path, nothing dropped for VLAN reasons). The QinQ network's MTU is 1492: veth passes at most one tag
# beyond the MTU.
#
#   scripts/e2e-vlan.sh [--xdpfwd PATH] [--mode xdp|afpacket]
#
# --mode afpacket attaches FastPath (`attach --mode afpacket`) instead: its
# ring sees a frame's outer tag in packet metadata (the kernel takes it off
# before packet taps; a QinQ frame's inner tag stays in the bytes), puts it
# back, and pops, pushes or rewrites tags in user space.
#
# Kernels with 802.1Q (CONFIG_VLAN_8021Q) get real VLAN devices: c0.100 in
# the client, f0.100 and f2.300.30 on the forwarder, found by `xdpfwd attach`,
# b1.300.30 in the backend. Kernels without it (ip link add ... type vlan:
# "Unknown device type") get stand-ins: scripts/vlan-emu.bpf.c tags the
# client's c0 and the backend's b1 in TC, the forwarder's uppers "f0.100"
# and "f2.300.30" are veths whose traffic TC moves to and from the VLANs on
# f0 and f2, and the script describes those uppers to xdpfwd in
# xdpfwd_vlans with bpftool, as attach would for real VLAN devices. The
# data plane sees the same tagged frames either way. The client and b1
# drop frames without their tags, so a working exchange proves the
# forwarder tagged what it sent them. In afpacket mode
# the stand-in's trunk filter runs after xdpfwd's classifier (which drops
# the stack's copy of what FastPath forwards and lets the rest continue),
# as a real VLAN device's receive path runs after TC ingress.
#
# Prints `ok - NAME` / `not ok - NAME: reason` per case and a summary line;
# exits 1 if any case failed. Bounded waits; the lab is torn down by a trap.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export XDPFWD_LAB_PREFIX=${XDPFWD_LAB_PREFIX:-xfv$$}
# shellcheck source=scripts/lab.sh
source "$ROOT/scripts/lab.sh"
# shellcheck source=scripts/e2e-lib.sh
source "$ROOT/scripts/e2e-lib.sh"

e2e_parse_args e2e-vlan 2,42 "$@"
MODE_ARG=$E2E_MODE
e2e_require e2e-vlan ip tc ethtool curl socat python3 sha256sum bpftool
lab_sweep_stale

VID=100
VLAN_NET=198.18.10
CLIENT_VLAN_ADDR=$VLAN_NET.2
FWD_VLAN_ADDR=$VLAN_NET.1
VLAN_NET6=2001:2:0:10:
CLIENT_VLAN_ADDR6=$VLAN_NET6:2
FWD_VLAN_ADDR6=$VLAN_NET6:1
HTTP_PORT=8000
UDP_PORT=5300
TCP_LISTEN=$FWD_VLAN_ADDR:8080
UDP_LISTEN=$FWD_VLAN_ADDR:5353
SERVER_LIFETIME=120
UPPER=f0.100          # the forwarder's VLAN upper (a veth stand-in: f0.100 + f0.100p)
OUTER_VID=300         # the QinQ backend network: 802.1ad 300, 802.1Q 30
INNER_VID=30
QINQ_NET=198.18.11
QINQ_BACKEND_ADDR=$QINQ_NET.2
QINQ_NET6=2001:2:0:11:
QINQ_BACKEND_ADDR6=$QINQ_NET6:2
QINQ_UPPER=f2.300.30  # its upper on the forwarder (stand-in: f2.300.30 + f2.300.30p)
QINQ_MTU=1492
TCP_LISTEN_QINQ=$FWD_VLAN_ADDR:8081
UDP_LISTEN_QINQ=$FWD_VLAN_ADDR:5354
TCP_LISTEN6="[$FWD_VLAN_ADDR6]:8080"
UDP_LISTEN6="[$FWD_VLAN_ADDR6]:5353"
TCP_LISTEN_QINQ6="[$FWD_VLAN_ADDR6]:8081"
UDP_LISTEN_QINQ6="[$FWD_VLAN_ADDR6]:5354"

WORK=$(mktemp -d /tmp/xdpfwd-e2e-vlan.XXXXXX)
# The afpacket forwarder's PID file, options and log (removed with WORK).
export XDPFWD_RUN_DIR=$WORK/run
BG_PIDS=()
PASSED=0
FAILED=0
REASON=""
MODE=""

cleanup() {
    trap '' INT TERM
    trap - EXIT
    local pid
    for pid in "${BG_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${BG_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    lab_down
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

xfwd() { ip netns exec "$NS_FWD" "$XDPFWD" "$@" --pin-dir "$LAB_PIN_DIR"; }
# Can this kernel create VLAN devices? Probed in a throwaway namespace.
kernel_has_vlan() {
    local ns=xfvprobe$$ ok=1
    ip netns add "$ns" || return 1
    ip -n "$ns" link add xfvp0 type veth peer name xfvp1 &&
        ip -n "$ns" link add link xfvp0 name xfvp0.9 type vlan id 9 2>/dev/null && ok=0
    ip netns del "$ns"
    return $ok
}

ifindex() { ip netns exec "$1" cat "/sys/class/net/$2/ifindex"; }

# le32 N: N as 4 little-endian hex bytes for bpftool.
le32() { printf '%02x %02x %02x %02x' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)); }

# TC programs for the stand-ins, built with the device numbers baked in,
# loaded once and pinned in the lab's bpffs (they use no maps): SET vlan-emu
# for VLAN 100 on f0, vlan-emu-qinq for 300/30 on f2.
build_emu() {
    local clang set
    clang="$(dirname "$(readlink -f "$(command -v swift)")")/clang"
    for set in vlan-emu vlan-emu-qinq; do
        local defines=(-DVID="$VID" -DLOWER_IFINDEX="$(ifindex "$NS_FWD" f0)" -DUPPER_PEER_IFINDEX="$(ifindex "$NS_FWD" "${UPPER}p")")
        [[ $set == vlan-emu-qinq ]] && defines=(-DVID="$INNER_VID" -DOUTER_VID="$OUTER_VID" -DLOWER_IFINDEX="$(ifindex "$NS_FWD" f2)"
            -DUPPER_PEER_IFINDEX="$(ifindex "$NS_FWD" "${QINQ_UPPER}p")")
        "$clang" -O2 -g -Wall -Werror -target bpf -I "/usr/include/$(uname -m)-linux-gnu" "${defines[@]}" \
            -c "$ROOT/scripts/vlan-emu.bpf.c" -o "$WORK/$set.o" &&
            bpftool prog loadall "$WORK/$set.o" "$LAB_BPFFS/$set" type classifier || return 1
    done
}

# tc_prog NS DEV DIR PROG [PRIO] [SET]: attach one pinned stand-in program
# (direct action; priority 1 unless given: before xdpfwd's filters).
tc_prog() {
    ip netns exec "$1" tc qdisc add dev "$2" clsact 2>/dev/null
    ip netns exec "$1" tc filter add dev "$2" "$3" prio "${5:-1}" bpf da pinned "$LAB_BPFFS/${6:-vlan-emu}/$4"
}

# ipv6_hex ADDR: the 16 bytes of an IPv6 address as hex for bpftool.
ipv6_hex() { python3 -c 'import ipaddress, sys; print(" ".join(f"{b:02x}" for b in ipaddress.IPv6Address(sys.argv[1]).packed))' "$1"; }

# vlan_entry UPPER LOWER TAGS TCI0 TCI1 ADDR ADDR6: what attach writes into
# xdpfwd_vlans for a real VLAN device (TAGS: count | 0x04 for an 802.1ad
# outer tag; TCI: VLAN id, PCP 0; ADDR, ADDR6: the upper's IPv4 and first
# global IPv6 address, the SNAT sources).
vlan_entry() {
    # shellcheck disable=SC2046 # byte lists split on purpose
    bpftool map update pinned "$LAB_PIN_DIR/xdpfwd_vlans" key hex $(le32 "$(ifindex "$NS_FWD" "$1")") \
        value hex $(le32 "$(ifindex "$NS_FWD" "$2")") "$3" 00 $(printf '%02x %02x %02x %02x' $(($4 >> 8)) $(($4 & 255)) $(($5 >> 8)) $(($5 & 255))) \
        00 00 $(echo "$6" | tr '.' ' ' | xargs printf '%02x %02x %02x %02x') $(ipv6_hex "$7")
}

# The QinQ backend link: f2 (forwarder trunk) <-> b1 (backend, a host port
# on 802.1ad 300 + 802.1Q 30), and the forwarder's upper for it.
setup_qinq() {
    ip -n "$NS_FWD" link add f2 type veth peer name b1 netns "$NS_BACKEND" || return 1
    ip netns exec "$NS_FWD" ethtool -K f2 txvlan off tx-vlan-stag-hw-insert off >/dev/null 2>&1
    ip netns exec "$NS_BACKEND" ethtool -K b1 tx off gro on txvlan off tx-vlan-stag-hw-insert off >/dev/null 2>&1
    ip -n "$NS_FWD" link set f2 up && ip -n "$NS_BACKEND" link set b1 up || return 1
    if [[ $MODE == real ]]; then
        ip -n "$NS_FWD" link add link f2 name f2.300 type vlan proto 802.1ad id "$OUTER_VID" &&
            ip -n "$NS_FWD" link set f2.300 up &&
            ip -n "$NS_FWD" link add link f2.300 name "$QINQ_UPPER" type vlan id "$INNER_VID" &&
            ip -n "$NS_BACKEND" link add link b1 name b1.300 type vlan proto 802.1ad id "$OUTER_VID" &&
            ip -n "$NS_BACKEND" link set b1.300 up &&
            ip -n "$NS_BACKEND" link add link b1.300 name b1.300.30 type vlan id "$INNER_VID" &&
            ip -n "$NS_BACKEND" link set b1.300.30 mtu "$QINQ_MTU" up &&
            ip -n "$NS_BACKEND" addr add "$QINQ_BACKEND_ADDR/24" dev b1.300.30 &&
            ip -n "$NS_BACKEND" -6 addr add "$QINQ_BACKEND_ADDR6/64" dev b1.300.30 nodad || return 1
    else
        ip -n "$NS_FWD" link add "$QINQ_UPPER" type veth peer name "${QINQ_UPPER}p" || return 1
        ip -n "$NS_FWD" link set "${QINQ_UPPER}p" up &&
            ip -n "$NS_BACKEND" link set b1 mtu "$QINQ_MTU" &&
            ip -n "$NS_BACKEND" addr add "$QINQ_BACKEND_ADDR/24" dev b1 &&
            ip -n "$NS_BACKEND" -6 addr add "$QINQ_BACKEND_ADDR6/64" dev b1 nodad || return 1
    fi
    ip -n "$NS_FWD" link set "$QINQ_UPPER" mtu "$QINQ_MTU" up &&
        ip -n "$NS_FWD" addr add "$QINQ_NET.1/24" dev "$QINQ_UPPER" &&
        ip -n "$NS_FWD" -6 addr add "${QINQ_NET6}:1/64" dev "$QINQ_UPPER" nodad || return 1
}

setup() {
    lab_up >"$WORK/lab.log" 2>&1 || { cat "$WORK/lab.log" >&2; return 1; }
    if kernel_has_vlan; then MODE=real; else MODE=emulated; fi
    echo "# VLAN devices: $MODE"

    ip netns exec "$NS_FWD" ethtool -K f0 txvlan off >/dev/null 2>&1
    if [[ $MODE == real ]]; then
        ip -n "$NS_FWD" link add link f0 name "$UPPER" type vlan id "$VID" || return 1
    else
        ip -n "$NS_FWD" link add "$UPPER" type veth peer name "${UPPER}p" || return 1
        ip -n "$NS_FWD" link set "${UPPER}p" up
    fi
    ip -n "$NS_FWD" addr add "$FWD_VLAN_ADDR/24" dev "$UPPER" &&
        ip -n "$NS_FWD" -6 addr add "$FWD_VLAN_ADDR6/64" dev "$UPPER" nodad &&
        ip -n "$NS_FWD" link set "$UPPER" up || return 1
    setup_qinq || return 1
    if [[ $MODE == emulated ]]; then
        build_emu || return 1
        tc_prog "$NS_CLIENT" c0 egress access_egress &&
            tc_prog "$NS_CLIENT" c0 ingress access_ingress &&
            tc_prog "$NS_FWD" "${UPPER}p" ingress upper_tx &&
            tc_prog "$NS_BACKEND" b1 egress access_egress 1 vlan-emu-qinq &&
            tc_prog "$NS_BACKEND" b1 ingress access_ingress 1 vlan-emu-qinq &&
            tc_prog "$NS_FWD" "${QINQ_UPPER}p" ingress upper_tx 1 vlan-emu-qinq || return 1
    fi
    ip -n "$NS_CLIENT" route del default 2>/dev/null
    ip -n "$NS_CLIENT" -6 route del default 2>/dev/null
    # The untagged addresses go (the link-local one stays: neighbour discovery).
    ip -n "$NS_CLIENT" addr flush dev c0 scope global
    ip netns exec "$NS_CLIENT" ethtool -K c0 txvlan off >/dev/null 2>&1
    if [[ $MODE == real ]]; then
        ip -n "$NS_CLIENT" link add link c0 name "c0.$VID" type vlan id "$VID" &&
            ip -n "$NS_CLIENT" addr add "$CLIENT_VLAN_ADDR/24" dev "c0.$VID" &&
            ip -n "$NS_CLIENT" -6 addr add "$CLIENT_VLAN_ADDR6/64" dev "c0.$VID" nodad &&
            ip -n "$NS_CLIENT" link set "c0.$VID" up || return 1
    else
        ip -n "$NS_CLIENT" addr add "$CLIENT_VLAN_ADDR/24" dev c0 &&
            ip -n "$NS_CLIENT" -6 addr add "$CLIENT_VLAN_ADDR6/64" dev c0 nodad || return 1
    fi
    ip -n "$NS_CLIENT" route add default via "$FWD_VLAN_ADDR" &&
        ip -n "$NS_CLIENT" -6 route add default via "$FWD_VLAN_ADDR6" || return 1

    head -c 8M /dev/urandom >"$WORK/blob"
    SHA=$(sha256sum <"$WORK/blob" | cut -d' ' -f1)
    background "$NS_BACKEND" "$WORK/http.log" \
        python3 -m http.server --bind "$BACKEND_ADDR" --directory "$WORK" "$HTTP_PORT"
    background "$NS_BACKEND" "$WORK/udp.log" \
        socat "UDP4-LISTEN:$UDP_PORT,bind=$BACKEND_ADDR,fork,reuseaddr" EXEC:cat
    background "$NS_BACKEND" "$WORK/http-qinq.log" \
        python3 -m http.server --bind "$QINQ_BACKEND_ADDR" --directory "$WORK" "$HTTP_PORT"
    background "$NS_BACKEND" "$WORK/udp-qinq.log" \
        socat "UDP4-LISTEN:$UDP_PORT,bind=$QINQ_BACKEND_ADDR,fork,reuseaddr" EXEC:cat
    local addr6
    for addr6 in "$BACKEND_ADDR6" "$QINQ_BACKEND_ADDR6"; do
        background "$NS_BACKEND" "$WORK/http-$addr6.log" \
            python3 -m http.server --bind "$addr6" --directory "$WORK" "$HTTP_PORT"
        background "$NS_BACKEND" "$WORK/udp-$addr6.log" \
            socat "UDP6-LISTEN:$UDP_PORT,bind=[$addr6],fork,reuseaddr" EXEC:cat
    done
    wait_tcp "$NS_BACKEND" "$BACKEND_ADDR" "$HTTP_PORT" && wait_tcp "$NS_BACKEND" "$QINQ_BACKEND_ADDR" "$HTTP_PORT" &&
        wait_tcp "$NS_BACKEND" "$BACKEND_ADDR6" "$HTTP_PORT" && wait_tcp "$NS_BACKEND" "$QINQ_BACKEND_ADDR6" "$HTTP_PORT" ||
        { echo "e2e-vlan: backend did not start" >&2; return 1; }
}

case_attach() {
    local out upper lower
    if [[ $MODE_ARG == afpacket ]]; then
        out=$(xfwd attach f0 f1 f2 --mode afpacket 2>&1) || { fail "attach: $out"; return 1; }
        xfwd status --json | python3 -c "import json,sys; d=json.load(sys.stdin)
assert d.get('afpacket_forwarder_pid') and all(i['mode'] == 'afpacket' for i in d['interfaces'])" ||
            { fail "not attached in afpacket mode: $out"; return 1; }
    else
        out=$(xfwd attach f0 f1 f2 2>&1) || { fail "attach: $out"; return 1; }
    fi
    if [[ $MODE == emulated ]]; then
        # XDP mode: the trunk side of the stand-in runs after XDP, before
        # xdpfwd's slow-path filter (which only takes frames XDP marked).
        # afpacket mode: after xdpfwd's classifier (priority 0x5844), like
        # a VLAN device's receive path after TC ingress.
        local prio=1
        [[ $MODE_ARG == afpacket ]] && prio=30000
        tc_prog "$NS_FWD" f0 ingress trunk_ingress "$prio" &&
            tc_prog "$NS_FWD" f2 ingress trunk_ingress "$prio" vlan-emu-qinq || { fail "trunk filter"; return 1; }
        # What attach writes for a real f0.100 (one 802.1Q tag) and a real
        # f2.300.30 (802.1ad 300 outside 802.1Q 30).
        vlan_entry "$UPPER" f0 01 "$VID" 0 "$FWD_VLAN_ADDR" "$FWD_VLAN_ADDR6" &&
            vlan_entry "$QINQ_UPPER" f2 06 "$OUTER_VID" "$INNER_VID" "$QINQ_NET.1" "${QINQ_NET6}:1" || { fail "bpftool map update"; return 1; }
    fi
    # Real devices: f2.300 (one 802.1ad tag) is an upper too.
    (($(bpftool map dump pinned "$LAB_PIN_DIR/xdpfwd_vlans" 2>/dev/null | grep -c key) >= 2)) ||
        { fail "xdpfwd_vlans does not hold both uppers"; return 1; }
    if ! xfwd rule add tcp "$TCP_LISTEN" "$BACKEND_ADDR:$HTTP_PORT" >/dev/null ||
        ! xfwd rule add udp "$UDP_LISTEN" "$BACKEND_ADDR:$UDP_PORT" >/dev/null ||
        ! xfwd rule add tcp "$TCP_LISTEN_QINQ" "$QINQ_BACKEND_ADDR:$HTTP_PORT" >/dev/null ||
        ! xfwd rule add udp "$UDP_LISTEN_QINQ" "$QINQ_BACKEND_ADDR:$UDP_PORT" >/dev/null ||
        ! xfwd rule add tcp "$TCP_LISTEN6" "[$BACKEND_ADDR6]:$HTTP_PORT" >/dev/null ||
        ! xfwd rule add udp "$UDP_LISTEN6" "[$BACKEND_ADDR6]:$UDP_PORT" >/dev/null ||
        ! xfwd rule add tcp "$TCP_LISTEN_QINQ6" "[$QINQ_BACKEND_ADDR6]:$HTTP_PORT" >/dev/null ||
        ! xfwd rule add udp "$UDP_LISTEN_QINQ6" "[$QINQ_BACKEND_ADDR6]:$UDP_PORT" >/dev/null; then
        fail "rule add"
        return 1
    fi
}

# case_download [LISTEN]: the blob through LISTEN (default: the untagged backend's rule).
case_download() {
    local got code listen=${1:-$TCP_LISTEN}
    rm -f "$WORK/got"
    code=$(ip netns exec "$NS_CLIENT" curl -gsS --max-time 30 --connect-timeout 5 -o "$WORK/got" \
        -w '%{http_code}' "http://$listen/blob" 2>&1) || { fail "curl: $code"; return 1; }
    [[ $code == 200 ]] || { fail "HTTP $code"; return 1; }
    got=$(sha256sum <"$WORK/got" | cut -d' ' -f1)
    [[ $got == "$SHA" ]] || fail "sha256 $got, want $SHA"
}

# case_udp [LISTEN]: five echoes through LISTEN (default: the untagged
# backend's rule); IPv6 for a [bracketed] LISTEN.
case_udp() {
    local i token reply listen=${1:-$UDP_LISTEN} family=UDP4
    [[ $listen == \[* ]] && family=UDP6
    for ((i = 1; i <= 5; i++)); do
        token="xdpfwd-vlan-$$-$i-$RANDOM"
        reply=$(printf '%s\n' "$token" | ip netns exec "$NS_CLIENT" timeout 5 socat -T3 - "$family:$listen" 2>/dev/null)
        [[ $reply == "$token" ]] || { fail "request $i: sent '$token', got '$(one_line "$reply")'"; return 1; }
    done
}

case_download_qinq() { case_download "$TCP_LISTEN_QINQ"; }
case_udp_qinq() { case_udp "$UDP_LISTEN_QINQ"; }
case_download6() { case_download "$TCP_LISTEN6"; }
case_udp6() { case_udp "$UDP_LISTEN6"; }
case_download_qinq6() { case_download "$TCP_LISTEN_QINQ6"; }
case_udp_qinq6() { case_udp "$UDP_LISTEN_QINQ6"; }

# Both directions went through the forwarder's own egress (a tag pushed on
# every reply by xdpfwd, not by the kernel's VLAN device via the slow path,
# which only the first packet of a flow to an unresolved neighbour takes),
# and the upper device received only neighbour traffic, no forwarded flow.
case_counters() {
    local json upper_rx
    # FastPath publishes its counters every 200 ms.
    [[ $MODE_ARG == afpacket ]] && sleep 0.5
    json=$(xfwd stats --json) || { fail "stats"; return 1; }
    upper_rx=$(($(ip netns exec "$NS_FWD" cat "/sys/class/net/$UPPER/statistics/rx_packets") +
        $(ip netns exec "$NS_FWD" cat "/sys/class/net/$QINQ_UPPER/statistics/rx_packets"))) || { fail "upper stats"; return 1; }
    python3 - "$json" "$upper_rx" <<'EOF' || { fail "$(one_line "$json")"; return 1; }
import json, sys
s = json.loads(sys.argv[1])
g = s["global"]
rules = s["rules"]
print("# counters: " + " ".join(f"{k}={v}" for k, v in sorted(g.items()) if v) + f"; {sys.argv[2]} packets up the VLAN uppers")
assert g["drop_vlan"] == 0, "drop_vlan"
assert g["verdict_redirect"] > 1000, "few redirects"
# At most the first packet to each neighbour (two backends and the
# client, each over IPv4 and IPv6).
assert g["pass_slowpath"] <= 6, "slow path"
assert int(sys.argv[2]) < 200, "forwarded packets reached a VLAN upper"
assert len(rules) == 8, rules
for r in rules:
    assert r["forward"]["packets"] > 0 and r["reply"]["packets"] > 0, r
EOF
}

main() {
    setup || { echo "e2e-vlan: setup failed" >&2; exit 1; }
    local path=XDP
    [[ $MODE_ARG == afpacket ]] && path=FastPath
    run_case "attach f0 f1 ($MODE_ARG) with VLAN $VID above f0 ($MODE VLAN devices)" case_attach
    run_case "HTTP download from VLAN $VID, sha256 intact" case_download
    run_case "UDP echo from VLAN $VID" case_udp
    run_case "HTTP download from VLAN $VID off a QinQ backend (802.1ad $OUTER_VID + 802.1Q $INNER_VID), sha256 intact" \
        case_download_qinq
    run_case "UDP echo from VLAN $VID with a QinQ backend" case_udp_qinq
    run_case "IPv6: HTTP download from VLAN $VID, sha256 intact" case_download6
    run_case "IPv6: UDP echo from VLAN $VID" case_udp6
    run_case "IPv6: HTTP download from VLAN $VID off the QinQ backend, sha256 intact" case_download_qinq6
    run_case "IPv6: UDP echo from VLAN $VID with the QinQ backend" case_udp_qinq6
    run_case "both directions in $path, nothing dropped for VLAN" case_counters
    echo "e2e-vlan: $PASSED passed, $FAILED failed"
    ((FAILED == 0))
}

main
