#!/usr/bin/env bash
# Copies alert-rules/*.rules.yml and dashboards/*.json into the Helm chart
# (deploy/helm/watchkeeper/files/), which renders them as PrometheusRule and
# dashboard ConfigMaps: Helm can only read files inside the chart.
#
#   scripts/sync-chart-rules.sh          # copy (run after changing rules or dashboards)
#   scripts/sync-chart-rules.sh --check  # exit 1, listing the differences, if out of sync
set -euo pipefail
cd "$(dirname "$0")/.."
CHART_FILES=deploy/helm/watchkeeper/files
check=0
case "${1:-}" in
    --check) check=1 ;;
    "") ;;
    *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

# pairs: source directory, glob, destination directory
# The globs are meant to expand.
# shellcheck disable=SC2086
sync_dir() {
    local src=$1 glob=$2 dst=$3 rc=0 f name
    if [ "$check" = 1 ]; then
        for f in "$src"/$glob; do
            [ -e "$f" ] || continue
            name=$(basename "$f")
            if [ ! -e "$dst/$name" ]; then
                echo "out of sync: $dst/$name is missing (from $f)" >&2
                rc=1
            elif ! cmp -s "$f" "$dst/$name"; then
                echo "out of sync: $dst/$name differs from $f" >&2
                rc=1
            fi
        done
        for f in "$dst"/$glob; do
            [ -e "$f" ] || continue
            name=$(basename "$f")
            if [ ! -e "$src/$name" ]; then
                echo "out of sync: $dst/$name has no source in $src/" >&2
                rc=1
            fi
        done
        return "$rc"
    fi
    mkdir -p "$dst"
    rm -f "$dst"/$glob
    cp -p "$src"/$glob "$dst"/
}

rc=0
sync_dir alert-rules '*.rules.yml' "$CHART_FILES/alert-rules" || rc=1
sync_dir dashboards '*.json' "$CHART_FILES/dashboards" || rc=1
if [ "$check" = 1 ]; then
    if [ "$rc" = 0 ]; then echo "chart copies of alert-rules/ and dashboards/: in sync"; else
        echo "run scripts/sync-chart-rules.sh" >&2; fi
fi
exit "$rc"
