#!/usr/bin/env bash
# Makes the Debian package of StyleFarm and a tarball of the same files:
#   bash scripts/package.sh            # -> dist/stylefarm_VERSION_amd64.deb and dist/stylefarm_VERSION_amd64.tar.gz
# The binary is a release build with the Swift runtime linked in statically (its own scratch path,
# .build-package, so the test build in .build is untouched), stripped, and stamped with the commit it was built
# from (`stylefarm --version`). The package `Depends` on the Debian 12 libraries the binary loads, as
# dpkg-shlibdeps reads them off the binary; it ships the systemd units (installed, not enabled), the settings
# file (a conffile), the print presets, the Prometheus and Grafana files of Cluster/monitoring, manual pages made
# from the binary's own help, and the operator's docs.
# Its maintainer scripts (Cluster/debian/) make the system user `stylefarm` and /etc/stylefarm/keys.
#
# Version: the release number in Sources/StyleFarmCLI/BuildInfo.swift, then `+git<commits>.<commit>`, so every
# commit on main has a larger version (`.dirty` when the working tree has changes). The same commit gives the
# same bytes: every time stamp is SOURCE_DATE_EPOCH (default: the commit's time), owners are root, entries sorted.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
install_system_packages "${STYLEFARM_PACKAGE_APT_PACKAGES[@]}"

release=$(sed -n 's/^ *public static let version = "\([0-9][0-9.]*\)".*/\1/p' Sources/StyleFarmCLI/BuildInfo.swift)
[ -n "$release" ] || { echo "package.sh: no version in Sources/StyleFarmCLI/BuildInfo.swift" >&2; exit 1; }
commit=$(git rev-parse --short=10 HEAD)
version="$release+git$(git rev-list --count HEAD).$commit"
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then version+=".dirty"; fi
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
export TZ=UTC LC_ALL=C.UTF-8
date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)
scratch=.build-package
deb=dist/stylefarm_${version}_amd64.deb
tarball=dist/stylefarm_${version}_amd64.tar.gz

# The build stamp: an object given to the linker only, so a new commit relinks and recompiles nothing.
mkdir -p "$scratch/stamp"
stamp=$scratch/stamp/build-$commit.o
(cd "$scratch/stamp" && printf 'const char stylefarm_build_stamp_text[] = "%s %s";\n' "$commit" "$date" > stamp.c \
    && cc -c -O2 -fPIC -o "build-$commit.o" stamp.c)
echo "==> swift build -c release --static-swift-stdlib ($scratch), stylefarm $version"
# Linked with full RELRO (-z relro -z now), as Debian builds its own binaries.
swift build -c release --static-swift-stdlib --product stylefarm --scratch-path "$scratch" -Xlinker "$PWD/$stamp" \
    -Xlinker -z -Xlinker relro -Xlinker -z -Xlinker now

root=$scratch/root
rm -rf "$root"
mkdir -p "$root/DEBIAN"
install -D -m 0755 "$scratch/release/stylefarm" "$root/usr/bin/stylefarm"
# As dh_strip does: no symbols or .comment; the Swift runtime's metadata sections stay.
strip --remove-section=.comment --remove-section=.note "$root/usr/bin/stylefarm"
binary=$root/usr/bin/stylefarm
"$binary" --version | grep -q "commit $commit" || { echo "package.sh: the binary is not stamped with $commit" >&2; exit 1; }

