//! The pool's semantics on the fault-injecting test driver: sizes, hand-off, returns,
//! discards, hooks, close.

mod support;

use nimue_core::testing::{TestConnection, TestConnector};
use nimue_core::PoolHooks;
use nimue_core::{Connect, Connection, Error, ErrorKind, Pool, PooledConnection, Reuse};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;
use support::{assert_consistent, builder, eventually};

const SHORT: Duration = Duration::from_millis(30);

#[test]
fn pool_and_guard_can_be_shared_across_threads() {
    fn shared<T: Clone + Send + Sync>() {}
    fn sent<T: Send>() {}
    shared::<Pool<TestConnector>>();
    sent::<PooledConnection<TestConnector>>();
}

#[test]
fn build_opens_min_idle_connections() {
    let connector = TestConnector::new();
    let pool = Pool::builder(connector.clone())
        .min_idle(3)
        .max_size(5)
        .build()
        .unwrap();
    let state = pool.state();
    assert_eq!((state.idle, state.in_use, state.total), (3, 0, 3));
    assert_eq!(connector.stats().live, 3);
    assert_consistent(&state);
}

#[test]
fn max_size_is_never_exceeded() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 1, 3).build().unwrap();
    let held: Vec<_> = (0..3).map(|_| pool.get().unwrap()).collect();
    assert!(pool.try_get().unwrap().is_none());
    let err = pool.get_timeout(SHORT).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PoolTimeout);
    assert!(!err.kind().is_database());
    assert_eq!(pool.state().total, 3);
    drop(held);
    assert!(connector.stats().max_live <= 3);
}

#[test]
fn timeout_error_carries_the_pools_numbers() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 0, 2).name("numbers").build().unwrap();
    let _held = (pool.get().unwrap(), pool.get().unwrap());
    let err = pool.get_timeout(SHORT).unwrap_err();
    let Error::Timeout(t) = &err else {
        panic!("expected a timeout, got {err:?}")
    };
    assert_eq!(t.pool, "numbers");
    assert!(t.waited >= SHORT, "{t:?}");
    assert_eq!(
        (t.size, t.max_size, t.in_use, t.idle, t.waiting),
        (2, 2, 2, 0, 0)
    );
    let text = err.to_string();
    assert!(
        text.contains("\"numbers\"") && text.contains("in use 2"),
        "{text}"
    );
    let state = pool.state();
    assert_eq!((state.timeouts, state.waits), (1, 1));
}

#[test]
fn a_get_that_gives_up_while_connecting_fails_reports_the_cause() {
    let connector = TestConnector::new();
    connector.set_down(true);
    let pool = builder(&connector, 0, 2).build_lazy().unwrap();
    let err = pool.get_timeout(Duration::from_millis(200)).unwrap_err();
    let Error::Connect { cause, timeout, .. } = &err else {
        panic!("expected a connect error, got {err:?}")
    };
    // The cause, typed: what the connector said, not "timed out".
    assert_eq!(err.kind(), cause.kind());
    assert_eq!(err.kind(), ErrorKind::Operational);
    assert!(cause.to_string().contains("connection refused"), "{cause}");
    let t = timeout.as_ref().expect("get() gave up waiting");
    assert!(t.waited >= Duration::from_millis(200));
    assert_eq!((t.size, t.max_size, t.in_use), (0, 2, 0));
    let text = err.to_string();
    assert!(
        text.contains("connection refused") && text.contains("gave up after"),
        "{text}"
    );
    let state = pool.state();
    assert!(state.connect_failures >= 1);
    assert!(state.last_connect_error.is_some());
    assert_eq!(state.total, 0, "failed connects free their slots");
    assert_consistent(&state);
    // Once connecting works again, a plain exhaustion is a plain timeout.
    connector.set_down(false);
    let held: Vec<_> = (0..2).map(|_| pool.get().unwrap()).collect();
    let err = pool.get_timeout(Duration::from_millis(20)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PoolTimeout, "{err}");
    drop(held);
}

