//! The cross-database conformance suite: written once over nimue's traits, instantiated per
//! adapter with [`conformance_tests!`].
//!
//! Each case gets a fresh [`Target`] (a connector plus the SQL dialect details the suite needs)
//! and works in its own table, so cases run in parallel against one server.

#![allow(dead_code)]

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use nimue::PoolHooks;
use nimue::{params, Column, Connect, Connection, Cursor, Error, ErrorKind, TypeCode, Value};
use rust_decimal::Decimal;
use std::str::FromStr;

mod asynchronous;
mod derive;
mod integrity;
mod params;
#[allow(unused_imports)] // the `_on` forms: only where a native async adapter exists
pub use asynchronous::{
    async_pooled, async_statements, async_statements_on, async_transaction_panics,
    async_transaction_panics_on, async_transactions_and_cancellation,
    async_transactions_and_cancellation_on,
};
pub use derive::derived_rows;
pub use integrity::integrity_violations;
pub use params::{parameter_forms, single_rows};

/// The column types and quirks of one database, as the suite needs them.
#[derive(Debug, Clone)]
pub struct Dialect {
    pub name: &'static str,
    pub int: &'static str,
    pub float: &'static str,
    /// An exact decimal column that holds every `rust_decimal::Decimal` exactly: 29 digits
    /// before the point and 28 after.
    pub decimal: &'static str,
    pub text: &'static str,
    pub bytes: &'static str,
    pub boolean: &'static str,
    pub date: &'static str,
    pub time: &'static str,
    pub timestamp: &'static str,
    /// An auto-generated integer primary key column type.
    pub serial: &'static str,
    /// Whether `lastrowid` reports the id of an inserted row.
    pub has_lastrowid: bool,
    /// The cases of the suite this database (or its driver) cannot do. The adapter must refuse
    /// each with a `NotSupportedError`, and the suite asserts exactly that; a case not listed
    /// must work.
    pub not_supported: &'static [Case],
    /// The [`bad_input`] this database refuses, with the error class it refuses it with. The
    /// suite asserts exactly that class; bad input not listed must be accepted.
    pub rejects: &'static [(BadInput, ErrorKind)],
    /// The integrity violations whose errors name the constraint broken (for NOT NULL, the
    /// column): the native drivers' reports carry them; ODBC's give a message only.
    pub constraint_names: &'static [nimue::Violation],
}

/// PostgreSQL's dialect, for the binaries that run the suite on it (directly and through
/// PgBouncer; unused by the others).
#[allow(dead_code)]
pub const POSTGRES: Dialect = Dialect {
    name: "postgres",
    int: "BIGINT",
    float: "DOUBLE PRECISION",
    decimal: "NUMERIC(57, 28)",
    text: "TEXT",
    bytes: "BYTEA",
    boolean: "BOOLEAN",
    date: "DATE",
    time: "TIME",
    timestamp: "TIMESTAMP",
    serial: "BIGSERIAL PRIMARY KEY",
    has_lastrowid: false,
    // PostgreSQL's text types cannot hold a NUL byte.
    not_supported: &[Case::NulInText],
    rejects: &[
        (BadInput::TextForInt, ErrorKind::Data),
        (BadInput::BytesForInt, ErrorKind::Data),
    ],
    constraint_names: &[
        nimue::Violation::Unique,
        nimue::Violation::ForeignKey,
        nimue::Violation::NotNull,
        nimue::Violation::Check,
    ],
};

/// A case of the suite that a database may declare it cannot do (`Dialect::not_supported`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// Text with a NUL byte is stored and read back exactly ([`nul_in_text`]).
    NulInText,
}

/// The bad input [`bad_input`] sends; a database declares which it refuses
/// (`Dialect::rejects`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadInput {
    /// `'forty-two'` for an integer column.
    TextForInt,
    /// Three bytes for an integer column.
    BytesForInt,
    /// A NaN float for a text column.
    NanForText,
    /// A 40 MiB blob (larger than MariaDB's default `max_allowed_packet`, 16 MiB).
    HugeBlob,
}

/// What a test case runs against.
pub struct Target<K: Connect> {
    pub connector: K,
    pub dialect: Dialect,
    /// Whatever must live as long as the target (a temp dir, a server handle).
    pub _keep: Box<dyn std::any::Any>,
}

type Conn<K> = <K as Connect>::Connection;

fn connect<K: Connect>(t: &Target<K>) -> Conn<K> {
    t.connector.connect().expect("connect")
}

/// Drop and create `table` with `columns`, committed.
fn create<C: Connection>(conn: &mut C, table: &str, columns: &str) {
    conn.execute(&format!("DROP TABLE IF EXISTS {table}"), &[])
        .expect("drop table");
    conn.execute(&format!("CREATE TABLE {table} ({columns})"), &[])
        .expect("create table");
    conn.commit().expect("commit DDL");
}

