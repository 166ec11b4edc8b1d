#!/bin/bash
# Makes the farm's CURVE keys and the dashboard token (once) and prints them as the three Kubernetes
# Secrets the manifests mount:
#   Cluster/kubernetes/make-secrets.sh KEYS_DIR > secrets.yaml && kubectl apply -f secrets.yaml
# KEYS_DIR keeps coordinator, worker and client key pairs from `stylefarm keygen` (made if missing);
# client.key is yours: `stylefarm submit ... --server-key KEYS_DIR/coordinator.pub --curve-secret KEYS_DIR/client.key`
# through `kubectl port-forward service/stylefarm-coordinator 5555`. Keep secrets.yaml out of git.
set -euo pipefail
KEYS=${1:?usage: make-secrets.sh KEYS_DIR}
BIN=${STYLEFARM:-stylefarm}
mkdir -p "$KEYS"
for name in coordinator worker client; do
    [ -s "$KEYS/$name.key" ] || "$BIN" keygen "$name" --dir "$KEYS" >/dev/null
done
# The dashboard token: 32 random bytes, hex; `kubectl port-forward service/stylefarm-coordinator 8787`
# and open http://127.0.0.1:8787/#token=$(cat KEYS_DIR/dashboard.token).
[ -s "$KEYS/dashboard.token" ] || (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$KEYS/dashboard.token")
b64() { base64 -w0 <"$1"; }
secret() {
    local name=$1; shift
    printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n  labels: {app.kubernetes.io/name: stylefarm}\ntype: Opaque\ndata:\n' "$name"
    for f in "$@"; do printf '  %s: %s\n' "$f" "$(b64 "$KEYS/$f")"; done
}
secret stylefarm-coordinator-keys coordinator.key worker.pub client.pub
echo ---
secret stylefarm-worker-keys worker.key coordinator.pub
echo ---
printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: stylefarm-dashboard\n  labels: {app.kubernetes.io/name: stylefarm}\ntype: Opaque\ndata:\n'
printf '  token: %s\n' "$(b64 "$KEYS/dashboard.token")"
