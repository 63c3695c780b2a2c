//! PostgreSQL-specific behaviour on a real server: every type width, placeholders in real
//! statements, TLS, credentials and unreachable servers.

#![cfg(feature = "postgres")]

mod common;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use nimue::postgres::PgConnector;
use nimue::PoolHooks;
use nimue::{params, Connect, Connection, Cursor, ErrorKind, TypeCode, Value};
use rust_decimal::Decimal;
use std::str::FromStr;

fn url() -> Option<String> {
    common::server_env("NIMUE_TEST_POSTGRES_URL")
}

fn connect(url: &str) -> nimue::postgres::PgConnection {
    PgConnector::from_url(url).unwrap().connect().unwrap()
}

/// `url` with its password replaced.
fn with_password(url: &str, password: &str) -> String {
    let config = PgConnector::from_url(url).unwrap();
    let config = config.config();
    let host = url.split('@').nth(1).expect("user:pass@host URL");
    format!(
        "postgres://{}:{password}@{host}",
        config.get_user().unwrap()
    )
}

#[test]
fn every_type_width_round_trips_with_its_description() {
    let Some(url) = url() else { return };
    let mut conn = connect(&url);
    conn.execute("DROP TABLE IF EXISTS nimue_pg_types", &[])
        .unwrap();
    conn.execute(
        "CREATE TABLE nimue_pg_types (i2 int2, i4 int4, i8 int8, f4 float4, f8 float8, \
         n numeric(30, 10), t text, vc varchar(20), c char(3), b bytea, bo bool, d date, \
         tm time, ts timestamp, tz timestamptz)",
        &[],
    )
    .unwrap();
    let date = NaiveDate::from_ymd_opt(1999, 12, 31).unwrap();
    let time = NaiveTime::from_hms_micro_opt(12, 34, 56, 789_012).unwrap();
    let ts = NaiveDateTime::new(date, time);
    let big = Decimal::from_str("12345678901234567890.1234567890").unwrap();
    let row: Vec<Value> = params![
        i16::MIN,
        i32::MAX,
        i64::MIN,
        1.5f32,
        -0.125,
        big,
        "tëxt",
        "varchar",
        "abc",
        vec![0u8, 255, 1],
        true,
        date,
        time,
        ts,
        ts
    ]
    .to_vec();
    let insert = "INSERT INTO nimue_pg_types VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    conn.execute(insert, &row).unwrap();
    conn.execute(insert, vec![Value::Null; 15]).unwrap();
    let mut cur = conn.cursor().unwrap();
    cur.execute("SELECT * FROM nimue_pg_types ORDER BY i2 NULLS LAST", &[])
        .unwrap();
    let names: Vec<String> = cur
        .description()
        .unwrap()
        .iter()
        .map(|c| c.type_name.clone().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "int2",
            "int4",
            "int8",
            "float4",
            "float8",
            "numeric",
            "text",
            "varchar",
            "bpchar",
            "bytea",
            "bool",
            "date",
            "time",
            "timestamp",
            "timestamptz"
        ]
    );
    let codes: Vec<Option<TypeCode>> = cur
        .description()
        .unwrap()
        .iter()
        .map(|c| c.type_code)
        .collect();
    assert_eq!(codes[0], Some(TypeCode::Number));
    assert_eq!(codes[6], Some(TypeCode::String));
    assert_eq!(codes[9], Some(TypeCode::Binary));
    assert_eq!(codes[14], Some(TypeCode::Datetime));
    let rows = cur.fetchall().unwrap();
    assert_eq!(rows[0].values(), row.as_slice());
    assert!(
        rows[1].values().iter().all(Value::is_null),
        "NULL of every type"
    );
    drop(cur);
    conn.rollback().unwrap();
}

