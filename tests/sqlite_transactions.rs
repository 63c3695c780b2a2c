//! SQLite's transactions as PEP 249 has them with autocommit off: every statement inside the
//! transaction (a read and the write after it see one snapshot), the remedies SQLite users
//! reach for (`BEGIN IMMEDIATE`) accepted, and an in-memory database a pool can share.

#![cfg(feature = "sqlite")]

use nimue::sqlite::SqliteConnector;
use nimue::PoolHooks;
use nimue::{params, Connect, Connection, Pool};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

fn counter_pool(connector: SqliteConnector) -> Pool<SqliteConnector> {
    let pool = Pool::builder(connector).max_size(2).build().unwrap();
    let mut c = pool.get().unwrap();
    c.execute("CREATE TABLE counter (n INTEGER NOT NULL)", &[])
        .unwrap();
    c.execute("INSERT INTO counter VALUES (0)", &[]).unwrap();
    c.commit().unwrap();
    drop(c);
    pool
}

fn count(pool: &Pool<SqliteConnector>) -> i64 {
    pool.get()
        .unwrap()
        .query_row("SELECT n FROM counter", &[])
        .unwrap()
        .unwrap()
        .get(0)
        .unwrap()
}

/// Read n, then write n + 1, in `pool.transaction`.
fn increment(pool: &Pool<SqliteConnector>, between: impl FnOnce()) -> nimue::Result<()> {
    pool.transaction(|tx| {
        let n: i64 = tx
            .query_row("SELECT n FROM counter", &[])?
            .expect("one row")
            .get(0)?;
        between();
        tx.execute("UPDATE counter SET n = ?", &params![n + 1])?;
        Ok(())
    })
}

#[test]
fn a_read_modify_write_in_a_transaction_loses_no_update() {
    let dir = tempfile::tempdir().unwrap();
    let pool = counter_pool(SqliteConnector::new(dir.path().join("rmw.db")));
    // Both read before either writes.
    let both_read = Arc::new(Barrier::new(2));
    let committed = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (pool, both_read, committed) = (pool.clone(), both_read.clone(), committed.clone());
            thread::spawn(move || {
                let outcome = increment(&pool, || {
                    both_read.wait();
                });
                if outcome.is_ok() {
                    committed.fetch_add(1, Ordering::SeqCst);
                }
                outcome
            })
        })
        .collect();
    let outcomes: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let committed = committed.load(Ordering::SeqCst) as i64;
    assert_eq!(
        count(&pool),
        committed,
        "every committed increment counts ({outcomes:?})"
    );
    assert!(committed >= 1, "{outcomes:?}");
    // The loser is told, with an error it can retry on.
    for e in outcomes.into_iter().filter_map(Result::err) {
        assert_eq!(e.kind(), nimue::ErrorKind::Operational, "{e}");
    }
}

#[test]
fn begin_immediate_serialises_writers_that_read_first() {
    let dir = tempfile::tempdir().unwrap();
    let connector = SqliteConnector::new(dir.path().join("immediate.db")).begin_immediate(true);
    let pool = counter_pool(connector);
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let pool = pool.clone();
            thread::spawn(move || {
                for _ in 0..5 {
                    increment(&pool, || thread::sleep(Duration::from_millis(2))).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(count(&pool), 10);
}

#[test]
fn begin_immediate_and_exclusive_in_sql_are_accepted_with_autocommit_off() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = SqliteConnector::new(dir.path().join("begin.db"))
        .connect()
        .unwrap();
    assert!(!conn.autocommit());
    conn.execute("CREATE TABLE t (n INTEGER)", &[]).unwrap();
    conn.commit().unwrap();
    for begin in [
        "BEGIN IMMEDIATE",
        "BEGIN EXCLUSIVE",
        "BEGIN DEFERRED",
        "BEGIN",
    ] {
        conn.execute(begin, &[])
            .unwrap_or_else(|e| panic!("{begin}: {e}"));
        conn.execute("INSERT INTO t VALUES (1)", &[]).unwrap();
        assert!(conn.holds_uncommitted_writes(), "{begin}");
        conn.execute("COMMIT", &[]).unwrap();
        assert!(!conn.holds_uncommitted_writes(), "{begin}");
    }
    let n: i64 = conn
        .query_row("SELECT count(*) FROM t", &[])
        .unwrap()
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(n, 4);
}

#[test]
fn a_read_only_transaction_is_not_a_dirty_return() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = SqliteConnector::new(dir.path().join("reads.db"))
        .connect()
        .unwrap();
    conn.execute("CREATE TABLE t (n INTEGER)", &[]).unwrap();
    conn.commit().unwrap();
    conn.execute("SELECT count(*) FROM t", &[]).unwrap();
    assert!(!conn.holds_uncommitted_writes());
    conn.execute("WITH w AS (SELECT 1) INSERT INTO t SELECT * FROM w", &[])
        .unwrap();
    assert!(conn.holds_uncommitted_writes());
}

#[test]
fn a_pool_on_memory_shares_one_database() {
    let pool = Pool::builder(SqliteConnector::memory())
        .max_size(2)
        .min_idle(0)
        .build()
        .unwrap();
    let mut one = pool.get().unwrap();
    one.execute("CREATE TABLE shared (n INTEGER)", &[]).unwrap();
    one.execute("INSERT INTO shared VALUES (7)", &[]).unwrap();
    one.commit().unwrap();
    // A second connection while the first is held.
    let mut two = pool.get().unwrap();
    let n: i64 = two
        .query_row("SELECT n FROM shared", &[])
        .unwrap()
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(n, 7);
    drop((one, two));
    // Every pooled connection gone: the database stays while the connector lives.
    pool.drain();
    let n: i64 = pool
        .get()
        .unwrap()
        .query_row("SELECT count(*) FROM shared", &[])
        .unwrap()
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(n, 1);
    // Another connector is another database.
    let mut other = SqliteConnector::memory().connect().unwrap();
    assert!(other.execute("SELECT n FROM shared", &[]).is_err());
}
