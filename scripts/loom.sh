#!/usr/bin/env bash
# Model-check the pool's checkout/return/close hand-off with loom (nimue-core/tests/loom.rs):
# the real pool code, built with `--cfg loom` on loom's Mutex/Condvar/Arc/atomics, under every
# interleaving of a few threads up to a preemption bound. Its own target dir, so the normal
# build is not rebuilt after it.
set -euo pipefail
cd "$(dirname "$0")/.."
RUSTFLAGS="--cfg loom" cargo test -p nimue-core --features testing --test loom --release \
    --target-dir "${CARGO_TARGET_DIR:-target}/loom" "$@"
