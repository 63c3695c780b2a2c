//! Changing a live pool and bounding its queue: `resize`, `drain`, `evict_on_disconnect`,
//! `max_waiting`, `wait_ready`, on the fault-injecting test driver.

mod support;

use nimue_core::testing::TestConnector;
use nimue_core::PoolHooks;
use nimue_core::{Connection, Error, ErrorKind};
use std::thread;
use std::time::Duration;
use support::{assert_consistent, builder, eventually};

#[test]
fn resize_up_serves_a_waiter_at_once() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 0, 1).build().unwrap();
    let held = pool.get().unwrap();
    let other = pool.clone();
    let waiter = thread::spawn(move || other.get().map(|c| c.id()));
    assert!(eventually(|| pool.state().waiting == 1));
    pool.resize(0, 2).unwrap();
    let id = waiter.join().unwrap().expect("served by the new room");
    assert_ne!(id, held.id());
    assert_eq!(pool.state().max_size, 2);
    assert_consistent(&pool.state());
}

#[test]
fn resize_down_closes_idle_now_and_in_use_on_return() {
    let connector = TestConnector::new();
    // No checker rounds: a ping would take the idle connection out while the test counts.
    let pool = builder(&connector, 4, 4)
        .check_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    let a = pool.get().unwrap();
    let b = pool.get().unwrap();
    pool.resize(0, 1).unwrap();
    // The two idle ones are closed at once; two are still lent out.
    let state = pool.state();
    assert_eq!(
        (state.idle, state.in_use, state.total),
        (0, 2, 2),
        "{state:?}"
    );
    assert_eq!(connector.stats().live, 2);
    assert!(
        pool.try_get().unwrap().is_none(),
        "no room above the new max_size"
    );
    drop(a); // closed: the pool is still above max_size
    assert_eq!((pool.state().total, connector.stats().live), (1, 1));
    drop(b); // kept: the pool fits again
    let state = pool.state();
    assert_eq!(
        (state.idle, state.total, state.max_size),
        (1, 1, 1),
        "{state:?}"
    );
    assert_consistent(&state);
    assert!(matches!(pool.resize(3, 2), Err(Error::Interface { .. })));
    assert_eq!(
        pool.state().max_size,
        1,
        "an invalid resize changes nothing"
    );
}

#[test]
fn drain_replaces_every_connection() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 2, 3).build().unwrap();
    let lent = pool.get().unwrap();
    let lent_id = lent.id();
    // The checker tops the pool up to min_idle idle again (at its start or its next round,
    // whichever comes after the get): wait for it, so what the drain finds is known.
    assert!(eventually(|| pool.state().idle == 2), "{:?}", pool.state());
    pool.drain();
    assert!(eventually(|| pool.state().idle == 2), "{:?}", pool.state());
    drop(lent); // opened before the drain: closed, not reused
    let state = pool.state();
    assert_eq!(
        state.evicted, 3,
        "the two idle ones and the lent one: {state:?}"
    );
    let ids: Vec<u64> = (0..3).map(|_| pool.get().unwrap().id()).collect();
    assert!(ids.iter().all(|&id| id > lent_id), "{ids:?}");
    assert_consistent(&pool.state());
}

#[test]
fn evict_on_disconnect_closes_the_older_idle_connections_after_one_dies() {
    let connector = TestConnector::new();
    // No checker rounds: its ping would find a dead connection before the test's request.
    // max_size 3: the checker cannot add a connection (opened before the eviction, so
    // evicted too) while one is lent.
    let pool = builder(&connector, 3, 3)
        .check_interval(Duration::from_secs(3600))
        .evict_on_disconnect(true)
        .build()
        .unwrap();
    // The database restarts: every connection is dead, though none knows yet.
    connector.kill_all();
    let mut conn = pool.get().unwrap();
    assert!(conn.execute("SELECT 1", &[]).is_err());
    assert!(conn.is_broken());
    drop(conn);
    // The other two were closed without anyone having to fail on them first.
    let state = pool.state();
    assert_eq!((state.broken, state.evicted), (1, 2), "{state:?}");
    assert!(eventually(|| pool.state().idle == 3));
    for _ in 0..3 {
        let mut conn = pool.get().unwrap();
        conn.execute("SELECT 1", &[])
            .expect("only new connections are left");
    }
    assert_eq!(
        pool.state().evicted,
        2,
        "replacements are not evicted again"
    );
}

