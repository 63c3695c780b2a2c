//! Soak test: many threads run random work through one pool on a real database while
//! faults hit it (PostgreSQL backends terminated server-side, panics inside held guards,
//! guards dropped mid-transaction, waits that time out, lock contention). Bounded in time
//! and count. Afterwards the pool's books must balance, no committed transaction may be
//! lost, no half-finished one visible, every error typed, and no connection or thread may
//! outlive the pool.
//!
//! The tests in this binary run one at a time (a lock): the thread census at the end must
//! see only its own pool's threads.

mod common;

use nimue::{Connect, Connection, ErrorKind, Pool, PoolHooks, Row, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// One soak at a time in this binary.
static SERIAL: Mutex<()> = Mutex::new(());

const THREADS: usize = 8;
const MAX_SIZE: usize = 4;
/// Bounds: whichever comes first.
const RUN_FOR: Duration = Duration::from_secs(4);
const MAX_OPS_PER_THREAD: usize = 3_000;

// ---------------------------------------------------------------------------------------
// A connector wrapper counting open connections, so the test sees any that outlive the pool.
// ---------------------------------------------------------------------------------------

#[derive(Clone)]
struct Counted<K> {
    inner: K,
    live: Arc<AtomicUsize>,
}

struct CountedConn<C> {
    inner: C,
    _count: Count,
}

/// One open connection in the count, until dropped.
struct Count(Arc<AtomicUsize>);

impl Drop for Count {
    fn drop(&mut self) {
        // Pairs with the increment in `connect`.
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<K: Connect> Connect for Counted<K> {
    type Connection = CountedConn<K::Connection>;

    fn connect(&self) -> nimue::Result<Self::Connection> {
        let inner = self.inner.connect()?;
        // Counts every connection from here until its `Count` drops.
        self.live.fetch_add(1, Ordering::SeqCst);
        Ok(CountedConn {
            inner,
            _count: Count(Arc::clone(&self.live)),
        })
    }
}

impl<C: Connection> Connection for CountedConn<C> {
    type Cursor<'c>
        = C::Cursor<'c>
    where
        Self: 'c;

    fn cursor(&mut self) -> nimue::Result<Self::Cursor<'_>> {
        self.inner.cursor()
    }
    fn commit(&mut self) -> nimue::Result<()> {
        self.inner.commit()
    }
    fn rollback(&mut self) -> nimue::Result<()> {
        self.inner.rollback()
    }
    fn close(self) -> nimue::Result<()> {
        // Uncounted after the inner connection closed.
        let CountedConn { inner, _count } = self;
        inner.close()
    }
    fn autocommit(&self) -> bool {
        self.inner.autocommit()
    }
    fn set_autocommit(&mut self, on: bool) -> nimue::Result<()> {
        self.inner.set_autocommit(on)
    }
}

impl<C: PoolHooks> PoolHooks for CountedConn<C> {
    fn ping(&mut self) -> nimue::Result<()> {
        self.inner.ping()
    }

    fn is_broken(&self) -> bool {
        self.inner.is_broken()
    }

    fn reset(&mut self) -> nimue::Result<()> {
        self.inner.reset()
    }
}

// ---------------------------------------------------------------------------------------
// The workload.
// ---------------------------------------------------------------------------------------

/// What the workers learned, checked against the table afterwards.
#[derive(Default)]
struct Ledger {
    /// Transactions whose commit succeeded: both rows must be there.
    committed: BTreeSet<i64>,
    /// Transactions abandoned (dropped guard, panic, failed statement): must not be there.
    abandoned: BTreeSet<i64>,
    /// Transactions whose commit failed: either both rows are there or neither (the server
    /// may have committed before the connection died).
    in_doubt: BTreeSet<i64>,
    /// Errors seen, by kind.
    errors: BTreeMap<String, usize>,
    ops: usize,
}

/// Kills one random session (seeded).
type Killer = Box<dyn Fn(&mut u64) + Send + Sync>;
/// Counts the pool's sessions server-side.
type Sessions = Box<dyn Fn() -> i64 + Send + Sync>;

/// The database-specific bits.
struct Db<K> {
    connector: K,
    /// `CREATE TABLE soak (tx <int>, part <int>)` in this dialect.
    create: &'static str,
    /// Kill one random pooled session server-side, from an admin connection; `None`: the
    /// database has no sessions to kill.
    killer: Option<Killer>,
    /// Server-side sessions of the pool, if the database can tell.
    sessions: Option<Sessions>,
    /// Error kinds a fault may legitimately cause here.
    expected: &'static [ErrorKind],
}

/// A small, fast, seedable generator (xorshift64*): random enough to mix the workload.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

fn soak<K: Connect + Clone>(db: Db<K>) {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let live = Arc::new(AtomicUsize::new(0));
    let connector = Counted {
        inner: db.connector.clone(),
        live: Arc::clone(&live),
    };
    {
        let mut conn = db.connector.connect().unwrap();
        let _ = conn.execute("DROP TABLE soak", &[]);
        conn.commit().unwrap();
        conn.execute(db.create, &[]).unwrap();
        conn.commit().unwrap();
    }
    let pool = Pool::builder(connector)
        .name("soak")
        .min_idle(2)
        .max_size(MAX_SIZE)
        .connection_timeout(Duration::from_millis(300))
        .check_interval(Duration::from_millis(50))
        .test_on_checkout(true)
        .build()
        .unwrap();

    // Quiet the panic hook for the deliberate panics (they are counted, not printed).
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|info| {
        let deliberate = info
            .payload()
            .downcast_ref::<&str>()
            .is_some_and(|m| m.starts_with("soak:"));
        if !deliberate {
            eprintln!("{info}");
        }
    }));

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let next_tx = Arc::new(AtomicI64::new(1));
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + RUN_FOR;
    let killer = db.killer.map(Arc::new);
    let kills = killer.clone().map(|kill| {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let mut seed = 0x9E37_79B9_7F4A_7C15;
            let mut kills = 0;
            // Kill a session every few milliseconds while the workers run.
            while !stop.load(Ordering::SeqCst) {
                kill(&mut seed);
                kills += 1;
                thread::sleep(Duration::from_millis(15));
            }
            kills
        })
    });
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let pool = pool.clone();
            let ledger = Arc::clone(&ledger);
            let next_tx = Arc::clone(&next_tx);
            let expected = db.expected;
            thread::spawn(move || {
                let mut seed = 0x1234_5678 + t as u64 * 7919;
                let mut mine = Ledger::default();
                for _ in 0..MAX_OPS_PER_THREAD {
                    if Instant::now() >= deadline {
                        break;
                    }
                    mine.ops += 1;
                    let tx = next_tx.fetch_add(1, Ordering::SeqCst);
                    if let Err(e) = one_op(&pool, next(&mut seed) % 10, tx, &mut mine) {
                        let ok = expected.contains(&e.kind())
                            || matches!(e.kind(), ErrorKind::PoolTimeout);
                        assert!(ok, "unexpected error kind {:?}: {e}", e.kind());
                        *mine.errors.entry(format!("{:?}", e.kind())).or_default() += 1;
                    }
                }
                let mut all = ledger.lock().unwrap();
                all.committed.extend(mine.committed);
                all.abandoned.extend(mine.abandoned);
                all.in_doubt.extend(mine.in_doubt);
                all.ops += mine.ops;
                for (k, n) in mine.errors {
                    *all.errors.entry(k).or_default() += n;
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("a worker failed an assertion");
    }
    stop.store(true, Ordering::SeqCst);
    let kills = kills.map(|k| k.join().unwrap()).unwrap_or(0);
    panic::set_hook(hook);

    // The books balance: nothing in use, nothing above max, every counted connection open.
    let state = pool.state();
    assert_eq!(state.in_use, 0, "{state:?}");
    assert_eq!(
        state.total,
        state.idle + state.in_use + state.pending,
        "{state:?}"
    );
    assert!(state.total <= MAX_SIZE, "{state:?}");
    assert!(live.load(Ordering::SeqCst) <= MAX_SIZE, "{state:?}");

    // The data: every committed transaction whole, nothing abandoned, nothing half-done.
    let ledger = ledger.lock().unwrap();
    let mut conn = pool.get().unwrap();
    let rows = conn
        .query("SELECT tx, COUNT(*) FROM soak GROUP BY tx", &[])
        .unwrap();
    let found: BTreeMap<i64, i64> = rows.iter().map(|r: &Row| pair(r)).collect();
    for (tx, n) in &found {
        assert_eq!(*n, 2, "transaction {tx} is half there");
        assert!(!ledger.abandoned.contains(tx), "abandoned {tx} is visible");
        assert!(
            ledger.committed.contains(tx) || ledger.in_doubt.contains(tx),
            "{tx} was never committed"
        );
    }
    for tx in &ledger.committed {
        assert!(found.contains_key(tx), "committed transaction {tx} lost");
    }
    drop(conn);
    eprintln!(
        "soak: {} ops, {} committed, {} abandoned, {} in doubt, {kills} kills, errors {:?}, {state:?}",
        ledger.ops,
        ledger.committed.len(),
        ledger.abandoned.len(),
        ledger.in_doubt.len(),
        ledger.errors
    );
    assert!(ledger.committed.len() > 10, "the soak did real work");
    assert!(!ledger.abandoned.is_empty());

    // Server-side, the pool holds exactly what it counts.
    if let Some(sessions) = &db.sessions {
        common::eventually("the server sees the pool's sessions only", || {
            sessions() == pool.state().total as i64
        });
    }

    // Nothing outlives the pool: connections closed, the checker thread gone.
    pool.close();
    drop(pool);
    assert_eq!(
        live.load(Ordering::SeqCst),
        0,
        "a connection outlived the pool"
    );
    assert_eq!(checker_threads(), 0, "a checker thread outlived the pool");
    if let Some(sessions) = &db.sessions {
        common::eventually("the server sees no session of the pool", || sessions() == 0);
    }
}

fn pair(row: &Row) -> (i64, i64) {
    (row.get(0).unwrap(), row.get(1).unwrap())
}

/// One random operation; an `Err` is a fault's typed error (checked by the caller).
fn one_op<K: Connect>(
    pool: &Pool<K>,
    choice: u64,
    tx: i64,
    ledger: &mut Ledger,
) -> nimue::Result<()> {
    let insert = "INSERT INTO soak (tx, part) VALUES (?, ?)";
    match choice {
        // A whole transaction.
        0..=4 => {
            let mut conn = pool.get()?;
            let work = (|| {
                conn.execute(insert, &[Value::Int(tx), Value::Int(1)])?;
                conn.execute(insert, &[Value::Int(tx), Value::Int(2)])
            })();
            if let Err(e) = work {
                ledger.abandoned.insert(tx);
                return Err(e);
            }
            match conn.commit() {
                Ok(()) => ledger.committed.insert(tx),
                Err(e) => {
                    ledger.in_doubt.insert(tx);
                    return Err(e);
                }
            };
        }
        // Half a transaction, then the guard is dropped: rolled back on return.
        5 => {
            ledger.abandoned.insert(tx);
            let mut conn = pool.get()?;
            conn.execute(insert, &[Value::Int(tx), Value::Int(1)])?;
        }
        // Half a transaction, then a panic while the guard is held.
        6 => {
            ledger.abandoned.insert(tx);
            let mut conn = pool.get()?;
            conn.execute(insert, &[Value::Int(tx), Value::Int(1)])?;
            let crashed = panic::catch_unwind(AssertUnwindSafe(move || {
                let _held = conn;
                panic!("soak: deliberate panic while holding a connection");
            }));
            assert!(crashed.is_err());
        }
        // A wait that gives up early.
        7 => {
            let held = pool.get_timeout(Duration::from_millis(1))?;
            drop(held);
        }
        // A reader: no transaction is ever seen half done.
        _ => {
            let mut conn = pool.get()?;
            let half = conn.query(
                "SELECT tx, COUNT(*) FROM soak GROUP BY tx HAVING COUNT(*) <> 2",
                &[],
            )?;
            assert!(half.is_empty(), "a half-finished transaction is visible");
        }
    }
    Ok(())
}

/// Threads of this process named like the pool's checker.
fn checker_threads() -> usize {
    let tasks = std::fs::read_dir("/proc/self/task").expect("Linux /proc");
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.starts_with("nimue-checker"))
        .count()
}

