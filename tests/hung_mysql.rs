//! A MariaDB server that stops answering (the whole server frozen with SIGSTOP, so this test
//! has a binary of its own: nothing else may use the server meanwhile).

#![cfg(feature = "mysql")]

mod common;

use nimue::mysql::MySqlConnector;
use nimue::PoolHooks;
use nimue::{Connection, ErrorKind, Pool};
use std::time::Duration;

/// With a statement timeout the call fails with an OperationalError instead of hanging, the
/// connection is given up, and once the server answers again the pool hands out a new one.
#[test]
fn a_hung_server_fails_the_call_and_the_pool_replaces_the_connection() {
    let Some(url) = common::server_env("NIMUE_TEST_MYSQL_URL") else {
        return;
    };
    let connector = MySqlConnector::from_url(&url)
        .unwrap()
        .statement_timeout(Duration::from_millis(500));
    let pool = Pool::builder(connector).max_size(1).build().unwrap();
    let mut conn = pool.get().unwrap();
    let id = conn.connection_id();
    let pid_file = conn
        .query_row("SELECT @@pid_file", &[])
        .unwrap()
        .unwrap()
        .get::<String>(0)
        .unwrap();
    let pid = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .to_owned();
    common::signal("-STOP", &pid);
    let outcome = conn.query("SELECT 1", &[]);
    common::signal("-CONT", &pid);
    let err = outcome.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Operational, "{err}");
    assert!(err.to_string().contains("no answer"), "{err}");
    assert!(conn.is_broken());
    drop(conn);
    let conn = pool.get().unwrap();
    assert_ne!(conn.connection_id(), id, "a new connection");
    assert_eq!(pool.state().created, 2);
}