#[test]
fn without_evict_on_disconnect_each_dead_connection_fails_on_its_own() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 3, 4)
        .check_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    connector.kill_all();
    drop(pool.get().unwrap().execute("SELECT 1", &[]));
    // Only the one that failed was closed; the other dead ones wait to fail on their own.
    // (Not `idle`: the checker may already have opened a replacement for the broken one.)
    let state = pool.state();
    assert_eq!(
        (state.evicted, state.broken, state.closed),
        (0, 1, 1),
        "{state:?}"
    );
}

#[test]
fn max_waiting_rejects_the_caller_past_the_limit() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 0, 1)
        .max_waiting(Some(1))
        .build()
        .unwrap();
    let held = pool.get().unwrap();
    let other = pool.clone();
    let waiter = thread::spawn(move || other.get().map(drop));
    assert!(eventually(|| pool.state().waiting == 1));
    let err = pool.get().map(drop).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PoolExhausted);
    assert!(err.to_string().contains("waiting 1"), "{err}");
    drop(held);
    waiter.join().unwrap().expect("the queued caller is served");
    let state = pool.state();
    assert_eq!((state.rejected, state.waiting), (1, 0), "{state:?}");
    assert_consistent(&state);
}

/// `max_waiting` bounds the queue of a pool that cannot grow: a caller the pool has room to
/// open a connection for waits for it (or a returned one), even with `max_waiting` 0.
#[test]
fn max_waiting_zero_still_opens_the_connections_there_is_room_for() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 0, 2)
        .max_waiting(Some(0))
        .build()
        .unwrap();
    let first = pool.get().expect("room for a first connection");
    let second = pool.get().expect("room for a second");
    let err = pool.get().map(drop).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PoolExhausted, "{err}");
    drop((first, second));
    let state = pool.state();
    assert_eq!((state.total, state.rejected), (2, 1), "{state:?}");
    assert_consistent(&state);
}

#[test]
fn wait_ready_reports_why_and_returns_once_min_idle_are_open() {
    let connector = TestConnector::new();
    connector.set_down(true);
    let pool = builder(&connector, 2, 4).build_lazy().unwrap();
    let err = pool.wait_ready(Duration::from_millis(100)).unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err}");
    assert!(
        err.to_string().contains("refused"),
        "names the cause: {err}"
    );
    connector.set_down(false);
    pool.wait_ready(support::PATIENCE).unwrap();
    assert!(pool.state().idle >= 2);
    pool.close();
    assert_eq!(
        pool.wait_ready(Duration::from_secs(1)).unwrap_err().kind(),
        ErrorKind::PoolClosed
    );
}

#[test]
fn the_checker_uses_the_configured_liveness_level() {
    use nimue_core::Liveness;
    for (level, noticed) in [(Liveness::Flag, false), (Liveness::Ping, true)] {
        let connector = TestConnector::new();
        let pool = builder(&connector, 2, 2).liveness(level).build().unwrap();
        connector.kill_all();
        if noticed {
            assert!(eventually(|| pool.state().checks_failed == 2), "{level:?}");
        } else {
            // A few rounds: the flag level does no I/O, so it cannot notice.
            thread::sleep(support::INTERVAL * 5);
            let state = pool.state();
            assert_eq!(
                (state.checks_failed, connector.stats().pings),
                (0, 0),
                "{level:?}"
            );
        }
    }
}

