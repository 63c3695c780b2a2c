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
            .block_on(AsyncConnection::query_scalar(
                &mut conn,
                "SELECT 41 + 1",
                (),
            ))
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

/// Native PostgreSQL connections belong to the runtime that serves their socket: used from
/// another runtime while it runs, they work; once it has shut down, the next call fails with an
/// error that says so (never a hang or a panic), and a pool discards them and says why it
/// cannot open more on that runtime.
#[cfg(feature = "postgres")]
#[test]
fn native_postgres_connections_follow_their_runtime() {
    use nimue::postgres::PgConnector;
    let Some(url) = common::server_env("NIMUE_TEST_POSTGRES_URL") else {
        return;
    };
    let connector = PgConnector::from_url(&url).unwrap();

    // Opened on a multi-thread runtime A, used on B while A runs, then after A is gone.
    let a = multi_thread();
    let mut conn = a.block_on(AsyncConnect::connect(&connector)).unwrap();
    let b = common::current_thread();
    let n: i64 = b
        .block_on(AsyncConnection::query_scalar(
            &mut conn,
            "SELECT 41 + 1",
            (),
        ))
        .unwrap();
    assert_eq!(n, 42);
    b.block_on(AsyncConnection::rollback(&mut conn)).unwrap();
    drop(a);
    let e = b
        .block_on(AsyncConnection::query_scalar::<i64>(
            &mut conn,
            "SELECT 1",
            (),
        ))
        .unwrap_err();
    assert_eq!(e.kind(), nimue::ErrorKind::Operational, "{e}");
    assert!(e.to_string().contains("runtime"), "{e}");
    assert!(nimue::PoolHooks::is_broken(&conn));

    // A pool whose connector names runtime C: C gone, its connections are discarded, and a
    // checkout's error says why none can be opened.
    let c = multi_thread();
    let pool = Pool::builder(connector.clone().runtime(c.handle().clone()))
        .max_size(2)
        .min_idle(0)
        .connection_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let n: i64 = c
        .block_on(async {
            let mut conn = pool.get_async().await.unwrap();
            AsyncConnection::query_scalar(&mut conn, "SELECT ? + 1", (1,)).await
        })
        .unwrap();
    assert_eq!(n, 2);
    drop(c);
    let e = b.block_on(pool.get_async()).map(drop).unwrap_err();
    assert!(e.to_string().contains("runtime"), "{e}");
    assert_eq!(pool.state().idle, 0, "{:?}", pool.state());
}

/// A pool built inside a current-thread runtime for that runtime (as `#[tokio::test]` makes
/// them) cannot open its `min_idle` connections synchronously there (the one thread that
/// would serve their sockets is the one waiting): `build` says so at once instead of waiting
/// out the connect timeout, and `build_lazy` works.
#[cfg(feature = "postgres")]
#[test]
fn a_current_thread_runtime_builds_its_pool_lazily() {
    use nimue::postgres::PgConnector;
    let Some(url) = common::server_env("NIMUE_TEST_POSTGRES_URL") else {
        return;
    };
    let runtime = common::current_thread();
    runtime.block_on(async {
        let connector = PgConnector::from_url(&url)
            .unwrap()
            .runtime(tokio::runtime::Handle::current());
        let e = Pool::builder(connector.clone())
            .min_idle(1)
            .build()
            .map(drop)
            .unwrap_err();
        assert!(e.to_string().contains("build_lazy"), "{e}");
        let pool = Pool::builder(connector).min_idle(1).build_lazy().unwrap();
        let mut conn = pool.get_async().await.unwrap();
        let n: i64 = AsyncConnection::query_scalar(&mut conn, "SELECT ? + 1", (1,))
            .await
            .unwrap();
        assert_eq!(n, 2);
    });
}

