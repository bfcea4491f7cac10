#!/usr/bin/env python3
"""The suite contract: a real Prometheus, loaded with alert-rules/, scrapes our
exporters (built binaries) the way deploy/examples/prometheus.yml does, and
every metric the rules and dashboards depend on must arrive, with sane values.

Starts on free loopback ports:
  - a local HTTPS server with a fresh 2-day certificate (openssl);
  - watchkeeper-host (with a textfile directory holding one .prom file),
    watchkeeper-blackbox (the example blackbox.yml plus a module that trusts
    the test certificate), watchkeeper-db (deploy/examples/db.yml: the local
    PostgreSQL, MariaDB and Redis), watchkeeper-tls (the test CA and
    certificate as files, the HTTPS server as an endpoint), watchkeeper-backup
    (one fresh artefact with a checksum sidecar), watchkeeper-incident
    following an Alertmanager;
  - an Alertmanager that Prometheus sends its alerts to;
  - Prometheus, scraping and evaluating every second.
Then checks:
  - every scrape target is up;
  - every metric in REQUIRED exists, and the probes, databases and reload
    status report success;
  - the certificate expiry seen through the probe is about 2 days, and the
    TLSCertificateExpiryCritical rule turns pending for exactly the HTTPS
    target (a rule evaluated on real exporter output);
  - the TLS exporter sees the same 2-day expiry in the file and on the
    endpoint, the backup exporter the artefact's time, and the bundled
    Watchdog reaches the incident exporter through Alertmanager;
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
    "watchkeeper-tls": [
        "x509_cert_not_after", "x509_cert_expired", "x509_source_up",
        "ssl_probe_success", "ssl_chain_verified", "ssl_hostname_match",
        "watchkeeper_tls_config_last_reload_successful",
    ],
    "watchkeeper-backup": [
        "backup_last_success_timestamp_seconds", "backup_max_age_seconds", "backup_last_size_bytes",
        "backup_min_size_bytes", "backup_source_up", "backup_source_error", "backup_runs_total",
        "backup_integrity_ok", "watchkeeper_backup_config_last_reload_successful",
    ],
    "watchkeeper-incident": [
        "incident_alertmanager_up", "incident_target_seconds", "incidents_open", "incidents_total",
        "incident_watchdog_seen", "incident_acknowledge_duration_seconds_bucket",
        "watchkeeper_incident_config_last_reload_successful",
    ],
}
# Expressions that must return at least one series, and none with another value.
MUST_BE_ONE = [
    "up", "probe_success", "pg_up", "mysql_up", "redis_up", "redis_rdb_last_bgsave_status",
    '{__name__=~"watchkeeper_[a-z]+_config_last_reload_successful"}',
    "instance:probe_availability:ratio_5m",
    "x509_source_up", "ssl_probe_success", "backup_source_up", "backup_integrity_ok",
    "incident_alertmanager_up",
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

        ports = {n: free_port() for n in ("host", "blackbox", "db", "tls", "backup", "incident",
                                          "alertmanager", "prometheus")}
        start("watchkeeper-host", [os.path.join(bin_dir, "watchkeeper-host"),
                                   f"--web.listen-address=127.0.0.1:{ports['host']}",
                                   f"--collector.textfile.directory={textfile}"])
        start("watchkeeper-blackbox", [os.path.join(bin_dir, "watchkeeper-blackbox"),
                                       f"--web.listen-address=127.0.0.1:{ports['blackbox']}",
                                       f"--config.file={bb_path}"])
        start("watchkeeper-db", [os.path.join(bin_dir, "watchkeeper-db"),
                                 f"--web.listen-address=127.0.0.1:{ports['db']}",
                                 "--config.file=deploy/examples/db.yml"])
        # Certificates: the test CA and leaf as files, the HTTPS server as an endpoint.
        tls_yml = os.path.join(tmp, "tls.yml")
        with open(tls_yml, "w") as f:
            json.dump({"files": [ca, cert], "endpoints": [
                {"target": f"127.0.0.1:{https_port}", "server_name": "localhost", "ca_file": ca}]}, f)
        start("watchkeeper-tls", [os.path.join(bin_dir, "watchkeeper-tls"),
                                  f"--web.listen-address=127.0.0.1:{ports['tls']}",
                                  f"--config.file={tls_yml}"])
        # Backups: one fresh artefact with its checksum sidecar.
        backups = os.path.join(tmp, "backups")
        os.makedirs(os.path.join(tmp, "backup-state"))
        os.mkdir(backups)
        artefact = os.path.join(backups, "suite.tar.gz")
        with open(artefact, "wb") as f:
            f.write(os.urandom(64 * 1024))
        digest = subprocess.run(["sha256sum", "suite.tar.gz"], cwd=backups, check=True,
                                capture_output=True, text=True).stdout
        with open(artefact + ".sha256", "w") as f:
            f.write(digest)
        backup_yml = os.path.join(tmp, "backup.yml")
        with open(backup_yml, "w") as f:
            json.dump({"state_dir": os.path.join(tmp, "backup-state"), "jobs": [
                {"name": "suite", "files": os.path.join(backups, "*.tar.gz"), "checksum": "sha256",
                 "max_age": "1h", "min_size": "1KiB"}]}, f)
        start("watchkeeper-backup", [os.path.join(bin_dir, "watchkeeper-backup"),
                                     f"--web.listen-address=127.0.0.1:{ports['backup']}",
                                     f"--config.file={backup_yml}"])
        # An Alertmanager that Prometheus sends to and the incident exporter follows.
        am_yml = os.path.join(tmp, "alertmanager.yml")
        with open(am_yml, "w") as f:
            json.dump({"route": {"receiver": "none", "group_wait": "1s"}, "receivers": [{"name": "none"}]}, f)
        start("alertmanager", ["prometheus-alertmanager", f"--config.file={am_yml}",
                               f"--storage.path={tmp}/alertmanager",
                               f"--web.listen-address=127.0.0.1:{ports['alertmanager']}",
                               "--cluster.listen-address="])
        incident_yml = os.path.join(tmp, "incident.yml")
        with open(incident_yml, "w") as f:
            json.dump({"alertmanagers": [f"http://127.0.0.1:{ports['alertmanager']}"],
                       "poll_interval": "1s", "timeout": "1s",
                       "storage": os.path.join(tmp, "incidents.db")}, f)
        start("watchkeeper-incident", [os.path.join(bin_dir, "watchkeeper-incident"),
                                       f"--web.listen-address=127.0.0.1:{ports['incident']}",
                                       f"--config.file={incident_yml}"])
        for n in ("host", "blackbox", "db", "tls", "backup", "incident"):
            wait_http(f"watchkeeper-{n}", f"http://127.0.0.1:{ports[n]}/-/healthy")
        wait_http("alertmanager", f"http://127.0.0.1:{ports['alertmanager']}/-/ready")
        if problems:
            return report(problems)

        bb_addr = f"127.0.0.1:{ports['blackbox']}"
        relabel = [{"source_labels": ["__address__"], "target_label": "__param_target"},
                   {"source_labels": ["__param_target"], "target_label": "instance"},
                   {"target_label": "__address__", "replacement": bb_addr}]
        prom_cfg = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "900ms", "evaluation_interval": "1s"},
            "rule_files": [os.path.join(root, "alert-rules", "*.rules.yml")],
            "alerting": {"alertmanagers": [
                {"static_configs": [{"targets": [f"127.0.0.1:{ports['alertmanager']}"]}]}]},
            "scrape_configs": [
                {"job_name": "watchkeeper-host", "static_configs": [{"targets": [f"127.0.0.1:{ports['host']}"]}]},
                {"job_name": "watchkeeper-blackbox", "static_configs": [{"targets": [bb_addr]}]},
                {"job_name": "watchkeeper-db", "static_configs": [{"targets": [f"127.0.0.1:{ports['db']}"]}]},
                {"job_name": "watchkeeper-tls", "static_configs": [{"targets": [f"127.0.0.1:{ports['tls']}"]}]},
                {"job_name": "watchkeeper-backup", "honor_labels": True,
                 "static_configs": [{"targets": [f"127.0.0.1:{ports['backup']}"]}]},
                {"job_name": "watchkeeper-incident",
                 "static_configs": [{"targets": [f"127.0.0.1:{ports['incident']}"]}]},
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
            have_up = len(query(base, "up")) == 11
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
        for source in ("file", "endpoint"):
            left = query(base, f'max(x509_cert_not_after{{subject_CN="localhost",source_kind="{source}"}}) - time()')
            if not left or not (1.9 * 86400 < float(left[0]["value"][1]) <= 2 * 86400 + 60):
                problems.append(f"leaf expiry seen by watchkeeper-tls ({source}): {left}, want about 2 days")
        # The bundled Watchdog (for: 1m) goes Prometheus -> Alertmanager -> the incident
        # exporter: wait for the series, not for a fixed time.
        deadline = time.time() + 120
        seen = []
        while time.time() < deadline:
            seen = query(base, "incident_watchdog_seen == 1")
            if seen:
                break
            time.sleep(1)
        if not seen:
            problems.append("incident_watchdog_seen never became 1: the Watchdog did not reach "
                            "the incident exporter through Alertmanager within 120 s")
        age = query(base, 'time() - backup_last_success_timestamp_seconds{job="suite"}')
        if not age or not (-5 < float(age[0]["value"][1]) < 600):
            problems.append(f"backup age seen by watchkeeper-backup: {age}, want the fresh artefact's")
        alerts = json.loads(get(f"{base}/api/v1/alerts"))["data"]["alerts"]
        tls = sorted(a["labels"]["instance"] for a in alerts if a["labels"]["alertname"] == "TLSCertificateExpiryCritical")
        if tls != [https_url]:
            problems.append(f"TLSCertificateExpiryCritical active for {tls}, want exactly [{https_url}]")
        for g in json.loads(get(f"{base}/api/v1/rules"))["data"]["groups"]:
            for r in g["rules"]:
                if r.get("health") == "err":
                    problems.append(f"rule {r['name']} fails to evaluate: {r.get('lastError')}")
        firing = sorted({a["labels"]["alertname"] for a in alerts})
        print(f"suite: 11 targets up, {sum(map(len, REQUIRED.values()))} required metrics checked; "
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