// ---------------------------------------------------------------------------------------
// The databases.
// ---------------------------------------------------------------------------------------

#[cfg(feature = "sqlite")]
#[test]
fn soak_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    soak(Db {
        // Writers contend for SQLite's one write lock: a short busy timeout turns some of
        // that into OperationalErrors ("database is locked"), one more fault.
        connector: nimue::sqlite::SqliteConnector::new(dir.path().join("soak.db"))
            .busy_timeout(Duration::from_millis(20)),
        create: "CREATE TABLE soak (tx INTEGER NOT NULL, part INTEGER NOT NULL)",
        killer: None,
        sessions: None,
        expected: &[ErrorKind::Operational],
    });
}

#[cfg(feature = "postgres")]
#[test]
fn soak_postgres() {
    let Some(url) = common::server_env("NIMUE_TEST_POSTGRES_URL") else {
        return;
    };
    let mut connector = nimue::postgres::PgConnector::from_url(&url).unwrap();
    connector.config_mut().application_name("nimue-soak");
    let admin = Arc::new(Mutex::new({
        let mut admin = nimue::postgres::PgConnector::from_url(&url)
            .unwrap()
            .connect()
            .unwrap();
        admin.set_autocommit(true).unwrap();
        admin
    }));
    let count_admin = Arc::clone(&admin);
    soak(Db {
        connector,
        create: "CREATE TABLE soak (tx BIGINT NOT NULL, part INT NOT NULL)",
        killer: Some(pg_killer(Arc::clone(&admin), "nimue-soak")),
        sessions: Some(Box::new(move || {
            let mut admin = count_admin.lock().unwrap();
            let row = admin
                .query_row(
                    "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = 'nimue-soak'",
                    &[],
                )
                .unwrap();
            row.unwrap().get(0).unwrap()
        })),
        expected: &[ErrorKind::Operational],
    });
}

