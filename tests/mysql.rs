//! MySQL/MariaDB-specific behaviour on a real server: type edges, error codes, session reset,
//! TLS, credentials.

#![cfg(feature = "mysql")]

mod common;

use nimue::mysql::{MySqlConnection, MySqlConnector};
use nimue::PoolHooks;
use nimue::{params, Connect, Connection, Cursor, ErrorKind, TypeCode, Value};
use rust_decimal::Decimal;
use std::str::FromStr;

fn url() -> Option<String> {
    common::server_env("NIMUE_TEST_MYSQL_URL")
}

fn connect(url: &str) -> MySqlConnection {
    MySqlConnector::from_url(url).unwrap().connect().unwrap()
}

#[test]
fn integer_widths_unsigned_and_boolean() {
    let Some(url) = url() else { return };
    let mut conn = connect(&url);
    conn.execute("DROP TABLE IF EXISTS nimue_my_ints", &[])
        .unwrap();
    conn.execute(
        "CREATE TABLE nimue_my_ints (t TINYINT, b BOOLEAN, s SMALLINT, m MEDIUMINT, i INT, \
         u BIGINT UNSIGNED, f FLOAT, d DECIMAL(30, 10), y YEAR, vb VARBINARY(8), e ENUM('a','b'))",
        &[],
    )
    .unwrap();
    let big = Decimal::from_str("12345678901234567890.1234567890").unwrap();
    conn.execute(
        "INSERT INTO nimue_my_ints VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        &params![
            -128,
            true,
            -32768,
            8_388_607,
            i32::MIN,
            Decimal::from(u64::MAX),
            1.5,
            big,
            2024,
            vec![0u8, 1],
            "b"
        ],
    )
    .unwrap();
    let mut cur = conn.cursor().unwrap();
    cur.execute("SELECT * FROM nimue_my_ints", &[]).unwrap();
    let desc = cur.description().unwrap().to_vec();
    assert_eq!(desc[5].type_name.as_deref(), Some("BIGINT"));
    assert_eq!(desc[9].type_code, Some(TypeCode::Binary));
    assert_eq!(desc[10].type_code, Some(TypeCode::String));
    let row = cur.fetchone().unwrap().unwrap();
    assert_eq!(
        row.values(),
        params![
            -128,
            true,
            -32768,
            8_388_607,
            i32::MIN,
            // Beyond i64: a wider type rather than a wrong number.
            Decimal::from(u64::MAX),
            1.5,
            big,
            2024,
            vec![0u8, 1],
            "b"
        ]
        .as_slice()
    );
    // Read back as the u64 it is.
    assert_eq!(row.get::<u64>(5).unwrap(), u64::MAX);
    assert_eq!(row.get::<i64>(5).unwrap_err().kind(), ErrorKind::Data);
    drop(cur);
    conn.rollback().unwrap();
}

#[test]
fn times_outside_a_day_are_data_errors() {
    let Some(url) = url() else { return };
    let mut conn = connect(&url);
    let err = conn
        .query("SELECT CAST('-01:00:00' AS TIME)", &[])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Data, "{err}");
    let err = conn
        .query("SELECT CAST('30:00:00' AS TIME)", &[])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Data, "{err}");
    // The connection is still in step with the server after a row failed to convert.
    let row = conn
        .query_row("SELECT CAST('12:00:00' AS TIME)", &[])
        .unwrap()
        .unwrap();
    assert!(matches!(row[0], Value::Time(_)));
}

#[test]
fn server_error_codes_map_to_classes() {
    let Some(url) = url() else { return };
    let mut conn = connect(&url);
    conn.execute("DROP TABLE IF EXISTS nimue_my_codes", &[])
        .unwrap();
    conn.execute(
        "CREATE TABLE nimue_my_codes (id INT PRIMARY KEY, s SMALLINT)",
        &[],
    )
    .unwrap();
    conn.execute("INSERT INTO nimue_my_codes VALUES (1, 1)", &[])
        .unwrap();
    let cases: [(&str, Vec<Value>, ErrorKind, i64); 4] = [
        (
            "INSERT INTO nimue_my_codes VALUES (?, 1)",
            params![1].to_vec(),
            ErrorKind::Integrity,
            1062,
        ),
        ("SELEC 1", vec![], ErrorKind::Programming, 1064),
        (
            "SELECT * FROM nimue_my_no_table",
            vec![],
            ErrorKind::Programming,
            1146,
        ),
        (
            "INSERT INTO nimue_my_codes VALUES (2, ?)",
            params![100_000].to_vec(),
            ErrorKind::Data,
            1264,
        ),
    ];
    for (sql, params, kind, code) in cases {
        let err = conn.execute(sql, &params).unwrap_err();
        assert_eq!(err.kind(), kind, "{sql}: {err}");
        assert_eq!(
            err.as_database().unwrap().code(),
            Some(code),
            "{sql}: {err}"
        );
    }
    assert!(
        conn.query("SELECT 1", &[]).is_ok(),
        "usable after every error"
    );
    conn.rollback().unwrap();
}

