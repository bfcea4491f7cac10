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
  `prometheus-blackbox-exporter --config.check` when that is installed, and
  every exporter config passes our own exporter's `--config.check`
  (target/debug binaries, when built; files of mounted Secrets that a config
  names are stood in for under a temporary directory);
- every manifest except the prometheus-operator ones validates with
  `kubernetes-validate --strict` (Kubernetes OpenAPI schemas, unknown fields
  fail); PrometheusRule, ServiceMonitor and Probe are checked against the
  fields the operator requires (rule alert/record/expr, durations, selector
  and endpoints, prober URL, static targets, relabelling actions);
- the rendered PrometheusRules hold exactly the groups of alert-rules/ and
  the dashboard ConfigMaps exactly dashboards/*.json (and the chart's copies
  under files/ are in sync: scripts/sync-chart-rules.sh --check);
- every password_env of the db config is set in the db container's env;
- bad values (MUST_FAIL) fail rendering with a message naming the value:
  unknown keys (values.schema.json), inline passwords, contradictions.

Usage: check_helm.py REPO_ROOT (run with the .venv interpreter).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml
import helm_python as helm
from helm_python import Chart

LONG_NAME = "w" * 70  # a fullnameOverride longer than any Kubernetes name
PROBE_TARGETS = [
    {"name": "public-web", "module": "http_2xx", "urls": ["https://www.example.com", "https://shop.example.com",
                                                          "https://api.example.com"], "labels": {"team": "web"}},
    {"name": "databases", "module": "tcp_connect", "urls": ["orders-db:5432", "cache:6379"], "interval": "15s"},
]
SCENARIOS = {
    "defaults": {},
    "everything": {
        "fullnameOverride": LONG_NAME,
        "commonLabels": {"team": "sre"},
        "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"},
                           "tlsConfig": {"serverName": "watchkeeper", "ca": {"secret": {"name": "wk-ca", "key": "ca.crt"}}}},
        "webConfig": {"existingSecret": "watchkeeper-web"},
        "serviceAccount": {"create": True, "annotations": {"example.com/role": "exporter"}},
        "networkPolicy": {"enabled": True, "from": [{"namespaceSelector": {"matchLabels": {
            "kubernetes.io/metadata.name": "monitoring"}}}]},
        "prometheusRule": {"enabled": True, "labels": {"release": "prometheus"}},
        "dashboards": {"enabled": True},
        "host": {"textfileDirectory": "/var/lib/watchkeeper/textfile", "extraArgs": ["--no-collector.hwmon"]},
        "blackbox": {"icmp": {"enabled": True}, "replicas": 2, "podDisruptionBudget": {"enabled": True},
                     "probes": {"enabled": True, "targets": PROBE_TARGETS}, "sharding": {"shards": 3}},
        "db": {
            "enabled": True,
            "passwordsSecret": "watchkeeper-db-passwords",
            "env": [{"name": "CACHE_PW", "valueFrom": {"secretKeyRef": {"name": "cache-auth", "key": "password"}}}],
            "envFrom": [{"secretRef": {"name": "watchkeeper-db-env"}}],
            "config": {"targets": [
                {"name": "orders", "kind": "postgres", "host": "orders-db", "user": "watchkeeper",
                 "password_file": "/etc/watchkeeper/secrets/orders"},
                {"name": "cache", "kind": "redis", "host": "cache", "password_env": "CACHE_PW"},
            ]},
        },
        "tls": {"enabled": True,
                "secretMounts": [{"name": "certs", "secretName": "site-certs", "mountPath": "/etc/watchkeeper/certs"},
                                 {"name": "client", "secretName": "probe-client", "mountPath": "/etc/watchkeeper/tls-client",
                                  "items": [{"key": "tls.crt", "path": "tls.crt"}, {"key": "tls.key", "path": "tls.key"}]}],
                "config": {"files": ["/etc/watchkeeper/certs/*.crt"], "endpoints": [
                    {"target": "internal.example.com:443", "cert_file": "/etc/watchkeeper/tls-client/tls.crt",
                     "key_file": "/etc/watchkeeper/tls-client/tls.key"}]}},
        "backup": {"enabled": True, "persistence": {"existingClaim": "backup-state"},
                   "secretMounts": [{"name": "restic", "secretName": "restic-pw", "mountPath": "/etc/watchkeeper/restic"}],
                   "config": {"state_dir": "/var/lib/watchkeeper-backup", "jobs": [
                       {"name": "offsite", "restic": {"repository": "rest:https://backup.example.com/r",
                                                      "password_file": "/etc/watchkeeper/restic/password"},
                        "max_age": "26h"}]}},
        "incident": {"enabled": True, "persistence": {"enabled": True, "storageClassName": "fast"}},
    },
    "db-only": {"host": {"enabled": False}, "blackbox": {"enabled": False},
                "db": {"enabled": True,
                       "env": [{"name": "A_PW", "valueFrom": {"secretKeyRef": {"name": "db-pw", "key": "a"}}}],
                       "config": {"targets": [{"name": "a", "kind": "mysql", "password_env": "A_PW"}]}}},
}
# Bad input: rendering fails and the message names the value.
MUST_FAIL = {
    "inline-password": ({"db": {"enabled": True, "config": {"targets": [
        {"name": "leaky", "kind": "postgres", "password": "hunter2"}]}}}, "inline passwords are not accepted"),
    "password-env-unset": ({"db": {"enabled": True, "config": {"targets": [
        {"name": "a", "kind": "mysql", "password_env": "A_PW"}]}}}, "password_env A_PW is not set by db.env"),
    "unknown-key": ({"blackbox": {"replica": 2}}, "/blackbox': additional properties 'replica' not allowed"),
    "incident-replicas": ({"incident": {"enabled": True, "replicas": 2}}, "/incident/replicas"),
    "unknown-probe-module": ({"blackbox": {"probes": {"enabled": True, "targets": [
        {"name": "x", "module": "http_3xx", "urls": ["https://a"]}]}}},
        "blackbox.probes.targets[0] (x): module \"http_3xx\" is not defined in blackbox.config.modules"),
    "sharding-without-probes": ({"blackbox": {"sharding": {"shards": 2}}}, "blackbox.sharding.shards: 2 needs blackbox.probes.enabled"),
    "probes-without-blackbox": ({"blackbox": {"enabled": False, "probes": {"enabled": True}}},
                                "blackbox.probes.enabled is true but blackbox.enabled is false"),
    "pdb-single-replica": ({"blackbox": {"podDisruptionBudget": {"enabled": True}}},
                           "blackbox.podDisruptionBudget.enabled with blackbox.replicas: 1"),
    "tls-without-web-config": ({"serviceMonitor": {"enabled": True, "tlsConfig": {"serverName": "x"}}},
                               "serviceMonitor.tlsConfig/basicAuth are set but webConfig.existingSecret is empty"),
    "timeout-over-interval": ({"serviceMonitor": {"interval": "5s", "scrapeTimeout": "10s"}},
                              "serviceMonitor.scrapeTimeout: 10s is longer than the interval 5s"),
    "probe-timeout-over-interval": ({"blackbox": {"probes": {"enabled": True, "targets": [
        {"name": "a", "module": "http_2xx", "urls": ["https://a"], "interval": "1m", "scrapeTimeout": "1m30s"}]}}},
        "blackbox.probes.targets[0] (a) scrapeTimeout: 1m30s is longer than the interval 1m"),
    "duplicate-probe-name": ({"blackbox": {"probes": {"enabled": True, "targets": [
        {"name": "x", "module": "http_2xx", "urls": ["https://a"]}, {"name": "x", "module": "http_2xx", "urls": ["https://b"]}]}}},
        "blackbox.probes.targets[1]: name \"x\" is used twice"),
}
WORKLOADS = {"Deployment", "DaemonSet", "StatefulSet"}
# The only volumes mounted writable: the backup exporter's state_dir and the
# incident exporter's SQLite store (emptyDir or a claim, never a host path).
WRITABLE_VOLUMES = {"state", "data"}
OPERATOR_KINDS = {"PrometheusRule", "ServiceMonitor", "Probe"}
RELABEL_ACTIONS = {"replace", "keep", "drop", "hashmod", "labelmap", "labeldrop", "labelkeep",
                   "lowercase", "uppercase", "keepequal", "dropequal"}
DURATION = re.compile(r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def check_relabelings(where, relabelings, problems):
    """A RelabelConfig list as the operator's CRD accepts it."""
    for i, r in enumerate(relabelings or []):
        rw = f"{where}[{i}]"
        action = (r.get("action") or "replace").lower()
        if action not in RELABEL_ACTIONS:
            problems.append(f"{rw}: unknown action {action!r}")
        for label in r.get("sourceLabels") or []:
            if not LABEL_NAME.match(label):
                problems.append(f"{rw}: source label {label!r} is not a label name")
        if action in ("replace", "hashmod", "lowercase", "uppercase") and not r.get("targetLabel"):
            problems.append(f"{rw}: action {action} needs targetLabel")
        if action == "hashmod" and not isinstance(r.get("modulus"), int):
            problems.append(f"{rw}: hashmod needs an integer modulus")
        if action in ("keep", "drop", "hashmod") and not r.get("sourceLabels"):
            problems.append(f"{rw}: action {action} needs sourceLabels")
        if "regex" in r:
            try:
                re.compile(str(r["regex"]))
            except re.error as e:
                problems.append(f"{rw}: regex does not compile: {e}")


def check_duration(where, value, problems):
    if value is not None and not DURATION.match(str(value)):
        problems.append(f"{where}: {value!r} is not a Prometheus duration")


def check_operator_resource(where, d, problems):
    """The fields prometheus-operator requires (its CRDs' required lists and
    formats), since kubernetes-validate has no schema for them."""
    spec = d.get("spec")
    if d.get("apiVersion") != "monitoring.coreos.com/v1":
        problems.append(f"{where}: apiVersion is not monitoring.coreos.com/v1")
    if not isinstance(spec, dict):
        problems.append(f"{where}: no spec")
        return
    kind = d["kind"]
    if kind == "PrometheusRule":
        groups = spec.get("groups")
        if not groups:
            problems.append(f"{where}: spec.groups is empty")
        names = set()
        for g in groups or []:
            if not g.get("name"):
                problems.append(f"{where}: a group has no name")
            if g.get("name") in names:
                problems.append(f"{where}: group {g.get('name')} twice")
            names.add(g.get("name"))
            check_duration(f"{where} group {g.get('name')} interval", g.get("interval"), problems)
            for r in g.get("rules") or []:
                rw = f"{where} group {g.get('name')} rule {r.get('alert') or r.get('record')}"
                if ("alert" in r) == ("record" in r):
                    problems.append(f"{rw}: needs exactly one of alert and record")
                if not r.get("expr"):
                    problems.append(f"{rw}: no expr")
                check_duration(f"{rw} for", r.get("for"), problems)
                for key in ("labels", "annotations"):
                    if not all(isinstance(v, str) for v in (r.get(key) or {}).values()):
                        problems.append(f"{rw}: {key} values must be strings")
    elif kind == "ServiceMonitor":
        if not isinstance(spec.get("selector"), dict):
            problems.append(f"{where}: spec.selector is required")
        if not spec.get("endpoints"):
            problems.append(f"{where}: spec.endpoints is empty")
        for i, e in enumerate(spec.get("endpoints") or []):
            ew = f"{where} endpoints[{i}]"
            if not (e.get("port") or e.get("targetPort")):
                problems.append(f"{ew}: needs port or targetPort")
            if e.get("scheme", "http") not in ("http", "https"):
                problems.append(f"{ew}: scheme {e.get('scheme')!r}")
            check_duration(f"{ew} interval", e.get("interval"), problems)
            check_duration(f"{ew} scrapeTimeout", e.get("scrapeTimeout"), problems)
            check_relabelings(f"{ew} relabelings", e.get("relabelings"), problems)
    elif kind == "Probe":
        prober = spec.get("prober") or {}
        if not prober.get("url"):
            problems.append(f"{where}: spec.prober.url is required")
        elif "://" in prober["url"]:
            problems.append(f"{where}: spec.prober.url must be host:port, without a scheme")
        if prober.get("scheme", "http") not in ("http", "https"):
            problems.append(f"{where}: prober.scheme {prober.get('scheme')!r}")
        static = ((spec.get("targets") or {}).get("staticConfig") or {})
        if not static.get("static"):
            problems.append(f"{where}: spec.targets.staticConfig.static is empty")
        if not spec.get("module"):
            problems.append(f"{where}: no module")
        check_duration(f"{where} interval", spec.get("interval"), problems)
        check_duration(f"{where} scrapeTimeout", spec.get("scrapeTimeout"), problems)
        check_relabelings(f"{where} relabelingConfigs", static.get("relabelingConfigs"), problems)


def kubernetes_validate(name, docs, problems, tmpdir):
    """Every non-operator manifest against the Kubernetes OpenAPI schemas,
    strictly (unknown fields fail)."""
    kv = shutil.which("kubernetes-validate", path=os.path.dirname(sys.executable)) or shutil.which("kubernetes-validate")
    if not kv:
        msg = "kubernetes-validate is not installed (scripts/requirements-test.txt)"
        if os.environ.get("CI") == "true":
            problems.append(msg)
        else:
            print(f"SKIP: {msg}")
        return
    files = []
    for i, (path, d) in enumerate(docs):
        if d.get("kind") in OPERATOR_KINDS:
            continue
        f = os.path.join(tmpdir, f"{name}-{i:03d}-{d.get('kind')}.yaml")
        with open(f, "w") as out:
            yaml.safe_dump(d, out)
        files.append(f)
    r = subprocess.run([kv, "--strict", "--quiet", *files], capture_output=True, text=True)
    if r.returncode != 0:
        for line in (r.stdout + r.stderr).strip().splitlines()[-20:]:
            problems.append(f"[{name}] kubernetes-validate --strict: {line}")


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
        writable_ok = {v["name"] for v in pod.get("volumes", [])
                       if v["name"] in WRITABLE_VOLUMES and ("emptyDir" in v or "persistentVolumeClaim" in v)}
        for m in c.get("volumeMounts", []):
            if m.get("readOnly") is not True and m.get("name") not in writable_ok:
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
        if kind in OPERATOR_KINDS:
            check_operator_resource(where, d, problems)
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
    return docs


def check_rules_equal(root, name, docs, problems):
    """The rendered PrometheusRules hold exactly the groups of alert-rules/."""
    rendered = {}
    for _, d in docs:
        if d.get("kind") == "PrometheusRule":
            f = d["metadata"]["labels"].get("watchkeeper.io/rules-file")
            rendered[f] = d["spec"]["groups"]
    src = os.path.join(root, "alert-rules")
    want = {}
    for f in sorted(os.listdir(src)):
        if f.endswith(".rules.yml"):
            with open(os.path.join(src, f)) as fh:
                want[f[: -len(".rules.yml")]] = yaml.safe_load(fh)["groups"]
    for f in sorted(set(want) | set(rendered)):
        if f not in rendered:
            problems.append(f"[{name}] alert-rules/{f}.rules.yml has no PrometheusRule (run scripts/sync-chart-rules.sh)")
        elif f not in want:
            problems.append(f"[{name}] PrometheusRule for {f} has no alert-rules/{f}.rules.yml (run scripts/sync-chart-rules.sh)")
        elif rendered[f] != want[f]:
            problems.append(f"[{name}] the PrometheusRule for {f} differs from alert-rules/{f}.rules.yml (run scripts/sync-chart-rules.sh)")
    return len(rendered)


def check_dashboards_equal(root, name, docs, problems):
    """One sidecar-labelled ConfigMap per dashboards/*.json, same JSON."""
    rendered = {}
    for _, d in docs:
        if d.get("kind") == "ConfigMap" and (d["metadata"].get("labels") or {}).get("grafana_dashboard") == "1":
            for key, text in (d.get("data") or {}).items():
                rendered[key] = json.loads(text)
    src = os.path.join(root, "dashboards")
    for f in sorted(os.listdir(src)):
        if not f.endswith(".json"):
            continue
        with open(os.path.join(src, f)) as fh:
            want = json.load(fh)
        if rendered.pop(f, None) != want:
            problems.append(f"[{name}] dashboard ConfigMap for dashboards/{f} is missing or differs (run scripts/sync-chart-rules.sh)")
    for f in rendered:
        problems.append(f"[{name}] dashboard ConfigMap {f} has no dashboards/{f}")


def check_configs_accepted(root, name, docs, problems, tmpdir):
    """Each rendered exporter configuration passes the exporter's own
    --config.check (the debug binaries of the test run, when built)."""
    checked = []
    # The container's env (from Secrets in the pod): stand-in values here.
    env = dict(os.environ)
    for _, d in docs:
        if d.get("kind") == "Deployment":
            for c in d["spec"]["template"]["spec"]["containers"]:
                env.update({e["name"]: "stand-in" for e in c.get("env", [])})
    for _, d in docs:
        if d.get("kind") != "ConfigMap":
            continue
        for key, text in (d.get("data") or {}).items():
            component = key[: -len(".yml")] if key.endswith(".yml") else None
            binary = os.path.join(root, "target", "debug", f"watchkeeper-{component}")
            if not component or not os.access(binary, os.X_OK):
                continue
            if "/etc/watchkeeper/" in text:
                # Files of mounted Secrets exist only in the pod: stand them
                # up under tmpdir (a throwaway certificate and key for
                # .crt/.key, a password otherwise).
                if not stand_in_secret_files(text, tmpdir):
                    continue
                text = text.replace("/etc/watchkeeper/", f"{tmpdir}/pod/etc/watchkeeper/")
            cfg = yaml.safe_load(text) or {}
            # Paths of a pod (mounted Secrets, state volumes) do not exist here.
            if component == "backup":
                cfg["state_dir"] = tmpdir
            f = os.path.join(tmpdir, f"{name}-{key}")
            with open(f, "w") as out:
                yaml.safe_dump(cfg, out)
            r = subprocess.run([binary, "--config.check", f"--config.file={f}"], capture_output=True, text=True,
                               env=env, timeout=60)
            if r.returncode != 0:
                problems.append(f"[{name}] watchkeeper-{component} --config.check rejects the rendered {key}: "
                                f"{(r.stdout + r.stderr).strip()[-400:]}")
            checked.append(component)
    return checked


def stand_in_secret_files(text, tmpdir):
    """Creates every /etc/watchkeeper/ path the config names under
    tmpdir/pod; False when that is not possible (no openssl)."""
    pod = os.path.join(tmpdir, "pod")
    cert, key = os.path.join(tmpdir, "standin.crt"), os.path.join(tmpdir, "standin.key")
    if not os.path.exists(cert):
        if not shutil.which("openssl"):
            return False
        r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                            "-nodes", "-days", "2", "-subj", "/CN=standin", "-keyout", key, "-out", cert],
                           capture_output=True)
        if r.returncode != 0:
            return False
    for path in sorted(set(re.findall(r"/etc/watchkeeper/[^\s'\"]+", text))):
        target = pod + path
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if "*" in path:  # a glob: one certificate where it matches
            target = target.replace("*", "standin")
        if os.path.exists(target):
            continue
        if target.endswith((".crt", ".pem")):
            shutil.copy(cert, target)
        elif target.endswith(".key"):
            shutil.copy(key, target)
        else:
            with open(target, "w") as out:
                out.write("stand-in\n")
    return True


def check_secret_wiring(name, docs, problems):
    """Every password_env of a rendered db.yml is set in the db container."""
    envs = {}
    targets = []
    for _, d in docs:
        if d.get("kind") == "Deployment" and d["metadata"]["labels"].get("app.kubernetes.io/component") == "db":
            c = d["spec"]["template"]["spec"]["containers"][0]
            envs = {e["name"] for e in c.get("env", [])}
            if c.get("envFrom"):
                envs.add("*")
        if d.get("kind") == "ConfigMap" and "db.yml" in (d.get("data") or {}):
            targets = (yaml.safe_load(d["data"]["db.yml"]) or {}).get("targets") or []
    for t in targets:
        if "password_env" in t and t["password_env"] not in envs and "*" not in envs:
            problems.append(f"[{name}] db target {t['name']}: password_env {t['password_env']} is not in the container's env")


def main(root):
    chart = os.path.join(root, "deploy", "helm", "watchkeeper")
    problems = []
    r = subprocess.run([os.path.join(root, "scripts", "sync-chart-rules.sh"), "--check"], capture_output=True, text=True)
    if r.returncode != 0:
        problems.append(f"chart copies of alert-rules/ or dashboards/ are stale: {r.stderr.strip()}")
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
            docs = check_rendering(name, manifests, problems, tmp)
            kubernetes_validate(name, docs, problems, tmp)
            check_secret_wiring(name, docs, problems)
            checked = check_configs_accepted(root, name, docs, problems, tmp)
            extra = f", configs accepted by {'/'.join(checked) or 'no built exporter'}"
            if name == "everything":
                extra += f", {check_rules_equal(root, name, docs, problems)} PrometheusRules compared with alert-rules/"
                check_dashboards_equal(root, name, docs, problems)
            counts.append(f"{name}: {len(docs)} objects{extra}")
        examples = os.path.join(chart, "examples")
        for f in sorted(os.listdir(examples)) if os.path.isdir(examples) else []:
            with open(os.path.join(examples, f)) as fh:
                values = yaml.safe_load(fh)
            name = f"examples-{f}"
            try:
                manifests = c.render(values, name="wk", namespace="monitoring", is_install=True)
            except helm.HelmError as e:
                problems.append(f"[{name}] helm template failed: {e}")
                continue
            docs = check_rendering(name, manifests, problems, tmp)
            kubernetes_validate(name, docs, problems, tmp)
            check_secret_wiring(name, docs, problems)
            checked = check_configs_accepted(root, name, docs, problems, tmp)
            counts.append(f"{name}: {len(docs)} objects, configs accepted by {'/'.join(checked) or 'no built exporter'}")
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
