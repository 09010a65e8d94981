#!/usr/bin/env bash
# A short tour of xdpfwd on the lab (run as root): builds the release binary,
# installs missing dependencies, creates the lab (scripts/lab.sh), attaches
# xdpfwd to f0 and f1, pushes a TCP and a UDP rule, drives a download and some
# UDP requests through them while printing live counters, then tears down.
#
# Environment: XDPFWD_LAB_PREFIX (default xfd), XDPFWD_SCRATCH_PATH.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export XDPFWD_LAB_PREFIX=${XDPFWD_LAB_PREFIX:-xfd}
# shellcheck source=scripts/lab.sh
source "$ROOT/scripts/lab.sh"

SWIFT_ARGS=(-c release)
[[ -n ${XDPFWD_SCRATCH_PATH:-} ]] && SWIFT_ARGS+=(--scratch-path "$XDPFWD_SCRATCH_PATH")

TCP_LISTEN=$FWD_CLIENT_SIDE_ADDR:8080
TCP_BACKEND=$BACKEND_ADDR:8000
UDP_LISTEN=$FWD_CLIENT_SIDE_ADDR:5353
UDP_BACKEND=$BACKEND_ADDR:5300

WORK=$(mktemp -d /tmp/xdpfwd-demo.XXXXXX)
BG_PIDS=()

cleanup() {
    trap '' INT TERM
    trap - EXIT
    local pid
    for pid in "${BG_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${BG_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    lab_down
    rm -rf "$WORK"
    echo "demo: lab torn down"
}

say() { printf '\n### %s\n' "$*"; }

# xdpfwd ARGS...: echo and run xdpfwd in the forwarder namespace.
xdpfwd() {
    echo "+ xdpfwd $*"
    ip netns exec "$NS_FWD" "$BIN" "$@" --pin-dir "$LAB_PIN_DIR"
}

# bg NS CMD...: a background process in a namespace, at most 120 s.
bg() {
    local ns=$1
    shift
    ip netns exec "$ns" timeout 120 "$@" >>"$WORK/bg.log" 2>&1 &
    BG_PIDS+=($!)
}

((EUID == 0)) || { echo "demo: must run as root" >&2; exit 1; }

say "dependencies and release build"
"$ROOT/scripts/install-deps.sh"
(cd "$ROOT" && swift build "${SWIFT_ARGS[@]}" --product xdpfwd)
BIN="$(cd "$ROOT" && swift build "${SWIFT_ARGS[@]}" --show-bin-path)/xdpfwd"

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "lab"
lab_up

say "backends: http.server on $TCP_BACKEND, socat UDP echo on $UDP_BACKEND"
head -c 64M /dev/urandom >"$WORK/blob"
bg "$NS_BACKEND" python3 -m http.server --bind "$BACKEND_ADDR" --directory "$WORK" "${TCP_BACKEND#*:}"
bg "$NS_BACKEND" socat "UDP4-LISTEN:${UDP_BACKEND#*:},bind=$BACKEND_ADDR,fork,reuseaddr" EXEC:cat
for ((i = 0; i < 50; i++)); do
    ip netns exec "$NS_BACKEND" ss -Hltn "src $TCP_BACKEND" | grep -q . && break
    sleep 0.1
done

say "attach and rules"
xdpfwd attach f0 f1
xdpfwd rule add tcp "$TCP_LISTEN" "$TCP_BACKEND"
xdpfwd rule add udp "$UDP_LISTEN" "$UDP_BACKEND"
xdpfwd rule list
xdpfwd status

say "traffic: a rate-limited 64 MB download and 10 UDP requests, live counters"
ip netns exec "$NS_CLIENT" curl -sS --max-time 60 --limit-rate 16M -o "$WORK/download" \
    -w 'curl: %{size_download} bytes in %{time_total} s\n' "http://$TCP_LISTEN/blob" &
BG_PIDS+=($!)
curl_pid=$!
(
    replies=0
    for ((i = 1; i <= 10; i++)); do
        reply=$(echo "ping $i" | ip netns exec "$NS_CLIENT" timeout 3 socat -T0.5 - "UDP4:$UDP_LISTEN" 2>/dev/null)
        [[ $reply == "ping $i" ]] && replies=$((replies + 1))
        sleep 0.2
    done
    echo "udp: $replies of 10 requests echoed"
) &
BG_PIDS+=($!)
udp_pid=$!
xdpfwd stats --watch 1 --count 5
wait "$curl_pid" || echo "demo: download failed"
wait "$udp_pid" || true
if cmp -s "$WORK/blob" "$WORK/download"; then echo "download intact"; else echo "download differs"; fi

say "final counters"
xdpfwd stats
xdpfwd detach --all
