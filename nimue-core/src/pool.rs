//! The connection pool: one for every driver (any connector, [`Connect`]), kept healthy by a
//! background liveness checker. It asks of its connections only what [`Poolable`](crate::Poolable)
//! says (every DB-API connection is one), of its connector only [`Open`].
//!
//! ```
//! use nimue::sqlite::SqliteConnector;
//! use nimue::{Connection, Pool};
//!
//! // Any connector works; a closure returning a connection is one too.
//! let pool = Pool::builder(SqliteConnector::memory()).min_idle(2).max_size(10).build()?;
//! let mut conn = pool.get()?; // waits up to connection_timeout (30 s by default)
//! conn.execute("CREATE TABLE counters (n INTEGER)", ())?;
//! conn.execute("INSERT INTO counters VALUES (?)", (0,))?;
//! conn.commit()?;
//! drop(conn); // back to the pool (reset first)
//! assert_eq!(pool.state().idle, 2);
//! # Ok::<(), nimue::Error>(())
//! ```
//!
//! # How it works
//!
//! - **One lock, short critical sections.** The pool's numbers, idle connections and waiters
//!   sit behind one mutex that is held only for bookkeeping: a `get` that finds an idle
//!   connection takes it in one critical section, a return puts it back in one. Connecting,
//!   pinging, resetting and closing always happen with no lock held.
//! - **A lock-free fast lane.** While nobody waits, a returned connection is put on a
//!   *shelf* (one atomic cell each) that the returning thread looks at first on its next
//!   checkout, so the common get-and-return touches neither the lock nor a cache line other
//!   threads write. Shelved connections stay counted as lent, so the lock's bookkeeping is
//!   unchanged; a caller about to wait closes the shelves and takes what is on them
//!   (`pool/lane.rs` has the protocol and its invariants).
//! - **Slots are counted before connecting.** A `get` that finds no idle connection while
//!   fewer than `max_size` are open queues, and reserves slots for as many connects as the
//!   returns will not serve within one connect time (`pool/demand.rs`); each connect runs on a
//!   thread of its own, and its connection goes to the first waiter. A failed connect frees
//!   its slot. So `max_size` bounds the connections that exist, not only those counted, and
//!   none are forgotten.
//! - **First come first served, with bounded barging.** A `get` that must wait queues with
//!   its own mailbox and condition variable; only the first waiter is ever woken (no
//!   thundering herd) and each is served once. A returned connection goes straight into the
//!   first waiter's mailbox when that waiter is awake or has waited 500 µs; otherwise it is
//!   left idle and the first waiter nudged, so a running caller may take it meanwhile rather
//!   than every connection sitting unused through a sleeping thread's wake-up (the convoy a
//!   strict hand-off causes). The benchmark against r2d2 (`benches/vs_r2d2.rs`) shows what
//!   this buys: higher throughput and a p99.9 `get()` latency far below r2d2's.
//! - **Back-off.** After a connect fails, callers stop connecting on their own; the checker
//!   retries with exponential back-off (10 ms doubling, at most `check_interval` or 5 s) while
//!   waiters or `min_idle` need connections, and when a retry succeeds every waiter gets a slot
//!   to connect in. A `get` that times out meanwhile reports the last connect error.
//! - **The checker** (see `checker.rs`) pings idle connections once per `check_interval`
//!   (taking one out at a time, so the pool keeps working), replaces dead ones, retires
//!   connections past `idle_timeout` or `max_lifetime`, keeps `min_idle` idle connections, and
//!   stops when the pool closes or its last [`Pool`] handle is dropped.
//!
//! # Events and metrics
//!
//! [`PoolBuilder::on_event`] hands every [`PoolEvent`] (checkouts with their wait, timeouts,
//! refusals, opened and closed connections with the reason, failed connects) to a hook of
//! yours. With the `metrics` feature, `PoolBuilder::metrics(true)` exports them through the
//! `metrics` crate, labelled `pool` with the pool's name:
//!
//! | metric | kind | what |
//! |---|---|---|
//! | `nimue_pool_checkout_wait_seconds` | histogram | from a `get` call to the connection in hand |
//! | `nimue_pool_timeouts_total` | counter | `get`s that gave up |
//! | `nimue_pool_rejected_total` | counter | callers refused by `max_waiting` |
//! | `nimue_pool_dirty_returns_total` | counter | connections given back with uncommitted writes (rolled back) |
//! | `nimue_pool_connections_opened_total` | counter | connections opened |
//! | `nimue_pool_connect_failures_total` | counter | failed connects |
//! | `nimue_pool_connections_closed_total` | counter | closed connections, label `reason` ([`CloseReason::as_str`]) |
//! | `nimue_pool_connections_idle`, `_in_use`, `_pending`, `_total`, `_max` | gauge | the pool's numbers at the checker's latest round |
//! | `nimue_pool_waiting` | gauge | callers waiting, at the same moment |
//!
//! The invariants these keep are listed, and checked in debug builds, in `state.rs`.
//! `tests/loom.rs` model-checks the hand-off between callers (`scripts/loom.sh`).