#[test]
fn a_get_whose_timeout_ends_before_its_connect_gives_up_and_the_pool_keeps_the_connection() {
    let connector = TestConnector::new();
    // A login much slower than the caller's patience, well inside connect_timeout.
    connector.set_connect_delay(Duration::from_millis(400));
    let pool = builder(&connector, 0, 1)
        .connect_timeout(Some(Duration::from_secs(60)))
        .build_lazy()
        .unwrap();
    let err = pool.get_timeout(SHORT).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PoolTimeout, "{err}");
    // It gave up at its own timeout, while the attempt goes on for the pool.
    let state = pool.state();
    assert_eq!((state.timeouts, state.total, state.pending), (1, 1, 1));
    // The connection is kept when it arrives, not closed: the next caller uses it.
    assert!(support::eventually(|| pool.state().idle == 1));
    connector.set_connect_delay(Duration::ZERO);
    let conn = pool.get_timeout(SHORT).unwrap();
    let state = pool.state();
    assert_eq!((state.created, state.connect_failures), (1, 0));
    assert_eq!(connector.stats().opened, 1, "no second connect");
    drop(conn);
    assert_consistent(&pool.state());
}

#[test]
fn a_connect_that_outlasts_connect_timeout_after_its_caller_gave_up_frees_the_slot() {
    let connector = TestConnector::new();
    connector.set_connect_delay(Duration::from_millis(800));
    let pool = builder(&connector, 0, 1)
        .connect_timeout(Some(Duration::from_millis(200)))
        .build_lazy()
        .unwrap();
    let err = pool.get_timeout(SHORT).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PoolTimeout, "{err}");
    // At connect_timeout the attempt is abandoned: a failure, the slot free, nothing kept.
    assert!(support::eventually(|| pool.state().connect_failures == 1));
    let state = pool.state();
    assert_eq!((state.total, state.idle, state.created), (0, 0, 0));
    let cause = state.last_connect_error.expect("the cause is kept");
    assert!(cause.contains("connect_timeout"), "{cause}");
    // The late connection was closed by its thread, not leaked.
    assert!(support::eventually(|| connector.stats().live == 0));
    assert_consistent(&pool.state());
}

#[test]
fn with_lends_a_connection_for_one_call_and_takes_it_back_reset() {
    let connector = TestConnector::new();
    // max_size 1: no top-up by the checker while it is lent can change the numbers.
    let pool = builder(&connector, 1, 1).build().unwrap();
    let id = pool
        .with(|conn| {
            conn.execute("INSERT INTO t VALUES (1)", &[])?;
            assert!(conn.in_transaction());
            Ok::<_, Error>(conn.id())
        })
        .unwrap();
    let state = pool.state();
    assert_eq!((state.idle, state.in_use, state.gets), (1, 0, 1));
    // Given back rolled back, and reused.
    let again = pool.get().unwrap();
    assert_eq!(again.id(), id);
    assert!(!again.in_transaction());
    drop(again);
    // The closure's error comes back as it was, in the closure's own error type.
    #[derive(Debug, PartialEq)]
    enum Mine {
        Pool,
        Nope,
    }
    impl From<Error> for Mine {
        fn from(_: Error) -> Self {
            Mine::Pool
        }
    }
    assert_eq!(pool.with(|_| Err::<(), _>(Mine::Nope)), Err(Mine::Nope));
    // A pool error converts: closed.
    let closed = builder(&connector, 0, 1).build().unwrap();
    closed.close();
    assert_eq!(closed.with(|_| Ok::<_, Mine>(())), Err(Mine::Pool));
    assert_consistent(&pool.state());
}

#[test]
fn a_panic_inside_with_closes_the_connection_and_frees_its_slot() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 0, 1).build().unwrap();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pool.with(|_| -> Result<(), Error> { panic!("boom") })
    }));
    assert!(panicked.is_err());
    let state = pool.state();
    assert_eq!((state.total, state.in_use, state.broken), (0, 0, 1));
    // The slot is free again.
    pool.with(|conn| conn.ping()).unwrap();
    assert_consistent(&pool.state());
}

