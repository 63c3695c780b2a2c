# A throwaway MariaDB server on 127.0.0.1 for the test matrix. Sourced, not run.
#
# mariadb_start: install mariadb-server with apt when missing, initialise a temp datadir,
# start mariadbd on a free port (no systemd), create user and database `nimue`, export:
#   NIMUE_TEST_MYSQL_URL   mysql://nimue:...@127.0.0.1:PORT/nimue
#   NIMUE_TEST_MYSQL_CTL   a command taking `stop` / `start` for the restart fault tests
#   NIMUE_TEST_MYSQL_CA    the PEM of the CA that signed the server's TLS certificate
# mariadb_stop: stop it and remove its files.

NIMUE_MYSQL_PASSWORD=nimue-test-secret

mariadb_start() {
    local base port
    if ! command -v mariadbd >/dev/null || ! command -v mariadb-install-db >/dev/null; then
        apt_install mariadb-server mariadb-client || return 1
    fi
    if [ "$(id -u)" = 0 ] && ! id mysql >/dev/null 2>&1; then
        useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin mysql
    fi
    base=$(mktemp -d /tmp/nimue-mariadb.XXXXXX)
    chmod 755 "$base"
    mkdir "$base/data" "$base/run"
    local user_opt=()
    if [ "$(id -u)" = 0 ]; then
        chown mysql: "$base/data" "$base/run"
        user_opt=(--user=mysql)
    fi
    mariadb-install-db --no-defaults "${user_opt[@]}" --datadir="$base/data" \
        --auth-root-authentication-method=normal --skip-test-db >"$base/install.log" 2>&1 ||
        { cat "$base/install.log" >&2; return 1; }
    make_tls_files "$base/run" mysql || return 1
    port=$(free_port)
    # Its own tmpdir: a starting server deletes every #sql* file in its tmpdir, another
    # server's temporary tables included (two matrices on one machine broke that way).
    cat >"$base/ctl" <<CTL
#!/usr/bin/env bash
# stop | start the nimue test MariaDB (used by the restart fault tests)
set -euo pipefail
case "\${1:-}" in
    start)
        mariadbd --no-defaults ${user_opt[*]} --datadir="$base/data" --socket="$base/run/mysqld.sock" \\
            --pid-file="$base/run/mysqld.pid" --port=$port --bind-address=127.0.0.1 \\
            --skip-name-resolve --log-error="$base/run/error.log" --innodb-buffer-pool-size=64M \\
            --tmpdir="$base/run" \\
            --innodb-flush-log-at-trx-commit=0 --max-connections=300 \\
            --ssl-ca="$base/run/ca.crt" --ssl-cert="$base/run/server.crt" --ssl-key="$base/run/server.key" </dev/null >/dev/null 2>&1 &
        for _ in \$(seq 1 200); do
            mariadb-admin --no-defaults -h127.0.0.1 -P$port -uroot --connect-timeout=1 ping >/dev/null 2>&1 && exit 0
            sleep 0.05
        done
        echo "MariaDB did not start; see $base/run/error.log" >&2
        exit 1
        ;;
    stop)
        pid=\$(cat "$base/run/mysqld.pid" 2>/dev/null) || exit 0
        kill -KILL "\$pid" 2>/dev/null || true
        while kill -0 "\$pid" 2>/dev/null; do sleep 0.05; done
        rm -f "$base/run/mysqld.pid"
        ;;
    *) echo "usage: \$0 stop|start" >&2; exit 2 ;;
esac
CTL
    chmod 755 "$base/ctl"
    "$base/ctl" start || { tail -20 "$base/run/error.log" >&2; return 1; }
    mariadb --no-defaults -h127.0.0.1 -P"$port" -uroot -e "
        CREATE DATABASE nimue CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
        CREATE USER 'nimue'@'%' IDENTIFIED BY '$NIMUE_MYSQL_PASSWORD';
        GRANT ALL ON nimue.* TO 'nimue'@'%';
        GRANT PROCESS, CONNECTION ADMIN ON *.* TO 'nimue'@'%';" || return 1
    NIMUE_MYSQL_BASE=$base
    export NIMUE_TEST_MYSQL_URL="mysql://nimue:$NIMUE_MYSQL_PASSWORD@127.0.0.1:$port/nimue"
    export NIMUE_TEST_MYSQL_CTL="$base/ctl"
    export NIMUE_TEST_MYSQL_CA="$base/run/ca.crt"
    echo "MariaDB $(mariadbd --version | awk '{print $3}') on 127.0.0.1:$port"
}

mariadb_stop() {
    [ -n "${NIMUE_MYSQL_BASE:-}" ] || return 0
    local pid
    if pid=$(cat "$NIMUE_MYSQL_BASE/run/mysqld.pid" 2>/dev/null); then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -rf "$NIMUE_MYSQL_BASE"
    NIMUE_MYSQL_BASE=
}
