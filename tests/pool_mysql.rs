//! The pool against a real MariaDB server (`NIMUE_TEST_MYSQL_URL`): connections killed with
//! `KILL`, and wrong credentials. The restart test is in `pool_restart.rs`.

#![cfg(feature = "mysql")]

mod common;
#[macro_use]
mod faults;

use faults::Server;
use nimue::mysql::MySqlConnector;

fn server() -> Option<Server<MySqlConnector>> {
    let url = common::server_env("NIMUE_TEST_MYSQL_URL")?;
    Some(faults::mysql(&url))
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

server_tests! {
    checker_replaces_killed_connections => checker_replaces_killed_connections,
    test_on_checkout_never_hands_out_a_killed_connection => test_on_checkout_never_hands_out_a_dead_connection,
    a_connection_killed_while_held_is_discarded => a_connection_killed_while_held_is_discarded,
    one_disconnect_evicts_the_older_connections => one_disconnect_evicts_the_older_connections,
    the_liveness_ladder_works => the_liveness_ladder_works,
    drain_and_resize_a_live_pool => drain_and_resize_a_live_pool,
}
