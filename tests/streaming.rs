//! Streaming cursors: a large result is read as it is fetched, never held whole. Measured with
//! a counting allocator (this test binary's own): the peak of live heap bytes while scanning
//! must stay far below the result's size.

#![cfg(feature = "sqlite")]

mod counting;

use counting::{peak_since, reset_peak, SERIAL};
use nimue::sqlite::SqliteConnector;
use nimue::{Connect, Connection, Cursor};

const ROWS: i64 = 200_000;
const TEXT: usize = 100;

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
    let before = reset_peak();
    cur.execute("SELECT id, body FROM t ORDER BY id", &[])
        .unwrap();
    assert_eq!(cur.rowcount(), -1, "a long result: not known until its end");
    let (mut seen, mut expected) = (0i64, 1i64);
    loop {
        let batch = cur.fetchmany(1000).unwrap();
        if batch.is_empty() {
            break;
        }
        for row in batch {
            assert_eq!(row.get::<i64>(0).unwrap(), expected);
            assert_eq!(row.get::<String>(1).unwrap().len(), TEXT);
            expected += 1;
            seen += 1;
        }
    }
    let peak = peak_since(before);
    assert_eq!(seen, ROWS);
    assert_eq!(cur.rowcount(), ROWS, "known once the last row was fetched");
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