fn count<C: Connection>(conn: &mut C, table: &str) -> i64 {
    let row = conn
        .query_row(&format!("SELECT COUNT(*) FROM {table}"), &[])
        .expect("count")
        .expect("a row");
    row.get(0).expect("an integer count")
}

/// The connection still works after an error (once the failed transaction is rolled back, as
/// PEP 249 drivers require on PostgreSQL).
fn assert_usable<C: Connection>(conn: &mut C) {
    conn.rollback().expect("rollback after error");
    let row = conn.query_row("SELECT 1", &[]).expect("query after error");
    assert_eq!(row.expect("one row").get::<i64>(0).unwrap(), 1);
}

fn expect_kind<T: std::fmt::Debug>(result: Result<T, Error>, kind: ErrorKind) -> Error {
    match result {
        Err(e) => {
            assert_eq!(e.kind(), kind, "wrong error class for: {e}");
            e
        }
        Ok(v) => panic!("expected a {kind}, got Ok({v:?})"),
    }
}

pub fn ddl_and_dml<K: Connect>(t: &Target<K>) {
    let mut conn = connect(t);
    let d = &t.dialect;
    let table = "nimue_conf_dml";
    create(
        &mut conn,
        table,
        &format!("id {} PRIMARY KEY, name {}", d.int, d.text),
    );
    let mut cur = conn.cursor().unwrap();
    for (id, name) in [(1, "one"), (2, "two"), (3, "three")] {
        cur.execute(
            &format!("INSERT INTO {table} (id, name) VALUES (?, ?)"),
            &params![id, name],
        )
        .unwrap();
        assert_eq!(cur.rowcount(), 1);
    }
    cur.execute(
        &format!("UPDATE {table} SET name = ? WHERE id = ?"),
        &params!["TWO", 2],
    )
    .unwrap();
    assert_eq!(cur.rowcount(), 1);
    cur.execute(&format!("DELETE FROM {table} WHERE id = ?"), &params![3])
        .unwrap();
    assert_eq!(cur.rowcount(), 1);
    cur.execute(&format!("SELECT id, name FROM {table} ORDER BY id"), &[])
        .unwrap();
    let rows = cur.fetchall().unwrap();
    let got: Vec<(i64, String)> = rows
        .iter()
        .map(|r| (r.get(0).unwrap(), r.get("name").unwrap()))
        .collect();
    assert_eq!(got, vec![(1, "one".to_string()), (2, "TWO".to_string())]);
    drop(cur);
    conn.commit().unwrap();
    conn.execute(&format!("DROP TABLE {table}"), &[]).unwrap();
    conn.commit().unwrap();
}

/// Every value of every type, and NULL of each, survives a round trip unchanged.
pub fn value_roundtrip<K: Connect>(t: &Target<K>) {
    let d = &t.dialect;
    let date = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
    let time = NaiveTime::from_hms_micro_opt(23, 59, 58, 123_456).unwrap();
    let cases: Vec<(&str, Vec<Value>)> = vec![
        (d.boolean, vec![true.into(), false.into()]),
        (
            d.int,
            vec![0.into(), i64::MAX.into(), i64::MIN.into(), (-42).into()],
        ),
        (d.float, vec![1.5.into(), (-2.25e10).into(), 0.0.into()]),
        (
            d.decimal,
            [
                "12345.6789",
                "-0.01",
                "0",
                // 28 significant digits, negative, with 18 of them fractional.
                "-1234567890.123456789012345678",
                // More than an 8-byte float holds (SQLite's NUMERIC affinity would round it).
                "12345678901234567890.123456",
                "0.0000000000000000000000000001",
                "-0.1234567890123456789012345678",
                "79228162514264337593543950335", // Decimal::MAX
                "-79228162514264337593543950335",
            ]
            .iter()
            .map(|s| Decimal::from_str(s).unwrap().into())
            .collect(),
        ),
        (
            d.text,
            vec![
                "plain".into(),
                "".into(),
                "héllo wörld ✓ 漢字 🎉 — \"quotes\" 'and' \\ backslash".into(),
            ],
        ),
        (
            d.bytes,
            vec![
                (0..=255u8).collect::<Vec<u8>>().into(),
                Vec::<u8>::new().into(),
            ],
        ),
        (
            d.date,
            vec![
                date.into(),
                NaiveDate::from_ymd_opt(1970, 1, 1).unwrap().into(),
            ],
        ),
        (d.time, vec![time.into(), NaiveTime::MIN.into()]),
        (
            d.timestamp,
            vec![
                NaiveDateTime::new(date, time).into(),
                NaiveDateTime::new(NaiveDate::from_ymd_opt(2000, 1, 1).unwrap(), NaiveTime::MIN)
                    .into(),
            ],
        ),
    ];
    let mut conn = connect(t);
    let table = "nimue_conf_values";
    for (sql_type, values) in cases {
        create(&mut conn, table, &format!("n {}, v {sql_type}", d.int));
        let mut cur = conn.cursor().unwrap();
        let mut expected = values.clone();
        expected.push(Value::Null);
        for (i, v) in expected.iter().enumerate() {
            cur.execute(
                &format!("INSERT INTO {table} (n, v) VALUES (?, ?)"),
                &[Value::Int(i as i64), v.clone()],
            )
            .unwrap_or_else(|e| panic!("insert {v:?} into a {sql_type} column: {e}"));
        }
        cur.execute(&format!("SELECT v FROM {table} ORDER BY n"), &[])
            .unwrap();
        let got: Vec<Value> = cur
            .fetchall()
            .unwrap()
            .into_iter()
            .map(|r| r.into_values().remove(0))
            .collect();
        assert_eq!(got, expected, "round trip through a {sql_type} column");
        drop(cur);
        conn.commit().unwrap();
    }
}

