#!/usr/bin/env bash
# The README's second command (and CI's): install what is missing, build, install the weights (the
# reference tests run the real network), then run the whole test suite in release mode. Also installs
# what the farm and cluster tests drive: headless Chromium, a single-node Slurm, sshd, systemd-analyze,
# kubernetes-validate, promtool, and the Debian package with a bare Debian root to install it on (see scripts/lib.sh).
#
# Two runs of the one test binary. Swift Testing runs tests in parallel on a pool as wide as the machine has
# cores, and a test that blocks (waiting for its child processes) holds a pool thread: on 2 cores a farm test's
# clock ran while it waited for a thread, and several farms of processes shared the cores. So the suites that
# start processes (PROCESS_SUITES) run after the others, one test at a time: each test's time limit then
# measures that test's own work. Docs/testing.md says which suites these are and why.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
install_system_packages "${STYLEFARM_TEST_APT_PACKAGES[@]}"
install_kubernetes_validate
# The house style (.swift-format, the toolchain's swift-format): any finding fails the run. `swift format -i -r Sources
# Tests Package.swift` fixes what it can.
echo "==> swift format lint --strict"
swift format lint --strict --configuration .swift-format --recursive --parallel Sources Tests Package.swift
# The tests with everything else, in one release build: `swift test -c release` alone would compile every module
# a second time with testing enabled (the tests need no @testable import).
build_release --build-tests
install_weights
# The Debian package (its own static build, .build-package) that ClusterTests install on a bare Debian 12 root,
# made here once with debootstrap and cached; lintian must find neither errors nor warnings in it.
bash scripts/package.sh
echo "==> lintian dist/stylefarm_*.deb"
lintian --fail-on error,warning dist/stylefarm_*_amd64.deb
bash Tests/Cluster/debian-root.sh make
PROCESS_SUITES='^FarmTests\.(FarmProcessTests|PartitionTests|DashboardTests|DashboardAPITests|DashboardSecurityTests|ControlRoomTests|PlacementFarmTests|SecurityTests|HostilePeerTests|StateDirectoryTests|InputBombTests|HostileCoordinatorTests|FourHostFarmTests|ClusterTests|VideoFarmTests|MonitoringTests|WebhookFarmTests)/'
echo "==> swift test -c release (in-process suites, in parallel)"
swift test -c release --skip-build --skip "$PROCESS_SUITES"
echo "==> swift test -c release (suites that start processes, one test at a time)"
swift test -c release --skip-build --no-parallel --filter "$PROCESS_SUITES"
