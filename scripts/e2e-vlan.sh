#!/usr/bin/env bash
# End-to-end test of xdpfwd with VLAN-tagged traffic and real peers, on the
# three-namespace lab (scripts/lab.sh) plus a VLAN on the client side:
#
#   client on VLAN 100      fwd                                  backend
#   c0 (tags 100) <-trunk-> f0 (xdpfwd)  f0.100 198.18.10.1/24
#   198.18.10.2/24                       f1 198.18.1.1 <------> b0 198.18.1.2
#
# Client -> backend pops the tag in XDP, backend -> client pushes it. Cases:
# an HTTP download checked by sha256 and a UDP echo exchange through
# `tcp/udp 198.18.10.1:PORT`, then counters (both directions through the
# XDP path, nothing dropped for VLAN reasons).
#
#   scripts/e2e-vlan.sh [--xdpfwd PATH] [--mode xdp|afpacket]
#
# --mode afpacket attaches FastPath (`attach --mode afpacket`) instead: its
# ring sees the client's tag in the frame's metadata (the kernel takes it
# off before packet taps), puts it back, pops it towards the backend and
# pushes it on the replies in user space.
#
# Kernels with 802.1Q (CONFIG_VLAN_8021Q) get real VLAN devices: c0.100 in
# the client, f0.100 on the forwarder, found by `xdpfwd attach f0`. Kernels
# without it (ip link add ... type vlan: "Unknown device type") get stand-ins:
# scripts/vlan-emu.bpf.c tags the client's c0 in TC, the forwarder's upper
# "f0.100" is a veth whose traffic TC moves to and from VLAN 100 on f0, and
# the script describes that upper to xdpfwd in xdpfwd_vlans with bpftool, as
# attach would for a real VLAN device. The XDP data plane sees the same
# tagged frames either way. The client drops untagged frames, so a working
# exchange proves the forwarder's replies carried the tag. In afpacket mode
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

XDPFWD=${XDPFWD:-}
MODE_ARG=xdp
while (($#)); do
    case "$1" in
    --xdpfwd) XDPFWD=${2:?--xdpfwd needs a path}; shift 2 ;;
    --xdpfwd=*) XDPFWD=${1#*=}; shift ;;
    --mode) MODE_ARG=${2:?--mode needs xdp or afpacket}; shift 2 ;;
    -h | --help) sed -n '2,36p' "$0"; exit 0 ;;
    *) echo "e2e-vlan: unknown argument '$1'" >&2; exit 64 ;;
    esac
done
if [[ -z $XDPFWD ]]; then
    XDPFWD="$(cd "$ROOT" && swift build --show-bin-path 2>/dev/null)/xdpfwd"
fi
[[ $MODE_ARG == xdp || $MODE_ARG == afpacket ]] || { echo "e2e-vlan: --mode is xdp or afpacket, not '$MODE_ARG'" >&2; exit 64; }
XDPFWD=$(realpath -e "$XDPFWD" 2>/dev/null) || { echo "e2e-vlan: xdpfwd binary not found (use --xdpfwd PATH)" >&2; exit 1; }
((EUID == 0)) || { echo "e2e-vlan: must run as root" >&2; exit 1; }
for tool in ip tc ethtool curl socat python3 sha256sum bpftool; do
    command -v "$tool" >/dev/null || { echo "e2e-vlan: missing $tool (run scripts/install-deps.sh)" >&2; exit 1; }
done

VID=100
VLAN_NET=198.18.10
CLIENT_VLAN_ADDR=$VLAN_NET.2
FWD_VLAN_ADDR=$VLAN_NET.1
HTTP_PORT=8000
UDP_PORT=5300
TCP_LISTEN=$FWD_VLAN_ADDR:8080
UDP_LISTEN=$FWD_VLAN_ADDR:5353
SERVER_LIFETIME=120
UPPER=f0.100          # the forwarder's VLAN upper (a veth stand-in: f0.100 + f0.100p)

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
# loaded once and pinned in the lab's bpffs (they use no maps).
build_emu() {
    local clang
    clang="$(dirname "$(readlink -f "$(command -v swift)")")/clang"
    "$clang" -O2 -g -Wall -Werror -target bpf -I "/usr/include/$(uname -m)-linux-gnu" \
        -DVID="$VID" -DLOWER_IFINDEX="$(ifindex "$NS_FWD" f0)" -DUPPER_PEER_IFINDEX="$(ifindex "$NS_FWD" "${UPPER}p")" \
        -c "$ROOT/scripts/vlan-emu.bpf.c" -o "$WORK/emu.o" &&
        bpftool prog loadall "$WORK/emu.o" "$LAB_BPFFS/vlan-emu" type classifier
}

