//! A connection given back with uncommitted writes: the pool rolls them back and says so at
//! warn level, naming where it was checked out (HikariCP's "dirty" connections).

mod common;

use nimue::pool::PoolEvent;
use nimue::{Connect, Connection, Pool, PoolBuilder};
use std::sync::{Arc, Mutex, Once};

static WARNINGS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::Level::Warn
    }
    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            WARNINGS.lock().unwrap().push(record.args().to_string());
        }
    }
    fn flush(&self) {}
}

fn capture() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        log::set_logger(&Capture).unwrap();
        log::set_max_level(log::LevelFilter::Warn);
    });
}

/// The warnings about pool `name`'s dirty returns.
fn dirty_warnings(name: &str) -> Vec<String> {
    WARNINGS
        .lock()
        .unwrap()
        .iter()
        .filter(|w| w.contains(&format!("{name:?}")) && w.contains("uncommitted writes"))
        .cloned()
        .collect()
}

/// Where the `DirtyReturn` events of a pool said its dirty checkouts were made.
type Seen = Arc<Mutex<Vec<String>>>;

/// `builder` with an `on_event` hook that keeps the `DirtyReturn` events' places.
fn seeing_dirty_returns<K: Connect>(builder: PoolBuilder<K>) -> (PoolBuilder<K>, Seen) {
    let seen = Seen::default();
    let keep = Arc::clone(&seen);
    let builder = builder.on_event(move |event| {
        if let PoolEvent::DirtyReturn { checked_out_at } = event {
            let at = checked_out_at.map_or("unknown".into(), |at| at.to_string());
            keep.lock().unwrap().push(at);
        }
    });
    (builder, seen)
}

/// Check out, write, forget to commit: one warning, one `DirtyReturn` event and one count in
/// `state().dirty_returns`, each naming this file; committed work and a checkout that only
/// read: none.
fn warns_about_dirty_returns<K: Connect>(connector: K, name: &str, create: &str) {
    capture();
    let (builder, seen) = seeing_dirty_returns(Pool::builder(connector).name(name).max_size(1));
    let pool = builder.build().unwrap();
    {
        let mut conn = pool.get().unwrap();
        conn.execute("DROP TABLE IF EXISTS nimue_dirty", &[])
            .unwrap();
        conn.execute(create, &[]).unwrap();
        conn.commit().unwrap();
    }
    {
        let mut conn = pool.get().unwrap();
        conn.execute("SELECT 1", &[]).unwrap();
    }
    {
        let mut conn = pool.get().unwrap();
        conn.execute("INSERT INTO nimue_dirty VALUES (1)", &[])
            .unwrap();
        conn.commit().unwrap();
    }
    {
        // Committed in SQL: nothing uncommitted either.
        let mut conn = pool.get().unwrap();
        conn.execute("INSERT INTO nimue_dirty VALUES (1)", &[])
            .unwrap();
        conn.execute("COMMIT", &[]).unwrap();
    }
    assert_eq!(dirty_warnings(name), Vec::<String>::new(), "{name}");
    assert_eq!(pool.state().dirty_returns, 0, "{name}");
    assert!(seen.lock().unwrap().is_empty(), "{name}");
    let line = line!() + 2;
    {
        let mut conn = pool.get().unwrap();
        conn.execute("INSERT INTO nimue_dirty VALUES (2)", &[])
            .unwrap();
    }
    let warnings = dirty_warnings(name);
    assert_eq!(warnings.len(), 1, "{name}: {warnings:?}");
    assert!(
        warnings[0].contains(&format!("tests/dirty.rs:{line}")),
        "{name}: {warnings:?}"
    );
    assert_eq!(pool.state().dirty_returns, 1, "{name}");
    let events = seen.lock().unwrap().clone();
    assert_eq!(events.len(), 1, "{name}: {events:?}");
    assert!(
        events[0].contains(&format!("tests/dirty.rs:{line}")),
        "{events:?}"
    );
    let mut conn = pool.get().unwrap();
    let n = conn
        .query_row("SELECT COUNT(*) FROM nimue_dirty", &[])
        .unwrap()
        .unwrap();
    assert_eq!(
        n.get::<i64>(0).unwrap(),
        2,
        "the uncommitted write was rolled back"
    );
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    warns_about_dirty_returns(
        nimue::sqlite::SqliteConnector::new(dir.path().join("dirty.db")),
        "dirty-sqlite",
        "CREATE TABLE nimue_dirty (n INTEGER)",
    );
}

