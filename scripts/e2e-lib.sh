# Helpers shared by the end-to-end scripts (e2e.sh, e2e-vlan.sh); sourced,
# never run. The caller defines ROOT, PASSED, FAILED, SERVER_LIFETIME and
# BG_PIDS.

# e2e_parse_args NAME HELP_LINES ARG...: the options every e2e script takes:
# --xdpfwd PATH (default $XDPFWD, else the debug build's binary) and --mode
# xdp|afpacket (default xdp); -h prints lines HELP_LINES (sed range) of the
# script. Leaves XDPFWD (absolute, existing) and E2E_MODE, or exits: 64 on
# a usage error, 1 when the binary is missing. NAME prefixes the messages.
e2e_parse_args() {
    local name=$1 help=$2
    shift 2
    XDPFWD=${XDPFWD:-}
    E2E_MODE=xdp
    while (($#)); do
        case "$1" in
        --xdpfwd) XDPFWD=${2:?--xdpfwd needs a path}; shift 2 ;;
        --xdpfwd=*) XDPFWD=${1#*=}; shift ;;
        --mode) E2E_MODE=${2:?--mode needs xdp or afpacket}; shift 2 ;;
        --mode=*) E2E_MODE=${1#*=}; shift ;;
        -h | --help) sed -n "${help}p" "$0"; exit 0 ;;
        *) echo "$name: unknown argument '$1'" >&2; exit 64 ;;
        esac
    done
    [[ $E2E_MODE == xdp || $E2E_MODE == afpacket ]] || { echo "$name: --mode is xdp or afpacket, not '$E2E_MODE'" >&2; exit 64; }
    if [[ -z $XDPFWD ]]; then
        XDPFWD="$(cd "$ROOT" && swift build --show-bin-path 2>/dev/null)/xdpfwd"
    fi
    XDPFWD=$(realpath -e "$XDPFWD" 2>/dev/null) || { echo "$name: xdpfwd binary not found (use --xdpfwd PATH)" >&2; exit 1; }
}

# e2e_require NAME TOOL...: root and every TOOL on PATH, or exit 1.
e2e_require() {
    local name=$1 tool
    shift
    ((EUID == 0)) || { echo "$name: must run as root" >&2; exit 1; }
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "$name: missing $tool (run scripts/install-deps.sh)" >&2; exit 1; }
    done
}

# fail REASON: record why the current case failed; returns 1.
fail() { REASON=$*; return 1; }

one_line() { printf '%s' "$*" | tr '\n' ' ' | cut -c1-300; }

# run_case NAME FUNCTION
run_case() {
    REASON=""
    if "$2"; then
        echo "ok - $1"
        PASSED=$((PASSED + 1))
    else
        echo "not ok - $1: $(one_line "${REASON:-failed}")"
        FAILED=$((FAILED + 1))
    fi
}

# background NS LOGFILE CMD...: start a server in a namespace, bounded in time.
background() {
    local ns=$1 log=$2
    shift 2
    ip netns exec "$ns" timeout "$SERVER_LIFETIME" "$@" >"$log" 2>&1 &
    BG_PIDS+=($!)
}

# wait_tcp NS ADDR PORT: wait up to 5 s for a TCP listener.
wait_tcp() {
    local i
    for ((i = 0; i < 50; i++)); do
        ip netns exec "$1" timeout 1 bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