/// Typed reads: `Option<T>` for NULL, conversions within range, a DataError otherwise.
pub fn typed_rows<K: Connect>(t: &Target<K>) {
    let mut conn = connect(t);
    let d = &t.dialect;
    let table = "nimue_conf_typed";
    create(
        &mut conn,
        table,
        &format!("id {}, label {}, note {}", d.int, d.text, d.text),
    );
    conn.execute(
        &format!("INSERT INTO {table} (id, label, note) VALUES (?, ?, ?)"),
        &params![300, "x", None::<String>],
    )
    .unwrap();
    let row = conn
        .query_row(&format!("SELECT id, label, note FROM {table}"), &[])
        .unwrap()
        .unwrap();
    assert_eq!(row.get::<i32>("id").unwrap(), 300);
    assert_eq!(row.get::<Option<String>>("note").unwrap(), None);
    assert_eq!(row.get::<Option<String>>(1).unwrap().as_deref(), Some("x"));
    assert_eq!(row.get_by_name::<String>("LABEL").unwrap(), "x");
    expect_kind(row.get::<i8>("id"), ErrorKind::Data);
    expect_kind(row.get::<String>("note"), ErrorKind::Data);
    expect_kind(row.get::<i64>("label"), ErrorKind::Data);
    expect_kind(row.get::<i64>(9), ErrorKind::Programming);
    expect_kind(row.get::<i64>("missing"), ErrorKind::Programming);
    conn.rollback().unwrap();
}

/// Rows read in place (`map_rows`, `query_map`) give what `fetchall` gives, for every type,
/// in the rows a streaming cursor reads ahead and in those it takes straight from the driver;
/// a conversion error is `Row::get`'s, and the rows after it are still read.
pub fn mapped_rows<K: Connect>(t: &Target<K>) {
    let d = &t.dialect;
    let mut conn = connect(t);
    let table = "nimue_conf_mapped";
    create(
        &mut conn,
        table,
        &format!(
            "n {}, t {}, b {}, x {}, f {}, ts {}, ok {}",
            d.int, d.text, d.bytes, d.decimal, d.float, d.timestamp, d.boolean
        ),
    );
    let ts = NaiveDate::from_ymd_opt(2024, 2, 29)
        .unwrap()
        .and_hms_micro_opt(23, 59, 58, 123_456)
        .unwrap();
    let total = 150_i64;
    for i in 0..total {
        let row: Vec<Value> = if i % 7 == 3 {
            vec![
                i.into(),
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
            ]
        } else {
            vec![
                i.into(),
                format!("text ✓ {i}").into(),
                vec![0u8, 255, i as u8].into(),
                Decimal::new(i * 1001, 2).into(),
                (i as f64 / 4.0).into(),
                ts.into(),
                (i % 2 == 0).into(),
            ]
        };
        conn.execute(
            &format!("INSERT INTO {table} (n, t, b, x, f, ts, ok) VALUES (?, ?, ?, ?, ?, ?, ?)"),
            &row,
        )
        .unwrap();
    }
    let sql = format!("SELECT n, t, b, x, f, ts, ok FROM {table} ORDER BY n");
    let all = conn.query(&sql, &[]).unwrap();
    assert_eq!(all.len(), total as usize);
    let mapped = conn.query_map(&sql, &[], |row| row.to_row()).unwrap();
    assert_eq!(mapped, all, "every cell as fetchall reads it");
    type Typed = (
        i64,
        Option<String>,
        Option<Vec<u8>>,
        Option<Decimal>,
        Option<f64>,
    );
    let typed: Vec<Typed> = conn
        .query_map(&sql, &[], |row| {
            Ok((
                row.get(0)?,
                row.get("t")?,
                row.get(2)?,
                row.get(3)?,
                row.get("F")?,
            ))
        })
        .unwrap();
    let expected: Vec<Typed> = all
        .iter()
        .map(|r| {
            let typed: Typed = (
                r.get(0).unwrap(),
                r.get(1).unwrap(),
                r.get(2).unwrap(),
                r.get(3).unwrap(),
                r.get(4).unwrap(),
            );
            typed
        })
        .collect();
    assert_eq!(typed, expected);
    let mut cur = conn.cursor().unwrap();
    cur.execute(&sql, &[]).unwrap();
    let reads: Vec<Result<i64, Error>> = cur.map_rows(|row| row.get::<i64>("t")).unwrap().collect();
    assert_eq!(
        reads.len(),
        total as usize,
        "the rows after an error are read"
    );
    for read in reads {
        expect_kind(read, ErrorKind::Data);
    }
    assert_eq!(cur.rowcount(), total);
    cur.execute(&sql, &[]).unwrap();
    let first = cur
        .map_rows(|row| row.get::<i64>("missing"))
        .unwrap()
        .next();
    expect_kind(first.unwrap(), ErrorKind::Programming);
    cur.execute(&format!("DELETE FROM {table} WHERE n < 0"), &[])
        .unwrap();
    expect_kind(
        cur.map_rows(|row| row.get::<i64>(0)).map(drop),
        ErrorKind::Programming,
    );
    drop(cur);
    conn.commit().unwrap();
}

