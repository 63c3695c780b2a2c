//! The conformance suite's async form (issue 29): the same cases through the async DB-API
//! (`nimue::aio`): on the bridge that gives every synchronous adapter the async traits, and
//! (the `_on` forms) on a native async adapter's connections.

use super::{connect, create, Target};
use futures_util::{StreamExt, TryStreamExt};
use nimue::aio::{AsyncConnect, AsyncConnection, AsyncCursor, BridgedConnector};
use nimue::{Connect, Connection, ErrorKind, Violation};
use std::future::Future;
use std::time::Duration;

/// A table of its own for each kind of async connector (the cases run in parallel, through
/// the bridge, a pool and a native adapter, against one server).
fn table_for<A>(base: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    std::any::type_name::<A>().hash(&mut hasher);
    format!("{base}_{:x}", hasher.finish() & 0xffff_ffff)
}

/// Run `future` to its end on a runtime of its own.
fn block_on<F: Future>(future: F) -> F::Output {
    crate::common::current_thread().block_on(future)
}

/// DML, queries, fetch sizes, row counts, single-row helpers and an integrity error, through
/// the async traits; every statement runs off the runtime's thread.
pub fn async_statements<K: Connect + Clone>(t: &Target<K>) {
    async_statements_on(t, &BridgedConnector::new(t.connector.clone()));
}

/// [`async_statements`] on the async connections `connector` opens.
pub fn async_statements_on<K: Connect + Clone, A: AsyncConnect>(t: &Target<K>, connector: &A) {
    let d = &t.dialect;
    let table = &table_for::<A>("nimue_conf_async");
    create(
        &mut connect(t),
        table,
        &format!("id {} PRIMARY KEY, name {}", d.int, d.text),
    );
    block_on(async {
        let mut conn = connector.connect().await.unwrap();
        assert!(!conn.autocommit());
        let insert = format!("INSERT INTO {table} (id, name) VALUES (?, ?)");
        assert_eq!(conn.execute(&insert, (1, "one")).await.unwrap(), 1);
        let mut cur = conn.cursor().await.unwrap();
        cur.executemany(&insert, (2..=10).map(|i| (i, format!("n{i}"))))
            .await
            .unwrap();
        assert_eq!(cur.rowcount(), 9);
        // The rows a statement returns count as its changes, as in the blocking suite.
        let returning = format!("INSERT INTO {table} (id, name) VALUES (?, ?) RETURNING id");
        cur.executemany(&returning, (11..=12).map(|i| (i, format!("n{i}"))))
            .await
            .unwrap();
        assert_eq!(cur.rowcount(), 2, "executemany of INSERT ... RETURNING");
        cur.execute(&format!("DELETE FROM {table} WHERE id > ?"), (10,))
            .await
            .unwrap();
        cur.execute(&format!("SELECT id, name FROM {table} ORDER BY id"), ())
            .await
            .unwrap();
        assert_eq!(cur.description().unwrap()[1].name, "name");
        let first = cur.fetchone().await.unwrap().unwrap();
        assert_eq!(first.get::<i64>(0).unwrap(), 1);
        let next: Vec<i64> = cur
            .fetchmany(3)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0).unwrap())
            .collect();
        assert_eq!(next, [2, 3, 4]);
        assert_eq!(cur.fetchall().await.unwrap().len(), 6);
        assert!(cur.fetchone().await.unwrap().is_none());
        // The rows as a Stream, three at a time.
        cur.execute(&format!("SELECT id FROM {table} ORDER BY id"), ())
            .await
            .unwrap();
        let streamed: Vec<i64> = cur
            .rows(3)
            .map(|row| row.and_then(|r| r.get::<i64>(0)))
            .try_collect()
            .await
            .unwrap();
        assert_eq!(streamed, (1..=10).collect::<Vec<_>>());
        cur.execute(&format!("DELETE FROM {table} WHERE id > ?"), (100,))
            .await
            .unwrap();
        let err = std::pin::pin!(cur.rows(3))
            .next()
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Programming, "{err}");
        drop(cur);
        conn.commit().await.unwrap();

        let (name,): (String,) = conn
            .query_one(&format!("SELECT name FROM {table} WHERE id = ?"), (1,))
            .await
            .unwrap();
        assert_eq!(name, "one");
        // The closure `Connection::query_map` takes, rows read in place as they come.
        let mapped: Vec<(i64, String)> = conn
            .query_map(
                &format!("SELECT id, name FROM {table} WHERE id <= ? ORDER BY id"),
                (3,),
                |row| Ok((row.get(0)?, row.get("name")?)),
            )
            .await
            .unwrap();
        assert_eq!(mapped[0], (1, "one".to_owned()));
        assert_eq!(mapped.len(), 3);
        let none = conn
            .query_opt::<(String,)>(&format!("SELECT name FROM {table} WHERE id = ?"), (99,))
            .await
            .unwrap();
        assert!(none.is_none());
        let err = conn
            .query_scalar::<i64>(&format!("SELECT id FROM {table} WHERE id = ?"), (99,))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NoRows, "{err}");
        let n: i64 = conn
            .query_scalar(&format!("SELECT COUNT(*) FROM {table}"), ())
            .await
            .unwrap();
        assert_eq!(n, 10);

        let err = conn.execute(&insert, (1, "again")).await.unwrap_err();
        assert_eq!(err.violation(), Some(Violation::Unique), "{err}");
        conn.rollback().await.unwrap();
        let err = conn.execute("SELEC nonsense", ()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Programming, "{err}");
        conn.rollback().await.unwrap();
        conn.execute(&format!("DROP TABLE {table}"), ())
            .await
            .unwrap();
        conn.commit().await.unwrap();
        drop(conn);
    });
}

