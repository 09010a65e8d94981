#!/usr/bin/env bash
# Three-namespace test lab for xdpfwd.
#
#   scripts/lab.sh up | down | status
#   scripts/lab.sh exec client|fwd|backend CMD...
#
#   $P-client              $P-fwd                    $P-backend
#   c0 198.18.0.2/24 <---> f0 198.18.0.1/24
#      2001:2::2/64           2001:2::1/64
#                          f1 198.18.1.1/24 <------> b0 198.18.1.2/24
#                             2001:2:0:1::1/64          198.18.1.3/24
#                                                       2001:2:0:1::2/64
#                                                       2001:2:0:1::3/64
#
# P is $XDPFWD_LAB_PREFIX (default xfl), so concurrent labs do not collide.
# Only addresses from 198.18.0.0/15 and 2001:2::/48 are used, and only
# inside the lab's own namespaces; the root namespace gets no address, route
# or link. IPv6 addresses skip DAD and no router solicitations are sent, so
# they are usable at once and the counters see no noise.
#
# The lab mounts its own bpffs at /run/xdpfwd-lab/$P/bpf: `ip netns exec`
# remounts /sys, so pins under /sys/fs/bpf would vanish after each command.
# `lab.sh exec fwd` exports XDPFWD_PIN_DIR pointing into it.
#
# veth quirks handled here (see docs in /work/shared/PLATFORM.md):
#   - c0 and b0 receive frames that XDP redirects out of f0/f1; a veth delivers
#     those only if the receiving end has NAPI, so GRO is switched on there.
#   - c0 and b0 are the senders; tx checksum offload is switched off so that
#     redirected packets carry complete checksums.
#
# Name lookups never leave a namespace: `ip netns exec` bind-mounts
# /etc/netns/NS/{hosts,resolv.conf}, which the lab writes (lab names only, no
# nameserver). Without that, servers that resolve their own address (python's
# http.server calls getfqdn) stall for many seconds on an unreachable DNS.
#
# This file can also be sourced (by e2e.sh, demo.sh) for the names and the
# lab_* functions; sourcing does nothing by itself.

# _lab_names PREFIX: the namespaces, run directory and bpffs of lab PREFIX.
_lab_names() {
    LAB_PREFIX=$1
    NS_CLIENT=$LAB_PREFIX-client
    NS_FWD=$LAB_PREFIX-fwd
    NS_BACKEND=$LAB_PREFIX-backend
    # An optional fourth namespace behind the backend node (e2e's PMTU case).
    NS_FAR=$LAB_PREFIX-far
    LAB_RUN_DIR=/run/xdpfwd-lab/$LAB_PREFIX
    LAB_BPFFS=$LAB_RUN_DIR/bpf
    LAB_PIN_DIR=$LAB_BPFFS/xdpfwd
}
_lab_names "${XDPFWD_LAB_PREFIX:-xfl}"

CLIENT_ADDR=198.18.0.2
FWD_CLIENT_SIDE_ADDR=198.18.0.1
FWD_BACKEND_SIDE_ADDR=198.18.1.1
BACKEND_ADDR=198.18.1.2
BACKEND_ADDR2=198.18.1.3
CLIENT_ADDR6=2001:2::2
FWD_CLIENT_SIDE_ADDR6=2001:2::1
FWD_BACKEND_SIDE_ADDR6=2001:2:0:1::1
BACKEND_ADDR6=2001:2:0:1::2
BACKEND_ADDR6_2=2001:2:0:1::3

lab_log() { echo "lab: $*" >&2; }

lab_ns_exists() { [[ -e /run/netns/$1 ]]; }

lab_is_mounted() { mountpoint -q "$1" 2>/dev/null; }

# lab_node_ns NODE -> namespace name
lab_node_ns() {
    case "$1" in
    client) echo "$NS_CLIENT" ;;
    fwd) echo "$NS_FWD" ;;
    backend) echo "$NS_BACKEND" ;;
    *) lab_log "unknown node '$1' (client|fwd|backend)"; return 64 ;;
    esac
}

