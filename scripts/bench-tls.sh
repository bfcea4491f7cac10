#!/usr/bin/env bash
# Benchmarks watchkeeper-tls, in one run:
#
# 1. Endpoint probes, side by side with the Debian blackbox_exporter's `tcp` prober with
#    `tls: true` (ssl_exporter is not packaged here): both probe the same local TLS endpoint (a
#    watchkeeper-tls serving HTTPS with --web.config.file) through /probe, verifying against the
#    same CA, for SECONDS_PER_RUN seconds at CONCURRENCY keep-alive clients. Reports probes/s,
#    latency, CPU ms per probe (utime+stime from /proc), idle and peak RSS, and the ratios.
# 2. Files: CERTS generated certificates (one PEM each) in one directory. CPU and wall time of
#    the first scrape (cold: every file parsed) and of the following ones (warm: served from the
#    parse cache), against the floor of parsing the same files alone (Python's `cryptography`,
#    whose X.509 parser is Rust) and of stat-ing them alone.
#
#   scripts/bench-tls.sh
#   SECONDS_PER_RUN=30 CERTS=10000 CONCURRENCY=8 scripts/bench-tls.sh
#   OURS=target/release/watchkeeper-tls scripts/bench-tls.sh   # skip the release build
#
# Output is Markdown for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."

RUN_SECS=${SECONDS_PER_RUN:-10}
CERTS=${CERTS:-10000}
CONC=${CONCURRENCY:-8}
REFERENCE=${REFERENCE:-/usr/bin/prometheus-blackbox-exporter}
for b in "$REFERENCE" curl awk python3; do
    command -v "$b" >/dev/null || { echo "bench-tls.sh: $b not found" >&2; exit 2; }
done
python3 -c 'import cryptography' 2>/dev/null || {
    echo "bench-tls.sh: python3-cryptography not found" >&2
    exit 2
}

if [ -z "${OURS:-}" ]; then
    echo "Building watchkeeper-tls (release)..." >&2
    # shellcheck source=scripts/lib/release-build.sh
    source scripts/lib/release-build.sh
    build_release_exporters -q
    snapshot_release_binary watchkeeper-tls target/bench-bin
    OURS=target/bench-bin/watchkeeper-tls
fi

# shellcheck source=scripts/lib/bench-common.sh
source scripts/lib/bench-common.sh # the script has cd-ed to the repository root

rss_kb() { # pid field (VmRSS, VmHWM, RssAnon)
    awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"
}
TICKS=$(getconf CLK_TCK)

# A CA, the endpoint's certificate (bench.test, 127.0.0.1) and CERTS leaf certificates.
python3 - "$WORK" "$CERTS" <<'EOF'
import datetime, ipaddress, os, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

work, n = sys.argv[1], int(sys.argv[2])
now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
def pem(c):
    return c.public_bytes(serialization.Encoding.PEM)
ca_key = ec.generate_private_key(ec.SECP256R1())
ca = (x509.CertificateBuilder().subject_name(name("Bench CA")).issuer_name(name("Bench CA"))
      .public_key(ca_key.public_key()).serial_number(1).not_valid_before(now)
      .not_valid_after(now + datetime.timedelta(days=3650))
      .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
      .sign(ca_key, hashes.SHA256()))
open(os.path.join(work, "ca.pem"), "wb").write(pem(ca))
key = ec.generate_private_key(ec.SECP256R1())
leaf = (x509.CertificateBuilder().subject_name(name("bench.test")).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(2).not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("bench.test"),
                       x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(ca_key, hashes.SHA256()))
