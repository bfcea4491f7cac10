#!/usr/bin/env python3
"""Checks the Alertmanager routing in deploy/alertmanager/alertmanager.yml
against the alert rules and the paging promise.

- every severity used in alert-rules/ reaches the receivers it should
  (critical: pager and chat; warning: chat; ticket: ticket), asked of
  Alertmanager's own router with `amtool config routes test`;
- the critical route waits at most 30s before the first page and repeats an
  unresolved page at least every 15 minutes, so a page is answered (or
  escalated by the pager) within 15 minutes;
- every inhibit rule names alerts that exist in alert-rules/.

Usage: check_alertmanager.py REPO_ROOT. One line per problem; exit 1 if any.
"""
import glob
import os
import re
import subprocess
import sys

import yaml

EXPECTED = {"critical": "pager,chat", "warning": "chat", "ticket": "ticket"}


def seconds(d):
    total = 0
    for n, unit in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", d):
        total += int(n) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}[unit]
    return total


def main(root):
    problems = []
    cfg_path = os.path.join(root, "deploy", "alertmanager", "alertmanager.yml")
    with open(cfg_path, encoding="utf-8") as f:
        cfg = yaml.safe_load(f)

    alerts = {}
    for path in glob.glob(os.path.join(root, "alert-rules", "*.yml")):
        with open(path, encoding="utf-8") as f:
            for g in yaml.safe_load(f).get("groups", []):
                for r in g.get("rules", []):
                    if "alert" in r:
                        alerts[r["alert"]] = r.get("labels", {}).get("severity")

    for name, sev in sorted(alerts.items()):
        if sev not in EXPECTED:
            problems.append(f"alert {name}: severity {sev!r} has no expected route")
    for sev, want in EXPECTED.items():
        example = next((a for a, s in sorted(alerts.items()) if s == sev), "Example")
        r = subprocess.run(["amtool", "config", "routes", "test", f"--config.file={cfg_path}",
                            f"--verify.receivers={want}", f"severity={sev}", f"alertname={example}"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            problems.append(f"severity={sev} routes to {r.stdout.strip() or r.stderr.strip()}, want {want}")

    root_route = cfg.get("route", {})
    crit = [r for r in root_route.get("routes", []) if 'severity="critical"' in (r.get("matchers") or [])
            and r.get("receiver") == "pager"]
    if not crit:
        problems.append("no route sends severity=\"critical\" to the pager receiver")
    for r in crit:
        gw = seconds(r.get("group_wait", root_route.get("group_wait", "30s")))
        ri = seconds(r.get("repeat_interval", root_route.get("repeat_interval", "4h")))
        if gw > 30:
            problems.append(f"critical route: group_wait {gw}s delays the first page by more than 30s")
        if ri > 15 * 60:
            problems.append(f"critical route: repeat_interval {ri}s is longer than 15 minutes")

    for i, rule in enumerate(cfg.get("inhibit_rules", [])):
        for side in ("source_matchers", "target_matchers"):
            for m in rule.get(side, []):
                mm = re.fullmatch(r'alertname(=~|=)"(.*)"', m)
                if not mm:
                    continue
                op, val = mm.groups()
                pat = re.compile(val if op == "=~" else re.escape(val))
                if not any(pat.fullmatch(a) for a in alerts):
                    problems.append(f"inhibit_rules[{i}].{side}: {m} matches no alert in alert-rules/")

    for p in problems:
        print(p)
    print(f"alertmanager routing: {len(alerts)} alerts, {len(cfg.get('inhibit_rules', []))} inhibit rules, "
          f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
