# A throwaway PostgreSQL cluster on 127.0.0.1 for the test matrix. Sourced, not run.
#
# postgres_start: initdb a temp cluster with real password checks (scram-sha-256 over TCP),
# create role and database `nimue`, start it on a free port and export:
#   NIMUE_TEST_POSTGRES_URL   postgres://nimue:...@127.0.0.1:PORT/nimue
#   NIMUE_TEST_POSTGRES_CTL   a command taking `stop` / `start` for the restart fault tests
#   NIMUE_TEST_POSTGRES_CA    the PEM of the CA that signed the server's TLS certificate
# postgres_stop: stop it and remove its files.

NIMUE_PG_PASSWORD=nimue-test-secret

postgres_bindir() {
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
    done
    return 1
}

postgres_start() {
    local bindir base port
    if ! bindir=$(postgres_bindir); then
        apt_install postgresql || return 1
        bindir=$(postgres_bindir) || return 1
    fi
    if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
        useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres
    fi
    base=$(mktemp -d /tmp/nimue-pg.XXXXXX)
    [ "$(id -u)" = 0 ] && chown postgres: "$base"
    chmod 700 "$base"
    echo "$NIMUE_PG_PASSWORD" >"$base/pwfile"
    as_user postgres "$bindir/initdb" -D "$base/data" -U postgres --pwfile="$base/pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 --no-sync -E UTF8 --locale=C.UTF-8 \
        >"$base/initdb.log" 2>&1 || { cat "$base/initdb.log" >&2; return 1; }
    make_tls_files "$base" postgres || return 1
    port=$(free_port)
    cat >>"$base/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$base'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
ssl = on
ssl_cert_file = '$base/server.crt'
ssl_key_file = '$base/server.key'
CONF
    local as_pg=""
    [ "$(id -u)" = 0 ] && as_pg="runuser -u postgres --"
    cat >"$base/ctl" <<CTL
#!/usr/bin/env bash
# stop | start the nimue test cluster (used by the restart fault tests)
set -euo pipefail
case "\${1:-}" in
    stop) $as_pg "$bindir/pg_ctl" -D "$base/data" -m immediate -w stop >/dev/null ;;
    start) $as_pg "$bindir/pg_ctl" -D "$base/data" -l "$base/server.log" -w start >/dev/null ;;
    *) echo "usage: \$0 stop|start" >&2; exit 2 ;;
esac
CTL
    chmod 755 "$base/ctl"
    "$base/ctl" start || { cat "$base/server.log" >&2; return 1; }
    as_user postgres "$bindir/psql" -h "$base" -p "$port" -U postgres -d postgres -q -v ON_ERROR_STOP=1 \
        -c "CREATE ROLE nimue LOGIN PASSWORD '$NIMUE_PG_PASSWORD'" \
        -c "CREATE DATABASE nimue OWNER nimue" >/dev/null || return 1
    NIMUE_PG_BASE=$base
    export NIMUE_TEST_POSTGRES_URL="postgres://nimue:$NIMUE_PG_PASSWORD@127.0.0.1:$port/nimue"
    export NIMUE_TEST_POSTGRES_CTL="$base/ctl"
    export NIMUE_TEST_POSTGRES_CA="$base/ca.crt"
    echo "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
}

postgres_stop() {
    [ -n "${NIMUE_PG_BASE:-}" ] || return 0
    "$NIMUE_PG_BASE/ctl" stop 2>/dev/null || true
    rm -rf "$NIMUE_PG_BASE"
    NIMUE_PG_BASE=
}
