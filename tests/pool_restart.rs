//! The pool across a real server restart (`pg_ctl stop -m immediate` / MariaDB killed with
//! SIGKILL, then started again), through the control scripts scripts/test.sh exports.
//!
//! In a test binary of its own: cargo runs test binaries one after another, so no other
//! test sees the servers go down.

// Each test needs only its own database's feature (`--features postgres` alone runs the
// PostgreSQL one).
#![cfg(any(feature = "postgres", feature = "mysql"))]

mod common;
mod faults;

#[cfg(feature = "postgres")]
#[test]
fn the_pool_recovers_after_a_postgres_restart() {
    let (Some(url), Some(ctl)) = (
        common::server_env("NIMUE_TEST_POSTGRES_URL"),
        common::server_env("NIMUE_TEST_POSTGRES_CTL"),
    ) else {
        return;
    };
    faults::the_pool_recovers_after_a_restart(faults::postgres(&url), &ctl);
}

#[cfg(feature = "mysql")]
#[test]
fn the_pool_recovers_after_a_mariadb_restart() {
    let (Some(url), Some(ctl)) = (
        common::server_env("NIMUE_TEST_MYSQL_URL"),
        common::server_env("NIMUE_TEST_MYSQL_CTL"),
    ) else {
        return;
    };
    faults::the_pool_recovers_after_a_restart(faults::mysql(&url), &ctl);
}