#[test]
fn out_of_range_values_are_data_errors() {
    let Some(url) = url() else { return };
    let mut conn = connect(&url);
    conn.execute("DROP TABLE IF EXISTS nimue_pg_range", &[])
        .unwrap();
    conn.execute("CREATE TABLE nimue_pg_range (s int2, n numeric)", &[])
        .unwrap();
    conn.commit().unwrap();
    let err = conn
        .execute(
            "INSERT INTO nimue_pg_range (s) VALUES (?)",
            &params![70_000],
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Data, "{err}");
    conn.rollback().unwrap();
    // Wider than rust_decimal's 28 digits: the value exists, reading it is a DataError.
    let err = conn.query("SELECT 1e40::numeric", &[]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Data, "{err}");
    conn.rollback().unwrap();
    // The server's own range checks map by SQLSTATE class 22.
    let err = conn.query("SELECT 1 / 0", &[]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Data, "{err}");
    assert_eq!(err.sqlstate(), Some("22012"));
    conn.rollback().unwrap();
    assert!(conn.query("SELECT 1", &[]).is_ok());
}

#[test]
fn placeholders_in_real_statements() {
    let Some(url) = url() else { return };
    let mut conn = connect(&url);
    let row = conn
        .query_row(
            "SELECT $$it's a ?$$ AS dollar, '?' AS quoted, /* ? */ ?::int8 AS p, \
             '{\"k\": 1}'::jsonb ?? 'k' AS has_k, \"?column?\" FROM (SELECT 1) AS \"?column?\"(\"?column?\")",
            &params![5],
        )
        .unwrap()
        .unwrap();
    assert_eq!(row.get::<String>("dollar").unwrap(), "it's a ?");
    assert_eq!(row.get::<String>("quoted").unwrap(), "?");
    assert_eq!(row.get::<i64>("p").unwrap(), 5);
    assert!(row.get::<bool>("has_k").unwrap());
    // A parameter is bound, never spliced: SQL in a value stays a value.
    let evil = "'; DROP TABLE nimue_pg_types; --";
    let row = conn
        .query_row("SELECT ?::text", &params![evil])
        .unwrap()
        .unwrap();
    assert_eq!(row.get::<String>(0).unwrap(), evil);
    conn.rollback().unwrap();
}

/// A jsonb `?` operator written as itself is a placeholder for nimue: the error says to write
/// it `??`, whether the count of parameters is off or the server finds `$1` where an
/// operator belongs. Both statements modes (cached and unnamed) say so.
#[test]
fn a_single_question_mark_operator_gets_the_double_question_mark_hint() {
    let Some(url) = url() else { return };
    for url in [url.clone(), format!("{url}?statements=unnamed")] {
        let mut conn = PgConnector::from_url(&url).unwrap().connect().unwrap();
        let err = conn
            .execute("SELECT '{\"k\": 1}'::jsonb ? 'k'", ())
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Programming, "{err}");
        assert!(err.to_string().contains("??"), "{err}");
        conn.rollback().unwrap();
        let err = conn
            .execute("SELECT '{\"k\": 1}'::jsonb ? 'k' AND ?::bool", (true,))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Programming, "{err}");
        assert!(err.to_string().contains("??"), "{url}: {err}");
        conn.rollback().unwrap();
        // A syntax error elsewhere gets no such hint.
        let err = conn.execute("SELEC ?::int8", (1,)).unwrap_err();
        assert!(!err.to_string().contains("??"), "{err}");
        conn.rollback().unwrap();
    }
}

#[test]
fn schema_changed_by_another_connection_needs_one_rollback() {
    let Some(url) = url() else { return };
    let mut a = connect(&url);
    let mut b = connect(&url);
    b.execute("DROP TABLE IF EXISTS nimue_pg_schema", &[])
        .unwrap();
    b.execute("CREATE TABLE nimue_pg_schema (v int4)", &[])
        .unwrap();
    b.execute("INSERT INTO nimue_pg_schema VALUES (1)", &[])
        .unwrap();
    b.commit().unwrap();
    let sql = "SELECT * FROM nimue_pg_schema";
    assert_eq!(a.query(sql, &[]).unwrap()[0][0], Value::Int(1));
    a.rollback().unwrap();
    b.execute("DROP TABLE nimue_pg_schema", &[]).unwrap();
    b.execute("CREATE TABLE nimue_pg_schema (v text)", &[])
        .unwrap();
    b.execute("INSERT INTO nimue_pg_schema VALUES ('one')", &[])
        .unwrap();
    b.commit().unwrap();
    // The cached plan is stale: the first run fails (as in every driver that prepares), the
    // statement is re-prepared after the rollback.
    if let Err(e) = a.query(sql, &[]) {
        assert_eq!(e.kind(), ErrorKind::NotSupported, "{e}");
        a.rollback().unwrap();
    }
    assert_eq!(a.query(sql, &[]).unwrap()[0][0], Value::Text("one".into()));
    a.rollback().unwrap();
}

