//! Runtime rules (issue 29, item 4): a pool and a bridged async connection are not tied to the
//! runtime they were first used on. The classic sqlx/bb8 failure, a connection opened on one
//! `#[tokio::test]`'s runtime and used on the next after the first runtime is gone ("reactor
//! gone", or a hang), must not happen: connections opened while runtime A ran keep working on
//! runtime B after A was dropped, on every database.

#![cfg(all(feature = "tokio", feature = "sqlite"))]

mod common;

use nimue::aio::{AsyncConnect, AsyncConnection, BridgedConnector};
use nimue::{BoxConnector, Connection, Pool};
use std::time::Duration;

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// One pool, three runtimes one after another (as `#[tokio::test]` makes them), each gone
/// before the next starts; and a bridged connection carried from one runtime to the next.
fn outlives_its_runtimes(url: &str) {
    let pool: Pool<BoxConnector> = Pool::builder(nimue::any::connector(url).unwrap())
        .min_idle(0)
        .max_size(2)
        .connection_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    for (round, runtime) in [
        common::current_thread(),
        multi_thread(),
        common::current_thread(),
    ]
    .into_iter()
    .enumerate()
    {
        let answer = runtime.block_on(async {
            // Both connections in use at once: the second is opened on this runtime's watch.
            let first = pool.get_async().await.unwrap();
            let mut second = pool.get_async().await.unwrap();
            let answer = second
                .interact(move |c| c.query_scalar::<i64>("SELECT ? + 1", (round as i64,)))
                .await
                .unwrap()
                .unwrap();
            drop(first);
            answer
        });
        drop(runtime);
        assert_eq!(answer, round as i64 + 1, "{url}: round {round}");
    }
    assert_eq!(pool.state().broken, 0, "{url}: {:?}", pool.state());
    assert_eq!(pool.state().checks_failed, 0, "{url}: {:?}", pool.state());

    let connector = BridgedConnector::new(nimue::any::connector(url).unwrap());
    let mut conn = common::current_thread()
        .block_on(connector.connect())
        .unwrap();
    for runtime in [common::current_thread(), multi_thread()] {
        let n: i64 = runtime
            .block_on(conn.query_scalar("SELECT 41 + 1", ()))
            .unwrap();
        assert_eq!(n, 42, "{url}");
        drop(runtime);
    }
}

#[test]
fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    outlives_its_runtimes(&format!("sqlite:{}", dir.path().join("rt.db").display()));
}

#[cfg(feature = "postgres")]
#[test]
fn postgres() {
    if let Some(url) = common::server_env("NIMUE_TEST_POSTGRES_URL") {
        outlives_its_runtimes(&url);
    }
}

#[cfg(feature = "mysql")]
#[test]
fn mariadb() {
    if let Some(url) = common::server_env("NIMUE_TEST_MYSQL_URL") {
        outlives_its_runtimes(&url);
    }
}
