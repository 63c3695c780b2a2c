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

/// Whatever a checkout changes in its session, the next checkout of the same connection does
/// not see it: statements that end without rows (the server reports their changes) and
/// queries with rows (which the server does not report on).
#[test]
fn a_checkout_leaves_nothing_of_its_session_to_the_next() {
    use nimue::{Connection, Pool, Value};
    let Some(server) = server() else { return };
    let pool = Pool::builder(server.connector).max_size(1).build().unwrap();
    let probe = "SELECT @v, @w, @@session.time_zone, @@session.sql_mode, @@session.tx_isolation, \
                 IS_USED_LOCK('nimue_reset_lock'), DATABASE(), @@in_transaction";
    let clean = pool.get().unwrap().query_row(probe, &[]).unwrap().unwrap();
    assert_eq!(clean[0], Value::Null);
    let id = {
        let mut conn = pool.get().unwrap();
        conn.execute("CREATE TABLE IF NOT EXISTS nimue_reset_t (x INT)", &[])
            .unwrap();
        conn.commit().unwrap();
        conn.connection_id()
    };
    let changes: &[&[&str]] = &[
        &["SET @v = 1"],
        &["SELECT @w := 2"],
        &["SET time_zone = '+05:00'"],
        &["SET SESSION sql_mode = 'ANSI'"],
        &["SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE"],
        &["SELECT GET_LOCK('nimue_reset_lock', 0)"],
        &["USE information_schema"],
        &["CREATE TEMPORARY TABLE nimue_reset_tmp (x INT)"],
        &["LOCK TABLES nimue_reset_t READ"],
        &["SET autocommit = 1", "START TRANSACTION", "SELECT 1"],
    ];
    for change in changes {
        {
            let mut conn = pool.get().unwrap();
            for sql in *change {
                conn.execute(sql, &[])
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
        }
        let mut conn = pool.get().unwrap();
        assert_eq!(conn.connection_id(), id, "the same connection, reused");
        let now = conn.query_row(probe, &[]).unwrap().unwrap();
        assert_eq!(now.values(), clean.values(), "after {change:?}");
        conn.execute("CREATE TEMPORARY TABLE nimue_reset_tmp (x INT)", &[])
            .map(drop)
            .unwrap_or_else(|e| panic!("after {change:?}: {e}"));
        conn.execute("DROP TEMPORARY TABLE nimue_reset_tmp", &[])
            .unwrap();
        assert!(!conn.autocommit(), "after {change:?}");
        // Under LOCK TABLES, a table that was not locked cannot be read.
        let read = conn.query("SELECT COUNT(*) FROM information_schema.tables", &[]);
        assert!(
            read.is_ok(),
            "after {change:?}: tables are unlocked: {read:?}"
        );
    }
}

/// With `SessionReset::WhenChanged` (the cheaper mode, no longer the default), a checkout
/// that only queries leaves the session alone: no `COM_RESET_CONNECTION`, so the driver's
/// prepared statements (and, here, a variable set behind nimue's back) survive it.
#[test]
fn a_checkout_that_only_queries_keeps_the_session_when_changed() {
    use mysql::prelude::Queryable;
    use nimue::mysql::{mysql, SessionReset};
    use nimue::{params, Connection, Pool};
    let Some(server) = server() else { return };
    for autocommit in [false, true] {
        let connector = server
            .connector
            .clone()
            .session_reset(SessionReset::WhenChanged);
        let pool = Pool::builder(connector)
            .max_size(1)
            .autocommit(autocommit)
            .build()
            .unwrap();
        {
            let mut conn = pool.get().unwrap();
            // Through the driver: nimue does not see this.
            conn.conn().query_drop("SET @behind_the_back = 7").unwrap();
        }
        for i in 0..3_i64 {
            let mut conn = pool.get().unwrap();
            let row = conn
                .query_row("SELECT ? + 1", &params![i])
                .unwrap()
                .unwrap();
            assert_eq!(row.get::<i64>(0).unwrap(), i + 1);
        }
        let mut conn = pool.get().unwrap();
        let kept: Option<i64> = conn.conn().query_first("SELECT @behind_the_back").unwrap();
        assert_eq!(
            kept,
            Some(7),
            "autocommit {autocommit}: the session was not reset"
        );
        assert_eq!(conn.autocommit(), autocommit);
        assert_eq!(pool.state().created, 1);
    }
}