#[test]
fn reset_clears_the_session_and_restores_pep249_defaults() {
    let Some(url) = url() else { return };
    let mut conn = connect(&url);
    conn.execute("SET @nimue_marker = 42", &[]).unwrap();
    conn.execute("CREATE TEMPORARY TABLE nimue_my_tmp (x INT)", &[])
        .unwrap();
    conn.commit().unwrap();
    conn.set_autocommit(true).unwrap();
    conn.reset().unwrap();
    assert!(!conn.autocommit());
    let row = conn
        .query_row("SELECT @nimue_marker, @@autocommit", &[])
        .unwrap()
        .unwrap();
    assert_eq!(row[0], Value::Null, "user variables are cleared");
    assert_eq!(
        row.get::<i64>(1).unwrap(),
        0,
        "the session is back to autocommit=0"
    );
    let err = conn.query("SELECT * FROM nimue_my_tmp", &[]).unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::Programming,
        "temporary tables are dropped"
    );
    conn.ping().unwrap();
    assert!(!conn.is_broken());
}

#[test]
fn killed_session_is_broken_and_operational() {
    let Some(url) = url() else { return };
    let mut victim = connect(&url);
    let mut admin = connect(&url);
    let id = victim.connection_id();
    admin.execute(&format!("KILL {id}"), &[]).unwrap();
    let err = victim.query("SELECT 1", &[]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Operational, "{err}");
    assert!(victim.is_broken(), "the pool will discard it");
    assert!(victim.ping().is_err());
}

#[test]
fn wrong_password_is_an_operational_error_naming_the_cause() {
    let Some(url) = url() else { return };
    let bad = url.replace("nimue-test-secret", "not-the-password");
    let connector = MySqlConnector::from_url(&bad).unwrap();
    assert!(!format!("{connector:?}").contains("not-the-password"));
    let err = connector.connect().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Operational, "{err}");
    assert_eq!(err.as_database().unwrap().code(), Some(1045));
    assert!(err.to_string().contains("Access denied"), "{err}");
    assert!(!err.to_string().contains("not-the-password"));
}

/// `MySqlConnector::new` with the driver's own options, built field by field (an
/// `OptsBuilder`, and the `Opts` made from it) rather than parsed from a URL: the connector
/// adds its defaults (connect timeout, `autocommit=0` init command) to what they set, and
/// connects with them.
#[test]
fn a_connector_from_built_opts() {
    use nimue::mysql::mysql::{Opts, OptsBuilder};
    use std::time::Duration;
    let Some(url) = url() else { return };
    let parts = common::UrlParts::parse(&url);
    let builder = OptsBuilder::new()
        .ip_or_hostname(Some(parts.host.clone()))
        .tcp_port(parts.port)
        .user(Some(parts.user.clone()))
        .pass(Some(parts.password.clone()))
        .db_name(Some(parts.db.clone()))
        .prefer_socket(false)
        .init(vec!["SET @nimue_built = 'yes'"]);
    for connector in [
        MySqlConnector::new(builder.clone()),
        MySqlConnector::new(Opts::from(builder)),
    ] {
        let opts = connector.opts();
        assert_eq!(
            opts.get_tcp_connect_timeout(),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            opts.get_init(),
            ["SET @nimue_built = 'yes'; SET autocommit=0"],
            "the given init command first, then the connector's, in one statement (one round \
             trip at connect and after each COM_RESET_CONNECTION)"
        );
        let mut conn = connector.connect().unwrap();
        let row = conn
            .query_row(
                "SELECT DATABASE(), CURRENT_USER(), @nimue_built, @@autocommit",
                &[],
            )
            .unwrap()
            .unwrap();
        assert_eq!(row.get::<String>(0).unwrap(), parts.db);
        let user = row.get::<String>(1).unwrap();
        assert!(user.starts_with(&format!("{}@", parts.user)), "{user}");
        assert_eq!(row.get::<String>(2).unwrap(), "yes");
        assert_eq!(row.get::<i64>(3).unwrap(), 0, "PEP 249: autocommit off");
        conn.rollback().unwrap();
    }
}

#[test]
fn malformed_url_is_an_interface_error() {
    let err = MySqlConnector::from_url("mysql://u:p@127.0.0.1:notaport/db").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Interface, "{err}");
    assert!(!err.to_string().contains(":p@"), "{err}");
}

