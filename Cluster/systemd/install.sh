#!/bin/bash
# Installs StyleFarm on this host from its Debian package, with the keys this host needs (run as root, on every
# farm machine):
#   Cluster/systemd/install.sh dist/stylefarm_VERSION_amd64.deb KEYS_DIR
# The package (scripts/package.sh) brings the binary (/usr/bin/stylefarm), the units (/lib/systemd/system,
# not enabled), the settings file /etc/stylefarm/stylefarm.env and the system user `stylefarm`; apt-get fetches
# the libraries it depends on. KEYS_DIR holds what this host needs, from `stylefarm keygen` (Docs/security.md):
#   coordinator host: coordinator.key, and workers/*.pub, clients/*.pub, admins/*.pub (the public keys
#                     it admits, by role)
#   worker host:      worker.key and coordinator.pub
# They go to /etc/stylefarm/keys (root:stylefarm, secret keys 0640). Then edit stylefarm.env and
# `systemctl enable --now stylefarm-coordinator` or `stylefarm-worker@1`.
# DESTDIR=dir unpacks the package under dir instead (tests): no apt, no user, no systemctl.
set -euo pipefail
DEB=${1:?usage: install.sh STYLEFARM_DEB KEYS_DIR}; KEYS=${2:?usage: install.sh STYLEFARM_DEB KEYS_DIR}
D=${DESTDIR:-}
DEB=$(cd "$(dirname "$DEB")" && pwd)/$(basename "$DEB")

if [ -z "$D" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$DEB"
else
    dpkg-deb -x "$DEB" "$D"
fi
group=stylefarm; getent group stylefarm >/dev/null || group=root

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
[ -z "$D" ] && echo "next: edit /etc/stylefarm/stylefarm.env, then systemctl enable --now stylefarm-coordinator (or stylefarm-worker@1)"
exit 0