/// Terminates a random server backend of the sessions named `application` (PostgreSQL).
#[cfg(feature = "postgres")]
fn pg_killer(
    admin: Arc<Mutex<nimue::postgres::PgConnection>>,
    application: &'static str,
) -> Killer {
    Box::new(move |seed| {
        let mut admin = admin.lock().unwrap();
        let pids = admin
            .query(
                "SELECT pid FROM pg_stat_activity WHERE application_name = ?",
                &[Value::from(application)],
            )
            .unwrap();
        if !pids.is_empty() {
            let victim: i32 = pids[next(seed) as usize % pids.len()].get(0).unwrap();
            admin
                .query(
                    "SELECT pg_terminate_backend(?)",
                    &[Value::Int(victim.into())],
                )
                .unwrap();
        }
    })
}

/// The soak through PgBouncer in transaction pooling mode (`statements=unnamed`): the pool's
/// connections share PgBouncer's server connections transaction by transaction, and server
/// backends are terminated behind PgBouncer's back. (PgBouncer keeps its server connections
/// after the pool closes: no session census.)
#[cfg(feature = "postgres")]
#[test]
fn soak_pgbouncer() {
    let Some(url) = common::server_env("NIMUE_TEST_PGBOUNCER_URL") else {
        return;
    };
    let Some(direct) = common::server_env("NIMUE_TEST_POSTGRES_URL") else {
        return;
    };
    let mut connector =
        nimue::postgres::PgConnector::from_url(&format!("{url}?statements=unnamed")).unwrap();
    connector.config_mut().application_name("nimue-soak-pgb");
    let admin = Arc::new(Mutex::new({
        let mut admin = nimue::postgres::PgConnector::from_url(&direct)
            .unwrap()
            .connect()
            .unwrap();
        admin.set_autocommit(true).unwrap();
        admin
    }));
    soak(Db {
        connector,
        create: "CREATE TABLE soak (tx BIGINT NOT NULL, part INT NOT NULL)",
        killer: Some(pg_killer(admin, "nimue-soak-pgb")),
        sessions: None,
        expected: &[ErrorKind::Operational],
    });
}