/// `transaction` commits on `Ok`, rolls back on `Err`, on a panic, and when its future is
/// dropped unfinished; a statement or fetch whose future is dropped leaves the connection
/// usable, with nothing of it mixed into the next results.
pub fn async_transactions_and_cancellation<K: Connect + Clone>(t: &Target<K>) {
    async_transactions_and_cancellation_on(t, &BridgedConnector::new(t.connector.clone()));
}

/// [`async_transactions_and_cancellation`] on the async connections `connector` opens.
pub fn async_transactions_and_cancellation_on<K: Connect + Clone, A: AsyncConnect>(
    t: &Target<K>,
    connector: &A,
) {
    let d = &t.dialect;
    let table = &table_for::<A>("nimue_conf_async_tx");
    create(&mut connect(t), table, &format!("id {} PRIMARY KEY", d.int));
    let insert = format!("INSERT INTO {table} (id) VALUES (?)");
    let count = format!("SELECT COUNT(*) FROM {table}");
    block_on(async {
        let mut conn = connector.connect().await.unwrap();
        let insert = insert.as_str();
        conn.transaction(|tx| Box::pin(async move { tx.execute(insert, (1,)).await }))
            .await
            .unwrap();
        let failed = conn
            .transaction(|tx| {
                Box::pin(async move {
                    tx.execute(insert, (2,)).await?;
                    Err::<(), _>(nimue::Error::programming("changed my mind"))
                })
            })
            .await;
        assert!(failed.is_err());
        // Lost a race twice (a serialization failure, as the server reports it): run again,
        // each failed attempt rolled back.
        let attempts = std::sync::atomic::AtomicI64::new(0);
        let attempts = &attempts;
        let won = conn
            .transaction_retrying(5, |tx| {
                Box::pin(async move {
                    let n = attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tx.execute(insert, (100 + n,)).await?;
                    if n < 2 {
                        let lost = nimue::DatabaseError::new(ErrorKind::Operational, "lost")
                            .with_sqlstate("40001");
                        return Err(lost.into());
                    }
                    Ok(n)
                })
            })
            .await
            .unwrap();
        assert_eq!(won, 2);
        let kept: i64 = conn
            .query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE id >= 100"), ())
            .await
            .unwrap();
        assert_eq!(kept, 1, "only the attempt that won");
        conn.execute(&format!("DELETE FROM {table} WHERE id >= 100"), ())
            .await
            .unwrap();
        conn.commit().await.unwrap();
        // Dropped unfinished (a timeout while it waits): rolled back before the next call.
        let abandoned = tokio::time::timeout(
            Duration::from_millis(50),
            conn.transaction(|tx| {
                Box::pin(async move {
                    tx.execute(insert, (3,)).await?;
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Ok(())
                })
            }),
        )
        .await;
        assert!(abandoned.is_err(), "timed out");
        let n: i64 = conn.query_scalar(&count, ()).await.unwrap();
        assert_eq!(n, 1, "only the committed transaction's row");
        conn.rollback().await.unwrap();

        // Savepoints: a failed one undoes only itself; an abandoned one (its future dropped
        // while the transaction goes on) makes the transaction roll back at its end.
        conn.transaction(|tx| {
            Box::pin(async move {
                tx.execute(insert, (10,)).await?;
                let inner = tx
                    .transaction(|sp| {
                        Box::pin(async move {
                            sp.execute(insert, (11,)).await?;
                            Err::<(), _>(nimue::Error::programming("undo me"))
                        })
                    })
                    .await;
                assert!(inner.is_err());
                tx.transaction(|sp| Box::pin(async move { sp.execute(insert, (12,)).await }))
                    .await
                    .map(drop)
            })
        })
        .await
        .unwrap();
        let ids: Vec<(i64,)> = conn
            .query_as(
                &format!("SELECT id FROM {table} WHERE id >= 10 ORDER BY id"),
                (),
            )
            .await
            .unwrap();
        assert_eq!(ids, [(10,), (12,)]);
        let err = conn
            .transaction(|tx| {
                Box::pin(async move {
                    tx.execute(insert, (20,)).await?;
                    let dropped = tokio::time::timeout(
                        Duration::from_millis(50),
                        tx.transaction(|sp| {
                            Box::pin(async move {
                                sp.execute(insert, (21,)).await?;
                                tokio::time::sleep(Duration::from_secs(3600)).await;
                                Ok(())
                            })
                        }),
                    )
                    .await;
                    assert!(dropped.is_err(), "timed out");
                    tx.execute(insert, (22,)).await.map(drop)
                })
            })
            .await
            .unwrap_err();
        assert!(err.to_string().contains("abandoned"), "{err}");
        let n: i64 = conn
            .query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE id >= 20"), ())
            .await
            .unwrap();
        assert_eq!(
            n, 0,
            "the transaction around the abandoned savepoint rolled back"
        );
        conn.rollback().await.unwrap();

        // A statement and a fetch whose futures are dropped after their first poll.
        let mut cur = conn.cursor().await.unwrap();
        let select = format!("SELECT id FROM {table}");
        poll_once(cur.execute(&select, ())).await;
        drop(cur);
        let n: i64 = conn.query_scalar(&count, ()).await.unwrap();
        assert_eq!(n, 3);
        let mut cur = conn.cursor().await.unwrap();
        cur.execute(&format!("SELECT id FROM {table}"), ())
            .await
            .unwrap();
        poll_once(cur.fetchmany(10)).await;
        drop(cur);
        let rows = conn
            .query(&format!("{count} WHERE id < 10"), ())
            .await
            .unwrap();
        assert_eq!(rows[0].get::<i64>(0).unwrap(), 1);
        conn.rollback().await.unwrap();
        conn.execute(&format!("DROP TABLE {table}"), ())
            .await
            .unwrap();
        conn.commit().await.unwrap();
    });
}

