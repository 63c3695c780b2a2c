//! What a pool counts, and the snapshot of its numbers users read ([`PoolState`]).

use std::time::Duration;

/// A duration as a number of milliseconds (fractions kept), for `PoolState`'s serialization.
#[cfg(feature = "serde")]
fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1e3)
}

/// Counters reported by [`PoolState`].
#[derive(Default, Clone)]
pub(crate) struct Counters {
    pub gets: u64,
    pub waits: u64,
    pub wait_time: Duration,
    pub timeouts: u64,
    pub created: u64,
    pub closed: u64,
    pub broken: u64,
    pub checks_failed: u64,
    pub connect_failures: u64,
    pub retired_idle: u64,
    pub retired_lifetime: u64,
    pub evicted: u64,
    pub rejected: u64,
    pub dirty_returns: u64,
}

/// A snapshot of a pool's numbers, from [`Pool::state`](crate::Pool::state).
///
/// `total == idle + in_use + pending` always holds, and `total <= max_size`.
///
/// ```
/// use nimue::sqlite::SqliteConnector;
/// use nimue::Pool;
/// let pool = Pool::builder(SqliteConnector::memory()).min_idle(2).max_size(5).build()?;
/// let conn = pool.get()?;
/// let state = pool.state();
/// assert_eq!((state.in_use, state.idle, state.total), (1, 1, 2));
/// assert_eq!(state.total, state.idle + state.in_use + state.pending);
/// assert_eq!(state.gets, 1);
/// # Ok::<(), nimue::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct PoolState {
    /// Idle connections.
    pub idle: usize,
    /// Connections handed out.
    pub in_use: usize,
    /// Connections being opened, taken out by the checker to be pinged or closed, or being
    /// reset in the background after their guard was dropped.
    pub pending: usize,
    /// Every connection counted against `max_size`: `idle + in_use + pending`.
    pub total: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
    /// The most connections the pool opens.
    pub max_size: usize,
    /// How many idle connections the pool keeps ready.
    pub min_idle: usize,
    /// Whether the pool was closed.
    pub is_closed: bool,
    /// Calls of `get`, `get_timeout` and `try_get`.
    pub gets: u64,
    /// Gets that had to wait.
    pub waits: u64,
    /// Total time gets spent waiting. Serialized (feature `serde`) as `wait_time_ms`, a
    /// number of milliseconds, as health endpoints and dashboards read it.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "wait_time_ms", serialize_with = "as_millis")
    )]
    pub wait_time: Duration,
    /// Gets that timed out.
    pub timeouts: u64,
    /// Connections opened.
    pub created: u64,
    /// Connections closed (for any reason).
    pub closed: u64,
    /// Connections discarded as broken: `is_broken()`, failed `reset()`, a panic while held,
    /// a failed `on_checkout`/`on_checkin` hook.
    pub broken: u64,
    /// Pings that failed: the checker's on idle connections and `test_on_checkout`'s.
    pub checks_failed: u64,
    /// Connect attempts that failed (connector or `on_connect` hook).
    pub connect_failures: u64,
    /// Connections closed for `idle_timeout` or `max_lifetime`
    /// (`retired_idle + retired_lifetime`).
    pub retired: u64,
    /// Connections closed after `idle_timeout`.
    pub retired_idle: u64,
    /// Connections closed after `max_lifetime`.
    pub retired_lifetime: u64,
    /// Connections closed because they were opened before a [`drain`](crate::Pool::drain) or,
    /// with `evict_on_disconnect`, before another connection saw the database go away, or
    /// because a [`resize`](crate::Pool::resize) left the pool above its new `max_size`.
    pub evicted: u64,
    /// Gets refused at once because `max_waiting` callers were already waiting.
    pub rejected: u64,
    /// Connections given back with writes nobody committed, rolled back by their return: a
    /// bug in the code that checked them out ([`PoolEvent::DirtyReturn`](crate::pool::PoolEvent::DirtyReturn)
    /// says where). 0 in a healthy program.
    pub dirty_returns: u64,
    /// Gets served without waiting (`gets - waits`).
    pub direct: u64,
    /// Why the latest connect attempt failed, unless one succeeded since.
    pub last_connect_error: Option<String>,
}