/// Large values and NUL-free unicode survive; the connection keeps working.
pub fn large_values<K: Connect>(t: &Target<K>) {
    let mut conn = connect(t);
    let d = &t.dialect;
    let table = "nimue_conf_large";
    create(&mut conn, table, &format!("b {}, s {}", d.bytes, d.text));
    let blob: Vec<u8> = (0..4 * 1024 * 1024)
        .map(|i: u32| (i * 7 % 251) as u8)
        .collect();
    let text: String = "ab✓漢🎉".repeat(100_000);
    conn.execute(
        &format!("INSERT INTO {table} (b, s) VALUES (?, ?)"),
        &params![blob.clone(), text.clone()],
    )
    .unwrap();
    let row = conn
        .query_row(&format!("SELECT b, s FROM {table}"), &[])
        .unwrap()
        .unwrap();
    assert_eq!(row.get::<Vec<u8>>(0).unwrap(), blob);
    assert_eq!(row.get::<String>(1).unwrap(), text);
    conn.commit().unwrap();
}

/// A wrong number of parameters is a ProgrammingError, never a panic.
pub fn parameter_count_mismatch<K: Connect>(t: &Target<K>) {
    let mut conn = connect(t);
    let d = &t.dialect;
    let table = "nimue_conf_params";
    create(&mut conn, table, &format!("a {}, b {}", d.int, d.int));
    let sql = format!("INSERT INTO {table} (a, b) VALUES (?, ?)");
    expect_kind(conn.execute(&sql, &params![1]), ErrorKind::Programming);
    assert_usable(&mut conn);
    expect_kind(
        conn.execute(&sql, &params![1, 2, 3]),
        ErrorKind::Programming,
    );
    assert_usable(&mut conn);
    expect_kind(
        conn.execute("SELECT 1", &params![1]),
        ErrorKind::Programming,
    );
    assert_usable(&mut conn);
    // Placeholders inside string literals are not parameters.
    let row = conn
        .query_row("SELECT '?' AS q, ? AS p", &params!["x"])
        .unwrap()
        .unwrap();
    assert_eq!(row.get::<String>("q").unwrap(), "?");
    assert_eq!(row.get::<String>("p").unwrap(), "x");
    conn.execute(&sql, &params![1, 2]).unwrap();
    assert_eq!(count(&mut conn, table), 1);
    conn.commit().unwrap();
}