install -D -m 0644 Cluster/systemd/stylefarm-coordinator.service "$root/lib/systemd/system/stylefarm-coordinator.service"
install -D -m 0644 Cluster/systemd/stylefarm-worker@.service "$root/lib/systemd/system/stylefarm-worker@.service"
install -D -m 0644 Cluster/systemd/stylefarm.env.example "$root/etc/stylefarm/stylefarm.env"
install -D -m 0644 Configs/print-presets.toml "$root/usr/share/stylefarm/print-presets.toml"
# What an operator points Prometheus and Grafana at (Cluster/monitoring/README.md).
for f in Cluster/monitoring/*.yml Cluster/monitoring/*.json; do
    install -D -m 0644 "$f" "$root/usr/share/stylefarm/monitoring/$(basename "$f")"
done
doc=$root/usr/share/doc/stylefarm
install -D -m 0644 Cluster/debian/copyright "$doc/copyright"
for f in README.md Docs/operations.md Docs/security.md Docs/protocol.md Docs/dashboard.md Cluster/README.md; do
    name=$(basename "$f"); [ "$f" = Cluster/README.md ] && name=cluster.md
    gzip -9n < "$f" > "$doc/$name.gz"
done
cat <<EOF | gzip -9n > "$doc/changelog.gz"
stylefarm ($version) unstable; urgency=medium

  * Built from commit $commit; the repository's history lists the changes.

 -- StyleFarm developers <stylefarm-dev@lists.example.org>  $(date -u -d "@$SOURCE_DATE_EPOCH" -R)
EOF

# Manual pages from the binary's own help: stylefarm(1) and one per subcommand, stylefarm-SUB(1).
man=$root/usr/share/man/man1
mkdir -p "$man" "$scratch/man"
export HOME=$PWD/$scratch/man  # the binary's caches (the BLAS kernel choice) stay out of the operator's home
"$binary" --experimental-dump-help > "$scratch/man/help.json"
python3 - "$scratch/man/help.json" > "$scratch/man/subcommands" <<'PY'
import json, sys
for sub in json.load(open(sys.argv[1]))["command"].get("subcommands", []):
    if sub["commandName"] != "help":
        print(sub["commandName"], sub.get("abstract", "").split("\n")[0].rstrip("."), sep="\t")
PY
help2man --no-info --version-string="$version" --name="render farm for neural style transfer at print sizes" \
    --section=1 "$binary" | gzip -9n > "$man/stylefarm.1.gz"
while IFS=$'\t' read -r sub abstract; do
    wrapper=$scratch/man/stylefarm-$sub
    printf '#!/bin/sh\nexec %q %q "$@"\n' "$PWD/$binary" "$sub" > "$wrapper"; chmod +x "$wrapper"
    help2man --no-info --version-string="$version" --name="${abstract:-stylefarm $sub}" --section=1 "$wrapper" \
        | sed "s#$PWD/$scratch/man/##g" | gzip -9n > "$man/stylefarm-$sub.1.gz"
done < "$scratch/man/subcommands"

# Depends: what dpkg-shlibdeps reads off the binary (each NEEDED library's Debian package), plus adduser.
mkdir -p "$scratch/shlibs/debian"
printf 'Source: stylefarm\n\nPackage: stylefarm\nArchitecture: amd64\n' > "$scratch/shlibs/debian/control"
shlibs=$(cd "$scratch/shlibs" && dpkg-shlibdeps -O "$OLDPWD/$binary" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "package.sh: dpkg-shlibdeps found no libraries" >&2; exit 1; }
# libopenblas0 is a choice of three builds; the farm's bytes are tested with the pthread one (Debian's default).
depends="adduser, ${shlibs/libopenblas0,/libopenblas0-pthread,}"

installed_size=$(du -k -s --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@INSTALLED_SIZE@/$installed_size/" -e "s/@DEPENDS@/$depends/" \
    Cluster/debian/control.in > "$root/DEBIAN/control"
install -m 0755 Cluster/debian/postinst Cluster/debian/prerm Cluster/debian/postrm "$root/DEBIAN/"
echo /etc/stylefarm/stylefarm.env > "$root/DEBIAN/conffiles"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -print | sed 's#^\./##' | sort | xargs md5sum) > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"
find "$root" -type d -exec chmod 0755 {} +
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -p dist
rm -f dist/stylefarm_*_amd64.deb dist/stylefarm_*_amd64.tar.gz
dpkg-deb --root-owner-group -Zxz --threads-max=1 --build "$root" "$deb" >/dev/null
tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner --format=gnu \
    -C "$root" --exclude=./DEBIAN -cf - . | gzip -9n > "$tarball"

# What the binary loads, and the package each library comes from (all in Depends, by dpkg-shlibdeps).
echo "==> libraries the binary loads (readelf NEEDED, found by ldd), and their packages (dpkg -S)"
readelf -d "$binary" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | while read -r name; do
    lib=$(ldd "$binary" | awk -v n="$name" '$1 == n && $3 ~ /^\// {print $3}')
    printf '  %-22s %-48s %s\n' "$name" "${lib:-?}" "$(dpkg -S "$(readlink -f "${lib:-/nonexistent}")" 2>/dev/null | cut -d: -f1 | head -1)"
done
echo "==> $deb ($(du -h "$deb" | cut -f1)), $tarball ($(du -h "$tarball" | cut -f1))"
echo "    Depends: $depends"
sha256sum "$deb" "$tarball"
