//! The types Rust users bring (issue 19): chrono's `DateTime`, `uuid::Uuid`,
//! `serde_json::Value` and the `time` crate's types round-trip through real columns of each
//! database's own types; PostgreSQL columns nimue has no type for (arrays, inet, interval,
//! enums, ...) read as the text PostgreSQL itself prints for them.

#![cfg(all(feature = "uuid", feature = "json", feature = "time"))]

mod common;

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use nimue::{params, Connect, Connection};

/// Each database's column types for the round trip: timestamptz, uuid, json, date, time,
/// timestamp.
struct Columns(&'static str);

const SQLITE: Columns = Columns("at TEXT, u TEXT, j TEXT, d TEXT, t TEXT, ts TEXT");
const POSTGRES: Columns = Columns("at timestamptz, u uuid, j jsonb, d date, t time, ts timestamp");
const MARIADB: Columns =
    Columns("at DATETIME(6), u UUID, j JSON, d DATE, t TIME(6), ts DATETIME(6)");

fn round_trip<C: Connection>(conn: &mut C, columns: Columns) {
    conn.set_autocommit(true).unwrap();
    conn.execute("DROP TABLE IF EXISTS nimue_types", &[])
        .unwrap();
    let ddl = format!("CREATE TABLE nimue_types (id INT, {})", columns.0);
    conn.execute(&ddl, &[]).unwrap();

    let at: DateTime<Utc> = Utc.with_ymd_and_hms(2026, 11, 30, 17, 5, 9).unwrap()
        + chrono::Duration::microseconds(123_456);
    let id = uuid::Uuid::parse_str("67e55044-10b1-426f-9247-bb680e5fe0c8").unwrap();
    let json = serde_json::json!({"name": "ada", "tags": [1, 2, null]});
    let date = time::macros::date!(2024 - 02 - 29);
    let clock = time::macros::time!(23:59:58.25);
    let stamp = time::macros::datetime!(1999-12-31 23:59:59.5);
    conn.execute(
        "INSERT INTO nimue_types VALUES (?, ?, ?, ?, ?, ?, ?)",
        &params![1, at, id, &json, date, clock, stamp],
    )
    .unwrap();

    let row = conn
        .query_row(
            "SELECT at, u, j, d, t, ts FROM nimue_types WHERE id = ?",
            &params![1],
        )
        .unwrap()
        .expect("the row");
    assert_eq!(row.get::<DateTime<Utc>>(0).unwrap(), at);
    let fixed: DateTime<FixedOffset> = row.get(0).unwrap();
    assert_eq!(fixed, at, "the same instant");
    assert_eq!(
        row.get::<time::OffsetDateTime>(0).unwrap().unix_timestamp(),
        at.timestamp()
    );
    assert_eq!(row.get::<uuid::Uuid>(1).unwrap(), id);
    assert_eq!(row.get::<serde_json::Value>(2).unwrap(), json);
    assert_eq!(row.get::<time::Date>(3).unwrap(), date);
    assert_eq!(row.get::<time::Time>(4).unwrap(), clock);
    assert_eq!(row.get::<time::PrimitiveDateTime>(5).unwrap(), stamp);

    // A parameter compared with the column: the server (or SQLite) matches it.
    let n: i64 = conn
        .query_row("SELECT COUNT(*) FROM nimue_types WHERE u = ?", &params![id])
        .unwrap()
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(n, 1);
    // Not a UUID: a DataError naming it, not a panic or a wrong value.
    let err = row.get::<uuid::Uuid>(2).unwrap_err();
    assert_eq!(err.kind(), nimue::ErrorKind::Data, "{err}");
    conn.execute("DROP TABLE nimue_types", &[]).unwrap();
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_round_trips_the_types_users_bring() {
    let mut conn = nimue::sqlite::SqliteConnector::memory().connect().unwrap();
    round_trip(&mut conn, SQLITE);
}

/// A connection to the test PostgreSQL server (`None`: not configured, outside CI).
#[cfg(feature = "postgres")]
fn postgres() -> Option<nimue::postgres::PgConnection> {
    let url = common::server_env("NIMUE_TEST_POSTGRES_URL")?;
    Some(
        nimue::postgres::PgConnector::from_url(&url)
            .unwrap()
            .connect()
            .unwrap(),
    )
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_round_trips_the_types_users_bring() {
    let Some(mut conn) = postgres() else {
        return;
    };
    round_trip(&mut conn, POSTGRES);
}

#[cfg(feature = "mysql")]
#[test]
fn mariadb_round_trips_the_types_users_bring() {
    let Some(url) = common::server_env("NIMUE_TEST_MYSQL_URL") else {
        return;
    };
    let connector = nimue::mysql::MySqlConnector::from_url(&url).unwrap();
    round_trip(&mut connector.connect().unwrap(), MARIADB);
}

/// Each value, and PostgreSQL's own text of it: nimue reads the first as the second.
#[cfg(feature = "postgres")]
#[test]
fn postgres_types_without_a_value_type_read_as_their_text() {
    let Some(mut conn) = postgres() else {
        return;
    };
    conn.set_autocommit(true).unwrap();
    conn.execute("DROP TYPE IF EXISTS nimue_mood", &[]).unwrap();
    conn.execute("CREATE TYPE nimue_mood AS ENUM ('sad', 'happy')", &[])
        .unwrap();
    let expressions = [
        "ARRAY[1, 2, NULL]::int4[]",
        "ARRAY[['a b', 'c'], ['', 'NULL']]",
        "ARRAY['say \"hi\"', 'back\\slash']",
        "ARRAY[true, false]",
        "ARRAY[1.5, -2]::numeric[]",
        "'{}'::int8[]",
        "'10.1.2.3'::inet",
        "'10.1.2.3/16'::inet",
        "'10.0.0.0/8'::cidr",
        "'::1'::inet",
        "interval '1 year 2 mons 3 days 04:05:06.5'",
        "interval '-1 day'",
        "interval '0'",
        "interval '-00:00:01.25'",
        "'08:00:2b:01:02:03'::macaddr",
        "point(1.5, -2)",
        "'happy'::nimue_mood",
        "ARRAY['sad', 'happy']::nimue_mood[]",
        "ARRAY['10.0.0.1'::inet, '::1']",
        "'x'::\"char\"",
    ];
    for expr in expressions {
        // format() prints with the type's output function: what psql shows (a `::text`
        // cast of inet differs from it).
        let sql = format!("SELECT {expr}, format('%s', {expr})");
        let row = conn.query_row(&sql, &[]).unwrap().expect("a row");
        let (ours, theirs): (String, String) = row.parse().unwrap();
        assert_eq!(ours, theirs, "{expr}");
    }
    // In place too (the typed path reads the same text).
    let texts: Vec<String> = conn
        .query_map("SELECT ARRAY[1, 2]::int8[]", &[], |row| row.get(0))
        .unwrap();
    assert_eq!(texts, ["{1,2}"]);
    // A type with no text here is still a clear error, with the way out.
    let err = conn.query_row("SELECT ROW(1, 'a')", &[]).unwrap_err();
    assert!(err.to_string().contains("::text"), "{err}");
    conn.execute("DROP TYPE nimue_mood", &[]).unwrap();
}
