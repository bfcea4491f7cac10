#!/usr/bin/env bash
# Benchmarks watchkeeper-blackbox against the Debian blackbox_exporter, side by side in one run,
# probing the same local hyper target with the same blackbox.yml:
#
#   scripts/bench-blackbox.sh                 # 10 s per exporter and concurrency level
#   SECONDS_PER_RUN=30 scripts/bench-blackbox.sh
#
# For 16 and 64 concurrent /probe requests (keep-alive clients from the bench_load example)
# it reports probes per second, p50/p99 probe latency as the client sees it, CPU seconds per
# probe (utime+stime of the exporter from /proc), RSS when idle and peak RSS (VmHWM) after the
# load, then the ratios ours/theirs. Targets from issue 3: probes per CPU-second >= 2x, RSS
# <= 1/3. Output is Markdown for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."

RUN_SECS=${SECONDS_PER_RUN:-10}
REFERENCE=${REFERENCE:-/usr/bin/prometheus-blackbox-exporter}
for b in "$REFERENCE" curl awk python3; do
    command -v "$b" >/dev/null || { echo "bench-blackbox.sh: $b not found" >&2; exit 2; }
done

echo "Building watchkeeper-blackbox and the load generator (release)..." >&2
# shellcheck source=scripts/lib/release-build.sh
source scripts/lib/release-build.sh
build_release_exporters -q
snapshot_release_binary watchkeeper-blackbox target/bench-bin
cargo build --release -q -p watchkeeper-blackbox --example bench_load
OURS=target/bench-bin/watchkeeper-blackbox
LOAD=target/release/examples/bench_load

# shellcheck source=scripts/lib/bench-common.sh
source scripts/lib/bench-common.sh  # the script has cd-ed to the repository root

rss_kb() { # pid field (VmRSS or VmHWM)
    awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"
}

# The probed site.
"$LOAD" target 127.0.0.1:0 >"$WORK/target.addr" &
PIDS+=($!)
for _ in $(seq 1 50); do [ -s "$WORK/target.addr" ] && break; sleep 0.1; done
TARGET="http://$(cat "$WORK/target.addr")/"

cat >"$WORK/blackbox.yml" <<'EOF'
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
EOF

THEIR_PORT=$(free_port)
"$REFERENCE" --config.file="$WORK/blackbox.yml" --web.listen-address="127.0.0.1:$THEIR_PORT" \
    --log.level=error >/dev/null 2>&1 &
THEIRS_PID=$!
PIDS+=("$THEIRS_PID")

OUR_PORT=$(free_port)
# --web.max-requests 0: no concurrency cap, as blackbox_exporter has none; --history.limit as
# blackbox's default 100.
"$OURS" --config.file="$WORK/blackbox.yml" --web.listen-address="127.0.0.1:$OUR_PORT" \
    --web.max-requests=0 --log.level=error >/dev/null 2>&1 &
OURS_PID=$!
PIDS+=("$OURS_PID")

wait_http "http://127.0.0.1:$THEIR_PORT/metrics"
wait_http "http://127.0.0.1:$OUR_PORT/metrics"

