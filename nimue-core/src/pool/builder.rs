//! [`PoolBuilder`]: setting a pool's options and hooks, and building the pool.

use super::config::{check_sizes, Config, Reuse};
use super::shared::Shared;
use super::Pool;
use crate::connection::{Liveness, Open};
use crate::error::{Error, Result};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Numbers the default pool names: `nimue-1`, `nimue-2`, ...
static POOLS: AtomicUsize = AtomicUsize::new(1);

/// Configures and builds a [`Pool`]; from [`Pool::builder`].
///
/// ```
/// use nimue::sqlite::SqliteConnector;
/// use nimue::{Connection, Pool, Reuse};
/// use std::time::Duration;
///
/// let pool = Pool::builder(SqliteConnector::memory())
///     .name("orders")
///     .min_idle(2)
///     .max_size(10)
///     .connection_timeout(Duration::from_secs(5))
///     .check_interval(Duration::from_secs(10))
///     .idle_timeout(Some(Duration::from_secs(300)))
///     .max_lifetime(Some(Duration::from_secs(1800)))
///     .test_on_checkout(true)
///     .leak_threshold(Some(Duration::from_secs(60)))
///     .reuse(Reuse::Fifo)
///     .on_connect(|conn| conn.execute("PRAGMA busy_timeout = 5000", ()).map(drop))
///     .build()?;
/// assert_eq!(pool.state().idle, 2);
/// assert_eq!(pool.get()?.query_scalar::<i64>("PRAGMA busy_timeout", ())?, 5000);
/// # Ok::<(), nimue::Error>(())
/// ```
pub struct PoolBuilder<K: Open> {
    connector: K,
    config: Config<K::Conn>,
}

impl<K: Open> fmt::Debug for PoolBuilder<K> {
    /// Shows the settings, never the connector (it may hold credentials).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        f.debug_struct("PoolBuilder")
            .field("name", &c.name)
            .field("min_idle", &c.min_idle)
            .field("max_size", &c.max_size)
            .field("connection_timeout", &c.connection_timeout)
            .field("connect_timeout", &c.connect_timeout)
            .field("max_waiting", &c.max_waiting)
            .field("evict_on_disconnect", &c.evict_on_disconnect)
            .field("liveness", &c.liveness)
            .field("checkout_skip_window", &c.checkout_skip_window)
            .field("check_interval", &c.check_interval)
            .field("idle_timeout", &c.idle_timeout)
            .field("max_lifetime", &c.max_lifetime)
            .field("test_on_checkout", &c.test_on_checkout)
            .field("background_reset", &c.background_reset)
            .field("leak_threshold", &c.leak_threshold)
            .field("reuse", &c.reuse)
            .field("autocommit", &c.autocommit)
            .finish_non_exhaustive()
    }
}

impl<K: Open> PoolBuilder<K> {
    pub(crate) fn new(connector: K) -> Self {
        PoolBuilder {
            connector,
            config: Config {
                name: format!("nimue-{}", POOLS.fetch_add(1, Ordering::Relaxed)),
                min_idle: 1,
                max_size: 10,
                connection_timeout: Duration::from_secs(30),
                connect_timeout: Some(Duration::from_secs(30)),
                max_waiting: None,
                evict_on_disconnect: false,
                liveness: Liveness::Ping,
                checkout_skip_window: None,
                check_interval: Duration::from_secs(30),
                idle_timeout: Some(Duration::from_secs(600)),
                max_lifetime: Some(Duration::from_secs(1800)),
                test_on_checkout: false,
                background_reset: true,
                leak_threshold: None,
                reuse: Reuse::Lifo,
                autocommit: None,
                on_connect: None,
                on_checkout: None,
                on_checkin: None,
                on_event: Vec::new(),
                metrics: false,
            },
        }
    }

