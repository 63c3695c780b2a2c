//! Streaming cursors on a real PostgreSQL server (`NIMUE_TEST_POSTGRES_URL`): a large result
//! is read as it is fetched, never held whole (peak heap measured with this test binary's
//! counting allocator), and a cursor dropped in the middle of a result leaves its connection
//! ready for the next statement.

#![cfg(feature = "postgres")]

mod common;
mod counting;

use counting::{scan, ROWS, SERIAL, TEXT};
use nimue::postgres::PgConnector;
use nimue::PoolHooks;
use nimue::{Connect, Connection, Cursor, Pool, Value};

fn connector() -> Option<PgConnector> {
    let url = common::server_env("NIMUE_TEST_POSTGRES_URL")?;
    Some(PgConnector::from_url(&url).expect("a valid URL"))
}

/// A table only this process uses, dropped when the test ends (even when it fails).
struct Table<'a> {
    name: String,
    connector: &'a PgConnector,
}

impl<'a> Table<'a> {
    fn new(connector: &'a PgConnector, what: &str) -> Self {
        let name = format!("nimue_streaming_{what}_{}", std::process::id());
        Table { name, connector }
    }
}

impl Drop for Table<'_> {
    fn drop(&mut self) {
        if let Ok(mut conn) = self.connector.connect() {
            let _ = conn.execute(&format!("DROP TABLE IF EXISTS {}", self.name), &[]);
            let _ = conn.commit();
        }
    }
}

#[test]
fn a_large_postgres_scan_through_fetchmany_holds_a_few_batches() {
    let Some(connector) = connector() else { return };
    let _one = SERIAL.lock().unwrap();
    let table = Table::new(&connector, "scan");
    let t = &table.name;
    let mut conn = connector.connect().unwrap();
    conn.execute(&format!("DROP TABLE IF EXISTS {t}"), &[])
        .unwrap();
    conn.execute(&format!("CREATE TABLE {t} (id int8, body text)"), &[])
        .unwrap();
    // About 20 MB of text.
    let filled = conn
        .execute(
            &format!(
                "INSERT INTO {t} SELECT i, lpad(i::text, {TEXT}, '0') \
                 FROM generate_series(1, {ROWS}) AS i"
            ),
            &[],
        )
        .unwrap();
    assert_eq!(filled, ROWS);
    conn.commit().unwrap();

    let mut cur = conn.cursor().unwrap();
    let peak = scan(
        &mut cur,
        &format!("SELECT id, body FROM {t} ORDER BY id"),
        "PostgreSQL",
    );
    let names: Vec<&str> = cur
        .description()
        .unwrap()
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["id", "body"]);
    // The result is over 20 MB of text alone; a few batches of 1000 rows are a few hundred KB.
    assert!(peak < 4 << 20, "peak heap while scanning: {peak} bytes");
    drop(cur);
    conn.rollback().unwrap();
}

/// 100k rows of about 100 bytes, from the server alone.
const LONG: &str = "SELECT i::int8, lpad(i::text, 100, '0') FROM generate_series(1, 100000) AS i";

/// Read 10 rows of a long result and drop the cursor with the rest unread.
fn start_and_abandon<C: Connection>(conn: &mut C) {
    let mut cur = conn.cursor().unwrap();
    cur.execute(LONG, &[]).unwrap();
    let rows = cur.fetchmany(10).unwrap();
    assert_eq!(rows.len(), 10);
    assert_eq!(rows[9].get::<i64>(0).unwrap(), 10);
    assert_eq!(cur.rowcount(), -1);
}

#[test]
fn a_cursor_dropped_mid_result_leaves_the_connection_usable() {
    let Some(connector) = connector() else { return };
    let _one = SERIAL.lock().unwrap();
    let mut conn = connector.connect().unwrap();
    start_and_abandon(&mut conn);
    // The same connection runs the next statement, and sees its own result.
    let row = conn
        .query_row("SELECT ?::int8 + 1", &[Value::Int(41)])
        .unwrap();
    assert_eq!(row.unwrap().get::<i64>(0).unwrap(), 42);
    // A new cursor executing twice: the second statement replaces the first's unread rows.
    let mut cur = conn.cursor().unwrap();
    cur.execute(LONG, &[]).unwrap();
    assert_eq!(cur.fetchone().unwrap().unwrap().get::<i64>(0).unwrap(), 1);
    cur.execute("SELECT count(*) FROM generate_series(1, 7)", &[])
        .unwrap();
    assert_eq!(cur.rowcount(), 1);
    assert_eq!(cur.fetchall().unwrap()[0].get::<i64>(0).unwrap(), 7);
    drop(cur);
    conn.rollback().unwrap();
    conn.ping().unwrap();
    assert!(!conn.is_broken());
}

