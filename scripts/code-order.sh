#!/usr/bin/env bash
# Regenerates crates/<exporter>/code-order.txt: the functions a running exporter uses, which
# the build lays out first and contiguously (see crates/build/src/lib.rs) so that only they,
# not the whole binary, stay resident.
#
# Each round links the release binary with a link map, runs it with scripts/code-order/pagetrap.c
# preloaded (it records every code page that runs, one page at a time), drives it through
# start-up and a steady workload, and maps the pages back to functions. A traced page also holds
# cold neighbours, so later rounds lay the candidates out in different orders and only the
# functions every round ran are kept.
#
# Usage: scripts/code-order.sh host|blackbox [ROUNDS]   (default 3 rounds; needs gcc, readelf)
# Run it after changes that move hot code (new collectors, dependency upgrades); a stale list
# only costs memory: functions it misses are faulted in from the cold part of the binary.
set -euo pipefail
cd "$(dirname "$0")/.."

EXPORTER=${1:?usage: scripts/code-order.sh host|blackbox [ROUNDS]}
ROUNDS=${2:-3}
case "$EXPORTER" in host | blackbox) ;; *) echo "code-order.sh: unknown exporter $EXPORTER" >&2; exit 2 ;; esac
PKG=watchkeeper-$EXPORTER
ORDER=crates/$EXPORTER/code-order.txt
OUT=$PWD/target/code-order/$EXPORTER
mkdir -p "$OUT"
source scripts/lib/bench-common.sh
# shellcheck source=scripts/lib/release-build.sh
source scripts/lib/release-build.sh

gcc -O2 -shared -fPIC -o "$OUT/pagetrap.so" scripts/code-order/pagetrap.c
cargo build --release -q -p watchkeeper-blackbox --example bench_load
LOAD=$PWD/target/release/examples/bench_load

workload_host() { # port
    for _ in $(seq 1 30); do
        curl -sf -o /dev/null "http://127.0.0.1:$1/metrics"
        curl -sf -o /dev/null -H 'Accept-Encoding: gzip' "http://127.0.0.1:$1/metrics"
        curl -sf -o /dev/null -H 'Accept: application/openmetrics-text;version=1.0.0' "http://127.0.0.1:$1/metrics"
    done
}

workload_blackbox() { # port
    local target
    target=$(cat "$WORK/target.addr")
    for _ in $(seq 1 10); do
        for q in "module=http_2xx&target=http://$target/" "module=tcp&target=$target" \
            "module=icmp&target=127.0.0.1" "module=dns&target=127.0.0.1:$DNS_PORT"; do
            curl -s -o /dev/null "http://127.0.0.1:$1/probe?$q"
        done
        curl -sf -o /dev/null "http://127.0.0.1:$1/metrics"
        curl -sf -o /dev/null -H 'Accept-Encoding: gzip' "http://127.0.0.1:$1/metrics"
    done
    "$LOAD" load "http://127.0.0.1:$1/probe?module=http_2xx&target=http://$target/" 16 1 >/dev/null
}

ARGS=()
if [ "$EXPORTER" = blackbox ]; then
    "$LOAD" target 127.0.0.1:0 >"$WORK/target.addr" &
    PIDS+=($!)
    for _ in $(seq 1 50); do [ -s "$WORK/target.addr" ] && break; sleep 0.1; done
    DNS_PORT=$(free_port) # nothing listens: the probe fails fast, through the DNS prober's code
    cat >"$WORK/blackbox.yml" <<'YAML'
modules:
  http_2xx: {prober: http, timeout: 5s, http: {preferred_ip_protocol: ip4}}
  tcp: {prober: tcp, timeout: 5s, tcp: {preferred_ip_protocol: ip4}}
  icmp: {prober: icmp, timeout: 2s, icmp: {preferred_ip_protocol: ip4}}
  dns: {prober: dns, timeout: 1s, dns: {query_name: example.com, preferred_ip_protocol: ip4}}
YAML
    ARGS=(--config.file="$WORK/blackbox.yml")
fi

trace() { # round directory
    local dir=$1 port pid
    WATCHKEEPER_LINK_MAP=$OUT build_release_exporters -q
    port=$(free_port)
    PAGETRAP_OUT=$dir/pages LD_PRELOAD=$OUT/pagetrap.so "target/release/$PKG" "${ARGS[@]}" \
        --web.listen-address="127.0.0.1:$port" --log.level=error >/dev/null 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait_http "http://127.0.0.1:$port/-/ready"
    kill -USR2 "$pid"
    sleep 0.2
    "workload_$EXPORTER" "$port"
    kill -USR1 "$pid"
    sleep 0.2
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    for phase in steady startup; do
        python3 scripts/code-order/order.py symbols "target/release/$PKG" "$OUT/$PKG.map" \
            "$dir/pages.$phase" >"$dir/$phase"
    done
    echo "round $(basename "$dir"): $(wc -l <"$dir/steady") steady, $(wc -l <"$dir/startup") start-up functions" >&2
}

rm -f "$ORDER" # round 1 traces the linker's own layout
DIRS=()
for round in $(seq 1 "$ROUNDS"); do
    dir=$OUT/$round
    rm -rf "$dir"
    mkdir -p "$dir"
    if [ "$round" -gt 1 ]; then
        python3 scripts/code-order/order.py combine "${DIRS[@]}" |
            python3 scripts/code-order/order.py shuffle "$round" >"$ORDER"
    fi
    trace "$dir"
    DIRS+=("$dir")
done
python3 scripts/code-order/order.py combine "${DIRS[@]}" >"$ORDER"
build_release_exporters -q
echo "$ORDER: $(wc -l <"$ORDER") functions" >&2