/// What an axum handler does, in a spawned task (its future must be `Send`): a checkout and a
/// transaction with a savepoint in it, on a pool of bridged SQLite connections and on native
/// PostgreSQL ones. (That this compiles is half the test: a transaction's future was once not
/// provably `Send` across its closure's lifetimes.)
#[test]
fn transactions_run_in_spawned_tasks() {
    async fn pay<C: AsyncConnection>(conn: &mut C) -> nimue::Result<i64> {
        conn.transaction(|tx| {
            Box::pin(async move {
                tx.execute("CREATE TEMPORARY TABLE IF NOT EXISTS t (n BIGINT)", ())
                    .await?;
                tx.execute("INSERT INTO t (n) VALUES (?)", (1,)).await?;
                tx.transaction(|inner| {
                    Box::pin(
                        async move { inner.execute("INSERT INTO t (n) VALUES (?)", (2,)).await },
                    )
                })
                .await?;
                tx.query_scalar("SELECT COUNT(*) FROM t", ()).await
            })
        })
        .await
    }
    let runtime = multi_thread();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("spawn.db").display());
    let pool = Pool::builder(BridgedConnector::new(nimue::any::connector(&url).unwrap()))
        .max_size(1)
        .build()
        .unwrap();
    let n = runtime
        .block_on(async move {
            tokio::spawn(async move { pay(&mut pool.get_async().await?).await })
                .await
                .unwrap()
        })
        .unwrap();
    assert_eq!(n, 2);
    #[cfg(feature = "postgres")]
    if let Some(url) = common::server_env("NIMUE_TEST_POSTGRES_URL") {
        let connector = nimue::postgres::PgConnector::from_url(&url)
            .unwrap()
            .runtime(runtime.handle().clone());
        let pool = Pool::builder(connector).max_size(1).build().unwrap();
        let n = runtime
            .block_on(async move {
                tokio::spawn(async move { pay(&mut pool.get_async().await?).await })
                    .await
                    .unwrap()
            })
            .unwrap();
        assert_eq!(n, 2);
    }
}

/// A native connection's return clears its session without blocking, and the pool then runs
/// its `on_connect` set-up again: driver code, which a current-thread runtime's own thread
/// cannot wait for. So with a hook the return goes to a blocking thread, and every checkout
/// gets the connection back set up (none is discarded).
#[cfg(feature = "postgres")]
#[test]
fn a_set_up_hook_runs_again_after_a_native_return() {
    use nimue::postgres::PgConnector;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let Some(url) = common::server_env("NIMUE_TEST_POSTGRES_URL") else {
        return;
    };
    let runtime = common::current_thread();
    let set_ups = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&set_ups);
    let connector = PgConnector::from_url(&url)
        .unwrap()
        .runtime(runtime.handle().clone());
    let pool = Pool::builder(connector)
        .max_size(1)
        .min_idle(0)
        .on_connect(move |c| {
            counted.fetch_add(1, Ordering::Relaxed);
            nimue::Connection::execute(c, "SET application_name = 'nimue-set-up'", ())?;
            Ok(())
        })
        .build()
        .unwrap();
    runtime.block_on(async {
        for round in 0..3 {
            let mut conn = pool.get_async().await.unwrap();
            let name: String =
                AsyncConnection::query_scalar(&mut conn, "SHOW application_name", ())
                    .await
                    .unwrap();
            assert_eq!(name, "nimue-set-up", "round {round}");
        }
    });
    let state = pool.state();
    assert_eq!(state.broken, 0, "{state:?}");
    assert_eq!(state.created, 1, "{state:?}");
    assert!(
        set_ups.load(Ordering::Relaxed) >= 3,
        "set up again after each clear"
    );
}

/// `test_on_checkout` from a task: the checkout's test is awaited with the task (native
/// PostgreSQL on a current-thread runtime, as `#[tokio::test]` runs, where a test that blocked
/// the thread could never end; bridged SQLite, whose test is a command to its thread). Each
/// checkout after the first tests the returned connection, and it passes: the pool keeps its
/// one connection instead of replacing it every time.
#[test]
fn test_on_checkout_is_awaited_by_the_task() {
    use nimue::Liveness;
    fn rounds<K>(runtime: &tokio::runtime::Runtime, pool: &Pool<K>)
    where
        K: nimue::Connect,
        Pool<K>: AsyncConnect,
        nimue::PooledConnection<K>: AsyncConnection,
    {
        runtime.block_on(async {
            for round in 0..3 {
                let mut conn = pool.get_async().await.unwrap();
                let n: i64 = AsyncConnection::query_scalar(&mut conn, "SELECT ? + 1", (round,))
                    .await
                    .unwrap();
                assert_eq!(n, round + 1);
            }
        });
        let state = pool.state();
        assert_eq!((state.created, state.checks_failed), (1, 0), "{state:?}");
    }
    let runtime = common::current_thread();
    for level in [Liveness::Ping, Liveness::Query] {
        let bridged = Pool::builder(BridgedConnector::new(
            nimue::sqlite::SqliteConnector::memory(),
        ))
        .max_size(1)
        .min_idle(0)
        .test_on_checkout(true)
        .liveness(level)
        .build()
        .unwrap();
        rounds(&runtime, &bridged);
        #[cfg(feature = "postgres")]
        if let Some(url) = common::server_env("NIMUE_TEST_POSTGRES_URL") {
            let connector = nimue::postgres::PgConnector::from_url(&url)
                .unwrap()
                .runtime(runtime.handle().clone());
            let native = Pool::builder(connector)
                .max_size(1)
                .min_idle(0)
                .test_on_checkout(true)
                .liveness(level)
                .build()
                .unwrap();
            rounds(&runtime, &native);
        }
    }
}