/// Poll `future` once, then drop it: a call cancelled at its first await point.
async fn poll_once<F: Future>(future: F) {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        let _ = future.as_mut().poll(cx);
        std::task::Poll::Ready(())
    })
    .await;
}

/// A panic inside a transaction's future rolls it back and goes on as the panic.
pub fn async_transaction_panics<K: Connect + Clone>(t: &Target<K>) {
    async_transaction_panics_on(t, &BridgedConnector::new(t.connector.clone()));
}

/// The async cases through a pool of bridged connections (`Pool<BridgedConnector<K>>`, whose
/// checkouts are async connections), each checkout given back to the pool at its end.
pub fn async_pooled<K: Connect + Clone>(t: &Target<K>) {
    let pool = nimue::Pool::builder(BridgedConnector::new(t.connector.clone()))
        .max_size(4)
        .min_idle(0)
        .build()
        .unwrap();
    async_statements_on(t, &pool);
    async_transactions_and_cancellation_on(t, &pool);
    async_transaction_panics_on(t, &pool);
    let state = pool.state();
    assert_eq!(state.in_use, 0, "{state:?}");

    // One connection: a checkout dropped with its write uncommitted (on the runtime's thread,
    // and with a statement's future dropped midway) leaves nothing to the next.
    let table = "nimue_conf_async_pool_one";
    create(
        &mut connect(t),
        table,
        &format!("id {} PRIMARY KEY", t.dialect.int),
    );
    let one = nimue::Pool::builder(BridgedConnector::new(t.connector.clone()))
        .max_size(1)
        .build()
        .unwrap();
    let insert = format!("INSERT INTO {table} (id) VALUES (?)");
    let count = format!("SELECT COUNT(*) FROM {table}");
    block_on(async {
        for n in 0..3 {
            let mut conn = one.get_async().await.unwrap();
            conn.execute(&insert, (n,)).await.unwrap();
            if n == 1 {
                // Polled once and dropped (it may have finished already: either is fine).
                let _ = futures_util::FutureExt::now_or_never(conn.execute(&insert, (10,)));
            }
            drop(conn);
            let mut next = one.get_async().await.unwrap();
            let rows: i64 = next.query_scalar(&count, ()).await.unwrap();
            assert_eq!(
                rows, 0,
                "round {n}: the next checkout sees no write of the last"
            );
            next.rollback().await.unwrap();
        }
    });
    assert_eq!(one.state().broken, 0, "{:?}", one.state());
}