/// Committed work is visible to another connection; rolled back work is not.
pub fn transactions<K: Connect>(t: &Target<K>) {
    let mut a = connect(t);
    let mut b = connect(t);
    let d = &t.dialect;
    let table = "nimue_conf_tx";
    create(&mut a, table, &format!("id {}", d.int));
    assert!(!a.autocommit(), "PEP 249: autocommit starts off");

    a.execute(&format!("INSERT INTO {table} (id) VALUES (?)"), &params![1])
        .unwrap();
    assert_eq!(count(&mut b, table), 0, "uncommitted insert is invisible");
    b.rollback().unwrap();
    a.commit().unwrap();
    assert_eq!(count(&mut b, table), 1, "committed insert is visible");
    b.rollback().unwrap();

    a.execute(&format!("INSERT INTO {table} (id) VALUES (?)"), &params![2])
        .unwrap();
    assert_eq!(count(&mut a, table), 2, "own uncommitted insert is visible");
    a.rollback().unwrap();
    assert_eq!(count(&mut a, table), 1, "rolled back insert is gone");
    assert_eq!(count(&mut b, table), 1);
    b.rollback().unwrap();

    // commit/rollback without a transaction are no-ops.
    a.commit().unwrap();
    a.rollback().unwrap();

    a.set_autocommit(true).unwrap();
    a.execute(&format!("INSERT INTO {table} (id) VALUES (?)"), &params![3])
        .unwrap();
    assert_eq!(
        count(&mut b, table),
        2,
        "autocommit insert is visible at once"
    );
    b.rollback().unwrap();
    a.set_autocommit(false).unwrap();
    a.execute(&format!("DELETE FROM {table}"), &[]).unwrap();
    a.rollback().unwrap();
    assert_eq!(count(&mut a, table), 2);
    a.commit().unwrap();
}

/// `Connection::transaction`: committed on `Ok`, rolled back on `Err` and on a panic (which
/// goes on), nested ones as savepoints, autocommit back as it was.
pub fn transaction_closures<K: Connect>(t: &Target<K>) {
    let mut a = connect(t);
    let mut b = connect(t);
    let d = &t.dialect;
    let table = "nimue_conf_txfn";
    create(&mut a, table, &format!("id {}", d.int));
    let insert = format!("INSERT INTO {table} (id) VALUES (?)");
    let ids = |conn: &mut Conn<K>| -> Vec<i64> {
        let ids = conn
            .query(&format!("SELECT id FROM {table} ORDER BY id"), &[])
            .unwrap()
            .iter()
            .map(|r| r.get(0).unwrap())
            .collect();
        conn.rollback().unwrap();
        ids
    };

    let got = a.transaction(|tx| {
        tx.execute(&insert, &params![1])?;
        Ok("done")
    });
    assert_eq!(got.unwrap(), "done");
    assert_eq!(ids(&mut b), [1], "committed on Ok");

    let err = a
        .transaction(|tx| -> nimue::Result<()> {
            tx.execute(&insert, &params![2])?;
            Err(Error::programming("changed my mind"))
        })
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Programming);
    assert_eq!(ids(&mut b), [1], "rolled back on Err");

    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = a.transaction(|tx| -> nimue::Result<()> {
            tx.execute(&insert, &params![3]).unwrap();
            panic!("in the middle");
        });
    }));
    assert!(panicked.is_err(), "the panic goes on");
    assert_eq!(ids(&mut b), [1], "rolled back on a panic");

    // Nested: a failed savepoint undoes only itself; an outer failure undoes everything,
    // even what a released savepoint did.
    a.transaction(|tx| {
        tx.execute(&insert, &params![4])?;
        let inner = tx.transaction(|inner| -> nimue::Result<()> {
            inner.execute(&insert, &params![5])?;
            Err(Error::programming("not this one"))
        });
        assert!(inner.is_err());
        tx.transaction(|inner| inner.execute(&insert, &params![6]).map(drop))
    })
    .unwrap();
    assert_eq!(
        ids(&mut b),
        [1, 4, 6],
        "the failed savepoint alone was undone"
    );
    let outer = a.transaction(|tx| -> nimue::Result<()> {
        tx.transaction(|inner| inner.execute(&insert, &params![7]).map(drop))?;
        Err(Error::programming("all of it, after all"))
    });
    assert!(outer.is_err());
    assert_eq!(
        ids(&mut b),
        [1, 4, 6],
        "a released savepoint is undone with its transaction"
    );

    // Autocommit: off inside, back on after.
    a.set_autocommit(true).unwrap();
    a.transaction(|tx| {
        assert!(!tx.autocommit());
        tx.execute(&insert, &params![8]).map(drop)
    })
    .unwrap();
    assert!(a.autocommit());
    assert_eq!(ids(&mut b), [1, 4, 6, 8]);
}

