#!/usr/bin/env bash
# Runs the Watchkeeper suite on this machine with sensible defaults:
#
#   scripts/run.sh                    # exporters only
#   scripts/run.sh --with-prometheus  # plus a Prometheus on :9090 scraping
#                                     # them and evaluating alert-rules/
#   scripts/run.sh --debug            # debug build instead of release
#
# Builds the release binaries, then starts
#   watchkeeper-host      on 127.0.0.1:10150
#   watchkeeper-blackbox  on 127.0.0.1:10151 (deploy/examples/blackbox.yml)
#   watchkeeper-tls       on 127.0.0.1:10152 (deploy/examples/tls.yml)
#   watchkeeper-backup    on 127.0.0.1:10153 (deploy/examples/backup.yml, with
#                         its state directory under target/run/)
#   watchkeeper-db        on 127.0.0.1:10154 (deploy/examples/db.yml: the
#                         local PostgreSQL, MariaDB and Redis)
#   watchkeeper-incident  on 127.0.0.1:10155 (deploy/examples/incident.yml,
#                         its database under target/run/)
# (each only when the workspace has it), waits until each is ready, prints
# the URLs, and stops everything on Ctrl-C. With --with-prometheus, also an
# Alertmanager on :9093 that Prometheus sends to and the incident exporter
# follows (and receives webhooks from). Logs: target/run/*.log.
set -euo pipefail
cd "$(dirname "$0")/.."

WITH_PROMETHEUS=0
PROFILE=release
for arg in "$@"; do
    case "$arg" in
        --with-prometheus) WITH_PROMETHEUS=1 ;;
        --debug) PROFILE=debug ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument: $arg (try --help)" >&2; exit 2 ;;
    esac
done

RUN_DIR=target/run
mkdir -p "$RUN_DIR"
log() { printf 'run.sh: %s\n' "$*"; }
die() { printf 'run.sh: ERROR: %s\n' "$*" >&2; exit 1; }

