//! A network partition between the pool and its server (PostgreSQL, MariaDB): the server
//! runs in a network namespace of the test's own (`scripts/partition`: a veth pair,
//! 10.251.N.0/30), and the link is cut silently while connections are idle and while one runs
//! a query. The connectors' TCP settings are shortened for the test (keepalive after 1 s idle,
//! every second, 2 probes; a 3 s TCP user timeout); the README states the defaults.

#![cfg(all(feature = "postgres", feature = "mysql"))]

mod common;

use nimue::mysql::MySqlConnector;
use nimue::postgres::PgConnector;
use nimue::PoolHooks;
use nimue::{Connect, Connection, ErrorKind, Pool};
use std::collections::BTreeSet;
use std::thread;
use std::time::{Duration, Instant};

/// The server's ids of all the pool's connections, held at once.
fn sessions<K: Connect>(
    pool: &Pool<K>,
    n: usize,
    id: fn(&mut K::Connection) -> i64,
) -> BTreeSet<i64> {
    let mut held: Vec<_> = (0..n).map(|_| pool.get().unwrap()).collect();
    held.iter_mut().map(|c| id(c)).collect()
}

/// Fill a pool of 3, cut the link while one connection runs `sleep` (a 30 s query) and the
/// others idle, check that nothing hangs and everything dead is found, heal the link, and
/// check the pool is whole again with new connections.
fn partition<K: Connect>(
    server: common::ScriptServers,
    connector: K,
    sleep: &'static str,
    id: fn(&mut K::Connection) -> i64,
) where
    K::Connection: Send + 'static,
{
    let timeout = Duration::from_secs(2);
    let pool = Pool::builder(connector)
        .min_idle(3)
        .max_size(3)
        .check_interval(Duration::from_millis(500))
        .connection_timeout(timeout)
        .build()
        .unwrap();
    common::eventually("the pool is full", || pool.state().idle == 3);
    let before = sessions(&pool, 3, id);

    // One connection runs a long query when the link goes.
    let mut running = pool.get().unwrap();
    let query = thread::spawn(move || {
        let started = Instant::now();
        let outcome = running.query(sleep, &[]).map(drop);
        (outcome, started.elapsed(), running.is_broken())
    });
    thread::sleep(Duration::from_millis(300));
    server.run("cut");

    // No get() hangs past its timeout, and what it hands out fails fast.
    for _ in 0..3 {
        let asked = Instant::now();
        let got = pool.get();
        assert!(
            asked.elapsed() < timeout + Duration::from_secs(1),
            "get() took {:?} during the partition",
            asked.elapsed()
        );
        if let Ok(mut conn) = got {
            let err = conn.query("SELECT 1", &[]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Operational, "{err}");
        }
    }
    // The query in flight ends with an error long before its 30 s (keepalive).
    let (outcome, took, broken) = query.join().unwrap();
    let err = outcome.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Operational, "{err}");
    assert!(broken, "its connection is marked broken");
    assert!(took < Duration::from_secs(20), "the query took {took:?}");
    // Every connection of before the cut is found dead and closed (broken in use, or its
    // idle check failed).
    common::eventually("the dead connections are discarded", || {
        let state = pool.state();
        state.idle == 0 && state.closed >= 3
    });

    server.run("heal");
    common::eventually("the pool is whole again", || pool.state().idle == 3);
    let after = sessions(&pool, 3, id);
    assert!(before.is_disjoint(&after), "all connections are new ones");
    let mut conn = pool.get().unwrap();
    let row = conn.query_row("SELECT 1", &[]).unwrap().unwrap();
    assert_eq!(row.get::<i64>(0).unwrap(), 1);
}

/// The namespace number of this run's `offset`th server (two servers, two namespaces).
fn net(offset: u32) -> u8 {
    ((std::process::id() % 100) * 2 + 20 + offset) as u8
}

#[test]
fn postgres_partition() {
    let Some(matrix) = common::server_env("NIMUE_TEST_POSTGRES_URL") else {
        return;
    };
    let password = common::UrlParts::parse(&matrix).password;
    let server = common::ScriptServers::start("partition", &[&net(0).to_string(), "postgres"]);
    let url = format!(
        "postgres://nimue:{password}@{}:5432/nimue?connect_timeout=2&keepalives_idle=1\
         &keepalives_interval=1&keepalives_retries=2&tcp_user_timeout=3",
        server.value("HOST")
    );
    let connector = PgConnector::from_url(&url)
        .unwrap()
        .ping_timeout(Duration::from_secs(1));
    partition(server, connector, "SELECT pg_sleep(30)", |c| {
        i64::from(c.backend_pid().unwrap())
    });
}

#[test]
fn mariadb_partition() {
    let Some(matrix) = common::server_env("NIMUE_TEST_MYSQL_URL") else {
        return;
    };
    let password = common::UrlParts::parse(&matrix).password;
    let server = common::ScriptServers::start("partition", &[&net(1).to_string(), "mariadb"]);
    let url = format!(
        "mysql://nimue:{password}@{}:3306/nimue?tcp_connect_timeout_ms=2000\
         &tcp_keepalive_time_ms=1000&tcp_keepalive_probe_interval_secs=1\
         &tcp_keepalive_probe_count=2&tcp_user_timeout_ms=3000",
        server.value("HOST")
    );
    let connector = MySqlConnector::from_url(&url).unwrap();
    partition(server, connector, "SELECT SLEEP(30)", |c| {
        i64::from(c.connection_id())
    });
}
