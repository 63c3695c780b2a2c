//! A fault-injecting test driver (feature `testing`): connections that live in this process,
//! with no database behind them, whose failures a test switches on.
//!
//! [`TestConnector`] opens [`TestConnection`]s and counts them, so a test can check what a
//! pool did: how many connections are alive, the most that ever were, how many were opened,
//! closed, pinged and reset. Its switches make connects fail (always, the next `n`, or at a
//! rate), pings and resets fail at a rate, connects slow, and open connections die ("killed
//! by the server": their next ping or statement fails and they report themselves broken).
//!
//! [`TestConnector::noop`] is the same driver with every fault check and counter but `live`
//! and `opened` left out, for benchmarks of the pool itself.
//!
//! The connections understand a tiny SQL: `SELECT` returns one row (its first parameter, or
//! the integer after `SELECT`, or 1); DML and DDL (`INSERT`, `UPDATE`, `DELETE`, `CREATE`,
//! ...) open a transaction when autocommit is off; `FAIL` fails with a `ProgrammingError`;
//! `BREAK` fails with an `OperationalError` and breaks the connection; anything else succeeds
//! and does nothing.
//!
//! ```
//! use nimue_core::testing::TestConnector;
//! use nimue_core::{Connect, Connection, ErrorKind, PoolHooks};
//!
//! let connector = TestConnector::new();
//! let mut conn = connector.connect()?;
//! conn.execute("INSERT INTO t VALUES (1)", &[])?;
//! assert!(conn.in_transaction());
//! connector.kill_all(); // the server drops every connection
//! assert_eq!(conn.ping().unwrap_err().kind(), ErrorKind::Operational);
//! assert!(conn.is_broken());
//! connector.fail_next_connects(1);
//! assert!(connector.connect().is_err());
//! assert_eq!(connector.stats().live, 1);
//! # Ok::<(), nimue_core::Error>(())
//! ```

use crate::connection::{Connect, Connection, PoolHooks};
use crate::cursor::{BufferedCursor, Execute, ResultSet};
use crate::error::{Error, Result};
use crate::row::{Column, Columns, Row};
use crate::sql::{first_keyword, starts_with_any, DML_KEYWORDS};
use crate::value::{TypeCode, Value};
use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Opens [`TestConnection`]s and injects faults into them; clones share one driver.
#[derive(Clone)]
pub struct TestConnector {
    driver: Arc<Driver>,
    /// Counts the clones of this connector (see [`TestConnector::clones`]).
    clones: Arc<()>,
}

/// What every clone of a connector and every connection share. All counters are `Relaxed`:
/// they are only statistics, read after the threads that changed them were joined or went
/// quiet.
struct Driver {
    /// Whether faults are checked and everything counted (off in the no-op mode).
    faults: bool,
    /// The next connection id; ids only grow.
    next_id: AtomicU64,
    /// `TestConnection` values alive.
    live: AtomicUsize,
    /// The most connections ever alive at once.
    max_live: AtomicUsize,
    /// Connections opened.
    opened: AtomicU64,
    /// `close()` calls.
    closed: AtomicU64,
    /// Connect attempts that failed.
    connect_failures: AtomicU64,
    /// `ping()` calls.
    pings: AtomicU64,
    /// `reset()` calls.
    resets: AtomicU64,
    /// Every connect fails while set.
    down: AtomicBool,
    /// This many more connects fail.
    fail_next: AtomicUsize,
    /// Failure rates in parts per million.
    connect_failure_ppm: AtomicU32,
    /// See `connect_failure_ppm`.
    ping_failure_ppm: AtomicU32,
    /// See `connect_failure_ppm`.
    reset_failure_ppm: AtomicU32,
    /// How long each connect takes, in microseconds.
    connect_delay_us: AtomicU64,
    /// How long each ping takes, in microseconds.
    ping_delay_us: AtomicU64,
    reset_delay_us: AtomicU64,
    /// `is_broken()` panics while set (a driver bug the pool must survive).
    is_broken_panics: AtomicBool,
    /// Connections with a smaller id are dead.
    killed_below: AtomicU64,
    /// Dead connections with a larger id.
    killed: Mutex<HashSet<u64>>,
    /// The state of a splitmix64 generator for the failure rates.
    rng: AtomicU64,
}

