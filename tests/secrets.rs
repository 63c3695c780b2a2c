//! Passwords never appear in Debug, Display, logs or errors: every adapter is driven through
//! the pool with a wrong password and with the right one, at the most verbose log level, and
//! everything it printed, logged or returned is searched for both.

mod common;

use nimue::{Connect, Connection, Pool};
use std::fmt::Debug;
use std::sync::Mutex;
use std::time::Duration;

/// Every log record of this test binary, formatted.
static LOGGED: Mutex<String> = Mutex::new(String::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        let line = format!(
            "{} {}: {}\n",
            record.level(),
            record.target(),
            record.args()
        );
        LOGGED.lock().unwrap().push_str(&line);
    }
    fn flush(&self) {}
}

const WRONG: &str = "wrong-Pa55word-xyzzy";

/// Drive `good` and `bad` (the same database, the right and a wrong password) through pools
/// and return everything a user could see.
fn exercise<K: Connect + Debug + Clone>(good: K, bad: K) -> String {
    // Idempotent: the first call installs the logger.
    let _ = log::set_logger(&Capture);
    log::set_max_level(log::LevelFilter::Trace);
    let mut seen = format!("{good:?}\n{bad:?}\n{good:#?}\n");

    // Wrong password: build, get, the errors, their sources, the state.
    let err = Pool::builder(bad.clone())
        .min_idle(1)
        .max_size(2)
        .build()
        .unwrap_err();
    seen += &format!("{err}\n{err:?}\n{err:#?}\n");
    let mut source = std::error::Error::source(&err);
    while let Some(e) = source {
        seen += &format!("{e}\n{e:?}\n");
        source = e.source();
    }
    let pool = Pool::builder(bad.clone()).min_idle(1).build_lazy().unwrap();
    let err = pool
        .get_timeout(Duration::from_millis(300))
        .map(drop)
        .unwrap_err();
    seen += &format!("{err}\n{err:?}\n{:?}\n{pool:?}\n", pool.state());
    let err = bad.connect().map(drop).unwrap_err();
    seen += &format!("{err}\n{err:?}\n");
    pool.close();

    // The right password: a working pool, an SQL error, a leak warning.
    let pool = Pool::builder(good)
        .min_idle(1)
        .leak_threshold(Some(Duration::from_millis(1)))
        .check_interval(Duration::from_millis(20))
        .build()
        .unwrap();
    let mut conn = pool.get().unwrap();
    let err = conn.execute("SELEC nonsense", &[]).unwrap_err();
    seen += &format!("{err}\n{err:?}\n{conn:?}\n{pool:?}\n");
    std::thread::sleep(Duration::from_millis(100)); // let the leak warning fire
    drop(conn);
    pool.close();
    drop(pool); // it logs as it goes: not while `LOGGED` is locked below
    let logged = LOGGED.lock().unwrap().clone();
    seen + &logged
}

