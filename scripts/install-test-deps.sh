#!/usr/bin/env bash
# Installs and starts what scripts/test.sh needs, only where it is missing:
#   - Debian packages: the reference Prometheus tools and exporters, the
#     database servers the tests talk to, and small tools (one apt-get update,
#     only when something has to be installed);
#   - a Python virtualenv at .venv with the pinned tools of
#     scripts/requirements-test.txt (rebuilt only when that file changes);
#   - PostgreSQL (127.0.0.1:5432), MariaDB (127.0.0.1:3306) and Redis
#     (127.0.0.1:6379), started when they do not answer.
# Safe to run any number of times. Exits non-zero, saying what is missing,
# when something cannot be provided.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'install-test-deps: %s\n' "$*"; }
die() { printf 'install-test-deps: ERROR: %s\n' "$*" >&2; exit 1; }

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=(sudo -n); else SUDO=(); fi
fi
as_root() {
    if [ "$(id -u)" -eq 0 ] || [ "${#SUDO[@]}" -gt 0 ]; then "${SUDO[@]}" "$@"; else
        die "need root (or sudo) to run: $*"; fi
}

# ---------------------------------------------------------------- packages
PACKAGES=(
    # Reference implementations and the Prometheus toolchain.
    prometheus prometheus-alertmanager
    prometheus-node-exporter prometheus-blackbox-exporter
    prometheus-postgres-exporter prometheus-mysqld-exporter prometheus-redis-exporter
    # Servers the database tests use, and their clients.
    postgresql postgresql-client mariadb-server mariadb-client redis-server redis-tools
    # Tools used by the checks.
    openssl curl jq shellcheck systemd python3-venv
    # apt-ftparchive, for the host updates collector's throwaway apt repository.
    apt-utils
    # Backup tools the backup exporter's tests drive (real repositories).
    restic borgbackup pgbackrest
    # Certificate generator of scripts/bench-tls.sh (10 000 certificates in seconds).
    python3-cryptography
    # Headless browser for the incident exporter's /incidents screenshot test.
    chromium
)
missing=()
for p in "${PACKAGES[@]}"; do
    if [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" != "installed" ]; then
        missing+=("$p")
    fi
done
# python3-venv is only needed when the python3 on PATH is Debian's.
if [ "${#missing[@]}" -gt 0 ] && python3 -c 'import venv, ensurepip' 2>/dev/null; then
    for i in "${!missing[@]}"; do [ "${missing[$i]}" = python3-venv ] && unset 'missing[i]'; done
    missing=("${missing[@]}")
fi
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    # Package scripts must not start daemons on their default ports (9090,
    # 9100, ...): the tests and scripts/run.sh start what they need.
    policy_created=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
        as_root chmod 755 /usr/sbin/policy-rc.d
        policy_created=1
    fi
    cleanup_policy() { if [ "$policy_created" = 1 ]; then as_root rm -f /usr/sbin/policy-rc.d; fi; }
    trap cleanup_policy EXIT
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    cleanup_policy
    trap - EXIT
else
    log "Debian packages: all present"
fi

# ---------------------------------------------------------------- virtualenv
REQ=scripts/requirements-test.txt
stamp=.venv/.requirements.sha256
want=$(sha256sum "$REQ" | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys' 2>/dev/null \
    || [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
    log "creating .venv from $REQ"
    rm -rf .venv
    python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check --require-hashes -r "$REQ"
    echo "$want" > "$stamp"
else
    log ".venv: up to date"
fi

# ---------------------------------------------------------------- cargo-deb
# Debian packaging (scripts/lib/check_packages.sh, scripts/package-deb.sh).
CARGO_DEB_VERSION=3.8.0
if ! cargo deb --version 2>/dev/null | grep -qF "$CARGO_DEB_VERSION"; then
    log "installing cargo-deb $CARGO_DEB_VERSION (crates.io)"
    cargo install -q cargo-deb --version "$CARGO_DEB_VERSION" --locked
else
    log "cargo-deb: $CARGO_DEB_VERSION present"
fi

# ---------------------------------------------------------------- cargo-deny
# Licences, bans and sources of the dependency tree (deny.toml), checked offline.
CARGO_DENY_VERSION=0.20.2
if ! cargo deny --version 2>/dev/null | grep -qF "$CARGO_DENY_VERSION"; then
    log "installing cargo-deny $CARGO_DENY_VERSION (crates.io)"
    cargo install -q cargo-deny --version "$CARGO_DENY_VERSION" --locked
else
    log "cargo-deny: $CARGO_DENY_VERSION present"
fi

# ---------------------------------------------------------------- services
wait_for() { # name, command...
    local name=$1; shift
    for _ in $(seq 1 60); do
        if "$@" >/dev/null 2>&1; then log "$name: answering"; return 0; fi
        sleep 0.5
    done
    die "$name does not answer after starting it (check its log)"
}

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 -t 2; }
if ! pg_up >/dev/null 2>&1; then
    versions=$(ls /etc/postgresql 2>/dev/null || true)
    [ -n "$versions" ] || die "PostgreSQL is installed but has no cluster under /etc/postgresql"
    log "starting PostgreSQL $versions"
    as_root install -d -o postgres -g postgres -m 2775 /var/run/postgresql
    # shellcheck disable=SC2046
    as_root pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start
    wait_for PostgreSQL pg_up
else
    log "PostgreSQL: answering"
fi

my_up() { mysqladmin --connect-timeout=2 -h 127.0.0.1 -P 3306 -u root ping; }
if ! my_up >/dev/null 2>&1; then
    log "starting MariaDB"
    as_root install -d -o mysql -g mysql -m 755 /run/mysqld
    as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    wait_for MariaDB my_up
else
    log "MariaDB: answering"
fi

redis_up() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; }
if ! redis_up; then
    log "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
    wait_for Redis redis_up
else
    log "Redis: answering"
fi
