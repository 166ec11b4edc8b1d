#!/bin/bash
# An sshd on 127.0.0.1 for the cluster tests, with its own host key, client key and config in a
# scratch directory; nothing outside it changes. `sshd-local.sh start DIR PORT` prints the ssh
# options to use (SSH_OPTS); `sshd-local.sh stop DIR` stops it. Needs root and openssh-server
# (scripts/test.sh installs it).
set -euo pipefail
cmd=${1:?start|stop}; D=${2:?scratch directory}

if [ "$cmd" = stop ]; then
    [ -s "$D/sshd.pid" ] && kill "$(cat "$D/sshd.pid")" 2>/dev/null || true
    exit 0
fi
PORT=${3:?port}
mkdir -p "$D" /run/sshd
chmod 0700 "$D"
[ -s "$D/host_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$D/host_key"
[ -s "$D/client_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$D/client_key"
cp "$D/client_key.pub" "$D/authorized_keys"
cat > "$D/sshd_config" <<CONF
ListenAddress 127.0.0.1:$PORT
HostKey $D/host_key
PidFile $D/sshd.pid
AuthorizedKeysFile $D/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AcceptEnv OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
CONF
/usr/sbin/sshd -f "$D/sshd_config" -E "$D/sshd.log"
for _ in $(seq 1 50); do [ -s "$D/sshd.pid" ] && break; sleep 0.1; done
# The "remote" hosts are this machine: the farm they run must use the BLAS kernel the test's own reference
# render used, so an OPENBLAS_CORETYPE set for the test reaches them too (sshd passes no environment by default).
echo "-p $PORT -i $D/client_key -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o SendEnv=OPENBLAS_CORETYPE -o SendEnv=OPENBLAS_L2_SIZE"