ENC_TARGET=$(python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$TARGET")
QUERY="/probe?module=http_2xx&target=$ENC_TARGET"

# Warm up both (TLS roots, allocator), then read idle RSS.
for port in "$THEIR_PORT" "$OUR_PORT"; do
    "$LOAD" load "http://127.0.0.1:$port$QUERY" 4 1 >/dev/null
done
sleep 1
IDLE_THEIRS=$(rss_kb "$THEIRS_PID" VmRSS)
IDLE_OURS=$(rss_kb "$OURS_PID" VmRSS)
ANON_THEIRS=$(rss_kb "$THEIRS_PID" RssAnon)
ANON_OURS=$(rss_kb "$OURS_PID" RssAnon)

TICKS=$(getconf CLK_TCK)
declare -A RES
for conc in 16 64; do
    for who in theirs ours; do
        if [ "$who" = theirs ]; then pid=$THEIRS_PID; port=$THEIR_PORT; else pid=$OURS_PID; port=$OUR_PORT; fi
        before=$(cpu_ticks "$pid")
        line=$("$LOAD" load "http://127.0.0.1:$port$QUERY" "$conc" "$RUN_SECS")
        after=$(cpu_ticks "$pid")
        requests=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$line")
        ok=$(sed -E 's/.*ok=([0-9]+).*/\1/' <<<"$line")
        rps=$(sed -E 's/.*rps=([0-9.]+).*/\1/' <<<"$line")
        p50=$(sed -E 's/.*p50_ms=([0-9.]+).*/\1/' <<<"$line")
        p99=$(sed -E 's/.*p99_ms=([0-9.]+).*/\1/' <<<"$line")
        cpu_ms=$(awk -v a="$before" -v b="$after" -v t="$TICKS" -v n="$requests" \
            'BEGIN { printf "%.3f", (n > 0) ? (b - a) / t * 1000 / n : 0 }')
        RES[$who,$conc]="$rps $p50 $p99 $cpu_ms $ok $requests"
        sleep 1
    done
done
HWM_THEIRS=$(rss_kb "$THEIRS_PID" VmHWM)
HWM_OURS=$(rss_kb "$OURS_PID" VmHWM)

echo
echo "Run: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, ${RUN_SECS}s per cell, target $TARGET"
echo "blackbox_exporter: $("$REFERENCE" --version 2>&1 | head -1)"
echo "watchkeeper-blackbox: $("$OURS" --version 2>&1 | head -1)"
echo
echo "| concurrency | exporter | probes/s | p50 ms | p99 ms | CPU ms/probe | successful |"
echo "|---|---|---|---|---|---|---|"
for conc in 16 64; do
    for who in theirs ours; do
        read -r rps p50 p99 cpu ok req <<<"${RES[$who,$conc]}"
        name=$([ "$who" = theirs ] && echo blackbox_exporter || echo watchkeeper-blackbox)
        echo "| $conc | $name | $rps | $p50 | $p99 | $cpu | $ok/$req |"
    done
done
echo
echo "| memory | blackbox_exporter | watchkeeper-blackbox | ours/theirs |"
echo "|---|---|---|---|"
awk -v a="$IDLE_THEIRS" -v b="$IDLE_OURS" 'BEGIN { printf "| RSS idle (MiB) | %.1f | %.1f | %.2f |\n", a/1024, b/1024, b/a }'
awk -v a="$ANON_THEIRS" -v b="$ANON_OURS" 'BEGIN { printf "| of which anonymous (heap, stacks; MiB) | %.1f | %.1f | %.2f |\n", a/1024, b/1024, b/a }'
awk -v a="$HWM_THEIRS" -v b="$HWM_OURS" 'BEGIN { printf "| peak RSS under load (MiB) | %.1f | %.1f | %.2f |\n", a/1024, b/1024, b/a }'
echo
echo "| ratio (ours/theirs) | concurrency 16 | concurrency 64 |"
echo "|---|---|---|"
ratio_row() { # label field invert
    local label=$1 field=$2 invert=$3
    local out="| $label |"
    for conc in 16 64; do
        read -r -a t <<<"${RES[theirs,$conc]}"
        read -r -a o <<<"${RES[ours,$conc]}"
        out+=$(awk -v a="${t[$field]}" -v b="${o[$field]}" -v inv="$invert" \
            'BEGIN { if (a == 0 || b == 0) { printf " n/a |"; exit } r = inv ? a / b : b / a; printf " %.2f |", r }')
    done
    echo "$out"
}
ratio_row "probes/s" 0 0
ratio_row "p99 latency" 2 0
ratio_row "probes per CPU-second (theirs CPU/probe ÷ ours)" 3 1
