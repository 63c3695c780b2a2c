//! Streaming cursors on MariaDB/MySQL (`NIMUE_TEST_MYSQL_URL`): a large result is read from
//! the socket as it is fetched, never held whole (peak heap measured with this binary's
//! counting allocator), and a cursor dropped in the middle of a result leaves its connection
//! in step for the next command.

#![cfg(feature = "mysql")]

mod common;
mod counting;

use counting::{scan, ROWS, SERIAL, TEXT};
use nimue::mysql::{MySqlConnection, MySqlConnector};
use nimue::PoolHooks;
use nimue::{params, Connect, Connection, Cursor, ErrorKind, Pool};

fn url() -> Option<String> {
    common::server_env("NIMUE_TEST_MYSQL_URL")
}

fn connect(url: &str) -> MySqlConnection {
    MySqlConnector::from_url(url).unwrap().connect().unwrap()
}

/// A table `(id, body)` of this process, `rows` rows of TEXT bytes each, dropped at the end.
struct Table {
    url: String,
    name: String,
}

impl Table {
    fn new(url: &str, tag: &str, rows: i64) -> Table {
        let name = format!("nimue_stream_{tag}_{}", std::process::id());
        let mut conn = connect(url);
        conn.execute(&format!("DROP TABLE IF EXISTS {name}"), &[])
            .unwrap();
        conn.execute(
            &format!("CREATE TABLE {name} (id INT PRIMARY KEY, body VARCHAR({TEXT}) NOT NULL)"),
            &[],
        )
        .unwrap();
        // Doubling inserts (works on MySQL and MariaDB, whatever their recursion limits).
        conn.execute(
            &format!("INSERT INTO {name} VALUES (1, LPAD(1, {TEXT}, '0'))"),
            &[],
        )
        .unwrap();
        let mut have = 1i64;
        while have < rows {
            conn.execute(
                &format!(
                    "INSERT INTO {name} (id, body) SELECT id + ?, LPAD(id + ?, {TEXT}, '0') \
                     FROM {name} WHERE id + ? <= ?"
                ),
                &params![have, have, have, rows],
            )
            .unwrap();
            have = (have * 2).min(rows);
        }
        conn.commit().unwrap();
        Table {
            url: url.to_owned(),
            name,
        }
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        let mut conn = connect(&self.url);
        conn.execute(&format!("DROP TABLE IF EXISTS {}", self.name), &[])
            .unwrap();
    }
}

#[test]
fn a_large_mysql_scan_through_fetchmany_holds_a_few_batches() {
    let _one = SERIAL.lock().unwrap();
    let Some(url) = url() else { return };
    let table = Table::new(&url, "scan", ROWS);
    let mut conn = connect(&url);
    let mut cur = conn.cursor().unwrap();
    let peak = scan(
        &mut cur,
        &format!("SELECT id, body FROM {} ORDER BY id", table.name),
        "MariaDB",
    );
    let names: Vec<&str> = cur
        .description()
        .unwrap()
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["id", "body"]);
    assert_eq!(cur.lastrowid(), None);
    // The result is over 20 MB of text alone; a few batches of 1000 rows are a few hundred KB.
    assert!(peak < 4 << 20, "peak heap while scanning: {peak} bytes");
    drop(cur);
    assert!(!conn.is_broken());
}

