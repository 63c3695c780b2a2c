//! Helpers shared by the pool tests.
#![allow(dead_code)] // each test file uses some of them

use nimue_core::testing::TestConnector;
use nimue_core::{Pool, PoolBuilder, PoolState};
use std::time::{Duration, Instant};

/// How long a test waits for a background effect before failing: generous, so a loaded
/// machine never makes a test flake (effects normally show within a few check intervals).
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The check interval tests use.
pub const INTERVAL: Duration = Duration::from_millis(50);

/// Poll `cond` until it holds; false if it still does not after [`PATIENCE`].
pub fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A builder with a short check interval and a timeout long enough never to fire by accident.
pub fn builder(
    connector: &TestConnector,
    min_idle: usize,
    max_size: usize,
) -> PoolBuilder<TestConnector> {
    Pool::builder(connector.clone())
        .min_idle(min_idle)
        .max_size(max_size)
        .check_interval(INTERVAL)
        .connection_timeout(PATIENCE)
}

/// The numbers that must always add up.
pub fn assert_consistent(state: &PoolState) {
    assert_eq!(
        state.total,
        state.idle + state.in_use + state.pending,
        "total == idle + in_use + pending: {state:?}"
    );
    assert!(
        state.total <= state.max_size,
        "total <= max_size: {state:?}"
    );
}
