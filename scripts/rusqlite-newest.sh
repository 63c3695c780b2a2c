#!/usr/bin/env bash
# The SQLite conformance suite against the newest rusqlite that nimue-sqlite accepts.
#
# nimue-sqlite takes rusqlite ">=0.40, <0.44", so a project on any of them shares its SQLite.
# This workspace's Cargo.lock keeps 0.40, the one the benchmark's r2d2_sqlite needs; this
# builds the same suite (tests/conformance) in a scratch package pinned to the newest.
set -euo pipefail
cd "$(dirname "$0")/.."
newest=0.43
root=$PWD
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/src" "$dir/tests"
cat >"$dir/Cargo.toml" <<TOML
[package]
name = "rusqlite-newest"
version = "0.0.0"
edition = "2021"
publish = false

[workspace]

[features]
default = ["sqlite"]
sqlite = []

[dev-dependencies]
nimue-db = { path = "$root", default-features = false, features = ["sqlite", "sqlite-bundled", "derive"] }
rusqlite = "=$newest"
chrono = { version = "0.4", default-features = false, features = ["std", "clock"] }
rust_decimal = { version = "1", default-features = false, features = ["std"] }
tempfile = "3"
futures-util = "0.3"
tokio = { version = "1", features = ["rt", "rt-multi-thread", "time"] }
TOML
: >"$dir/src/lib.rs"
cp -r tests/common tests/conformance tests/conformance_sqlite.rs "$dir/tests/"
echo "== the SQLite conformance suite on rusqlite $newest"
CARGO_TARGET_DIR="$root/target/rusqlite-newest" cargo test --quiet --manifest-path "$dir/Cargo.toml"
