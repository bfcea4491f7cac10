#!/usr/bin/env bash
# Benchmarks watchkeeper-db against the Debian reference exporters, side by side in one run,
# against the same local services (PostgreSQL 127.0.0.1:5432 trust, MariaDB 127.0.0.1:3306 root
# without password, Redis 127.0.0.1:6379):
#
#   scripts/bench-db.sh            # 300 scrapes per exporter after 20 warm-up scrapes
#   SCRAPES=1000 scripts/bench-db.sh
#
# For each engine it runs one watchkeeper-db with that single target and the matching
# reference exporter (prometheus-postgres-exporter, prometheus-mysqld-exporter,
# prometheus-redis-exporter), scrapes both alternately one request at a time with curl, and
# prints p50/p99 scrape latency, CPU per scrape (utime+stime from /proc), RSS after the run,
# peak RSS and the number of series, then the ratios ours/theirs (target: p99 and RSS <= 0.5).
# Output is a Markdown table for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."

SCRAPES=${SCRAPES:-300}
WARMUP=${WARMUP:-20}
PG_EXPORTER=${PG_EXPORTER:-/usr/bin/prometheus-postgres-exporter}
MYSQL_EXPORTER=${MYSQL_EXPORTER:-/usr/bin/prometheus-mysqld-exporter}
REDIS_EXPORTER=${REDIS_EXPORTER:-/usr/bin/prometheus-redis-exporter}
for b in "$PG_EXPORTER" "$MYSQL_EXPORTER" "$REDIS_EXPORTER" curl awk; do
    command -v "$b" >/dev/null || { echo "bench-db.sh: $b not found" >&2; exit 2; }
done

echo "Building watchkeeper-db (release)..." >&2
# shellcheck source=scripts/lib/release-build.sh
source scripts/lib/release-build.sh
build_release_exporters -q
snapshot_release_binary watchkeeper-db target/bench-bin
OURS=target/bench-bin/watchkeeper-db

# shellcheck source=scripts/lib/bench-common.sh
source scripts/lib/bench-common.sh  # the script has cd-ed to the repository root

status_kb() { # pid field
    awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"
}

start_ours() { # name kind port  (kind "all": one target per engine)
    local cfg="$WORK/$1.yml"
    if [ "$2" = all ]; then
        printf 'targets:\n  - name: pg\n    kind: postgres\n  - name: maria\n    kind: mysql\n  - name: cache\n    kind: redis\n' >"$cfg"
    else
        printf 'targets:\n  - name: %s\n    kind: %s\n    port: %s\n' "$1" "$2" "$3" >"$cfg"
    fi
    local port
    port=$(free_port)
    "$OURS" --config.file "$cfg" --web.listen-address "127.0.0.1:$port" --log.level warn \
        >"$WORK/$1.ours.log" 2>&1 &
    PIDS+=($!)
    echo "$! $port"
}

start_ref() { # engine
    local port
    port=$(free_port)
    case "$1" in
        postgres)
            DATA_SOURCE_NAME="postgresql://postgres@127.0.0.1:5432/postgres?sslmode=disable" \
                "$PG_EXPORTER" --web.listen-address="127.0.0.1:$port" --log.level=warn \
                >"$WORK/ref-pg.log" 2>&1 & ;;
        mysql)
            DATA_SOURCE_NAME="root@(127.0.0.1:3306)/" \
                "$MYSQL_EXPORTER" --web.listen-address="127.0.0.1:$port" --log.level=warn \
                >"$WORK/ref-mysql.log" 2>&1 & ;;
        redis)
            "$REDIS_EXPORTER" -redis.addr redis://127.0.0.1:6379 -web.listen-address "127.0.0.1:$port" \
                >"$WORK/ref-redis.log" 2>&1 & ;;
    esac
    PIDS+=($!)
    echo "$! $port"
}

# Scrapes url N times; writes one latency (seconds) per line to file.
scrape_n() { # url n file
    : >"$3"
    for _ in $(seq 1 "$2"); do
        curl -s -o /dev/null -w '%{time_total}\n' "$1" >>"$3"
    done
}

quantile() { # file q
    sort -n "$1" | awk -v q="$2" '{a[NR]=$1} END {i=int(q*NR+0.999999); if (i<1) i=1; if (i>NR) i=NR; printf "%.2f", a[i]*1000}'
}

series() { # url
    curl -s "$1" | grep -vc '^#' || true
}

HZ=$(getconf CLK_TCK)
ROWS=()
RATIOS=()
# The three references together: Prometheus scrapes them in parallel, so latency is the worst
# of the three; CPU, RSS and series add up.
R50=0; R99=0; RCPU=0; RRSS=0; RHWM=0; RSER=0
max() { awk -v a="$1" -v b="$2" 'BEGIN {print (a > b) ? a : b}'; }
add() { awk -v a="$1" -v b="$2" 'BEGIN {print a + b}'; }

