//! The pool against a real PostgreSQL server (`NIMUE_TEST_POSTGRES_URL`): backends
//! terminated with `pg_terminate_backend`, and wrong credentials. The restart test is in
//! `pool_restart.rs`.

#![cfg(feature = "postgres")]

mod common;
#[macro_use]
mod faults;

use faults::Server;
use nimue::postgres::PgConnector;

fn server() -> Option<Server<PgConnector>> {
    let url = common::server_env("NIMUE_TEST_POSTGRES_URL")?;
    Some(faults::postgres(&url))
}

#[test]
fn wrong_password_is_reported_as_such() {
    let Some(url) = common::server_env("NIMUE_TEST_POSTGRES_URL") else {
        return;
    };
    let mut bad = PgConnector::from_url(&url).unwrap();
    bad.config_mut().password("not-the-password");
    faults::wrong_credentials_are_reported_as_such(
        bad,
        "not-the-password",
        "password authentication failed",
    );
}

server_tests! {
    checker_replaces_terminated_backends => checker_replaces_killed_connections,
    test_on_checkout_never_hands_out_a_terminated_backend => test_on_checkout_never_hands_out_a_dead_connection,
    a_backend_terminated_while_held_is_discarded => a_connection_killed_while_held_is_discarded,
    one_disconnect_evicts_the_older_connections => one_disconnect_evicts_the_older_connections,
    the_liveness_ladder_works => the_liveness_ladder_works,
    drain_and_resize_a_live_pool => drain_and_resize_a_live_pool,
    autocommit_holds_on_every_checkout => autocommit_holds_on_every_checkout,
}
