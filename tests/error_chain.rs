//! Errors follow the Rust API guidelines: each prints its whole story once, and returns from
//! `source()` nothing it already printed. A chain printer (anyhow's `{:#}`, a log line that
//! walks `source()`) shows the driver's reason exactly once, and the driver's own error is
//! still there to downcast ([`Error::driver_error`]).

#![cfg(feature = "sqlite")]

mod common;

use nimue::{Connect, Error, Pool};
use std::error::Error as _;
use std::time::Duration;

/// What a chain printer shows: every level's text, joined.
fn chain(err: &Error) -> Vec<String> {
    let mut levels = vec![err.to_string()];
    let mut source = err.source();
    while let Some(e) = source {
        levels.push(e.to_string());
        source = e.source();
    }
    levels
}

/// A failed connect, from `build()` and from `get()`: the reason once, the driver's error
/// reachable and of `D`'s type.
fn check_connect_failure<K: Connect + Clone, D: std::error::Error + 'static>(bad: K, reason: &str) {
    let built = Pool::builder(bad.clone())
        .min_idle(1)
        .max_size(2)
        .build()
        .unwrap_err();
    let pool = Pool::builder(bad).min_idle(0).build_lazy().unwrap();
    let got = pool
        .get_timeout(Duration::from_millis(300))
        .map(drop)
        .unwrap_err();
    for err in [built, got] {
        assert!(matches!(err, Error::Connect { .. }), "{err:?}");
        let levels = chain(&err);
        let printed = levels.join("\n");
        assert_eq!(
            printed.matches(reason).count(),
            1,
            "{reason:?} in:\n{printed}"
        );
        let driver = err.driver_error().expect("the driver's error is kept");
        assert!(driver.is::<D>(), "{driver:?}");
    }
}

#[test]
fn a_failed_sqlite_open_is_told_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir").join("x.db");
    let bad = nimue::sqlite::SqliteConnector::new(&missing);
    check_connect_failure::<_, nimue::sqlite::rusqlite::Error>(bad, "unable to open");
}

#[cfg(feature = "postgres")]
#[test]
fn a_wrong_postgres_password_is_told_once() {
    let Some(url) = common::server_env("NIMUE_TEST_POSTGRES_URL") else {
        return;
    };
    let mut bad = nimue::postgres::PgConnector::from_url(&url).unwrap();
    bad.config_mut()
        .password("wrong-password-for-the-chain-test");
    check_connect_failure::<_, nimue::postgres::postgres::Error>(
        bad,
        "password authentication failed",
    );
}

#[cfg(feature = "mysql")]
#[test]
fn a_wrong_mysql_password_is_told_once() {
    let Some(url) = common::server_env("NIMUE_TEST_MYSQL_URL") else {
        return;
    };
    let good = nimue::mysql::MySqlConnector::from_url(&url).unwrap();
    let right = good.opts().get_pass().unwrap().to_owned();
    let bad = nimue::mysql::MySqlConnector::from_url(&url.replace(&right, "wrong-pw")).unwrap();
    check_connect_failure::<_, nimue::mysql::mysql::Error>(bad, "Access denied");
}

#[test]
fn an_sql_error_is_told_once_and_keeps_the_drivers_error() {
    let conn = &mut nimue::sqlite::SqliteConnector::memory().connect().unwrap();
    let err = nimue::Connection::execute(conn, "SELEC nonsense", &[]).unwrap_err();
    assert_eq!(chain(&err).len(), 1, "{:?}", chain(&err));
    assert!(err.to_string().contains("syntax error"), "{err}");
    let driver = err.driver_error().expect("the driver's error is kept");
    assert!(driver.is::<nimue::sqlite::rusqlite::Error>(), "{driver:?}");
}
