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
    autocommit_holds_on_every_checkout => autocommit_holds_on_every_checkout,
}

/// `COM_RESET_CONNECTION` (the adapter's reset of a used connection) clears session
/// variables: the pool runs `on_connect` again, so its settings hold on every checkout.
#[test]
fn session_settings_from_on_connect_survive_the_session_reset() {
    use nimue::{Connection, Pool};
    let Some(server) = server() else { return };
    let pool = Pool::builder(server.connector)
        .min_idle(1)
        .max_size(1)
        .on_connect(|conn| conn.execute("SET time_zone = '+02:00'", &[]).map(drop))
        .build()
        .unwrap();
    for checkout in 0..3 {
        let mut conn = pool.get().unwrap();
        let zone = conn
            .query_row("SELECT @@session.time_zone", &[])
            .unwrap()
            .unwrap()
            .get::<String>(0)
            .unwrap();
        assert_eq!(zone, "+02:00", "checkout {checkout}");
        // A user's own change lasts for this checkout only.
        conn.execute("SET time_zone = '+05:00'", &[]).unwrap();
    }
    assert_eq!(pool.state().created, 1, "one connection, reused");
}
