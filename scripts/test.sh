#!/usr/bin/env bash
# The README's second command (and CI's): install what is missing, build, install the weights (the
# reference tests run the real network), then run the whole test suite in release mode. Also installs
# what the farm and cluster tests drive: headless Chromium, a single-node Slurm, sshd, systemd-analyze and
# kubernetes-validate (see scripts/lib.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
install_system_packages "${STYLEFARM_TEST_APT_PACKAGES[@]}"
install_kubernetes_validate
build_release
install_weights
echo "==> swift test -c release"
swift test -c release