// The loom build models callers only: the checker and leak scan are compiled but unused.
#![cfg_attr(loom, allow(dead_code, unused_imports))]

mod backoff;
#[cfg(feature = "tokio")]
mod blocking;
mod blocking_thread;
mod builder;
mod checker;
mod checkin;
mod checkout;
mod checkout_async;
mod checkout_thread;
mod config;
mod connect;
mod control;
mod demand;
mod events;
mod guard;
mod guarded;
mod lane;
mod leak;
#[cfg(feature = "metrics")]
mod metrics;
mod open;
mod opener;
mod queue;
mod resetter;
mod shared;
mod state;
mod stats;
mod sync;
#[cfg(not(loom))]
mod timer;

pub use blocking_thread::on_blocking_thread;
pub use builder::PoolBuilder;
pub use checkout_async::GetAsync;
pub use config::{Reuse, MAX_SIZE};
pub use events::{CloseReason, PoolEvent};
pub use guard::PooledConnection;
pub use stats::PoolState;

use crate::connection::{Connect, Connection, Open, Transaction};
use crate::error::{Error, Result};
use shared::Shared;
use std::fmt;
use std::panic::Location;
use std::sync::atomic::Ordering;
use std::time::Duration;
use sync::{fence, Arc};

/// A pool of connections from one connector; cheap to clone (all clones share the pool).
///
/// The pool closes when [`close`](Pool::close) is called or its last clone is dropped.
/// Connections still lent out then are closed as they come back.
///
/// ```
/// use nimue::sqlite::SqliteConnector;
/// use nimue::{Connection, Pool};
/// use std::thread;
///
/// let pool = Pool::builder(SqliteConnector::memory()).min_idle(1).max_size(4).build()?;
/// let workers: Vec<_> = (0..8)
///     .map(|i| {
///         let pool = pool.clone();
///         thread::spawn(move || pool.get()?.query_scalar::<i64>("SELECT ? * 2", (i,)))
///     })
///     .collect();
/// for (i, worker) in workers.into_iter().enumerate() {
///     assert_eq!(worker.join().unwrap()?, 2 * i as i64);
/// }
/// assert!(pool.state().total <= 4);
/// # Ok::<(), nimue::Error>(())
/// ```
pub struct Pool<K: Open> {
    shared: Arc<Shared<K>>,
}

impl<K: Open> Pool<K> {
    /// A pool with every setting at its default (at most 10 connections, 1 kept ready, as
    /// r2d2's `Pool::new`); opens that one first ([`PoolBuilder::build`]). Sizes and every
    /// other setting are named on [`builder`](Self::builder):
    /// `Pool::builder(connector).min_idle(2).max_size(8).build()`.
    ///
    /// ```
    /// use nimue::sqlite::SqliteConnector;
    /// use nimue::Pool;
    /// let pool = Pool::new(SqliteConnector::memory())?;
    /// assert_eq!((pool.state().idle, pool.state().max_size), (1, 10));
    /// # Ok::<(), nimue::Error>(())
    /// ```
    pub fn new(connector: K) -> Result<Self> {
        Self::builder(connector).build()
    }

    /// A builder to set every option.
    pub fn builder(connector: K) -> PoolBuilder<K> {
        PoolBuilder::new(connector)
    }