measure() { # label pid port -> "p50 p99 cpu_ms rss_mb hwm_mb series"
    local url="http://127.0.0.1:$3/metrics"
    scrape_n "$url" "$WARMUP" "$WORK/warm"
    local t0 t1
    t0=$(cpu_ticks "$2")
    scrape_n "$url" "$SCRAPES" "$WORK/$1.lat"
    t1=$(cpu_ticks "$2")
    local p50 p99 cpu rss hwm n
    p50=$(quantile "$WORK/$1.lat" 0.50)
    p99=$(quantile "$WORK/$1.lat" 0.99)
    cpu=$(awk -v a="$t0" -v b="$t1" -v hz="$HZ" -v n="$SCRAPES" 'BEGIN {printf "%.3f", (b-a)*1000/hz/n}')
    rss=$(awk -v k="$(status_kb "$2" VmRSS)" 'BEGIN {printf "%.1f", k/1024}')
    hwm=$(awk -v k="$(status_kb "$2" VmHWM)" 'BEGIN {printf "%.1f", k/1024}')
    n=$(series "$url")
    echo "$p50 $p99 $cpu $rss $hwm $n"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a/b; else print "n/a" }'; }

for engine in postgres mysql redis; do
    case "$engine" in
        postgres) port=5432; ref=postgres_exporter ;;
        mysql) port=3306; ref=mysqld_exporter ;;
        redis) port=6379; ref=redis_exporter ;;
    esac
    read -r our_pid our_port < <(start_ours "bench-$engine" "$engine" "$port")
    read -r ref_pid ref_port < <(start_ref "$engine")
    wait_http "http://127.0.0.1:$our_port/metrics"
    wait_http "http://127.0.0.1:$ref_port/metrics"
    echo "Measuring $engine ($SCRAPES scrapes each)..." >&2
    read -r o50 o99 ocpu orss ohwm oser < <(measure "ours-$engine" "$our_pid" "$our_port")
    read -r r50 r99 rcpu rrss rhwm rser < <(measure "ref-$engine" "$ref_pid" "$ref_port")
    ROWS+=("| $engine | watchkeeper-db | $o50 | $o99 | $ocpu | $orss | $ohwm | $oser |")
    ROWS+=("| $engine | $ref | $r50 | $r99 | $rcpu | $rrss | $rhwm | $rser |")
    RATIOS+=("| $engine | $(ratio "$o50" "$r50") | $(ratio "$o99" "$r99") | $(ratio "$ocpu" "$rcpu") | $(ratio "$orss" "$rrss") | $(ratio "$ohwm" "$rhwm") | $(ratio "$oser" "$rser") |")
    R50=$(max "$R50" "$r50"); R99=$(max "$R99" "$r99"); RCPU=$(add "$RCPU" "$rcpu")
    RRSS=$(add "$RRSS" "$rrss"); RHWM=$(add "$RHWM" "$rhwm"); RSER=$(add "$RSER" "$rser")
    kill "$our_pid" "$ref_pid" 2>/dev/null || true
done

# One watchkeeper-db with all three targets replaces all three reference exporters.
read -r our_pid our_port < <(start_ours bench-all all 0)
wait_http "http://127.0.0.1:$our_port/metrics"
echo "Measuring one watchkeeper-db with all three targets..." >&2
read -r o50 o99 ocpu orss ohwm oser < <(measure ours-all "$our_pid" "$our_port")
ROWS+=("| all three | watchkeeper-db (one process) | $o50 | $o99 | $ocpu | $orss | $ohwm | $oser |")
ROWS+=("| all three | the three references (sum; latency: worst) | $R50 | $R99 | $RCPU | $RRSS | $RHWM | $RSER |")
RATIOS+=("| all three | $(ratio "$o50" "$R50") | $(ratio "$o99" "$R99") | $(ratio "$ocpu" "$RCPU") | $(ratio "$orss" "$RRSS") | $(ratio "$ohwm" "$RHWM") | $(ratio "$oser" "$RSER") |")
kill "$our_pid" 2>/dev/null || true

echo
echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $SCRAPES sequential scrapes per exporter after $WARMUP warm-up scrapes"
echo
echo "| engine | exporter | p50 ms | p99 ms | CPU ms/scrape | RSS MiB | peak RSS MiB | series |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
echo
echo "Ratios watchkeeper-db / reference (target: p99 and RSS <= 0.50):"
echo
echo "| engine | p50 | p99 | CPU/scrape | RSS | peak RSS | series |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${RATIOS[@]}"