# Which exporters does this workspace build?
mapfile -t BINS < <(cargo metadata --no-deps --format-version 1 --offline 2>/dev/null \
    | python3 -c 'import json,sys
for p in json.load(sys.stdin)["packages"]:
    for t in p["targets"]:
        if "bin" in t["kind"] and t["name"] in ("watchkeeper-host", "watchkeeper-blackbox", "watchkeeper-tls",
                                         "watchkeeper-backup", "watchkeeper-db", "watchkeeper-incident"):
            print(t["name"])')
[ "${#BINS[@]}" -gt 0 ] || die "no exporter binary in this workspace (cargo metadata found none)"
has_bin() { local b; for b in "${BINS[@]}"; do [ "$b" = "$1" ] && return 0; done; return 1; }

# shellcheck source=scripts/lib/release-build.sh
source scripts/lib/release-build.sh
log "building (${PROFILE}): ${BINS[*]}"
if [ "$PROFILE" = release ]; then
    # shellcheck disable=SC2119 # no extra cargo arguments
    build_release_exporters
else
    pkg_args=()
    for b in "${BINS[@]}"; do pkg_args+=(-p "$b" --bin "$b"); done
    cargo build "${pkg_args[@]}"
fi
BIN_DIR=target/$PROFILE

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

PIDS=()
NAMES=()
stop_all() {
    trap - INT TERM EXIT
    if [ "${#PIDS[@]}" -gt 0 ]; then
        log "stopping ${NAMES[*]}"
        kill -TERM "${PIDS[@]}" 2>/dev/null || true
        for _ in $(seq 1 50); do
            local alive=0 p
            for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
            [ "$alive" = 0 ] && break
            sleep 0.1
        done
        kill -KILL "${PIDS[@]}" 2>/dev/null || true
    fi
}
trap 'stop_all; exit 130' INT TERM
trap stop_all EXIT

# start NAME PORT READY_PATH COMMAND...
start() {
    local name=$1 port=$2 ready=$3; shift 3
    port_busy "$port" && die "port $port is already in use (another $name?); stop it first"
    "$@" >"$RUN_DIR/$name.log" 2>&1 &
    PIDS+=("$!")
    NAMES+=("$name")
    local pid=$!
    for _ in $(seq 1 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$RUN_DIR/$name.log" >&2
            die "$name exited at start (log: $RUN_DIR/$name.log)"
        fi
        if curl -fsS -o /dev/null "http://127.0.0.1:$port$ready" 2>/dev/null; then
            log "$name ready on http://127.0.0.1:$port"
            return 0
        fi
        sleep 0.2
    done
    die "$name did not become ready within 20s (log: $RUN_DIR/$name.log)"
}

URLS=()
if has_bin watchkeeper-host; then
    start watchkeeper-host 10150 /-/healthy "$BIN_DIR/watchkeeper-host" --web.listen-address=127.0.0.1:10150
    URLS+=("host metrics:      http://127.0.0.1:10150/metrics")
fi
if has_bin watchkeeper-blackbox; then
    start watchkeeper-blackbox 10151 /-/healthy "$BIN_DIR/watchkeeper-blackbox" \
        --web.listen-address=127.0.0.1:10151 --config.file=deploy/examples/blackbox.yml
    URLS+=("blackbox probe:    http://127.0.0.1:10151/probe?target=http://127.0.0.1:10150/-/healthy&module=http_2xx&debug=true")
    URLS+=("blackbox page:     http://127.0.0.1:10151/")
fi
if has_bin watchkeeper-tls; then
    start watchkeeper-tls 10152 /-/healthy "$BIN_DIR/watchkeeper-tls" \
        --web.listen-address=127.0.0.1:10152 --config.file=deploy/examples/tls.yml
    URLS+=("certificates:      http://127.0.0.1:10152/metrics")
fi
if has_bin watchkeeper-backup; then
    # The example's jobs, with the state directory (run wrapper records) kept under target/run.
    mkdir -p "$RUN_DIR/backup-state"
    sed "s#^state_dir: .*#state_dir: $PWD/$RUN_DIR/backup-state#" deploy/examples/backup.yml >"$RUN_DIR/backup.yml"
    start watchkeeper-backup 10153 /-/healthy "$BIN_DIR/watchkeeper-backup" \
        --web.listen-address=127.0.0.1:10153 --config.file="$RUN_DIR/backup.yml"
    URLS+=("backups:           http://127.0.0.1:10153/metrics")
fi
if has_bin watchkeeper-db; then
    start watchkeeper-db 10154 /-/healthy "$BIN_DIR/watchkeeper-db" \
        --web.listen-address=127.0.0.1:10154 --config.file=deploy/examples/db.yml
    URLS+=("database metrics:  http://127.0.0.1:10154/metrics")
fi
if [ "$WITH_PROMETHEUS" = 1 ]; then
    command -v prometheus-alertmanager >/dev/null || die "prometheus-alertmanager is not installed (scripts/install-test-deps.sh installs it)"
    # Every alert goes to the incident exporter's webhook (the bundled routing in
    # deploy/alertmanager/ needs real receivers); the exporter also polls the API.
    cat >"$RUN_DIR/alertmanager.yml" <<'YAML'
route:
  receiver: incident
  group_wait: 5s
  group_interval: 30s
  repeat_interval: 4h
receivers:
  - name: incident
    webhook_configs:
      - url: http://127.0.0.1:10155/webhook
        send_resolved: true
YAML
    start alertmanager 9093 /-/ready prometheus-alertmanager --config.file="$RUN_DIR/alertmanager.yml" \
        --storage.path="$RUN_DIR/alertmanager-data" --web.listen-address=127.0.0.1:9093 \
        --cluster.listen-address=
    URLS+=("alertmanager:      http://127.0.0.1:9093/")
fi
if has_bin watchkeeper-incident; then
    start watchkeeper-incident 10155 /-/healthy "$BIN_DIR/watchkeeper-incident" \
        --web.listen-address=127.0.0.1:10155 --config.file=deploy/examples/incident.yml \
        --storage.path="$RUN_DIR/incidents.db"
    URLS+=("incidents:         http://127.0.0.1:10155/incidents")
fi
if [ "$WITH_PROMETHEUS" = 1 ]; then
    command -v prometheus >/dev/null || die "prometheus is not installed (scripts/install-test-deps.sh installs it)"
    start prometheus 9090 /-/ready prometheus --config.file=deploy/examples/prometheus.yml \
        --storage.tsdb.path="$RUN_DIR/prometheus-data" --web.listen-address=127.0.0.1:9090
    URLS+=("prometheus:        http://127.0.0.1:9090/targets  (alerts: http://127.0.0.1:9090/alerts)")
fi

printf '\n'
printf '  %s\n' "${URLS[@]}"
printf '\n  logs in %s/; Ctrl-C stops everything.\n\n' "$RUN_DIR"

# Wait until Ctrl-C, or until one of them dies (then stop the rest).
while :; do
    for i in "${!PIDS[@]}"; do
        if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
            log "${NAMES[$i]} exited; last lines of $RUN_DIR/${NAMES[$i]}.log:"
            tail -n 20 "$RUN_DIR/${NAMES[$i]}.log" >&2
            exit 1
        fi
    done
    sleep 1
done