/// What a [`TestConnector`] counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TestStats {
    /// Connections alive now (opened and not yet dropped).
    pub live: usize,
    /// The most connections alive at once.
    pub max_live: usize,
    /// Connections opened.
    pub opened: u64,
    /// Connections closed with `close()` (the rest were dropped).
    pub closed: u64,
    /// Connect attempts that failed (not counted in no-op mode).
    pub connect_failures: u64,
    /// Pings (not counted in no-op mode).
    pub pings: u64,
    /// Resets (not counted in no-op mode).
    pub resets: u64,
}

impl TestConnector {
    /// A connector with no fault switched on yet.
    pub fn new() -> Self {
        Self::with_faults(true, 0x5eed)
    }

    /// A fault-checking connector whose failure rates follow from `seed`.
    pub fn with_seed(seed: u64) -> Self {
        Self::with_faults(true, seed)
    }

    /// The no-op mode, for benchmarks: connections do nearly nothing, faults are never
    /// checked (the switches have no effect) and only `live`, `max_live` and `opened` count.
    pub fn noop() -> Self {
        Self::with_faults(false, 0)
    }

    fn with_faults(faults: bool, seed: u64) -> Self {
        TestConnector {
            driver: Arc::new(Driver {
                faults,
                next_id: AtomicU64::new(1),
                live: AtomicUsize::new(0),
                max_live: AtomicUsize::new(0),
                opened: AtomicU64::new(0),
                closed: AtomicU64::new(0),
                connect_failures: AtomicU64::new(0),
                pings: AtomicU64::new(0),
                resets: AtomicU64::new(0),
                down: AtomicBool::new(false),
                fail_next: AtomicUsize::new(0),
                connect_failure_ppm: AtomicU32::new(0),
                ping_failure_ppm: AtomicU32::new(0),
                reset_failure_ppm: AtomicU32::new(0),
                connect_delay_us: AtomicU64::new(0),
                ping_delay_us: AtomicU64::new(0),
                reset_delay_us: AtomicU64::new(0),
                is_broken_panics: AtomicBool::new(false),
                killed_below: AtomicU64::new(0),
                killed: Mutex::new(HashSet::new()),
                rng: AtomicU64::new(seed),
            }),
            clones: Arc::new(()),
        }
    }

    /// While `down`, every connect fails (the database is unreachable).
    pub fn set_down(&self, down: bool) {
        self.driver.down.store(down, Relaxed);
    }

    /// The next `n` connects fail.
    pub fn fail_next_connects(&self, n: usize) {
        self.driver.fail_next.store(n, Relaxed);
    }

    /// Connects fail with this probability (0.0 to 1.0).
    pub fn set_connect_failure_rate(&self, p: f64) {
        self.driver.connect_failure_ppm.store(ppm(p), Relaxed);
    }

    /// Pings fail (and break the connection) with this probability.
    pub fn set_ping_failure_rate(&self, p: f64) {
        self.driver.ping_failure_ppm.store(ppm(p), Relaxed);
    }

    /// Resets fail with this probability.
    pub fn set_reset_failure_rate(&self, p: f64) {
        self.driver.reset_failure_ppm.store(ppm(p), Relaxed);
    }

    /// Every connect takes this long (it sleeps).
    pub fn set_connect_delay(&self, delay: Duration) {
        let micros = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        self.driver.connect_delay_us.store(micros, Relaxed);
    }

    /// Every ping takes this long (it sleeps).
    pub fn set_ping_delay(&self, delay: Duration) {
        let micros = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        self.driver.ping_delay_us.store(micros, Relaxed);
    }

    /// Every reset takes this long (it sleeps, like a `ROLLBACK` round trip), and
    /// `reset_waits()` says so: the pool then resets dropped guards' connections in the
    /// background. Zero (the default): resets are instant and `reset_waits()` is `false`.
    pub fn set_reset_delay(&self, delay: Duration) {
        let micros = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        self.driver.reset_delay_us.store(micros, Relaxed);
    }

    /// While set, `is_broken()` panics on every connection (a driver bug).
    pub fn set_is_broken_panics(&self, on: bool) {
        self.driver.is_broken_panics.store(on, Relaxed);
    }

