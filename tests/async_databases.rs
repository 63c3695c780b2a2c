//! The async path on every database of the matrix (feature `tokio`): `get_async`, driver
//! code through `interact`, and guards dropped on the runtime's thread with a transaction
//! open. On PostgreSQL that drop is the proof that no driver I/O runs on a runtime thread:
//! the synchronous `postgres` client panics there ("Cannot start a runtime from within a
//! runtime"), which would have cost the connection (counted as broken).

#![cfg(all(feature = "tokio", feature = "sqlite"))]

mod common;

use nimue::{BoxConnector, Connection, Pool};
use std::time::Duration;

/// On a one-thread runtime: a table made through `interact`, an insert left uncommitted and
/// its guard dropped on the runtime thread (rolled back off it, the connection kept), then
/// 20 tasks inserting through 2 connections.
fn scenario(url: &str, table: &'static str) {
    let pool: Pool<BoxConnector> = Pool::builder(nimue::any::connector(url).unwrap())
        .min_idle(1)
        .max_size(2)
        .connection_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    common::current_thread().block_on(async {
        let mut conn = pool.get_async().await.unwrap();
        conn.interact(move |c| {
            c.execute(&format!("DROP TABLE IF EXISTS {table}"), &[])?;
            c.execute(&format!("CREATE TABLE {table} (id INT)"), &[])?;
            c.commit()
        })
        .await
        .unwrap()
        .unwrap();
        conn.interact(move |c| c.execute(&format!("INSERT INTO {table} VALUES (1)"), &[]))
            .await
            .unwrap()
            .unwrap();
        // The insert is not committed: this drop rolls it back, on a blocking thread.
        drop(conn);

        let count = move |c: &mut nimue::BoxConnection| -> nimue::Result<i64> {
            let row = c.query_row(&format!("SELECT COUNT(*) FROM {table}"), &[])?;
            row.expect("a count").get::<i64>(0)
        };
        let mut conn = pool.get_async().await.unwrap();
        let rows = conn.interact(count).await.unwrap().unwrap();
        assert_eq!(rows, 0, "the dropped guard's insert was rolled back");
        drop(conn);
        let st = pool.state();
        assert_eq!(st.broken, 0, "no connection was lost to the drop: {st:?}");

        let mut tasks = Vec::new();
        for i in 0..20 {
            let pool = pool.clone();
            tasks.push(tokio::spawn(async move {
                let mut conn = pool.get_async().await?;
                conn.interact(move |c| {
                    c.execute(&format!("INSERT INTO {table} VALUES ({i})"), &[])?;
                    c.commit()
                })
                .await?
            }));
        }
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        // The one-shot form: checkout, query and return, the last two on a blocking thread.
        assert_eq!(pool.interact(count).await.unwrap().unwrap(), 20);
        let mut conn = pool.get_async().await.unwrap();
        assert_eq!(conn.interact(count).await.unwrap().unwrap(), 20);
        conn.interact(move |c| {
            c.execute(&format!("DROP TABLE {table}"), &[])?;
            c.commit()
        })
        .await
        .unwrap()
        .unwrap();
    });
    let st = pool.state();
    assert_eq!((st.broken, st.in_use, st.waiting), (0, 0, 0), "{st:?}");
    assert!(st.total <= 2, "{st:?}");
    pool.close();
}

#[test]
fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    scenario(
        &format!("sqlite:{}", dir.path().join("async.db").display()),
        "nimue_async",
    );
}

#[cfg(feature = "postgres")]
#[test]
fn postgres() {
    if let Some(url) = common::server_env("NIMUE_TEST_POSTGRES_URL") {
        scenario(&url, "nimue_async_pg");
    }
}

#[cfg(feature = "mysql")]
#[test]
fn mariadb() {
    if let Some(url) = common::server_env("NIMUE_TEST_MYSQL_URL") {
        scenario(&url, "nimue_async_my");
    }
}

#[cfg(feature = "odbc")]
#[test]
fn odbc_postgres() {
    if let Some(conn) = common::server_env("NIMUE_TEST_ODBC_POSTGRES") {
        scenario(&format!("odbc:{conn}"), "nimue_async_odbc");
    }
}

/// PostgreSQL inside a runtime's context (`#[tokio::main]`'s thread): a guard's synchronous
/// calls work there, and dropping and closing the pool there close every connection with its
/// goodbye, with no panic on any thread (the client's own runtime can neither run nor be
/// dropped in that context: it is moved off it).
#[cfg(feature = "postgres")]
#[test]
fn postgres_inside_a_runtime_neither_panics_nor_fails() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static RUNTIME_PANICS: AtomicUsize = AtomicUsize::new(0);
    let Some(url) = common::server_env("NIMUE_TEST_POSTGRES_URL") else {
        return;
    };
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.to_string().contains("runtime") {
            RUNTIME_PANICS.fetch_add(1, Ordering::SeqCst);
        }
        previous(info);
    }));
    common::current_thread().block_on(async {
        let pool = Pool::builder(nimue::postgres::PgConnector::from_url(&url).unwrap())
            .min_idle(2)
            .max_size(2)
            .build()
            .unwrap();
        let mut conn = pool.get_async().await.unwrap();
        // Synchronous calls on the runtime's thread: they block it, and they work.
        let row = conn.query_row("SELECT 41 + 1", &[]).unwrap().unwrap();
        assert_eq!(row.get::<i64>(0).unwrap(), 42);
        conn.execute("SELECT 1", &[]).unwrap();
        // Its transaction is rolled back off the runtime; then the pool is dropped here.
        drop(conn);
        let other = pool.clone();
        other.close();
        drop(pool);
    });
    assert_eq!(RUNTIME_PANICS.load(Ordering::SeqCst), 0);
}
