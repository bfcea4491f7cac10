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
cargo build --release -p watchkeeper-host
cargo bench -p watchkeeper-host --bench scrape_load -- \
    --ours "$PWD/target/release/watchkeeper-host" \
    --reference /usr/bin/prometheus-node-exporter "$@"