/// fetchone / fetchmany / fetchall hand out every row exactly once, in order.
pub fn fetch_sizes<K: Connect>(t: &Target<K>) {
    let mut conn = connect(t);
    let d = &t.dialect;
    let table = "nimue_conf_fetch";
    create(&mut conn, table, &format!("id {}", d.int));
    let mut cur = conn.cursor().unwrap();
    let rows: Vec<Vec<Value>> = (0..10).map(|i| vec![Value::Int(i)]).collect();
    cur.executemany(&format!("INSERT INTO {table} (id) VALUES (?)"), &rows)
        .unwrap();
    assert_eq!(cur.rowcount(), 10);
    cur.execute(&format!("SELECT id FROM {table} ORDER BY id"), &[])
        .unwrap();
    let ids =
        |rows: Vec<nimue::Row>| -> Vec<i64> { rows.iter().map(|r| r.get(0).unwrap()).collect() };
    assert_eq!(cur.arraysize(), 1);
    assert_eq!(ids(cur.fetchmany(cur.arraysize()).unwrap()), vec![0]);
    cur.set_arraysize(3);
    assert_eq!(ids(cur.fetchmany(cur.arraysize()).unwrap()), vec![1, 2, 3]);
    assert_eq!(cur.fetchone().unwrap().unwrap().get::<i64>(0).unwrap(), 4);
    assert_eq!(ids(cur.fetchmany(4).unwrap()), vec![5, 6, 7, 8]);
    assert_eq!(ids(cur.fetchmany(4).unwrap()), vec![9]);
    assert!(cur.fetchmany(4).unwrap().is_empty());
    assert!(cur.fetchone().unwrap().is_none());
    assert!(cur.fetchall().unwrap().is_empty());
    cur.execute(&format!("SELECT id FROM {table} ORDER BY id"), &[])
        .unwrap();
    assert_eq!(cur.fetchone().unwrap().unwrap().get::<i64>(0).unwrap(), 0);
    assert_eq!(ids(cur.fetchall().unwrap()), (1..10).collect::<Vec<_>>());
    // Fetching after a statement without a result set is a ProgrammingError.
    cur.execute(&format!("DELETE FROM {table} WHERE id > ?"), &params![100])
        .unwrap();
    expect_kind(cur.fetchone(), ErrorKind::Programming);
    drop(cur);
    conn.commit().unwrap();
}

/// `description` names the columns with PEP 249 type codes; it is `None` after DML.
pub fn description<K: Connect>(t: &Target<K>) {
    let mut conn = connect(t);
    let d = &t.dialect;
    let table = "nimue_conf_desc";
    create(
        &mut conn,
        table,
        &format!(
            "i {}, s {}, b {}, ts {}, f {}",
            d.int, d.text, d.bytes, d.timestamp, d.float
        ),
    );
    let mut cur = conn.cursor().unwrap();
    assert!(cur.description().is_none(), "nothing executed yet");
    cur.execute(&format!("SELECT i, s, b, ts, f AS alias FROM {table}"), &[])
        .unwrap();
    let desc: Vec<Column> = cur
        .description()
        .expect("a query has a description")
        .to_vec();
    let names: Vec<&str> = desc.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["i", "s", "b", "ts", "alias"]);
    let codes: Vec<Option<TypeCode>> = desc.iter().map(|c| c.type_code).collect();
    assert_eq!(
        codes,
        [
            Some(TypeCode::Number),
            Some(TypeCode::String),
            Some(TypeCode::Binary),
            Some(TypeCode::Datetime),
            Some(TypeCode::Number)
        ]
    );
    assert_eq!(cur.rowcount(), 0, "an empty result has no rows");
    cur.execute(&format!("INSERT INTO {table} (i) VALUES (?)"), &params![1])
        .unwrap();
    assert!(cur.description().is_none(), "DML has no description");
    drop(cur);
    conn.commit().unwrap();
}

/// rowcount and lastrowid for each kind of statement.
pub fn rowcount_and_lastrowid<K: Connect>(t: &Target<K>) {
    let mut conn = connect(t);
    let d = &t.dialect;
    let table = "nimue_conf_rowcount";
    create(&mut conn, table, &format!("id {}, grp {}", d.int, d.int));
    let mut cur = conn.cursor().unwrap();
    assert_eq!(cur.rowcount(), -1, "nothing executed yet");
    let rows: Vec<Vec<Value>> = (1..=5).map(|i| params![i, i % 2].to_vec()).collect();
    cur.executemany(
        &format!("INSERT INTO {table} (id, grp) VALUES (?, ?)"),
        &rows,
    )
    .unwrap();
    assert_eq!(cur.rowcount(), 5);
    cur.execute(
        &format!("UPDATE {table} SET grp = 7 WHERE grp = ?"),
        &params![1],
    )
    .unwrap();
    assert_eq!(cur.rowcount(), 3);
    cur.execute(&format!("DELETE FROM {table} WHERE id > ?"), &params![100])
        .unwrap();
    assert_eq!(cur.rowcount(), 0);
    cur.execute(&format!("SELECT id FROM {table}"), &[])
        .unwrap();
    assert_eq!(cur.rowcount(), 5);
    drop(cur);
    conn.commit().unwrap();

    let table = "nimue_conf_lastrowid";
    create(&mut conn, table, &format!("id {}, v {}", d.serial, d.int));
    let mut cur = conn.cursor().unwrap();
    let insert = format!("INSERT INTO {table} (v) VALUES (?)");
    cur.execute(&insert, &params![10]).unwrap();
    let first = cur.lastrowid();
    cur.execute(&insert, &params![20]).unwrap();
    let second = cur.lastrowid();
    if d.has_lastrowid {
        let (first, second) = (first.expect("a row id"), second.expect("a row id"));
        assert_eq!(second, first + 1);
        cur.execute(
            &format!("SELECT v FROM {table} WHERE id = ?"),
            &params![second],
        )
        .unwrap();
        assert_eq!(cur.fetchone().unwrap().unwrap().get::<i64>(0).unwrap(), 20);
    } else {
        assert_eq!((first, second), (None, None));
    }
    cur.execute(&format!("SELECT v FROM {table}"), &[]).unwrap();
    assert_eq!(cur.lastrowid(), None, "a query has no row id");

    // A statement that changes rows and returns them (PostgreSQL, SQLite >= 3.35 and
    // MariaDB >= 10.5 have `RETURNING`): executemany's rowcount counts them as it counts
    // the rows of one that returns nothing, on every database.
    let returning = format!("INSERT INTO {table} (v) VALUES (?) RETURNING v");
    let sets: Vec<Vec<Value>> = (1..=3).map(|i| vec![Value::Int(i * 100)]).collect();
    cur.executemany(&returning, &sets).unwrap();
    assert_eq!(cur.rowcount(), 3, "executemany of INSERT ... RETURNING");
    drop(cur);
    conn.commit().unwrap();
}

