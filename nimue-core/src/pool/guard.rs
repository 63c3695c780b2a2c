//! [`PooledConnection`]: a connection lent by the pool.

use super::checkin::{Held, Why};
use super::events::PoolEvent;
use super::guarded::LOG;
use super::shared::Shared;
use super::state::Live;
use super::sync::Arc;
use crate::connection::{Open, Poolable};
use crate::error::Result;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::thread;

/// A connection lent by a [`Pool`](crate::Pool); it derefs to the connection.
///
/// Dropping it (or [`close`](Self::close)) gives the connection back after
/// [`PoolHooks::reset`](crate::PoolHooks::reset), which rolls back an open transaction. A
/// connection that is [broken](crate::PoolHooks::is_broken), fails to reset, or is dropped
/// while its thread panics is closed instead, and its slot freed.
///
/// ```
/// use nimue::sqlite::SqliteConnector;
/// use nimue::{Connection, Pool};
///
/// let pool = Pool::builder(SqliteConnector::memory()).min_idle(1).max_size(4).build()?;
/// pool.transaction(|tx| tx.execute("CREATE TABLE t (n INTEGER)", ()))?; // committed
/// {
///     let mut conn = pool.get()?;
///     conn.execute("INSERT INTO t VALUES (1)", ())?; // opens a transaction
/// } // rolled back (a dirty return: counted, and logged at warn) and given back here
/// assert_eq!(pool.get()?.query_scalar::<i64>("SELECT COUNT(*) FROM t", ())?, 0);
/// assert_eq!(pool.state().dirty_returns, 1);
/// # Ok::<(), nimue::Error>(())
/// ```
pub struct PooledConnection<K: Open> {
    shared: Arc<Shared<K>>,
    /// `None` only once given back or detached.
    live: Option<Box<Live<K::Conn>>>,
    /// This checkout's entry in the leak registry, when `leak_threshold` is set.
    ticket: Option<usize>,
    /// Where it was checked out (for the warning about uncommitted writes).
    at: &'static Location<'static>,
}

impl<K: Open> PooledConnection<K> {
    pub(crate) fn new(
        shared: Arc<Shared<K>>,
        live: Box<Live<K::Conn>>,
        at: &'static Location<'static>,
    ) -> Self {
        let ticket = shared.leak_ticket(at);
        PooledConnection {
            shared,
            live: Some(live),
            ticket,
            at,
        }
    }

    /// Give the connection back now, like dropping the guard, but report the error of
    /// [`reset`](crate::PoolHooks::reset) or the `on_checkin` hook, if one failed (the
    /// connection was then closed instead of reused).
    pub fn close(mut self) -> Result<()> {
        match self.take_back() {
            Some(live) => self.shared.checkin(live, false),
            None => Ok(()),
        }
    }

    /// Take the connection out of the pool for good: the pool forgets it and frees its slot.
    ///
    /// ```
    /// use nimue::sqlite::SqliteConnector;
    /// use nimue::Pool;
    ///
    /// let pool = Pool::builder(SqliteConnector::memory()).min_idle(0).max_size(1).build()?;
    /// let mine = pool.get()?.detach();
    /// assert_eq!(pool.state().total, 0);
    /// let other = pool.get()?; // the slot is free again
    /// # Ok::<(), nimue::Error>(())
    /// ```
    pub fn detach(mut self) -> K::Conn {
        let live = self
            .take()
            .expect("a guard holds its connection until dropped");
        self.shared.uncount(Held::InUse, Why::Detached);
        live.conn
    }

    /// The connection, and its leak registry entry settled.
    fn take(&mut self) -> Option<Box<Live<K::Conn>>> {
        self.shared.settle_ticket(self.ticket.take());
        self.live.take()
    }

    /// The pool this guard's connection belongs to.
    #[cfg(feature = "tokio")]
    pub(crate) fn shared(&self) -> &Arc<Shared<K>> {
        &self.shared
    }

    /// The lent connection (`None` once given back, or lost to a panic in `interact`).
    #[cfg(feature = "tokio")]
    pub(crate) fn live_mut(&mut self) -> &mut Option<Box<Live<K::Conn>>> {
        &mut self.live
    }

