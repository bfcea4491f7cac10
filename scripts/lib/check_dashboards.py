#!/usr/bin/env python3
"""Validates the Grafana dashboards in dashboards/*.json.

- valid JSON with the fields Grafana needs (uid, title, schemaVersion,
  panels, templating); uids unique and at most 40 characters;
- panel ids unique, every panel on the 24-column grid, no two overlapping;
- every query panel has targets with a refId and an expr, and its data
  source is the dashboard's ${datasource} variable;
- every PromQL expression parses (promtool check rules, with Grafana's
  variables replaced by sample values);
- every recording rule a dashboard uses (level:metric:operation names) is
  defined in alert-rules/;
- each dashboard shows the metrics it exists for (REQUIRED below);
- every metric an alert in ALERTED_FILES reads is shown on some dashboard
  (a metric name in an alert's expression, or each alternative of a
  {__name__=~"a|b"} matcher, appears in some panel's query).

Usage: check_dashboards.py REPO_ROOT. One line per problem; exit 1 if any.
"""
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

REQUIRED = {
    "watchkeeper-overview.json": [
        "instance:probe_availability:ratio_30d", "instance:probe_error_budget:remaining_ratio_30d",
        "slo:probe_availability:objective", "probe_http_duration_seconds", "probe_duration_seconds",
        "probe_ssl_earliest_cert_expiry", "pg_up", "mysql_up", "redis_up", "_health_query_duration_seconds",
    ],
    "watchkeeper-host.json": [
        "node_cpu_seconds_total", "node_load1", "node_memory_MemAvailable_bytes", "node_memory_MemTotal_bytes",
        "node_filesystem_avail_bytes", "node_filesystem_size_bytes", "node_disk_read_bytes_total",
        "node_network_receive_bytes_total", "node_boot_time_seconds", "node_scrape_collector_success",
        "node_textfile_scrape_error",
    ],
}
REQUIRED.update({
    "watchkeeper-blackbox.json": [
        "probe_success", "probe_failure_info", "probe_duration_seconds", "probe_http_duration_seconds",
        "instance:probe_latency:seconds", "probe_ssl_earliest_cert_expiry",
        "watchkeeper_blackbox_config_last_reload_successful",
    ],
    "watchkeeper-db.json": [
        "pg_up", "mysql_up", "redis_up", "pg_replication_lag_seconds", "mysql_slave_status_seconds_behind_master",
        "pg_stat_archiver_failed_count", "redis_rdb_last_bgsave_status", "watchkeeper_db_config_last_reload_successful",
    ],
})
REQUIRED["watchkeeper-overview.json"] += [
    "instance:probe_latency:ratio_30d", "instance:probe_latency_budget:remaining_ratio_30d", "slo:probe_latency:objective",
    "instance:probe_latency:seconds", "ALERTS{", "alertmanager_notifications_failed_total",
    "prometheus_notifications_dropped_total",
]
REQUIRED.update({
    "watchkeeper-tls.json": [
        "x509_cert_not_after", "x509_cert_expired", "x509_source_up", "x509_source_errors_total",
        "ssl_chain_verified", "ssl_verify_error_info", "ssl_probe_success",
    ],
    "watchkeeper-backup.json": [
        "backup_last_success_timestamp_seconds", "backup_max_age_seconds", "backup_last_size_bytes",
        "backup_runs_total", "backup_verify_last_success", "backup_source_up",
    ],
    "watchkeeper-incident.json": [
        "incident_acknowledge_duration_seconds_bucket", "incident_resolve_duration_seconds_bucket",
        "incidents_open", "incident_target_seconds",
    ],
})
# Rule files whose alerted metrics must each appear on a dashboard.
ALERTED_FILES = ["slo.rules.yml", "latency.rules.yml", "host.rules.yml", "db.rules.yml", "watchkeeper.rules.yml",
                 "tls.rules.yml", "backup.rules.yml", "incident.rules.yml", "updates.rules.yml"]
PROMQL_WORDS = {
    "and", "or", "unless", "on", "ignoring", "group_left", "group_right", "by", "without", "bool", "offset",
    "inf", "nan", "time", "vector", "scalar",
}
GRAFANA_VARS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1d"}
QUERY_PANELS = {"timeseries", "stat", "gauge", "bargauge", "table", "state-timeline", "status-history",
                "heatmap", "piechart", "barchart"}


def substitute(expr):
    expr = re.sub(r"\$\{?(__rate_interval|__interval|__range)\}?", lambda m: GRAFANA_VARS[m.group(1)], expr)
    return re.sub(r"\$\{?[A-Za-z_][A-Za-z0-9_]*(?::[a-z]+)?\}?", "x", expr)


def recording_rules(root):
    names = set()
    for path in glob.glob(os.path.join(root, "alert-rules", "*.yml")):
        with open(path, encoding="utf-8") as f:
            names.update(re.findall(r"^\s*-?\s*record:\s*(\S+)", f.read(), flags=re.M))
    return names


def alerted_metrics(root):
    """(file, alert, metric) for every metric an alert expression reads."""
    import yaml  # only this check needs PyYAML
    out = []
    for name in ALERTED_FILES:
        with open(os.path.join(root, "alert-rules", name), encoding="utf-8") as f:
            doc = yaml.safe_load(f)
        for group in doc.get("groups", []):
            for rule in group.get("rules", []):
                if "alert" not in rule:
                    continue
                expr = rule["expr"]
                for alt in re.findall(r'__name__=~"([^"]+)"', expr):
                    out += [(name, rule["alert"], a) for a in alt.split("|")]
                bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
                bare = re.sub(r"\{[^}]*\}", "", bare)
                bare = re.sub(r"\[[^\]]*\]", "", bare)
                for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", bare):
                    word = m.group(0)
                    after = bare[m.end():].lstrip()
                    if word.lower() in PROMQL_WORDS or after.startswith("("):
                        continue
                    out.append((name, rule["alert"], word))
    return out


