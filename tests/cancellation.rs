//! Cancellation (issue 29, item 3): a future dropped at any await point of `execute`, a fetch,
//! `commit`, or a checkout and its return leaves the connection either cleanly reusable or
//! discarded, never mid-protocol, and never with a transaction that is not what the session
//! says (a statement after a cancelled one still runs in PEP 249's transaction, not committed
//! on its own). On PostgreSQL's native async connections, and on MariaDB's through the bridge
//! (`BridgedConnector`, and a pool of them).
//!
//! Each case is run cancelled after its 0th, 1st, 2nd, ... pending poll, until it ends
//! without being cancelled; after each cancellation the connection is checked.

#![cfg(all(feature = "postgres", feature = "mysql", feature = "tokio"))]

mod common;

use nimue::aio::{AsyncConnect, AsyncConnection, AsyncCursor, BridgedConnector};
use nimue::mysql::MySqlConnector;
use nimue::postgres::PgConnector;
use nimue::{Connect, Pool};
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

/// No case has more await points than this: a bound on the loop, not a measurement.
const MAX_POINTS: usize = 200;

/// Poll `future` until it has been pending `n` times, then drop it (`None`), or its output if
/// it ends first.
async fn cancel_after<F: Future>(future: F, n: usize) -> Option<F::Output> {
    let mut future = pin!(future);
    let mut pending = 0;
    poll_fn(|cx| match future.as_mut().poll(cx) {
        Poll::Ready(out) => Poll::Ready(Some(out)),
        Poll::Pending if pending == n => Poll::Ready(None),
        Poll::Pending => {
            pending += 1;
            Poll::Pending
        }
    })
    .await
}

fn postgres() -> Option<PgConnector> {
    let url = common::server_env("NIMUE_TEST_POSTGRES_URL")?;
    Some(PgConnector::from_url(&url).unwrap())
}

fn mariadb() -> Option<BridgedConnector<MySqlConnector>> {
    let url = common::server_env("NIMUE_TEST_MYSQL_URL")?;
    Some(BridgedConnector::new(
        MySqlConnector::from_url(&url).unwrap(),
    ))
}

/// A query of 20 000 rows, in each database's words.
const PG_ROWS: &str = "SELECT generate_series(1, 20000)";
const MARIADB_ROWS: &str = "SELECT seq FROM seq_1_to_20000";

/// A fresh table on its own connection.
async fn table<A: AsyncConnect>(connector: &A, name: &str) {
    let mut conn = AsyncConnect::connect(connector).await.unwrap();
    conn.execute(&format!("DROP TABLE IF EXISTS {name}"), ())
        .await
        .unwrap();
    conn.execute(&format!("CREATE TABLE {name} (id BIGINT PRIMARY KEY)"), ())
        .await
        .unwrap();
    conn.commit().await.unwrap();
}

/// The connection answers a fresh statement correctly, inside a transaction it opened for it.
async fn answers<C: AsyncConnection>(conn: &mut C, n: i64) {
    let sum: i64 = conn.query_scalar("SELECT ? + 1", (n,)).await.unwrap();
    assert_eq!(sum, n + 1, "after a cancellation at point {n}");
}

async fn count<C: AsyncConnection>(conn: &mut C, table: &str) -> i64 {
    let n = conn
        .query_scalar(&format!("SELECT COUNT(*) FROM {table}"), ())
        .await
        .unwrap();
    conn.rollback().await.unwrap();
    n
}

fn a_cancelled_execute_leaves_the_next_statement_in_a_transaction<A: AsyncConnect>(connector: A) {
    common::current_thread().block_on(async {
        let t = "nimue_cancel_execute";
        table(&connector, t).await;
        let mut conn = AsyncConnect::connect(&connector).await.unwrap();
        let insert = format!("INSERT INTO {t} (id) VALUES (?)");
        // Point 0 is tried again when the execute did not wait there (a bridged connection's
        // thread can answer before the task looks: then nothing was cancelled yet).
        let mut n = 0;
        for _ in 0..MAX_POINTS {
            let done = cancel_after(conn.execute(&insert, (n as i64,)), n).await;
            // The next statement runs in PEP 249's transaction, whatever the cancelled one
            // had sent: rolled back, nothing of either is left.
            conn.execute(&insert, (-1,)).await.unwrap();
            conn.rollback().await.unwrap();
            assert_eq!(count(&mut conn, t).await, 0, "cancelled at point {n}");
            answers(&mut conn, n as i64).await;
            conn.rollback().await.unwrap();
            match done {
                None => n += 1,
                Some(_) if n == 0 => {}
                Some(_) => return,
            }
        }
        panic!("execute never ended within {MAX_POINTS} await points");
    });
}

fn a_cancelled_commit_either_committed_or_not_and_the_next_statement_is_in_a_transaction<
    A: AsyncConnect,
>(
    connector: A,
) {
    common::current_thread().block_on(async {
        let t = "nimue_cancel_commit";
        table(&connector, t).await;
        let mut conn = AsyncConnect::connect(&connector).await.unwrap();
        let insert = format!("INSERT INTO {t} (id) VALUES (?)");
        let mut committed = 0;
        for n in 0..MAX_POINTS {
            conn.execute(&insert, (n as i64,)).await.unwrap();
            let done = cancel_after(conn.commit(), n).await;
            conn.execute(&insert, (-1,)).await.unwrap();
            conn.rollback().await.unwrap();
            let now = count(&mut conn, t).await;
            assert!(
                now == committed || now == committed + 1,
                "cancelled at point {n}: {now} rows, {committed} before"
            );
            committed = now;
            if let Some(done) = done {
                done.unwrap();
                assert_eq!(committed, n as i64 + 1 - missing(&mut conn, t, n).await);
                return;
            }
        }
        panic!("commit never ended within {MAX_POINTS} await points");
    });
}