#[test]
fn build_reports_a_connect_failure_and_leaves_nothing_open() {
    let connector = TestConnector::new();
    connector.fail_next_connects(1);
    let err = Pool::builder(connector.clone())
        .min_idle(2)
        .max_size(4)
        .build()
        .unwrap_err();
    assert!(
        matches!(err, Error::Connect { timeout: None, .. }),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Operational);
    // The connector's error is kept and printed once (issue 19: printed, so not also
    // returned by `source()`).
    let Error::Connect { cause, .. } = &err else {
        unreachable!()
    };
    assert!(cause.to_string().contains("connection refused"), "{cause}");
    assert_eq!(
        err.to_string().matches("connection refused").count(),
        1,
        "{err}"
    );
    assert!(std::error::Error::source(&err).is_none(), "{err:?}");
    connector.fail_next_connects(0);
    // Fail the second connect: the first connection must be closed again.
    let flaky = TestConnector::new();
    let opened = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&opened);
    let first_only = Pool::builder(flaky.clone())
        .min_idle(3)
        .on_connect(move |_| match count.fetch_add(1, Ordering::SeqCst) {
            0 => Ok(()),
            _ => Err(Error::interface("second connection refused by the hook")),
        })
        .build();
    assert_eq!(first_only.unwrap_err().kind(), ErrorKind::Interface);
    assert_eq!(flaky.stats().live, 0);
    assert_eq!(flaky.clones(), 1, "no pool and no thread left");
    assert_eq!(connector.clones(), 1);
}

#[test]
fn invalid_settings_are_rejected() {
    let c = TestConnector::new();
    let kind = |b: nimue_core::PoolBuilder<TestConnector>| b.build().unwrap_err().kind();
    assert_eq!(
        kind(Pool::builder(c.clone()).max_size(0)),
        ErrorKind::Interface
    );
    assert_eq!(
        kind(Pool::builder(c.clone()).min_idle(3).max_size(2)),
        ErrorKind::Interface
    );
    assert_eq!(
        kind(Pool::builder(c.clone()).check_interval(Duration::ZERO)),
        ErrorKind::Interface
    );
    assert_eq!(c.clones(), 1);
}

#[test]
fn a_closure_is_a_connector() {
    let connector = TestConnector::new();
    let source = connector.clone();
    // min_idle 0: the only connection is the one `get` opens through the closure (with
    // min_idle 1 the checker may top up while it is lent, and make it two).
    let pool = Pool::builder(move || source.connect())
        .min_idle(0)
        .max_size(2)
        .build()
        .unwrap();
    pool.get().unwrap().ping().unwrap();
    assert_eq!(connector.stats().live, 1);
    assert_eq!(pool.state().created, 1);
}

fn ids(conns: &[PooledConnection<TestConnector>]) -> Vec<u64> {
    conns.iter().map(|c| c.id()).collect()
}

#[test]
fn lifo_reuses_the_most_recently_returned_connection() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 3, 3).build().unwrap();
    let conns: Vec<_> = (0..3).map(|_| pool.get().unwrap()).collect();
    let order = ids(&conns);
    drop(conns); // returned in order: the last one is the hottest
    assert_eq!(pool.get().unwrap().id(), order[2]);
}

#[test]
fn fifo_reuses_the_connection_idle_longest() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 3, 3)
        .reuse(Reuse::Fifo)
        .build()
        .unwrap();
    let conns: Vec<_> = (0..3).map(|_| pool.get().unwrap()).collect();
    let order = ids(&conns);
    drop(conns);
    assert_eq!(pool.get().unwrap().id(), order[0]);
}

#[test]
fn waiters_are_served_first_come_first_served() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 1, 1).build().unwrap();
    let held = pool.get().unwrap();
    let served = Arc::new(Mutex::new(Vec::new()));
    let mut waiters = Vec::new();
    for i in 0..5 {
        let (pool2, served) = (pool.clone(), Arc::clone(&served));
        waiters.push(thread::spawn(move || {
            let conn = pool2.get().unwrap();
            served.lock().unwrap().push(i);
            drop(conn);
        }));
        // Queue them one after the other, so the order they queued in is known.
        assert!(eventually(|| pool.state().waiting == i + 1));
    }
    drop(held);
    for waiter in waiters {
        waiter.join().unwrap();
    }
    assert_eq!(*served.lock().unwrap(), vec![0, 1, 2, 3, 4]);
    let state = pool.state();
    assert_eq!((state.total, state.waits, state.timeouts), (1, 5, 0));
    assert_eq!(
        connector.stats().opened,
        1,
        "one connection handed from waiter to waiter"
    );
}

