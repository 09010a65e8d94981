#!/usr/bin/env bash
# The single test command of xdpfwd (run as root):
#   dependencies (scripts/install-deps.sh), swift build, swift test (the whole
#   suite), then the end-to-end tests (scripts/e2e.sh) and the benchmark
#   tooling's behaviour tests (scripts/bench-e2e.sh) against the built binary,
#   and the VLAN end-to-end test (scripts/e2e-vlan.sh, XDP and afpacket).
# Every step is bounded in time. Exits non-zero if any step failed; the last
# line is the summary.
#
# Environment: XDPFWD_SCRATCH_PATH (SwiftPM --scratch-path, default .build).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

SWIFT_ARGS=()
[[ -n ${XDPFWD_SCRATCH_PATH:-} ]] && SWIFT_ARGS=(--scratch-path "$XDPFWD_SCRATCH_PATH")

RESULTS=()
FAILED=0
STARTED=$SECONDS
CURRENT=""
INTERRUPTED=0

# Pass INT/TERM on to the running step (e2e.sh then tears its lab down) and
# run no further steps.
on_signal() {
    INTERRUPTED=1
    [[ -n $CURRENT ]] && kill -TERM "$CURRENT" 2>/dev/null
}
trap on_signal INT TERM

# step NAME TIMEOUT CMD...: run one bounded step and record its result.
step() {
    local name=$1 limit=$2 rc t0=$SECONDS
    shift 2
    if ((INTERRUPTED)); then
        skip "$name"
        return 1
    fi
    echo "=== $name"
    timeout "$limit" "$@" &
    CURRENT=$!
    wait "$CURRENT"
    rc=$?
    # A trapped signal interrupts wait: wait again for the step's real status.
    while kill -0 "$CURRENT" 2>/dev/null; do
        wait "$CURRENT"
        rc=$?
    done
    CURRENT=""
    ((rc == 124)) && echo "test: $name timed out after $limit" >&2
    if ((rc == 0)); then
        RESULTS+=("$name ok ($((SECONDS - t0)) s)")
    else
        RESULTS+=("$name FAILED (exit $rc)")
        FAILED=$((FAILED + 1))
    fi
    return $rc
}

skip() {
    RESULTS+=("$1 skipped")
    FAILED=$((FAILED + 1))
}

summary() {
    echo "=== summary"
    printf '  %s\n' "${RESULTS[@]}"
    if ((FAILED == 0)); then
        echo "test: PASS (${#RESULTS[@]} steps, $((SECONDS - STARTED)) s)"
    else
        echo "test: FAIL ($FAILED of ${#RESULTS[@]} steps failed or skipped, $((SECONDS - STARTED)) s)"
    fi
}

if ((EUID != 0)); then
    echo "test: must run as root (BPF loads, namespaces)" >&2
    exit 1
fi

# A failed dependency step is reported, but the build may still work.
step deps 15m scripts/install-deps.sh
if step build 30m swift build "${SWIFT_ARGS[@]}"; then
    step "swift test" 40m swift test "${SWIFT_ARGS[@]}"
    bin="$(swift build "${SWIFT_ARGS[@]}" --show-bin-path)/xdpfwd"
    step e2e 10m scripts/e2e.sh --xdpfwd "$bin"
    step "e2e afpacket" 10m scripts/e2e.sh --xdpfwd "$bin" --mode afpacket
    step "e2e vlan" 5m scripts/e2e-vlan.sh --xdpfwd "$bin"
    step "e2e vlan afpacket" 5m scripts/e2e-vlan.sh --xdpfwd "$bin" --mode afpacket
    step "bench e2e" 10m scripts/bench-e2e.sh --xdpfwd "$bin"
else
    skip "swift test"
    skip e2e
    skip "e2e vlan"
    skip "e2e vlan afpacket"
    skip "bench e2e"
fi

summary
((FAILED == 0))
