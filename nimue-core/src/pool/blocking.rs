//! Driver code off an async runtime's threads (the `tokio` feature): [`interact`] runs a
//! closure on a connection on tokio's blocking threads ([`Pool::interact`] checks one out,
//! runs the closure and gives it back there), and a guard dropped on a runtime thread is
//! given back (reset, or closed) on one of those too ([`off_runtime`]).
//!
//! Blocking driver calls on a runtime thread stall every task on it, and the synchronous
//! `postgres` client, which runs a runtime of its own inside, panics there ("Cannot start a
//! runtime from within a runtime"). Both paths keep the connection's ownership whole: at every
//! moment it is held by exactly one of the guard, the blocking closure, or a [`Lent`] that
//! gives it back to the pool when dropped, whichever way that happens (the closure ran, the
//! waiting future was cancelled, or the runtime shut down before running it).
//!
//! [`interact`]: PooledConnection::interact

use super::blocking_thread::{on_blocking_thread, BlockingSection};
use super::checkin::{Held, Why};
use super::guard::PooledConnection;
use super::guarded::{broken, reset_is_local, LOG};
use super::shared::Shared;
use super::state::Live;
use super::sync::Arc;
use super::Pool;
use crate::connection::Open;
use crate::error::{Error, Result};
use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::thread;

/// A connection on its way between a guard and a blocking thread: given back to the pool
/// (reset first, as a dropped guard's) if dropped while it still holds it, by the same path
/// as a dropped guard: off a runtime's thread when the return may call the driver.
struct Lent<K: Open> {
    shared: Arc<Shared<K>>,
    live: Option<Box<Live<K::Conn>>>,
    /// Whether the thread that let it go was panicking (its connection is then discarded).
    panicking: bool,
    /// Already sent off a runtime's thread once (by [`off_runtime`]): given back where it is
    /// dropped, so that a runtime shutting down (which drops the task unrun) cannot send it on
    /// and on.
    sent_off: bool,
}

impl<K: Open> Drop for Lent<K> {
    fn drop(&mut self) {
        if let Some(live) = self.live.take() {
            let panicking = self.panicking || thread::panicking();
            if self.sent_off {
                self.shared.checkin_dropped(live, panicking);
            } else {
                Shared::give_back_dropped(&self.shared, live, panicking);
            }
        }
    }
}

/// When called on a thread inside a tokio runtime and giving `live` back may call the driver
/// ([`reset_is_local`](crate::PoolHooks::reset_is_local) says no): give it back on one of
/// the runtime's blocking threads and return `None`; else return it, to be given back here.
pub(crate) fn off_runtime<K: Open>(
    shared: &Arc<Shared<K>>,
    live: Box<Live<K::Conn>>,
    panicking: bool,
) -> Option<Box<Live<K::Conn>>> {
    // Off any runtime (a thread-local read): the common case of synchronous code, which
    // asks nothing of the connection here. Or on one of nimue's blocking threads, where
    // returns belong.
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return Some(live);
    };
    if on_blocking_thread() {
        return Some(live);
    }
    // Nothing to reset, nothing that blocks: given back right here. (A reset that clears the
    // session without blocking, as a native async connection's, runs the set-up again after
    // it: with an `on_connect` hook, that is driver code.)
    let local = !panicking
        && reset_is_local(&live.conn)
        && !broken(&live.conn)
        && shared.config.on_checkin.is_none()
        && shared.config.on_connect.is_none();
    if local {
        return Some(live);
    }
    let lent = Lent {
        shared: Arc::clone(shared),
        live: Some(live),
        panicking,
        sent_off: true,
    };
    // Run or not (a runtime shutting down drops it unrun), dropping `lent` gives it back.
    drop(runtime.spawn_blocking(move || {
        let _section = BlockingSection::enter();
        drop(lent)
    }));
    None
}

/// The message of a panic's payload.
fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic")
}

