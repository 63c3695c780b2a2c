//! [`PoolEvent`]: what a pool tells the hook set with
//! [`PoolBuilder::on_event`](crate::PoolBuilder::on_event), for logs and metrics (and, with
//! the `metrics` feature, what [`PoolBuilder::metrics`](crate::PoolBuilder::metrics)
//! exports).
//!
//! The hook runs on the thread where the event happened (a caller's, the checker's or the
//! resetter's), never under the pool's lock; it must be quick and must not block on the
//! pool. A panic in it is caught and logged.

use super::checkin::Why;
use super::guarded::{guarded, LOG};
use super::state::Retire;
use crate::error::{Error, Result};
use std::sync::Arc;
use std::time::Duration;

/// Something that happened in a pool.
///
/// ```
/// use nimue::sqlite::SqliteConnector;
/// use nimue::{pool::PoolEvent, Pool};
/// use std::sync::{Arc, Mutex};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = Arc::clone(&seen);
/// let pool = Pool::builder(SqliteConnector::memory())
///     .min_idle(0)
///     .on_event(move |event| log.lock().unwrap().push(format!("{event:?}")))
///     .build()?;
/// drop(pool.get()?);
/// let seen = seen.lock().unwrap();
/// assert!(seen[0].starts_with("Opened"), "{seen:?}");
/// assert!(seen[1].starts_with("CheckedOut"), "{seen:?}");
/// # Ok::<(), nimue::Error>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum PoolEvent<'a> {
    /// A `get`, `try_get` or `with` was given a connection, `waited` after it was called
    /// (including any connect on its thread and the checkout test).
    CheckedOut {
        /// From the call to the connection in hand.
        waited: Duration,
    },
    /// A `get` gave up: no connection within its timeout ([`Error::Timeout`], or
    /// [`Error::Connect`] when connecting was failing meanwhile).
    TimedOut {
        /// How long it waited.
        waited: Duration,
    },
    /// A caller was refused at once: `max_waiting` callers were already waiting.
    Rejected,
    /// A connection was opened (and its `on_connect` hook passed).
    Opened {
        /// The connect and the set-up of its session.
        took: Duration,
    },
    /// Opening a connection failed.
    ConnectFailed {
        /// Why (the connector's or the `on_connect` hook's error).
        error: &'a Error,
    },
    /// A connection was closed.
    Closed {
        /// Why.
        reason: CloseReason,
    },
    /// A connection came back with writes nobody committed, which its return rolled back
    /// (HikariCP's "dirty" connection): a bug in the code that checked it out. Counted in
    /// [`PoolState::dirty_returns`](crate::PoolState::dirty_returns) and logged at warn.
    /// Said on the return, or (PostgreSQL, for writes the statements do not show, when
    /// `nimue::pool` logs at warn) once the server's answer came with a later request.
    DirtyReturn {
        /// Where the checkout was made (`None` when no longer known).
        checked_out_at: Option<&'static std::panic::Location<'static>>,
    },
}

/// Why a pool closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// Broken: the driver said so, its reset or a hook failed, or its holder panicked.
    Broken,
    /// It failed a liveness check (the checker's ping or the checkout test).
    CheckFailed,
    /// Idle longer than `idle_timeout`.
    IdleTimeout,
    /// Older than `max_lifetime`.
    MaxLifetime,
    /// Opened before a `drain`, a disconnect seen with `evict_on_disconnect`, or above the
    /// `max_size` of a `resize`.
    Evicted,
    /// The pool was closed.
    PoolClosed,
}

impl CloseReason {
    /// A short name, for a metric label: `broken`, `check_failed`, `idle_timeout`,
    /// `max_lifetime`, `evicted`, `pool_closed`.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::Broken => "broken",
            CloseReason::CheckFailed => "check_failed",
            CloseReason::IdleTimeout => "idle_timeout",
            CloseReason::MaxLifetime => "max_lifetime",
            CloseReason::Evicted => "evicted",
            CloseReason::PoolClosed => "pool_closed",
        }
    }

    /// The reason of a discard; `None` for a detached connection (not closed).
    pub(crate) fn of(why: Why) -> Option<Self> {
        Some(match why {
            Why::Broken => CloseReason::Broken,
            Why::CheckFailed => CloseReason::CheckFailed,
            Why::Retired(Retire::Idle) => CloseReason::IdleTimeout,
            Why::Retired(Retire::Lifetime) => CloseReason::MaxLifetime,
            Why::Retired(Retire::Evicted) => CloseReason::Evicted,
            Why::Closed => CloseReason::PoolClosed,
            Why::Detached => return None,
        })
    }
}

/// The hooks events go to (the user's, and the metrics exporter's).
pub(crate) type EventHook = Arc<dyn Fn(&PoolEvent<'_>) + Send + Sync>;

/// Tell `hooks` about `event`, each guarded: a panicking hook is logged, not spread.
pub(crate) fn emit(pool: &str, hooks: &[EventHook], event: &PoolEvent<'_>) {
    for hook in hooks {
        let ran: Result<()> = guarded("the on_event hook", || {
            hook(event);
            Ok(())
        });
        if let Err(e) = ran {
            log::warn!(target: LOG, "pool {pool:?}: {e}");
        }
    }
}

/// What a checkout (a thread's or a task's) that ended with `outcome` (`Ok(true)`: a
/// connection; `Ok(false)`: none, `try_get`) after `waited` reports.
pub(crate) fn of_checkout(
    outcome: std::result::Result<bool, &Error>,
    waited: Duration,
) -> Option<PoolEvent<'static>> {
    Some(match outcome {
        Ok(true) => PoolEvent::CheckedOut { waited },
        Err(Error::Timeout(t)) => PoolEvent::TimedOut { waited: t.waited },
        Err(Error::Connect {
            timeout: Some(t), ..
        }) => PoolEvent::TimedOut { waited: t.waited },
        Err(Error::Exhausted(_)) => PoolEvent::Rejected,
        _ => return None,
    })
}
