//! The driver underneath, on every adapter (`native`, `native_mut`), and from a
//! `BoxConnection` of `nimue::any` (`backend`, `downcast_mut`).

mod common;

use nimue::PoolHooks;
use nimue::{Connect, Connection};

#[cfg(feature = "sqlite")]
#[test]
fn sqlite() {
    use nimue::sqlite::SqliteConnection;
    let mut conn = nimue::any::connector("sqlite::memory:")
        .unwrap()
        .connect()
        .unwrap();
    assert_eq!(conn.backend(), "sqlite");
    let native = conn
        .downcast_mut::<SqliteConnection>()
        .unwrap()
        .native_mut();
    native
        .execute_batch("CREATE TABLE n (a INTEGER); INSERT INTO n VALUES (1)")
        .unwrap();
    let row = conn
        .query_row("SELECT COUNT(*) FROM n", &[])
        .unwrap()
        .unwrap();
    assert_eq!(row.get::<i64>(0).unwrap(), 1);
}

#[cfg(feature = "postgres")]
#[test]
fn postgres() {
    use nimue::postgres::PgConnection;
    let Some(url) = common::server_env("NIMUE_TEST_POSTGRES_URL") else {
        return;
    };
    let mut conn = nimue::any::connector(&url).unwrap().connect().unwrap();
    assert_eq!(conn.backend(), "postgres");
    let pg = conn.downcast_mut::<PgConnection>().unwrap();
    assert!(!pg.native().is_closed());
    let n: i64 = pg
        .run(|client| {
            Box::pin(async move { Ok(client.query_one("SELECT 7::int8", &[]).await?.get(0)) })
        })
        .unwrap();
    assert_eq!(n, 7);
    assert!(conn
        .downcast_ref::<nimue::sqlite::SqliteConnection>()
        .is_none());
}

#[cfg(feature = "mysql")]
#[test]
fn mysql() {
    use nimue::mysql::mysql::prelude::Queryable;
    use nimue::mysql::MySqlConnection;
    let Some(url) = common::server_env("NIMUE_TEST_MYSQL_URL") else {
        return;
    };
    let mut conn = nimue::any::connector(&url).unwrap().connect().unwrap();
    assert_eq!(conn.backend(), "mysql");
    let my = conn.downcast_mut::<MySqlConnection>().unwrap();
    let n: Option<i64> = my.native_mut().query_first("SELECT 7").unwrap();
    assert_eq!(n, Some(7));
    assert!(my.native().connection_id() > 0);
}

#[cfg(feature = "odbc")]
#[test]
fn odbc() {
    use nimue::odbc::OdbcConnection;
    let Some(base) = common::server_env("NIMUE_TEST_ODBC_SQLITE") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let driver = base.split(';').next().unwrap();
    let url = format!(
        "odbc:{driver};Database={};",
        dir.path().join("n.db").display()
    );
    let mut conn = nimue::any::connector(&url).unwrap().connect().unwrap();
    assert_eq!(conn.backend(), "odbc");
    let odbc = conn.downcast_mut::<OdbcConnection>().unwrap();
    assert!(!odbc
        .native_mut()
        .database_management_system_name()
        .unwrap()
        .is_empty());
}
