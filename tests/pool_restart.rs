//! The pool across a real server restart (`pg_ctl stop -m immediate` / MariaDB killed with
//! SIGKILL, then started again), through the control scripts scripts/test.sh exports.
//!
//! In a test binary of its own: cargo runs test binaries one after another, so no other
//! test binary sees the servers go down. Within this one, the tests of one server take its
//! lock, so they never stop it under each other.

// Each test needs only its own database's feature (`--features postgres` alone runs the
// PostgreSQL one).
#![cfg(any(feature = "postgres", feature = "mysql"))]

mod common;
mod faults;

use std::sync::{Mutex, MutexGuard, PoisonError};

/// One server's tests run one at a time (a failed one must not stop the others: poison is
/// ignored).
fn exclusive(server: &'static Mutex<()>) -> MutexGuard<'static, ()> {
    server.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(feature = "postgres")]
static POSTGRES: Mutex<()> = Mutex::new(());

#[cfg(feature = "mysql")]
static MARIADB: Mutex<()> = Mutex::new(());

#[cfg(feature = "postgres")]
fn postgres_env() -> Option<(String, String)> {
    Some((
        common::server_env("NIMUE_TEST_POSTGRES_URL")?,
        common::server_env("NIMUE_TEST_POSTGRES_CTL")?,
    ))
}

#[cfg(feature = "mysql")]
fn mariadb_env() -> Option<(String, String)> {
    Some((
        common::server_env("NIMUE_TEST_MYSQL_URL")?,
        common::server_env("NIMUE_TEST_MYSQL_CTL")?,
    ))
}

#[cfg(feature = "postgres")]
#[test]
fn the_pool_recovers_after_a_postgres_restart() {
    let Some((url, ctl)) = postgres_env() else {
        return;
    };
    let _server = exclusive(&POSTGRES);
    faults::the_pool_recovers_after_a_restart(faults::postgres(&url), &ctl);
}

#[cfg(feature = "mysql")]
#[test]
fn the_pool_recovers_after_a_mariadb_restart() {
    let Some((url, ctl)) = mariadb_env() else {
        return;
    };
    let _server = exclusive(&MARIADB);
    faults::the_pool_recovers_after_a_restart(faults::mysql(&url), &ctl);
}

#[cfg(feature = "postgres")]
#[test]
fn callers_waiting_through_a_postgres_restart_all_get_a_connection() {
    let Some((url, ctl)) = postgres_env() else {
        return;
    };
    let _server = exclusive(&POSTGRES);
    faults::callers_waiting_through_a_restart_all_get_a_connection(faults::postgres(&url), &ctl);
}

#[cfg(feature = "mysql")]
#[test]
fn callers_waiting_through_a_mariadb_restart_all_get_a_connection() {
    let Some((url, ctl)) = mariadb_env() else {
        return;
    };
    let _server = exclusive(&MARIADB);
    faults::callers_waiting_through_a_restart_all_get_a_connection(faults::mysql(&url), &ctl);
}