#[test]
fn wrong_password_is_an_operational_error_naming_the_cause() {
    let Some(url) = url() else { return };
    let bad = with_password(&url, "not-the-password");
    let err = PgConnector::from_url(&bad).unwrap().connect().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Operational, "{err}");
    assert_eq!(err.sqlstate(), Some("28P01"));
    let text = err.to_string();
    assert!(text.contains("password authentication failed"), "{text}");
    assert!(
        !text.contains("not-the-password"),
        "the password leaked: {text}"
    );
    assert!(!format!("{err:?}").contains("not-the-password"));
}

#[test]
fn refused_connection_is_an_operational_error() {
    // A port nothing listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://nimue:x@127.0.0.1:{port}/nimue");
    let err = PgConnector::from_url(&url).unwrap().connect().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Operational, "{err}");
    assert!(err.to_string().contains("refused"), "{err}");
}

/// `PgConnector::new` with a `tokio_postgres::Config` built field by field rather than parsed from a
/// URL: the connector adds its defaults to what the config leaves unset, keeps what it sets,
/// and connects with it.
#[test]
fn a_connector_from_a_built_config() {
    use nimue::postgres::tokio_postgres::Config;
    use std::time::Duration;
    let Some(url) = url() else { return };
    let parts = common::UrlParts::parse(&url);
    let mut config = Config::new();
    config
        .host(&parts.host)
        .port(parts.port)
        .user(&parts.user)
        .password(&parts.password)
        .dbname(&parts.db)
        .application_name("nimue-built-config")
        .keepalives_retries(5);
    let connector = PgConnector::new(config);
    let config = connector.config();
    assert_eq!(config.get_connect_timeout(), Some(&Duration::from_secs(10)));
    assert_eq!(config.get_keepalives_idle(), Duration::from_secs(30));
    assert_eq!(config.get_keepalives_retries(), Some(5), "set: kept");
    let mut conn = connector.connect().unwrap();
    let row = conn
        .query_row(
            "SELECT current_setting('application_name'), current_database(), current_user",
            &[],
        )
        .unwrap()
        .unwrap();
    assert_eq!(row.get::<String>(0).unwrap(), "nimue-built-config");
    assert_eq!(row.get::<String>(1).unwrap(), parts.db);
    assert_eq!(row.get::<String>(2).unwrap(), parts.user);
    conn.rollback().unwrap();
}

#[test]
fn malformed_urls_are_interface_errors() {
    for url in [
        "postgres://host:notaport/db",
        "nonsense=1",
        "mysql://u@h/db",
    ] {
        let err = PgConnector::from_url(url).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Interface, "{url}: {err}");
    }
}

#[cfg(feature = "postgres-tls")]
#[test]
fn tls_connections_verify_the_server() {
    let Some(url) = url() else { return };
    let ca_path = common::server_env("NIMUE_TEST_POSTGRES_CA").unwrap();
    let ca = std::fs::read(ca_path).unwrap();
    let mut conn = PgConnector::from_url(&format!("{url}?sslmode=require"))
        .unwrap()
        .tls_with_ca_pem(&ca)
        .unwrap()
        .connect()
        .unwrap();
    let row = conn
        .query_row(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .unwrap()
        .unwrap();
    assert!(row.get::<bool>(0).unwrap(), "the session is encrypted");
    conn.rollback().unwrap();

    // A CA that did not sign the server's certificate: refused, as an OperationalError.
    let other_ca = include_bytes!("data/unrelated-ca.pem");
    let err = PgConnector::from_url(&format!("{url}?sslmode=require"))
        .unwrap()
        .tls_with_ca_pem(other_ca)
        .unwrap()
        .connect()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Operational, "{err}");
}

