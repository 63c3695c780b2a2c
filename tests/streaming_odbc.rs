//! Streaming cursors through ODBC (unixODBC, set up by scripts/lib/odbc.sh): a large result
//! is read as it is fetched, never held whole, with the SQLite3 and the PostgreSQL Unicode
//! drivers; a cursor dropped in the middle of a result leaves its connection usable.
//!
//! Two measures of "never held whole": the peak of live heap bytes of this test binary's
//! counting allocator (nimue's own rows and buffers), and the growth of the process's peak
//! resident memory (`VmHWM`, reset through /proc/self/clear_refs), which also sees what the
//! ODBC driver allocates in C. Both drivers read a whole result into their own memory at
//! execute unless told otherwise, so the scans use their streaming settings (see the crate
//! documentation of nimue-odbc, "Streaming"): `StepAPI=1` with autocommit on for SQLite's,
//! `UseDeclareFetch=1` for PostgreSQL's.

#![cfg(feature = "odbc")]

mod common;
mod counting;

use counting::{ROWS, SERIAL, TEXT};
use nimue::odbc::{OdbcConnection, OdbcConnector};
use nimue::PoolHooks;
use nimue::{params, Connect, Connection, Cursor};

/// Rows fetched from PostgreSQL per round trip with `UseDeclareFetch=1`.
const PG_FETCH: usize = 1000;

/// The SQLite3 driver on a fresh database file in `dir`, stepping SQLite statements as rows
/// are fetched (`StepAPI=1`; the driver does so only in autocommit mode and for statements
/// without parameters).
fn sqlite(dir: &tempfile::TempDir) -> Option<String> {
    let base = common::server_env("NIMUE_TEST_ODBC_SQLITE")?;
    let driver = base.split(';').next().expect("Driver=... first");
    Some(format!(
        "{driver};Database={};StepAPI=1;",
        dir.path().join("streaming.db").display()
    ))
}

/// The PostgreSQL driver as the other ODBC tests use it: it reads a whole result at execute.
fn postgres_buffering() -> Option<String> {
    common::server_env("NIMUE_TEST_ODBC_POSTGRES")
}

/// The PostgreSQL driver reading a result through a server-side cursor, PG_FETCH rows at a
/// time.
fn postgres() -> Option<String> {
    let base = postgres_buffering()?;
    Some(format!("{base}UseDeclareFetch=1;Fetch={PG_FETCH};"))
}

fn connect(connection_string: &str) -> OdbcConnection {
    OdbcConnector::new(connection_string)
        .connect()
        .expect("connect")
}

/// A table only this process uses, dropped when the test ends (even when it fails).
struct Table {
    name: String,
    connection_string: String,
}

impl Table {
    fn new(connection_string: &str, what: &str) -> Self {
        Table {
            name: format!("nimue_odbc_streaming_{what}_{}", std::process::id()),
            connection_string: connection_string.to_owned(),
        }
    }

    /// Create it with `rows` rows `(id, body)`: ids from 1, bodies of TEXT digits.
    fn fill(&self, conn: &mut OdbcConnection, rows: i64) {
        let t = &self.name;
        conn.execute(&format!("DROP TABLE IF EXISTS {t}"), &[])
            .unwrap();
        let insert = if conn.dbms_name() == "SQLite" {
            conn.execute(
                &format!("CREATE TABLE {t} (id INTEGER PRIMARY KEY, body TEXT)"),
                &[],
            )
            .unwrap();
            format!(
                "INSERT INTO {t} WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n \
                 WHERE i < {rows}) SELECT i, printf('%0{TEXT}d', i) FROM n"
            )
        } else {
            conn.execute(
                &format!("CREATE TABLE {t} (id BIGINT PRIMARY KEY, body TEXT)"),
                &[],
            )
            .unwrap();
            format!(
                "INSERT INTO {t} SELECT i, lpad(i::text, {TEXT}, '0') \
                 FROM generate_series(1, {rows}) i"
            )
        };
        assert_eq!(conn.execute(&insert, &[]).unwrap(), rows);
        conn.commit().unwrap();
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        if let Ok(mut conn) = OdbcConnector::new(self.connection_string.as_str()).connect() {
            let _ = conn.execute(&format!("DROP TABLE IF EXISTS {}", self.name), &[]);
            let _ = conn.commit();
        }
    }
}

/// The process's resident memory, to measure what the driver holds: `VmRSS` now, with the
/// peak (`VmHWM`) reset to it. `None` where /proc does not offer that (not Linux).
fn reset_rss_peak() -> Option<u64> {
    std::fs::write("/proc/self/clear_refs", "5").ok()?;
    status_kb("VmRSS:")
}

