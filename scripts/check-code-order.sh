#!/usr/bin/env bash
# Checks that each crates/<exporter>/code-order.txt still names the functions of the release
# binary it is meant for: links the one release build with a link map and reports, per list,
# the share of its names the binary has. Fails below MIN (default 0.9), so a toolchain,
# dependency or feature change that silently made a list miss is caught here, not by a
# benchmark months later. Costs one release build (minutes with fat LTO).
#
# Usage: scripts/check-code-order.sh [MIN]
set -euo pipefail
cd "$(dirname "$0")/.."
MIN=${1:-0.9}
MAPS=$PWD/target/code-order/check
mkdir -p "$MAPS"
# shellcheck source=scripts/lib/release-build.sh
source scripts/lib/release-build.sh
WATCHKEEPER_LINK_MAP=$MAPS build_release_exporters -q
rc=0
for order in crates/*/code-order.txt; do
    crate=$(basename "$(dirname "$order")")
    map=$MAPS/watchkeeper-$crate.map
    if [ ! -s "$map" ]; then
        echo "check-code-order: no link map for $crate ($map): was the binary relinked?" >&2
        rc=1
        continue
    fi
    python3 scripts/code-order/order.py match "$order" "$map" "$MIN" || rc=1
done
exit "$rc"