    /// Kill every connection open now: each fails its next ping or statement and is broken
    /// from then on. Connections opened later are fine.
    pub fn kill_all(&self) {
        let next = self.driver.next_id.load(Relaxed);
        self.driver.killed_below.fetch_max(next, Relaxed);
    }

    /// Kill one connection (by [`TestConnection::id`]).
    pub fn kill(&self, id: u64) {
        self.driver.killed().insert(id);
    }

    /// What was counted so far.
    pub fn stats(&self) -> TestStats {
        let d = &self.driver;
        TestStats {
            live: d.live.load(Relaxed),
            max_live: d.max_live.load(Relaxed),
            opened: d.opened.load(Relaxed),
            closed: d.closed.load(Relaxed),
            connect_failures: d.connect_failures.load(Relaxed),
            pings: d.pings.load(Relaxed),
            resets: d.resets.load(Relaxed),
        }
    }

    /// How many clones of this connector exist (this one included): a pool holds one until
    /// it is gone, checker thread included.
    pub fn clones(&self) -> usize {
        Arc::strong_count(&self.clones)
    }
}

impl Default for TestConnector {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for TestConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestConnector")
            .field("faults", &self.driver.faults)
            .finish_non_exhaustive()
    }
}

fn ppm(p: f64) -> u32 {
    (p.clamp(0.0, 1.0) * 1_000_000.0) as u32
}

impl Driver {
    fn killed(&self) -> std::sync::MutexGuard<'_, HashSet<u64>> {
        self.killed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_killed(&self, id: u64) -> bool {
        id < self.killed_below.load(Relaxed) || self.killed().contains(&id)
    }

    /// True with probability `ppm` per million (splitmix64 over a shared counter).
    fn chance(&self, ppm: &AtomicU32) -> bool {
        let ppm = ppm.load(Relaxed);
        if ppm == 0 {
            return false;
        }
        let mut z = self
            .rng
            .fetch_add(0x9e37_79b9_7f4a_7c15, Relaxed)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        z % 1_000_000 < u64::from(ppm)
    }

    fn connect_fails(&self) -> bool {
        self.down.load(Relaxed)
            || self
                .fail_next
                .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1))
                .is_ok()
            || self.chance(&self.connect_failure_ppm)
    }
}

impl Connect for TestConnector {
    type Connection = TestConnection;

    fn connect(&self) -> Result<TestConnection> {
        let d = &self.driver;
        if d.faults {
            let delay = d.connect_delay_us.load(Relaxed);
            if delay > 0 {
                std::thread::sleep(Duration::from_micros(delay));
            }
            if d.connect_fails() {
                d.connect_failures.fetch_add(1, Relaxed);
                return Err(Error::operational(
                    "connection refused (test driver: connect failure injected)",
                ));
            }
        }
        let id = d.next_id.fetch_add(1, Relaxed);
        d.opened.fetch_add(1, Relaxed);
        let live = d.live.fetch_add(1, Relaxed) + 1;
        d.max_live.fetch_max(live, Relaxed);
        Ok(TestConnection {
            id,
            driver: Arc::clone(d),
            autocommit: false,
            in_tx: false,
            broken: false,
        })
    }
}

/// A connection of the [test driver](self).
pub struct TestConnection {
    id: u64,
    driver: Arc<Driver>,
    autocommit: bool,
    in_tx: bool,
    broken: bool,
}

impl TestConnection {
    /// This connection's id: 1, 2, ... in the order they were opened.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Whether a transaction is open (a write ran with autocommit off).
    pub fn in_transaction(&self) -> bool {
        self.in_tx
    }

    /// Mark the connection broken, as a driver does after a fatal error.
    pub fn set_broken(&mut self) {
        self.broken = true;
    }

    /// Fail (and break) when the connection was killed.
    fn alive(&mut self) -> Result<()> {
        if self.driver.faults && self.driver.is_killed(self.id) {
            self.broken = true;
            return Err(Error::operational(
                "server closed the connection (test driver: killed)",
            ));
        }
        Ok(())
    }
}

