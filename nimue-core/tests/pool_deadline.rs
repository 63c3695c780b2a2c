//! `get_timeout(d)` and `try_get()` end on time in every path (a connect that fails late, a
//! checkout hook that rejects every connection), and settings meant as "never" are accepted.
//!
//! The bounds checked here are behaviour, not speed: each is at least half the timeout above
//! what a correct pool needs, and far below what the defects they guard against took.

mod support;

use nimue_core::testing::TestConnector;
use nimue_core::PoolHooks;
use nimue_core::{Error, ErrorKind, Pool};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};
use support::{assert_consistent, builder, eventually, PATIENCE};

/// Run `f` on a thread; its result, or `None` if it did not return within [`PATIENCE`] (the
/// thread is left behind: the defect was that it never returns).
fn within_patience<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(PATIENCE).ok()
}

/// Whether `err` or one of its sources says `text`.
fn chain_mentions(err: &Error, text: &str) -> bool {
    let mut cause: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = cause {
        if e.to_string().contains(text) {
            return true;
        }
        cause = e.source();
    }
    false
}

fn rejecting_pool(connector: &TestConnector, timeout: Duration) -> Pool<TestConnector> {
    builder(connector, 0, 2)
        .connect_timeout(None)
        .connection_timeout(timeout)
        .on_checkout(|_| Err(nimue_core::Error::operational("no tenant for this session")))
        .build()
        .unwrap()
}

#[test]
fn get_timeout_ends_when_the_checkout_hook_rejects_every_connection() {
    let connector = TestConnector::new();
    let pool = rejecting_pool(&connector, PATIENCE);
    let other = pool.clone();
    let result = within_patience(move || {
        let started = Instant::now();
        let result = other.get_timeout(Duration::from_millis(200)).map(drop);
        (result, started.elapsed())
    });
    let (result, took) = result.expect("get_timeout(200 ms) returned");
    gave_up_on_the_hook(&connector, &pool, result.unwrap_err(), took, 200);
}

/// A 200 ms checkout whose every connection the hook turned away ended as it should: a
/// timeout with the hook's error as its cause, within its time; retries backed off (fewer
/// than `most_connects`: not a connect storm); every rejected connection closed and its slot
/// freed.
fn gave_up_on_the_hook(
    connector: &TestConnector,
    pool: &Pool<TestConnector>,
    err: Error,
    took: Duration,
    most_connects: u64,
) {
    assert_eq!(err.kind(), ErrorKind::PoolTimeout, "{err}");
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    assert!(
        chain_mentions(&err, "no tenant for this session"),
        "the hook's error is the cause: {err:?}"
    );
    assert!(took < Duration::from_millis(200) * 3, "took {took:?}");
    let opened = connector.stats().opened;
    assert!(opened < most_connects, "{opened} connects in 200 ms");
    assert!(eventually(|| connector.stats().live == 0));
    let state = pool.state();
    assert_eq!(
        (state.total, state.in_use, state.waiting),
        (0, 0, 0),
        "{state:?}"
    );
    assert_consistent(&state);
}

#[test]
fn try_get_ends_when_the_checkout_hook_rejects_every_connection() {
    let connector = TestConnector::new();
    let pool = rejecting_pool(&connector, PATIENCE);
    let other = pool.clone();
    let result = within_patience(move || other.try_get().map(|c| c.is_some()));
    let err = result.expect("try_get returned").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PoolTimeout, "{err}");
    assert!(
        chain_mentions(&err, "no tenant for this session"),
        "{err:?}"
    );
    assert!(connector.stats().opened <= 2, "{:?}", connector.stats());
    assert_consistent(&pool.state());
}

#[test]
fn a_connect_that_fails_late_leaves_no_second_full_wait() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 0, 1).build().unwrap();
    let timeout = Duration::from_secs(2);
    // The connect fails just before the caller's time runs out.
    connector.set_connect_delay(Duration::from_millis(1800));
    connector.fail_next_connects(1);
    let started = Instant::now();
    let err = pool.get_timeout(timeout).map(drop).unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert!(
        took < timeout + timeout / 2,
        "get_timeout({timeout:?}) took {took:?}"
    );
}