/// Close while threads wait and connections are out: the waiters get `Closed`, the lent
/// connections work on until returned and are closed then, the checker is joined, and no
/// connection or thread outlives the pool.
fn shutdown<K: Connect + Clone>(connector: K, sessions: Option<Sessions>) {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let live = Arc::new(AtomicUsize::new(0));
    let pool = Pool::builder(Counted {
        inner: connector,
        live: Arc::clone(&live),
    })
    .name("shutdown")
    .min_idle(1)
    .max_size(2)
    .connection_timeout(Duration::from_secs(60))
    .build()
    .unwrap();
    let mut lent: Vec<_> = (0..2).map(|_| pool.get().unwrap()).collect();
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let pool = pool.clone();
            thread::spawn(move || pool.get().map(drop))
        })
        .collect();
    common::eventually("three waiters queue", || pool.state().waiting == 3);
    let started_threads = checker_threads();
    assert_eq!(started_threads, 1);

    pool.close();
    for w in waiters {
        let err = w.join().unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PoolClosed, "{err}");
    }
    assert!(pool.get().is_err(), "no new connection from a closed pool");
    // Lent connections still work until their users are done with them.
    for conn in &mut lent {
        assert!(conn.query_row("SELECT 1", &[]).unwrap().is_some());
    }
    assert_eq!(live.load(Ordering::SeqCst), 2);
    assert_eq!(checker_threads(), 0, "the checker was joined by close()");
    drop(lent);
    assert_eq!(
        live.load(Ordering::SeqCst),
        0,
        "returned connections are closed"
    );
    let state = pool.state();
    assert_eq!(
        (state.total, state.idle, state.in_use),
        (0, 0, 0),
        "{state:?}"
    );
    drop(pool);
    if let Some(sessions) = sessions {
        common::eventually("the server sees no session of the pool", || sessions() == 0);
    }
}

#[cfg(feature = "sqlite")]
#[test]
fn shutdown_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    shutdown(
        nimue::sqlite::SqliteConnector::new(dir.path().join("shutdown.db")),
        None,
    );
}

#[cfg(feature = "postgres")]
#[test]
fn shutdown_postgres() {
    let Some(url) = common::server_env("NIMUE_TEST_POSTGRES_URL") else {
        return;
    };
    let mut connector = nimue::postgres::PgConnector::from_url(&url).unwrap();
    connector.config_mut().application_name("nimue-shutdown");
    let mut admin = nimue::postgres::PgConnector::from_url(&url)
        .unwrap()
        .connect()
        .unwrap();
    admin.set_autocommit(true).unwrap();
    let admin = Mutex::new(admin);
    shutdown(
        connector,
        Some(Box::new(move || {
            let row = admin
                .lock()
                .unwrap()
                .query_row(
                    "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = 'nimue-shutdown'",
                    &[],
                )
                .unwrap();
            row.unwrap().get(0).unwrap()
        })),
    );
}
