#!/usr/bin/env bash
# Drive the kernel's pktgen (/proc/net/pktgen) with the knobs and output of
# `xdpfwd gen`, for kernels that have it (CONFIG_NET_PKTGEN):
#
#   scripts/pktgen.sh IFACE --dst-mac MAC [--dst ADDR:PORT] [--src ADDR:PORT]
#       [--flows N] [--size BYTES] [--rate PPS] [--duration S] [--count N]
#       [--proto udp] [-j|--json]
#
# Flows vary the UDP source port from the --src port up. --size is the frame
# without FCS, as for `xdpfwd gen`. Prints the same line (or JSON object,
# engine "pktgen") as `xdpfwd gen`. Where pktgen is missing it says so in
# one line and exits 69 (EX_UNAVAILABLE): use `xdpfwd gen` there.
# Usage errors exit 64. Must run as root, in the namespace of IFACE.
set -uo pipefail

die() { echo "pktgen: $1" >&2; exit "${2:-1}"; }

IFACE="" DST=198.18.0.1:5000 SRC=198.18.0.2:1024 DST_MAC="" FLOWS=1 SIZE=64 RATE=0 DURATION="" COUNT="" PROTO=udp JSON=0
while (($#)); do
    case "$1" in
    --dst) DST=${2:?}; shift 2 ;;
    --src) SRC=${2:?}; shift 2 ;;
    --dst-mac) DST_MAC=${2:?}; shift 2 ;;
    --flows) FLOWS=${2:?}; shift 2 ;;
    --size) SIZE=${2:?}; shift 2 ;;
    --rate) RATE=${2:?}; shift 2 ;;
    --duration) DURATION=${2:?}; shift 2 ;;
    --count) COUNT=${2:?}; shift 2 ;;
    --proto) PROTO=${2:?}; shift 2 ;;
    -j | --json) JSON=1; shift ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    -*) die "unknown option '$1'" 64 ;;
    *) [[ -z $IFACE ]] || die "one interface only" 64; IFACE=$1; shift ;;
    esac
done
[[ -n $IFACE ]] || die "an interface is required" 64
[[ -n $DST_MAC ]] || die "--dst-mac is required (the MAC of the next hop)" 64
[[ $PROTO == udp ]] || die "pktgen sends UDP only (--proto udp); TCP SYN needs xdpfwd gen" 64
[[ $SIZE =~ ^[0-9]+$ ]] && ((SIZE >= 60 && SIZE <= 1514)) || die "--size must be 60-1514" 64
[[ $FLOWS =~ ^[0-9]+$ ]] && ((FLOWS >= 1 && FLOWS <= 65535)) || die "--flows must be 1-65535 with pktgen" 64
[[ -z $DURATION && -z $COUNT ]] && DURATION=10
((EUID == 0)) || die "must run as root" 1

if [[ ! -d /proc/net/pktgen ]]; then
    modprobe pktgen 2>/dev/null
    [[ -d /proc/net/pktgen ]] ||
        die "kernel pktgen is missing (no /proc/net/pktgen; CONFIG_NET_PKTGEN off or module not installed): use xdpfwd gen" 69
fi

pgset() { # pgset FILE CMD: write one pktgen command and check its result
    echo "$2" >"$1" || die "pktgen refused '$2' in $1"
    grep -q '^Result: OK' "$1" 2>/dev/null || [[ $1 == */pgctrl ]] || die "pktgen: $(grep '^Result' "$1")"
}

THREAD=/proc/net/pktgen/kpktgend_0
DEV=/proc/net/pktgen/$IFACE
cleanup() { echo "rem_device_all" >"$THREAD" 2>/dev/null; }
trap cleanup EXIT
pgset "$THREAD" "rem_device_all"
pgset "$THREAD" "add_device $IFACE"
# pktgen's pkt_size counts the 4-byte FCS.
pgset "$DEV" "pkt_size $((SIZE + 4))"
pgset "$DEV" "clone_skb 0"
pgset "$DEV" "count ${COUNT:-0}"
pgset "$DEV" "dst ${DST%:*}"
pgset "$DEV" "dst_mac $DST_MAC"
pgset "$DEV" "src_min ${SRC%:*}"
pgset "$DEV" "src_max ${SRC%:*}"
pgset "$DEV" "udp_dst_min ${DST#*:}"
pgset "$DEV" "udp_dst_max ${DST#*:}"
pgset "$DEV" "udp_src_min ${SRC#*:}"
pgset "$DEV" "udp_src_max $((${SRC#*:} + FLOWS - 1))"
pgset "$DEV" "flag UDPSRC_RND"
[[ $RATE != 0 ]] && pgset "$DEV" "ratep $RATE"

t0=$(date +%s.%N)
if [[ -n $DURATION ]]; then
    echo start >/proc/net/pktgen/pgctrl &
    runner=$!
    sleep "$DURATION"
    echo stop >/proc/net/pktgen/pgctrl
    wait "$runner"
else
    echo start >/proc/net/pktgen/pgctrl
fi
t1=$(date +%s.%N)
sent=$(sed -n 's/.*pkts-sofar: \([0-9]*\).*/\1/p' "$DEV" | head -1)
sent=${sent:-0}
awk -v s="$sent" -v a="$t0" -v b="$t1" -v j="$JSON" -v i="$IFACE" -v f="$FLOWS" -v z="$SIZE" 'BEGIN {
    secs = b - a; pps = secs > 0 ? s / secs : 0
    if (j) printf "{\n  \"engine\" : \"pktgen\",\n  \"flows\" : %d,\n  \"interface\" : \"%s\",\n  \"pps\" : %.1f,\n  \"proto\" : \"udp\",\n  \"seconds\" : %.6f,\n  \"sent\" : %d,\n  \"size\" : %d\n}\n", f, i, pps, secs, s, z
    else printf "gen pktgen %s: sent %d frames in %.3f s: %.0f pps (%d flows, %d bytes, udp)\n", i, s, secs, pps, f, z
}'
