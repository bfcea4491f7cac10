#!/usr/bin/env python3
"""Lints and renders the Helm chart deploy/helm/watchkeeper, then checks
the rendered manifests.

Uses Helm's own Go SDK (the helm-python-sdk wheel bundles it; Debian has no
helm package), so templates are rendered exactly as `helm template` would.

Checks on every rendering (several value sets, see SCENARIOS):
- `helm lint --strict` finds nothing above INFO;
- every document is YAML with apiVersion, kind, metadata.name (<= 63 chars);
- every pod: runAsNonRoot, seccomp RuntimeDefault, no service account token;
  every container: readOnlyRootFilesystem, no privilege escalation,
  capabilities drop ALL and add none, cpu and memory requests and limits,
  liveness and readiness probes;
- the host DaemonSet uses hostPID/hostNetwork and mounts /proc, /sys and /
  read-only; the other exporters are Deployments without host namespaces;
- every Service selects the pods of a workload and targets a named port
  they expose;
- configuration rendered into ConfigMaps parses; the blackbox.yml passes
  `prometheus-blackbox-exporter --config.check` when that is installed;
- a db target with an inline password is refused at render time.

Usage: check_helm.py REPO_ROOT (run with the .venv interpreter).
"""
import os
import shutil
import subprocess
import sys
import tempfile

import yaml
import helm_python as helm
from helm_python import Chart

SCENARIOS = {
    "defaults": {},
    "everything": {
        "fullnameOverride": "wk",
        "commonLabels": {"team": "sre"},
        "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"},
                           "tlsConfig": {"serverName": "watchkeeper", "ca": {"secret": {"name": "wk-ca", "key": "ca.crt"}}}},
        "webConfig": {"existingSecret": "watchkeeper-web"},
        "host": {"textfileDirectory": "/var/lib/watchkeeper/textfile", "extraArgs": ["--no-collector.hwmon"]},
        "blackbox": {"icmp": {"enabled": True}, "replicas": 2},
        "db": {
            "enabled": True,
            "passwordsSecret": "watchkeeper-db-passwords",
            "config": {"targets": [
                {"name": "orders", "kind": "postgres", "host": "orders-db", "user": "watchkeeper",
                 "password_file": "/etc/watchkeeper/secrets/orders"},
                {"name": "cache", "kind": "redis", "host": "cache"},
            ]},
        },
    },
    "db-only": {"host": {"enabled": False}, "blackbox": {"enabled": False},
                "db": {"enabled": True, "config": {"targets": [{"name": "a", "kind": "mysql", "password_env": "A_PW"}]}}},
}
MUST_FAIL = {
    "inline-password": ({"db": {"enabled": True, "config": {"targets": [
        {"name": "leaky", "kind": "postgres", "password": "hunter2"}]}}}, "inline passwords are not accepted"),
}
WORKLOADS = {"Deployment", "DaemonSet", "StatefulSet"}


def check_pod(where, spec, problems):
    pod = spec["template"]["spec"]
    psc = pod.get("securityContext") or {}
    if psc.get("runAsNonRoot") is not True:
        problems.append(f"{where}: pod securityContext.runAsNonRoot is not true")
    if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        problems.append(f"{where}: pod seccompProfile is not RuntimeDefault")
    if pod.get("automountServiceAccountToken") is not False:
        problems.append(f"{where}: mounts a service account token it does not need")
    for c in pod.get("containers", []):
        cw = f"{where} container {c.get('name')}"
        sc = c.get("securityContext") or {}
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{cw}: readOnlyRootFilesystem is not true")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{cw}: allowPrivilegeEscalation is not false")
        if sc.get("privileged"):
            problems.append(f"{cw}: privileged")
        caps = sc.get("capabilities") or {}
        if caps.get("drop") != ["ALL"]:
            problems.append(f"{cw}: capabilities.drop is not [ALL]")
        if caps.get("add"):
            problems.append(f"{cw}: adds capabilities {caps['add']}")
        res = c.get("resources") or {}
        for kind in ("requests", "limits"):
            for r in ("cpu", "memory"):
                if r not in (res.get(kind) or {}):
                    problems.append(f"{cw}: no {r} {kind[:-1]}")
        for probe in ("livenessProbe", "readinessProbe"):
            if probe not in c:
                problems.append(f"{cw}: no {probe}")
        for m in c.get("volumeMounts", []):
            if m.get("readOnly") is not True:
                problems.append(f"{cw}: volume {m.get('name')} is mounted writable")
    # Secret files are root-owned: without world-read they are readable by
    # the non-root user only through fsGroup.
    for v in pod.get("volumes", []):
        mode = (v.get("secret") or {}).get("defaultMode")
        if "secret" in v and (mode is None or not mode & 0o004) and psc.get("fsGroup") is None:
            problems.append(f"{where}: secret volume {v['name']} is unreadable for a non-root user without fsGroup")
    return pod


