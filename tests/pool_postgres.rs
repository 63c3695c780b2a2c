//! The pool against a real PostgreSQL server (`NIMUE_TEST_POSTGRES_URL`): backends
//! terminated with `pg_terminate_backend`, and wrong credentials. The restart test is in
//! `pool_restart.rs`.

#![cfg(feature = "postgres")]

mod common;
mod faults;

use faults::Server;
use nimue::postgres::PgConnector;

fn server() -> Option<Server<PgConnector>> {
    let url = common::server_env("NIMUE_TEST_POSTGRES_URL")?;
    Some(faults::postgres(&url))
}

#[test]
fn checker_replaces_terminated_backends() {
    let Some(server) = server() else { return };
    faults::checker_replaces_killed_connections(server);
}

#[test]
fn test_on_checkout_never_hands_out_a_terminated_backend() {
    let Some(server) = server() else { return };
    faults::test_on_checkout_never_hands_out_a_dead_connection(server);
}

#[test]
fn a_backend_terminated_while_held_is_discarded() {
    let Some(server) = server() else { return };
    faults::a_connection_killed_while_held_is_discarded(server);
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