#[test]
fn the_checkout_test_is_skipped_only_within_the_window() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 1, 1)
        .check_interval(Duration::from_secs(3600))
        .test_on_checkout(true)
        .checkout_skip_window(Some(Duration::from_millis(50)))
        .build()
        .unwrap();
    drop(pool.get().unwrap()); // idle since it was opened: tested
    drop(pool.get().unwrap()); // just returned: trusted
    assert_eq!(connector.stats().pings, 1);
    thread::sleep(Duration::from_millis(100));
    connector.kill_all();
    // Returned longer ago than the window: tested, found dead, replaced.
    let mut conn = pool.get().unwrap();
    conn.execute("SELECT 1", &[]).expect("a live connection");
    assert_eq!(pool.state().checks_failed, 1);
}

#[test]
fn resize_up_raises_the_cap_on_connect_attempts() {
    // Built with max 1 (so at most 2 connect threads), resized to 8: eight callers with slow
    // logins all connect.
    let connector = TestConnector::new();
    let pool = builder(&connector, 0, 1).build().unwrap();
    pool.resize(0, 8).unwrap();
    connector.set_connect_delay(Duration::from_millis(300));
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let pool = pool.clone();
            thread::spawn(move || pool.get().map(|c| c.id()))
        })
        .collect();
    for caller in callers {
        if let Err(e) = caller.join().unwrap() {
            panic!("a caller failed: {e}");
        }
    }
    assert_eq!(pool.state().connect_failures, 0, "{:?}", pool.state());
}

#[test]
fn drain_replaces_a_connection_the_checker_is_pinging() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 1, 1).build().unwrap();
    let before = pool.get().unwrap().id();
    connector.set_ping_delay(Duration::from_millis(300));
    // The checker takes the idle connection out to ping it.
    assert!(eventually(|| pool.state().pending == 1));
    pool.drain();
    connector.set_ping_delay(Duration::ZERO);
    let after = pool.get().unwrap().id();
    assert_ne!(
        after, before,
        "a connection from before drain() was handed out"
    );
    assert_consistent(&pool.state());
}

#[test]
fn drain_replaces_a_connection_whose_connect_had_started() {
    let connector = TestConnector::new();
    connector.set_connect_delay(Duration::from_millis(300));
    // The checker is opening the first connection when drain() is called.
    let pool = builder(&connector, 1, 1).build_lazy().unwrap();
    assert!(eventually(|| pool.state().pending == 1));
    pool.drain();
    let conn = pool.get().unwrap();
    assert_ne!(
        conn.id(),
        1,
        "the connection opened before drain() was handed out"
    );
    assert!(pool.state().evicted >= 1, "{:?}", pool.state());
    drop(conn);
    assert_consistent(&pool.state());
}

#[test]
fn a_callers_own_connect_started_before_drain_is_not_handed_out() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 0, 1).build().unwrap();
    connector.set_connect_delay(Duration::from_millis(300));
    let other = pool.clone();
    let caller = thread::spawn(move || other.get().map(|c| c.id()));
    assert!(eventually(|| pool.state().pending == 1));
    pool.drain();
    let id = caller.join().unwrap().unwrap();
    assert_ne!(id, 1, "the connection opened before drain() was handed out");
    assert_consistent(&pool.state());
}

#[test]
fn a_connection_adopted_after_resize_down_is_not_kept_above_max_size() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 0, 2)
        .check_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    let held = pool.get().unwrap();
    connector.set_connect_delay(Duration::from_millis(400));
    // This caller gives up while its connect runs; the pool adopts the connection later.
    let err = pool.get_timeout(Duration::from_millis(50)).map(drop);
    assert!(err.is_err());
    pool.resize(0, 1).unwrap();
    assert!(
        eventually(|| pool.state().pending == 0),
        "{:?}",
        pool.state()
    );
    let state = pool.state();
    assert!(state.total <= 1, "above max_size after resize: {state:?}");
    assert_consistent(&state);
    drop(held);
}
