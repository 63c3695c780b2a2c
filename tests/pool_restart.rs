//! The pool across a real server restart (`pg_ctl stop -m immediate` / MariaDB killed with
//! SIGKILL, then started again), through the control scripts scripts/test.sh exports.
//!
//! In a test binary of its own: cargo runs test binaries one after another, so no other
//! test sees the servers go down.

#![cfg(all(feature = "postgres", feature = "mysql"))]

mod common;
mod faults;

use faults::Server;
use nimue::mysql::{MySqlConnection, MySqlConnector};
use nimue::postgres::{PgConnection, PgConnector};

#[test]
fn the_pool_recovers_after_a_postgres_restart() {
    let (Some(url), Some(ctl)) = (
        common::server_env("NIMUE_TEST_POSTGRES_URL"),
        common::server_env("NIMUE_TEST_POSTGRES_CTL"),
    ) else {
        return;
    };
    let server = Server {
        connector: PgConnector::from_url(&url).unwrap(),
        session_id: |conn: &mut PgConnection| i64::from(conn.backend_pid().unwrap()),
        kill: |_, _| unreachable!("not used by this test"),
        exists: |_, _| unreachable!("not used by this test"),
    };
    faults::the_pool_recovers_after_a_restart(server, &ctl);
}

#[test]
fn the_pool_recovers_after_a_mariadb_restart() {
    let (Some(url), Some(ctl)) = (
        common::server_env("NIMUE_TEST_MYSQL_URL"),
        common::server_env("NIMUE_TEST_MYSQL_CTL"),
    ) else {
        return;
    };
    let server = Server {
        connector: MySqlConnector::from_url(&url).unwrap(),
        session_id: |conn: &mut MySqlConnection| i64::from(conn.connection_id()),
        kill: |_, _| unreachable!("not used by this test"),
        exists: |_, _| unreachable!("not used by this test"),
    };
    faults::the_pool_recovers_after_a_restart(server, &ctl);
}
