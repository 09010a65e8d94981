#!/usr/bin/env bash
# End-to-end tests of xdpfwd on the three-namespace lab (scripts/lab.sh), with
# real peers: python3 http.server, curl, socat.
#
#   scripts/e2e.sh [--xdpfwd PATH] [--mode xdp|afpacket]
#
# Prints one `ok - NAME` / `not ok - NAME: reason` line per case and ends with
# `e2e: N passed, M failed`; exits 1 if any case failed. Each case is one
# function below. Every wait and traffic loop is bounded in count and time;
# the lab and every background server are torn down by the trap.
#
# --mode afpacket runs the same cases with `attach --mode afpacket` (FastPath,
# the AF_PACKET forwarder) instead of XDP; the XDP-only generic-mode case is
# replaced by a forwarder crash-and-restart case.
#
# Environment: XDPFWD_LAB_PREFIX (default xfe<pid>, so runs never collide),
# XDPFWD (binary, same as --xdpfwd).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export XDPFWD_LAB_PREFIX=${XDPFWD_LAB_PREFIX:-xfe$$}
# shellcheck source=scripts/lab.sh
source "$ROOT/scripts/lab.sh"
# shellcheck source=scripts/e2e-lib.sh
source "$ROOT/scripts/e2e-lib.sh"

e2e_parse_args e2e 2,17 "$@"
MODE=$E2E_MODE
e2e_require e2e ip ethtool curl socat python3 sha256sum
# Labs of killed runs (their PID gone) would otherwise pile up.
lab_sweep_stale

# Ports and rules used throughout.
HTTP_PORT=8000        # http.server on both backend addresses
TCP_LISTEN=$FWD_CLIENT_SIDE_ADDR:8080
UDP_PORT=5300         # socat echo on the backend
UDP_LISTEN=$FWD_CLIENT_SIDE_ADDR:5353
PEER_PORT_NONE=9000   # peer-address server behind the --snat none rule
PEER_PORT_AUTO=9001   # peer-address server behind the default-snat rule
PEER_LISTEN_NONE=$FWD_CLIENT_SIDE_ADDR:9090
PEER_LISTEN_AUTO=$FWD_CLIENT_SIDE_ADDR:9091
PEER_PORT_FIXED=9002  # peer-address server behind the --snat ADDR rule
PEER_LISTEN_FIXED=$FWD_CLIENT_SIDE_ADDR:9092
SNAT_FIXED_ADDR=198.18.1.10  # extra forwarder address on f1, for --snat ADDR
PARALLEL=20           # concurrent downloads in the parallel case
SERVER_LIFETIME=300   # seconds; every background server is wrapped in timeout
TCP_LISTEN6="[$FWD_CLIENT_SIDE_ADDR6]:8080"
UDP_LISTEN6="[$FWD_CLIENT_SIDE_ADDR6]:5353"
# PMTU case: a far backend behind the backend node over a 1400-byte link.
FAR_ADDR=198.18.2.2
FAR_GW=198.18.2.1
FAR_ADDR6=2001:2:0:2::2
FAR_GW6=2001:2:0:2::1
FAR_MTU=1400
SINK_PORT=9100        # on the far backend: replies with the sha256 of what it got
SINK_LISTEN=$FWD_CLIENT_SIDE_ADDR:9190
SINK_LISTEN6="[$FWD_CLIENT_SIDE_ADDR6]:9190"

WORK=$(mktemp -d /tmp/xdpfwd-e2e.XXXXXX)
# The afpacket forwarder's PID file, options and log (removed with WORK).
export XDPFWD_RUN_DIR=$WORK/run
BG_PIDS=()
PASSED=0
FAILED=0
REASON=""
FWD_BEFORE=""