open(os.path.join(work, "server.crt"), "wb").write(pem(leaf) + pem(ca))
open(os.path.join(work, "server.key"), "wb").write(key.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
os.makedirs(os.path.join(work, "certs"))
builder_key = key.public_key()
for i in range(n):
    c = (x509.CertificateBuilder().subject_name(name(f"host{i}.bench.test")).issuer_name(ca.subject)
         .public_key(builder_key).serial_number(1000 + i).not_valid_before(now)
         .not_valid_after(now + datetime.timedelta(days=30 + i % 700))
         .add_extension(x509.SubjectAlternativeName([x509.DNSName(f"host{i}.bench.test")]), critical=False)
         .sign(ca_key, hashes.SHA256()))
    open(os.path.join(work, "certs", f"{i:05d}.pem"), "wb").write(pem(c))
EOF

# The probed endpoint: a watchkeeper-tls serving HTTPS.
cat >"$WORK/web.yml" <<EOF
tls_server_config:
  cert_file: $WORK/server.crt
  key_file: $WORK/server.key
EOF
: >"$WORK/empty.yml"
TARGET_PORT=$(free_port)
"$OURS" --config.file="$WORK/empty.yml" --web.config.file="$WORK/web.yml" \
    --web.listen-address="127.0.0.1:$TARGET_PORT" --web.max-requests=0 --log.level=error \
    >/dev/null 2>&1 &
PIDS+=($!)
TARGET="127.0.0.1:$TARGET_PORT"

cat >"$WORK/blackbox.yml" <<EOF
modules:
  tls_connect:
    prober: tcp
    timeout: 5s
    tcp:
      preferred_ip_protocol: ip4
      tls: true
      tls_config:
        ca_file: $WORK/ca.pem
        server_name: bench.test
EOF
cat >"$WORK/tls.yml" <<EOF
modules:
  tls_connect:
    server_name: bench.test
    ca_file: $WORK/ca.pem
    timeout: 5s
EOF

THEIR_PORT=$(free_port)
"$REFERENCE" --config.file="$WORK/blackbox.yml" --web.listen-address="127.0.0.1:$THEIR_PORT" \
    --log.level=error >/dev/null 2>&1 &
THEIRS_PID=$!
PIDS+=("$THEIRS_PID")
OUR_PORT=$(free_port)
"$OURS" --config.file="$WORK/tls.yml" --web.listen-address="127.0.0.1:$OUR_PORT" \
    --web.max-requests=0 --log.level=error >/dev/null 2>&1 &
OURS_PID=$!
PIDS+=("$OURS_PID")

wait_http "http://127.0.0.1:$THEIR_PORT/metrics"
wait_http "http://127.0.0.1:$OUR_PORT/metrics"
curl -sfk -o /dev/null "https://$TARGET/metrics" || { echo "TLS target did not come up" >&2; exit 1; }

# Keep-alive clients for SECS seconds; prints "requests ok rps p50_ms p99_ms".
load() { # url success-line concurrency secs
    python3 - "$@" <<'EOF'
import http.client, sys, threading, time, urllib.parse
url, want, conc, secs = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
u = urllib.parse.urlsplit(url)
path = u.path + "?" + u.query
lat, ok, lock = [], [0], threading.Lock()
end = time.monotonic() + secs
def worker():
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    mine, good = [], 0
    while time.monotonic() < end:
        t = time.monotonic()
        c.request("GET", path)
        body = c.getresponse().read()
        mine.append(time.monotonic() - t)
        good += want.encode() in body
    with lock:
        lat.extend(mine); ok[0] += good
ts = [threading.Thread(target=worker) for _ in range(conc)]
for t in ts: t.start()
for t in ts: t.join()
lat.sort()
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else 0
print(len(lat), ok[0], f"{len(lat) / secs:.1f}", f"{q(0.5):.3f}", f"{q(0.99):.3f}")
EOF
}

THEIR_URL="http://127.0.0.1:$THEIR_PORT/probe?module=tls_connect&target=$TARGET"
OUR_URL="http://127.0.0.1:$OUR_PORT/probe?module=tls_connect&target=$TARGET"
load "$THEIR_URL" "probe_success 1" 2 1 >/dev/null
load "$OUR_URL" "ssl_probe_success 1" 2 1 >/dev/null
sleep 1
IDLE_THEIRS=$(rss_kb "$THEIRS_PID" VmRSS)
IDLE_OURS=$(rss_kb "$OURS_PID" VmRSS)

declare -A RES
for who in theirs ours; do
    if [ "$who" = theirs ]; then
        pid=$THEIRS_PID url=$THEIR_URL want="probe_success 1"
    else
        pid=$OURS_PID url=$OUR_URL want="ssl_probe_success 1"
    fi
    before=$(cpu_ticks "$pid")
    read -r req ok rps p50 p99 < <(load "$url" "$want" "$CONC" "$RUN_SECS")
    after=$(cpu_ticks "$pid")
    cpu_ms=$(awk -v a="$before" -v b="$after" -v t="$TICKS" -v n="$req" \
        'BEGIN { printf "%.3f", (n > 0) ? (b - a) / t * 1000 / n : 0 }')
    RES[$who]="$rps $p50 $p99 $cpu_ms $ok $req"
    sleep 1
done
HWM_THEIRS=$(rss_kb "$THEIRS_PID" VmHWM)
HWM_OURS=$(rss_kb "$OURS_PID" VmHWM)

# Files: cold and warm scrapes of CERTS certificates.
cat >"$WORK/files.yml" <<EOF
files:
  - $WORK/certs/*.pem
EOF
FILES_PORT=$(free_port)
"$OURS" --config.file="$WORK/files.yml" --web.listen-address="127.0.0.1:$FILES_PORT" \
    --scrape.timeout=120s --log.level=error >/dev/null 2>&1 &
FILES_PID=$!
PIDS+=("$FILES_PID")
wait_http "http://127.0.0.1:$FILES_PORT/-/healthy"
FILES_IDLE=$(rss_kb "$FILES_PID" VmRSS)
scrape() { # -> "wall_s cpu_s samples"
    local before after start end
    before=$(cpu_ticks "$FILES_PID")
    start=$(date +%s.%N)
    curl -sf -H 'X-Prometheus-Scrape-Timeout-Seconds: 120' "http://127.0.0.1:$FILES_PORT/metrics" \
        -o "$WORK/page.txt"
    end=$(date +%s.%N)
    after=$(cpu_ticks "$FILES_PID")
    local n
    n=$(grep -c '^x509_cert_not_after{' "$WORK/page.txt" || true)
    awk -v s="$start" -v e="$end" -v a="$before" -v b="$after" -v t="$TICKS" -v n="$n" \
        'BEGIN { printf "%.3f %.3f %d\n", e - s, (b - a) / t, n }'
}
read -r COLD_WALL COLD_CPU COLD_N < <(scrape)
WARM_RUNS=5
WARM_WALL=0 WARM_CPU=0
for _ in $(seq 1 $WARM_RUNS); do
    read -r w c _ < <(scrape)
    WARM_WALL=$(awk -v a="$WARM_WALL" -v b="$w" 'BEGIN { print a + b }')
    WARM_CPU=$(awk -v a="$WARM_CPU" -v b="$c" 'BEGIN { print a + b }')
done
WARM_WALL=$(awk -v a="$WARM_WALL" -v n=$WARM_RUNS 'BEGIN { printf "%.3f", a / n }')
WARM_CPU=$(awk -v a="$WARM_CPU" -v n=$WARM_RUNS 'BEGIN { printf "%.3f", a / n }')
FILES_HWM=$(rss_kb "$FILES_PID" VmHWM)
PARSED=$(grep '^watchkeeper_tls_files_parsed_total' "$WORK/page.txt" | awk '{print $2}')
HITS=$(grep '^watchkeeper_tls_file_cache_hits_total' "$WORK/page.txt" | awk '{print $2}')
read -r FLOOR_PARSE FLOOR_STAT < <(python3 - "$WORK/certs" <<'EOF'
import os, sys, time
from cryptography import x509
d = sys.argv[1]
names = sorted(os.listdir(d))
t = time.process_time()
for f in names:
    with open(os.path.join(d, f), "rb") as fh:
        c = x509.load_pem_x509_certificate(fh.read())
        getattr(c, "not_valid_after_utc", None) or c.not_valid_after
parse = time.process_time() - t
t = time.process_time()
for f in names:
    os.stat(os.path.join(d, f))
print(f"{parse:.3f}", f"{time.process_time() - t:.3f}")
EOF
)

echo
echo "Run: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, ${RUN_SECS}s per cell, $CONC clients, endpoint $TARGET (TLS 1.3, ECDSA P-256)"
echo "blackbox_exporter: $("$REFERENCE" --version 2>&1 | head -1)"
echo "watchkeeper-tls: $("$OURS" --version 2>&1 | head -1)"
echo
echo "| exporter | probes/s | p50 ms | p99 ms | CPU ms/probe | successful |"
echo "|---|---|---|---|---|---|"
for who in theirs ours; do
    read -r rps p50 p99 cpu ok req <<<"${RES[$who]}"
    name=$([ "$who" = theirs ] && echo "blackbox_exporter (tcp, tls: true)" || echo watchkeeper-tls)
    echo "| $name | $rps | $p50 | $p99 | $cpu | $ok/$req |"
done
read -r -a T <<<"${RES[theirs]}"
read -r -a O <<<"${RES[ours]}"
echo
echo "| | blackbox_exporter | watchkeeper-tls | ours/theirs |"
echo "|---|---|---|---|"
awk -v a="${T[3]}" -v b="${O[3]}" 'BEGIN { printf "| probes per CPU-second | %.0f | %.0f | %.2f |\n", 1000/a, 1000/b, a/b }'
awk -v a="$IDLE_THEIRS" -v b="$IDLE_OURS" 'BEGIN { printf "| RSS idle (MiB) | %.1f | %.1f | %.2f |\n", a/1024, b/1024, b/a }'
awk -v a="$HWM_THEIRS" -v b="$HWM_OURS" 'BEGIN { printf "| peak RSS under load (MiB) | %.1f | %.1f | %.2f |\n", a/1024, b/1024, b/a }'
echo
echo "Files: $CERTS certificates, one PEM each (x509_cert_not_after samples: $COLD_N; files parsed $PARSED, cache hits $HITS after $((WARM_RUNS + 1)) scrapes)."
echo
echo "| | wall s | CPU s | certificates per CPU-second |"
echo "|---|---|---|---|"
awk -v w="$COLD_WALL" -v c="$COLD_CPU" -v n="$CERTS" 'BEGIN { printf "| cold scrape (parse every file) | %.3f | %.3f | %.0f |\n", w, c, (c > 0) ? n / c : 0 }'
awk -v w="$WARM_WALL" -v c="$WARM_CPU" -v n="$CERTS" 'BEGIN { printf "| warm scrape (parse cache), mean of %d | %.3f | %.3f | %.0f |\n", 5, w, c, (c > 0) ? n / c : 0 }'
awk -v c="$FLOOR_PARSE" -v n="$CERTS" 'BEGIN { printf "| floor: read + parse alone (Python cryptography) | | %.3f | %.0f |\n", c, (c > 0) ? n / c : 0 }'
awk -v c="$FLOOR_STAT" -v n="$CERTS" 'BEGIN { printf "| floor: stat alone (Python) | | %.3f | %.0f |\n", c, (c > 0) ? n / c : 0 }'
awk -v a="$FILES_IDLE" -v b="$FILES_HWM" 'BEGIN { printf "\nRSS of the files exporter: %.1f MiB before the first scrape, %.1f MiB peak.\n", a/1024, b/1024 }'
