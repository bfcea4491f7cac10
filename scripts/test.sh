#!/usr/bin/env bash
# The one test command: everything that must pass before a change lands.
#
#   scripts/test.sh            # all checks
#   scripts/test.sh --no-cargo # only the non-Rust checks (rules, configs,
#                              # dashboards, chart, units) - seconds
#   WATCHKEEPER_CHECK_CODE_ORDER=1 scripts/test.sh
#                              # also checks the code-order lists against a
#                              # release link (adds a release build: minutes)
#
# Installs missing test dependencies first (scripts/install-test-deps.sh),
# then runs every step even after one fails, and ends with a summary: each
# step's result and time, and a closing "N passed, N failed" line. Exits 1 if
# anything failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD

RUN_CARGO=1
for arg in "$@"; do
    case "$arg" in
        --no-cargo) RUN_CARGO=0 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "test.sh: unknown argument: $arg (try --help)" >&2; exit 2 ;;
    esac
done

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
PY=.venv/bin/python
START=$(date +%s)
passed_steps=()
failed_steps=()
timings=()

# step NAME COMMAND...: run one check, record its result and duration.
step() {
    local name=$1; shift
    local t0 t1 rc
    printf '\n==> %s\n' "$name"
    t0=$(date +%s)
    "$@"
    rc=$?
    t1=$(date +%s)
    timings+=("$(printf '%5ss  %s' $((t1 - t0)) "$name")")
    if [ "$rc" -eq 0 ]; then
        passed_steps+=("$name")
        printf '<== ok: %s (%ss)\n' "$name" $((t1 - t0))
    else
        failed_steps+=("$name")
        printf '<== FAILED: %s (exit %s, %ss)\n' "$name" "$rc" $((t1 - t0))
    fi
}

# ---------------------------------------------------------------- checks
deps() { scripts/install-test-deps.sh; }

cargo_fmt() { cargo fmt --all -- --check; }
cargo_clippy() { cargo clippy --workspace --all-targets -- -D warnings; }

# Adds up the numbers on stdin, one a line (0 for none).
sum_lines() { awk '{ s += $1 } END { print s + 0 }'; }