/// The id of the connection's transaction (opening one, with autocommit off).
fn txid<C: Connection>(conn: &mut C) -> i64 {
    let row = conn.query_row("SELECT txid_current()", &[]).unwrap();
    row.unwrap().get::<i64>(0).unwrap()
}

#[test]
fn a_connection_returned_mid_result_serves_the_next_checkout() {
    let Some(connector) = connector() else { return };
    let _one = SERIAL.lock().unwrap();
    let pool = Pool::builder(connector)
        .min_idle(0)
        .max_size(1)
        .build()
        .unwrap();
    let mut conn = pool.get().unwrap();
    let pid = conn.backend_pid().unwrap();
    let xid = txid(&mut *conn);
    start_and_abandon(&mut *conn);
    // The reset on return (a rollback) runs after the unread rows.
    conn.close().unwrap();

    let mut conn = pool.get().unwrap();
    assert_eq!(
        conn.backend_pid().unwrap(),
        pid,
        "the same connection, reused"
    );
    assert_ne!(txid(&mut *conn), xid, "the old transaction is gone");
    let rows = conn
        .query("SELECT i FROM generate_series(1, 3) AS i", &[])
        .unwrap();
    let got: Vec<i64> = rows.iter().map(|r| r.get::<i64>(0).unwrap()).collect();
    assert_eq!(got, [1, 2, 3]);
    drop(conn);
    let state = pool.state();
    assert_eq!(state.created, 1, "{state:?}");
    assert_eq!(state.broken, 0, "{state:?}");
}

#[test]
fn a_write_dropped_mid_result_is_done_when_the_cursor_is() {
    let Some(connector) = connector() else { return };
    let _one = SERIAL.lock().unwrap();
    let table = Table::new(&connector, "returning");
    let t = &table.name;
    let mut conn = connector.connect().unwrap();
    conn.set_autocommit(true).unwrap();
    conn.execute(&format!("DROP TABLE IF EXISTS {t}"), &[])
        .unwrap();
    conn.execute(&format!("CREATE TABLE {t} (id int8)"), &[])
        .unwrap();
    let mut cur = conn.cursor().unwrap();
    cur.execute(
        // About 12 MB of rows to send back: more than the sockets' buffers hold, so the
        // server is still sending (its implicit transaction not yet committed) when the
        // cursor is dropped, unless the cursor reads the rest.
        &format!(
            "INSERT INTO {t} SELECT i FROM generate_series(1, 100000) AS i \
             RETURNING id, lpad(id::text, 100, '0')"
        ),
        &[],
    )
    .unwrap();
    assert_eq!(cur.fetchmany(10).unwrap().len(), 10);
    drop(cur);
    // Autocommit: every row is inserted and committed once the cursor is gone, as another
    // connection sees while this one sits unused.
    let mut other = connector.connect().unwrap();
    let row = other
        .query_row(&format!("SELECT count(*) FROM {t}"), &[])
        .unwrap();
    assert_eq!(row.unwrap().get::<i64>(0).unwrap(), 100_000);
    other.rollback().unwrap();
    assert_eq!(conn.query("SELECT 1", &[]).unwrap().len(), 1);
}

#[test]
fn an_error_in_a_later_row_comes_from_the_fetch_that_reaches_it() {
    let Some(connector) = connector() else { return };
    let _one = SERIAL.lock().unwrap();
    let mut conn = connector.connect().unwrap();
    let mut cur = conn.cursor().unwrap();
    // Row 1000 divides by zero: past the rows read when the statement starts.
    cur.execute(
        "SELECT 1 / (i - 1000) FROM generate_series(1, 2000) AS i",
        &[],
    )
    .unwrap();
    let err = cur.fetchall().unwrap_err();
    assert_eq!(err.kind(), nimue::ErrorKind::Data, "{err}");
    assert_eq!(err.sqlstate(), Some("22012"), "{err}");
    drop(cur);
    // As after any failed statement in a transaction: one rollback, and the connection is fine.
    conn.rollback().unwrap();
    assert!(!conn.is_broken());
    let row = conn.query_row("SELECT 7::int8", &[]).unwrap();
    assert_eq!(row.unwrap().get::<i64>(0).unwrap(), 7);
}