    /// Wrap a configured shared part in the first handle and start its checker.
    fn start(shared: Shared<K>) -> Result<Self> {
        let shared = Arc::new(shared);
        shared.handles.store(1, Ordering::Relaxed);
        // Under loom the model has no checker: it checks the hand-off between callers.
        #[cfg(not(loom))]
        match checker::spawn(&shared) {
            Ok(handle) => *shared.checker.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle),
            Err(e) => {
                shared.close();
                let message = format!("could not start the pool's checker thread: {e}");
                return Err(Error::interface_from(message, e));
            }
        }
        // The timer applies the demand rule again when it held opens back, for threads and
        // tasks alike, and times tasks out.
        #[cfg(not(loom))]
        timer::ensure_started(&shared);
        #[cfg(not(loom))]
        if let Err(e) = resetter::spawn(&shared) {
            shared.close();
            let message = format!("could not start the pool's resetter thread: {e}");
            return Err(Error::interface_from(message, e));
        }
        Ok(Pool { shared })
    }

    /// A connection, waiting up to the pool's `connection_timeout` for one.
    ///
    /// Takes an idle connection, or else waits in the queue for whichever comes first: one
    /// another caller gives back, or one opened for the queue (on a thread of its own, while
    /// fewer than `max_size` exist and the returns would not serve the queue within a
    /// connect time: a burst of callers does not open a connection each). Fails with [`Error::Timeout`] (which carries
    /// the pool's numbers, and as its source why the connections it was given were turned
    /// away by `on_checkout` or `test_on_checkout`, if they were), [`Error::Connect`] (the
    /// timeout ran out while connecting failed: the connect error) or [`Error::Closed`].
    #[track_caller]
    pub fn get(&self) -> Result<PooledConnection<K>> {
        self.get_timeout(self.shared.config.connection_timeout)
    }

    /// A connection for an async task: [`get`](Pool::get) that waits without blocking its
    /// thread, on any executor, up to the pool's `connection_timeout`.
    ///
    /// It waits in the same first-come-first-served queue as threads calling `get`. A new
    /// connection is opened on a thread of its own, never on the task's; the timeout is kept by
    /// a timer thread of the pool. Dropping the future at any point (a `select!`, a timeout
    /// around it, a cancelled request) leaks nothing: what it was given goes to the next
    /// waiter.
    ///
    /// The guard is the same [`PooledConnection`]: driver calls on it block, so in an async
    /// application run them on a blocking thread (with the `tokio` feature,
    /// [`PooledConnection::interact`]).
    ///
    /// ```
    /// use nimue::sqlite::SqliteConnector;
    /// use nimue::Pool;
    ///
    /// async fn handler(pool: &Pool<SqliteConnector>) -> nimue::Result<usize> {
    ///     let conn = pool.get_async().await?;
    ///     Ok(pool.state().in_use)
    /// }
    ///
    /// let pool = Pool::builder(SqliteConnector::memory()).min_idle(1).max_size(2).build()?;
    /// assert_eq!(block_on(handler(&pool))?, 1);
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     let mut f = std::pin::pin!(f);
    /// #     loop {
    /// #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; }
    /// #         std::thread::yield_now();
    /// #     }
    /// # }
    /// # Ok::<(), nimue::Error>(())
    /// ```
    #[track_caller]
    pub fn get_async(&self) -> GetAsync<K> {
        self.get_async_timeout(self.shared.config.connection_timeout)
    }

    /// [`get_async`](Pool::get_async) with another timeout.
    #[track_caller]
    pub fn get_async_timeout(&self, timeout: Duration) -> GetAsync<K> {
        GetAsync::new(Arc::clone(&self.shared), timeout, Location::caller())
    }

    /// [`get`](Pool::get) with another timeout.
    ///
    /// ```
    /// use nimue::sqlite::SqliteConnector;
    /// use nimue::{ErrorKind, Pool};
    /// use std::time::Duration;
    ///
    /// let pool = Pool::builder(SqliteConnector::memory()).min_idle(1).max_size(1).build()?;
    /// let held = pool.get()?;
    /// let err = pool.get_timeout(Duration::from_millis(10)).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::PoolTimeout);
    /// # Ok::<(), nimue::Error>(())
    /// ```
    #[track_caller]
    pub fn get_timeout(&self, timeout: Duration) -> Result<PooledConnection<K>> {
        let live = Shared::checkout(&self.shared, Some(timeout))?
            .expect("a checkout with a timeout returns a connection or an error");
        Ok(self.lend(live, Location::caller()))
    }

    /// A connection if one is available without waiting for another user to return one:
    /// an idle one, or a new one opened on this thread while fewer than `max_size` exist.
    /// `Ok(None)` when the pool is exhausted (or backing off after connect failures);
    /// [`Error::Connect`] when opening one failed.
    ///
    /// ```
    /// use nimue::sqlite::SqliteConnector;
    /// use nimue::Pool;
    ///
    /// let pool = Pool::builder(SqliteConnector::memory()).min_idle(0).max_size(1).build()?;
    /// let first = pool.try_get()?.expect("room for one");
    /// assert!(pool.try_get()?.is_none());
    /// # Ok::<(), nimue::Error>(())
    /// ```
    #[track_caller]
    pub fn try_get(&self) -> Result<Option<PooledConnection<K>>> {
        let at = Location::caller();
        Ok(Shared::checkout(&self.shared, None)?.map(|live| self.lend(live, at)))
    }

    /// Check a connection out for the length of `f`, then give it back: [`get`](Pool::get)
    /// and dropping the guard in one call, minus the guard's reference count on the pool
    /// (two atomic operations shared by every thread), so the cheapest checkout there is.
    /// The connection is reset on return as usual; a panic in `f` closes it and frees its
    /// slot. `f`'s error type only needs to convert from [`Error`].
    ///
    /// ```
    /// use nimue::sqlite::SqliteConnector;
    /// use nimue::{Connection, Pool};
    ///
    /// let pool = Pool::builder(SqliteConnector::memory()).min_idle(1).max_size(1).build()?;
    /// let answer: i64 = pool.with(|conn| conn.query_scalar("SELECT 6 * 7", ()))?;
    /// assert_eq!((answer, pool.state().idle), (42, 1));
    /// # Ok::<(), nimue::Error>(())
    /// ```
    #[track_caller]
    pub fn with<T, E: From<Error>>(
        &self,
        f: impl FnOnce(&mut K::Conn) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let timeout = self.shared.config.connection_timeout;
        let live = Shared::checkout(&self.shared, Some(timeout))?
            .expect("a checkout with a timeout returns a connection or an error");
        let mut lease = guard::Lease::new(&self.shared, live, Location::caller());
        f(lease.conn())
    }

    /// Close the pool: callers waiting in `get` fail with [`Error::Closed`], and so does every
    /// later `get`; idle connections are closed now, lent ones when they come back; the
    /// checker thread is stopped (this waits for it to finish what it is doing).
    ///
    /// ```
    /// use nimue::sqlite::SqliteConnector;
    /// use nimue::{ErrorKind, Pool};
    ///
    /// let pool = Pool::builder(SqliteConnector::memory()).min_idle(2).max_size(4).build()?;
    /// let lent = pool.get()?;
    /// pool.close();
    /// assert_eq!(pool.get().unwrap_err().kind(), ErrorKind::PoolClosed);
    /// assert_eq!((pool.state().idle, pool.state().total), (0, 1)); // the lent one
    /// drop(lent); // closed as it comes back
    /// assert_eq!(pool.state().total, 0);
    /// # Ok::<(), nimue::Error>(())
    /// ```
    pub fn close(&self) {
        self.shared.close();
    }

    /// Replace every connection gracefully: idle ones are closed now and in-use ones when
    /// they are returned; the checker opens new ones (up to `min_idle`, and callers open what
    /// they need). For new credentials, a server that moved, or settings applied at connect.
    ///
    /// ```
    /// use nimue::sqlite::SqliteConnector;
    /// use nimue::Pool;
    ///
    /// let pool = Pool::builder(SqliteConnector::memory()).min_idle(2).max_size(4).build()?;
    /// let created = pool.state().created;
    /// pool.drain();
    /// drop(pool.get()?); // a new connection
    /// assert_eq!(pool.state().evicted, 2);
    /// assert!(pool.state().created > created);
    /// # Ok::<(), nimue::Error>(())
    /// ```
    pub fn drain(&self) {
        self.shared.evict(std::time::Instant::now());
    }

    /// Change `min_idle` and `max_size` of the live pool. More room serves waiting callers at
    /// once; less closes idle connections above the new `max_size` now and in-use ones as they
    /// are returned, until the pool fits. Invalid sizes (as in the builder) are an
    /// `InterfaceError` and change nothing.
    ///
    /// ```
    /// use nimue::sqlite::SqliteConnector;
    /// use nimue::Pool;
    ///
    /// let pool = Pool::builder(SqliteConnector::memory()).min_idle(4).max_size(4).build()?;
    /// pool.resize(1, 2)?;
    /// let state = pool.state();
    /// assert_eq!((state.max_size, state.total), (2, 2));
    /// # Ok::<(), nimue::Error>(())
    /// ```
    pub fn resize(&self, min_idle: usize, max_size: usize) -> Result<()> {
        config::check_sizes(min_idle, max_size)?;
        self.shared.resize(min_idle, max_size);
        Ok(())
    }

    /// Wait until `min_idle` connections are open (after [`build_lazy`](PoolBuilder::build_lazy),
    /// or to know the database is reachable): `Ok` once they are, else the last connect error
    /// (or [`Error::Timeout`]) after `timeout`, or [`Error::Closed`].
    ///
    /// ```
    /// use nimue::sqlite::SqliteConnector;
    /// use nimue::Pool;
    /// use std::time::Duration;
    ///
    /// let pool = Pool::builder(SqliteConnector::memory()).min_idle(3).build_lazy()?;
    /// pool.wait_ready(Duration::from_secs(10))?;
    /// assert!(pool.state().idle + pool.state().in_use >= 3);
    /// # Ok::<(), nimue::Error>(())
    /// ```
    pub fn wait_ready(&self, timeout: Duration) -> Result<()> {
        let started = std::time::Instant::now();
        loop {
            {
                let st = self.shared.lock();
                if st.closed {
                    return Err(self.shared.closed_error());
                }
                if st.total - st.opening >= st.min_idle {
                    return Ok(());
                }
                if started.elapsed() >= timeout {
                    return Err(self.shared.timeout_error(&st, started.elapsed(), None));
                }
            }
            // Polled: readiness is rare and not latency-critical; the checker does the work.
            std::thread::sleep(Duration::from_millis(2).min(timeout));
        }
    }

    /// A guard for a connection checked out at `at`.
    fn lend(
        &self,
        live: Box<state::Live<K::Conn>>,
        at: &'static Location<'static>,
    ) -> PooledConnection<K> {
        PooledConnection::new(Arc::clone(&self.shared), live, at)
    }

    /// Whether the pool was closed.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }

    /// The pool's numbers and counters now.
    pub fn state(&self) -> PoolState {
        // Shelved connections are counted as idle, where they are.
        self.shared.drain_lane();
        let mut state = self.shared.lock().snapshot();
        let fast = self.shared.lane.gets();
        state.gets += fast;
        // A get the lane counted may have waited after all (its connection turned away).
        state.direct = state.gets.saturating_sub(state.waits);
        state
    }

    /// The pool's name (in its logs and errors).
    pub fn name(&self) -> &str {
        &self.shared.config.name
    }

    /// The connector the pool opens connections with.
    pub fn connector(&self) -> &K {
        &self.shared.connector.connector
    }
}