/// Bad SQL, missing tables and constraint violations raise the right class, and the
/// connection keeps working (with its committed data intact) after each.
pub fn error_kinds<K: Connect>(t: &Target<K>) {
    let mut conn = connect(t);
    let d = &t.dialect;
    let table = "nimue_conf_errors";
    create(
        &mut conn,
        table,
        &format!("id {} PRIMARY KEY, name {} NOT NULL", d.int, d.text),
    );
    conn.execute(
        &format!("INSERT INTO {table} VALUES (?, ?)"),
        &params![1, "a"],
    )
    .unwrap();
    conn.commit().unwrap();

    expect_kind(
        conn.execute("SELEC nonsense FROM", &[]),
        ErrorKind::Programming,
    );
    assert_usable(&mut conn);
    expect_kind(
        conn.execute("SELECT * FROM nimue_no_such_table", &[]),
        ErrorKind::Programming,
    );
    assert_usable(&mut conn);
    let dup = expect_kind(
        conn.execute(
            &format!("INSERT INTO {table} VALUES (?, ?)"),
            &params![1, "b"],
        ),
        ErrorKind::Integrity,
    );
    assert!(dup.kind().is_database());
    assert_usable(&mut conn);
    expect_kind(
        conn.execute(
            &format!("INSERT INTO {table} VALUES (?, ?)"),
            &params![2, None::<String>],
        ),
        ErrorKind::Integrity,
    );
    assert_usable(&mut conn);
    assert_eq!(
        count(&mut conn, table),
        1,
        "committed data survives the errors"
    );
    conn.execute(
        &format!("INSERT INTO {table} VALUES (?, ?)"),
        &params![2, "b"],
    )
    .unwrap();
    conn.commit().unwrap();
    assert_eq!(count(&mut conn, table), 2);
    conn.commit().unwrap();
}

/// The pool hooks: ping works, a healthy connection is not broken, reset rolls back.
pub fn pool_hooks<K: Connect>(t: &Target<K>) {
    let mut conn = connect(t);
    let d = &t.dialect;
    let table = "nimue_conf_hooks";
    create(&mut conn, table, &format!("id {}", d.int));
    conn.ping().unwrap();
    assert!(!conn.is_broken());
    conn.execute(&format!("INSERT INTO {table} (id) VALUES (1)"), &[])
        .unwrap();
    conn.reset().unwrap();
    assert_eq!(count(&mut conn, table), 0, "reset rolled the insert back");
    assert_eq!(nimue::PARAMSTYLE, "qmark");
    conn.commit().unwrap();
    conn.close().unwrap();
}

/// Text with a NUL byte in it is stored and read back exactly, or, where the dialect
/// declares [`Case::NulInText`] not supported, refused with a NotSupportedError before
/// anything is stored (never cut at the NUL).
pub fn nul_in_text<K: Connect>(t: &Target<K>) {
    let mut conn = connect(t);
    let d = &t.dialect;
    let table = "nimue_conf_nul";
    create(&mut conn, table, &format!("s {}", d.text));
    let nul = "before\0after";
    let result = conn.execute(
        &format!("INSERT INTO {table} (s) VALUES (?)"),
        &params![nul],
    );
    if d.not_supported.contains(&Case::NulInText) {
        expect_kind(result, ErrorKind::NotSupported);
        assert!(
            !conn.is_broken(),
            "a refused parameter leaves the connection working"
        );
        assert_usable(&mut conn);
        assert_eq!(count(&mut conn, table), 0, "nothing was stored");
    } else {
        result.unwrap_or_else(|e| {
            panic!("{}: storing text with a NUL byte failed ({e}); if the driver cannot, its adapter must say NotSupported and the dialect declare Case::NulInText", d.name)
        });
        let row = conn
            .query_row(&format!("SELECT s FROM {table}"), &[])
            .unwrap()
            .expect("the inserted row");
        assert_eq!(row.get::<String>(0).unwrap(), nul);
    }
    conn.rollback().unwrap();
}

