#!/usr/bin/env bash
# Debian packages of the exporters, end to end on this machine:
#   1. cargo-deb packages the debug binaries the test run already built
#      (--no-build --profile dev: no release build in the test command;
#      scripts/package-deb.sh makes the release packages);
#   2. dpkg -i installs them all: the system user exists, the unit is in
#      place, the configuration files are conffiles;
#   3. each binary runs exactly as its installed unit's ExecStart says, with
#      the unit's Environment= and EnvironmentFile=, as the package's user,
#      with StateDirectory= created as systemd would - only the listen
#      address is moved to a free loopback port, through the unit's own
#      WATCHKEEPER_<NAME>_ARGS variable - and answers /-/healthy and /metrics;
#   4. dpkg --purge removes them, leaving no file, directory, user or group
#      behind (every path named *watchkeeper* under /etc /usr /var /run /opt,
#      before and after, and every path the packages installed).
#
# Usage: check_packages.sh REPO_ROOT
# Needs root (dpkg), cargo-deb and the debug binaries; without root or
# cargo-deb it skips with a message, unless CI=true, then it fails.
set -uo pipefail
ROOT=${1:-.}
cd "$ROOT" || exit 2
EXPORTERS=(host blackbox db tls backup incident)

skip() {
    if [ "${CI:-}" = true ]; then echo "check_packages: $*" >&2; exit 1; fi
    echo "SKIP: check_packages: $*"
    exit 0
}
[ "$(id -u)" -eq 0 ] || skip "needs root to install packages with dpkg"
cargo deb --version >/dev/null 2>&1 || skip "cargo-deb is not installed (cargo install cargo-deb --version 3.8.0 --locked)"

TMP=$(mktemp -d)
pids=()
# shellcheck disable=SC2317  # called by the trap
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    rm -rf "$TMP"
}
trap cleanup EXIT
rc=0
fail() { echo "FAIL: $*" >&2; rc=1; }

# dpkg with a retry while another process holds its lock (apt in parallel).
dpkg_retry() {
    local out
    for _ in $(seq 1 60); do
        out=$(dpkg "$@" 2>&1) && { [ -z "$out" ] || echo "$out"; return 0; }
        if grep -q 'lock' <<<"$out"; then sleep 2; continue; fi
        echo "$out" >&2
        return 1
    done
    echo "$out" >&2
    return 1
}

snapshot() {
    find /etc /usr /var /run /opt -path /var/lib/dpkg -prune -o -path /var/cache -prune -o \
        -path /var/log -prune -o -name '*watchkeeper*' -print 2>/dev/null | sort
    grep -E '^watchkeeper' /etc/passwd /etc/group | cut -d: -f1,2 | sort
}

# ---------------------------------------------------------------- build
debs=()
for x in "${EXPORTERS[@]}"; do
    pkg=watchkeeper-$x
    if ! grep -q '^\[package.metadata.deb\]' "crates/$x/Cargo.toml"; then
        fail "crates/$x/Cargo.toml has no [package.metadata.deb] (see deploy/debian/$x/cargo-deb.toml)"
        continue
    fi
    if [ ! -x "target/debug/$pkg" ]; then
        fail "target/debug/$pkg is not built (cargo build --workspace --bins)"
        continue
    fi
    # cargo-deb warns that dev profiles are meant for releases only: the
    # point here is to package the binaries this run tested.
    if ! cargo deb -p "$pkg" --no-build --profile dev --no-strip --fast -q -o "$TMP/" >"$TMP/$pkg.build.log" 2>&1; then
        fail "cargo deb -p $pkg failed:"; cat "$TMP/$pkg.build.log" >&2
        continue
    fi
    debs+=("$(ls "$TMP/$pkg"_*.deb)")
done
[ "${#debs[@]}" -gt 0 ] || { echo "no package built" >&2; exit 1; }

# A previous interrupted run may have left packages installed.
for d in "${debs[@]}"; do
    p=$(dpkg-deb -f "$d" Package)
    if dpkg-query -W "$p" >/dev/null 2>&1; then dpkg_retry --purge "$p" >/dev/null; fi
done
before=$(snapshot)

# ---------------------------------------------------------------- install
export DEBIAN_FRONTEND=noninteractive
if ! dpkg_retry -i "${debs[@]}" >"$TMP/install.log"; then
    fail "dpkg -i failed"; cat "$TMP/install.log" >&2