#[cfg(feature = "postgres")]
#[test]
fn postgres() {
    let Some(url) = common::server_env("NIMUE_TEST_POSTGRES_URL") else {
        return;
    };
    warns_about_dirty_returns(
        nimue::postgres::PgConnector::from_url(&url).unwrap(),
        "dirty-postgres",
        "CREATE TABLE nimue_dirty (n int8)",
    );
}

#[cfg(feature = "mysql")]
#[test]
fn mariadb() {
    let Some(url) = common::server_env("NIMUE_TEST_MYSQL_URL") else {
        return;
    };
    warns_about_dirty_returns(
        nimue::mysql::MySqlConnector::from_url(&url).unwrap(),
        "dirty-mariadb",
        "CREATE TABLE nimue_dirty (n BIGINT) ENGINE=InnoDB",
    );
}

/// Writes the statement's text does not show (a writing `WITH`, a function that writes) are
/// reported too: the server says whether the transaction wrote, and its answer comes with
/// the connection's next request, after which the pool warns, naming where the checkout that
/// wrote was made (issue 26, item 4).
#[cfg(feature = "postgres")]
#[test]
fn postgres_writes_the_text_does_not_show() {
    let Some(url) = common::server_env("NIMUE_TEST_POSTGRES_URL") else {
        return;
    };
    capture();
    let name = "dirty-postgres-hidden";
    let connector = nimue::postgres::PgConnector::from_url(&url).unwrap();
    let (builder, seen) = seeing_dirty_returns(Pool::builder(connector).name(name).max_size(1));
    let pool = builder.build().unwrap();
    {
        let mut conn = pool.get().unwrap();
        conn.execute("DROP TABLE IF EXISTS nimue_dirty_hidden", &[])
            .unwrap();
        conn.execute("CREATE TABLE nimue_dirty_hidden (n int8)", &[])
            .unwrap();
        conn.execute(
            "CREATE OR REPLACE FUNCTION nimue_dirty_write() RETURNS int8 LANGUAGE sql AS \
             'INSERT INTO nimue_dirty_hidden VALUES (3) RETURNING n'",
            &[],
        )
        .unwrap();
        conn.commit().unwrap();
    }
    {
        let mut conn = pool.get().unwrap();
        conn.execute("SELECT n FROM nimue_dirty_hidden", &[])
            .unwrap();
    }
    let cte = line!() + 2;
    {
        let mut conn = pool.get().unwrap();
        conn.execute(
            "WITH w AS (INSERT INTO nimue_dirty_hidden VALUES (1) RETURNING n) SELECT n FROM w",
            &[],
        )
        .unwrap();
    }
    let function = line!() + 2;
    {
        let mut conn = pool.get().unwrap();
        conn.execute("SELECT nimue_dirty_write()", &[]).unwrap();
    }
    {
        let mut conn = pool.get().unwrap();
        let n = conn
            .query_row("SELECT COUNT(*) FROM nimue_dirty_hidden", &[])
            .unwrap()
            .unwrap();
        assert_eq!(n.get::<i64>(0).unwrap(), 0, "both writes were rolled back");
    }
    let warnings = dirty_warnings(name);
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].contains(&format!("tests/dirty.rs:{cte}")),
        "{warnings:?}"
    );
    assert!(
        warnings[1].contains(&format!("tests/dirty.rs:{function}")),
        "{warnings:?}"
    );
    assert_eq!(pool.state().dirty_returns, 2);
    let events = seen.lock().unwrap().clone();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(
        events[0].contains(&format!("tests/dirty.rs:{cte}")),
        "{events:?}"
    );
    assert!(
        events[1].contains(&format!("tests/dirty.rs:{function}")),
        "{events:?}"
    );
    let mut conn = pool.get().unwrap();
    conn.execute("DROP TABLE nimue_dirty_hidden CASCADE", &[])
        .unwrap();
    conn.execute("DROP FUNCTION IF EXISTS nimue_dirty_write()", &[])
        .unwrap();
    conn.commit().unwrap();
}
