//! ODBC-specific behaviour through unixODBC with real drivers (set up by scripts/test.sh,
//! scripts/lib/odbc.sh): missing drivers and data sources, a data source by name, credentials,
//! the pool hooks after errors and lost connections, batched and piecewise fetching, column
//! metadata.

#![cfg(feature = "odbc")]

mod common;

use chrono::{NaiveDate, NaiveTime};
use nimue::odbc::{OdbcConnection, OdbcConnector};
use nimue::PoolHooks;
use nimue::{params, Connect, Connection, Cursor, Error, ErrorKind, TypeCode, Value};
use rust_decimal::Decimal;
use std::str::FromStr;

fn postgres() -> Option<String> {
    common::server_env("NIMUE_TEST_ODBC_POSTGRES")
}

/// The SQLite connection string, on a fresh database file in `dir`.
fn sqlite(dir: &tempfile::TempDir) -> Option<String> {
    let base = common::server_env("NIMUE_TEST_ODBC_SQLITE")?;
    let driver = base.split(';').next().expect("Driver=... first");
    Some(format!(
        "{driver};Database={};",
        dir.path().join("odbc.db").display()
    ))
}

fn connect(connection_string: &str) -> OdbcConnection {
    OdbcConnector::new(connection_string)
        .connect()
        .expect("connect")
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

/// `connection_string` with its `Pwd` replaced.
fn with_password(connection_string: &str, password: &str) -> String {
    connection_string
        .split(';')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            if pair.to_ascii_lowercase().starts_with("pwd=") {
                format!("Pwd={{{password}}}")
            } else {
                pair.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(";")
        + ";"
}

#[test]
fn debug_never_shows_the_password() {
    for connector in [
        OdbcConnector::new("Driver={PostgreSQL Unicode};Server=h;Uid=app;Pwd=s3cret-1;"),
        OdbcConnector::new("DRIVER=x;PASSWORD={s3cret-1;still};UID=app"),
        OdbcConnector::from_url("odbc:Driver={X};pwd=s3cret-1").unwrap(),
        OdbcConnector::dsn("warehouse").credentials("app", "s3cret-1"),
    ] {
        let shown = format!("{connector:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("=***"), "{shown}");
    }
}

#[test]
fn a_missing_driver_is_an_interface_error_saying_what_to_install() {
    // Any ODBC variable means unixODBC is set up here.
    if common::server_env("NIMUE_TEST_ODBC_SQLITE").is_none() {
        return;
    }
    let e = expect_kind(
        OdbcConnector::new("Driver={Nimue No Such Driver};Database=x;").connect(),
        ErrorKind::Interface,
    );
    let text = e.to_string();
    assert!(text.contains("Nimue No Such Driver"), "{text}");
    assert!(text.contains("could not be loaded"), "{text}");
    assert!(
        text.contains("SQLite3"),
        "lists the installed drivers: {text}"
    );
    assert!(text.contains("odbc-postgresql"), "names packages: {text}");

    let e = expect_kind(
        OdbcConnector::dsn("nimue_no_such_dsn").connect(),
        ErrorKind::Interface,
    );
    let text = e.to_string();
    assert!(text.contains("IM002"), "{text}");
    assert!(text.contains("no data source or driver"), "{text}");
}

/// A data source defined in odbc.ini: scripts/lib/odbc.sh writes a user-level one (ODBCINI)
/// for the PostgreSQL server, credentials included. Reached by `OdbcConnector::dsn` and by an
/// `odbc:NAME` URL; the credentials of `credentials()` override the data source's.
#[test]
fn connects_to_a_data_source_by_name() {
    let Some(dsn) = common::server_env("NIMUE_TEST_ODBC_DSN") else {
        return;
    };
    let mut conn = OdbcConnector::dsn(&dsn)
        .connect()
        .unwrap_or_else(|e| panic!("connect to the data source {dsn:?}: {e}"));
    assert_eq!(conn.dbms_name(), "PostgreSQL");
    let row = conn
        .query_row(
            "SELECT CAST(? AS INT8) * 2 AS n, current_user AS who",
            &params![21],
        )
        .unwrap()
        .expect("one row");
    assert_eq!(row.get::<i64>("n").unwrap(), 42);
    assert_eq!(row.get::<String>("who").unwrap(), "nimue");
    conn.rollback().unwrap();

    let mut any = nimue::any::connector(&format!("odbc:{dsn}"))
        .expect("an odbc: URL")
        .connect()
        .expect("connect by odbc:NAME");
    let row = any.query_row("SELECT 1", &[]).unwrap().expect("one row");
    assert_eq!(row.get::<i64>(0).unwrap(), 1);

    let e = expect_kind(
        OdbcConnector::dsn(&dsn)
            .credentials("nimue", "not-the-password")
            .connect(),
        ErrorKind::Operational,
    );
    assert!(
        e.to_string().contains("password authentication failed"),
        "{e}"
    );
}

#[test]
fn a_wrong_password_is_an_operational_error_naming_the_cause() {
    let Some(good) = postgres() else { return };
    let e = expect_kind(
        OdbcConnector::new(with_password(&good, "not-the-password")).connect(),
        ErrorKind::Operational,
    );
    assert_eq!(e.sqlstate(), Some("08001"));
    assert!(
        e.to_string().contains("password authentication failed"),
        "{e}"
    );
    assert!(!e.to_string().contains("not-the-password"), "{e}");
    // The right password still works (nothing cached the failure).
    let mut conn = connect(&good);
    conn.ping().unwrap();
}

#[test]
fn an_unreachable_server_is_an_operational_error() {
    let Some(good) = postgres() else { return };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let unreachable: String = good
        .split(';')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            if pair.to_ascii_lowercase().starts_with("port=") {
                format!("Port={port}")
            } else {
                pair.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(";");
    let e = expect_kind(
        OdbcConnector::new(unreachable).connect(),
        ErrorKind::Operational,
    );
    assert!(e.to_string().contains("refused"), "{e}");
}

/// Errors of every class leave the connection usable; ping works throughout and never leaves
/// a transaction open.
fn usable_after_errors(conn: &mut OdbcConnection) {
    conn.ping().unwrap();
    assert!(!conn.is_broken());
    conn.execute("DROP TABLE IF EXISTS nimue_odbc_errors", &[])
        .unwrap();
    conn.execute(
        "CREATE TABLE nimue_odbc_errors (id BIGINT PRIMARY KEY, name VARCHAR(20) NOT NULL)",
        &[],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO nimue_odbc_errors VALUES (?, ?)",
        &params![1, "one"],
    )
    .unwrap();
    conn.commit().unwrap();

    expect_kind(conn.execute("SELEC 1", &[]), ErrorKind::Programming);
    // Inside the failed transaction, ping still reports a live connection.
    conn.ping().unwrap();
    conn.rollback().unwrap();
    expect_kind(
        conn.execute(
            "INSERT INTO nimue_odbc_errors VALUES (?, ?)",
            &params![1, "dup"],
        ),
        ErrorKind::Integrity,
    );
    conn.rollback().unwrap();
    expect_kind(
        conn.execute("SELECT 1 FROM nimue_odbc_errors WHERE id = ?", &[]),
        ErrorKind::Programming,
    );
    conn.rollback().unwrap();
    assert!(!conn.is_broken());
    conn.ping().unwrap();
    let row = conn
        .query_row(
            "SELECT name FROM nimue_odbc_errors WHERE id = ?",
            &params![1],
        )
        .unwrap()
        .unwrap();
    assert_eq!(row.get::<String>(0).unwrap(), "one");
    conn.rollback().unwrap();

    // ping opens no transaction: turning autocommit on right after it is allowed.
    conn.ping().unwrap();
    conn.set_autocommit(true).unwrap();
    conn.execute(
        "INSERT INTO nimue_odbc_errors VALUES (?, ?)",
        &params![2, "two"],
    )
    .unwrap();
    conn.reset().unwrap();
    assert!(!conn.autocommit(), "reset turns autocommit back off");
    conn.execute("DROP TABLE nimue_odbc_errors", &[]).unwrap();
    conn.commit().unwrap();
}

#[test]
fn postgres_ping_and_usable_after_errors() {
    let Some(cs) = postgres() else { return };
    let mut conn = connect(&cs);
    assert_eq!(conn.dbms_name(), "PostgreSQL");
    usable_after_errors(&mut conn);
}

#[test]
fn sqlite_ping_and_usable_after_errors() {
    let dir = tempfile::tempdir().unwrap();
    let Some(cs) = sqlite(&dir) else { return };
    let mut conn = connect(&cs);
    assert_eq!(conn.dbms_name(), "SQLite");
    usable_after_errors(&mut conn);
}

#[test]
fn a_terminated_backend_marks_the_connection_broken() {
    let Some(cs) = postgres() else { return };
    let mut victim = connect(&cs);
    let mut admin = connect(&cs);
    let pid: i64 = victim
        .query_row("SELECT pg_backend_pid()", &[])
        .unwrap()
        .unwrap()
        .get(0)
        .unwrap();
    victim.rollback().unwrap();
    admin
        .execute("SELECT pg_terminate_backend(?)", &params![pid])
        .unwrap();
    admin.commit().unwrap();
    // The backend is gone once the server stops listing it.
    for _ in 0..100 {
        let row = admin
            .query_row(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE pid = ?",
                &params![pid],
            )
            .unwrap()
            .unwrap();
        admin.rollback().unwrap();
        if row.get::<i64>(0).unwrap() == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let e = expect_kind(victim.query("SELECT 1", &[]), ErrorKind::Operational);
    assert!(e.to_string().contains("lost"), "{e}");
    assert!(victim.is_broken());
    expect_kind(victim.ping(), ErrorKind::Operational);
    // Dropping a dead connection neither panics nor hangs.
    drop(victim);
    admin.ping().unwrap();
}

#[test]
fn bounded_columns_are_fetched_in_batches() {
    let Some(cs) = postgres() else { return };
    let mut conn = connect(&cs);
    assert!(conn.binds_variable_size_columns());
    conn.execute("DROP TABLE IF EXISTS nimue_odbc_batch", &[])
        .unwrap();
    conn.execute(
        "CREATE TABLE nimue_odbc_batch (id BIGINT, label VARCHAR(20), price NUMERIC(10, 2), \
         ok BOOLEAN, day DATE, at TIME, stamp TIMESTAMP, ratio DOUBLE PRECISION)",
        &[],
    )
    .unwrap();
    let day = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
    let row = |i: i64| -> Vec<Value> {
        if i % 7 == 0 {
            let mut nulls = vec![Value::Null; 8];
            nulls[0] = Value::Int(i);
            return nulls;
        }
        let time = NaiveTime::from_hms_micro_opt(1, 2, 3, (i % 1000) as u32 * 1000).unwrap();
        params![
            i,
            format!("label ✓ {i}"),
            Decimal::new(i * 101, 2),
            i % 2 == 0,
            day + chrono::Days::new(i as u64 % 30),
            time,
            day.and_time(time),
            i as f64 / 4.0
        ]
        .to_vec()
    };
    // More rows than one batch holds.
    let rows: Vec<Vec<Value>> = (0..2500).map(row).collect();
    let mut cur = conn.cursor().unwrap();
    cur.executemany(
        "INSERT INTO nimue_odbc_batch VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        &rows,
    )
    .unwrap();
    assert_eq!(cur.rowcount(), 2500);
    cur.execute("SELECT * FROM nimue_odbc_batch ORDER BY id", &[])
        .unwrap();
    assert_eq!(cur.rowcount(), 2500);
    let got: Vec<Vec<Value>> = cur
        .fetchall()
        .unwrap()
        .into_iter()
        .map(|r| r.into_values())
        .collect();
    assert_eq!(got.len(), rows.len());
    for (got, want) in got.iter().zip(&rows) {
        assert_eq!(got, want);
    }
    drop(cur);
    conn.execute("DROP TABLE nimue_odbc_batch", &[]).unwrap();
    conn.commit().unwrap();
}

/// Values far longer than what the driver reports for their column are read whole.
#[test]
fn long_values_are_read_piecewise() {
    let dir = tempfile::tempdir().unwrap();
    let mut targets = Vec::new();
    if let Some(cs) = sqlite(&dir) {
        targets.push(cs);
    }
    if let Some(cs) = postgres() {
        targets.push(cs);
    }
    let text: String = "αβγ 🎉 ".repeat(30_000);
    for cs in targets {
        let mut conn = connect(&cs);
        let sqlite = conn.dbms_name() == "SQLite";
        // SQLite does not enforce declared sizes, so its driver's are not used for buffers.
        assert_eq!(conn.binds_variable_size_columns(), !sqlite);
        let (short_text, blob) = if sqlite {
            ("VARCHAR(10)", "BLOB")
        } else {
            ("TEXT", "BYTEA")
        };
        conn.execute("DROP TABLE IF EXISTS nimue_odbc_long", &[])
            .unwrap();
        conn.execute(
            &format!("CREATE TABLE nimue_odbc_long (id BIGINT, s {short_text}, b {blob})"),
            &[],
        )
        .unwrap();
        let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 256) as u8).collect();
        conn.execute(
            "INSERT INTO nimue_odbc_long VALUES (?, ?, ?)",
            &params![1, text.as_str(), bytes.clone()],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO nimue_odbc_long VALUES (?, ?, ?)",
            &params![2, None::<String>, None::<Vec<u8>>],
        )
        .unwrap();
        let rows = conn
            .query("SELECT id, s, b FROM nimue_odbc_long ORDER BY id", &[])
            .unwrap();
        assert_eq!(rows[0].get::<String>(1).unwrap(), text);
        assert_eq!(rows[0].get::<Vec<u8>>(2).unwrap(), bytes);
        assert_eq!(rows[1].value(1), Some(&Value::Null));
        assert_eq!(rows[1].value(2), Some(&Value::Null));
        conn.execute("DROP TABLE nimue_odbc_long", &[]).unwrap();
        conn.commit().unwrap();
    }
}

#[test]
fn description_comes_from_the_driver() {
    let Some(cs) = postgres() else { return };
    let mut conn = connect(&cs);
    conn.execute("DROP TABLE IF EXISTS nimue_odbc_desc", &[])
        .unwrap();
    conn.execute(
        "CREATE TABLE nimue_odbc_desc (id INT8 NOT NULL, name VARCHAR(20), price NUMERIC(10, 2), \
         data BYTEA, ok BOOL, stamp TIMESTAMP, tag UUID)",
        &[],
    )
    .unwrap();
    let mut cur = conn.cursor().unwrap();
    cur.execute("SELECT * FROM nimue_odbc_desc", &[]).unwrap();
    let desc = cur.description().unwrap().to_vec();
    let summary: Vec<(&str, Option<TypeCode>, &str)> = desc
        .iter()
        .map(|c| {
            (
                c.name.as_str(),
                c.type_code,
                c.type_name.as_deref().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("id", Some(TypeCode::Number), "int8"),
            ("name", Some(TypeCode::String), "varchar"),
            ("price", Some(TypeCode::Number), "numeric"),
            ("data", Some(TypeCode::Binary), "bytea"),
            ("ok", Some(TypeCode::Number), "bool"),
            (
                "stamp",
                Some(TypeCode::Datetime),
                "timestamp without time zone"
            ),
            ("tag", Some(TypeCode::String), "uuid"),
        ]
    );
    assert_eq!(desc[0].null_ok, Some(false));
    assert_eq!(desc[1].null_ok, Some(true));
    assert_eq!((desc[2].precision, desc[2].scale), (Some(10), Some(2)));
    assert_eq!(desc[1].display_size, Some(20));
    // A UUID (SQL_GUID) reads as its text (the driver writes hex digits in upper case).
    cur.execute(
        "INSERT INTO nimue_odbc_desc (id, tag) VALUES (?, ?)",
        &params![1, "00010203-0405-0607-0809-0a0b0c0d0e0f"],
    )
    .unwrap();
    cur.execute("SELECT tag, price FROM nimue_odbc_desc", &[])
        .unwrap();
    let row = cur.fetchone().unwrap().unwrap();
    assert_eq!(
        row.get::<String>(0).unwrap().to_ascii_lowercase(),
        "00010203-0405-0607-0809-0a0b0c0d0e0f"
    );
    assert_eq!(row.get::<Option<Decimal>>(1).unwrap(), None);
    drop(cur);
    conn.execute("DROP TABLE nimue_odbc_desc", &[]).unwrap();
    conn.commit().unwrap();
}

#[test]
fn parameters_convert_to_the_column_types() {
    let Some(cs) = postgres() else { return };
    let mut conn = connect(&cs);
    let row = conn
        .query_row(
            "SELECT CAST(? AS NUMERIC(30, 10)) AS n, CAST(? AS INT4) AS i, CAST(? AS TIME) AS t, \
             ? || 'x' AS s",
            &params![
                Decimal::from_str("-12345678901234567.0123456789").unwrap(),
                42,
                NaiveTime::from_hms_micro_opt(0, 0, 1, 5).unwrap(),
                "a"
            ],
        )
        .unwrap()
        .unwrap();
    assert_eq!(
        row.get::<Decimal>("n").unwrap(),
        Decimal::from_str("-12345678901234567.0123456789").unwrap()
    );
    assert_eq!(row.get::<i32>("i").unwrap(), 42);
    assert_eq!(
        row.get::<NaiveTime>("t").unwrap(),
        NaiveTime::from_hms_micro_opt(0, 0, 1, 5).unwrap()
    );
    assert_eq!(row.get::<String>("s").unwrap(), "ax");
    conn.rollback().unwrap();
}

/// Both drivers of the matrix cut text parameters at a NUL byte: the adapter refuses such
/// text with a NotSupportedError rather than store a silently shortened string, and the
/// connection stays usable. Bytes with NUL bytes go through intact.
fn nul_bytes(connection_string: &str) {
    let mut conn = connect(connection_string);
    let _ = conn.execute("DROP TABLE nimue_odbc_nul", &[]);
    conn.execute("CREATE TABLE nimue_odbc_nul (s VARCHAR(40))", &[])
        .unwrap();
    let err = expect_kind(
        conn.execute(
            "INSERT INTO nimue_odbc_nul (s) VALUES (?)",
            &params!["before\0after"],
        ),
        ErrorKind::NotSupported,
    );
    assert!(err.to_string().contains("NUL"), "{err}");
    conn.execute(
        "INSERT INTO nimue_odbc_nul (s) VALUES (?)",
        &params!["no nul here"],
    )
    .unwrap();
    let rows = conn.query("SELECT s FROM nimue_odbc_nul", &[]).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<String>(0).unwrap(), "no nul here");
    conn.rollback().unwrap();
}

#[test]
fn postgres_refuses_text_with_nul_bytes() {
    let Some(cs) = postgres() else { return };
    nul_bytes(&cs);
}

#[test]
fn sqlite_refuses_text_with_nul_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let Some(cs) = sqlite(&dir) else { return };
    nul_bytes(&cs);
}

/// `query_timeout`: the driver cancels a statement that runs longer, with an
/// OperationalError; the connection is usable afterwards (PostgreSQL's ODBC driver).
#[test]
fn a_statement_over_its_query_timeout_is_cancelled() {
    let Some(cs) = postgres() else { return };
    let mut conn = OdbcConnector::new(cs)
        .query_timeout(std::time::Duration::from_secs(1))
        .connect()
        .unwrap();
    let err = conn.query("SELECT pg_sleep(30)", &[]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Operational, "{err}");
    assert!(!conn.is_broken(), "{err}");
    conn.rollback().unwrap();
    let row = conn.query_row("SELECT 1", &[]).unwrap().unwrap();
    assert_eq!(row.get::<i64>(0).unwrap(), 1);
}
