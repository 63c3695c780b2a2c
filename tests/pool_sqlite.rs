//! The pool on real SQLite databases (temporary files).
#![cfg(feature = "sqlite")]

use nimue::sqlite::SqliteConnector;
use nimue::PoolHooks;
use nimue::{params, Connection, Error, ErrorKind, Pool, PoolBuilder};
use std::thread;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// A pool on a fresh database file with one table, `t (n INTEGER)`.
fn pool(min_idle: usize, max_size: usize) -> (TempDir, PoolBuilder<SqliteConnector>) {
    let dir = tempfile::tempdir().unwrap();
    let connector = SqliteConnector::new(dir.path().join("pool.db"));
    let builder = Pool::builder(connector)
        .min_idle(min_idle)
        .max_size(max_size)
        .check_interval(Duration::from_millis(50))
        .connection_timeout(Duration::from_secs(20));
    (dir, builder)
}

fn count(conn: &mut impl Connection) -> i64 {
    let row = conn.query_row("SELECT COUNT(*) FROM t", &[]).unwrap();
    row.unwrap().get(0).unwrap()
}

fn create_table(pool: &Pool<SqliteConnector>) {
    let mut conn = pool.get().unwrap();
    conn.execute("CREATE TABLE t (n INTEGER)", &[]).unwrap();
    conn.commit().unwrap();
}

#[test]
fn min_idle_and_max_size_are_honoured() {
    let (_dir, builder) = pool(2, 3);
    let pool = builder.name("sqlite-sizes").build().unwrap();
    assert_eq!(pool.state().idle, 2);
    let held: Vec<_> = (0..3).map(|_| pool.get().unwrap()).collect();
    assert!(pool.try_get().unwrap().is_none());
    let err = pool.get_timeout(Duration::from_millis(30)).unwrap_err();
    let Error::Timeout(t) = &err else {
        panic!("expected a timeout, got {err:?}")
    };
    assert_eq!(
        (t.pool.as_str(), t.size, t.in_use, t.idle),
        ("sqlite-sizes", 3, 3, 0)
    );
    drop(held);
    assert_eq!(pool.state().idle, 3);
}

#[test]
fn a_returned_connection_is_rolled_back() {
    let (_dir, builder) = pool(1, 1);
    let pool = builder.build().unwrap();
    create_table(&pool);
    {
        let mut conn = pool.get().unwrap();
        conn.execute("INSERT INTO t VALUES (?)", &params![1])
            .unwrap();
        assert_eq!(count(&mut *conn), 1, "visible inside its transaction");
    } // returned without commit
    let mut conn = pool.get().unwrap(); // the same connection (max_size 1)
    assert_eq!(count(&mut *conn), 0, "the row is gone");
    // And the write lock went with the transaction: this write does not wait.
    conn.execute("INSERT INTO t VALUES (?)", &params![2])
        .unwrap();
    conn.commit().unwrap();
    assert_eq!(count(&mut *conn), 1);
}

#[test]
fn a_panic_mid_transaction_discards_the_connection_and_its_work() {
    let (_dir, builder) = pool(0, 1);
    let pool = builder.build().unwrap();
    create_table(&pool);
    let pool2 = pool.clone();
    let crashed = thread::spawn(move || {
        let mut conn = pool2.get().unwrap();
        conn.execute("INSERT INTO t VALUES (1)", &[]).unwrap();
        panic!("crash while holding a transaction");
    })
    .join();
    assert!(crashed.is_err());
    let state = pool.state();
    assert_eq!((state.total, state.broken), (0, 1), "its slot is free");
    let mut conn = pool.get_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(count(&mut *conn), 0);
}