fi
installed=()
for d in "${debs[@]}"; do
    p=$(dpkg-deb -f "$d" Package)
    if [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ]; then
        installed+=("$p")
        dpkg -L "$p" >>"$TMP/files"
    else
        fail "$p is not installed after dpkg -i"
    fi
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Runs one package's binary as its installed unit says.
run_as_unit() {
    local p=$1 unit exec_line var port user envfile sd pid code metrics
    local -a argv=() envs=() words=() sds=() more=()
    unit=/usr/lib/systemd/system/$p.service
    [ -f "$unit" ] || unit=/lib/systemd/system/$p.service
    [ -f "$unit" ] || unit=""
    [ -n "$unit" ] || { fail "$p: no unit installed"; return; }
    getent passwd "$p" >/dev/null || fail "$p: system user $p was not created"
    user=$p
    # Conffiles: everything the package ships under /etc.
    local conf
    conf=$(dpkg-query -W -f='${Conffiles}\n' "$p" | awk 'NF { print $1 }')
    while IFS= read -r f; do
        case "$f" in /etc/*) grep -qxF "$f" <<<"$conf" || fail "$p: $f is not a conffile" ;; esac
    done < <(dpkg -L "$p" | while IFS= read -r f; do [ -f "$f" ] && echo "$f"; done)
    [ -n "$conf" ] || fail "$p: no conffiles"

    exec_line=$(sed -n 's/^ExecStart=[-@:+!]*//p' "$unit" | head -1)
    var=$(echo "${p#watchkeeper-}" | tr '[:lower:]' '[:upper:]')
    var="WATCHKEEPER_${var}_ARGS"
    grep -qF "\$$var" <<<"$exec_line" || { fail "$p: ExecStart has no \$$var to override the listen address"; return; }
    port=$(free_port)
    # Environment= and EnvironmentFile= of the unit, then the override.
    while IFS= read -r e; do envs+=("$e"); done < <(sed -n 's/^Environment=//p' "$unit")
    envfile=$(sed -n 's/^EnvironmentFile=-\{0,1\}//p' "$unit" | head -1)
    if [ -n "$envfile" ] && [ -r "$envfile" ]; then
        while IFS= read -r e; do envs+=("$e"); done < <(grep -E '^[A-Za-z_][A-Za-z0-9_]*=' "$envfile" | sed -E 's/="(.*)"$/=\1/')
    fi
    envs+=("$var=--web.listen-address=127.0.0.1:$port")
    # systemd's expansion: a bare $VAR splits into words, anything else is literal.
    read -r -a words <<<"$exec_line"
    local w val
    for w in "${words[@]}"; do
        if [[ "$w" =~ ^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$ ]]; then
            val=$(printf '%s\n' "${envs[@]}" | sed -n "s/^${BASH_REMATCH[1]}=//p" | tail -1)
            if [ -n "$val" ]; then read -r -a more <<<"$val"; argv+=("${more[@]}"); fi
        else
            argv+=("$w")
        fi
    done
    # StateDirectory= as systemd creates it for the service user.
    while read -r -a sds; do
        for sd in "${sds[@]}"; do install -d -o "$user" -g "$user" -m 0755 "/var/lib/$sd"; done
    done < <(sed -n 's/^StateDirectory=//p' "$unit")
    echo "$p: ${argv[*]}  (as $user; $var=--web.listen-address=127.0.0.1:$port)"
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "${envs[@]}" runuser -u "$user" -- "${argv[@]}" >"$TMP/$p.log" 2>&1 &
    pid=$!
    pids+=("$pid")
    code=000
    for _ in $(seq 1 100); do
        code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/-/healthy" 2>/dev/null) && [ "$code" = 200 ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    metrics=$(curl -s "http://127.0.0.1:$port/metrics" 2>/dev/null | grep -c "^${p//-/_}_build_info" || true)
    if [ "$code" != 200 ]; then
        fail "$p: /-/healthy answered $code; its log:"; tail -n 20 "$TMP/$p.log" >&2
    elif [ "$metrics" -lt 1 ]; then
        fail "$p: /metrics has no ${p//-/_}_build_info"
    else
        echo "$p: /-/healthy 200, /metrics serves ${p//-/_}_build_info"
    fi
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}
for p in "${installed[@]}"; do run_as_unit "$p"; done

# ---------------------------------------------------------------- purge
if [ "${#installed[@]}" -gt 0 ] && ! dpkg_retry --purge "${installed[@]}" >"$TMP/purge.log"; then
    fail "dpkg --purge failed"; cat "$TMP/purge.log" >&2
fi
after=$(snapshot)
if [ "$before" != "$after" ]; then
    fail "left behind after dpkg --purge:"
    diff <(echo "$before") <(echo "$after") | grep '^>' >&2
fi
if [ -f "$TMP/files" ]; then
    while IFS= read -r f; do
        case "$f" in /.|/etc|/etc/default|/usr|/usr/bin|/usr/lib|/usr/lib/systemd|/usr/lib/systemd/system|/usr/share|/usr/share/doc|/lib|/lib/systemd|/lib/systemd/system) continue ;; esac
        [ -e "$f" ] && fail "left behind after dpkg --purge: $f"
    done < <(sort -u "$TMP/files")
fi
echo "packages: ${#debs[@]} built, ${#installed[@]} installed, run and purged; $([ "$rc" = 0 ] && echo ok || echo FAILED)"
exit "$rc"