def check_rendering(name, manifests, problems, tmpdir):
    docs = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        try:
            for d in yaml.safe_load_all(text):
                if d:
                    docs.append((path, d))
        except yaml.YAMLError as e:
            problems.append(f"[{name}] {path}: rendered YAML does not parse: {e}")
    pods = {}
    for path, d in docs:
        where = f"[{name}] {path}: {d.get('kind')}/{(d.get('metadata') or {}).get('name')}"
        for key in ("apiVersion", "kind", "metadata"):
            if key not in d:
                problems.append(f"{where}: no {key}")
        mname = (d.get("metadata") or {}).get("name", "")
        if not mname or len(mname) > 63:
            problems.append(f"{where}: name must be 1-63 characters")
        kind = d.get("kind")
        if kind in WORKLOADS:
            spec = d["spec"]
            sel = spec["selector"]["matchLabels"]
            labels = spec["template"]["metadata"]["labels"]
            if any(labels.get(k) != v for k, v in sel.items()):
                problems.append(f"{where}: selector does not match the pod labels")
            pod = check_pod(where, spec, problems)
            component = labels.get("app.kubernetes.io/component")
            ports = {p["name"] for c in pod["containers"] for p in c.get("ports", [])}
            pods[mname] = (labels, ports)
            if component == "host":
                if kind != "DaemonSet":
                    problems.append(f"{where}: the host exporter must be a DaemonSet")
                if not pod.get("hostPID") or not pod.get("hostNetwork"):
                    problems.append(f"{where}: the host exporter needs hostPID and hostNetwork")
                paths = {v["hostPath"]["path"]: v["name"] for v in pod.get("volumes", []) if "hostPath" in v}
                mounts = {m["name"]: m for c in pod["containers"] for m in c.get("volumeMounts", [])}
                for hp in ("/proc", "/sys", "/"):
                    vol = paths.get(hp)
                    if not vol or vol not in mounts or mounts[vol].get("readOnly") is not True:
                        problems.append(f"{where}: host {hp} is not mounted read-only")
            else:
                if kind != "Deployment":
                    problems.append(f"{where}: {component} should be a Deployment")
                if pod.get("hostPID") or pod.get("hostNetwork"):
                    problems.append(f"{where}: {component} must not use host namespaces")
                if any("hostPath" in v for v in pod.get("volumes", [])):
                    problems.append(f"{where}: {component} must not mount host paths")
        if kind == "ConfigMap":
            for key, text in (d.get("data") or {}).items():
                try:
                    cfg = yaml.safe_load(text)
                except yaml.YAMLError as e:
                    problems.append(f"{where}: {key} does not parse: {e}")
                    continue
                if key == "db.yml":
                    for t in (cfg or {}).get("targets") or []:
                        if "password" in t:
                            problems.append(f"{where}: db.yml holds an inline password")
                if key == "blackbox.yml" and shutil.which("prometheus-blackbox-exporter"):
                    f = os.path.join(tmpdir, f"{name}-blackbox.yml")
                    with open(f, "w") as out:
                        out.write(text)
                    r = subprocess.run(["prometheus-blackbox-exporter", "--config.check", f"--config.file={f}"],
                                       capture_output=True, text=True)
                    if r.returncode != 0:
                        problems.append(f"{where}: blackbox_exporter rejects blackbox.yml: {r.stderr.strip()[-300:]}")
    for path, d in docs:
        if d.get("kind") != "Service":
            continue
        where = f"[{name}] {path}: Service/{d['metadata']['name']}"
        sel = d["spec"].get("selector") or {}
        matches = [ports for labels, ports in pods.values() if all(labels.get(k) == v for k, v in sel.items())]
        if not matches:
            problems.append(f"{where}: selects no pod of this chart")
        for p in d["spec"].get("ports", []):
            if not any(p.get("targetPort") in ports for ports in matches):
                problems.append(f"{where}: targetPort {p.get('targetPort')} is not a port of the selected pods")
    return len(docs)


def main(root):
    chart = os.path.join(root, "deploy", "helm", "watchkeeper")
    problems = []
    report = helm.lint(chart, strict=True)
    for m in report.get("messages", []):
        if m.get("severity", 0) >= 2:
            problems.append(f"helm lint: {m.get('path')}: {m.get('error')}")
    for e in report.get("errors", []):
        problems.append(f"helm lint: {e}")
    counts = []
    with tempfile.TemporaryDirectory() as tmp, Chart.load(chart) as c:
        for name, values in SCENARIOS.items():
            try:
                manifests = c.render(values, name="watchkeeper", namespace="monitoring", is_install=True)
            except helm.HelmError as e:
                problems.append(f"[{name}] helm template failed: {e}")
                continue
            counts.append(f"{name}: {check_rendering(name, manifests, problems, tmp)} objects")
        for name, (values, message) in MUST_FAIL.items():
            try:
                c.render(values, name="watchkeeper", namespace="monitoring", is_install=True)
                problems.append(f"[{name}] rendering should have failed with {message!r}")
            except helm.HelmError as e:
                if message not in str(e):
                    problems.append(f"[{name}] failed, but not with {message!r}: {e}")
    for p in problems:
        print(p)
    print(f"helm chart: {', '.join(counts)}; {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
