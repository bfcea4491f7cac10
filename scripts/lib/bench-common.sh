# shellcheck shell=bash
# Shared helpers of the side-by-side benchmark scripts (sourced, not run).
# Sets WORK (a temporary directory) and PIDS (processes to stop), removed/killed on exit.

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_http() { # url
    for _ in $(seq 1 100); do
        curl -sf -o /dev/null "$1" && return 0
        sleep 0.1
    done
    echo "$(basename "$0"): $1 did not come up" >&2
    return 1
}

cpu_ticks() { # pid -> utime+stime in clock ticks
    awk '{print $14 + $15}' "/proc/$1/stat"
}
