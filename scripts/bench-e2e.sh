#!/usr/bin/env bash
# Behaviour tests of the benchmark tooling (never timing): `xdpfwd gen`
# (both engines) on a throwaway veth pair, scripts/pktgen.sh, and a
# `bench topo --quick` run whose table must be complete and consistent and
# whose sampled frames must be correctly translated (IPv4 and IPv6 rows:
# their ratios refer to the bare limit and nftables DNAT of their family).
#
#   scripts/bench-e2e.sh [--xdpfwd PATH]
#
# Prints `ok - NAME` / `not ok - NAME: reason` per case and a summary line;
# exits 1 if any case failed. Namespaces are named xfb<pid>* and removed by
# the trap; every traffic run is bounded in count and time.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
XDPFWD=${XDPFWD:-}
while (($#)); do
    case "$1" in
    --xdpfwd) XDPFWD=${2:?--xdpfwd needs a path}; shift 2 ;;
    -h | --help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "bench-e2e: unknown argument '$1'" >&2; exit 64 ;;
    esac
done
[[ -n $XDPFWD ]] || XDPFWD="$(cd "$ROOT" && swift build --show-bin-path 2>/dev/null)/xdpfwd"
XDPFWD=$(realpath -e "$XDPFWD" 2>/dev/null) || { echo "bench-e2e: xdpfwd binary not found (use --xdpfwd PATH)" >&2; exit 1; }
((EUID == 0)) || { echo "bench-e2e: must run as root" >&2; exit 1; }
# Namespaces of killed runs (xfb<PID> whose PID is gone) go first.
# shellcheck source=scripts/lab.sh
source "$ROOT/scripts/lab.sh"
lab_sweep_stale

NS=xfb$$
WORK=$(mktemp -d /tmp/xdpfwd-bench-e2e.XXXXXX)
PASSED=0 FAILED=0 REASON=""

cleanup() {
    trap '' INT TERM
    trap - EXIT
    ip netns del "$NS" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() { REASON=$*; return 1; }
run_case() {
    REASON=""
    if "$2"; then
        echo "ok - $1"; PASSED=$((PASSED + 1))
    else
        echo "not ok - $1: $(printf '%s' "${REASON:-failed}" | tr '\n' ' ' | cut -c1-400)"; FAILED=$((FAILED + 1))
    fi
}

# A veth pair g0 <-> p0 in one namespace; p0 has GRO on, so it accepts
# the generator's XDP_TX'ed frames without an XDP program of its own.
setup_pair() {
    ip netns add "$NS" &&
        ip netns exec "$NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 &&
        ip -n "$NS" link add g0 type veth peer name p0 &&
        ip -n "$NS" link set g0 up && ip -n "$NS" link set p0 up &&
        ip netns exec "$NS" ethtool -K p0 gro on >/dev/null &&
        ip netns exec "$NS" ethtool -K g0 tx off >/dev/null
}
rx_packets() { ip netns exec "$NS" cat /sys/class/net/p0/statistics/rx_packets; }
json_get() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {"d": d}))' "$@"; }

# gen_engine ENGINE [ARGS...]: 1000 frames, counted at the peer, JSON says the same.
gen_engine() {
    local before after mac
    mac=$(ip netns exec "$NS" cat /sys/class/net/p0/address)
    before=$(rx_packets)
    timeout 30 ip netns exec "$NS" "$XDPFWD" gen g0 --dst-mac "$mac" --count 1000 --rate 100000 --flows 4 \
        --size 128 --method "$@" --json >"$WORK/gen.json" 2>"$WORK/gen.err" || fail "exit $?: $(cat "$WORK/gen.err")" || return
    sleep 0.2
    after=$(rx_packets)
    [[ $(json_get "$WORK/gen.json" 'd["sent"]') == 1000 ]] || fail "sent: $(cat "$WORK/gen.json")" || return
    [[ $(json_get "$WORK/gen.json" 'd["engine"]') == "$1" ]] || fail "engine: $(cat "$WORK/gen.json")" || return
    [[ $(json_get "$WORK/gen.json" 'd["size"] == 128 and d["flows"] == 4 and d["pps"] > 0') == True ]] || fail "fields: $(cat "$WORK/gen.json")" || return
    ((after - before == 1000)) || fail "peer received $((after - before)) frames, expected 1000"
}
case_gen_live() { gen_engine live; }
case_gen_afpacket() { gen_engine afpacket; }
case_gen_ipv6() {
    gen_engine live --src '[2001:2::2]:1024' --dst '[2001:2::1]:5000' || return
    gen_engine afpacket --src '[2001:2::2]:1024' --dst '[2001:2::1]:5000'
}

