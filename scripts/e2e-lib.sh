# Helpers shared by the end-to-end scripts (e2e.sh, e2e-vlan.sh); sourced,
# never run. The caller defines PASSED, FAILED, SERVER_LIFETIME and BG_PIDS.

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