    /// Take the connection to give it back, warning when it holds writes nobody committed.
    fn take_back(&mut self) -> Option<Box<Live<K::Conn>>> {
        let mut live = self.take()?;
        warn_if_dirty(&self.shared, &mut live, self.at);
        Some(live)
    }
}

impl<K: Open> Deref for PooledConnection<K> {
    type Target = K::Conn;

    #[inline]
    fn deref(&self) -> &K::Conn {
        &self
            .live
            .as_ref()
            .expect("a guard holds its connection")
            .conn
    }
}

impl<K: Open> DerefMut for PooledConnection<K> {
    #[inline]
    fn deref_mut(&mut self) -> &mut K::Conn {
        &mut self
            .live
            .as_mut()
            .expect("a guard holds its connection")
            .conn
    }
}

impl<K: Open> Drop for PooledConnection<K> {
    fn drop(&mut self) {
        let Some(live) = self.take_back() else {
            return;
        };
        Shared::give_back_dropped(&self.shared, live, thread::panicking());
    }
}

impl<K: Open> fmt::Debug for PooledConnection<K> {
    /// Names the pool; never shows the connection (it may hold credentials).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledConnection")
            .field("pool", &self.shared.config.name)
            .finish_non_exhaustive()
    }
}

/// A connection lent for the length of a [`Pool::with`](crate::Pool::with) call: a guard
/// that borrows the pool instead of counting a reference to it.
pub(crate) struct Lease<'a, K: Open> {
    shared: &'a Shared<K>,
    /// `None` only once given back.
    live: Option<Box<Live<K::Conn>>>,
    ticket: Option<usize>,
    at: &'static Location<'static>,
}

impl<'a, K: Open> Lease<'a, K> {
    pub(crate) fn new(
        shared: &'a Shared<K>,
        live: Box<Live<K::Conn>>,
        at: &'static Location<'static>,
    ) -> Self {
        let ticket = shared.leak_ticket(at);
        Lease {
            shared,
            live: Some(live),
            ticket,
            at,
        }
    }

    pub(crate) fn conn(&mut self) -> &mut K::Conn {
        &mut self
            .live
            .as_mut()
            .expect("a lease holds its connection")
            .conn
    }
}

impl<K: Open> Drop for Lease<'_, K> {
    fn drop(&mut self) {
        self.shared.settle_ticket(self.ticket.take());
        if let Some(mut live) = self.live.take() {
            warn_if_dirty(self.shared, &mut live, self.at);
            // As for a dropped guard.
            self.shared.checkin_dropped(live, thread::panicking());
        }
    }
}

/// A connection given back with writes nobody committed (HikariCP's "dirty" connection):
/// the return rolls them back, which is what the code that checked it out may not expect.
/// Counted, told to the `on_event` hooks and said at warn level, with where it was checked
/// out; first what the server said since of the previous return
/// ([`PoolHooks::took_back_uncommitted_writes`]), naming that checkout.
pub(crate) fn warn_if_dirty<K: Open>(
    shared: &Shared<K>,
    live: &mut Live<K::Conn>,
    at: &'static Location<'static>,
) {
    warn_if_took_back(shared, live);
    if live.conn.holds_uncommitted_writes() {
        dirty_return(shared, Some(at), "");
    }
    live.last_at = Some(at);
}

/// Warn when the server said since the last return that it rolled back writes.
pub(crate) fn warn_if_took_back<K: Open>(shared: &Shared<K>, live: &mut Live<K::Conn>) {
    if live.conn.took_back_uncommitted_writes() {
        dirty_return(
            shared,
            live.last_at,
            " (the server said so after the return)",
        );
    }
}

/// Count, tell and log one dirty return of a checkout made `at`.
fn dirty_return<K: Open>(shared: &Shared<K>, at: Option<&'static Location<'static>>, when: &str) {
    // The pool's counters change under its lock (none is held here: a return or a ping).
    shared.lock().stats.dirty_returns += 1;
    shared.emit(&PoolEvent::DirtyReturn { checked_out_at: at });
    let at = at.map_or_else(|| "an unknown place".to_owned(), ToString::to_string);
    log::warn!(
        target: LOG,
        "pool {:?}: a connection checked out at {at} came back with uncommitted writes{when}; \
         they were rolled back (commit them, or use Connection::transaction)",
        shared.config.name
    );
}