impl fmt::Debug for TestConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestConnection")
            .field("id", &self.id)
            .field("in_transaction", &self.in_tx)
            .field("broken", &self.broken)
            .finish()
    }
}

impl Drop for TestConnection {
    fn drop(&mut self) {
        self.driver.live.fetch_sub(1, Relaxed);
    }
}

impl Execute for TestConnection {
    fn run(&mut self, sql: &str, params: &[Value]) -> Result<ResultSet> {
        self.alive()?;
        let keyword = first_keyword(sql);
        if keyword.eq_ignore_ascii_case("SELECT") {
            let value = match params.first() {
                Some(value) => value.clone(),
                None => sql
                    .trim()
                    .get(6..)
                    .and_then(|rest| rest.trim().parse::<i64>().ok())
                    .map_or(Value::Int(1), Value::Int),
            };
            let columns: Columns = vec![Column::new("value", Some(TypeCode::Number))].into();
            let rows = VecDeque::from([Row::new(columns.clone(), vec![value])]);
            return Ok(ResultSet::with_rows(columns, rows));
        }
        if keyword.eq_ignore_ascii_case("FAIL") {
            return Err(Error::programming("FAIL (test driver)"));
        }
        if keyword.eq_ignore_ascii_case("BREAK") {
            self.broken = true;
            return Err(Error::operational("BREAK (test driver): connection broken"));
        }
        let writes = starts_with_any(sql, &DML_KEYWORDS);
        if writes || starts_with_any(sql, &["CREATE", "DROP", "ALTER"]) {
            self.in_tx |= !self.autocommit;
        }
        Ok(ResultSet::no_rows(if writes { 1 } else { -1 }, None))
    }
}

impl Connection for TestConnection {
    type Cursor<'c> = BufferedCursor<'c, TestConnection>;

    fn cursor(&mut self) -> Result<Self::Cursor<'_>> {
        Ok(BufferedCursor::new(self))
    }

    fn commit(&mut self) -> Result<()> {
        if self.in_tx {
            self.alive()?;
        }
        self.in_tx = false;
        Ok(())
    }

    fn rollback(&mut self) -> Result<()> {
        if self.in_tx {
            self.alive()?;
        }
        self.in_tx = false;
        Ok(())
    }

    fn close(self) -> Result<()> {
        self.driver.closed.fetch_add(1, Relaxed);
        Ok(())
    }

    fn autocommit(&self) -> bool {
        self.autocommit
    }

    fn set_autocommit(&mut self, on: bool) -> Result<()> {
        if on && self.in_tx {
            return Err(Error::programming(
                "cannot turn autocommit on inside a transaction",
            ));
        }
        self.autocommit = on;
        Ok(())
    }
}

impl PoolHooks for TestConnection {
    fn backend(&self) -> &'static str {
        "test"
    }

    fn ping(&mut self) -> Result<()> {
        if !self.driver.faults {
            return Ok(());
        }
        self.driver.pings.fetch_add(1, Relaxed);
        let delay = self.driver.ping_delay_us.load(Relaxed);
        if delay > 0 {
            std::thread::sleep(Duration::from_micros(delay));
        }
        self.alive()?;
        if self.driver.chance(&self.driver.ping_failure_ppm) {
            self.broken = true;
            return Err(Error::operational("ping failed (test driver)"));
        }
        Ok(())
    }

    fn is_broken(&self) -> bool {
        if self.driver.is_broken_panics.load(Relaxed) {
            panic!("is_broken panicked (test driver)");
        }
        self.broken
    }

    fn reset_waits(&self) -> bool {
        self.driver.reset_delay_us.load(Relaxed) > 0
    }

    fn reset_is_local(&self) -> bool {
        !self.in_tx && !self.reset_waits()
    }

    fn reset(&mut self) -> Result<()> {
        let d = &self.driver;
        if d.faults {
            let delay = d.reset_delay_us.load(Relaxed);
            if delay > 0 {
                std::thread::sleep(Duration::from_micros(delay));
            }
            d.resets.fetch_add(1, Relaxed);
            if d.chance(&d.reset_failure_ppm) {
                return Err(Error::operational("reset failed (test driver)"));
            }
        }
        self.rollback()?;
        self.autocommit = false;
        Ok(())
    }
}