impl<K: Open> PooledConnection<K> {
    /// Run `f` on this connection on one of tokio's blocking threads and return its result,
    /// so that an async task never runs driver I/O on its runtime's threads (feature `tokio`).
    ///
    /// A panic in `f` becomes an [`Error::Interface`]; the connection, whose state is then
    /// unknown, is closed and its slot freed, and this guard holds no connection any more
    /// (later calls fail the same way). If the future is dropped while `f` runs, `f` runs to
    /// its end and the connection goes back to the pool from the blocking thread.
    ///
    /// ```
    /// use nimue::sqlite::SqliteConnector;
    /// use nimue::{Connection, Pool};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let pool = Pool::builder(SqliteConnector::memory()).min_idle(1).max_size(2).build()?;
    /// let mut conn = pool.get_async().await?;
    /// let changed = conn
    ///     .interact(|c| c.execute("CREATE TABLE t (n INTEGER)", ()))
    ///     .await??;
    /// # Ok::<(), nimue::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn interact<F, T>(&mut self, f: F) -> Result<T>
    where
        F: FnOnce(&mut K::Conn) -> T + Send + 'static,
        T: Send + 'static,
    {
        let Some(live) = self.live_mut().take() else {
            return Err(Error::interface(
                "this guard holds no connection (an earlier interact panicked)",
            ));
        };
        let (lent, value) = run_blocking(self.shared(), live, f, true).await?;
        *self.live_mut() = lent.and_then(|mut lent| lent.live.take());
        Ok(value)
    }
}

impl<K: Open> Pool<K> {
    /// Check out a connection ([`get_async`](Pool::get_async)), run `f` on it on one of tokio's
    /// blocking threads, and give it back from there (feature `tokio`): for a request that
    /// needs one connection once, one trip to a blocking thread where
    /// `get_async` + [`PooledConnection::interact`] + dropping the guard take two whenever
    /// the return has to reset the connection (autocommit off).
    ///
    /// Errors and panics as with [`PooledConnection::interact`]; a connection `f` left in a
    /// transaction is rolled back on its way back.
    ///
    /// ```
    /// use nimue::sqlite::SqliteConnector;
    /// use nimue::{Connection, Pool};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let pool = Pool::builder(SqliteConnector::memory()).min_idle(1).max_size(2).build()?;
    /// let changed = pool
    ///     .interact(|c| {
    ///         c.execute("CREATE TABLE t (n INTEGER)", ())?;
    ///         let n = c.execute("INSERT INTO t VALUES (1)", ())?;
    ///         c.commit()?;
    ///         Ok::<_, nimue::Error>(n)
    ///     })
    ///     .await??;
    /// # Ok::<(), nimue::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn interact<F, T>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&mut K::Conn) -> T + Send + 'static,
        T: Send + 'static,
    {
        let mut conn = self.get_async().await?;
        let live = conn
            .live_mut()
            .take()
            .expect("a guard just checked out holds its connection");
        // The empty guard settles its leak registry entry, and gives nothing back.
        drop(conn);
        let (_, value) = run_blocking(&self.shared, live, f, false).await?;
        Ok(value)
    }
}

/// Run `f` on `live` on one of tokio's blocking threads. With `keep`, the connection comes
/// back in the returned [`Lent`] (for a guard); without, it is given back to the pool there.
/// If this future is dropped meanwhile, the task's output is dropped on the blocking thread,
/// and the `Lent` in it gives the connection back. A panic in `f` discards the connection.
async fn run_blocking<K, F, T>(
    shared: &Arc<Shared<K>>,
    live: Box<Live<K::Conn>>,
    f: F,
    keep: bool,
) -> Result<(Option<Lent<K>>, T)>
where
    K: Open,
    F: FnOnce(&mut K::Conn) -> T + Send + 'static,
    T: Send + 'static,
{
    let pool = Arc::clone(shared);
    let mut lent = Lent {
        shared: Arc::clone(shared),
        live: Some(live),
        panicking: false,
        sent_off: false,
    };
    let ran = tokio::task::spawn_blocking(move || {
        let _section = BlockingSection::enter();
        let live = lent.live.as_mut().expect("lent until taken here");
        let result = panic::catch_unwind(AssertUnwindSafe(|| f(&mut live.conn)));
        if result.is_err() {
            // The closure stopped half-way: the connection's state is unknown.
            if let Some(live) = lent.live.take() {
                pool.discard(*live, Held::InUse, Why::Broken);
            }
        }
        // Given back here (reset included), or back to the guard.
        let lent = keep.then_some(lent);
        (lent, result)
    })
    .await;
    match ran {
        Ok((lent, Ok(value))) => Ok((lent, value)),
        Ok((_, Err(payload))) => {
            let message = panic_message(payload.as_ref());
            log::warn!(target: LOG, "pool {:?}: interact's closure panicked ({message}); its connection was closed", shared.config.name);
            Err(Error::interface(format!(
                "the closure passed to interact panicked: {message}"
            )))
        }
        // The runtime shut down before running it: the connection went back unused.
        Err(e) => Err(Error::interface_from(
            "interact's closure did not run (the runtime is shutting down)",
            e,
        )),
    }
}
