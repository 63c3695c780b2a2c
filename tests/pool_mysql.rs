//! The pool against a real MariaDB server (`NIMUE_TEST_MYSQL_URL`): connections killed with
//! `KILL`, and wrong credentials. The restart test is in `pool_restart.rs`.

#![cfg(feature = "mysql")]

mod common;
mod faults;

use faults::Server;
use nimue::mysql::MySqlConnector;

fn server() -> Option<Server<MySqlConnector>> {
    let url = common::server_env("NIMUE_TEST_MYSQL_URL")?;
    Some(faults::mysql(&url))
}

#[test]
fn checker_replaces_killed_connections() {
    let Some(server) = server() else { return };
    faults::checker_replaces_killed_connections(server);
}

#[test]
fn test_on_checkout_never_hands_out_a_killed_connection() {
    let Some(server) = server() else { return };
    faults::test_on_checkout_never_hands_out_a_dead_connection(server);
}

#[test]
fn a_connection_killed_while_held_is_discarded() {
    let Some(server) = server() else { return };
    faults::a_connection_killed_while_held_is_discarded(server);
}

#[test]
fn wrong_password_is_reported_as_such() {
    let Some(url) = common::server_env("NIMUE_TEST_MYSQL_URL") else {
        return;
    };
    let bad = url.replace("nimue-test-secret", "not-the-password");
    assert_ne!(bad, url, "the test URL carries the known password");
    faults::wrong_credentials_are_reported_as_such(
        MySqlConnector::from_url(&bad).unwrap(),
        "not-the-password",
        "Access denied",
    );
}

#[test]
fn one_disconnect_evicts_the_older_connections() {
    let Some(server) = server() else { return };
    faults::one_disconnect_evicts_the_older_connections(server);
}

#[test]
fn the_liveness_ladder_works() {
    let Some(server) = server() else { return };
    faults::the_liveness_ladder_works(server);
}

#[test]
fn drain_and_resize_a_live_pool() {
    let Some(server) = server() else { return };
    faults::drain_and_resize_a_live_pool(server);
}