/// What needs the DB-API of a pool's connections.
impl<K: Connect> Pool<K> {
    /// Check out a connection, run `f` in a transaction on it
    /// ([`Connection::transaction`]: committed on `Ok`, rolled back on `Err` or a panic), and
    /// give the connection back.
    ///
    /// ```
    /// use nimue::sqlite::SqliteConnector;
    /// use nimue::{Connection, Pool};
    /// let pool = Pool::builder(SqliteConnector::memory()).min_idle(1).max_size(2).build()?;
    /// let changed = pool.transaction(|tx| {
    ///     tx.execute("CREATE TABLE t (n INTEGER)", ())?;
    ///     tx.execute("INSERT INTO t VALUES (1)", ())
    /// })?;
    /// assert_eq!(changed, 1);
    /// # Ok::<(), nimue::Error>(())
    /// ```
    #[track_caller]
    pub fn transaction<T>(
        &self,
        f: impl FnOnce(&mut Transaction<'_, K::Connection>) -> Result<T>,
    ) -> Result<T> {
        self.get()?.transaction(f)
    }
}

impl<K: Open> Clone for Pool<K> {
    fn clone(&self) -> Self {
        // Relaxed suffices: the new handle is made from a live one, as with `Arc::clone`.
        self.shared.handles.fetch_add(1, Ordering::Relaxed);
        Pool {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<K: Open> Drop for Pool<K> {
    fn drop(&mut self) {
        // Release/acquire, as `Arc`'s drop: every other handle's use happens before the close.
        if self.shared.handles.fetch_sub(1, Ordering::Release) == 1 {
            fence(Ordering::Acquire);
            self.shared.close();
        }
    }
}

impl<K: Open> fmt::Debug for Pool<K> {
    /// The pool's name and numbers; never the connector (it may hold credentials).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("Pool")
            .field("name", &self.name())
            .field("total", &state.total)
            .field("idle", &state.idle)
            .field("in_use", &state.in_use)
            .field("waiting", &state.waiting)
            .field("max_size", &state.max_size)
            .finish_non_exhaustive()
    }
}
