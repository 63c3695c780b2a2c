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

cleanup() {
    pgbouncer_stop
    odbc_stop
    postgres_stop
    mariadb_stop
}
trap cleanup EXIT

echo "== starting database servers"
postgres_start || unavailable PostgreSQL
# In front of that server, in transaction pooling mode.
pgbouncer_start || unavailable "PgBouncer"
mariadb_start || unavailable MariaDB
# After PostgreSQL: its ODBC connection string points at that server.
odbc_start || unavailable "unixODBC with the PostgreSQL and SQLite3 ODBC drivers"

echo "== cargo test (workspace, all features)"
cargo test --workspace --all-features

echo "== examples (each checks its own results with assertions)"
# Same features as above, so the build is reused.
cargo run --quiet --all-features --example quickstart
cargo run --quiet --all-features --example custom_driver
# The users' matrix helper, on throwaway servers of its own (scripts/with-databases).
scripts/with-databases postgres mariadb -- cargo run --quiet --all-features --example cross_db

echo "== loom model check of the pool hand-off"
scripts/loom.sh

echo "== benchmark smoke run (debug build, numbers not checked; see README, Benchmarks)"
bench_out=$(mktemp -d)
cargo test --all-features --bench vs_r2d2 -- --quick --rounds 1 --out "$bench_out"
test -s "$bench_out/results.md" && test -s "$bench_out/ratios.svg"
cargo test --all-features --bench recovery -- --quick --out "$bench_out" # stops and starts each server
cargo test --all-features --bench e2e -- --quick --out "$bench_out" # scans in child processes
test -s "$bench_out/e2e.md" && test -s "$bench_out/e2e.svg"
rm -rf "$bench_out"

echo "== cargo doc (no warnings)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps --quiet
