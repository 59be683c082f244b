#!/usr/bin/env bash
# A throw-away PostgreSQL cluster on 127.0.0.1 for the service tests.
#
#   scripts/pg-test.sh start DIR   initdb + pg_ctl start into DIR; prints the SQLAlchemy URL
#   scripts/pg-test.sh stop DIR    stops the cluster and removes DIR
#
# Installs Debian's `postgresql` when initdb is missing (needs root and apt). PostgreSQL
# refuses to run as root, so as root the cluster runs as the `postgres` user (runuser).
# Exit 0 with the URL on stdout; otherwise exit 1 with the reason on stderr.
set -euo pipefail

die() { echo "pg-test: $*" >&2; exit 1; }

find_bindir() {
    local d
    if command -v pg_config >/dev/null 2>&1; then
        d="$(pg_config --bindir 2>/dev/null || true)"
        [ -x "$d/initdb" ] && { echo "$d"; return; }
    fi
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$d/initdb" ] && { echo "$d"; return; }
    done
    d="$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)")"
    [ -x "$d/initdb" ] && { echo "$d"; return; }
    echo ""
}

install_postgres() {
    [ "$(id -u)" = 0 ] || die "PostgreSQL is not installed and this is not root: apt-get install postgresql"
    command -v apt-get >/dev/null || die "PostgreSQL is not installed and apt-get is missing"
    echo "pg-test: installing Debian postgresql" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2 \
        || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2; } \
        || die "apt-get install postgresql failed"
}

as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

start() {
    local dir="$1" bindir port
    bindir="$(find_bindir)"
    if [ -z "$bindir" ]; then
        install_postgres
        bindir="$(find_bindir)"
        [ -n "$bindir" ] || die "initdb not found after installing postgresql"
    fi
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres \
            || die "cannot create the postgres user"
    fi
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    as_owner test -w "$dir" || die "$dir is not reachable by the cluster's user (postgres): use a DIR whose parents are world-searchable, e.g. /tmp/haven-pg-XXXX"
    chmod 700 "$dir"
    port="$(free_port)"
    as_owner "$bindir/initdb" -D "$dir/data" -U haven --auth=trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
        || die "initdb failed: $(tail -5 "$dir/initdb.log")"
    # Unix socket inside DIR, TCP on loopback only, no fsync: a test cluster, thrown away after.
    as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
        -o "-h 127.0.0.1 -p $port -k $dir -F -c max_connections=50" start >/dev/null \
        || die "pg_ctl start failed: $(tail -5 "$dir/server.log" 2>/dev/null)"
    as_owner "$bindir/createdb" -h 127.0.0.1 -p "$port" -U haven haven_test \
        || die "createdb failed"
    echo "$bindir" > "$dir/bindir"
    echo "postgresql+psycopg://haven@127.0.0.1:$port/haven_test"
}

stop() {
    local dir="$1" bindir
    [ -d "$dir/data" ] || { rm -rf "$dir"; return 0; }
    bindir="$(cat "$dir/bindir" 2>/dev/null || find_bindir)"
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}

case "${1:-}" in
    start) [ -n "${2:-}" ] || die "usage: $0 start DIR"; start "$2" ;;
    stop)  [ -n "${2:-}" ] || die "usage: $0 stop DIR"; stop "$2" ;;
    *) echo "usage: $0 start DIR | stop DIR" >&2; exit 2 ;;
esac