#[test]
fn a_returned_connection_is_reset() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 1, 1).build().unwrap();
    let mut conn = pool.get().unwrap();
    let id = conn.id();
    conn.execute("INSERT INTO t VALUES (1)", &[]).unwrap();
    conn.set_autocommit(false).unwrap();
    assert!(conn.in_transaction());
    drop(conn);
    let conn = pool.get().unwrap();
    assert_eq!(conn.id(), id, "the same connection comes back");
    assert!(!conn.in_transaction(), "its transaction was rolled back");
    assert_eq!(connector.stats().resets, 1);
}

#[test]
fn a_broken_connection_is_discarded() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 0, 1).build().unwrap();
    let mut conn = pool.get().unwrap();
    let id = conn.id();
    conn.execute("BREAK", &[]).unwrap_err();
    assert!(conn.is_broken());
    drop(conn);
    let state = pool.state();
    assert_eq!((state.total, state.broken, state.closed), (0, 1, 1));
    assert_eq!(connector.stats().live, 0);
    assert_ne!(pool.get().unwrap().id(), id);
}

#[test]
fn a_panic_while_holding_a_connection_frees_its_slot() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 0, 1).build().unwrap();
    let pool2 = pool.clone();
    let result = thread::spawn(move || {
        let mut conn = pool2.get().unwrap();
        conn.execute("INSERT INTO t VALUES (1)", &[]).unwrap();
        panic!("the user's code panics mid-transaction");
    })
    .join();
    assert!(result.is_err());
    let state = pool.state();
    assert_eq!((state.total, state.in_use, state.broken), (0, 0, 1));
    assert_eq!(connector.stats().live, 0);
    assert!(!pool.get_timeout(SHORT).unwrap().in_transaction());
}

#[test]
fn a_panic_in_is_broken_discards_the_connection_and_frees_its_slot() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 0, 1)
        .check_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    // On the way back.
    let conn = pool.get().unwrap();
    connector.set_is_broken_panics(true);
    drop(conn);
    let state = pool.state();
    assert_eq!(
        (state.total, state.in_use, state.broken),
        (0, 0, 1),
        "{state:?}"
    );
    assert_eq!(connector.stats().live, 0);
    // On the way out: the idle connection's check panics; a new one is opened instead.
    connector.set_is_broken_panics(false);
    drop(pool.get_timeout(SHORT).unwrap());
    let idle = pool.get_timeout(SHORT).unwrap().id();
    connector.set_is_broken_panics(true);
    let conn = pool.get_timeout(SHORT).unwrap();
    assert_ne!(
        conn.id(),
        idle,
        "the connection whose check panicked was not handed out"
    );
    connector.set_is_broken_panics(false);
    drop(conn);
    let state = pool.state();
    assert_eq!((state.total, state.in_use), (1, 0), "{state:?}");
    assert_consistent(&state);
    assert!(pool.get_timeout(SHORT).is_ok());
}

#[test]
fn a_failed_reset_discards_and_close_reports_it() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 0, 2).build().unwrap();
    connector.set_reset_failure_rate(1.0);
    let err = pool.get().unwrap().close().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Operational);
    drop(pool.get().unwrap());
    let state = pool.state();
    assert_eq!((state.total, state.broken), (0, 2));
    connector.set_reset_failure_rate(0.0);
    pool.get().unwrap().close().unwrap();
    assert_eq!(pool.state().idle, 1);
}

#[test]
fn detach_takes_a_connection_out_and_frees_its_slot() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 0, 1).build().unwrap();
    let mine: TestConnection = pool.get().unwrap().detach();
    let state = pool.state();
    assert_eq!((state.total, state.in_use, state.closed), (0, 0, 0));
    let other = pool.get_timeout(SHORT).unwrap();
    assert_ne!(other.id(), mine.id());
    assert_eq!(connector.stats().live, 2);
    drop(mine);
    drop(other);
    assert_eq!(connector.stats().live, 1);
}