/// How many of the ids 0..=n are not in the table (cancelled commits that never went out).
async fn missing<C: AsyncConnection>(conn: &mut C, table: &str, n: usize) -> i64 {
    let present: i64 = conn
        .query_scalar(
            &format!("SELECT COUNT(*) FROM {table} WHERE id BETWEEN 0 AND ?"),
            (n as i64,),
        )
        .await
        .unwrap();
    conn.rollback().await.unwrap();
    n as i64 + 1 - present
}

fn a_cancelled_fetch_mixes_nothing_into_the_next_result<A: AsyncConnect>(connector: A, rows: &str) {
    common::current_thread().block_on(async {
        let mut conn = AsyncConnect::connect(&connector).await.unwrap();
        for n in 0..MAX_POINTS {
            let mut cur = conn.cursor().await.unwrap();
            cur.execute(rows, ()).await.unwrap();
            let done = cancel_after(cur.fetchmany(20000), n).await;
            if let Some(rows) = &done {
                // (The cursor read ahead some at execute: the rest come here.)
                assert!(rows.as_ref().unwrap().len() > 19000);
            }
            drop(cur);
            answers(&mut conn, n as i64).await;
            conn.rollback().await.unwrap();
            if done.is_some() {
                return;
            }
        }
        panic!("the fetch never ended within {MAX_POINTS} await points");
    });
}

/// `pool` is of `connector`'s database (opened for `runtime`, testing its connections at
/// checkout); `no_write` asks whether the session's transaction has written nothing (`None`:
/// the count of rows says it).
fn a_checkout_cancelled_mid_statement_goes_back_clean<A, K>(
    connector: A,
    runtime: tokio::runtime::Runtime,
    pool: Pool<K>,
    no_write: Option<&str>,
) where
    A: AsyncConnect,
    K: Connect,
    K::Connection: AsyncConnection,
{
    runtime.block_on(async {
        let t = "nimue_cancel_return";
        table(&connector, t).await;
        let insert = format!("INSERT INTO {t} (id) VALUES (?)");
        for n in 0..MAX_POINTS {
            let task = async {
                let mut conn = pool.get_async().await.unwrap();
                conn.execute(&insert, (n as i64,)).await.unwrap();
                conn.execute(&insert, (n as i64 + 10_000,)).await.unwrap();
            };
            // Dropped at point n: the statement's future and the checkout with it.
            let done = cancel_after(task, n).await;
            let mut conn = pool.get_async().await.unwrap();
            // Nothing of the cancelled checkout's transaction: no write in this one.
            if let Some(no_write) = no_write {
                let fresh: bool = conn.query_scalar(no_write, ()).await.unwrap();
                assert!(
                    fresh,
                    "cancelled at point {n}: the next checkout inherits a write"
                );
            }
            assert_eq!(count(&mut conn, t).await, 0, "cancelled at point {n}");
            answers(&mut conn, n as i64).await;
            drop(conn);
            if done.is_some() {
                let state = pool.state();
                assert_eq!((state.broken, state.checks_failed), (0, 0), "{state:?}");
                return;
            }
        }
        panic!("the checkout never ended within {MAX_POINTS} await points");
    });
}

/// Each case on each database.
mod on {
    use super::*;

    #[test]
    fn postgres_execute() {
        if let Some(c) = postgres() {
            a_cancelled_execute_leaves_the_next_statement_in_a_transaction(c);
        }
    }

    #[test]
    fn postgres_commit() {
        if let Some(c) = postgres() {
            a_cancelled_commit_either_committed_or_not_and_the_next_statement_is_in_a_transaction(
                c,
            );
        }
    }

    #[test]
    fn postgres_fetch() {
        if let Some(c) = postgres() {
            a_cancelled_fetch_mixes_nothing_into_the_next_result(c, PG_ROWS);
        }
    }

    #[test]
    fn postgres_checkout() {
        let Some(c) = postgres() else { return };
        let runtime = common::current_thread();
        let pool = Pool::builder(c.clone().runtime(runtime.handle().clone()))
            .max_size(1)
            .min_idle(0)
            .connection_timeout(Duration::from_secs(30))
            // Each checkout after the first tests the connection, awaited: cancelled there too.
            .test_on_checkout(true)
            .liveness(nimue::Liveness::Query)
            .build()
            .unwrap();
        let no_write = Some("SELECT txid_current_if_assigned() IS NULL");
        a_checkout_cancelled_mid_statement_goes_back_clean(c, runtime, pool, no_write);
    }

    #[test]
    fn mariadb_execute() {
        if let Some(c) = mariadb() {
            a_cancelled_execute_leaves_the_next_statement_in_a_transaction(c);
        }
    }

    #[test]
    fn mariadb_commit() {
        if let Some(c) = mariadb() {
            a_cancelled_commit_either_committed_or_not_and_the_next_statement_is_in_a_transaction(
                c,
            );
        }
    }

    #[test]
    fn mariadb_fetch() {
        if let Some(c) = mariadb() {
            a_cancelled_fetch_mixes_nothing_into_the_next_result(c, MARIADB_ROWS);
        }
    }

    #[test]
    fn mariadb_checkout() {
        let Some(c) = mariadb() else { return };
        let pool = Pool::builder(c.clone())
            .max_size(1)
            .min_idle(0)
            .connection_timeout(Duration::from_secs(30))
            // Each checkout after the first tests the connection, awaited: cancelled there too.
            .test_on_checkout(true)
            .liveness(nimue::Liveness::Query)
            .build()
            .unwrap();
        a_checkout_cancelled_mid_statement_goes_back_clean(c, common::current_thread(), pool, None);
    }
}