cleanup() {
    # Finish the teardown even if more signals arrive.
    trap '' INT TERM
    trap - EXIT
    local pid
    for pid in "${BG_PIDS[@]}"; do
        kill "$pid" 2>/dev/null
    done
    for pid in "${BG_PIDS[@]}"; do
        wait "$pid" 2>/dev/null
    done
    lab_down
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- helpers

# xfwd ARGS...: run xdpfwd in the forwarder namespace against the lab's pins.
xfwd() { ip netns exec "$NS_FWD" "$XDPFWD" "$@" --pin-dir "$LAB_PIN_DIR"; }

# capture CMD...: run, leaving OUT, ERR (text) and RC.
capture() {
    "$@" >"$WORK/out" 2>"$WORK/err"
    RC=$?
    OUT=$(<"$WORK/out")
    ERR=$(<"$WORK/err")
}

# wait_udp NS ADDR PORT: wait up to 5 s for a UDP socket bound to ADDR:PORT.
wait_udp() {
    local i
    for ((i = 0; i < 50; i++)); do
        ip netns exec "$1" ss -Hlun "src $2:$3" 2>/dev/null | grep -q . && return 0
        sleep 0.1
    done
    return 1
}

# client_curl URL OUTFILE [CURL ARGS...]: one bounded download, no retries.
# Prints "HTTP_CODE SIZE TIME_CONNECT" (after curl's error, if any); returns
# curl's status.
client_curl() {
    local url=$1 out=$2
    shift 2
    ip netns exec "$NS_CLIENT" curl -sS --max-time 30 --connect-timeout 5 "$@" \
        -o "$out" -w '%{http_code} %{size_download} %{time_connect}' "$url" 2>&1
}

# udp_request PAYLOAD: one UDP datagram from the client to the UDP rule,
# prints the reply (bounded: 3 s).
udp_request() {
    printf '%s\n' "$1" | ip netns exec "$NS_CLIENT" timeout 5 \
        socat -T3 - "UDP4:$UDP_LISTEN" 2>/dev/null
}

# udp_works N: N requests with distinct payloads must all be echoed.
udp_works() {
    local i token reply
    for ((i = 1; i <= $1; i++)); do
        token="xdpfwd-e2e-$$-$i-$RANDOM"
        reply=$(udp_request "$token")
        [[ $reply == "$token" ]] || { fail "request $i: sent '$token', got '$(one_line "$reply")'"; return 1; }
    done
}

# peer_of LISTEN: connect from the client, print what the peer-address
# server saw as our address.
peer_of() {
    ip netns exec "$NS_CLIENT" timeout 5 socat -T3 - "TCP4:$1" </dev/null 2>&1
}

# json_check PYTHON_EXPR: evaluate against JSON on stdin (as `d`); the
# expression's value (True/False) decides; errors print to stdout.
json_check() {
    python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
except Exception as e:
    print("not JSON: %s" % e); sys.exit(2)
def rules(d):
    r = d.get("rules", d) if isinstance(d, dict) else d
    return r if isinstance(r, list) else []
def rule(d, proto, listen):
    for r in rules(d):
        if str(r.get("protocol", "")).lower() == proto and r.get("listen") == listen:
            return r
    return None
try:
    ok = eval("(" + sys.argv[1] + "\n)")
except Exception as e:
    print("%s: %s" % (type(e).__name__, e)); sys.exit(2)
sys.exit(0 if ok else 1)
' "$1"
}

# fwd_sysctls: "F0 F1 F0_6 F1_6" ipv4 and ipv6 forwarding flags in the
# forwarder namespace.
fwd_sysctls() {
    echo "$(ip netns exec "$NS_FWD" sysctl -n net.ipv4.conf.f0.forwarding)" \
        "$(ip netns exec "$NS_FWD" sysctl -n net.ipv4.conf.f1.forwarding)" \
        "$(ip netns exec "$NS_FWD" sysctl -n net.ipv6.conf.f0.forwarding)" \
        "$(ip netns exec "$NS_FWD" sysctl -n net.ipv6.conf.f1.forwarding)"
}

# redirects: global verdict_redirect from stats --json (-1 if unreadable).
redirects() {
    xfwd stats --json 2>/dev/null | python3 -c 'import json, sys; print(json.load(sys.stdin)["global"]["verdict_redirect"])' 2>/dev/null || echo -1
}

xdp_attached() { ip -n "$NS_FWD" link show dev "$1" 2>/dev/null | grep -q 'xdp'; }

# attached IFACE: the forwarder handles IFACE (XDP program on it, or in
# afpacket mode: recorded as afpacket and the forwarder process alive).
attached() {
    if [[ $MODE == xdp ]]; then
        xdp_attached "$1"
    else
        xfwd status --json 2>/dev/null | json_check "
any(i['name'] == '$1' and i['mode'] == 'afpacket' for i in d['interfaces'])
and d.get('afpacket_forwarder_pid') is not None" >/dev/null
    fi
}

# The attach mode argument for this run.
attach_mode() { [[ $MODE == xdp ]] && echo auto || echo afpacket; }

backend_requests() { grep -c '"GET ' "$WORK/http1.log" 2>/dev/null; }

# ---------------------------------------------------------------- setup

setup_lab() {
    lab_up >"$WORK/lab.log" 2>&1 || { cat "$WORK/lab.log" >&2; return 1; }

    mkdir -p "$WORK/www1" "$WORK/www2"
    head -c 16M /dev/urandom >"$WORK/www1/blob"
    head -c 4M /dev/urandom >"$WORK/www2/blob"
    head -c 1M /dev/urandom >"$WORK/www1/small"
    head -c 4M /dev/urandom >"$WORK/upload"
    SHA_UPLOAD=$(sha256sum <"$WORK/upload" | cut -d' ' -f1)
    SHA_SMALL=$(sha256sum <"$WORK/www1/small" | cut -d' ' -f1)
    SHA1=$(sha256sum <"$WORK/www1/blob" | cut -d' ' -f1)
    SHA2=$(sha256sum <"$WORK/www2/blob" | cut -d' ' -f1)

    cat >"$WORK/peer_server.py" <<'EOF'
# Replies to every TCP connection with the peer's address, then closes.
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(16)
while True:
    c, a = s.accept()
    c.sendall((a[0] + "\n").encode())
    c.close()
EOF

    background "$NS_BACKEND" "$WORK/http1.log" \
        python3 -m http.server --bind "$BACKEND_ADDR" --directory "$WORK/www1" "$HTTP_PORT"
    background "$NS_BACKEND" "$WORK/http2.log" \
        python3 -m http.server --bind "$BACKEND_ADDR2" --directory "$WORK/www2" "$HTTP_PORT"
    background "$NS_BACKEND" "$WORK/udp.log" \
        socat "UDP4-LISTEN:$UDP_PORT,bind=$BACKEND_ADDR,fork,reuseaddr" EXEC:cat
    background "$NS_BACKEND" "$WORK/http6.log" \
        python3 -m http.server --bind "$BACKEND_ADDR6" --directory "$WORK/www1" "$HTTP_PORT"
    background "$NS_BACKEND" "$WORK/udp6.log" \
        socat "UDP6-LISTEN:$UDP_PORT,bind=[$BACKEND_ADDR6],fork,reuseaddr" EXEC:cat
    background "$NS_BACKEND" "$WORK/peer-none.log" python3 "$WORK/peer_server.py" "$BACKEND_ADDR" "$PEER_PORT_NONE"
    background "$NS_BACKEND" "$WORK/peer-auto.log" python3 "$WORK/peer_server.py" "$BACKEND_ADDR" "$PEER_PORT_AUTO"
    background "$NS_BACKEND" "$WORK/peer-fixed.log" python3 "$WORK/peer_server.py" "$BACKEND_ADDR" "$PEER_PORT_FIXED"

    # shellcheck disable=SC2015
    wait_tcp "$NS_BACKEND" "$BACKEND_ADDR" "$HTTP_PORT" &&
        wait_tcp "$NS_BACKEND" "$BACKEND_ADDR2" "$HTTP_PORT" &&
        wait_tcp "$NS_BACKEND" "$BACKEND_ADDR" "$PEER_PORT_NONE" &&
        wait_tcp "$NS_BACKEND" "$BACKEND_ADDR" "$PEER_PORT_AUTO" &&
        wait_tcp "$NS_BACKEND" "$BACKEND_ADDR" "$PEER_PORT_FIXED" &&
        wait_udp "$NS_BACKEND" "$BACKEND_ADDR" "$UDP_PORT" &&
        wait_tcp "$NS_BACKEND" "$BACKEND_ADDR6" "$HTTP_PORT" &&
        wait_udp "$NS_BACKEND" "[$BACKEND_ADDR6]" "$UDP_PORT" ||
        { echo "e2e: backend servers did not start" >&2; return 1; }
}

# ---------------------------------------------------------------- cases

# xdpfwd attach f0 f1 succeeds, both carry an XDP program, and forwarding is
# on (bpf_fib_lookup needs it).
case_attach() {
    FWD_BEFORE="$(fwd_sysctls)"
    capture xfwd attach f0 f1 --mode "$(attach_mode)"
    ((RC == 0)) || { fail "attach f0 f1 exit $RC: $ERR"; return; }
    attached f0 || { fail "f0 not attached ($MODE) after attach: $OUT"; return; }
    attached f1 || { fail "f1 not attached ($MODE) after attach: $OUT"; return; }
    if [[ $MODE == xdp ]]; then
        [[ $(fwd_sysctls) == "1 1 1 1" ]] || fail "forwarding (f0 f1, v4 then v6) is '$(fwd_sysctls)' after attach"
    else
        # FastPath forwards IPv4 only: it turns on IPv4 forwarding alone.
        [[ $(fwd_sysctls | cut -d' ' -f1-2) == "1 1" ]] || fail "ipv4 forwarding (f0 f1) is '$(fwd_sysctls)' after attach"
    fi
}

# status names both attached interfaces.
case_status() {
    capture xfwd status
    ((RC == 0)) || { fail "status exit $RC: $ERR"; return; }
    if ! grep -qw f0 <<<"$OUT" || ! grep -qw f1 <<<"$OUT"; then
        fail "status does not list f0 and f1: $OUT"
        return
    fi
    capture xfwd status --json
    ((RC == 0)) || { fail "status --json exit $RC: $ERR"; return; }
    json_check 'True' <<<"$OUT" >/dev/null || fail "status --json is not JSON: $OUT"
}

# The forwarding is XDP's, not the kernel's: with the TCP and UDP rules live,
# there is no NAT anywhere in the fwd namespace.
case_no_kernel_nat() {
    local nft ipt
    if command -v nft >/dev/null; then
        nft=$(ip netns exec "$NS_FWD" nft list ruleset 2>&1) || { fail "nft list ruleset: $nft"; return; }
        grep -Eqi 'type nat|[sd]nat|masquerade|redirect' <<<"$nft" && { fail "nft NAT rules present: $nft"; return; }
    fi
    if command -v iptables-save >/dev/null; then
        ipt=$(ip netns exec "$NS_FWD" iptables-save -t nat 2>/dev/null)
        grep -Eq '^-A ' <<<"$ipt" && { fail "iptables nat rules present: $ipt"; return; }
    fi
    command -v nft >/dev/null || command -v iptables-save >/dev/null || fail "neither nft nor iptables-save installed"
}

# A 16 MB download through the TCP rule is intact; the first connection
# succeeds without retries and without SYN retransmission (connect < 0.9 s).
# flows --json then shows the flow's own counters: its reply direction
# carried at least the file (frame lengths, headers on top).
case_tcp_download() {
    capture xfwd rule add tcp "$TCP_LISTEN" "$BACKEND_ADDR:$HTTP_PORT"
    ((RC == 0)) || { fail "rule add exit $RC: $ERR"; return; }
    local res code size tconn sha i
    res=$(client_curl "http://$TCP_LISTEN/blob" "$WORK/dl1") || { fail "curl failed (first connection): $res"; return; }
    read -r code size tconn <<<"$res"
    [[ $code == 200 ]] || { fail "HTTP $code"; return; }
    sha=$(sha256sum <"$WORK/dl1" | cut -d' ' -f1)
    [[ $sha == "$SHA1" ]] || { fail "sha256 mismatch: got $size bytes"; return; }
    # FastPath adds its gathered counts to the entry within about 250 ms.
    for ((i = 0; i < 15; i++)); do
        capture xfwd flows --json
        json_check "any(f['listen'] == '$TCP_LISTEN' and f['client'].startswith('$CLIENT_ADDR:')
            and f['counters']['reply']['bytes'] >= $(stat -c %s "$WORK/www1/blob") and f['counters']['reply']['packets'] > 0
            and f['counters']['forward']['packets'] > 0 for f in d['flows'])" <<<"$OUT" >/dev/null && break
        sleep 0.2
    done
    ((i < 15)) || { fail "flows --json lacks the download's reply bytes (>= 16 MB): $(one_line "$OUT")"; return; }
    echo "# flows: $(python3 -c 'import json, sys
for f in json.load(sys.stdin)["flows"]:
    c = f["counters"]; print("fwd %d pkts %d B, reply %d pkts %d B" % (c["forward"]["packets"], c["forward"]["bytes"],
        c["reply"]["packets"], c["reply"]["bytes"]), end="; ")' <<<"$OUT")"
    python3 -c "import sys; sys.exit(0 if float('$tconn') < 0.9 else 1)" ||
        fail "connect took ${tconn}s: the first SYN was lost and retransmitted"
}