case_gen_text() {
    local out
    out=$(timeout 30 ip netns exec "$NS" "$XDPFWD" gen g0 --dst-mac 02:00:00:00:00:01 --count 10 2>&1) || fail "exit $?: $out" || return
    [[ $out =~ ^gen\ live\ g0:\ sent\ 10\ frames ]] || fail "output: $out"
}

case_gen_usage() {
    local rc
    ip netns exec "$NS" "$XDPFWD" gen g0 --count 1 >/dev/null 2>&1; rc=$?
    ((rc == 64)) || fail "missing --dst-mac: exit $rc" || return
    ip netns exec "$NS" "$XDPFWD" gen g0 --dst-mac 02:00:00:00:00:01 --size 59 --count 1 >/dev/null 2>&1; rc=$?
    ((rc == 64)) || fail "--size 59: exit $rc" || return
    ip netns exec "$NS" "$XDPFWD" gen nosuch0 --dst-mac 02:00:00:00:00:01 --count 1 >/dev/null 2>&1; rc=$?
    ((rc == 64)) || fail "unknown interface: exit $rc" || return
    ip netns exec "$NS" "$XDPFWD" gen g0 --dst-mac 02:00:00:00:00:01 --src '[2001:2::2]:1024' --count 1 >/dev/null 2>&1; rc=$?
    ((rc == 64)) || fail "IPv6 source, IPv4 destination: exit $rc" || return
    ip netns exec "$NS" "$XDPFWD" gen g0 --dst-mac 02:00:00:00:00:01 --src '[2001:2::2]:1024' --dst '[2001:2::1]:5000' \
        --size 61 --count 1 >/dev/null 2>&1; rc=$?
    ((rc == 64)) || fail "IPv6 --size 61: exit $rc"
}

case_pktgen() {
    local out rc mac
    mac=$(ip netns exec "$NS" cat /sys/class/net/p0/address)
    out=$(timeout 60 ip netns exec "$NS" "$ROOT/scripts/pktgen.sh" g0 --dst-mac "$mac" --count 1000 --json 2>&1); rc=$?
    if [[ -d /proc/net/pktgen ]]; then
        ((rc == 0)) || fail "exit $rc: $out" || return
        [[ $out == *'"engine" : "pktgen"'* ]] || fail "output: $out"
    else
        # Missing module: one line, exit 69.
        ((rc == 69)) || fail "exit $rc, expected 69: $out" || return
        [[ $(printf '%s\n' "$out" | wc -l) == 1 && $out == *"pktgen is missing"* ]] || fail "output: $out"
    fi
}

# No namespace of the bench run with this pid is left (other runs on the
# host, e.g. a parallel test, have their own pids).
topo_left_behind() { ip netns list | grep "^xfb$1-"; }

case_topo_quick() {
    local pid rc
    # The shell records its pid and execs xdpfwd, which keeps it: the
    # topology's namespaces are named after that pid.
    timeout 300 bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$WORK/topo.pid" \
        "$XDPFWD" bench topo --quick --json >"$WORK/topo.json" 2>"$WORK/topo.err"
    rc=$?
    pid=$(cat "$WORK/topo.pid")
    ((rc == 0)) || fail "exit $rc: $(tail -3 "$WORK/topo.err") $(head -c 2000 "$WORK/topo.json")" || return
    python3 - "$WORK/topo.json" <<'PY' 2>"$WORK/check.err" || fail "$(cat "$WORK/topo.json.err" "$WORK/check.err" 2>/dev/null)" || return
import json, sys
d = json.load(open(sys.argv[1]))
problems = []
keys = {r["key"]: r for r in d["results"]}
for key in ["bare", "xdpfwd-native", "xdpfwd-generic", "nftables-dnat", "udp-relay",
            "xdpfwd-afpacket", "xdpfwd-afpacket-qdisc", "afpacket-floor", "afpacket-floor-sendmmsg",
            "xdpfwd-native-rules", "xdpfwd-native-dnat", "xdpfwd-native-dnat-flows",
            "bare6", "xdpfwd-native6", "xdpfwd-native6-dnat", "nftables-dnat6", "xdpfwd-afpacket6"]:
    r = keys.get(key)
    if r is None: problems.append(f"{key}: missing"); continue
    if r.get("error"): problems.append(f"{key}: {r['error']}"); continue
    if len(r["runs"]) != d["rounds"]: problems.append(f"{key}: {len(r['runs'])} runs")
    for run in r["runs"]:
        if not 0 < run["delivered"] <= run["sent"]: problems.append(f"{key}: delivered {run['delivered']} of {run['sent']}")
        if not run.get("ns_per_packet") or run["ns_per_packet"] <= 0: problems.append(f"{key}: ns/packet {run['ns_per_packet']}")
        if not isinstance(run.get("sink_dropped"), int) or run["sink_dropped"] < 0: problems.append(f"{key}: sink_dropped {run.get('sink_dropped')}")
    if r["samples_checked"] < 16: problems.append(f"{key}: {r['samples_checked']} samples")
    if r["sample_problems"]: problems.append(f"{key}: {r['sample_problems'][0]}")
    if r.get("ns_ratio_to_bare") is None or r.get("pps_per_core_ratio_to_nftables") is None: problems.append(f"{key}: ratios missing")
    if r["family"] != ("ipv6" if key.endswith(("6", "6-dnat")) else "ipv4"): problems.append(f"{key}: family {r['family']}")
for key in ["bare", "bare6"]:
    if abs(keys[key]["ns_ratio_to_bare"] - 1) > 1e-9: problems.append(f"{key} ratio is not 1")
for key in ["nftables-dnat", "nftables-dnat6"]:
    if abs(keys[key]["pps_per_core_ratio_to_nftables"] - 1) > 1e-9: problems.append(f"{key} ratio is not 1")
if keys["xdpfwd-native-rules"]["rules"] != 100000: problems.append("rule-scaling case has not 100000 rules")
if not d["machine"].get("cache_before"): problems.append("no cache probe")
if keys["afpacket-floor"]["ns_ratio_to_afpacket_floor"] != 1: problems.append("floor ratio to itself is not 1")
if keys["xdpfwd-afpacket"].get("ns_ratio_to_afpacket_floor") is None: problems.append("FastPath has no ratio to the floor")
open(sys.argv[1] + ".err", "w").write("; ".join(problems))
sys.exit(1 if problems else 0)
PY
    ! topo_left_behind "$pid" >/dev/null || fail "namespaces left behind: $(topo_left_behind "$pid")"
}

