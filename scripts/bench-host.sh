#!/usr/bin/env bash
# Benchmarks watchkeeper-host against node_exporter side by side, in one run, with the same
# collectors: RSS, CPU time per scrape, latency p50/p99 (sequential and concurrent), bytes and
# series, and the ratios against the targets of issue 2. Figures go to docs/benchmarks.md.
#
# Usage: scripts/bench-host.sh [--scrapes N] [--concurrency C]
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/prometheus-node-exporter ]; then
    echo "installing prometheus-node-exporter (the reference)" >&2
    apt-get install -y prometheus-node-exporter >/dev/null
fi
# shellcheck source=scripts/lib/release-build.sh
source scripts/lib/release-build.sh
build_release_exporters
# `cargo bench` relinks target/release/watchkeeper-host with dev-dependency features: measure
# the binary the release build made.
snapshot_release_binary watchkeeper-host target/bench-bin
cargo bench -p watchkeeper-host --bench scrape_load -- \
    --ours "$PWD/target/bench-bin/watchkeeper-host" \
    --reference /usr/bin/prometheus-node-exporter "$@"
