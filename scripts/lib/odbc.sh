# unixODBC and two ODBC drivers for the test matrix. Sourced, not run.
#
# odbc_start: install unixODBC (with its headers: odbc-api links -lodbc at build time) and the
# PostgreSQL and SQLite3 ODBC drivers with apt when missing, write a private odbcinst.ini
# (exported ODBCSYSINI) that is the system's with the drivers' logging off (the PostgreSQL
# driver ships with CommLog=1 and would leave a /tmp/psqlodbc_*.log file per process; only
# odbcinst.ini turns that off, `CommLog=0` in a connection string does not, so tests run
# outside scripts/test.sh need ODBCSYSINI too), and export:
#   NIMUE_TEST_ODBC_SQLITE    a connection string for the SQLite3 driver on a temp database
#   NIMUE_TEST_ODBC_POSTGRES  a DSN-less connection string for the PostgreSQL Unicode driver to
#                             the server postgres_start started (from NIMUE_TEST_POSTGRES_URL;
#                             not set when that server is not running)
#   NIMUE_TEST_ODBC_DSN       the name of a data source for that server, defined (with its
#                             credentials) in a user-level odbc.ini in the temp dir, which
#                             ODBCINI (exported) points unixODBC at; set with
#                             NIMUE_TEST_ODBC_POSTGRES only
# odbc_stop: remove the temp files.

NIMUE_ODBC_PACKAGES=(unixodbc unixodbc-dev odbc-postgresql libsqliteodbc)

# The packages of NIMUE_ODBC_PACKAGES that are not installed (all of them without dpkg).
odbc_missing_packages() {
    local pkg
    for pkg in "${NIMUE_ODBC_PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
            echo "$pkg"
        fi
    done
}

# Print "host port db user password" from a postgres://user:password@host:port/db URL.
odbc_parse_postgres_url() {
    local re='^postgres(ql)?://([^:@/]+):([^@]*)@([^:/]+):([0-9]+)/([^?]+)'
    [[ $1 =~ $re ]] || return 1
    echo "${BASH_REMATCH[4]} ${BASH_REMATCH[5]} ${BASH_REMATCH[6]} ${BASH_REMATCH[2]} ${BASH_REMATCH[3]}"
}

odbc_start() {
    local missing base drivers_ini driver
    missing=$(odbc_missing_packages | tr '\n' ' ')
    if [ -n "${missing// /}" ]; then
        # shellcheck disable=SC2086
        apt_install $missing || return 1
    fi
    command -v odbcinst >/dev/null || { echo "odbcinst (unixodbc) is missing" >&2; return 1; }
    drivers_ini=$(env -u ODBCSYSINI -u ODBCINSTINI odbcinst -j 2>/dev/null | awk -F': ' '/^DRIVERS/ {print $2}')
    [ -r "${drivers_ini:-}" ] || drivers_ini=/etc/odbcinst.ini
    [ -r "$drivers_ini" ] || { echo "no odbcinst.ini found" >&2; return 1; }
    base=$(mktemp -d /tmp/nimue-odbc.XXXXXX)
    sed -E 's/^[[:space:]]*(CommLog|Debug)[[:space:]]*=.*/\1=0/I' "$drivers_ini" >"$base/odbcinst.ini"
    NIMUE_ODBC_BASE=$base
    export ODBCSYSINI=$base
    for driver in "PostgreSQL Unicode" SQLite3; do
        if ! odbcinst -q -d -n "$driver" >/dev/null 2>&1; then
            echo "the ODBC driver \"$driver\" is not registered in $drivers_ini" >&2
            return 1
        fi
    done
    export NIMUE_TEST_ODBC_SQLITE="Driver={SQLite3};Database=$base/sqlite.db;"
    if [ -n "${NIMUE_TEST_POSTGRES_URL:-}" ]; then
        local host port db user password
        read -r host port db user password < <(odbc_parse_postgres_url "$NIMUE_TEST_POSTGRES_URL") ||
            { echo "cannot parse NIMUE_TEST_POSTGRES_URL" >&2; return 1; }
        local braced=${password//\}/\}\}} # `}` is `}}` inside a braced value
        # BoolsAsChar=0: booleans as SQL_BIT rather than text. Protocol=7.4-1: an error rolls
        # back the transaction, as PostgreSQL does (the driver's statement-level rollback wraps
        # every statement in savepoints of its own, which break on the application's).
        export NIMUE_TEST_ODBC_POSTGRES="Driver={PostgreSQL Unicode};Server=$host;Port=$port;Database=$db;Uid=$user;Pwd={$braced};BoolsAsChar=0;Protocol=7.4-1;"
        # The same server as a user data source (unixODBC reads the user odbc.ini from ODBCINI).
        # odbc.ini values are taken verbatim up to the end of the line.
        export ODBCINI=$base/user-odbc.ini
        export NIMUE_TEST_ODBC_DSN=nimue_test_postgres
        (
            umask 077
            cat >"$ODBCINI" <<INI
[$NIMUE_TEST_ODBC_DSN]
Description=nimue test PostgreSQL server
Driver=PostgreSQL Unicode
Servername=$host
Port=$port
Database=$db
Username=$user
Password=$password
BoolsAsChar=0
INI
        )
        odbcinst -q -s -n "$NIMUE_TEST_ODBC_DSN" >/dev/null 2>&1 ||
            { echo "unixODBC does not see the data source in $ODBCINI" >&2; return 1; }
    fi
    echo "unixODBC $(odbcinst --version | awk '{print $2}') with drivers PostgreSQL Unicode, SQLite3 (ODBCSYSINI=$base)"
}

odbc_stop() {
    [ -n "${NIMUE_ODBC_BASE:-}" ] || return 0
    rm -rf "$NIMUE_ODBC_BASE"
    NIMUE_ODBC_BASE=
}