/// `statement_timeout`: the server cancels a statement that runs longer, with an
/// OperationalError that says so; the connection is usable after a rollback.
#[test]
fn a_statement_over_its_timeout_is_cancelled() {
    use std::time::Duration;
    let Some(url) = url() else { return };
    let connector = PgConnector::from_url(&url)
        .unwrap()
        .statement_timeout(Duration::from_millis(300));
    let mut conn = connector.connect().unwrap();
    let err = conn.query("SELECT pg_sleep(30)", &[]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Operational, "{err}");
    assert_eq!(err.sqlstate(), Some("57014"), "{err}");
    assert!(err.to_string().contains("statement timeout"), "{err}");
    assert!(!conn.is_broken());
    conn.rollback().unwrap();
    let row = conn.query_row("SELECT 1::int8", &[]).unwrap().unwrap();
    assert_eq!(row.get::<i64>(0).unwrap(), 1);
}

/// TLS chosen by the URL, as libpq reads it (`sslmode`, `sslrootcert`), directly and through
/// `nimue::any::connector`.
#[cfg(feature = "postgres-tls")]
#[test]
fn tls_by_url() {
    let Some(url) = url() else { return };
    let ca = common::server_env("NIMUE_TEST_POSTGRES_CA").unwrap();
    let encrypted = |url: &str| -> nimue::Result<bool> {
        let mut conn = nimue::any::connector(url)?.connect()?;
        let row = conn
            .query_row(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )?
            .unwrap();
        row.get::<bool>(0)
    };
    assert!(encrypted(&format!("{url}?sslmode=verify-full&sslrootcert={ca}")).unwrap());
    assert!(encrypted(&format!("{url}?sslmode=verify-ca&sslrootcert={ca}")).unwrap());
    assert!(
        encrypted(&format!("{url}?sslmode=require")).unwrap(),
        "encryption only"
    );
    assert!(!encrypted(&format!("{url}?sslmode=disable")).unwrap());

    // A CA that did not sign the server's certificate: refused, saying why, no password.
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other-ca.pem");
    std::fs::write(&other, include_bytes!("data/unrelated-ca.pem")).unwrap();
    let err = encrypted(&format!(
        "{url}?sslmode=verify-full&sslrootcert={}",
        other.display()
    ))
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Operational, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("certificate") || text.contains("Certificate"),
        "{text}"
    );
    assert!(!text.contains("nimue-test-secret"), "{text}");
    // Verification without roots to verify against: said at once.
    let err = encrypted(&format!("{url}?sslmode=verify-full")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Interface, "{err}");
    assert!(err.to_string().contains("sslrootcert"), "{err}");
}

/// `transaction_retrying`: an attempt that loses a race (a concurrent update under
/// REPEATABLE READ: SQLSTATE 40001) is rolled back and run again, and the second one wins.
#[test]
fn a_transaction_that_loses_a_race_is_run_again() {
    let Some(url) = url() else { return };
    let mut a = connect(&url);
    let mut b = connect(&url);
    a.execute("DROP TABLE IF EXISTS nimue_pg_retry", &[])
        .unwrap();
    a.execute(
        "CREATE TABLE nimue_pg_retry (id int8 PRIMARY KEY, n int8)",
        &[],
    )
    .unwrap();
    a.execute("INSERT INTO nimue_pg_retry VALUES (1, 0)", &[])
        .unwrap();
    a.commit().unwrap();
    let mut attempts = 0;
    let n = a
        .transaction_retrying(3, |tx| {
            attempts += 1;
            tx.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", &[])?;
            let n: i64 = tx
                .query_row("SELECT n FROM nimue_pg_retry WHERE id = 1", &[])?
                .unwrap()
                .get(0)?;
            if attempts == 1 {
                // Another session changes the row after this snapshot was taken.
                b.execute("UPDATE nimue_pg_retry SET n = 10 WHERE id = 1", &[])?;
                b.commit()?;
            }
            tx.execute(
                "UPDATE nimue_pg_retry SET n = ? WHERE id = 1",
                &params![n + 1],
            )?;
            Ok(n + 1)
        })
        .unwrap();
    assert_eq!(attempts, 2, "the first attempt lost, the second won");
    assert_eq!(n, 11);
    let row = b
        .query_row("SELECT n FROM nimue_pg_retry WHERE id = 1", &[])
        .unwrap()
        .unwrap();
    assert_eq!(row.get::<i64>(0).unwrap(), 11);
    b.rollback().unwrap();
}