fn assert_no_secret(seen: &str, secrets: &[&str]) {
    assert!(seen.len() > 500, "the test saw too little: {seen}");
    for secret in secrets {
        assert!(!seen.contains(secret), "{secret:?} leaked in:\n{seen}");
    }
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_never_shows_a_password() {
    let Some(url) = common::server_env("NIMUE_TEST_POSTGRES_URL") else {
        return;
    };
    let good = nimue::postgres::PgConnector::from_url(&url).unwrap();
    let mut bad = good.clone();
    bad.config_mut().password(WRONG);
    let right = String::from_utf8(good.config().get_password().unwrap().to_vec()).unwrap();
    let seen = exercise(good, bad);
    assert!(seen.contains("password authentication failed"), "{seen}");
    assert_no_secret(&seen, &[WRONG, &right]);
}

#[cfg(feature = "mysql")]
#[test]
fn mysql_never_shows_a_password() {
    let Some(url) = common::server_env("NIMUE_TEST_MYSQL_URL") else {
        return;
    };
    let good = nimue::mysql::MySqlConnector::from_url(&url).unwrap();
    let right = good.opts().get_pass().unwrap().to_owned();
    let bad = nimue::mysql::MySqlConnector::from_url(&url.replace(&right, WRONG)).unwrap();
    let seen = exercise(good, bad);
    assert!(seen.contains("Access denied"), "{seen}");
    assert_no_secret(&seen, &[WRONG, &right]);
}

#[cfg(feature = "odbc")]
#[test]
fn odbc_never_shows_a_password() {
    let Some(cs) = common::server_env("NIMUE_TEST_ODBC_POSTGRES") else {
        return;
    };
    let right = cs
        .split(';')
        .find_map(|kv| kv.strip_prefix("Pwd="))
        .expect("a Pwd= in the connection string")
        .trim_matches(|c| c == '{' || c == '}')
        .to_owned();
    let good = nimue::odbc::OdbcConnector::new(cs.clone());
    let bad = nimue::odbc::OdbcConnector::new(cs.replace(&right, WRONG));
    let seen = exercise(good, bad);
    assert!(seen.contains("password authentication failed"), "{seen}");
    assert_no_secret(&seen, &[WRONG, &right]);
}

/// The URLs `nimue::any` takes: the connector's Debug and its errors hide the password.
#[cfg(all(feature = "postgres", feature = "mysql"))]
#[test]
fn any_connectors_never_show_a_password() {
    for url in [
        format!("postgres://user:{WRONG}@127.0.0.1:1/db"),
        format!("mysql://user:{WRONG}@127.0.0.1:1/db"),
    ] {
        let connector = nimue::any::connector(&url).unwrap();
        let err = connector.connect().map(drop).unwrap_err();
        assert_no_secret(
            &format!("{connector:?}\n{err}\n{err:?}\n{}", "x".repeat(500)),
            &[WRONG],
        );
    }
}

/// Malformed and unknown URLs of every shape: `nimue::any` refuses them without repeating
/// any of the text (a libpq key=value string has its password anywhere), and every error an
/// adapter gives for a malformed URL of its scheme hides the password too.
#[test]
fn malformed_urls_never_show_a_password() {
    for url in [
        format!("host=db.internal user=app password={WRONG} dbname=app"),
        WRONG.to_string(),
        format!("user:{WRONG}@db.internal/app"),
        format!("redis://user:{WRONG}@127.0.0.1:1"),
        format!("postgres//user:{WRONG}@127.0.0.1/db"),
        format!(":{WRONG}"),
        format!("://{WRONG}"),
        format!("postgres://user:{WRONG}@127.0.0.1:notaport/db"),
        format!("postgresql://user:{WRONG}@127.0.0.1/db?sslmode=sometimes"),
        format!("mysql://user:{WRONG}@127.0.0.1:notaport/db"),
        format!("MariaDB://user:{WRONG}@127.0.0.1:1/db?ssl-mode=maybe"),
        format!("sqlite:{WRONG}.db?password={WRONG}"),
        "odbc:".to_string(),
        // A `?` in the password, unencoded: not the query's start.
        format!("postgres://u:1?statements={WRONG}@127.0.0.1:1/db"),
        format!("postgres://u:1?sslmode={WRONG}@127.0.0.1:1/db"),
        format!("mysql://u:1?ssl-mode={WRONG}@127.0.0.1:1/db"),
        format!("mysql://u:1?{WRONG}@127.0.0.1:1/db"),
        format!("host=127.0.0.1 port=1 password='{WRONG} sslmode=disable'"),
        format!("host=127.0.0.1 port=1 password='{WRONG}"),
    ] {
        let seen = match nimue::any::connector(&url) {
            Err(err) => format!("{err}\n{err:?}"),
            // Some adapters only fail when they connect (nothing listens on port 1).
            Ok(connector) => match connector.connect() {
                Err(err) => format!("{connector:?}\n{err}\n{err:?}"),
                Ok(_) => format!("{connector:?}"),
            },
        };
        assert!(!seen.is_empty());
        for shown in [WRONG.to_owned(), WRONG.to_uppercase(), WRONG.to_lowercase()] {
            assert!(!seen.contains(&shown), "{shown:?} leaked in:\n{seen}");
        }
    }
}