# $PARALLEL concurrent downloads (distinct flows, distinct SNAT ports) through
# the TCP rule all complete intact.
case_tcp_parallel() {
    local i pids=() failed=0 sha
    for ((i = 1; i <= PARALLEL; i++)); do
        ip netns exec "$NS_CLIENT" curl -sS --max-time 30 --connect-timeout 5 \
            -o "$WORK/par.$i" "http://$TCP_LISTEN/small" 2>"$WORK/par.$i.err" &
        pids+=($!)
    done
    for i in "${!pids[@]}"; do
        wait "${pids[$i]}" || failed=$((failed + 1))
    done
    ((failed == 0)) || { fail "$failed of $PARALLEL downloads failed: $(cat "$WORK"/par.*.err)"; return; }
    for ((i = 1; i <= PARALLEL; i++)); do
        sha=$(sha256sum <"$WORK/par.$i" | cut -d' ' -f1)
        [[ $sha == "$SHA_SMALL" ]] || { fail "download $i corrupted"; return; }
    done
}

# stats --json: the TCP rule forwarded and replied, and XDP redirected.
case_counters() {
    capture xfwd stats --json
    ((RC == 0)) || { fail "stats --json exit $RC: $ERR"; return; }
    local r
    r=$(json_check "
rule(d, 'tcp', '$TCP_LISTEN') is not None
and rule(d, 'tcp', '$TCP_LISTEN')['forward']['packets'] > 0
and rule(d, 'tcp', '$TCP_LISTEN')['reply']['packets'] > 0
and rule(d, 'tcp', '$TCP_LISTEN')['reply']['bytes'] >= 16 * 1024 * 1024
and d['global']['verdict_redirect'] > 0" <<<"$OUT") || fail "unexpected counters ($r): $OUT"
}

# UDP through the rule: the backend's socat echoes every request.
case_udp() {
    capture xfwd rule add udp "$UDP_LISTEN" "$BACKEND_ADDR:$UDP_PORT"
    ((RC == 0)) || { fail "rule add exit $RC: $ERR"; return; }
    udp_works 5
}

# rule add on an existing listener replaces the backend: a download already
# running finishes intact from the old backend, new connections get the new one.
case_backend_change() {
    local inflight res sha i
    ip netns exec "$NS_CLIENT" timeout 40 curl -sS --max-time 35 --limit-rate 4M \
        -o "$WORK/inflight" "http://$TCP_LISTEN/blob" 2>"$WORK/inflight.err" &
    inflight=$!
    # Wait (at most 5 s) until the download is under way.
    for ((i = 0; i < 50; i++)); do
        (($(stat -c %s "$WORK/inflight" 2>/dev/null || echo 0) > 1048576)) && break
        sleep 0.1
    done

    capture xfwd rule add tcp "$TCP_LISTEN" "$BACKEND_ADDR2:$HTTP_PORT"
    ((RC == 0)) || { wait "$inflight"; fail "rule add (replace) exit $RC: $ERR"; return; }
    res=$(client_curl "http://$TCP_LISTEN/blob" "$WORK/dl2") || { wait "$inflight"; fail "curl after change failed: $res"; return; }
    sha=$(sha256sum <"$WORK/dl2" | cut -d' ' -f1)
    [[ $sha == "$SHA2" ]] || { wait "$inflight"; fail "after change got old or bad content ($res)"; return; }

    wait "$inflight" || { fail "in-flight download broke by the change: $(<"$WORK/inflight.err")"; return; }
    sha=$(sha256sum <"$WORK/inflight" | cut -d' ' -f1)
    [[ $sha == "$SHA1" ]] || fail "in-flight download corrupted by the change"
}

# rule list --json shows the current TCP backend and the UDP rule.
case_rule_list() {
    capture xfwd rule list --json
    ((RC == 0)) || { fail "rule list --json exit $RC: $ERR"; return; }
    local r
    r=$(json_check "
rule(d, 'tcp', '$TCP_LISTEN') is not None
and rule(d, 'tcp', '$TCP_LISTEN').get('backend') == '$BACKEND_ADDR2:$HTTP_PORT'
and rule(d, 'udp', '$UDP_LISTEN') is not None" <<<"$OUT") || fail "rules not as expected ($r): $OUT"
}

# rule del stops TCP forwarding on that listener; the UDP rule is untouched.
case_rule_del() {
    capture xfwd rule del tcp "$TCP_LISTEN"
    ((RC == 0)) || { fail "rule del exit $RC: $ERR"; return; }
    local res
    if res=$(client_curl "http://$TCP_LISTEN/blob" "$WORK/dl3" --max-time 5); then
        fail "curl still succeeded after rule del: $res"
        return
    fi
    capture xfwd rule list --json
    json_check "rule(d, 'tcp', '$TCP_LISTEN') is None" <<<"$OUT" >/dev/null || { fail "rule still listed: $OUT"; return; }
    udp_works 3
}

# --snat none (router mode): the backend sees the client's own address.
case_snat_none() {
    capture xfwd rule add tcp "$PEER_LISTEN_NONE" "$BACKEND_ADDR:$PEER_PORT_NONE" --snat none
    ((RC == 0)) || { fail "rule add --snat none exit $RC: $ERR"; return; }
    local seen
    seen=$(peer_of "$PEER_LISTEN_NONE")
    [[ $seen == "$CLIENT_ADDR" ]] || fail "backend saw '$(one_line "$seen")', want $CLIENT_ADDR"
}

# Default snat (auto): the backend sees the forwarder's backend-side address.
case_snat_auto() {
    capture xfwd rule add tcp "$PEER_LISTEN_AUTO" "$BACKEND_ADDR:$PEER_PORT_AUTO"
    ((RC == 0)) || { fail "rule add exit $RC: $ERR"; return; }
    local seen
    seen=$(peer_of "$PEER_LISTEN_AUTO")
    [[ $seen == "$FWD_BACKEND_SIDE_ADDR" ]] || fail "backend saw '$(one_line "$seen")', want $FWD_BACKEND_SIDE_ADDR"
}

# --snat ADDR: the backend sees that address (one the forwarder owns on f1,
# so the backend's ARP for replies is answered).
case_snat_addr() {
    ip -n "$NS_FWD" addr add "$SNAT_FIXED_ADDR/24" dev f1 || { fail "could not add $SNAT_FIXED_ADDR to f1"; return; }
    capture xfwd rule add tcp "$PEER_LISTEN_FIXED" "$BACKEND_ADDR:$PEER_PORT_FIXED" --snat "$SNAT_FIXED_ADDR"
    ((RC == 0)) || { fail "rule add --snat $SNAT_FIXED_ADDR exit $RC: $ERR"; return; }
    local seen
    seen=$(peer_of "$PEER_LISTEN_FIXED")
    [[ $seen == "$SNAT_FIXED_ADDR" ]] || fail "backend saw '$(one_line "$seen")', want $SNAT_FIXED_ADDR"
}

# An address added to f0 after the wildcard rule: not forwarded until
# `xdpfwd sync` re-reads the attached interfaces, then forwarded (no detach).
SYNC_ADDR=198.18.0.9
case_sync() {
    local token reply
    capture xfwd rule add udp "0.0.0.0:15400" "$BACKEND_ADDR:$UDP_PORT"
    ((RC == 0)) || { fail "rule add (wildcard) exit $RC: $ERR"; return; }
    ip -n "$NS_FWD" addr add "$SYNC_ADDR/24" dev f0 || { fail "could not add $SYNC_ADDR to f0"; return; }
    token="xdpfwd-sync-$$-$RANDOM"
    reply=$(printf '%s\n' "$token" | ip netns exec "$NS_CLIENT" timeout 4 \
        socat -T2 - "UDP4:$SYNC_ADDR:15400" 2>/dev/null)
    [[ -z $reply ]] || { fail "forwarded to $SYNC_ADDR before sync: '$(one_line "$reply")'"; return; }
    capture xfwd sync --json
    ((RC == 0)) || { fail "sync exit $RC: $ERR"; return; }
    json_check "d['changed'] and '$SYNC_ADDR' in d['local_addresses']" <<<"$OUT" >/dev/null ||
        { fail "sync --json: $(one_line "$OUT")"; return; }
    reply=$(printf '%s\n' "$token" | ip netns exec "$NS_CLIENT" timeout 5 \
        socat -T3 - "UDP4:$SYNC_ADDR:15400" 2>/dev/null)
    [[ $reply == "$token" ]] || { fail "no echo through $SYNC_ADDR after sync: '$(one_line "$reply")'"; return; }
    capture xfwd sync
    [[ $RC == 0 && $OUT == "in sync: nothing changed" ]] || { fail "second sync: exit $RC: $(one_line "$OUT")"; return; }
    capture xfwd rule del udp "0.0.0.0:15400"
    ((RC == 0)) || fail "rule del exit $RC: $ERR"
    ip -n "$NS_FWD" addr del "$SYNC_ADDR/24" dev f0
}

# expect_error WHAT CMD...: CMD must exit non-zero with exactly one stderr line.
expect_error() {
    local what=$1
    shift
    capture "$@"
    ((RC != 0)) || { fail "$what: exit 0"; return 1; }
    local lines
    lines=$(printf '%s' "$ERR" | grep -c '')
    ((lines == 1)) || { fail "$what: exit $RC with $lines stderr lines: $ERR"; return 1; }
}

# Bad input fails cleanly (usage errors with 64) and leaves the data plane as
# it was.
case_errors() {
    expect_error "port 0" xfwd rule add tcp "$FWD_CLIENT_SIDE_ADDR:0" "$BACKEND_ADDR:80" || return
    ((RC == 64)) || { fail "port 0: exit $RC, want 64 (usage error): $ERR"; return; }
    expect_error "unknown protocol" xfwd rule add sctp "$TCP_LISTEN" "$BACKEND_ADDR:80" || return
    ((RC == 64)) || { fail "unknown protocol: exit $RC, want 64 (usage error): $ERR"; return; }
    expect_error "bad address" xfwd rule add tcp 198.18.0.300:80 "$BACKEND_ADDR:80" || return
    ((RC == 64)) || { fail "bad address: exit $RC, want 64 (usage error): $ERR"; return; }
    expect_error "delete a rule that does not exist" xfwd rule del udp "$FWD_CLIENT_SIDE_ADDR:1" || return
    expect_error "attach nonexistent interface" xfwd attach xfl-nonexistent0 || return
    expect_error "attach f0 twice" xfwd attach f0 || return
    attached f0 || { fail "f0 lost its forwarder after the failed second attach"; return; }
    capture xfwd rule list --json
    json_check "not any(r.get('listen', '').endswith(':0') for r in rules(d))" <<<"$OUT" >/dev/null ||
        fail "a port-0 rule was stored: $OUT"
}

# detach --all removes XDP from both interfaces, restores the forwarding
# sysctls attach changed, and forwarding stops: a request to a (re-added,
# working) rule no longer reaches the backend.
case_detach() {
    capture xfwd rule add tcp "$TCP_LISTEN" "$BACKEND_ADDR:$HTTP_PORT"
    ((RC == 0)) || { fail "rule re-add exit $RC: $ERR"; return; }
    local res before after
    res=$(client_curl "http://$TCP_LISTEN/blob" "$WORK/dl4") || { fail "curl before detach failed: $res"; return; }
    capture xfwd detach --all
    ((RC == 0)) || { fail "detach --all exit $RC: $ERR"; return; }
    xdp_attached f0 && { fail "f0 still has xdp: $(ip -n "$NS_FWD" link show dev f0)"; return; }
    xdp_attached f1 && { fail "f1 still has xdp: $(ip -n "$NS_FWD" link show dev f1)"; return; }
    [[ -n $(ip netns exec "$NS_FWD" tc filter show dev f0 ingress 2>/dev/null) ]] &&
        { fail "f0 still has a tc ingress filter: $(ip netns exec "$NS_FWD" tc filter show dev f0 ingress)"; return; }
    [[ -z $(ip netns pids "$NS_FWD" 2>/dev/null) ]] || { fail "processes left in the fwd namespace: $(ip netns pids "$NS_FWD")"; return; }
    [[ $(fwd_sysctls) == "$FWD_BEFORE" ]] ||
        { fail "forwarding sysctls (f0 f1) '$(fwd_sysctls)' after detach, were '$FWD_BEFORE'"; return; }
    before=$(backend_requests)
    if res=$(client_curl "http://$TCP_LISTEN/blob" "$WORK/dl5" --max-time 5); then
        fail "curl still succeeded after detach: $res"
        return
    fi
    sleep 0.5
    after=$(backend_requests)
    ((after == before)) || { fail "backend still got a request after detach ($before -> $after)"; return; }
    # All or nothing: an unknown second interface leaves f0 unattached.
    expect_error "attach f0 nope0" xfwd attach f0 nope0 || return
    ((RC == 64)) || { fail "attach f0 nope0: exit $RC, want 64"; return; }
    if xdp_attached f0; then fail "attach f0 nope0 left f0 attached: $(ip -n "$NS_FWD" link show dev f0)"; fi
}

# After detach, attach again in generic (skb) mode: the same download works.
case_generic_mode() {
    capture xfwd attach f0 f1 --mode generic
    ((RC == 0)) || { fail "attach --mode generic exit $RC: $ERR"; return; }
    ip -n "$NS_FWD" link show dev f0 | grep -q xdpgeneric || { fail "f0 has no generic XDP: $(ip -n "$NS_FWD" link show dev f0)"; return; }
    capture xfwd rule add tcp "$TCP_LISTEN" "$BACKEND_ADDR:$HTTP_PORT"
    ((RC == 0)) || { fail "rule add exit $RC: $ERR"; return; }
    local res sha before after
    before=$(redirects)
    res=$(client_curl "http://$TCP_LISTEN/blob" "$WORK/dl6") || { fail "curl failed: $res"; return; }
    sha=$(sha256sum <"$WORK/dl6" | cut -d' ' -f1)
    [[ $sha == "$SHA1" ]] || { fail "sha256 mismatch ($res)"; return; }
    after=$(redirects)
    ((after - before > 1000)) || { fail "verdict_redirect moved only from $before to $after"; return; }
    capture xfwd detach --all
    ((RC == 0)) || fail "detach --all exit $RC: $ERR"
}

# An IPv6 16 MB download through a NAT66 rule is intact, and the backend
# sees the forwarder's backend-side IPv6 address (--snat auto).
case_ipv6_download() {
    capture xfwd rule add tcp "$TCP_LISTEN6" "[$BACKEND_ADDR6]:$HTTP_PORT"
    ((RC == 0)) || { fail "rule add exit $RC: $ERR"; return; }
    local res code size tconn sha
    res=$(client_curl "http://$TCP_LISTEN6/blob" "$WORK/dl6-1" -g) || { fail "curl failed: $res"; return; }
    read -r code size tconn <<<"$res"
    [[ $code == 200 ]] || { fail "HTTP $code"; return; }
    sha=$(sha256sum <"$WORK/dl6-1" | cut -d' ' -f1)
    [[ $sha == "$SHA1" ]] || { fail "sha256 mismatch: got $size bytes"; return; }
    grep -q "^$FWD_BACKEND_SIDE_ADDR6 " "$WORK/http6.log" ||
        { fail "backend log does not show $FWD_BACKEND_SIDE_ADDR6: $(tail -n 2 "$WORK/http6.log")"; return; }
    capture xfwd rule list --json
    json_check "rule(d, 'tcp', '$TCP_LISTEN6') is not None" <<<"$OUT" >/dev/null || fail "IPv6 rule not listed: $OUT"
}

# IPv6 UDP: the backend's socat echoes every request.
case_ipv6_udp() {
    capture xfwd rule add udp "$UDP_LISTEN6" "[$BACKEND_ADDR6]:$UDP_PORT"
    ((RC == 0)) || { fail "rule add exit $RC: $ERR"; return; }
    local i token reply
    for ((i = 1; i <= 5; i++)); do
        token="xdpfwd-e2e6-$$-$i-$RANDOM"
        reply=$(printf '%s\n' "$token" | ip netns exec "$NS_CLIENT" timeout 5 socat -T3 - "UDP6:$UDP_LISTEN6" 2>/dev/null)
        [[ $reply == "$token" ]] || { fail "request $i: sent '$token', got '$(one_line "$reply")'"; return; }
    done
}

# A rule mixing families is refused with a usage error naming both.
case_ipv6_errors() {
    expect_error "cross-family rule" xfwd rule add tcp "$TCP_LISTEN6" "$BACKEND_ADDR:$HTTP_PORT" || return
    ((RC == 64)) || { fail "cross-family: exit $RC, want 64: $ERR"; return; }
    grep -q "one family" <<<"$ERR" || { fail "cross-family message: $ERR"; return; }
    expect_error "unbracketed IPv6" xfwd rule add tcp "$FWD_CLIENT_SIDE_ADDR6:80" "[$BACKEND_ADDR6]:80" || return
    expect_error "link-local listen" xfwd rule add tcp "[fe80::1]:80" "[$BACKEND_ADDR6]:80" || return
}

# far_up: a fourth namespace behind the backend node, whose link towards it
# (b1) has a 1400-byte MTU while the far end (r0) keeps 1500 and so
# advertises a 1460-byte MSS: only PMTU discovery can find the bottleneck.
far_up() {
    ip netns add "$NS_FAR" || return 1
    ip -n "$NS_FAR" link set lo up
    _lab_sysctl "$NS_FAR" net.ipv6.conf.default.accept_dad=0
    ip -n "$NS_BACKEND" link add b1 mtu "$FAR_MTU" type veth peer name r0 netns "$NS_FAR" || return 1
    ip -n "$NS_BACKEND" addr add "$FAR_GW/24" dev b1
    ip -n "$NS_BACKEND" -6 addr add "$FAR_GW6/64" dev b1 nodad
    ip -n "$NS_FAR" addr add "$FAR_ADDR/24" dev r0
    ip -n "$NS_FAR" -6 addr add "$FAR_ADDR6/64" dev r0 nodad
    ip netns exec "$NS_FAR" ethtool -K r0 tx off >/dev/null
    ip -n "$NS_BACKEND" link set b1 up
    ip -n "$NS_FAR" link set r0 up
    _lab_sysctl "$NS_BACKEND" net.ipv4.ip_forward=1
    _lab_sysctl "$NS_BACKEND" net.ipv6.conf.all.forwarding=1
    ip -n "$NS_FAR" route add default via "$FAR_GW"
    ip -n "$NS_FAR" -6 route add default via "$FAR_GW6"
    ip -n "$NS_FWD" route add "${FAR_ADDR%.*}.0/24" via "$BACKEND_ADDR"
    ip -n "$NS_FWD" -6 route add "${FAR_ADDR6%::*}::/64" via "$BACKEND_ADDR6"
    _lab_wait_up "$NS_FAR" r0 || return 1
    background "$NS_FAR" "$WORK/sink.log" socat "TCP4-LISTEN:$SINK_PORT,bind=$FAR_ADDR,reuseaddr,fork" SYSTEM:sha256sum
    background "$NS_FAR" "$WORK/sink6.log" socat "TCP6-LISTEN:$SINK_PORT,bind=[$FAR_ADDR6],reuseaddr,fork" SYSTEM:sha256sum
    wait_tcp "$NS_FAR" "$FAR_ADDR" "$SINK_PORT" && wait_tcp "$NS_FAR" "$FAR_ADDR6" "$SINK_PORT"
}

# upload_sha ADDRESS: send the 4 MB upload from the client, print the sha256
# the far backend computed (bounded: 30 s).
upload_sha() {
    ip netns exec "$NS_CLIENT" timeout 30 socat -t 25 -T 25 - "TCP:$1" <"$WORK/upload" 2>&1 | cut -d' ' -f1
}

# PMTU through the forwarder: the client uploads 4 MB with full-size DF
# segments; the backend node cannot forward them over its 1400-byte link and
# answers frag-needed / packet-too-big to the SNAT address. xdpfwd translates
# the error back to the client, whose kernel lowers the path MTU of the
# listen address and resends smaller: the upload completes intact, and the
# client's route cache shows MTU 1400. Without the translation the upload
# would black-hole.
case_pmtu() {
    far_up || { fail "could not build the far backend namespace"; return; }
    capture xfwd rule add tcp "$SINK_LISTEN" "$FAR_ADDR:$SINK_PORT"
    ((RC == 0)) || { fail "rule add exit $RC: $ERR"; return; }
    capture xfwd rule add tcp "$SINK_LISTEN6" "[$FAR_ADDR6]:$SINK_PORT"
    ((RC == 0)) || { fail "rule add (IPv6) exit $RC: $ERR"; return; }
    local before after got route
    before=$(xfwd stats --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["global"]["icmp_translated"])')
    got=$(upload_sha "$SINK_LISTEN")
    [[ $got == "$SHA_UPLOAD" ]] || { fail "IPv4 upload through the 1400-byte link: got '$(one_line "$got")'"; return; }
    route=$(ip -n "$NS_CLIENT" route get "$FWD_CLIENT_SIDE_ADDR")
    grep -q "mtu $FAR_MTU" <<<"$route" || { fail "client has no learned IPv4 PMTU: $(one_line "$route")"; return; }
    got=$(upload_sha "$SINK_LISTEN6")
    [[ $got == "$SHA_UPLOAD" ]] || { fail "IPv6 upload through the 1400-byte link: got '$(one_line "$got")'"; return; }
    route=$(ip -n "$NS_CLIENT" -6 route get "$FWD_CLIENT_SIDE_ADDR6")
    grep -q "mtu $FAR_MTU" <<<"$route" || { fail "client has no learned IPv6 PMTU: $(one_line "$route")"; return; }
    # FastPath publishes its counters every 200 ms: give them a moment (bounded).
    local try
    for ((try = 0; try < 15; try++)); do
        after=$(xfwd stats --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["global"]["icmp_translated"])')
        ((after - before >= 2)) && break
        sleep 0.2
    done
    ((after - before >= 2)) || fail "icmp_translated moved from $before to $after"
}

# ---------------------------------------------------------------- ranges

# A wildcard port-range rule: udp 0.0.0.0:15299-15300 -> backend 5299-5300.
# A request to the forwarder's client-side address, port 15300 (the range's
# last port), reaches the echo server on 5300 (the offset carried over);
# rule list shows the range once; a partial delete is refused; the whole
# range deletes.
case_range_wildcard() {
    local token reply
    capture xfwd rule add udp "0.0.0.0:15299-15300" "$BACKEND_ADDR:$((UDP_PORT - 1))"
    ((RC == 0)) || { fail "rule add (range, wildcard) exit $RC: $ERR"; return; }
    capture xfwd status --json
    json_check "'$FWD_CLIENT_SIDE_ADDR' in d['local_addresses'] and '$FWD_BACKEND_SIDE_ADDR' in d['local_addresses']" \
        <<<"$OUT" >/dev/null || { fail "status --json local_addresses: $(one_line "$OUT")"; return; }
    token="xdpfwd-range-$$-$RANDOM"
    reply=$(printf '%s\n' "$token" | ip netns exec "$NS_CLIENT" timeout 5 \
        socat -T3 - "UDP4:$FWD_CLIENT_SIDE_ADDR:15300" 2>/dev/null)
    [[ $reply == "$token" ]] || { fail "no echo through the range's last port: '$(one_line "$reply")'"; return; }
    capture xfwd rule list --json
    json_check "rule(d, 'udp', '0.0.0.0:15299-15300') is not None
and rule(d, 'udp', '0.0.0.0:15299-15300')['backend'] == '$BACKEND_ADDR:$((UDP_PORT - 1))-$UDP_PORT'" <<<"$OUT" >/dev/null ||
        { fail "rule list --json lacks the range: $(one_line "$OUT")"; return; }
    expect_error "partial delete" xfwd rule del udp "0.0.0.0:15300" || return
    capture xfwd rule del udp "0.0.0.0:15299-15300"
    ((RC == 0)) || fail "rule del (range) exit $RC: $ERR"
}

# ---------------------------------------------------------------- Maglev

MG_PORT=8100                       # http.server on three backend addresses
MG_LISTEN=$FWD_CLIENT_SIDE_ADDR:$MG_PORT
MG_ADDRS=("$BACKEND_ADDR" "$BACKEND_ADDR2" 198.18.1.4)
MG_WEIGHTS=(1 2 1)
MG_CONNECTIONS=300

# mg_count I PATH: requests for PATH in backend I's http.server log.
mg_count() {
    local n
    n=$(grep -c "\"GET $2" "$WORK/mg$1.log" 2>/dev/null)
    echo "${n:-0}"
}

# mg_connections N TAG: N sequential HTTP/1.0 requests (one connection each,
# curl's URL globbing: one process), every one must succeed.
mg_connections() {
    mkdir -p "$WORK/mgdl"
    ip netns exec "$NS_CLIENT" timeout 120 curl -sS --max-time 5 --connect-timeout 3 --fail \
        -o "$WORK/mgdl/$2-#1" "http://$MG_LISTEN/small?$2=[1-$1]" 2>"$WORK/mgdl/$2.err"
}

# Three backends behind one rule, weights 1:2:1: 300 connections spread in
# proportion (each count within 35% of its share, about 3.5 standard
# deviations); then the backend carrying a long download is drained
# (weight 0): the download finishes intact and no new connection goes there.
# flows --json shows the live download; flows flush removes the rule's flows.
case_maglev() {
    local i b total=0 want counts=() dl drained before after res
    for i in 1 2 3; do
        mkdir -p "$WORK/mgwww$i"
        printf 'backend %s\n' "$i" >"$WORK/mgwww$i/small"
        ln -sf "$WORK/www1/blob" "$WORK/mgwww$i/big"
    done
    ip -n "$NS_BACKEND" addr add "${MG_ADDRS[2]}/24" dev b0 || { fail "could not add ${MG_ADDRS[2]} to b0"; return; }
    for i in 1 2 3; do
        background "$NS_BACKEND" "$WORK/mg$i.log" \
            python3 -m http.server --bind "${MG_ADDRS[i - 1]}" --directory "$WORK/mgwww$i" "$MG_PORT"
    done
    for i in 1 2 3; do
        wait_tcp "$NS_BACKEND" "${MG_ADDRS[i - 1]}" "$MG_PORT" || { fail "http.server on ${MG_ADDRS[i - 1]} did not start"; return; }
    done
    capture xfwd rule add tcp "$MG_LISTEN" "${MG_ADDRS[0]}:$MG_PORT@${MG_WEIGHTS[0]}" \
        "${MG_ADDRS[1]}:$MG_PORT@${MG_WEIGHTS[1]}" "${MG_ADDRS[2]}:$MG_PORT@${MG_WEIGHTS[2]}"
    ((RC == 0)) || { fail "rule add (3 backends) exit $RC: $ERR"; return; }
    capture xfwd rule list --json
    json_check "len(rule(d, 'tcp', '$MG_LISTEN')['backends']) == 3
and [b['weight'] for b in rule(d, 'tcp', '$MG_LISTEN')['backends']] == [1, 2, 1]" <<<"$OUT" >/dev/null ||
        { fail "rule list --json lacks the backends: $OUT"; return; }

    mg_connections "$MG_CONNECTIONS" spread || { fail "connections failed: $(head -c 300 "$WORK/mgdl/spread.err")"; return; }
    for i in 1 2 3; do
        counts+=("$(mg_count "$i" /small)")
        total=$((total + counts[i - 1]))
    done
    echo "# maglev: $MG_CONNECTIONS connections at weights ${MG_WEIGHTS[*]} reached the backends ${counts[*]}"
    ((total == MG_CONNECTIONS)) || { fail "backends saw $total requests (${counts[*]}), want $MG_CONNECTIONS"; return; }
    for i in 0 1 2; do
        want=$((MG_CONNECTIONS * MG_WEIGHTS[i] / 4))
        ((counts[i] * 100 >= want * 65 && counts[i] * 100 <= want * 135)) ||
            { fail "spread ${counts[*]} is not about 75/150/75 (backend $((i + 1)))"; return; }
    done

    # A long download (16 MB at 2 MB/s), then drain whichever backend has it.
    ip netns exec "$NS_CLIENT" timeout 40 curl -sS --max-time 35 --limit-rate 2M \
        -o "$WORK/mglong" "http://$MG_LISTEN/big" 2>"$WORK/mglong.err" &
    dl=$!
    drained=0
    for ((i = 0; i < 50; i++)); do
        for b in 1 2 3; do
            (($(mg_count "$b" /big) > 0)) && drained=$b
        done
        ((drained > 0)) && break
        sleep 0.1
    done
    ((drained > 0)) || { wait "$dl"; fail "the long download reached no backend"; return; }
    local w=("${MG_WEIGHTS[@]}")
    w[drained - 1]=0
    capture xfwd rule add tcp "$MG_LISTEN" "${MG_ADDRS[0]}:$MG_PORT@${w[0]}" \
        "${MG_ADDRS[1]}:$MG_PORT@${w[1]}" "${MG_ADDRS[2]}:$MG_PORT@${w[2]}"
    ((RC == 0)) || { wait "$dl"; fail "rule add (drain) exit $RC: $ERR"; return; }

    capture xfwd flows --json
    json_check "any(f['listen'] == '$MG_LISTEN' and f['backend'] == '${MG_ADDRS[drained - 1]}:$MG_PORT'
            and f['client'].startswith('$CLIENT_ADDR:') and f['state'] == 'established' for f in d['flows'])
and d['total'] >= 1" <<<"$OUT" >/dev/null || { wait "$dl"; fail "flows --json lacks the live download: $(one_line "$OUT")"; return; }

    before=$(mg_count "$drained" /small)
    mg_connections 60 drained || { wait "$dl"; fail "connections after drain failed: $(head -c 300 "$WORK/mgdl/drained.err")"; return; }
    after=$(mg_count "$drained" /small)
    echo "# maglev: drained backend $drained; 60 new connections, $((after - before)) reached it"
    ((after == before)) || { wait "$dl"; fail "drained backend $drained took $((after - before)) new connections"; return; }

    wait "$dl" || { fail "the download on the drained backend broke: $(<"$WORK/mglong.err")"; return; }
    [[ $(sha256sum <"$WORK/mglong" | cut -d' ' -f1) == "$SHA1" ]] || { fail "the download on the drained backend is corrupted"; return; }

    capture xfwd flows flush --listen "$MG_LISTEN"
    ((RC == 0)) || { fail "flows flush exit $RC: $ERR"; return; }
    if ! [[ $OUT =~ ^flushed\ ([0-9]+) ]] || ((BASH_REMATCH[1] == 0)); then
        fail "flush removed nothing: $OUT"
        return
    fi
    capture xfwd flows --json
    json_check "not any(f['listen'] == '$MG_LISTEN' for f in d['flows'])" <<<"$OUT" >/dev/null ||
        { fail "flows remain after flush: $(one_line "$OUT")"; return; }
    res=$(client_curl "http://$MG_LISTEN/small" "$WORK/mgafter") || { fail "a new connection after flush failed: $res"; return; }
    capture xfwd rule del tcp "$MG_LISTEN"
    ((RC == 0)) || fail "rule del exit $RC: $ERR"
}

# afpacket: the workers' heap allocations per packet in steady state.
# Steady state: every code path this traffic takes has run once (the
# downloads and the UDP echo before this case: new flows, FIB lookups,
# established flows, FIN/RST, counter flushes; first use initialises
# lazily). A second round of the same traffic (a 16 MB download, 5 parallel
# ones, the UDP echo) must then add 0 allocations while the workers read at
# least 10,000 more frames. The report also shows the allocations made
# before the first frame (start-up).
workers_line() {
    python3 -c 'import json,sys
for w in json.load(sys.stdin).get("afpacket_workers") or []:
    print("cpu %(cpu)d: frames %(frames)d allocations %(allocations)d (start-up %(startup_allocations)d) drops %(ring_drops)d tx not sent %(tx_not_sent)d;" % w, end=" ")' <<<"$1" 2>&1 | cut -c1-400
}

case_afpacket_allocations() {
    capture xfwd status --json
    ((RC == 0)) || { fail "status --json exit $RC: $ERR"; return; }
    local before r res i pids=()
    json_check "len(d.get('afpacket_workers') or []) >= 1
and all(w['allocations'] >= w['startup_allocations'] and w['tx_not_sent'] >= 0 for w in d['afpacket_workers'])
and sum(w['frames'] for w in d['afpacket_workers']) >= 10000" <<<"$OUT" >/dev/null ||
        { fail "no worker report, or too few frames after the downloads: $(workers_line "$OUT")"; return; }
    before=$OUT
    res=$(client_curl "http://$TCP_LISTEN/blob" "$WORK/dl_alloc") || { fail "curl failed: $res"; return; }
    for i in 1 2 3 4 5; do
        client_curl "http://$TCP_LISTEN/blob" "$WORK/dl_alloc$i" >/dev/null &
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i" || { fail "a parallel download failed"; return; }; done
    udp_works 5 || return
    sleep 0.5  # the forwarder rewrites its report every 200 ms
    capture xfwd status --json
    r=$(python3 -c '
import json, sys
a = {w["cpu"]: w for w in json.loads(sys.argv[1])["afpacket_workers"]}
b = {w["cpu"]: w for w in json.loads(sys.argv[2])["afpacket_workers"]}
frames = sum(b[c]["frames"] - a[c]["frames"] for c in b)
allocs = sum(b[c]["allocations"] - a[c]["allocations"] for c in b)
print(frames, allocs)
sys.exit(0 if a.keys() == b.keys() and frames >= 10000 and allocs == 0 else 1)' "$before" "$OUT") ||
        { fail "second round: frames, allocations added: $r; before: $(workers_line "$before") after: $(workers_line "$OUT")"; return; }
    echo "# second round: $r (frames, allocations) over the workers"
    # stats shows the same report: the same workers, start-up unchanged,
    # frames only ever growing, still 0 allocations since the round began.
    local status_after=$OUT
    capture xfwd stats --json
    ((RC == 0)) || { fail "stats --json exit $RC: $ERR"; return; }
    r=$(python3 -c '
import json, sys
a = {w["cpu"]: w for w in json.loads(sys.argv[1])["afpacket_workers"]}
s = {w["cpu"]: w for w in json.loads(sys.argv[2])["afpacket_workers"]}
b = {w["cpu"]: w for w in json.loads(sys.argv[3]).get("afpacket_workers") or []}
frames = sum(b[c]["frames"] - a[c]["frames"] for c in b)
allocs = sum(b[c]["allocations"] - a[c]["allocations"] for c in b)
print(frames, allocs)
sys.exit(0 if b.keys() == a.keys() and frames >= 10000 and allocs == 0
         and all(b[c]["frames"] >= s[c]["frames"] and b[c]["startup_allocations"] == s[c]["startup_allocations"]
                 and b[c]["ring_drops"] >= s[c]["ring_drops"] for c in b) else 1)' "$before" "$status_after" "$OUT") ||
        { fail "stats --json workers disagree with status: $r; status: $(workers_line "$status_after") stats: $(workers_line "$OUT")"; return; }
    echo "# second round from stats --json: $r (frames, allocations)"
    local line="afpacket worker on CPU [0-9]*: [0-9]* frames, [0-9]* heap allocations since start ([0-9]* before the first frame), [0-9]* dropped by full RX rings, [0-9]* TX frames not sent"
    capture xfwd status
    grep -q "$line" <<<"$OUT" || fail "status text lacks the worker line: $(one_line "$OUT")"
    capture xfwd stats
    grep -q "^afpacket workers:" <<<"$OUT" && grep -q "^  $line" <<<"$OUT" ||
        fail "stats text lacks the worker lines: $(one_line "$OUT")"
}

# afpacket: frames the egress device refuses are counted and do not stall
# its TX ring. With b0 (f1's peer) at MTU 1280 (not lower: IPv6 would
# lose b0's addresses), three 1428-byte UDP datagrams pass the forwarder's
# FIB check (f1 is at 1500) and veth refuses them (over MTU + 18): the workers' tx_not_sent grows by exactly 3, and once b0
# is back at 1500 the UDP echo works again through the same ring.
tx_not_sent() {
    xfwd stats --json 2>/dev/null |
        python3 -c 'import json,sys; print(sum(w["tx_not_sent"] for w in json.load(sys.stdin)["afpacket_workers"]))' 2>/dev/null ||
        echo -1
}

case_afpacket_tx_not_sent() {
    local before after i
    before=$(tx_not_sent)
    ((before >= 0)) || { fail "no tx_not_sent in stats --json"; return; }
    ip -n "$NS_BACKEND" link set dev b0 mtu 1280 || { fail "could not set b0's MTU"; return; }
    for i in 1 2 3; do
        head -c 1400 /dev/zero | ip netns exec "$NS_CLIENT" timeout 3 socat -u - "UDP4:$UDP_LISTEN" 2>/dev/null
    done
    sleep 0.5  # the forwarder rewrites its report every 200 ms
    after=$(tx_not_sent)
    ip -n "$NS_BACKEND" link set dev b0 mtu 1500 || { fail "could not restore b0's MTU"; return; }
    ((after - before == 3)) || { fail "tx_not_sent went from $before to $after, expected +3"; return; }
    udp_works 3 || return
    capture xfwd status
    grep -q "TX frames not sent" <<<"$OUT" || fail "status text lacks TX frames not sent: $(one_line "$OUT")"
}

# afpacket: kill -9 the forwarder; forwarding stops (the TC classifier still
# takes the packets); attach again restarts it, and it picks the state back
# up from the pinned maps: the rules still forward, counters keep counting.
case_afpacket_restart() {
    # Ring options are checked before anything is set up.
    expect_error "attach --tx-batch 2048" xfwd attach f0 f1 --mode afpacket --tx-batch 2048 || return
    ((RC == 64)) || { fail "--tx-batch 2048: exit $RC, want 64"; return; }
    grep -q -- "--tx-batch 2048: must be 1-1024" <<<"$ERR" || { fail "--tx-batch 2048: $ERR"; return; }
    attached f0 && { fail "--tx-batch 2048 left f0 attached"; return; }
    capture xfwd attach f0 f1 --mode afpacket
    ((RC == 0)) || { fail "attach --mode afpacket exit $RC: $ERR"; return; }
    capture xfwd rule add tcp "$TCP_LISTEN" "$BACKEND_ADDR:$HTTP_PORT"
    ((RC == 0)) || { fail "rule add exit $RC: $ERR"; return; }
    local pid res sha before after
    pid=$(xfwd status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["afpacket_forwarder_pid"])')
    [[ $pid =~ ^[0-9]+$ ]] || { fail "no forwarder pid in status: $pid"; return; }
    kill -9 "$pid"
    sleep 0.3
    attached f0 && { fail "forwarder $pid still reported alive after kill -9"; return; }
    before=$(redirects)
    capture xfwd attach f0 f1 --mode afpacket
    ((RC == 0)) || { fail "re-attach after crash exit $RC: $ERR"; return; }
    grep -q "forwarder restarted" <<<"$OUT" || { fail "re-attach did not say it restarted the forwarder: $OUT"; return; }
    res=$(client_curl "http://$TCP_LISTEN/blob" "$WORK/dl7") || { fail "curl after restart failed: $res"; return; }
    sha=$(sha256sum <"$WORK/dl7" | cut -d' ' -f1)
    [[ $sha == "$SHA1" ]] || { fail "sha256 mismatch after restart ($res)"; return; }
    sleep 0.5  # the forwarder publishes its counters every 200 ms
    after=$(redirects)
    ((after - before > 1000)) || { fail "verdict_redirect moved only from $before to $after"; return; }
    capture xfwd detach --all
    ((RC == 0)) || fail "detach --all exit $RC: $ERR"
}

# A namespace named like a lab of a run whose PID is gone is swept; this
# run's lab and names that are not ours are kept.
case_stale_labs() {
    local dead other
    dead=$(bash -c 'echo $$')
    [[ ! -d /proc/$dead ]] || fail "pid $dead is still alive" || return
    other=xfz$dead-client
    ip netns add "xfe$dead-client" || fail "ip netns add xfe$dead-client" || return
    ip netns add "$other" || { ip netns del "xfe$dead-client"; fail "ip netns add $other"; return; }
    lab_sweep_stale 2>/dev/null
    local left=""
    lab_ns_exists "xfe$dead-client" && left="xfe$dead-client was not removed"
    lab_ns_exists "$other" || left="$left $other was removed"
    lab_ns_exists "$NS_FWD" || left="$left this run's $NS_FWD was removed"
    ip netns del "xfe$dead-client" 2>/dev/null
    ip netns del "$other" 2>/dev/null
    [[ -z $left ]] || fail "$left"
}

# ---------------------------------------------------------------- main

CASES=(
    "attach f0 f1:case_attach"
    "status lists interfaces:case_status"
    "tcp 16 MB download, first connection:case_tcp_download"
    "tcp $PARALLEL parallel downloads:case_tcp_parallel"
    "stats counters moved:case_counters"
    "udp echo:case_udp"
    "no kernel NAT in fwd namespace:case_no_kernel_nat"
    "ipv6 16 MB download:case_ipv6_download"
    "ipv6 udp echo:case_ipv6_udp"
    "ipv6 usage errors:case_ipv6_errors"
    "pmtu: icmp errors translated back:case_pmtu"
    "port range on the wildcard address:case_range_wildcard"
    "maglev 3 weighted backends, drain, flows, flush:case_maglev"
    "live backend change:case_backend_change"
    "rule list --json:case_rule_list"
    "rule del stops tcp, udp unaffected:case_rule_del"
    "snat none shows client address:case_snat_none"
    "snat auto shows forwarder address:case_snat_auto"
    "snat ADDR shows that address:case_snat_addr"
    "sync picks up a new local address:case_sync"
    "error paths:case_errors"
    "detach --all:case_detach"
    "generic mode after re-attach:case_generic_mode"
    "stale labs of killed runs swept, live ones kept:case_stale_labs"
)
if [[ $MODE == afpacket ]]; then
    # Generic mode is XDP's. The crash and restart case is FastPath's own.
    AFPACKET_CASES=()
    for entry in "${CASES[@]}"; do
        case ${entry##*:} in
        case_udp) AFPACKET_CASES+=("$entry" "workers allocate nothing per packet:case_afpacket_allocations"
                                   "refused TX frames counted, ring not stalled:case_afpacket_tx_not_sent") ;;
        case_generic_mode) AFPACKET_CASES+=("forwarder crash and restart:case_afpacket_restart") ;;
        *) AFPACKET_CASES+=("$entry") ;;
        esac
    done
    CASES=("${AFPACKET_CASES[@]}")
fi

main() {
    local started=$SECONDS entry name fn
    echo "e2e: xdpfwd=$XDPFWD lab=$LAB_PREFIX mode=$MODE"
    if ! setup_lab; then
        echo "not ok - lab setup"
        echo "e2e: 0 passed, 1 failed"
        exit 1
    fi
    for entry in "${CASES[@]}"; do
        name=${entry%%:*}
        fn=${entry##*:}
        if [[ $fn != case_attach && $fn != case_generic_mode && $fn != case_afpacket_restart && $fn != case_stale_labs ]] && ! attached f0; then
            echo "not ok - $name: skipped, xdpfwd is not attached ($MODE)"
            FAILED=$((FAILED + 1))
            continue
        fi
        run_case "$name" "$fn"
    done
    echo "e2e: took $((SECONDS - started)) s"
    echo "e2e: $PASSED passed, $FAILED failed"
    ((FAILED == 0))
}

main
