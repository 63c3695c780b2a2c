//! The pool against a real PostgreSQL server (`NIMUE_TEST_POSTGRES_URL`): backends
//! terminated with `pg_terminate_backend`, and wrong credentials. The restart test is in
//! `pool_restart.rs`.

#![cfg(feature = "postgres")]

mod common;
#[macro_use]
mod faults;

use faults::Server;
use nimue::postgres::PgConnector;
use nimue::PoolHooks;

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

/// The `ROLLBACK` of a returned connection is sent without waiting for its reply: it still
/// reaches the server at once (another session can take the lock the checkout held while the
/// pooled connection sits idle), and the next user of the connection never sees the old
/// transaction.
#[test]
fn a_returned_transaction_ends_at_once_and_is_not_seen_again() {
    use nimue::{params, Connect, Connection, Pool};
    let Some(server) = server() else { return };
    let mut other = server.connector.connect().unwrap();
    other
        .execute("DROP TABLE IF EXISTS nimue_pg_return", &[])
        .unwrap();
    other
        .execute("CREATE TABLE nimue_pg_return (v int4)", &[])
        .unwrap();
    other.commit().unwrap();
    let pool = Pool::builder(server.connector.clone())
        .max_size(1)
        .build()
        .unwrap();
    for round in 0..3 {
        {
            let mut conn = pool.get().unwrap();
            conn.execute("INSERT INTO nimue_pg_return VALUES (?)", &params![round])
                .unwrap();
            conn.execute("LOCK TABLE nimue_pg_return IN ACCESS EXCLUSIVE MODE", &[])
                .unwrap();
        }
        // The pooled connection is idle now: only the rollback sent on return frees the lock.
        other.execute("SET lock_timeout = '5s'", &[]).unwrap();
        let seen = other
            .query_row("SELECT count(*) FROM nimue_pg_return", &[])
            .unwrap_or_else(|e| panic!("round {round}: the lock is still held: {e}"))
            .unwrap();
        assert_eq!(seen.get::<i64>(0).unwrap(), 0, "round {round}");
        other.rollback().unwrap();
        let mut conn = pool.get().unwrap();
        let row = conn
            .query_row(
                "SELECT count(*), txid_current_if_assigned() IS NULL FROM nimue_pg_return",
                &[],
            )
            .unwrap()
            .unwrap();
        assert_eq!(row.get::<i64>(0).unwrap(), 0, "round {round}: rolled back");
        assert!(
            row.get::<bool>(1).unwrap(),
            "round {round}: a new transaction"
        );
    }
    assert_eq!(pool.state().created, 1);
    other.execute("DROP TABLE nimue_pg_return", &[]).unwrap();
    other.commit().unwrap();
}

/// A server that stops answering (its backend frozen with SIGSTOP): with a statement timeout
/// the call fails with an OperationalError instead of hanging, the connection is given up,
/// and the pool hands out a working one next.
#[test]
fn a_hung_server_fails_the_call_and_the_pool_replaces_the_connection() {
    use nimue::{Connection, ErrorKind, Pool};
    use std::time::Duration;
    let Some(server) = server() else { return };
    let pool = Pool::builder(
        server
            .connector
            .clone()
            .statement_timeout(Duration::from_millis(500)),
    )
    .max_size(1)
    .build()
    .unwrap();
    let mut conn = pool.get().unwrap();
    let pid = conn.backend_pid().unwrap().to_string();
    common::signal("-STOP", &pid);
    let outcome = conn.query("SELECT 1", &[]);
    common::signal("-CONT", &pid);
    let err = outcome.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Operational, "{err}");
    assert!(err.to_string().contains("no answer"), "{err}");
    assert!(conn.is_broken());
    drop(conn);
    let mut conn = pool.get().unwrap();
    assert_ne!(
        conn.backend_pid().unwrap().to_string(),
        pid,
        "a new connection"
    );
    assert_eq!(pool.state().created, 2);
}

/// The server says a session is over (an `ErrorResponse` of severity `FATAL`) before its
/// socket's end arrives, here held open by a relay: the connection is broken from that
/// message on, and the pool discards it rather than handing it out again (as it did when the
/// end came a moment later, and the next user's statement failed).
#[test]
fn a_fatal_error_breaks_the_connection_before_its_socket_closes() {
    use nimue::{Connection, ErrorKind, Pool};
    use std::time::Duration;
    let Some(server) = server() else { return };
    let parts = common::UrlParts::parse(&common::server_env("NIMUE_TEST_POSTGRES_URL").unwrap());
    let relay = common::relay::HoldOpenRelay::start(&format!("{}:{}", parts.host, parts.port));
    let url = format!(
        "postgres://{}:{}@127.0.0.1:{}/{}",
        parts.user,
        parts.password,
        relay.port(),
        parts.db
    );
    let pool = Pool::builder(PgConnector::from_url(&url).unwrap())
        .name("fatal")
        .min_idle(0)
        .max_size(1)
        .check_interval(Duration::from_secs(3600))
        .test_on_checkout(false)
        .build()
        .unwrap();
    let mut conn = pool.get().unwrap();
    // The pid by a statement of the user's (`backend_pid` leaves its statement's `Close` to go
    // out with the next request, whose reply the server's FATAL would then stand for).
    let row = conn.query_row("SELECT pg_backend_pid()", &[]).unwrap();
    let pid = i64::from(row.unwrap().get::<i32>(0).unwrap());
    conn.commit().unwrap();
    faults::kill_all(&server, &[pid]);
    let err = conn.query_row("SELECT 1", &[]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Operational, "{err}");
    assert_eq!(err.sqlstate(), Some("57P01"), "{err}");
    assert!(conn.is_broken(), "broken after the server's FATAL: {err}");
    let again = conn.query_row("SELECT 1", &[]).unwrap_err();
    assert_eq!(again.kind(), ErrorKind::Operational, "{again}");
    drop(conn);
    let state = pool.state();
    assert_eq!((state.idle, state.broken), (0, 1), "{state:?}");
    drop(relay);
}
