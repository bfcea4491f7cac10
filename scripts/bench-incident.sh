#!/usr/bin/env bash
# Incident exporter load: 10 000 open alerts in a real Alertmanager and 100 000 stored
# incidents; prints start-up, poll, scrape and page costs and RSS (docs/incident.md#cost).
#   scripts/bench-incident.sh
set -euo pipefail
cd "$(dirname "$0")/.."
WATCHKEEPER_BENCH=1 cargo test -p watchkeeper-incident --test bench -- --nocapture
