//! `nimue::matrix`: a user's test body runs on SQLite and on every listed database, and a
//! listed database that cannot be used fails instead of being skipped.

#![cfg(all(feature = "sqlite", feature = "postgres", feature = "mysql"))]

mod common;

use nimue::{matrix, params, Connection};

#[test]
fn the_body_runs_on_sqlite_and_every_listed_database() {
    let (Some(pg), Some(my)) = (
        common::server_env("NIMUE_TEST_POSTGRES_URL"),
        common::server_env("NIMUE_TEST_MYSQL_URL"),
    ) else {
        return;
    };
    let mut ran = Vec::new();
    matrix::each_database_of(&[pg, my], |db| {
        let mut conn = db.pool().get()?;
        conn.execute("CREATE TABLE IF NOT EXISTS nimue_matrix (n INT)", &[])?;
        conn.execute("INSERT INTO nimue_matrix VALUES (?)", &params![7])?;
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM nimue_matrix", &[])?
            .unwrap()
            .get(0)?;
        assert_eq!(
            n,
            1,
            "only this run's row (rolled back below) on {}",
            db.name()
        );
        conn.rollback()?;
        ran.push(db.name().to_owned());
        Ok(())
    });
    assert_eq!(ran, ["sqlite", "postgres", "mysql"]);
}

#[test]
fn a_listed_database_that_cannot_be_used_fails_the_test() {
    let unreachable = "postgres://nobody:secret-pw@127.0.0.1:1/none".to_owned();
    let outcome = std::panic::catch_unwind(|| {
        matrix::each_database_of(&[unreachable], |_| Ok(()));
    });
    let payload = outcome.expect_err("never skipped");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("cannot be used"), "{message}");
    assert!(!message.contains("secret-pw"), "{message}");
}

#[test]
fn an_error_in_the_body_names_the_database() {
    let outcome = std::panic::catch_unwind(|| {
        matrix::each_database_of(&[], |db| {
            let mut conn = db.pool().get()?;
            conn.execute("SELEC nonsense", &[]).map(drop)
        });
    });
    let payload = outcome.expect_err("the error fails the test");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.starts_with("on sqlite:"), "{message}");
}