def main(root):
    problems = []
    exprs = []  # (where, expr)
    uids = {}
    records = recording_rules(root)
    files = sorted(glob.glob(os.path.join(root, "dashboards", "*.json")))
    if not files:
        problems.append("dashboards/: no dashboard")
    for path in files:
        name = os.path.basename(path)
        try:
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
        except ValueError as e:
            problems.append(f"dashboards/{name}: not valid JSON: {e}")
            continue
        for key in ("uid", "title", "schemaVersion", "panels", "templating"):
            if key not in d:
                problems.append(f"dashboards/{name}: missing top-level field {key!r}")
        uid = d.get("uid", "")
        if not uid or len(uid) > 40:
            problems.append(f"dashboards/{name}: uid {uid!r} must be 1-40 characters")
        if uid in uids:
            problems.append(f"dashboards/{name}: uid {uid!r} also used by {uids[uid]}")
        uids[uid] = name
        variables = {v.get("name") for v in d.get("templating", {}).get("list", [])}
        if "datasource" not in variables:
            problems.append(f"dashboards/{name}: no 'datasource' template variable")
        for v in d.get("templating", {}).get("list", []):
            if v.get("type") == "query":
                q = v.get("query")
                q = q.get("query") if isinstance(q, dict) else q
                m = re.fullmatch(r"label_values\((.*),\s*\w+\)", q or "")
                if m:
                    exprs.append((f"dashboards/{name}: variable {v.get('name')}", m.group(1)))

        seen_ids, cells = set(), {}
        text = json.dumps(d)
        for metric in REQUIRED.get(name, []):
            if metric not in text:
                problems.append(f"dashboards/{name}: shows no {metric}")
        for p in d.get("panels", []):
            pid, title = p.get("id"), p.get("title")
            where = f"dashboards/{name}: panel {pid} {title!r}"
            if pid in seen_ids:
                problems.append(f"{where}: duplicate panel id")
            seen_ids.add(pid)
            if not title:
                problems.append(f"{where}: no title")
            g = p.get("gridPos", {})
            if not all(isinstance(g.get(k), int) for k in ("h", "w", "x", "y")):
                problems.append(f"{where}: gridPos needs integer h, w, x, y")
                continue
            if g["x"] < 0 or g["w"] < 1 or g["x"] + g["w"] > 24:
                problems.append(f"{where}: gridPos outside the 24-column grid")
            for x in range(g["x"], g["x"] + g["w"]):
                for y in range(g["y"], g["y"] + g["h"]):
                    if (x, y) in cells:
                        problems.append(f"{where}: overlaps panel {cells[(x, y)]}")
                        break
                    cells[(x, y)] = pid
                else:
                    continue
                break
            if p.get("type") == "row":
                continue
            if p.get("type") not in QUERY_PANELS:
                problems.append(f"{where}: unexpected panel type {p.get('type')!r}")
            if (p.get("datasource") or {}).get("uid") != "${datasource}":
                problems.append(f"{where}: data source is not the ${{datasource}} variable")
            targets = p.get("targets") or []
            if not targets:
                problems.append(f"{where}: no query")
            refids = [t.get("refId") for t in targets]
            if len(set(refids)) != len(refids) or None in refids:
                problems.append(f"{where}: refIds missing or not unique")
            for t in targets:
                expr = t.get("expr", "")
                if not expr.strip():
                    problems.append(f"{where}: query {t.get('refId')} has no expr")
                    continue
                exprs.append((f"{where} query {t.get('refId')}", expr))
                for rec in re.findall(r"\b[a-z_]+:[a-z0-9_]+:[a-z0-9_]+\b", expr):
                    if rec not in records:
                        problems.append(f"{where}: uses {rec}, which no rule in alert-rules/ records")

    shown = "\n".join(e for _, e in exprs)
    for rules_file, alert, metric in sorted(set(alerted_metrics(root))):
        if metric not in shown:
            problems.append(f"alert-rules/{rules_file}: {alert} reads {metric}, which no dashboard panel shows")

    # Parse every expression with promtool: one recording rule per expression.
    if exprs:
        rules = {"groups": [{"name": "dashboards", "rules": [
            {"record": f"dashboard:expr:{i}", "expr": substitute(e)} for i, (_, e) in enumerate(exprs)]}]}
        with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
            json.dump(rules, f)  # JSON is YAML
            tmp = f.name
        try:
            out = subprocess.run(["promtool", "check", "rules", tmp], capture_output=True, text=True)
        finally:
            os.unlink(tmp)
        if out.returncode != 0:
            # Report the expressions one by one so the message names the panel.
            for where, e in exprs:
                single = {"groups": [{"name": "d", "rules": [{"record": "dashboard:expr:one", "expr": substitute(e)}]}]}
                with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
                    json.dump(single, f)
                    tmp = f.name
                try:
                    r = subprocess.run(["promtool", "check", "rules", tmp], capture_output=True, text=True)
                finally:
                    os.unlink(tmp)
                if r.returncode != 0:
                    msg = " ".join((r.stdout + r.stderr).split())
                    problems.append(f"{where}: PromQL does not parse: {msg[-300:]}")

    for p in problems:
        print(p)
    print(f"dashboards: {len(files)} files, {len(exprs)} queries, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
