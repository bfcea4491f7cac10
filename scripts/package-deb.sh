#!/usr/bin/env bash
# Builds the release Debian packages of the exporters with cargo-deb, one
# .deb per exporter (binary, systemd unit, default configuration as
# conffiles, a system user created on install), into target/debian/.
#
#   scripts/package-deb.sh                  # every exporter with packaging metadata
#   scripts/package-deb.sh host blackbox    # only these
#
# The binaries come from the one release build (scripts/lib/release-build.sh:
# fat LTO, the code-order lists apply), so this takes many minutes on a small
# machine. Needs cargo-deb: cargo install cargo-deb --version 3.8.0 --locked
# Install with: sudo dpkg -i target/debian/watchkeeper-host_*.deb
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/release-build.sh
. scripts/lib/release-build.sh

cargo deb --version >/dev/null 2>&1 || {
    echo "package-deb: cargo-deb is missing: cargo install cargo-deb --version 3.8.0 --locked" >&2; exit 1; }

if [ "$#" -gt 0 ]; then names=("$@"); else names=(); for p in "${EXPORTER_PACKAGES[@]}"; do names+=("${p#watchkeeper-}"); done; fi
packages=()
for x in "${names[@]}"; do
    if [ ! -f "crates/$x/Cargo.toml" ]; then echo "package-deb: no crate crates/$x" >&2; exit 2; fi
    if grep -q '^\[package.metadata.deb\]' "crates/$x/Cargo.toml"; then
        packages+=("watchkeeper-$x")
    else
        echo "package-deb: crates/$x/Cargo.toml has no [package.metadata.deb] (deploy/debian/$x/cargo-deb.toml): skipped" >&2
    fi
done
[ "${#packages[@]}" -gt 0 ] || { echo "package-deb: nothing to package" >&2; exit 1; }

build_release_exporters --locked
mkdir -p target/debian
for p in "${packages[@]}"; do
    cargo deb -p "$p" --no-build -o target/debian/
done
ls -l target/debian/*.deb