#[test]
fn a_server_that_never_answers_costs_one_timeout_not_two() {
    // connect_timeout equal to the caller's timeout (as with the defaults, 30 s each): the
    // abandoned connect must not be followed by a full wait in the queue.
    let timeout = Duration::from_secs(1);
    let connector = TestConnector::new();
    let pool = builder(&connector, 0, 2)
        .connect_timeout(Some(timeout))
        .build()
        .unwrap();
    connector.set_connect_delay(Duration::from_secs(5)); // accepts, never answers
    let started = Instant::now();
    let err = pool.get_timeout(timeout).map(drop).unwrap_err();
    let took = started.elapsed();
    assert!(
        took < timeout + timeout / 2,
        "get_timeout({timeout:?}) took {took:?}: {err}"
    );
    // Given up while its own attempt was still running: a plain timeout.
    assert_eq!(err.kind(), ErrorKind::PoolTimeout, "{err:?}");
}

#[test]
fn a_huge_check_interval_means_never_and_the_checker_keeps_working() {
    let connector = TestConnector::new();
    let pool = Pool::builder(connector.clone())
        .min_idle(2)
        .max_size(4)
        .check_interval(Duration::MAX)
        .leak_threshold(Some(Duration::MAX))
        .build_lazy()
        .unwrap();
    // The checker tops the pool up: it is alive.
    assert!(eventually(|| pool.state().idle == 2), "{:?}", pool.state());
    let mut conn = pool.get().unwrap();
    conn.ping().unwrap();
    drop(conn);
    // After a discard it opens a replacement.
    pool.get().unwrap().set_broken();
    assert!(eventually(|| pool.state().idle == 2), "{:?}", pool.state());
}

#[test]
fn huge_timeouts_and_lifetimes_are_accepted() {
    let connector = TestConnector::new();
    let pool = Pool::builder(connector.clone())
        .min_idle(1)
        .max_size(2)
        .connection_timeout(Duration::MAX)
        .connect_timeout(Some(Duration::MAX))
        .idle_timeout(Some(Duration::MAX))
        .max_lifetime(Some(Duration::MAX))
        .checkout_skip_window(Some(Duration::MAX))
        .test_on_checkout(true)
        .build()
        .unwrap();
    let a = pool.get().unwrap();
    let b = pool.get().unwrap();
    drop(a);
    drop(b);
    assert_eq!(pool.state().idle, 2);
}

#[test]
fn a_database_that_is_down_is_reported_as_the_cause_even_after_a_failed_checkout_test() {
    // The idle connection is dead (its checkout test fails) and new connects are refused:
    // the caller learns the database is unreachable, not only that a ping failed.
    let connector = TestConnector::new();
    let pool = builder(&connector, 1, 2)
        .test_on_checkout(true)
        .build()
        .unwrap();
    connector.kill_all();
    connector.set_down(true);
    let err = pool
        .get_timeout(Duration::from_millis(200))
        .map(drop)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Connect {
                timeout: Some(_),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(chain_mentions(&err, "connection refused"), "{err:?}");
}

/// A task, as a thread: the hook's error is the timeout's cause, and retries back off (it
/// made 382 connects in 300 ms where `get` made 9).
#[cfg(feature = "tokio")]
#[test]
fn get_async_ends_when_the_checkout_hook_rejects_every_connection() {
    let connector = TestConnector::new();
    let pool = rejecting_pool(&connector, PATIENCE);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let result = runtime.block_on(pool.get_async_timeout(Duration::from_millis(200)));
    let took = started.elapsed();
    gave_up_on_the_hook(&connector, &pool, result.map(drop).unwrap_err(), took, 30);
}