#[test]
fn a_cursor_dropped_in_the_middle_of_a_result_leaves_the_connection_usable() {
    let _one = SERIAL.lock().unwrap();
    let Some(url) = url() else { return };
    // 2 MB: more than the socket buffers hold, so most of the result is still on the server.
    let table = Table::new(&url, "drop", 20_000);
    let scan = format!("SELECT id, body FROM {} ORDER BY id", table.name);
    let mut conn = connect(&url);

    // Dropped after a few rows: the next query, and a commit of what it wrote.
    let mut cur = conn.cursor().unwrap();
    cur.execute(&scan, &[]).unwrap();
    assert_eq!(cur.fetchmany(10).unwrap().len(), 10);
    assert_eq!(cur.rowcount(), -1);
    drop(cur);
    let count = conn
        .query_row(&format!("SELECT COUNT(*) FROM {}", table.name), &[])
        .unwrap()
        .unwrap();
    assert_eq!(count.get::<i64>(0).unwrap(), 20_000);
    let mut cur = conn.cursor().unwrap();
    cur.execute(&scan, &[]).unwrap();
    cur.fetchone().unwrap().unwrap();
    drop(cur);
    let inserted = conn
        .execute(
            &format!("INSERT INTO {} VALUES (?, ?)", table.name),
            &params![20_001, "committed"],
        )
        .unwrap();
    assert_eq!(inserted, 1);
    let mut cur = conn.cursor().unwrap();
    cur.execute(&scan, &[]).unwrap();
    drop(cur);
    conn.commit().unwrap();
    let mut other = connect(&url);
    let seen = other
        .query_row(
            &format!("SELECT body FROM {} WHERE id = ?", table.name),
            &params![20_001],
        )
        .unwrap()
        .expect("the commit after a dropped cursor took effect");
    assert_eq!(seen.get::<String>(0).unwrap(), "committed");

    // Dropped before any fetch: rollback, ping and reset.
    conn.execute(
        &format!("DELETE FROM {} WHERE id = ?", table.name),
        &params![20_001],
    )
    .unwrap();
    let mut cur = conn.cursor().unwrap();
    cur.execute(&scan, &[]).unwrap();
    drop(cur);
    conn.rollback().unwrap();
    let kept = conn
        .query_row(
            &format!("SELECT COUNT(*) FROM {} WHERE id = ?", table.name),
            &params![20_001],
        )
        .unwrap()
        .unwrap();
    assert_eq!(kept.get::<i64>(0).unwrap(), 1, "the rollback took effect");
    let mut cur = conn.cursor().unwrap();
    cur.execute(&scan, &[]).unwrap();
    cur.fetchmany(100).unwrap();
    drop(cur);
    conn.ping().unwrap();
    let mut cur = conn.cursor().unwrap();
    cur.execute(&scan, &[]).unwrap();
    cur.fetchmany(100).unwrap();
    drop(cur);
    conn.reset().unwrap();
    assert_eq!(
        conn.query_row("SELECT 1 + 1", &[])
            .unwrap()
            .unwrap()
            .values(),
        params![2]
    );

    // Executing another statement on the same cursor in the middle of a result.
    let mut cur = conn.cursor().unwrap();
    cur.execute(&scan, &[]).unwrap();
    assert_eq!(cur.fetchone().unwrap().unwrap().get::<i64>(0).unwrap(), 1);
    cur.execute("SELECT ? + 1", &params![41]).unwrap();
    assert_eq!(cur.rowcount(), 1);
    assert_eq!(cur.fetchall().unwrap()[0].get::<i64>(0).unwrap(), 42);
    drop(cur);
    assert!(!conn.is_broken());

    // Through the pool: the guard returned with a half-read cursor, then checked out again.
    let pool = Pool::builder(MySqlConnector::from_url(&url).unwrap())
        .min_idle(0)
        .max_size(1)
        .build()
        .unwrap();
    for checkout in 0..3 {
        let mut conn = pool.get().unwrap();
        let mut cur = conn.cursor().unwrap();
        cur.execute(&scan, &[]).unwrap();
        let first = cur.fetchmany(5).unwrap();
        assert_eq!(first[4].get::<i64>(0).unwrap(), 5, "checkout {checkout}");
    }
    let mut conn = pool.get().unwrap();
    assert_eq!(
        conn.query_row("SELECT COUNT(*) FROM information_schema.tables", &[])
            .unwrap()
            .map(|row| row.get::<i64>(0).unwrap() > 0),
        Some(true)
    );
    drop(conn);
    let state = pool.state();
    assert_eq!(state.created, 1, "one connection, reused: {state:?}");
    assert_eq!(state.broken, 0, "{state:?}");
}

#[test]
fn a_bad_row_in_the_middle_of_a_result_ends_it_and_keeps_the_connection() {
    let _one = SERIAL.lock().unwrap();
    let Some(url) = url() else { return };
    let table = Table::new(&url, "bad", 1_000);
    let mut conn = connect(&url);
    let mut cur = conn.cursor().unwrap();
    // Row 500 has a negative TIME, which nimue reports as a DataError: past the read-ahead,
    // so execute succeeds and the fetch that reaches it fails.
    cur.execute(
        &format!(
            "SELECT id, IF(id = 500, CAST('-01:00:00' AS TIME), CAST('01:00:00' AS TIME)) \
             FROM {} ORDER BY id",
            table.name
        ),
        &[],
    )
    .unwrap();
    assert_eq!(cur.fetchmany(400).unwrap().len(), 400);
    let err = cur.fetchmany(400).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Data, "{err}");
    // The statement failed: fetching more is an error, as after a failed execute.
    let err = cur.fetchmany(400).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Programming, "{err}");
    assert_eq!(cur.rowcount(), -1, "no row count for a failed statement");
    cur.execute("SELECT ? + 1", &params![1]).unwrap();
    assert_eq!(cur.fetchone().unwrap().unwrap().get::<i64>(0).unwrap(), 2);
    drop(cur);
    assert!(!conn.is_broken());
    conn.commit().unwrap();
}

#[test]
fn a_connection_killed_in_the_middle_of_a_result_is_marked_broken() {
    let _one = SERIAL.lock().unwrap();
    let Some(url) = url() else { return };
    // 20 MB: far more than the socket buffers between server and client hold.
    let table = Table::new(&url, "kill", ROWS);
    let mut conn = connect(&url);
    let id = conn.connection_id();
    let mut cur = conn.cursor().unwrap();
    cur.execute(
        &format!("SELECT id, body FROM {} ORDER BY id", table.name),
        &[],
    )
    .unwrap();
    cur.fetchmany(1000).unwrap();
    let mut killer = connect(&url);
    killer.execute(&format!("KILL {id}"), &[]).unwrap();
    let err = loop {
        match cur.fetchmany(1000) {
            Ok(batch) => assert!(
                !batch.is_empty(),
                "the whole result arrived before the KILL"
            ),
            Err(e) => break e,
        }
    };
    assert_eq!(err.kind(), ErrorKind::Operational, "{err}");
    drop(cur);
    assert!(conn.is_broken(), "a lost connection is marked broken");
}
