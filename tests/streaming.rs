//! Streaming cursors: a large result is read as it is fetched, never held whole. Measured with
//! a counting allocator (this test binary's own): the peak of live heap bytes while scanning
//! must stay far below the result's size.

#![cfg(feature = "sqlite")]

mod counting;

use counting::{scan, ROWS, SERIAL, TEXT};
use nimue::sqlite::SqliteConnector;
use nimue::{Connect, Connection, Cursor};

/// Fill `t (id, body)` with ROWS rows of TEXT bytes each: about 20 MB of text.
fn fill<C: Connection>(conn: &mut C) {
    conn.execute("CREATE TABLE t (id INTEGER, body TEXT)", &[])
        .unwrap();
    conn.execute(
        &format!(
            "INSERT INTO t WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n \
             WHERE i < {ROWS}) SELECT i, printf('%0{TEXT}d', i) FROM n"
        ),
        &[],
    )
    .unwrap();
    conn.commit().unwrap();
}

#[test]
fn a_large_sqlite_scan_through_fetchmany_holds_a_few_batches() {
    let _one = SERIAL.lock().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut conn = SqliteConnector::new(dir.path().join("scan.db"))
        .connect()
        .unwrap();
    fill(&mut conn);
    let mut cur = conn.cursor().unwrap();
    let peak = scan(&mut cur, "SELECT id, body FROM t ORDER BY id", "SQLite");
    // The result is over 20 MB of text alone; a few batches of 1000 rows are a few hundred KB.
    assert!(peak < 4 << 20, "peak heap while scanning: {peak} bytes");
}

#[test]
fn rows_iterates_a_query_and_reports_errors_as_items() {
    let _one = SERIAL.lock().unwrap();
    let mut conn = SqliteConnector::memory().connect().unwrap();
    let mut cur = conn.cursor().unwrap();
    cur.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) \
         SELECT i FROM n",
        &[],
    )
    .unwrap();
    let sum: i64 = cur
        .rows()
        .unwrap()
        .map(|row| row.unwrap().get::<i64>(0).unwrap())
        .sum();
    assert_eq!(sum, 5050);
    assert_eq!(cur.rowcount(), 100);
    cur.execute("CREATE TABLE u (x INTEGER)", &[]).unwrap();
    let err = cur.rows().map(drop).unwrap_err();
    assert_eq!(err.kind(), nimue::ErrorKind::Programming, "{err}");
}

#[test]
fn connection_execute_of_a_long_query_returns_its_row_count() {
    let _one = SERIAL.lock().unwrap();
    let mut conn = SqliteConnector::memory().connect().unwrap();
    let n = conn
        .execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) \
             SELECT i FROM n",
            &[],
        )
        .unwrap();
    assert_eq!(n, 1000);
}

#[test]
fn a_statement_is_described_anew_when_its_table_changes() {
    // Descriptions are reused while a statement's columns are the same; a table rebuilt with
    // another declared type must be read with the new one, by cursors and query_row alike.
    let _one = SERIAL.lock().unwrap();
    let mut conn = SqliteConnector::memory().connect().unwrap();
    conn.set_autocommit(true).unwrap();
    conn.execute("CREATE TABLE s (a INTEGER)", &[]).unwrap();
    conn.execute("INSERT INTO s VALUES (1)", &[]).unwrap();
    let read = |conn: &mut nimue::sqlite::SqliteConnection| {
        let by_row = conn.query_row("SELECT a FROM s", &[]).unwrap().unwrap();
        let mut cur = conn.cursor().unwrap();
        cur.execute("SELECT a FROM s", &[]).unwrap();
        let by_cursor = cur.fetchone().unwrap().unwrap();
        (by_row[0].clone(), by_cursor[0].clone())
    };
    assert_eq!(
        read(&mut conn),
        (nimue::Value::Int(1), nimue::Value::Int(1))
    );
    conn.execute("DROP TABLE s", &[]).unwrap();
    conn.execute("CREATE TABLE s (a BOOLEAN)", &[]).unwrap();
    conn.execute("INSERT INTO s VALUES (1)", &[]).unwrap();
    assert_eq!(
        read(&mut conn),
        (nimue::Value::Bool(true), nimue::Value::Bool(true))
    );
    // query_row of a statement without a result set runs it and says so, as before.
    let err = conn.query_row("INSERT INTO s VALUES (0)", &[]).unwrap_err();
    assert_eq!(err.kind(), nimue::ErrorKind::Programming);
    assert_eq!(
        conn.query_row("SELECT COUNT(*) FROM s", &[])
            .unwrap()
            .unwrap()
            .get::<i64>(0)
            .unwrap(),
        2
    );
}
