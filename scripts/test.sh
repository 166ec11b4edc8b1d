#!/usr/bin/env bash
# The README's second command (and CI's): install what is missing, build, install the weights (the
# reference tests run the real network), then run the whole test suite in release mode. Also installs
# headless Chromium, which the dashboard test drives.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
install_system_packages "${STYLEFARM_TEST_APT_PACKAGES[@]}"
build_release
install_weights
echo "==> swift test -c release"
swift test -c release
