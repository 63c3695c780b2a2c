//! Calls into driver and hook code, guarded: a panic there becomes an error (or "broken"), so
//! the pool's counts stay right whatever the code it calls does; a failed close is logged.
//! Also the log target the pool logs under.

use crate::connection::Poolable;
use crate::error::{Error, Result};
use std::any::Any;
use std::future::{poll_fn, Future};
use std::panic::{self, AssertUnwindSafe};
use std::pin::pin;
use std::task::Poll;

/// Log target of the pool.
pub(crate) const LOG: &str = "nimue::pool";

/// Whether a connection is broken; a panic in the driver's `is_broken` says it is.
pub(crate) fn broken<C: Poolable>(conn: &C) -> bool {
    panic::catch_unwind(AssertUnwindSafe(|| conn.is_broken())).unwrap_or(true)
}

/// Whether a connection's reset would wait on the database; a panic says no (the return
/// then runs on the caller's thread, where `checkin` deals with a broken connection).
pub(crate) fn reset_waits<C: Poolable>(conn: &C) -> bool {
    panic::catch_unwind(AssertUnwindSafe(|| conn.reset_waits())).unwrap_or(false)
}

/// Whether giving a connection back would make no driver call; a panic says no (the return
/// then goes to a blocking thread, where `checkin` deals with it).
#[cfg(feature = "tokio")]
pub(crate) fn reset_is_local<C: Poolable>(conn: &C) -> bool {
    panic::catch_unwind(AssertUnwindSafe(|| conn.reset_is_local())).unwrap_or(false)
}

/// Close a connection, logging (not returning) an error.
pub(crate) fn close_quietly<C: Poolable>(pool: &str, conn: C) {
    if let Err(e) = guarded("close", || conn.close()) {
        log::debug!(target: LOG, "pool {pool:?}: closing a connection failed: {e}");
    }
}

/// Run driver or hook code, turning a panic into an error so the pool's counts stay right
/// (the panic message was already printed by the panic hook).
pub(crate) fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| Err(panicked(what, payload)))
}

/// [`guarded`] for a future: a panic while it is polled becomes an error.
pub(crate) async fn guarded_future<T>(
    what: &str,
    future: impl Future<Output = Result<T>>,
) -> Result<T> {
    let mut future = pin!(future);
    poll_fn(|cx| {
        panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx)))
            .unwrap_or_else(|payload| Poll::Ready(Err(panicked(what, payload))))
    })
    .await
}

/// The error of driver or hook code that panicked.
fn panicked(what: &str, payload: Box<dyn Any + Send>) -> Error {
    Error::interface(format!(
        "{what} panicked: {}",
        panic_message(payload.as_ref())
    ))
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(no message)"
    }
}
