#!/usr/bin/env python3
"""Checks what promtool does not: every alert is complete and unit-tested.

- every alert has a severity label (critical, warning or ticket) and the
  summary, description and runbook_url annotations;
- every runbook_url points at a heading that exists in docs/runbooks.md,
  either literally (RUNBOOK_PREFIX + anchor) or built from the one
  configurable base, the Prometheus external label runbook_base_url, with
  RUNBOOK_PREFIX as the fallback (RUNBOOK_TEMPLATE + anchor);
- every alert has a positive case (exp_alerts not empty) and a negative case
  (exp_alerts empty) in alert-rules/tests/*.yml;
- every recording rule has a promql_expr_test with expected samples;
- every rule file is loaded by at least one test file.

Usage: check_alert_rules.py REPO_ROOT. Prints one line per problem, exits 1
if there is any.
"""
import glob
import os
import re
import sys

import yaml

SEVERITIES = {"critical", "warning", "ticket"}
RUNBOOK_PREFIX = "https://example.invalid/watchkeeper/blob/main/docs/runbooks.md#"
# The base comes from global.external_labels.runbook_base_url in
# prometheus.yml when set (one place for the whole rule set).
RUNBOOK_TEMPLATE = ("{{ with $externalLabels.runbook_base_url }}{{ . }}{{ else }}"
                    + RUNBOOK_PREFIX[:-1] + "{{ end }}#")


def github_anchor(heading):
    """The anchor GitHub gives a Markdown heading."""
    slug = heading.strip().lower()
    slug = re.sub(r"[^\w\- ]", "", slug)
    return slug.replace(" ", "-")


def main(root):
    problems = []
    rules_dir = os.path.join(root, "alert-rules")
    rule_files = sorted(glob.glob(os.path.join(rules_dir, "*.yml")))
    test_files = sorted(glob.glob(os.path.join(rules_dir, "tests", "*.yml")))
    if not rule_files:
        problems.append("alert-rules/: no rule files")
    if not test_files:
        problems.append("alert-rules/tests/: no test files")

    with open(os.path.join(root, "docs", "runbooks.md"), encoding="utf-8") as f:
        anchors = {
            github_anchor(m.group(1))
            for m in re.finditer(r"^#+\s+(.*)$", f.read(), flags=re.M)
        }

    alerts = {}
    records = {}
    for path in rule_files:
        rel = os.path.relpath(path, root)
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
        for group in doc.get("groups", []):
            for rule in group.get("rules", []):
                if "record" in rule:
                    records[rule["record"]] = rel
                    continue
                name = rule["alert"]
                where = f"{rel}: alert {name}"
                alerts.setdefault(name, rel)
                sev = rule.get("labels", {}).get("severity")
                if sev not in SEVERITIES:
                    problems.append(f"{where}: severity {sev!r} is not one of {sorted(SEVERITIES)}")
                ann = rule.get("annotations", {})
                for key in ("summary", "description", "runbook_url"):
                    if not ann.get(key):
                        problems.append(f"{where}: annotation {key} is missing")
                url = ann.get("runbook_url", "")
                if url:
                    prefix = next((p for p in (RUNBOOK_TEMPLATE, RUNBOOK_PREFIX) if url.startswith(p)), None)
                    if prefix is None:
                        problems.append(f"{where}: runbook_url {url} does not start with {RUNBOOK_TEMPLATE} "
                                        f"or {RUNBOOK_PREFIX}")
                    elif url[len(prefix):] not in anchors:
                        problems.append(f"{where}: docs/runbooks.md has no heading for #{url[len(prefix):]}")

    positive, negative, tested_records, loaded = set(), set(), set(), set()
    for path in test_files:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
        for rf in doc.get("rule_files", []):
            loaded.add(os.path.normpath(os.path.join(os.path.dirname(path), rf)))
        for test in doc.get("tests", []):
            for case in test.get("alert_rule_test", []) or []:
                (positive if case.get("exp_alerts") else negative).add(case["alertname"])
            for case in test.get("promql_expr_test", []) or []:
                if case.get("exp_samples"):
                    for rec in records:
                        if re.search(re.escape(rec) + r"(?![\w:])", case["expr"]):
                            tested_records.add(rec)

    for name, rel in sorted(alerts.items()):
        if name not in positive:
            problems.append(f"{rel}: alert {name} has no test where it fires")
        if name not in negative:
            problems.append(f"{rel}: alert {name} has no test where it stays silent")
    for rec, rel in sorted(records.items()):
        if rec not in tested_records:
            problems.append(f"{rel}: recording rule {rec} has no promql_expr_test with expected samples")
    for path in rule_files:
        if os.path.normpath(path) not in loaded:
            problems.append(f"{os.path.relpath(path, root)}: no test file loads it")
    for name in sorted((positive | negative) - set(alerts)):
        problems.append(f"alert-rules/tests: tests an alert {name} that no rule file defines")

    for p in problems:
        print(p)
    print(f"alert rules: {len(alerts)} alerts, {len(records)} recording rules, "
          f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