case_topo_interrupt() {
    local pid rc i
    "$XDPFWD" bench topo --only xdpfwd-native --rounds 5 --duration 2 >/dev/null 2>&1 &
    pid=$!
    for ((i = 0; i < 50; i++)); do
        ip netns list | grep -q "^xfb$pid-fwd" && break
        sleep 0.1
    done
    sleep 1
    kill -INT "$pid"
    wait "$pid"; rc=$?
    ((rc == 130)) || fail "exit $rc after SIGINT, expected 130" || return
    ! topo_left_behind "$pid" >/dev/null || fail "namespaces left behind: $(topo_left_behind "$pid")" || return
    ! grep -q " /run/xdpfwd-bench/xfb$pid " /proc/mounts || fail "bpffs left mounted"
}

case_topo_usage() {
    local rc
    "$XDPFWD" bench topo --only nosuch >/dev/null 2>&1; rc=$?
    ((rc == 64)) || fail "--only nosuch: exit $rc" || return
    "$XDPFWD" bench topo --gen-batch 257 >/dev/null 2>"$WORK/usage.err"; rc=$?
    ((rc == 64)) || fail "--gen-batch 257: exit $rc" || return
    grep -q -- "--gen-batch 257: must be 1-256" "$WORK/usage.err" || fail "--gen-batch 257: $(cat "$WORK/usage.err")" || return
    # IPv6 rows cannot send 60-byte frames: refused before any namespace.
    "$XDPFWD" bench topo --size 60 >/dev/null 2>"$WORK/usage.err"; rc=$?
    ((rc == 64)) || fail "--size 60: exit $rc" || return
    grep -q -- "--size 60 is below the 62 bytes of an IPv6 UDP frame" "$WORK/usage.err" || fail "--size 60: $(cat "$WORK/usage.err")"
}

if ! setup_pair; then
    echo "bench-e2e: could not create the veth pair" >&2
    exit 1
fi
run_case "gen live frames: 1000 frames reach the peer, JSON agrees" case_gen_live
run_case "gen AF_PACKET TX ring: 1000 frames reach the peer, JSON agrees" case_gen_afpacket
run_case "gen IPv6 (both engines): 1000 frames reach the peer, JSON agrees" case_gen_ipv6
run_case "gen text output" case_gen_text
run_case "gen usage errors exit 64" case_gen_usage
run_case "pktgen.sh runs, or says in one line that pktgen is missing (69)" case_pktgen
run_case "bench topo --quick: every forwarder measured, samples translated, counts consistent" case_topo_quick
run_case "bench topo interrupted: namespaces and mounts removed, exit 130" case_topo_interrupt
run_case "bench topo usage errors exit 64" case_topo_usage
echo "bench-e2e: $PASSED passed, $FAILED failed"
((FAILED == 0))
