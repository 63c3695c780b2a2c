#!/usr/bin/env bash
# The whole test matrix, on a fresh machine or a developer's: builds the workspace with every
# adapter, runs every test (unit, conformance, pool, doc) and checks the docs build cleanly.
#
# Database servers the matrix needs are installed and started by the scripts beside this one,
# on 127.0.0.1 only, and stopped when it ends. Under CI=true a database that cannot be started
# fails the run instead of being skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo test (workspace, all features)"
cargo test --workspace --all-features

echo "== cargo doc (no warnings)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps --quiet
