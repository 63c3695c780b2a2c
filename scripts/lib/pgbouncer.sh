# PgBouncer in transaction pooling mode in front of the test PostgreSQL server (postgres.sh
# first). Sourced, not run.
#
# pgbouncer_start: start it on 127.0.0.1 and a free port, pooling database `nimue` for the
# user `nimue`, and export:
#   NIMUE_TEST_PGBOUNCER_URL   postgres://nimue:...@127.0.0.1:PORT/nimue
# pgbouncer_stop: stop it and remove its files.

pgbouncer_start() {
    [ -n "${NIMUE_TEST_POSTGRES_URL:-}" ] || { echo "PgBouncer needs PostgreSQL started first" >&2; return 1; }
    if ! command -v pgbouncer >/dev/null && [ ! -x /usr/sbin/pgbouncer ]; then
        apt_install pgbouncer || return 1
    fi
    local bin base port pg_port
    bin=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
    base=$(mktemp -d /tmp/nimue-pgbouncer.XXXXXX)
    port=$(free_port)
    pg_port=${NIMUE_TEST_POSTGRES_URL##*:}
    pg_port=${pg_port%%/*}
    echo "\"nimue\" \"$NIMUE_PG_PASSWORD\"" >"$base/users.txt"
    cat >"$base/pgbouncer.ini" <<INI
[databases]
nimue = host=127.0.0.1 port=$pg_port dbname=nimue

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $base/users.txt
pool_mode = transaction
default_pool_size = 8
max_client_conn = 200
logfile = $base/pgbouncer.log
pidfile = $base/pgbouncer.pid
INI
    [ "$(id -u)" = 0 ] && chown -R postgres: "$base"
    # PgBouncer refuses to run as root.
    as_user postgres "$bin" -d "$base/pgbouncer.ini" >/dev/null 2>&1 || {
        cat "$base/pgbouncer.log" >&2 2>/dev/null
        return 1
    }
    local tries=0
    until python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1).close()" 2>/dev/null; do
        tries=$((tries + 1))
        [ $tries -lt 50 ] || { echo "PgBouncer did not start" >&2; cat "$base/pgbouncer.log" >&2; return 1; }
        sleep 0.1
    done
    NIMUE_PGBOUNCER_BASE=$base
    export NIMUE_TEST_PGBOUNCER_URL="postgres://nimue:$NIMUE_PG_PASSWORD@127.0.0.1:$port/nimue"
    echo "PgBouncer $("$bin" --version | awk 'NR==1{print $2}') (transaction pooling) on 127.0.0.1:$port"
}

pgbouncer_stop() {
    [ -n "${NIMUE_PGBOUNCER_BASE:-}" ] || return 0
    if [ -s "$NIMUE_PGBOUNCER_BASE/pgbouncer.pid" ]; then
        kill "$(cat "$NIMUE_PGBOUNCER_BASE/pgbouncer.pid")" 2>/dev/null || true
        sleep 0.2
    fi
    rm -rf "$NIMUE_PGBOUNCER_BASE"
    NIMUE_PGBOUNCER_BASE=
}
