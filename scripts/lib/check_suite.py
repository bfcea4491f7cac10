#!/usr/bin/env python3
"""The suite contract: a real Prometheus, loaded with alert-rules/, scrapes our
exporters (built binaries) the way deploy/examples/prometheus.yml does, and
every metric the rules and dashboards depend on must arrive, with sane values.

Starts on free loopback ports:
  - a local HTTPS server with a fresh 2-day certificate (openssl);
  - watchkeeper-host (with a textfile directory holding one .prom file),
    watchkeeper-blackbox (the example blackbox.yml plus a module that trusts
    the test certificate), watchkeeper-db (deploy/examples/db.yml: the local
    PostgreSQL, MariaDB and Redis);
  - Prometheus, scraping and evaluating every second.
Then checks:
  - every scrape target is up;
  - every metric in REQUIRED exists, and the probes, databases and reload
    status report success;
  - the certificate expiry seen through the probe is about 2 days, and the
    TLSCertificateExpiryCritical rule turns pending for exactly the HTTPS
    target (a rule evaluated on real exporter output);
  - no rule evaluation fails.

Usage: check_suite.py REPO_ROOT BIN_DIR. One line per problem; exit 1 if any.
"""
import http.server
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

REQUIRED = {
    "watchkeeper-host": [
        "node_cpu_seconds_total", "node_load1", "node_load15", "node_memory_MemAvailable_bytes",
        "node_memory_MemTotal_bytes", "node_filesystem_avail_bytes", "node_filesystem_size_bytes",
        "node_filesystem_readonly", "node_filesystem_files", "node_filesystem_files_free",
        "node_boot_time_seconds", "node_scrape_collector_success", "node_textfile_scrape_error",
        "node_disk_read_bytes_total", "node_network_receive_bytes_total", "suite_check_textfile_marker",
    ],
    "watchkeeper-blackbox": [
        "probe_success", "probe_duration_seconds", "probe_http_duration_seconds",
        "probe_ssl_earliest_cert_expiry", "watchkeeper_blackbox_config_last_reload_successful",
    ],
    "watchkeeper-db": [
        "pg_up", "mysql_up", "redis_up", "pg_health_query_duration_seconds",
        "mysql_health_query_duration_seconds", "redis_health_query_duration_seconds",
        "pg_stat_activity_count", "pg_settings_max_connections", "mysql_global_status_threads_connected",
        "mysql_global_variables_max_connections", "redis_connected_clients", "redis_config_maxclients",
        "redis_rdb_last_bgsave_status", "pg_stat_archiver_failed_count", "pg_replication_lag_seconds",
        "watchkeeper_db_config_last_reload_successful",
    ],
}
# Expressions that must return at least one series, and none with another value.
MUST_BE_ONE = [
    "up", "probe_success", "pg_up", "mysql_up", "redis_up", "redis_rdb_last_bgsave_status",
    '{__name__=~"watchkeeper_[a-z]+_config_last_reload_successful"}',
    "instance:probe_availability:ratio_5m",
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def query(base, expr):
    body = get(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    return json.loads(body)["data"]["result"]


class Quiet(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main(root, bin_dir):
    problems = []
    procs = []
    tmp = tempfile.mkdtemp(prefix="watchkeeper-suite-")
    logs = {}

    def start(name, args):
        log = open(os.path.join(tmp, f"{name}.log"), "w")
        logs[name] = log.name
        procs.append((name, subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=root)))

    def wait_http(name, url, seconds=30):
        deadline = time.time() + seconds
        proc = dict(procs)[name]
        while time.time() < deadline:
            if proc.poll() is not None:
                break
            try:
                get(url, timeout=1)
                return True
            except OSError:
                time.sleep(0.2)
        with open(logs[name]) as f:
            tail = f.read()[-1500:]
        problems.append(f"{name} did not become ready ({'exited' if proc.poll() is not None else 'timeout'}); log:\n{tail}")
        return False

    try:
        # An HTTPS target whose certificate (signed by a test CA: webpki
        # refuses a self-signed CA certificate as a server's) expires in 2 days.
        ca, ca_key = os.path.join(tmp, "ca.crt"), os.path.join(tmp, "ca.key")
        cert, key, csr = (os.path.join(tmp, n) for n in ("tls.crt", "tls.key", "tls.csr"))
        ext = os.path.join(tmp, "leaf.ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n")
        for cmd in (
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "10",
             "-subj", "/CN=watchkeeper suite test CA", "-keyout", ca_key, "-out", ca],
            ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
             "-keyout", key, "-out", csr],
            ["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
             "-days", "2", "-extfile", ext, "-out", cert],
        ):
            subprocess.run(cmd, check=True, capture_output=True)
        https_port = free_port()
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", https_port), Quiet)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        https_url = f"https://localhost:{https_port}/"

        textfile = os.path.join(tmp, "textfile")
        os.mkdir(textfile)
        with open(os.path.join(textfile, "marker.prom"), "w") as f:
            f.write("# HELP suite_check_textfile_marker Written by scripts/lib/check_suite.py.\n"
                    "# TYPE suite_check_textfile_marker gauge\nsuite_check_textfile_marker 1\n")

        with open(os.path.join(root, "deploy", "examples", "blackbox.yml")) as f:
            bb = f.read()
        bb += ("\n  # Added by scripts/lib/check_suite.py: trusts the test certificate.\n"
               "  https_test:\n    prober: http\n    timeout: 5s\n    http:\n"
               "      preferred_ip_protocol: ip4\n      fail_if_not_ssl: true\n"
               f"      tls_config:\n        ca_file: {ca}\n")
        bb_path = os.path.join(tmp, "blackbox.yml")
        with open(bb_path, "w") as f:
            f.write(bb)

        ports = {n: free_port() for n in ("host", "blackbox", "db", "prometheus")}
        start("watchkeeper-host", [os.path.join(bin_dir, "watchkeeper-host"),
                                   f"--web.listen-address=127.0.0.1:{ports['host']}",
                                   f"--collector.textfile.directory={textfile}"])
        start("watchkeeper-blackbox", [os.path.join(bin_dir, "watchkeeper-blackbox"),
                                       f"--web.listen-address=127.0.0.1:{ports['blackbox']}",
                                       f"--config.file={bb_path}"])
        start("watchkeeper-db", [os.path.join(bin_dir, "watchkeeper-db"),
                                 f"--web.listen-address=127.0.0.1:{ports['db']}",
                                 "--config.file=deploy/examples/db.yml"])
        for n in ("host", "blackbox", "db"):
            wait_http(f"watchkeeper-{n}", f"http://127.0.0.1:{ports[n]}/-/healthy")
        if problems:
            return report(problems)

        bb_addr = f"127.0.0.1:{ports['blackbox']}"
        relabel = [{"source_labels": ["__address__"], "target_label": "__param_target"},
                   {"source_labels": ["__param_target"], "target_label": "instance"},
                   {"target_label": "__address__", "replacement": bb_addr}]
        prom_cfg = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "900ms", "evaluation_interval": "1s"},
            "rule_files": [os.path.join(root, "alert-rules", "*.rules.yml")],
            "scrape_configs": [
                {"job_name": "watchkeeper-host", "static_configs": [{"targets": [f"127.0.0.1:{ports['host']}"]}]},
                {"job_name": "watchkeeper-blackbox", "static_configs": [{"targets": [bb_addr]}]},
                {"job_name": "watchkeeper-db", "static_configs": [{"targets": [f"127.0.0.1:{ports['db']}"]}]},
                {"job_name": "blackbox-http", "metrics_path": "/probe", "params": {"module": ["http_2xx"]},
                 "static_configs": [{"targets": [f"http://127.0.0.1:{ports['host']}/-/healthy"]}],
                 "relabel_configs": relabel},
                {"job_name": "blackbox-https", "metrics_path": "/probe", "params": {"module": ["https_test"]},
                 "static_configs": [{"targets": [https_url]}], "relabel_configs": relabel},
                {"job_name": "blackbox-tcp", "metrics_path": "/probe", "params": {"module": ["tcp_connect"]},
                 "static_configs": [{"targets": ["127.0.0.1:5432", "127.0.0.1:3306", "127.0.0.1:6379"]}],
                 "relabel_configs": relabel},
            ],
        }
        prom_path = os.path.join(tmp, "prometheus.yml")
        with open(prom_path, "w") as f:
            json.dump(prom_cfg, f)  # JSON is YAML
        start("prometheus", ["prometheus", f"--config.file={prom_path}", f"--storage.tsdb.path={tmp}/tsdb",
                             f"--web.listen-address=127.0.0.1:{ports['prometheus']}"])
        base = f"http://127.0.0.1:{ports['prometheus']}"
        if not wait_http("prometheus", f"{base}/-/ready"):
            return report(problems)

        # Wait until every target was scraped and the rules ran a few times.
        deadline = time.time() + 40
        missing, not_up = [], []
        while time.time() < deadline:
            not_up = [(r["metric"]["job"], r["metric"]["instance"]) for r in query(base, "up") if r["value"][1] != "1"]
            have_up = len(query(base, "up")) == 8
            missing = [(exp, m) for exp, ms in REQUIRED.items() for m in ms
                       if not query(base, f'count({{__name__="{m}"}})')]
            alerts = json.loads(get(f"{base}/api/v1/alerts"))["data"]["alerts"]
            tls_alert = [a for a in alerts if a["labels"]["alertname"] == "TLSCertificateExpiryCritical"]
            # Recording rules (instance:probe_availability:ratio_5m) appear
            # only after the rule group's first evaluation following a probe
            # scrape: wait for every checked series, not for a fixed time.
            no_series = [expr for expr in MUST_BE_ONE if not query(base, expr)]
            if have_up and not not_up and not missing and tls_alert and not no_series:
                break
            time.sleep(1)
        for job, inst in not_up:
            problems.append(f"scrape of {inst} (job {job}) is failing")
        for exp, m in missing:
            problems.append(f"{exp} provides no {m}, which alert-rules/ or dashboards/ use")
        for expr in MUST_BE_ONE:
            res = query(base, expr)
            if not res:
                problems.append(f"{expr}: no series")
            for r in res:
                if r["value"][1] != "1":
                    problems.append(f"{expr}: {r['metric']} = {r['value'][1]}, want 1")
        left = query(base, f'probe_ssl_earliest_cert_expiry{{instance="{https_url}"}} - time()')
        if not left or not (1.9 * 86400 < float(left[0]["value"][1]) <= 2 * 86400 + 60):
            problems.append(f"certificate expiry seen through the probe: {left}, want about 2 days")
        alerts = json.loads(get(f"{base}/api/v1/alerts"))["data"]["alerts"]
        tls = sorted(a["labels"]["instance"] for a in alerts if a["labels"]["alertname"] == "TLSCertificateExpiryCritical")
        if tls != [https_url]:
            problems.append(f"TLSCertificateExpiryCritical active for {tls}, want exactly [{https_url}]")
        for g in json.loads(get(f"{base}/api/v1/rules"))["data"]["groups"]:
            for r in g["rules"]:
                if r.get("health") == "err":
                    problems.append(f"rule {r['name']} fails to evaluate: {r.get('lastError')}")
        firing = sorted({a["labels"]["alertname"] for a in alerts})
        print(f"suite: 8 targets up, {sum(map(len, REQUIRED.values()))} required metrics checked; "
              f"active alerts: {', '.join(firing) or 'none'}")
        return report(problems)
    finally:
        for _, p in procs:
            p.terminate()
        for _, p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run(["rm", "-rf", tmp])


def report(problems):
    for p in problems:
        print(p)
    print(f"suite contract: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])))