# tc_prog NS DEV DIR PROG [PRIO]: attach one pinned stand-in program
# (direct action; priority 1 unless given: before xdpfwd's filters).
tc_prog() {
    ip netns exec "$1" tc qdisc add dev "$2" clsact 2>/dev/null
    ip netns exec "$1" tc filter add dev "$2" "$3" prio "${5:-1}" bpf da pinned "$LAB_BPFFS/vlan-emu/$4"
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
    ip -n "$NS_FWD" addr add "$FWD_VLAN_ADDR/24" dev "$UPPER" && ip -n "$NS_FWD" link set "$UPPER" up || return 1
    if [[ $MODE == emulated ]]; then
        build_emu || return 1
        tc_prog "$NS_CLIENT" c0 egress access_egress &&
            tc_prog "$NS_CLIENT" c0 ingress access_ingress &&
            tc_prog "$NS_FWD" "${UPPER}p" ingress upper_tx || return 1
    fi
    ip -n "$NS_CLIENT" route del default 2>/dev/null
    ip -n "$NS_CLIENT" addr flush dev c0
    ip netns exec "$NS_CLIENT" ethtool -K c0 txvlan off >/dev/null 2>&1
    if [[ $MODE == real ]]; then
        ip -n "$NS_CLIENT" link add link c0 name "c0.$VID" type vlan id "$VID" &&
            ip -n "$NS_CLIENT" addr add "$CLIENT_VLAN_ADDR/24" dev "c0.$VID" &&
            ip -n "$NS_CLIENT" link set "c0.$VID" up || return 1
    else
        ip -n "$NS_CLIENT" addr add "$CLIENT_VLAN_ADDR/24" dev c0 || return 1
    fi
    ip -n "$NS_CLIENT" route add default via "$FWD_VLAN_ADDR" || return 1

    head -c 8M /dev/urandom >"$WORK/blob"
    SHA=$(sha256sum <"$WORK/blob" | cut -d' ' -f1)
    background "$NS_BACKEND" "$WORK/http.log" \
        python3 -m http.server --bind "$BACKEND_ADDR" --directory "$WORK" "$HTTP_PORT"
    background "$NS_BACKEND" "$WORK/udp.log" \
        socat "UDP4-LISTEN:$UDP_PORT,bind=$BACKEND_ADDR,fork,reuseaddr" EXEC:cat
    wait_tcp "$NS_BACKEND" "$BACKEND_ADDR" "$HTTP_PORT" || { echo "e2e-vlan: backend did not start" >&2; return 1; }
}