# Run a command in a node's namespace. The fwd node gets XDPFWD_PIN_DIR.
lab_exec() {
    local ns
    ns=$(lab_node_ns "$1") || return
    shift
    if [[ $ns == "$NS_FWD" ]]; then
        XDPFWD_PIN_DIR=$LAB_PIN_DIR ip netns exec "$ns" "$@"
    else
        ip netns exec "$ns" "$@"
    fi
}

# Quiet per-namespace sysctl.
_lab_sysctl() { ip netns exec "$1" sysctl -q -w "$2" >/dev/null; }

lab_up() {
    if lab_ns_exists "$NS_CLIENT" || lab_ns_exists "$NS_FWD" || lab_ns_exists "$NS_BACKEND"; then
        lab_log "lab '$LAB_PREFIX' already (partly) exists; run 'down' first"
        return 1
    fi
    # On any failure part-way, leave nothing behind. (set -e works in the
    # subshell only because its status is not tested directly.)
    local rc
    (
        set -e
        _lab_build
    )
    rc=$?
    if ((rc != 0)); then
        lab_log "setup failed; tearing down"
        lab_down
        return 1
    fi
    lab_topology
}

_lab_build() {
    local ns
    for ns in "$NS_CLIENT" "$NS_FWD" "$NS_BACKEND"; do
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        # IPv6 without DAD delays, router solicitations or RAs.
        _lab_sysctl "$ns" net.ipv6.conf.default.accept_dad=0
        _lab_sysctl "$ns" net.ipv6.conf.default.router_solicitations=0
        _lab_sysctl "$ns" net.ipv6.conf.default.accept_ra=0
    done

    for ns in "$NS_CLIENT" "$NS_FWD" "$NS_BACKEND"; do
        mkdir -p "/etc/netns/$ns"
        printf '# xdpfwd lab: no nameserver, lookups fail at once\noptions timeout:1 attempts:1\n' \
            >"/etc/netns/$ns/resolv.conf"
        printf '127.0.0.1 localhost\n%s client\n%s fwd\n%s fwd-b\n%s backend\n%s backend2\n' \
            "$CLIENT_ADDR" "$FWD_CLIENT_SIDE_ADDR" "$FWD_BACKEND_SIDE_ADDR" "$BACKEND_ADDR" "$BACKEND_ADDR2" \
            >"/etc/netns/$ns/hosts"
    done

    # Create each pair inside a lab namespace: no name ever exists in root.
    ip -n "$NS_CLIENT" link add c0 type veth peer name f0 netns "$NS_FWD"
    ip -n "$NS_BACKEND" link add b0 type veth peer name f1 netns "$NS_FWD"

    ip -n "$NS_CLIENT" addr add "$CLIENT_ADDR/24" dev c0
    ip -n "$NS_FWD" addr add "$FWD_CLIENT_SIDE_ADDR/24" dev f0
    ip -n "$NS_FWD" addr add "$FWD_BACKEND_SIDE_ADDR/24" dev f1
    ip -n "$NS_BACKEND" addr add "$BACKEND_ADDR/24" dev b0
    ip -n "$NS_BACKEND" addr add "$BACKEND_ADDR2/24" dev b0
    ip -n "$NS_CLIENT" -6 addr add "$CLIENT_ADDR6/64" dev c0 nodad
    ip -n "$NS_FWD" -6 addr add "$FWD_CLIENT_SIDE_ADDR6/64" dev f0 nodad
    ip -n "$NS_FWD" -6 addr add "$FWD_BACKEND_SIDE_ADDR6/64" dev f1 nodad
    ip -n "$NS_BACKEND" -6 addr add "$BACKEND_ADDR6/64" dev b0 nodad
    ip -n "$NS_BACKEND" -6 addr add "$BACKEND_ADDR6_2/64" dev b0 nodad

    # Senders: complete checksums in software. Receivers of redirected
    # frames: GRO gives the veth NAPI, without which they sit in the ring.
    ip netns exec "$NS_CLIENT" ethtool -K c0 tx off gro on >/dev/null
    ip netns exec "$NS_BACKEND" ethtool -K b0 tx off gro on >/dev/null

    ip -n "$NS_CLIENT" link set c0 up
    ip -n "$NS_FWD" link set f0 up
    ip -n "$NS_FWD" link set f1 up
    ip -n "$NS_BACKEND" link set b0 up

    ip -n "$NS_CLIENT" route add default via "$FWD_CLIENT_SIDE_ADDR"
    # Needed for --snat none: replies to the client address go to the forwarder.
    ip -n "$NS_BACKEND" route add default via "$FWD_BACKEND_SIDE_ADDR"
    ip -n "$NS_CLIENT" -6 route add default via "$FWD_CLIENT_SIDE_ADDR6"
    ip -n "$NS_BACKEND" -6 route add default via "$FWD_BACKEND_SIDE_ADDR6"

    mkdir -p "$LAB_BPFFS"
    lab_is_mounted "$LAB_BPFFS" || mount -t bpf bpf "$LAB_BPFFS"

    _lab_wait_up "$NS_CLIENT" c0
    _lab_wait_up "$NS_FWD" f0
    _lab_wait_up "$NS_FWD" f1
    _lab_wait_up "$NS_BACKEND" b0
}