#[cfg(feature = "mysql-tls")]
#[test]
fn tls_connections_verify_the_server() {
    let Some(url) = url() else { return };
    let ca = common::server_env("NIMUE_TEST_MYSQL_CA").unwrap();
    let mut conn = MySqlConnector::from_url(&url)
        .unwrap()
        .tls_with_ca_file(&ca)
        .connect()
        .unwrap();
    let row = conn
        .query_row("SHOW SESSION STATUS LIKE 'Ssl_cipher'", &[])
        .unwrap()
        .unwrap();
    assert!(
        !row.get::<String>(1).unwrap().is_empty(),
        "the session is encrypted"
    );

    let other_ca =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/unrelated-ca.pem");
    let err = MySqlConnector::from_url(&url)
        .unwrap()
        .tls_with_ca_file(other_ca)
        .connect()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Operational, "{err}");
}

/// `statement_timeout`: the server interrupts a statement that runs longer, with an
/// OperationalError; the connection is usable afterwards.
#[test]
fn a_statement_over_its_timeout_is_interrupted() {
    use std::time::Duration;
    let Some(url) = url() else { return };
    let connector = MySqlConnector::from_url(&url)
        .unwrap()
        .statement_timeout(Duration::from_millis(500));
    let mut conn = connector.connect().unwrap();
    let slow = "SELECT COUNT(*) FROM information_schema.columns a, information_schema.columns b, \
                information_schema.columns c";
    let err = conn.query(slow, &[]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Operational, "{err}");
    assert!(err.to_string().contains("max_statement_time"), "{err}");
    assert!(!conn.is_broken());
    conn.rollback().unwrap();
    let row = conn.query_row("SELECT 1", &[]).unwrap().unwrap();
    assert_eq!(row.get::<i64>(0).unwrap(), 1);
    // The setting survives the session reset.
    conn.execute("SET @changed = 1", &[]).unwrap();
    conn.reset().unwrap();
    let err = conn.query(slow, &[]).unwrap_err();
    assert!(err.to_string().contains("max_statement_time"), "{err}");
}

/// TLS chosen by the URL with MySQL's client option names (`ssl-mode`, `ssl-ca`), through
/// `nimue::any::connector`.
#[cfg(feature = "mysql-tls")]
#[test]
fn tls_by_url() {
    let Some(url) = url() else { return };
    let ca = common::server_env("NIMUE_TEST_MYSQL_CA").unwrap();
    let encrypted = |url: &str| -> nimue::Result<bool> {
        let mut conn = nimue::any::connector(url)?.connect()?;
        let row = conn
            .query_row("SHOW SESSION STATUS LIKE 'Ssl_cipher'", &[])?
            .unwrap();
        Ok(!row.get::<String>(1)?.is_empty())
    };
    assert!(encrypted(&format!("{url}?ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}")).unwrap());
    assert!(encrypted(&format!("{url}?ssl-mode=VERIFY_CA&ssl-ca={ca}")).unwrap());
    assert!(
        encrypted(&format!("{url}?ssl-mode=REQUIRED")).unwrap(),
        "encryption only"
    );
    assert!(!encrypted(&format!("{url}?ssl-mode=DISABLED")).unwrap());

    let other =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/unrelated-ca.pem");
    let err = encrypted(&format!(
        "{url}?ssl-mode=VERIFY_IDENTITY&ssl-ca={}",
        other.display()
    ))
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Operational, "{err}");
    assert!(!err.to_string().contains("nimue-test-secret"), "{err}");
    let err = encrypted(&format!("{url}?ssl-mode=VERIFY_CA")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Interface, "{err}");
    assert!(err.to_string().contains("ssl-ca"), "{err}");
}

/// `u64` parameters above `i64::MAX` reach a `BIGINT UNSIGNED` column exactly (no wrap; they
/// read back as the decimal they are); a signed column refuses them.
#[test]
fn unsigned_64_bit_values_round_trip() {
    let Some(url) = url() else { return };
    let mut conn = connect(&url);
    conn.execute("DROP TABLE IF EXISTS nimue_my_u64", &[])
        .unwrap();
    conn.execute(
        "CREATE TABLE nimue_my_u64 (u BIGINT UNSIGNED, s BIGINT)",
        &[],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO nimue_my_u64 (u) VALUES (?)",
        &params![u64::MAX],
    )
    .unwrap();
    let row = conn
        .query_row("SELECT u FROM nimue_my_u64", &[])
        .unwrap()
        .unwrap();
    assert_eq!(row.get::<Decimal>(0).unwrap(), Decimal::from(u64::MAX));
    let err = conn
        .execute(
            "INSERT INTO nimue_my_u64 (s) VALUES (?)",
            &params![u64::MAX],
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Data, "{err}");
    conn.rollback().unwrap();
}
