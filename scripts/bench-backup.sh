#!/usr/bin/env bash
# Scrape cost of watchkeeper-backup with a files job whose glob matches many
# artefacts (default 100 000): the background read of the glob (what every
# scrape would cost without the cache: backup_source_refresh_duration_seconds)
# against the cost of a scrape served from the cache (curl time and the
# exporter's CPU seconds per scrape). Uses the debug build (the release build
# is the lead's; set BIN= to measure another binary).
#   scripts/bench-backup.sh [FILES] [SCRAPES]
set -euo pipefail
cd "$(dirname "$0")/.."

FILES=${1:-100000}
SCRAPES=${2:-200}
BIN=${BIN:-target/debug/watchkeeper-backup}
if [ ! -x "$BIN" ]; then cargo build -q -p watchkeeper-backup; fi

WORK=$(mktemp -d)
PID=
cleanup() { if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; fi; rm -rf "$WORK"; }
trap cleanup EXIT

echo "creating $FILES artefacts..."
python3 - "$WORK/art" "$FILES" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
os.makedirs(d)
for i in range(n):
    with open(os.path.join(d, f"backup-{i:06d}.dump"), "wb") as f:
        f.write(b"x" * (i % 4096))
PY

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$WORK/backup.yml" <<YML
state_dir: $WORK/state
jobs:
  - name: big
    files: $WORK/art/*.dump
    max_age: 26h
    min_size: 1KiB
    refresh_interval: 1h
YML
"$BIN" --config.file="$WORK/backup.yml" --web.listen-address="127.0.0.1:$PORT" --log.level=warn &
PID=$!

metric() { curl -fsS "http://127.0.0.1:$PORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
for _ in $(seq 1 600); do
    v=$(metric 'backup_source_refresh_duration_seconds{job="big"}' 2>/dev/null || true)
    if [ -n "$v" ]; then break; fi
    sleep 0.1
done
if [ -z "${v:-}" ]; then echo "the first refresh did not finish" >&2; exit 1; fi
echo "artefacts counted:           $(metric 'backup_artifacts{job="big"}')"
echo "glob read (no cache), s:     $v"

cpu() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
TICKS=$(getconf CLK_TCK)
before=$(cpu)
for _ in $(seq 1 "$SCRAPES"); do
    curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$PORT/metrics"
done > "$WORK/times"
after=$(cpu)
sort -n "$WORK/times" | awk -v n="$SCRAPES" '
    { t[NR] = $1; sum += $1 }
    END { printf "cached scrape, s:            median %.6f  p99 %.6f  mean %.6f (%d scrapes)\n",
          t[int(n / 2) + 1], t[int(n * 0.99)], sum / n, n }'
awk -v b="$before" -v a="$after" -v hz="$TICKS" -v n="$SCRAPES" \
    'BEGIN { printf "exporter CPU per scrape, s:  %.6f\n", (a - b) / hz / n }'
