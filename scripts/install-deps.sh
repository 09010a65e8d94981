#!/usr/bin/env bash
# Make this machine ready to build and test xdpfwd. Idempotent and quiet when
# there is nothing to do: installs only the Debian/Ubuntu packages that are
# missing, mounts bpffs on /sys/fs/bpf if it is not mounted, checks for swift.
set -euo pipefail

PACKAGES=(
    libbpf-dev libxdp-dev libelf-dev zlib1g-dev
    iproute2 iputils-ping ethtool socat curl python3 nftables iptables tcpdump
    bpftool xdp-tools
)

log() { echo "install-deps: $*" >&2; }

missing_packages() {
    local p
    for p in "${PACKAGES[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || echo "$p"
    done
}

install_packages() {
    local missing
    mapfile -t missing < <(missing_packages)
    ((${#missing[@]} == 0)) && return 0
    if ! command -v apt-get >/dev/null; then
        log "missing packages (${missing[*]}) and no apt-get: install them by hand"
        return 1
    fi
    if ((EUID != 0)); then
        log "missing packages (${missing[*]}): run this script as root"
        return 1
    fi
    log "installing ${missing[*]}"
    local out
    out=$(mktemp)
    if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$out" 2>&1; then
        cat "$out" >&2
        rm -f "$out"
        log "apt-get failed"
        return 1
    fi
    rm -f "$out"
}

mount_bpffs() {
    [[ "$(stat -f -c %T /sys/fs/bpf 2>/dev/null)" == bpf_fs ]] && return 0
    if ((EUID != 0)); then
        log "bpffs is not mounted on /sys/fs/bpf: run this script as root"
        return 1
    fi
    log "mounting bpffs on /sys/fs/bpf"
    mkdir -p /sys/fs/bpf
    mount -t bpf bpf /sys/fs/bpf
}

check_swift() {
    command -v swift >/dev/null && return 0
    log "swift not found on PATH. Install a Swift 6.1+ toolchain for Linux:"
    log "  https://www.swift.org/install/linux/ (swiftly: curl -O https://download.swift.org/swiftly/linux/swiftly-\$(uname -m).tar.gz)"
    log "then put its usr/bin on PATH."
    return 1
}

rc=0
install_packages || rc=1
mount_bpffs || rc=1
check_swift || rc=1
exit $rc