/// Bad input: values of the wrong type, values too big for the server. Each is accepted or
/// refused exactly as the dialect declares (`Dialect::rejects`), and afterwards the connection
/// is usable again or says it is broken (so a pool discards it): never a panic, never a
/// connection that passes the pool's return checks but is unusable.
pub fn bad_input<K: Connect>(t: &Target<K>) {
    let mut conn = connect(t);
    let d = &t.dialect;
    let table = "nimue_conf_bad";
    create(
        &mut conn,
        table,
        &format!("i {}, s {}, b {}", d.int, d.text, d.bytes),
    );
    let insert_s = format!("INSERT INTO {table} (s) VALUES (?)");
    let insert_i = format!("INSERT INTO {table} (i) VALUES (?)");
    let insert_b = format!("INSERT INTO {table} (b) VALUES (?)");
    let cases: Vec<(BadInput, String, Vec<Value>)> = vec![
        (
            BadInput::TextForInt,
            insert_i.clone(),
            params!["forty-two"].to_vec(),
        ),
        (
            BadInput::BytesForInt,
            insert_i,
            params![vec![1u8, 2, 3]].to_vec(),
        ),
        (BadInput::NanForText, insert_s, params![f64::NAN].to_vec()),
        (
            BadInput::HugeBlob,
            insert_b,
            params![vec![7u8; 40 << 20]].to_vec(),
        ),
    ];
    for (what, sql, params) in cases {
        let refused = d.rejects.iter().find(|(input, _)| *input == what);
        match (conn.execute(&sql, &params), refused) {
            (Ok(_), None) => {}
            (Err(e), Some((_, kind))) => {
                assert_eq!(e.kind(), *kind, "{}: {what:?} refused with: {e}", d.name)
            }
            (Ok(_), Some((_, kind))) => {
                panic!(
                    "{}: {what:?} was accepted, the dialect declares a {kind}",
                    d.name
                )
            }
            (Err(e), None) => panic!(
                "{}: {what:?} was refused ({:?}: {e}), the dialect declares it accepted",
                d.name,
                e.kind()
            ),
        }
        // What the pool does on return: discard if broken, else reset (and discard if that
        // fails). A connection that survives both must work.
        if conn.is_broken() || conn.reset().is_err() {
            conn = connect(t);
        }
        assert_usable(&mut conn);
    }
    conn.rollback().unwrap();
}

/// Generate one `#[test]` per conformance case. `$setup` is an expression returning
/// `Option<Target<K>>` (`None`: the database is not available here, the case is skipped).
macro_rules! conformance_tests {
    ($setup:expr) => {
        $crate::conformance::conformance_tests!(@cases $setup;
            ddl_and_dml, value_roundtrip, typed_rows, mapped_rows, large_values,
            parameter_count_mismatch, transaction_closures,
            transactions, fetch_sizes, description, rowcount_and_lastrowid, error_kinds,
            pool_hooks, nul_in_text, bad_input, parameter_forms, single_rows,
            derived_rows, integrity_violations, async_statements,
            async_transactions_and_cancellation, async_transaction_panics, async_pooled);
    };
    (@cases $setup:expr; $($case:ident),*) => {$(
        #[test]
        fn $case() {
            if let Some(target) = $setup {
                crate::conformance::$case(&target);
            }
        }
    )*};
}
pub(crate) use conformance_tests;

/// The async cases on a native async adapter: `$connector` makes its async connector from the
/// target.
#[allow(unused_macros)]
macro_rules! native_async_tests {
    ($setup:expr, $connector:expr) => {
        $crate::conformance::native_async_tests!(@cases $setup; $connector;
            async_statements_on, async_transactions_and_cancellation_on,
            async_transaction_panics_on);
    };
    (@cases $setup:expr; $connector:expr; $($case:ident),*) => {
        mod native_async {
            use super::*;
            $(
                #[test]
                fn $case() {
                    if let Some(target) = $setup {
                        let connector = ($connector)(&target);
                        crate::conformance::$case(&target, &connector);
                    }
                }
            )*
        }
    };
}
#[allow(unused_imports)]
pub(crate) use native_async_tests;