# Rust tests: nextest when installed (its summary line closes the step),
# plus the doctests, which nextest does not run.
RUST_PASSED=0
RUST_FAILED=0
cargo_tests() {
    local rc=0 log="$TMP/cargo-test.log"
    # The property tests (crates/*/tests/fuzz_*.rs) run with a fixed seed here, so a landing is
    # never blocked by a new random draw; scripts/fuzz-long.sh explores with fresh seeds.
    export PROPTEST_RNG_SEED=${PROPTEST_RNG_SEED:-20261201}
    if cargo nextest --version >/dev/null 2>&1; then
        cargo nextest run --workspace --no-fail-fast 2>&1 | tee "$log"
        rc=${PIPESTATUS[0]}
        # "Summary [  12.3s] 120 tests run: 119 passed, 1 failed, 0 skipped"
        RUST_PASSED=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -aE '^ *Summary \[' | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' | tail -1)
        RUST_FAILED=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -aE '^ *Summary \[' | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+' | tail -1)
        cargo test --workspace --doc 2>&1 | tee "$TMP/cargo-doctest.log"
        [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
        # Doctests end with: "test result: ok. 3 passed; 0 failed; ..."
        local dp df
        dp=$(grep -aoE 'test result: [a-zA-Z]+\. [0-9]+ passed' "$TMP/cargo-doctest.log" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' | sum_lines)
        df=$(grep -aoE '[0-9]+ failed' "$TMP/cargo-doctest.log" | grep -oE '[0-9]+' | sum_lines)
        RUST_PASSED=$(( ${RUST_PASSED:-0} + ${dp:-0} ))
        RUST_FAILED=$(( ${RUST_FAILED:-0} + ${df:-0} ))
    else
        cargo test --workspace --no-fail-fast 2>&1 | tee "$log"
        rc=${PIPESTATUS[0]}
        RUST_PASSED=$(grep -aoE 'test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' | sum_lines)
        RUST_FAILED=$(grep -aoE 'test result: [a-zA-Z]+\. [0-9]+ passed; [0-9]+ failed' "$log" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+' | sum_lines)
    fi
    if [ "$rc" -eq 0 ] && [ "${RUST_PASSED:-0}" -eq 0 ]; then
        echo "cargo ran no test" >&2
        rc=1
    fi
    return "$rc"
}

rules_check() { promtool check rules alert-rules/*.yml; }
rules_test() { promtool test rules alert-rules/tests/*.yml; }
rules_complete() { "$PY" scripts/lib/check_alert_rules.py "$ROOT"; }

prometheus_configs() {
    local f rc=0 n=0
    while IFS= read -r f; do
        n=$((n + 1))
        promtool check config "$f" || rc=1
    done < <(find deploy -name 'prometheus*.yml' -not -path '*/helm/*' -not -path '*/grafana/*' | sort)
    if [ "$n" -eq 0 ]; then echo "no Prometheus config under deploy/" >&2; rc=1; fi
    return "$rc"
}

# The example web config names certificate paths of a real install: check it
# with a throwaway certificate at those names.
web_config() {
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
        -addext basicConstraints=critical,CA:FALSE -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
        -keyout "$TMP/server.key" -out "$TMP/server.crt" 2>/dev/null || return 1
    sed "s#/etc/watchkeeper/tls/#$TMP/#g" deploy/examples/web-config.yml > "$TMP/web-config.yml"
    promtool check web-config "$TMP/web-config.yml"
}

alertmanager_config() {
    amtool check-config deploy/alertmanager/alertmanager.yml || return 1
    "$PY" scripts/lib/check_alertmanager.py "$ROOT" || return 1
    # The inhibit rules, in a real Alertmanager (receivers replaced by a
    # closed loopback port).
    "$PY" scripts/lib/check_inhibitions.py "$ROOT"
}

# blackbox.yml must also be accepted by the exporter it replaces.
blackbox_reference() {
    prometheus-blackbox-exporter --config.check --config.file=deploy/examples/blackbox.yml 2>&1 | tail -1
    return "${PIPESTATUS[0]}"
}

# The example configs against our own exporters' --config.check (built by the
# test step; built here if not).
example_configs_ours() {
    cargo build --workspace --bins -q || return 1
    local rc=0
    ./target/debug/watchkeeper-blackbox --config.check --config.file=deploy/examples/blackbox.yml || rc=1
    ./target/debug/watchkeeper-db --config.check --config.file=deploy/examples/db.yml || rc=1
    ./target/debug/watchkeeper-tls --config.check --config.file=deploy/examples/tls.yml || rc=1
    ./target/debug/watchkeeper-backup --config.check --config.file=deploy/examples/backup.yml || rc=1
    ./target/debug/watchkeeper-incident --config.check --config.file=deploy/examples/incident.yml || rc=1
    example_web_config_served || rc=1
    return "$rc"
}

# The example web config, served by our host exporter (with a throwaway
# certificate at its paths): the documented password gets in, a wrong one
# gets 401.
example_web_config_served() {
    local port pid code_ok code_bad rc=0
    [ -f "$TMP/web-config.yml" ] || web_config >/dev/null || return 1
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    ./target/debug/watchkeeper-host --web.listen-address="127.0.0.1:$port" \
        --web.config.file="$TMP/web-config.yml" >"$TMP/host-web.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
    code_ok=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$TMP/server.crt" -u prometheus:changeme "https://localhost:$port/metrics")
    code_bad=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$TMP/server.crt" -u prometheus:wrong "https://localhost:$port/metrics")
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    echo "example web-config: right password -> $code_ok, wrong password -> $code_bad"
    if [ "$code_ok" != 200 ] || [ "$code_bad" != 401 ]; then
        echo "want 200 and 401; exporter log:" >&2
        tail -n 20 "$TMP/host-web.log" >&2
        rc=1
    fi
    return "$rc"
}

# A real Prometheus with alert-rules/ scrapes our exporters: every metric the
# rules and dashboards use arrives, and a TLS rule fires on real probe output.
suite_contract() { "$PY" scripts/lib/check_suite.py "$ROOT" target/debug; }

dashboards() { "$PY" scripts/lib/check_dashboards.py "$ROOT"; }
helm_chart() { "$PY" scripts/lib/check_helm.py "$ROOT"; }
dockerfile() { "$PY" scripts/lib/check_docker.py "$ROOT"; }
# Packages the debug binaries the test run built, installs them, runs each as its unit's
# ExecStart says, purges them and checks nothing is left behind.
debian_packages() { scripts/lib/check_packages.sh "$ROOT"; }

yaml_lint() {
    .venv/bin/yamllint -s -c scripts/lib/yamllint.yml alert-rules deploy/alertmanager deploy/examples \
        deploy/helm/watchkeeper/values.yaml deploy/helm/watchkeeper/Chart.yaml deploy/helm/watchkeeper/examples
}

# Unit files: syntax (any complaint fails), then systemd's own exposure
# score. ExecStart points at a binary that exists here.
systemd_units() {
    if ! command -v systemd-analyze >/dev/null; then
        echo "systemd-analyze is not installed" >&2
        return 1
    fi
    local u out rc=0
    for u in deploy/systemd/*.service; do
        sed -E 's#^ExecStart=/usr/bin/watchkeeper-[a-z]+#ExecStart=/bin/true#' "$u" > "$TMP/$(basename "$u")"
    done
    out=$(systemd-analyze verify "$TMP"/*.service 2>&1) || rc=1
    if [ -n "$out" ]; then echo "$out"; rc=1; fi
    for u in "$TMP"/*.service; do
        local line score
        line=$(systemd-analyze security --offline=yes "$u" 2>&1 | grep -a 'Overall exposure level') || { echo "no exposure score for $u"; rc=1; continue; }
        echo "$line"
        score=$(echo "$line" | grep -oE '[0-9]+\.[0-9]+' | head -1)
        if awk -v s="$score" 'BEGIN { exit !(s > 2.0) }'; then
            echo "$(basename "$u"): exposure $score is above 2.0" >&2
            rc=1
        fi
    done
    return "$rc"
}

# The suite's own scripts at full strictness; any other script in scripts/
# must at least be free of errors.
shell_scripts() {
    local rc=0 f others=()
    shellcheck -x scripts/test.sh scripts/run.sh scripts/install-test-deps.sh .ci/run || rc=1
    shellcheck -x scripts/lib/check_packages.sh || rc=1
    for f in scripts/*.sh; do
        case "$f" in scripts/test.sh|scripts/run.sh|scripts/install-test-deps.sh) ;; *) others+=("$f") ;; esac
    done
    if [ "${#others[@]}" -gt 0 ]; then shellcheck -S error "${others[@]}" || rc=1; fi
    return "$rc"
}

code_order() { scripts/check-code-order.sh; }
# Licences, bans and sources (deny.toml); advisories need the network's RustSec database.
cargo_deny() { cargo deny --offline check licenses bans sources; }

# ---------------------------------------------------------------- run
step "install test dependencies" deps
if [ ! -x "$PY" ]; then
    echo "test.sh: .venv is missing; the Python-based checks will fail" >&2
fi
[ "$RUN_CARGO" = 1 ] && step "cargo fmt --check" cargo_fmt
step "promtool check rules" rules_check
step "promtool test rules" rules_test
step "alert rules complete and tested" rules_complete
step "promtool check config (examples)" prometheus_configs
step "promtool check web-config (example)" web_config
step "alertmanager config and routing" alertmanager_config
step "blackbox.yml accepted by blackbox_exporter" blackbox_reference
step "dashboards" dashboards
step "helm chart lint and render" helm_chart
step "Dockerfile: hadolint and structure" dockerfile
step "yamllint" yaml_lint
step "systemd units" systemd_units
step "shellcheck" shell_scripts
if [ "$RUN_CARGO" = 1 ]; then
    step "cargo clippy -D warnings" cargo_clippy
    step "cargo-deny licences, bans, sources (offline)" cargo_deny
    step "cargo tests" cargo_tests
    step "example configs accepted by our exporters" example_configs_ours
    step "Debian packages: dpkg -i, run as ExecStart, purge" debian_packages
    step "suite contract: Prometheus + rules + our exporters" suite_contract
    if [ "${WATCHKEEPER_CHECK_CODE_ORDER:-0}" = 1 ]; then
        step "code-order lists match the release binaries" code_order
    fi
fi

# ---------------------------------------------------------------- summary
END=$(date +%s)
printf '\n==================== summary (%ss) ====================\n' $((END - START))
printf '%s\n' "${timings[@]}"
for s in "${failed_steps[@]}"; do printf 'FAILED: %s\n' "$s"; done
checks_total=$(( ${#passed_steps[@]} + ${#failed_steps[@]} ))
if [ "$RUN_CARGO" = 1 ]; then
    printf 'Rust tests: %s passed, %s failed\n' "${RUST_PASSED:-0}" "${RUST_FAILED:-0}" | sed 's/^/  /'
fi
printf '  checks: %s of %s steps passed\n' "${#passed_steps[@]}" "$checks_total"
# The closing line: Rust tests plus the suite's check steps.
printf 'test.sh: %s passed, %s failed\n' \
    $(( ${RUST_PASSED:-0} + ${#passed_steps[@]} )) $(( ${RUST_FAILED:-0} + ${#failed_steps[@]} ))
[ "${#failed_steps[@]}" -eq 0 ]