/// [`async_transaction_panics`] on the async connections `connector` opens.
pub fn async_transaction_panics_on<K: Connect + Clone, A: AsyncConnect>(
    t: &Target<K>,
    connector: &A,
) {
    let d = &t.dialect;
    let table = &table_for::<A>("nimue_conf_async_panic");
    create(&mut connect(t), table, &format!("id {} PRIMARY KEY", d.int));
    let insert = format!("INSERT INTO {table} (id) VALUES (?)");
    block_on(async {
        let mut conn = connector.connect().await.unwrap();
        let insert = insert.as_str();
        let panicked = tokio::spawn(async {}).await; // a runtime is here
        assert!(panicked.is_ok());
        let outcome = futures_catch(conn.transaction::<(), _>(|tx| {
            Box::pin(async move {
                tx.execute(insert, (1,)).await?;
                panic!("a bug in the transaction");
            })
        }))
        .await;
        assert!(outcome.is_err(), "the panic goes on");
        let n: i64 = conn
            .query_scalar(&format!("SELECT COUNT(*) FROM {table}"), ())
            .await
            .unwrap();
        assert_eq!(n, 0, "rolled back");
        conn.rollback().await.unwrap();
    });
    let mut conn = connect(t);
    conn.execute(&format!("DROP TABLE {table}"), ()).unwrap();
    conn.commit().unwrap();
}

/// `future`'s output, or the panic that ended it.
async fn futures_catch<F: Future>(future: F) -> std::thread::Result<F::Output> {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(std::task::Poll::Ready(out)) => std::task::Poll::Ready(Ok(out)),
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Err(panic) => std::task::Poll::Ready(Err(panic)),
        }
    })
    .await
}