/// A `u64` above `i64::MAX` for an `int8` parameter is a DataError, never a wrapped
/// negative number; one that fits goes as it is.
#[test]
fn unsigned_64_bit_values_never_wrap() {
    let Some(url) = url() else { return };
    let mut conn = connect(&url);
    let err = conn
        .query_row("SELECT ?::int8", &params![u64::MAX])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Data, "{err}");
    let row = conn
        .query_row("SELECT ?::int8", &params![42u64])
        .unwrap()
        .unwrap();
    assert_eq!(row.get::<u64>(0).unwrap(), 42);
    conn.rollback().unwrap();
}

/// A `real` parameter the type cannot hold is a DataError in both statement modes (as the
/// server says of the same text), never `Infinity` or 0 stored in its place.
#[test]
fn real_parameters_out_of_range_are_data_errors() {
    let Some(url) = url() else { return };
    for mode in ["cached", "unnamed"] {
        let mut conn = connect(&format!("{url}?statements={mode}"));
        for x in [1e300, 3.5e38, 1e-300] {
            let err = conn.query_row("SELECT ?::real", &params![x]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Data, "{mode} {x}: {err}");
            conn.rollback().unwrap();
        }
        let row = conn
            .query_row("SELECT ?::real", &params![1.5])
            .unwrap()
            .unwrap();
        assert_eq!(row.get::<f64>(0).unwrap(), 1.5, "{mode}");
        conn.rollback().unwrap();
    }
}

/// `time '24:00:00'` (the end of a day) is not read as midnight.
#[test]
fn the_end_of_a_day_is_not_midnight() {
    let Some(url) = url() else { return };
    let mut conn = connect(&url);
    let row = conn
        .query_row("SELECT time '24:00:00', time '00:00:00'", &[])
        .unwrap()
        .unwrap();
    assert_eq!(row.get::<String>(0).unwrap(), "24:00:00");
    assert!(row.get::<NaiveTime>(0).is_err());
    assert_eq!(
        row.get::<NaiveTime>(1).unwrap(),
        NaiveTime::from_hms_opt(0, 0, 0).unwrap()
    );
}

/// `u64` values past `i64::MAX` go to a `numeric` and come back as `u64`.
#[test]
fn unsigned_64_bit_values_read_back_as_u64() {
    let Some(url) = url() else { return };
    let mut conn = connect(&url);
    for n in [u64::MAX, 1 << 63] {
        let row = conn
            .query_row("SELECT ?::numeric", &params![n])
            .unwrap()
            .unwrap();
        assert_eq!(row.get::<u64>(0).unwrap(), n);
    }
    conn.rollback().unwrap();
}

/// The placeholder rewriter reads the SQL as the server does: a carriage return ends a line
/// comment, and with `standard_conforming_strings` off a backslash escapes a quote. A
/// parameter is never silently dropped: too many are an error, in both statement modes.
#[test]
fn placeholders_are_where_the_server_sees_them() {
    let Some(url) = url() else { return };
    for mode in ["cached", "unnamed"] {
        let mut conn = connect(&format!("{url}?statements={mode}"));
        conn.set_autocommit(true).unwrap();
        let sql = "SELECT ?::int AS a -- c\r, '\n?' AS b";
        let err = conn.query(sql, &params![1, 999]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Programming, "{mode}: {err}");
        let row = conn.query_row(sql, &params![1]).unwrap().unwrap();
        assert_eq!(row.get::<i64>(0).unwrap(), 1, "{mode}");
        // The comment ended at \r: `b` is the string '\n?', its ? left alone.
        assert_eq!(row.get::<String>(1).unwrap(), "\n?", "{mode}");
        conn.execute("SET standard_conforming_strings = off", &[])
            .unwrap();
        let row = conn
            .query_row(r"SELECT 'it\'s', ?::int", &params![5])
            .unwrap()
            .unwrap();
        assert_eq!(row.get::<String>(0).unwrap(), "it's", "{mode}");
        assert_eq!(row.get::<i64>(1).unwrap(), 5, "{mode}");
        conn.execute("SET standard_conforming_strings = on", &[])
            .unwrap();
        let row = conn
            .query_row(r"SELECT 'a\', ?::int", &params![6])
            .unwrap()
            .unwrap();
        assert_eq!(row.get::<String>(0).unwrap(), r"a\", "{mode}");
    }
}