    /// The pool's name in logs and errors (default `nimue-N`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.config.name = name.into();
        self
    }

    /// How many idle connections the pool keeps ready (default 1; Python Nimue's `poolmin`):
    /// [`build`](Self::build) opens this many, the checker opens more when fewer are idle
    /// (up to `max_size` in all), and `idle_timeout` never closes one below it.
    pub fn min_idle(mut self, min_idle: usize) -> Self {
        self.config.min_idle = min_idle;
        self
    }

    /// The most connections open at once, idle or in use (default 10; Nimue's `poolmax`).
    /// At most [`MAX_SIZE`](crate::pool::MAX_SIZE): a larger one fails the build with an
    /// `InterfaceError`.
    pub fn max_size(mut self, max_size: usize) -> Self {
        self.config.max_size = max_size;
        self
    }

    /// How long [`Pool::get`] may take before failing with [`Error::Timeout`] (default 30 s):
    /// counted from the call's start, through its own connect attempts and retries, so a
    /// `get` returns within it (plus scheduling slack) whatever the database does. A huge
    /// value means no limit.
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.config.connection_timeout = timeout;
        self
    }

    /// The longest one connection attempt may take, handshake and login included (default
    /// 30 s; separate from [`connection_timeout`](Self::connection_timeout), the wait in
    /// `get`). A server that accepts the connection and then never answers would otherwise
    /// block a driver without an overall timeout forever. The attempt runs on a thread of its
    /// own, which is left to finish when it overruns (see the README's guarantees). A caller
    /// that opens a connection itself in `get` waits for it no longer than its own timeout:
    /// if that ends first, the attempt goes on (still within this bound) and its connection
    /// goes to the next caller or is idle.
    /// `None` connects on the calling thread, bounded only by the driver's own timeouts.
    ///
    /// ```
    /// use nimue::sqlite::SqliteConnector;
    /// use nimue::Pool;
    /// use std::time::Duration;
    ///
    /// let pool = Pool::builder(SqliteConnector::memory())
    ///     .connect_timeout(Some(Duration::from_secs(5)))
    ///     .build()?;
    /// # Ok::<(), nimue::Error>(())
    /// ```
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.connect_timeout = timeout;
        self
    }

    /// The most callers that may wait for a connection at once while the pool holds
    /// `max_size` connections (or cannot connect) (default: no limit). One more gets
    /// [`Error::Exhausted`] at once instead of queueing: under overload, failing fast beats a
    /// queue that only grows. A caller the pool has room to open a connection for is not
    /// refused (it waits for that connection, or a returned one, whichever comes first).
    ///
    /// ```
    /// use nimue::sqlite::SqliteConnector;
    /// use nimue::{ErrorKind, Pool};
    ///
    /// let pool = Pool::builder(SqliteConnector::memory()).max_size(1).max_waiting(Some(0)).build()?;
    /// let held = pool.get()?;
    /// assert_eq!(pool.get().unwrap_err().kind(), ErrorKind::PoolExhausted);
    /// # Ok::<(), nimue::Error>(())
    /// ```
    pub fn max_waiting(mut self, max: Option<usize>) -> Self {
        self.config.max_waiting = max;
        self
    }

    /// How thoroughly the checker and `test_on_checkout` check connections (default
    /// [`Liveness::Ping`], the driver's cheapest round trip; [`Liveness::Flag`] costs no I/O
    /// but trusts the driver's flag; [`Liveness::Query`] runs a real statement). See
    /// [`PoolHooks::check`](crate::PoolHooks::check).
    pub fn liveness(mut self, level: Liveness) -> Self {
        self.config.liveness = level;
        self
    }

    /// With `test_on_checkout`: skip the test for a connection returned less than `window`
    /// ago (default `None`: always test). HikariCP uses 500 ms: a connection that just
    /// worked is very likely still alive, and the round trip is saved on busy pools.
    ///
    /// ```
    /// use nimue_core::{testing::TestConnector, Pool};
    /// use std::time::Duration;
    ///
    /// let connector = TestConnector::new();
    /// let pool = Pool::builder(connector.clone())
    ///     .test_on_checkout(true)
    ///     .checkout_skip_window(Some(Duration::from_secs(60)))
    ///     .build()?;
    /// drop(pool.get()?); // idle since build: tested
    /// drop(pool.get()?); // returned just now: not tested
    /// assert_eq!(connector.stats().pings, 1);
    /// # Ok::<(), nimue_core::Error>(())
    /// ```
    pub fn checkout_skip_window(mut self, window: Option<Duration>) -> Self {
        self.config.checkout_skip_window = window;
        self
    }

    /// When a connection is found dead (broken by its driver, or a failed ping), close every
    /// connection opened before that moment instead of reusing it (default off; SQLAlchemy's
    /// "optimistic" strategy): after a database restart or failover, one failed request, not
    /// one per pooled connection. Idle ones are closed at once, in-use ones when returned; the
    /// checker opens replacements. Counted in [`PoolState::evicted`](crate::PoolState::evicted).
    pub fn evict_on_disconnect(mut self, on: bool) -> Self {
        self.config.evict_on_disconnect = on;
        self
    }

    /// How often the checker pings idle connections, closes expired ones and tops the pool
    /// up (default 30 s). It also bounds the retry delay after failed connects.
    pub fn check_interval(mut self, interval: Duration) -> Self {
        self.config.check_interval = interval;
        self
    }

    /// Close connections idle this long, while more than `min_idle` are idle (default
    /// 10 min; `None`: never). The checker looks once per `check_interval`, so a connection
    /// may stay up to two intervals longer.
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.idle_timeout = timeout;
        self
    }

    /// Close connections this old (default 30 min; `None`: never): idle ones at the
    /// checker's next round, in-use ones when they are returned after the round that found
    /// them expired.
    pub fn max_lifetime(mut self, lifetime: Option<Duration>) -> Self {
        self.config.max_lifetime = lifetime;
        self
    }

    /// Ping every idle connection before handing it out, discarding dead ones (default off:
    /// the checker's pings and [`PoolHooks::is_broken`](crate::PoolHooks::is_broken) are usually enough).
    /// A task's checkout ([`Pool::get_async`](crate::Pool::get_async)) awaits the ping where
    /// the connection offers it as a future ([`PoolHooks::check_future`](crate::PoolHooks::check_future):
    /// native PostgreSQL, bridged connections) instead of blocking the task's thread.
    pub fn test_on_checkout(mut self, on: bool) -> Self {
        self.config.test_on_checkout = on;
        self
    }

    /// Reset a dropped guard's connection on the pool's resetter thread when the reset would
    /// wait on the database (default on; see
    /// [`PoolHooks::reset_waits`](crate::PoolHooks::reset_waits)): the caller goes on at
    /// once, and the connection is lent again only once its reset is done. With MariaDB's
    /// defaults that takes the `ROLLBACK` round trip off the caller's checkouts. It happens
    /// while at least two other connections are idle (a busy pool has no CPU to spare for
    /// the hand-off) and the resetter has fewer than two in hand; otherwise, or with this
    /// off, the thread that drops the guard resets the connection itself.
    /// [`PooledConnection::close`](crate::PooledConnection::close) always resets on the
    /// caller's thread (it reports the reset's error).
    ///
    /// Meanwhile [`PoolState`](crate::PoolState) counts the connection as `pending`;
    /// [`Pool::close`](crate::Pool::close) waits for the resets in flight.
    pub fn background_reset(mut self, on: bool) -> Self {
        self.config.background_reset = on;
        self
    }

    /// Log a warning, naming the source location of the `get()`, for connections held
    /// longer than this (default `None`: off). Costs a clock read and a short extra lock per
    /// `get` and return.
    pub fn leak_threshold(mut self, threshold: Option<Duration>) -> Self {
        self.config.leak_threshold = threshold;
        self
    }

    /// Which idle connection is handed out first (default [`Reuse::Lifo`]).
    pub fn reuse(mut self, reuse: Reuse) -> Self {
        self.config.reuse = reuse;
        self
    }

    /// Turn autocommit on (or off) on every new connection, before `on_connect` runs
    /// (default: leave the driver's default, off as in PEP 249). What a connection's session
    /// is when `on_connect` has finished (autocommit at least) is what every return to the
    /// pool restores, so the setting holds on every checkout, not only the first.
    ///
    /// ```
    /// use nimue::sqlite::SqliteConnector;
    /// use nimue::{Connection, Pool};
    ///
    /// let pool = Pool::builder(SqliteConnector::memory()).autocommit(true).build()?;
    /// let mut conn = pool.get()?;
    /// conn.set_autocommit(false)?; // for this checkout only
    /// drop(conn);
    /// assert!(pool.get()?.autocommit());
    /// # Ok::<(), nimue::Error>(())
    /// ```
    pub fn autocommit(mut self, on: bool) -> Self {
        self.config.autocommit = Some(on);
        self
    }

    /// Run on every new connection before the pool uses it; an error fails the connect.
    /// The session it leaves (autocommit at least) is what [`PoolHooks::reset`](crate::PoolHooks::reset)
    /// plus the pool restore on every return.
    pub fn on_connect(
        mut self,
        hook: impl Fn(&mut K::Conn) -> Result<()> + Send + Sync + 'static,
    ) -> Self {
        self.config.on_connect = Some(Box::new(hook));
        self
    }

    /// Run on every connection as it is handed out; an error discards the connection (the
    /// `get` goes on with another).
    pub fn on_checkout(
        mut self,
        hook: impl Fn(&mut K::Conn) -> Result<()> + Send + Sync + 'static,
    ) -> Self {
        self.config.on_checkout = Some(Box::new(hook));
        self
    }

    /// Run on every returned connection, after [`PoolHooks::reset`](crate::PoolHooks::reset); an error discards it.
    pub fn on_checkin(
        mut self,
        hook: impl Fn(&mut K::Conn) -> Result<()> + Send + Sync + 'static,
    ) -> Self {
        self.config.on_checkin = Some(Box::new(hook));
        self
    }

    /// Call `hook` with every [`PoolEvent`](crate::pool::PoolEvent): checkouts with their
    /// wait, timeouts, refusals, connections opened, failed connects and closed connections
    /// with the reason. It runs on the thread where the event happened, outside the pool's
    /// lock; keep it quick. Several hooks may be set; each gets every event.
    ///
    /// ```
    /// use nimue::sqlite::SqliteConnector;
    /// use nimue::{pool::PoolEvent, Pool};
    ///
    /// let pool = Pool::builder(SqliteConnector::memory())
    ///     .on_event(|event| {
    ///         if let PoolEvent::TimedOut { waited } = event {
    ///             eprintln!("no connection within {waited:?}");
    ///         }
    ///     })
    ///     .build()?;
    /// # Ok::<(), nimue::Error>(())
    /// ```
    pub fn on_event(
        mut self,
        hook: impl Fn(&crate::pool::PoolEvent<'_>) + Send + Sync + 'static,
    ) -> Self {
        self.config.on_event.push(std::sync::Arc::new(hook));
        self
    }

    /// Export the pool's events and numbers through the `metrics` crate (feature `metrics`;
    /// the names and labels are listed in [`pool`](crate::pool)'s docs, "Events and
    /// metrics"), with
    /// whatever recorder the application installed.
    #[cfg(feature = "metrics")]
    pub fn metrics(mut self, on: bool) -> Self {
        self.config.metrics = on;
        self
    }

    /// Build the pool: open `min_idle` connections, then start the checker. A connect failure
    /// is returned as [`Error::Connect`] (and nothing is left open).
    pub fn build(self) -> Result<Pool<K>> {
        let shared = self.start()?;
        let min_idle = shared.config.min_idle;
        for _ in 0..min_idle {
            if let Err(e) = shared.open_idle() {
                shared.close();
                return Err(e);
            }
        }
        Pool::start(shared)
    }

    /// Build the pool without connecting: the checker opens `min_idle` connections in the
    /// background (retrying, with back-off, while connecting fails).
    ///
    /// ```
    /// use nimue_core::{testing::TestConnector, Pool};
    ///
    /// let connector = TestConnector::new();
    /// connector.set_down(true); // the database is not up yet
    /// let pool = Pool::builder(connector.clone()).min_idle(2).build_lazy()?;
    /// assert_eq!(pool.state().idle, 0); // (the checker may be trying: `total` may be 1)
    /// connector.set_down(false);
    /// let conn = pool.get()?; // connects, or takes one the checker opened
    /// # Ok::<(), nimue_core::Error>(())
    /// ```
    pub fn build_lazy(self) -> Result<Pool<K>> {
        Pool::start(self.start()?)
    }

    /// Check the settings and make the pool's shared part (no connection, no thread yet).
    fn start(self) -> Result<Shared<K>> {
        let c = &self.config;
        #[cfg(not(feature = "metrics"))]
        let _ = c.metrics;
        check_sizes(c.min_idle, c.max_size)?;
        if c.check_interval.is_zero() {
            return Err(Error::interface("pool check_interval must not be zero"));
        }
        #[cfg_attr(not(feature = "metrics"), allow(unused_mut))]
        let mut config = self.config;
        #[cfg(feature = "metrics")]
        if config.metrics {
            let hook = super::metrics::hook(&config.name);
            config.on_event.push(hook);
        }
        Ok(Shared::new(self.connector, config))
    }
}
