#!/usr/bin/env bash
# The whole test matrix, on a fresh machine or a developer's: starts the database servers the
# matrix needs (installing them with apt when missing), runs every test (unit, conformance,
# pool, fault, doc) against them, runs the examples that check their own results, checks the
# docs build cleanly, and stops the servers.
#
# PostgreSQL, PgBouncer (transaction pooling, in front of it), MariaDB and unixODBC.
# Servers listen on 127.0.0.1 only, on free ports, with data in temp dirs. Under CI=true a
# database that cannot be started fails the run instead of being skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh
source scripts/lib/postgres.sh
source scripts/lib/mariadb.sh
source scripts/lib/odbc.sh
source scripts/lib/pgbouncer.sh

# Every `cargo test` is run through `counted`, so the last line can say how many passed.
results=$(mktemp)
counted() {
    "$@" 2>&1 | tee -a "$results"
}

cleanup() {
    local status=$?
    pgbouncer_stop
    odbc_stop
    postgres_stop
    mariadb_stop
    local passed failed
    passed=$(grep -ho 'test result: [A-Za-z]*\. [0-9]* passed' "$results" | awk '{ s += $4 } END { print s + 0 }')
    failed=$(grep -ho '[0-9]* failed;' "$results" | awk '{ s += $1 } END { print s + 0 }')
    rm -f "$results"
    if [ "$status" = 0 ]; then
        echo "== scripts/test.sh: PASSED: $passed tests passed, $failed failed (and the examples, loom, benchmark smoke runs, packaging and docs)"
    else
        echo "== scripts/test.sh: FAILED (exit $status; see above): $passed tests passed, $failed failed before it stopped"
    fi
}
trap cleanup EXIT

# A one-off build gains nothing from incremental compilation's caches (2 GB on disk).
if [ "${CI:-}" = true ]; then
    export CARGO_INCREMENTAL=0
fi
echo "== disk free where the build goes: $(df -h --output=avail . | tail -1 | tr -d ' ')"

echo "== starting database servers"
postgres_start || unavailable PostgreSQL
# In front of that server, in transaction pooling mode.
pgbouncer_start || unavailable "PgBouncer"
mariadb_start || unavailable MariaDB
# After PostgreSQL: its ODBC connection string points at that server.
odbc_start || unavailable "unixODBC with the PostgreSQL and SQLite3 ODBC drivers"

echo "== cargo test (workspace, all features)"
counted cargo test --workspace --all-features

echo "== examples (each checks its own results with assertions)"
# Same features as above, so the build is reused.
cargo run --quiet --all-features --example quickstart
cargo run --quiet --all-features --example custom_driver
# The users' matrix helper, on throwaway servers of its own (scripts/with-databases).
scripts/with-databases postgres mariadb -- cargo run --quiet --all-features --example cross_db

echo "== loom model check of the pool hand-off"
counted scripts/loom.sh

echo "== benchmark smoke run (debug build, numbers not checked; see README, Benchmarks)"
bench_out=$(mktemp -d)
counted cargo test --all-features --bench vs_r2d2 -- --quick --rounds 1 --out "$bench_out"
counted cargo test --all-features --bench spike -- --quick --out "$bench_out"
test -s "$bench_out/results.md" && test -s "$bench_out/ratios.svg"
counted cargo test --all-features --bench recovery -- --quick --out "$bench_out" # stops and starts each server
counted cargo test --all-features --bench e2e -- --quick --out "$bench_out" # scans in child processes
test -s "$bench_out/e2e.md" && test -s "$bench_out/e2e.svg"
counted cargo test --all-features --bench async_pools -- --quick --out "$bench_out" # children too
test -s "$bench_out/async.md" && test -s "$bench_out/async.svg"
rm -rf "$bench_out"

echo "== nimue-sqlite without bundled SQLite (users may link the system's libsqlite3)"
cargo check --quiet -p nimue-sqlite --no-default-features
counted scripts/rusqlite-newest.sh

echo "== cargo package (every crate as crates.io would build it, from its package alone)"
# cargo unpacks the packaged crates from its temporary registry into
# $CARGO_HOME/registry/src/-<hash>/ and builds them as registry crates, which it takes as
# immutable: a copy unpacked (or built) by an earlier run of this script would be verified
# instead of this one. So those copies and builds go first.
rm -rf "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/nimue-* target/package
find target/debug/deps -name 'libnimue_*' -delete 2>/dev/null || true
# --allow-dirty only matters in a working copy with changes; CI packages a clean clone. The
# example programs are not published (axum_tables shares web_tables' sources by path).
cargo package --workspace --exclude web_tables --exclude axum_tables --allow-dirty --quiet

echo "== cargo doc (no warnings)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps --quiet
