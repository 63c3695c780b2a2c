//! Connect errors say where and what: the target (scheme, host, port, database, user; never the
//! password) in every adapter's connect error, the driver's words as text (not `Debug`), and a
//! hint for the common mistakes (issue 28, item 3).

mod common;

use nimue::{Connect, ErrorKind};

/// A loopback port nothing listens on (bound, then closed).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `text` names every part and never the password, nor a `Debug` dump of a driver error.
fn names_the_target(text: &str, parts: &[&str], password: &str) {
    for part in parts {
        assert!(text.contains(part), "{part:?} missing from: {text}");
    }
    assert!(!text.contains(password), "the password leaked: {text}");
    for debug in [
        "DriverError {",
        "UrlError {",
        "IoError {",
        "Error {",
        "kind: ",
    ] {
        assert!(!text.contains(debug), "Debug text in: {text}");
    }
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_refused_names_host_port_database_and_user() {
    use nimue::postgres::PgConnector;
    let port = closed_port();
    let url = format!("postgres://app:secret-pw@127.0.0.1:{port}/appdb?connect_timeout=5");
    let err = PgConnector::from_url(&url).unwrap().connect().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Operational, "{err}");
    let text = err.to_string();
    let target = format!("postgres://app@127.0.0.1:{port}/appdb");
    names_the_target(&text, &[&target, "refused"], "secret-pw");
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_wrong_password_names_the_target() {
    use nimue::postgres::PgConnector;
    let Some(url) = common::server_env("NIMUE_TEST_POSTGRES_URL") else {
        return;
    };
    let parts = common::UrlParts::parse(&url);
    let bad = format!(
        "postgres://{}:wrong-pw-123@{}:{}/{}",
        parts.user, parts.host, parts.port, parts.db
    );
    let err = PgConnector::from_url(&bad).unwrap().connect().unwrap_err();
    assert_eq!(err.sqlstate(), Some("28P01"), "{err}");
    let target = format!(
        "postgres://{}@{}:{}/{}",
        parts.user, parts.host, parts.port, parts.db
    );
    names_the_target(&err.to_string(), &[&target, "password"], "wrong-pw-123");
}

/// A password with `@` needs no percent-encoding: the user info ends at the last `@` before
/// the host (as Python's and the WHATWG URL parsers read it).
#[cfg(feature = "postgres")]
#[test]
fn postgres_password_with_at_signs() {
    use nimue::postgres::PgConnector;
    let port = closed_port();
    let url = format!("postgres://app:p@ss@w0rd@127.0.0.1:{port}/app");
    let connector = PgConnector::from_url(&url).unwrap();
    assert_eq!(connector.config().get_password(), Some(&b"p@ss@w0rd"[..]));
    assert_eq!(connector.config().get_user(), Some("app"));
    let err = connector.connect().unwrap_err();
    let target = format!("postgres://app@127.0.0.1:{port}/app");
    names_the_target(&err.to_string(), &[&target], "p@ss");
}

#[cfg(feature = "mysql")]
#[test]
fn mysql_refused_names_the_target_in_words() {
    use nimue::mysql::MySqlConnector;
    let port = closed_port();
    let url = format!("mysql://app:secret-pw@127.0.0.1:{port}/appdb");
    let err = MySqlConnector::from_url(&url)
        .unwrap()
        .connect()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Operational, "{err}");
    let target = format!("mysql://app@127.0.0.1:{port}/appdb");
    names_the_target(&err.to_string(), &[&target], "secret-pw");
}

#[cfg(feature = "mysql")]
#[test]
fn mysql_libpq_parameter_names_get_a_hint() {
    use nimue::mysql::MySqlConnector;
    let err =
        MySqlConnector::from_url("mysql://app:secret-pw@127.0.0.1/db?sslmode=require").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Interface, "{err}");
    names_the_target(&err.to_string(), &["sslmode", "ssl-mode"], "secret-pw");
    let err =
        MySqlConnector::from_url("mysql://app:secret-pw@127.0.0.1/db?nonsense=1").unwrap_err();
    names_the_target(&err.to_string(), &["nonsense"], "secret-pw");
}

#[cfg(feature = "mysql")]
#[test]
fn mysql_wrong_password_names_the_target() {
    use nimue::mysql::MySqlConnector;
    let Some(url) = common::server_env("NIMUE_TEST_MYSQL_URL") else {
        return;
    };
    let parts = common::UrlParts::parse(&url);
    let bad = format!(
        "mysql://{}:wrong-pw-123@{}:{}/{}",
        parts.user, parts.host, parts.port, parts.db
    );
    let err = MySqlConnector::from_url(&bad)
        .unwrap()
        .connect()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Operational, "{err}");
    let target = format!(
        "mysql://{}@{}:{}/{}",
        parts.user, parts.host, parts.port, parts.db
    );
    names_the_target(&err.to_string(), &[&target, "denied"], "wrong-pw-123");
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_names_the_file() {
    use nimue::sqlite::SqliteConnector;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join("app.db");
    let err = SqliteConnector::new(&path).connect().unwrap_err();
    names_the_target(&err.to_string(), &[&path.display().to_string()], "\u{0}");
}

/// A URL read from a file or an environment variable often keeps a space or a newline.
#[cfg(feature = "sqlite")]
#[test]
fn spaces_around_a_url_are_not_part_of_it() {
    let connector = nimue::any::connector("  sqlite::memory:\n").unwrap();
    connector.connect().unwrap();
}

/// ODBC names the connection string it used, its secrets masked.
#[cfg(feature = "odbc")]
#[test]
fn odbc_names_the_connection_string_without_its_password() {
    use nimue::odbc::OdbcConnector;
    if common::server_env("NIMUE_TEST_ODBC_SQLITE").is_none() {
        return;
    }
    let err = OdbcConnector::new("DSN=nimue_no_such_dsn;UID=app;PWD=secret-pw;")
        .connect()
        .unwrap_err();
    names_the_target(
        &err.to_string(),
        &["odbc:DSN=nimue_no_such_dsn;UID=app;PWD=***;"],
        "secret-pw",
    );
}
