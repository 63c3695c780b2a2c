//! Connect attempts bounded by `connect_timeout` (issue 16): whatever way an attempt ends,
//! the connection it opened is used or closed, never just dropped; after `close()` the pool
//! waits for no attempt longer than `connect_timeout`, and an attempt still running closes
//! what it opens when the driver's connect returns.

mod support;

use nimue_core::testing::TestConnector;
use nimue_core::{Connection, ErrorKind};
use std::thread;
use std::time::{Duration, Instant};
use support::{builder, eventually};

/// Once no connection is alive, every one opened was closed with `close()`.
fn all_closed(connector: &TestConnector) -> bool {
    let stats = connector.stats();
    stats.live == 0 && stats.opened == stats.closed
}

/// The threads of this process whose name starts with `prefix` (Linux truncates names to 15
/// bytes).
fn threads(prefix: &str) -> Vec<String> {
    let tasks = std::fs::read_dir("/proc/self/task").expect("Linux /proc");
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|comm| comm.trim_end().to_owned())
        .filter(|comm| comm.starts_with(prefix))
        .collect()
}

#[test]
fn connects_that_end_right_at_connect_timeout_close_every_connection_they_open() {
    const TIMEOUT: Duration = Duration::from_millis(5);
    let connector = TestConnector::new();
    // Each login ends about when its caller stops waiting, so the result arrives on either
    // side of the timeout, and now and then between the caller's timeout and its letting go
    // of the channel: a connection sent then was dropped with the channel, never closed.
    connector.set_connect_delay(TIMEOUT);
    let pool = builder(&connector, 0, 4)
        .name("pc-stress")
        .connect_timeout(Some(TIMEOUT))
        .build_lazy()
        .unwrap();
    thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..150 {
                    match pool.get_timeout(Duration::from_millis(20)) {
                        Ok(conn) => conn.detach().close().unwrap(),
                        // The connect timed out (Operational), or the caller's time ran out.
                        Err(e) => assert!(
                            matches!(e.kind(), ErrorKind::Operational | ErrorKind::PoolTimeout),
                            "{e}"
                        ),
                    }
                }
            });
        }
    });
    pool.close();
    assert!(eventually(|| connector.stats().live == 0));
    let stats = connector.stats();
    assert!(stats.opened > 0, "{stats:?}");
    assert_eq!(
        stats.opened, stats.closed,
        "connections dropped, not closed: {stats:?}"
    );
}

#[test]
fn a_connect_in_flight_at_close_closes_its_connection_when_it_arrives() {
    const DELAY: Duration = Duration::from_millis(400);
    let connector = TestConnector::new();
    connector.set_connect_delay(DELAY);
    let pool = builder(&connector, 0, 1)
        .name("pa")
        .connect_timeout(Some(Duration::from_secs(20)))
        .build_lazy()
        .unwrap();
    // The caller gives up; the attempt opened for the queue goes on for the pool (its
    // opener thread waits for it).
    let started = Instant::now();
    let err = pool.get_timeout(Duration::from_millis(30)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PoolTimeout, "{err}");
    // (A thread just started bears its creator's name until it sets its own.)
    assert!(
        eventually(|| threads("pa-connect").len() == 1 && threads("nimue-open pa").len() == 1),
        "the attempt and its opener"
    );
    // close() does not wait for the attempt.
    pool.close();
    drop(pool);
    assert!(started.elapsed() < DELAY, "close() waited for the connect");
    assert_eq!(connector.stats().opened, 0);
    // When the login completes, the closed pool closes the connection, and nothing of the
    // pool is left: no connect thread, no opener thread, no share of the connector.
    assert!(eventually(|| all_closed(&connector)
        && connector.stats().opened == 1
        && threads("pa-connect").is_empty()
        && threads("nimue-open pa").is_empty()
        && connector.clones() == 1));
}

#[test]
fn after_close_the_pool_waits_for_an_attempt_at_most_connect_timeout() {
    const CONNECT_TIMEOUT: Duration = Duration::from_millis(200);
    // A login that takes much longer than connect_timeout (a server that answers late).
    const DELAY: Duration = Duration::from_secs(3);
    let connector = TestConnector::new();
    connector.set_connect_delay(DELAY);
    let pool = builder(&connector, 0, 1)
        .name("pb")
        .connect_timeout(Some(CONNECT_TIMEOUT))
        .build_lazy()
        .unwrap();
    let started = Instant::now();
    let err = pool.get_timeout(Duration::from_millis(30)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PoolTimeout, "{err}");
    pool.close();
    drop(pool);
    // The opener thread gives up at connect_timeout...
    assert!(eventually(|| threads("nimue-open pb").is_empty()));
    let watched = started.elapsed();
    assert!(
        watched < CONNECT_TIMEOUT + Duration::from_secs(1),
        "the opener thread outlived connect_timeout by far: {watched:?}"
    );
    // ...while the attempt's own thread is still in the driver's connect, which nothing can
    // interrupt; it holds no connection yet.
    assert_eq!(threads("pb-connect"), ["pb-connect"]);
    assert_eq!(connector.stats().opened, 0);
    // When the driver's connect returns, the thread closes the connection and ends.
    assert!(eventually(|| all_closed(&connector)
        && connector.stats().opened == 1
        && threads("pb-connect").is_empty()
        && connector.clones() == 1));
    assert!(started.elapsed() >= DELAY);
}

#[test]
fn close_waits_for_a_checker_that_is_connecting_at_most_connect_timeout() {
    const CONNECT_TIMEOUT: Duration = Duration::from_millis(200);
    const DELAY: Duration = Duration::from_secs(3);
    let connector = TestConnector::new();
    connector.set_connect_delay(DELAY);
    // min_idle 1: the checker starts connecting at once.
    let pool = builder(&connector, 1, 1)
        .name("pc")
        .connect_timeout(Some(CONNECT_TIMEOUT))
        .build_lazy()
        .unwrap();
    assert!(eventually(|| !threads("pc-connect").is_empty()));
    let closing = Instant::now();
    // close() joins the checker, which waits for its attempt at most connect_timeout.
    pool.close();
    let took = closing.elapsed();
    assert!(
        took < CONNECT_TIMEOUT + Duration::from_secs(1),
        "close() took {took:?}"
    );
    drop(pool);
    assert!(eventually(|| all_closed(&connector)
        && connector.stats().opened >= 1
        && threads("pc-connect").is_empty()
        && connector.clones() == 1));
}
