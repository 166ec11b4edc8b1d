#!/bin/bash
# Installs StyleFarm's systemd units on this host (run as root, on every farm machine):
#   Cluster/systemd/install.sh .build/release/stylefarm KEYS_DIR
# KEYS_DIR holds what this host needs, from `stylefarm keygen` (see Docs/security.md):
#   coordinator host: coordinator.key, and workers/*.pub, clients/*.pub, admins/*.pub (the public keys
#                     it admits, by role)
#   worker host:      worker.key and coordinator.pub
# It copies the binary to /usr/local/bin, the units to /etc/systemd/system, the print presets and
# docs to /usr/local/share, the keys to /etc/stylefarm/keys (root:stylefarm, secret keys 0640), and
# /etc/stylefarm/stylefarm.env from the example unless one exists; it creates the system user
# `stylefarm`. Then edit stylefarm.env and `systemctl enable --now stylefarm-coordinator` or
# `stylefarm-worker@1`. DESTDIR=dir installs under dir instead (packaging, tests): no user, no systemctl.
set -euo pipefail
BIN=${1:?usage: install.sh STYLEFARM_BINARY KEYS_DIR}; KEYS=${2:?usage: install.sh STYLEFARM_BINARY KEYS_DIR}
HERE=$(cd "$(dirname "$0")" && pwd); REPO=$(cd "$HERE/../.." && pwd)
D=${DESTDIR:-}

if [ -z "$D" ] && ! id stylefarm >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/stylefarm --no-create-home --shell /usr/sbin/nologin stylefarm
fi
group=stylefarm; getent group stylefarm >/dev/null || group=root

install -D -m 0755 "$BIN" "$D/usr/local/bin/stylefarm"
install -D -m 0644 "$HERE/stylefarm-coordinator.service" "$D/etc/systemd/system/stylefarm-coordinator.service"
install -D -m 0644 "$HERE/stylefarm-worker@.service" "$D/etc/systemd/system/stylefarm-worker@.service"
install -D -m 0644 "$REPO/Configs/print-presets.toml" "$D/usr/local/share/stylefarm/print-presets.toml"
install -D -m 0644 "$REPO/Docs/operations.md" "$D/usr/local/share/doc/stylefarm/operations.md"
[ -e "$D/etc/stylefarm/stylefarm.env" ] || install -D -m 0644 "$HERE/stylefarm.env.example" "$D/etc/stylefarm/stylefarm.env"

install -d -m 0750 -g "$group" "$D/etc/stylefarm/keys"
for f in coordinator.key worker.key; do
    [ -e "$KEYS/$f" ] && install -m 0640 -g "$group" "$KEYS/$f" "$D/etc/stylefarm/keys/$f"
done
[ -e "$KEYS/coordinator.pub" ] && install -m 0644 "$KEYS/coordinator.pub" "$D/etc/stylefarm/keys/coordinator.pub"
if [ -e "$KEYS/coordinator.key" ]; then
    for role in workers clients admins; do  # each may be empty; the coordinator needs at least one key
        install -d -m 0750 -g "$group" "$D/etc/stylefarm/keys/$role"
        for f in "$KEYS/$role"/*.pub; do [ -e "$f" ] && install -m 0644 "$f" "$D/etc/stylefarm/keys/$role/"; done
    done
fi
echo "installed StyleFarm under ${D:-/}; keys: $(ls "$D/etc/stylefarm/keys" | tr '\n' ' ')"

if [ -z "$D" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    echo "next: edit /etc/stylefarm/stylefarm.env, then systemctl enable --now stylefarm-coordinator (or stylefarm-worker@1)"
fi