#[test]
fn committed_work_is_shared_by_threads_through_the_pool() {
    let (_dir, builder) = pool(1, 3);
    let pool = builder.test_on_checkout(true).build().unwrap();
    create_table(&pool);
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let pool = pool.clone();
            thread::spawn(move || {
                for i in 0..25 {
                    let mut conn = pool.get().unwrap();
                    conn.execute("INSERT INTO t VALUES (?)", &params![w * 100 + i])
                        .unwrap();
                    conn.commit().unwrap();
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    assert_eq!(count(&mut *pool.get().unwrap()), 100);
    let state = pool.state();
    assert!(state.total <= 3, "{state:?}");
    assert_eq!(state.total, state.idle + state.in_use + state.pending);
}

#[test]
fn hooks_run_on_real_connections() {
    let (_dir, builder) = pool(1, 2);
    let pool = builder
        .on_connect(|conn| conn.execute("PRAGMA busy_timeout = 1234", &[]).map(drop))
        .on_checkin(|conn| conn.ping())
        .build()
        .unwrap();
    let mut conn = pool.get().unwrap();
    let row = conn.query_row("PRAGMA busy_timeout", &[]).unwrap().unwrap();
    assert_eq!(row.get::<i64>(0).unwrap(), 1234);
    conn.close().unwrap();
}

#[test]
fn close_closes_idle_connections_and_refuses_gets() {
    let (_dir, builder) = pool(2, 2);
    let pool = builder.build().unwrap();
    let lent = pool.get().unwrap();
    drop(pool.get().unwrap()); // the other one, back to idle
    assert_eq!(pool.state().idle, 1);
    pool.close();
    assert_eq!(pool.get().unwrap_err().kind(), ErrorKind::PoolClosed);
    assert_eq!(pool.state().total, 1, "only the lent connection is left");
    drop(lent);
    assert_eq!(pool.state().total, 0);
}

#[test]
fn close_wakes_a_waiting_get() {
    let (_dir, builder) = pool(1, 1);
    let pool = builder.build().unwrap();
    let lent = pool.get().unwrap();
    let pool2 = pool.clone();
    let waiter = thread::spawn(move || pool2.get_timeout(Duration::from_secs(20)).map(drop));
    let deadline = Instant::now() + Duration::from_secs(20);
    while pool.state().waiting == 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    pool.close();
    assert_eq!(
        waiter.join().unwrap().unwrap_err().kind(),
        ErrorKind::PoolClosed
    );
    drop(lent);
    assert_eq!(pool.state().total, 0);
}

#[test]
fn an_unopenable_database_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir").join("x.db");
    let err = Pool::builder(SqliteConnector::new(&missing))
        .min_idle(1)
        .max_size(2)
        .build()
        .unwrap_err();
    let Error::Connect { cause, .. } = &err else {
        panic!("expected a connect error, got {err:?}")
    };
    assert!(cause.kind().is_database(), "{cause}");
    assert_eq!(err.kind(), cause.kind());

    let pool = Pool::builder(SqliteConnector::new(&missing))
        .min_idle(0)
        .build_lazy()
        .unwrap();
    let err = pool.get_timeout(Duration::from_millis(100)).unwrap_err();
    let Error::Connect {
        timeout: Some(_), ..
    } = &err
    else {
        panic!("expected the connect error, got {err:?}")
    };
    assert!(err.to_string().contains("unable to open"), "{err}");
}

#[test]
fn autocommit_set_up_by_the_pool_holds_on_every_checkout() {
    let (_dir, builder) = pool(1, 1);
    let pool = builder
        .on_connect(|conn| conn.set_autocommit(true))
        .build()
        .unwrap();
    create_table(&pool);
    for n in 0..3 {
        let mut conn = pool.get().unwrap();
        assert!(conn.autocommit(), "checkout {n}");
        conn.execute("INSERT INTO t VALUES (?)", &params![n])
            .unwrap();
        // Dropped without commit: with autocommit on, nothing to roll back.
    }
    assert_eq!(count(&mut *pool.get().unwrap()), 3);
}

/// `sqlite:` URL parameters (`mode`, `cache`), as sqlx users write them.
#[test]
fn sqlite_url_parameters_are_applied() {
    use nimue::{Connect, Connection, ErrorKind};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let url = format!("sqlite:{}", path.display());
    let mut writer = nimue::any::connector(&url).unwrap().connect().unwrap();
    writer.execute("CREATE TABLE t (x INTEGER)", &[]).unwrap();
    writer.commit().unwrap();
    // Read-only: reads work, writes are refused; no stray file named after the parameters.
    let mut reader = nimue::any::connector(&format!("{url}?mode=ro"))
        .unwrap()
        .connect()
        .unwrap();
    assert_eq!(reader.query("SELECT x FROM t", &[]).unwrap().len(), 0);
    let err = reader.execute("INSERT INTO t VALUES (1)", &[]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Operational, "{err}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "only app.db"
    );
    // A named in-memory database shared by two connections.
    let shared = nimue::any::connector("sqlite:nimue-shared?mode=memory&cache=shared").unwrap();
    let (mut a, mut b) = (shared.connect().unwrap(), shared.connect().unwrap());
    a.execute("CREATE TABLE s (x INTEGER)", &[]).unwrap();
    a.execute("INSERT INTO s VALUES (7)", &[]).unwrap();
    a.commit().unwrap();
    let row = b.query_row("SELECT x FROM s", &[]).unwrap().unwrap();
    assert_eq!(row.get::<i64>(0).unwrap(), 7);
    // A parameter SQLite would ignore is refused instead.
    let err = nimue::any::connector(&format!("{url}?mdoe=ro")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Interface, "{err}");
}
