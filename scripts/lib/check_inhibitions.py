#!/usr/bin/env python3
"""Runs the real Alertmanager with deploy/alertmanager/alertmanager.yml and
checks that its inhibit rules silence what they should and nothing else.

The receivers are replaced by webhooks to a closed loopback port, so nothing
leaves the machine; routing and inhibition are unchanged. Alerts are posted
through the v2 API and each alert's inhibitedBy status is read back.

Usage: check_inhibitions.py REPO_ROOT. One line per problem; exit 1 if any.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import yaml

H = {"job": "watchkeeper-host", "instance": "web1:10150"}
H2 = {"job": "watchkeeper-host", "instance": "web2:10150"}
P = {"job": "blackbox-http", "instance": "https://shop.example"}
P2 = {"job": "blackbox-http", "instance": "https://blog.example"}
D = {"job": "watchkeeper-db", "instance": "db1:10154"}

# (labels of the source alert, [(labels of a target alert, inhibited?)])
CASES = [
    ({"alertname": "NodeDown", "severity": "critical", **H}, [
        ({"alertname": "NodeHighLoad", "severity": "warning", **H}, True),
        ({"alertname": "NodeFilesystemAlmostFull", "severity": "warning", "mountpoint": "/", **H}, True),
        ({"alertname": "NodeHighLoad", "severity": "warning", **H2}, False),
        ({"alertname": "PostgresDown", "severity": "critical", **H}, False),
    ]),
    ({"alertname": "NodeFilesystemFull", "severity": "critical", "mountpoint": "/var", **H2}, [
        ({"alertname": "NodeFilesystemAlmostFull", "severity": "warning", "mountpoint": "/var", **H2}, True),
        ({"alertname": "NodeFilesystemAlmostFull", "severity": "warning", "mountpoint": "/home", **H2}, False),
    ]),
    ({"alertname": "TLSCertificateExpiryCritical", "severity": "critical", **P}, [
        ({"alertname": "TLSCertificateExpiringSoon", "severity": "warning", **P}, True),
        ({"alertname": "TLSCertificateExpiringSoon", "severity": "warning", **P2}, False),
    ]),
    ({"alertname": "ProbeErrorBudgetBurnFast", "severity": "critical", **P}, [
        ({"alertname": "ProbeErrorBudgetBurnMedium", "severity": "critical", **P}, True),
        ({"alertname": "ProbeErrorBudgetBurnSlow", "severity": "ticket", **P}, True),
        ({"alertname": "ProbeErrorBudgetBurnMedium", "severity": "critical", **P2}, False),
        ({"alertname": "ProbeHttpLatencyHigh", "severity": "warning", **P}, False),
    ]),
    ({"alertname": "PostgresDown", "severity": "critical", "target": "orders", **D}, [
        ({"alertname": "PostgresConnectionsNearLimit", "severity": "warning", "target": "orders", **D}, True),
        ({"alertname": "DatabaseHealthQuerySlow", "severity": "warning", "target": "orders", **D}, True),
        ({"alertname": "PostgresConnectionsNearLimit", "severity": "warning", "target": "billing", **D}, False),
        ({"alertname": "RedisDown", "severity": "critical", "target": "orders", **D}, False),
    ]),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url, data=None):
    req = urllib.request.Request(url, data=json.dumps(data).encode() if data is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        body = r.read()
    return json.loads(body) if body else None


def main(root):
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if not binary:
        print("prometheus-alertmanager is not installed")
        return 1
    with open(os.path.join(root, "deploy", "alertmanager", "alertmanager.yml"), encoding="utf-8") as f:
        cfg = yaml.safe_load(f)
    # Same receiver names, delivering nowhere: a closed port on loopback.
    cfg["receivers"] = [{"name": r["name"], "webhook_configs": [{"url": "http://127.0.0.1:9/", "send_resolved": False}]}
                        for r in cfg["receivers"]]
    problems = []
    checked = 0
    with tempfile.TemporaryDirectory() as tmp:
        conf = os.path.join(tmp, "alertmanager.yml")
        with open(conf, "w") as f:
            yaml.safe_dump(cfg, f)
        port = free_port()
        base = f"http://127.0.0.1:{port}/api/v2"
        proc = subprocess.Popen([binary, f"--config.file={conf}", f"--storage.path={tmp}/data",
                                 f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                                stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "am.log"), "w"))
        try:
            for _ in range(100):
                try:
                    call(f"{base}/status")
                    break
                except OSError:
                    if proc.poll() is not None:
                        break
                    time.sleep(0.1)
            if proc.poll() is not None:
                with open(os.path.join(tmp, "am.log")) as f:
                    print(f.read()[-2000:])
                print("alertmanager exited at start")
                return 1
            alerts = []
            for source, targets in CASES:
                alerts.append({"labels": source})
                alerts.extend({"labels": t} for t, _ in targets)
            call(f"{base}/alerts", alerts)
            got = {}
            for _ in range(50):
                got = {json.dumps(a["labels"], sort_keys=True): a["status"] for a in call(f"{base}/alerts")}
                if len(got) >= len({json.dumps(a["labels"], sort_keys=True) for a in alerts}):
                    break
                time.sleep(0.1)
            for source, targets in CASES:
                for labels, want in targets:
                    st = got.get(json.dumps(labels, sort_keys=True))
                    if st is None:
                        problems.append(f"alert {labels} was not accepted")
                        continue
                    inhibited = bool(st.get("inhibitedBy"))
                    checked += 1
                    if inhibited != want:
                        problems.append(f"{labels['alertname']} {labels} with {source['alertname']} firing: "
                                        f"{'inhibited' if inhibited else 'not inhibited'}, want "
                                        f"{'inhibited' if want else 'not inhibited'}")
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    for p in problems:
        print(p)
    print(f"alertmanager inhibitions: {checked} cases, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