#[test]
fn detach_hands_the_free_slot_to_a_waiter() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 0, 1).build().unwrap();
    let held = pool.get().unwrap();
    let pool2 = pool.clone();
    let waiter = thread::spawn(move || pool2.get().map(|c| c.id()));
    assert!(eventually(|| pool.state().waiting == 1));
    let detached = held.detach();
    let id = waiter.join().unwrap().unwrap();
    assert_ne!(id, detached.id());
}

#[test]
fn hooks_are_called() {
    let connector = TestConnector::new();
    let calls = Arc::new([
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    ]);
    let (c1, c2, c3) = (Arc::clone(&calls), Arc::clone(&calls), Arc::clone(&calls));
    let pool = builder(&connector, 1, 2)
        .on_connect(move |conn: &mut TestConnection| {
            c1[0].fetch_add(1, Ordering::SeqCst);
            conn.set_autocommit(true)
        })
        .on_checkout(move |_| {
            c2[1].fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .on_checkin(move |conn| {
            c3[2].fetch_add(1, Ordering::SeqCst);
            assert!(!conn.in_transaction(), "on_checkin runs after reset");
            Ok(())
        })
        .build()
        .unwrap();
    let calls_now = || {
        calls
            .iter()
            .map(|c| c.load(Ordering::SeqCst))
            .collect::<Vec<_>>()
    };
    assert_eq!(calls_now(), [1, 0, 0]);
    let a = pool.get().unwrap();
    assert!(a.autocommit(), "on_connect ran on it");
    let b = pool.get().unwrap(); // a new connection
    assert_eq!(calls_now(), [2, 2, 0]);
    drop((a, b));
    assert_eq!(calls_now(), [2, 2, 2]);
}

#[test]
fn a_failing_checkout_hook_discards_and_the_get_goes_on() {
    let connector = TestConnector::new();
    let refuse_first = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&refuse_first);
    let pool = builder(&connector, 1, 1)
        .on_checkout(move |_| match count.fetch_add(1, Ordering::SeqCst) {
            0 => Err(Error::interface("not this one")),
            _ => Ok(()),
        })
        .build()
        .unwrap();
    let conn = pool.get().unwrap();
    assert_eq!(
        conn.id(),
        2,
        "the first connection was discarded, a second opened"
    );
    assert_eq!(pool.state().broken, 1);
    assert_eq!(connector.stats().live, 1);
}

#[test]
fn a_failing_checkin_hook_discards() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 0, 1)
        .on_checkin(|_| Err(Error::interface("no")))
        .build()
        .unwrap();
    assert_eq!(
        pool.get().unwrap().close().unwrap_err().kind(),
        ErrorKind::Interface
    );
    assert_eq!((pool.state().total, connector.stats().live), (0, 0));
}

#[test]
fn try_get_reports_a_connect_failure() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 0, 1).build().unwrap();
    connector.fail_next_connects(1);
    let err = pool.try_get().unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Operational);
    assert_eq!(pool.state().total, 0);
}

#[test]
fn close_wakes_waiters_and_closes_lent_connections_on_return() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 2, 2).build().unwrap();
    let lent = (pool.get().unwrap(), pool.get().unwrap());
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let pool = pool.clone();
            thread::spawn(move || pool.get().map(drop))
        })
        .collect();
    assert!(eventually(|| pool.state().waiting == 3));
    pool.close();
    for waiter in waiters {
        assert_eq!(
            waiter.join().unwrap().unwrap_err().kind(),
            ErrorKind::PoolClosed
        );
    }
    assert!(pool.is_closed());
    assert_eq!(pool.get().unwrap_err().kind(), ErrorKind::PoolClosed);
    assert!(pool.try_get().is_err());
    assert_eq!(connector.stats().live, 2);
    drop(lent);
    let state = pool.state();
    assert_eq!((state.total, state.waiting), (0, 0));
    assert_eq!(connector.stats().live, 0);
    assert_eq!(connector.stats().closed, 2, "closed, not just dropped");
}