# Operstate follows carrier with a delay (linkwatch): wait up to 5 s for UP.
_lab_wait_up() {
    local i
    for ((i = 0; i < 50; i++)); do
        [[ $(ip netns exec "$1" cat "/sys/class/net/$2/operstate" 2>/dev/null) == up ]] && return 0
        sleep 0.1
    done
    lab_log "$2 in $1 did not come up"
    return 1
}

# TERM, then KILL, the processes still inside namespace $1 (by pid), and wait
# (at most 3 s) until they are gone.
_lab_kill_ns_pids() {
    local pids i
    pids=$(ip netns pids "$1" 2>/dev/null | tr '\n' ' ')
    [[ -n ${pids// /} ]] || return 0
    # shellcheck disable=SC2086
    kill $pids 2>/dev/null
    for ((i = 0; i < 30; i++)); do
        [[ -z $(ip netns pids "$1" 2>/dev/null) ]] && return 0
        # shellcheck disable=SC2046
        ((i == 10)) && kill -9 $(ip netns pids "$1" 2>/dev/null) 2>/dev/null
        sleep 0.1
    done
}

# Kill what still runs inside the lab namespaces (by pid), remove them and
# the bpffs mount. Idempotent.
lab_down() {
    local ns
    for ns in "$NS_FAR" "$NS_CLIENT" "$NS_FWD" "$NS_BACKEND"; do
        lab_ns_exists "$ns" || continue
        _lab_kill_ns_pids "$ns"
        # A process that is still exiting keeps the namespace file busy.
        if ! ip netns del "$ns" 2>/dev/null; then
            sleep 0.5
            lab_ns_exists "$ns" && ! ip netns del "$ns" 2>/dev/null && lab_log "could not delete namespace $ns"
        fi
    done
    for ns in "$NS_CLIENT" "$NS_FWD" "$NS_BACKEND"; do
        rm -f "/etc/netns/$ns/hosts" "/etc/netns/$ns/resolv.conf"
        [[ -d /etc/netns/$ns ]] && rmdir "/etc/netns/$ns" 2>/dev/null
    done
    rmdir /etc/netns 2>/dev/null
    if lab_is_mounted "$LAB_BPFFS"; then
        umount "$LAB_BPFFS" || umount -l "$LAB_BPFFS" || lab_log "could not unmount $LAB_BPFFS"
    fi
    [[ -d $LAB_BPFFS ]] && rmdir "$LAB_BPFFS" 2>/dev/null
    [[ -d $LAB_RUN_DIR ]] && rmdir "$LAB_RUN_DIR" 2>/dev/null
    rmdir /run/xdpfwd-lab 2>/dev/null
    return 0
}

lab_topology() {
    cat <<EOF
lab '$LAB_PREFIX' is up:

  $NS_CLIENT           $NS_FWD                     $NS_BACKEND
  c0 $CLIENT_ADDR/24 <--> f0 $FWD_CLIENT_SIDE_ADDR/24
     $CLIENT_ADDR6/64          $FWD_CLIENT_SIDE_ADDR6/64
                          f1 $FWD_BACKEND_SIDE_ADDR/24 <---> b0 $BACKEND_ADDR/24
                             $FWD_BACKEND_SIDE_ADDR6/64      $BACKEND_ADDR2/24
                                                        $BACKEND_ADDR6/64, $BACKEND_ADDR6_2/64
  client default via $FWD_CLIENT_SIDE_ADDR, backend default via $FWD_BACKEND_SIDE_ADDR
  bpffs for pins: $LAB_BPFFS  (XDPFWD_PIN_DIR=$LAB_PIN_DIR)

  run in a node:  scripts/lab.sh exec fwd "\$(swift build --show-bin-path)/xdpfwd" status
EOF
}

lab_status() {
    local ns any=0
    for ns in "$NS_CLIENT" "$NS_FWD" "$NS_BACKEND"; do
        if lab_ns_exists "$ns"; then
            any=1
            echo "== $ns"
            ip -n "$ns" -br addr show | grep -v '^lo '
            ip -n "$ns" -o link show | sed -n 's|^[0-9]*: \([^@:]*\).* prog/xdp id \([0-9]*\).*|   xdp: \1 prog id \2|p'
            ip -n "$ns" route show | sed 's/^/   route: /'
        else
            echo "== $ns: absent"
        fi
    done
    if lab_is_mounted "$LAB_BPFFS"; then
        echo "== bpffs mounted at $LAB_BPFFS"
    else
        echo "== bpffs not mounted"
    fi
    ((any))
}

# lab_stale_owner NAME: prints the PID in a name the test scripts give their
# labs and namespaces with their own PID (e2e.sh's xfe<PID>, e2e-vlan.sh's
# xfv<PID> and xfvprobe<PID>, bench-e2e.sh's xfb<PID>); fails for any other
# name (xdpfwd's own test beds sweep theirs: StaleNamespaces.swift).
lab_stale_owner() {
    if [[ $1 =~ ^(xfe|xfv)([0-9]{1,9})(-(client|fwd|backend|far))?$ || $1 =~ ^(xfvprobe|xfb)([0-9]{1,9})()$ ]]; then
        echo "${BASH_REMATCH[2]}"
        return 0
    fi
    return 1
}

# lab_sweep_stale: removes what killed test runs left behind (their lab's
# processes, namespaces, bpffs mount and run directory) for the names above
# whose PID no longer exists. Never another name, never a live run's.
lab_sweep_stale() {
    local path name pid prefix
    local -A stale=()
    for path in /run/netns/* /run/xdpfwd-lab/*; do
        name=${path##*/}
        pid=$(lab_stale_owner "$name") || continue
        [[ $pid == "$$" || -d /proc/$pid ]] && continue
        stale[${name%%-*}]=1
    done
    for prefix in "${!stale[@]}"; do
        lab_log "removing '$prefix', left behind by a test run that is gone"
        (
            _lab_names "$prefix"
            lab_down
        )
        # bench-e2e's and the VLAN probe's single namespace is the prefix itself.
        if lab_ns_exists "$prefix"; then ip netns del "$prefix" 2>/dev/null; fi
    done
    return 0
}

lab_usage() {
    echo "usage: lab.sh up|down|status|exec client|fwd|backend CMD..." >&2
    return 64
}

lab_main() {
    if ((EUID != 0)); then
        lab_log "must run as root"
        return 1
    fi
    case "${1:-}" in
    up) lab_up ;;
    down) lab_down ;;
    status) lab_status ;;
    exec)
        (($# >= 3)) || { lab_usage; return; }
        shift
        lab_exec "$@"
        ;;
    *) lab_usage ;;
    esac
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -uo pipefail
    lab_main "$@"
fi
