//! Parameters never become SQL: arbitrary text, rich in quotes, placeholders, comments and
//! dollar quotes, goes through `?` and comes back exactly, on every database of the matrix.
//! A property test (proptest; a failing case is saved under `proptest-regressions/` to be
//! committed and replayed), bounded to a few hundred cases so CI stays quick.

mod common;

use nimue::{Connect, Connection, Value};
use proptest::prelude::*;

/// Text made of the pieces most likely to confuse a placeholder rewriter or a driver.
fn nasty() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("'".to_owned()),
        Just("''".to_owned()),
        Just("\"".to_owned()),
        Just("?".to_owned()),
        Just("??".to_owned()),
        Just("$1".to_owned()),
        Just("$$".to_owned()),
        Just("$tag$".to_owned()),
        Just("--".to_owned()),
        Just("/*".to_owned()),
        Just("*/".to_owned()),
        Just("\\".to_owned()),
        Just(";".to_owned()),
        Just("`".to_owned()),
        Just("\n".to_owned()),
        Just("'; DROP TABLE t; --".to_owned()),
        "[a-z ]{0,3}",
        "\\PC{0,2}",
    ];
    prop::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
}

/// `sql` selects its two parameters back, then a literal `'?'`; all must come back unchanged.
fn round_trips<C: Connection>(conn: &mut C, sql: &str, a: &str, b: &str) {
    let row = conn
        .query_row(sql, &[Value::from(a), Value::from(b)])
        .unwrap_or_else(|e| panic!("{a:?}, {b:?}: {e}"))
        .expect("one row");
    assert_eq!(row.get::<String>(0).unwrap(), a);
    assert_eq!(row.get::<String>(1).unwrap(), b);
    assert_eq!(row.get::<String>(2).unwrap(), "?");
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 200,
        ..ProptestConfig::default()
    }
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_parameters_stay_values() {
    let conn = std::cell::RefCell::new(nimue::sqlite::SqliteConnector::memory().connect().unwrap());
    proptest!(config(), |(a in nasty(), b in nasty())| {
        round_trips(&mut *conn.borrow_mut(), "SELECT ? AS a, /* ? */ ? AS b, '?' AS q -- ?", &a, &b);
    });
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_parameters_stay_values() {
    let Some(url) = common::server_env("NIMUE_TEST_POSTGRES_URL") else {
        return;
    };
    let conn = std::cell::RefCell::new(
        nimue::postgres::PgConnector::from_url(&url)
            .unwrap()
            .connect()
            .unwrap(),
    );
    // The property runs in a `Fn` closure: borrow the connection per case.
    proptest!(config(), |(a in nasty(), b in nasty())| {
        round_trips(&mut *conn.borrow_mut(), "SELECT ?::text AS a, /* ? */ ?::text AS b, $$?$$ AS q -- ?", &a, &b);
    });
}

#[cfg(feature = "mysql")]
#[test]
fn mysql_parameters_stay_values() {
    let Some(url) = common::server_env("NIMUE_TEST_MYSQL_URL") else {
        return;
    };
    let conn = std::cell::RefCell::new(
        nimue::mysql::MySqlConnector::from_url(&url)
            .unwrap()
            .connect()
            .unwrap(),
    );
    // The property runs in a `Fn` closure: borrow the connection per case.
    proptest!(config(), |(a in nasty(), b in nasty())| {
        round_trips(&mut *conn.borrow_mut(), "SELECT ? AS a, /* ? */ ? AS b, '?' AS q -- ?", &a, &b);
    });
}