#[test]
fn dropping_the_last_handle_closes_the_pool_and_stops_the_checker() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 2, 3).build().unwrap();
    let other = pool.clone();
    let lent = pool.get().unwrap();
    drop(pool);
    assert!(!other.is_closed(), "a handle is left");
    drop(other);
    assert_eq!(
        connector.stats().live,
        1,
        "idle ones closed, the lent one still out"
    );
    assert_eq!(
        connector.clones(),
        2,
        "the lent connection keeps the pool's core"
    );
    drop(lent);
    assert_eq!(connector.stats().live, 0);
    assert_eq!(
        connector.clones(),
        1,
        "the checker thread ended and let go of the pool"
    );
}

#[test]
fn state_counts_gets_and_creations() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 0, 4).build().unwrap();
    for _ in 0..10 {
        drop(pool.get().unwrap());
    }
    let both = (pool.get().unwrap(), pool.get().unwrap());
    let state = pool.state();
    assert_eq!(
        (state.gets, state.created, state.in_use, state.idle),
        (12, 2, 2, 0)
    );
    assert_eq!((state.max_size, state.min_idle, state.waiting), (4, 0, 0));
    assert_consistent(&state);
    drop(both);
    assert!(format!("{pool:?}").contains("in_use: 0"));
}

#[test]
fn a_connect_that_never_finishes_is_bounded_by_connect_timeout() {
    let connector = TestConnector::new();
    // A server that accepted and will answer only long after anyone waits.
    connector.set_connect_delay(Duration::from_secs(2));
    let pool = builder(&connector, 0, 1)
        .connect_timeout(Some(Duration::from_millis(50)))
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let err = pool.get_timeout(Duration::from_millis(200)).unwrap_err();
    // Not a wait for the 2 s connect: the caller's own attempt gave up at connect_timeout.
    assert!(started.elapsed() < Duration::from_secs(2), "{err}");
    let text = err.to_string();
    assert!(text.contains("connect_timeout"), "names the cause: {text}");
    let state = pool.state();
    assert_consistent(&state);
    assert_eq!(
        (state.total, state.in_use),
        (0, 0),
        "the slot is free: {state:?}"
    );
    // The abandoned attempts finish later and close what they opened.
    connector.set_connect_delay(Duration::ZERO);
    assert!(eventually(
        || connector.stats().opened > 0 && connector.stats().live == 0
    ));
    let conn = pool.get().expect("connecting works again");
    drop(conn);
    assert_consistent(&pool.state());
}

#[test]
fn abandoned_connect_attempts_are_capped() {
    let connector = TestConnector::new();
    connector.set_connect_delay(Duration::from_secs(3));
    let pool = builder(&connector, 0, 1)
        .connect_timeout(Some(Duration::from_millis(20)))
        .build()
        .unwrap();
    // Up to 2 * max_size attempts may run; once that many are abandoned, the next attempt
    // (the checker retries for the waiter) fails at once rather than starting another thread.
    let err = pool
        .get_timeout(Duration::from_secs(1))
        .unwrap_err()
        .to_string();
    assert!(err.contains("still running"), "{err}");
    assert_consistent(&pool.state());
}

/// A size no pool can have is a clear error, never a panic or an allocation of it all; a
/// large allowed one allocates nothing up front.
#[test]
fn sizes_past_the_limit_are_refused() {
    for max in [usize::MAX, 1 << 40, nimue_core::pool::MAX_SIZE + 1] {
        let err = Pool::builder(TestConnector::new())
            .max_size(max)
            .build_lazy()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Interface, "{max}: {err}");
        assert!(err.to_string().contains("limit"), "{err}");
    }
    let pool = Pool::builder(TestConnector::new())
        .min_idle(0)
        .max_size(nimue_core::pool::MAX_SIZE)
        .build()
        .unwrap();
    drop(pool.get().unwrap());
    let err = pool.resize(1, 1 << 40).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Interface, "{err}");
    pool.resize(1, 4).unwrap();
    assert!(pool.get().is_ok());
    pool.close();
}
