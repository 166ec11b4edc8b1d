#!/bin/bash
# A bare Debian 12 machine for the package tests: a minbase debootstrap root with only openssh-server added (no
# Swift toolchain, none of StyleFarm's libraries), reached over ssh on its own loopback address.
#
#   debian-root.sh make                         # debootstrap the pristine root once (cached; about 3 minutes)
#   debian-root.sh up DIR ADDRESS PORT AUTHORIZED_KEYS
#                                               # a copy of it in DIR/root, /proc /sys /dev mounted, its own sshd
#                                               # (chrooted) on ADDRESS:PORT for AUTHORIZED_KEYS, root login
#   debian-root.sh down DIR                     # stops every process in DIR/root, unmounts, removes DIR/root
#
# The cache is STYLEFARM_DEBIAN_ROOT (default /var/cache/stylefarm-tests/bookworm), kept between runs. The root
# shares this machine's network (so its processes reach a coordinator on 127.0.0.1, and apt reaches Debian's
# mirror) but nothing else: processes started over its sshd run chrooted in it. Needs root and debootstrap.
set -euo pipefail
cmd=${1:?make|up|down}
CACHE=${STYLEFARM_DEBIAN_ROOT:-/var/cache/stylefarm-tests/bookworm}
MIRROR=${STYLEFARM_DEBIAN_MIRROR:-http://deb.debian.org/debian}

make_root() {
    [ -e "$CACHE/.complete" ] && return 0
    command -v debootstrap >/dev/null || { echo "debian-root.sh: debootstrap is missing (scripts/lib.sh installs it)" >&2; exit 1; }
    rm -rf "$CACHE.tmp"; mkdir -p "$(dirname "$CACHE")"
    echo "==> debootstrap --variant=minbase --include=openssh-server bookworm $CACHE (once)"
    debootstrap --variant=minbase --include=openssh-server bookworm "$CACHE.tmp" "$MIRROR" >/dev/null
    # What a real machine has: the security and updates suites beside main, and no ssh host keys from the build.
    cat > "$CACHE.tmp/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
    rm -f "$CACHE.tmp"/etc/ssh/ssh_host_*
    chroot "$CACHE.tmp" apt-get clean
    rm -rf "$CACHE"; mv "$CACHE.tmp" "$CACHE"; touch "$CACHE/.complete"
}

# Every process whose root directory is ROOT.
processes_in() {
    local root=$1 p
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && echo "${p#/proc/}"
    done
    return 0
}

down() {
    local root=$1/root
    [ -d "$root" ] || return 0
    root=$(cd "$root" && pwd -P)
    local pids
    pids=$(processes_in "$root")
    if [ -n "$pids" ]; then
        kill -TERM $pids 2>/dev/null || true
        for _ in $(seq 1 50); do [ -z "$(processes_in "$root")" ] && break; sleep 0.2; done
        pids=$(processes_in "$root"); [ -n "$pids" ] && kill -KILL $pids 2>/dev/null || true
    fi
    for m in dev/pts dev sys proc; do mountpoint -q "$root/$m" && umount -l "$root/$m"; done
    rm -rf --one-file-system "$root"
}

case $cmd in
make) make_root ;;
up)
    D=${2:?directory} ADDRESS=${3:?address} PORT=${4:?port} KEYS=${5:?authorized keys file}
    make_root
    down "$D"
    mkdir -p "$D"; root=$D/root
    cp -a "$CACHE" "$root"; rm -f "$root/.complete"
    mount -t proc proc "$root/proc"
    mount --bind /sys "$root/sys"
    mount --bind /dev "$root/dev"
    mount --bind /dev/pts "$root/dev/pts"
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    mkdir -p "$root/root/.ssh" "$root/run/sshd"; chmod 0700 "$root/root/.ssh"
    cp "$KEYS" "$root/root/.ssh/authorized_keys"
    chroot "$root" ssh-keygen -q -A
    cat > "$root/etc/ssh/sshd_config.d/stylefarm-test.conf" <<EOF
ListenAddress $ADDRESS:$PORT
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PidFile /run/sshd-stylefarm-test.pid
# The farm's bytes depend on OpenBLAS's kernel: a kernel forced for the test reaches the root's workers too.
AcceptEnv OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
EOF
    chroot "$root" /usr/sbin/sshd -E /var/log/sshd-test.log
    for _ in $(seq 1 50); do [ -s "$root/run/sshd-stylefarm-test.pid" ] && break; sleep 0.1; done
    [ -s "$root/run/sshd-stylefarm-test.pid" ] || { echo "debian-root.sh: sshd did not start" >&2; cat "$root/var/log/sshd-test.log" >&2; exit 1; }
    echo "Debian root at $root, sshd on $ADDRESS:$PORT"
    ;;
down) down "${2:?directory}" ;;
*) echo "usage: debian-root.sh make | up DIR ADDRESS PORT AUTHORIZED_KEYS | down DIR" >&2; exit 2 ;;
esac