/// Bytes by which the resident memory peaked above `before` (from [`reset_rss_peak`]).
fn rss_peak_since(before: u64) -> Option<u64> {
    Some(status_kb("VmHWM:")?.saturating_sub(before) * 1024)
}

fn status_kb(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Scan the ROWS rows of `table` (with `body` as `body_sql` says) through `fetchmany(1000)`:
/// in order, `rowcount` unknown until the end, and neither nimue nor the driver holding more
/// than a few batches.
fn scan(conn: &mut OdbcConnection, table: &Table, body_sql: &str) {
    let dbms = conn.dbms_name().to_owned();
    let mut cur = conn.cursor().unwrap();
    let rss_before = reset_rss_peak();
    let peak = counting::scan(
        &mut cur,
        &format!("SELECT id, {body_sql} FROM {} ORDER BY id", table.name),
        &dbms,
    );
    let rss_peak = rss_before.and_then(rss_peak_since);
    eprintln!(
        "{dbms}, {body_sql}: peak heap {peak} bytes, peak resident growth {rss_peak:?} bytes"
    );
    // The result is over 20 MB of text alone (a buffered read of it takes over 30 MB); a few
    // batches of 1000 rows are a few hundred KB.
    assert!(
        peak < 4 << 20,
        "{dbms}: peak heap while scanning: {peak} bytes"
    );
    match rss_peak {
        Some(rss_peak) => assert!(
            rss_peak < 8 << 20,
            "{dbms}: the process's resident memory grew by {rss_peak} bytes while scanning"
        ),
        None => eprintln!("SKIP: no /proc/self/clear_refs to measure the driver's memory"),
    }
}

#[test]
fn a_large_sqlite_scan_through_fetchmany_holds_a_few_batches() {
    let dir = tempfile::tempdir().unwrap();
    let Some(cs) = sqlite(&dir) else { return };
    let _one = SERIAL.lock().unwrap();
    let table = Table::new(&cs, "scan");
    let mut conn = connect(&cs);
    table.fill(&mut conn, ROWS);
    // The SQLite3 driver steps a statement as rows are fetched only in autocommit mode; in a
    // transaction it reads the whole result at execute.
    conn.set_autocommit(true).unwrap();
    scan(&mut conn, &table, "body");
}

#[test]
fn a_large_postgres_scan_through_fetchmany_holds_a_few_batches() {
    let (Some(cs), Some(buffering)) = (postgres(), postgres_buffering()) else {
        return;
    };
    let _one = SERIAL.lock().unwrap();
    let table = Table::new(&cs, "scan");
    let mut conn = connect(&cs);
    table.fill(&mut conn, ROWS);
    // A TEXT column: read row by row with SQLGetData.
    scan(&mut conn, &table, "body");
    conn.rollback().unwrap();
    // Every column of a bounded size: read in batches through a bound buffer.
    scan(&mut conn, &table, &format!("CAST(body AS VARCHAR({TEXT}))"));
    conn.rollback().unwrap();

    // Without UseDeclareFetch the driver has read every row when the statement returns, and
    // says how many: the cursor reports that rowcount at once.
    let mut conn = connect(&buffering);
    let mut cur = conn.cursor().unwrap();
    cur.execute(&format!("SELECT id FROM {} ORDER BY id", table.name), &[])
        .unwrap();
    assert_eq!(cur.rowcount(), ROWS);
    assert_eq!(cur.fetchone().unwrap().unwrap().get::<i64>(0).unwrap(), 1);
    assert_eq!(cur.rowcount(), ROWS);
}

/// A cursor dropped (or given another statement) in the middle of a result that is longer
/// than the read-ahead and than one driver batch leaves the connection usable.
fn usable_after_an_unfinished_result(cs: &str) {
    const SOME: i64 = 5000;
    let table = Table::new(cs, "unfinished");
    let t = &table.name;
    let mut conn = connect(cs);
    table.fill(&mut conn, SOME);
    let dbms = conn.dbms_name().to_owned();
    let select = format!("SELECT id, body FROM {t} ORDER BY id");
    for _ in 0..3 {
        let mut cur = conn.cursor().unwrap();
        cur.execute(&select, &[]).unwrap();
        let first = cur.fetchmany(10).unwrap();
        assert_eq!(first.len(), 10, "{dbms}");
        assert_eq!(first[9].get::<i64>(0).unwrap(), 10, "{dbms}");
        drop(cur);
    }
    assert!(!conn.is_broken(), "{dbms}");

    // Another statement on the same cursor discards the rest of the result.
    let mut cur = conn.cursor().unwrap();
    cur.execute(&select, &[]).unwrap();
    assert_eq!(cur.fetchmany(100).unwrap().len(), 100, "{dbms}");
    cur.execute(
        &format!("SELECT COUNT(*) FROM {t} WHERE id > ?"),
        &params![SOME - 3],
    )
    .unwrap();
    assert_eq!(cur.fetchone().unwrap().unwrap().get::<i64>(0).unwrap(), 3);
    assert_eq!(cur.rowcount(), 1, "{dbms}");
    cur.execute(&select, &[]).unwrap();
    assert_eq!(cur.fetchone().unwrap().unwrap().get::<i64>(0).unwrap(), 1);
    drop(cur);

    // Writes, commits and a full read work afterwards.
    conn.execute(
        &format!("INSERT INTO {t} VALUES (?, ?)"),
        &params![SOME + 1, "new"],
    )
    .unwrap();
    conn.commit().unwrap();
    conn.ping().unwrap();
    let rows = conn.query(&select, &[]).unwrap();
    assert_eq!(rows.len() as i64, SOME + 1, "{dbms}");
    assert_eq!(rows[SOME as usize].get::<String>(1).unwrap(), "new");
    conn.rollback().unwrap();
    assert!(!conn.is_broken(), "{dbms}");
}

#[test]
fn sqlite_usable_after_an_unfinished_result() {
    let dir = tempfile::tempdir().unwrap();
    let Some(cs) = sqlite(&dir) else { return };
    let _one = SERIAL.lock().unwrap();
    usable_after_an_unfinished_result(&cs);
    // The same in autocommit mode, where the driver steps the statement as rows are fetched.
    let table = Table::new(&cs, "unfinished_autocommit");
    let mut conn = connect(&cs);
    table.fill(&mut conn, 5000);
    conn.set_autocommit(true).unwrap();
    let select = format!("SELECT id FROM {} ORDER BY id", table.name);
    let mut cur = conn.cursor().unwrap();
    cur.execute(&select, &[]).unwrap();
    assert_eq!(cur.fetchmany(100).unwrap().len(), 100);
    drop(cur);
    conn.execute(
        &format!("INSERT INTO {} VALUES (?, ?)", table.name),
        &params![5001, "new"],
    )
    .unwrap();
    assert_eq!(conn.query(&select, &[]).unwrap().len(), 5001);
}

#[test]
fn postgres_usable_after_an_unfinished_result() {
    let (Some(cs), Some(buffering)) = (postgres(), postgres_buffering()) else {
        return;
    };
    let _one = SERIAL.lock().unwrap();
    usable_after_an_unfinished_result(&cs);
    usable_after_an_unfinished_result(&buffering);
}

/// A server that goes away in the middle of a result: the fetch that needs it fails with an
/// OperationalError, the connection is marked broken, and dropping the cursor neither panics
/// nor hangs.
#[test]
fn postgres_connection_lost_in_the_middle_of_a_result() {
    let Some(cs) = postgres() else { return };
    let _one = SERIAL.lock().unwrap();
    let table = Table::new(&cs, "lost");
    let mut admin = connect(&cs);
    table.fill(&mut admin, 5000);
    let mut victim = connect(&cs);
    let pid: i64 = victim
        .query_row("SELECT pg_backend_pid()", &[])
        .unwrap()
        .unwrap()
        .get(0)
        .unwrap();
    let mut cur = victim.cursor().unwrap();
    cur.execute(
        &format!("SELECT id, body FROM {} ORDER BY id", table.name),
        &[],
    )
    .unwrap();
    assert_eq!(cur.fetchmany(10).unwrap().len(), 10);
    admin
        .execute("SELECT pg_terminate_backend(?)", &params![pid])
        .unwrap();
    admin.commit().unwrap();
    // The backend is gone once the server stops listing it.
    common::eventually("the backend is gone", || {
        let row = admin
            .query_row(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE pid = ?",
                &params![pid],
            )
            .unwrap()
            .unwrap();
        admin.rollback().unwrap();
        row.get::<i64>(0).unwrap() == 0
    });
    let mut error = None;
    for _ in 0..(5000 / 100) {
        match cur.fetchmany(100) {
            Ok(rows) if rows.is_empty() => break,
            Ok(_) => continue,
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    let error = error.expect("a fetch after the server went away fails");
    assert_eq!(error.kind(), nimue::ErrorKind::Operational, "{error}");
    assert!(error.to_string().contains("lost"), "{error}");
    drop(cur);
    assert!(victim.is_broken());
    drop(victim);
    admin.ping().unwrap();
}