case_attach() {
    local out upper lower
    if [[ $MODE_ARG == afpacket ]]; then
        out=$(xfwd attach f0 f1 --mode afpacket 2>&1) || { fail "attach: $out"; return 1; }
        xfwd status --json | python3 -c "import json,sys; d=json.load(sys.stdin)
assert d.get('afpacket_forwarder_pid') and all(i['mode'] == 'afpacket' for i in d['interfaces'])" ||
            { fail "not attached in afpacket mode: $out"; return 1; }
    else
        out=$(xfwd attach f0 f1 2>&1) || { fail "attach: $out"; return 1; }
    fi
    if [[ $MODE == emulated ]]; then
        # XDP mode: the trunk side of the stand-in runs after XDP, before
        # xdpfwd's slow-path filter (which only takes frames XDP marked).
        # afpacket mode: after xdpfwd's classifier (priority 0x5844), like
        # a VLAN device's receive path after TC ingress.
        if [[ $MODE_ARG == afpacket ]]; then
            tc_prog "$NS_FWD" f0 ingress trunk_ingress 30000 || { fail "trunk filter"; return 1; }
        else
            tc_prog "$NS_FWD" f0 ingress trunk_ingress || { fail "trunk filter"; return 1; }
        fi
        # What attach writes for a real f0.100: lower f0, one 802.1Q tag,
        # VLAN id VID (PCP 0), its IPv4 address (SNAT source), no IPv6.
        upper=$(ifindex "$NS_FWD" "$UPPER")
        lower=$(ifindex "$NS_FWD" f0)
        # shellcheck disable=SC2046 # byte lists split on purpose
        bpftool map update pinned "$LAB_PIN_DIR/xdpfwd_vlans" key hex $(le32 "$upper") \
            value hex $(le32 "$lower") 01 00 $(printf '%02x %02x' $((VID >> 8)) $((VID & 255))) 00 00 00 00 \
            $(echo "$FWD_VLAN_ADDR" | tr '.' ' ' | xargs printf '%02x %02x %02x %02x') \
            00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 || { fail "bpftool map update"; return 1; }
    fi
    bpftool map dump pinned "$LAB_PIN_DIR/xdpfwd_vlans" 2>/dev/null | grep -q key || { fail "xdpfwd_vlans is empty"; return 1; }
    if ! xfwd rule add tcp "$TCP_LISTEN" "$BACKEND_ADDR:$HTTP_PORT" >/dev/null ||
        ! xfwd rule add udp "$UDP_LISTEN" "$BACKEND_ADDR:$UDP_PORT" >/dev/null; then
        fail "rule add"
        return 1
    fi
}

case_download() {
    local got code
    code=$(ip netns exec "$NS_CLIENT" curl -sS --max-time 30 --connect-timeout 5 -o "$WORK/got" \
        -w '%{http_code}' "http://$TCP_LISTEN/blob" 2>&1) || { fail "curl: $code"; return 1; }
    [[ $code == 200 ]] || { fail "HTTP $code"; return 1; }
    got=$(sha256sum <"$WORK/got" | cut -d' ' -f1)
    [[ $got == "$SHA" ]] || fail "sha256 $got, want $SHA"
}

case_udp() {
    local i token reply
    for ((i = 1; i <= 5; i++)); do
        token="xdpfwd-vlan-$$-$i-$RANDOM"
        reply=$(printf '%s\n' "$token" | ip netns exec "$NS_CLIENT" timeout 5 socat -T3 - "UDP4:$UDP_LISTEN" 2>/dev/null)
        [[ $reply == "$token" ]] || { fail "request $i: sent '$token', got '$(one_line "$reply")'"; return 1; }
    done
}

# Both directions went through the forwarder's own egress (a tag pushed on
# every reply by xdpfwd, not by the kernel's VLAN device via the slow path,
# which only the first packet of a flow to an unresolved neighbour takes),
# and the upper device received only neighbour traffic, no forwarded flow.
case_counters() {
    local json upper_rx
    # FastPath publishes its counters every 200 ms.
    [[ $MODE_ARG == afpacket ]] && sleep 0.5
    json=$(xfwd stats --json) || { fail "stats"; return 1; }
    upper_rx=$(ip netns exec "$NS_FWD" cat "/sys/class/net/$UPPER/statistics/rx_packets") || { fail "upper stats"; return 1; }
    python3 - "$json" "$upper_rx" <<'EOF' || { fail "$(one_line "$json")"; return 1; }
import json, sys
s = json.loads(sys.argv[1])
g = s["global"]
rules = s["rules"]
print("# counters: " + " ".join(f"{k}={v}" for k, v in sorted(g.items()) if v) + f"; {sys.argv[2]} packets up the VLAN upper")
assert g["drop_vlan"] == 0, "drop_vlan"
assert g["verdict_redirect"] > 1000, "few redirects"
assert g["pass_slowpath"] <= 2, "slow path"
assert int(sys.argv[2]) < 100, "forwarded packets reached the VLAN upper"
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
    run_case "both directions in $path, nothing dropped for VLAN" case_counters
    echo "e2e-vlan: $PASSED passed, $FAILED failed"
    ((FAILED == 0))
}

main
