//! Background resets: a dropped guard whose connection's reset would wait on the database
//! hands it to the pool's resetter thread; nobody gets it before the reset is done.

mod support;

use crossbeam::channel;
use nimue_core::testing::TestConnector;
use nimue_core::{Connection, Error, PoolBuilder};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;
use support::builder;

/// The name of the thread an `on_checkin` hook ran on, for each return.
type Seen = Arc<Mutex<Vec<String>>>;

fn thread_name() -> String {
    thread::current().name().unwrap_or("").to_string()
}

/// `b` with an `on_checkin` hook that records which thread each return ran on.
fn recording(b: PoolBuilder<TestConnector>) -> (PoolBuilder<TestConnector>, Seen) {
    let seen = Seen::default();
    let log = Arc::clone(&seen);
    let b = b.on_checkin(move |_| {
        log.lock().unwrap().push(thread_name());
        Ok(())
    });
    (b, seen)
}

/// A connector whose resets take `delay` (so they "wait on the database").
fn slow_reset(delay: Duration) -> TestConnector {
    let connector = TestConnector::new();
    connector.set_reset_delay(delay);
    connector
}

#[test]
fn a_dropped_guard_is_reset_on_the_resetter_thread() {
    let connector = slow_reset(Duration::from_millis(20));
    let (b, seen) = recording(builder(&connector, 3, 3).name("bg"));
    let pool = b.build().unwrap();
    let mut first = pool.get().unwrap();
    let first_id = first.id();
    first.execute("INSERT INTO t VALUES (1)", &[]).unwrap();
    assert!(first.in_transaction());
    drop(first);
    // The other idle connections at once, then the first one once its reset is done.
    let others = [pool.get().unwrap(), pool.get().unwrap()];
    assert!(others.iter().all(|c| c.id() != first_id));
    let again = pool.get().unwrap();
    assert_eq!(again.id(), first_id);
    assert!(
        !again.in_transaction(),
        "the next user never sees the old transaction"
    );
    assert_eq!(connector.stats().resets, 1);
    assert_eq!(*seen.lock().unwrap(), ["nimue-reset bg"]);
}

#[test]
fn with_fewer_than_two_others_idle_the_caller_resets() {
    // A get right after the drop could have to wait for the reset (or, with max_waiting 0,
    // be refused): the reset stays on the caller's thread.
    let connector = slow_reset(Duration::from_millis(1));
    let (b, seen) = recording(builder(&connector, 1, 1).max_waiting(Some(0)));
    let pool = b.build().unwrap();
    drop(pool.get().unwrap());
    assert_eq!(*seen.lock().unwrap(), [thread_name()]);
    assert!(pool.try_get().unwrap().is_some());
}

#[test]
fn a_broken_connection_is_discarded_on_the_callers_thread() {
    let connector = slow_reset(Duration::from_millis(1));
    let pool = builder(&connector, 2, 2).build().unwrap();
    let mut conn = pool.get().unwrap();
    conn.set_broken();
    drop(conn);
    // Discarded before drop() returned, so its eviction or replacement is never late.
    assert_eq!(pool.state().broken, 1);
    assert_eq!(connector.stats().resets, 0);
}

#[test]
fn without_background_reset_the_caller_resets() {
    let connector = slow_reset(Duration::from_millis(1));
    let (b, seen) = recording(builder(&connector, 1, 1).background_reset(false));
    let pool = b.build().unwrap();
    drop(pool.get().unwrap());
    assert_eq!(*seen.lock().unwrap(), [thread_name()]);
    assert_eq!(pool.state().idle, 1, "back before drop() returned");
}

#[test]
fn a_fast_reset_stays_on_the_callers_thread() {
    // reset_waits() is false: a background hop would cost more than the reset.
    let connector = TestConnector::new();
    let (b, seen) = recording(builder(&connector, 1, 1));
    let pool = b.build().unwrap();
    drop(pool.get().unwrap());
    assert_eq!(*seen.lock().unwrap(), [thread_name()]);
}

#[test]
fn close_on_a_guard_resets_on_the_caller_and_reports_the_error() {
    let connector = slow_reset(Duration::from_millis(1));
    connector.set_reset_failure_rate(1.0);
    let pool = builder(&connector, 0, 1).build().unwrap();
    let conn = pool.get().unwrap();
    assert!(conn.close().is_err(), "the failed reset is reported");
    assert_eq!(pool.state().total, 0, "and the connection closed");
    assert_eq!(pool.state().broken, 1);
}

#[test]
fn a_failed_background_reset_discards_the_connection_and_frees_its_slot() {
    let connector = slow_reset(Duration::from_millis(1));
    connector.set_reset_failure_rate(1.0);
    let pool = builder(&connector, 3, 3).build().unwrap();
    drop(pool.get().unwrap()); // connection 1, reset in the background
    let _others = [pool.get().unwrap(), pool.get().unwrap()]; // connections 2 and 3, idle
                                                              // The slot comes free once the resetter has discarded connection 1.
    let conn = pool.get().unwrap();
    assert_eq!(
        conn.id(),
        4,
        "a new connection, not the one whose reset failed"
    );
    assert_eq!(pool.state().broken, 1);
}

#[test]
fn a_guard_dropped_while_panicking_is_discarded_not_reset() {
    let connector = slow_reset(Duration::from_millis(1));
    let pool = builder(&connector, 0, 1).build().unwrap();
    let p = pool.clone();
    let panicked = thread::spawn(move || {
        let _conn = p.get().unwrap();
        panic!("while holding a connection (expected by the test)");
    })
    .join();
    assert!(panicked.is_err());
    assert_eq!(pool.state().total, 0, "discarded on the panicking thread");
    assert_eq!(connector.stats().resets, 0);
}

#[test]
fn close_waits_for_the_resets_in_flight() {
    let connector = slow_reset(Duration::from_millis(50));
    let pool = builder(&connector, 4, 4).build().unwrap();
    let (a, b) = (pool.get().unwrap(), pool.get().unwrap());
    drop(a);
    drop(b);
    pool.close();
    assert_eq!(
        connector.stats().live,
        0,
        "every connection closed once close() returns"
    );
    assert!(matches!(pool.get(), Err(Error::Closed { .. })));
}

#[test]
fn a_busy_resetter_leaves_further_resets_to_the_callers() {
    let connector = slow_reset(Duration::from_millis(1));
    let seen = Seen::default();
    let log = Arc::clone(&seen);
    // The hook holds the resetter until the test lets it go (on other threads it returns).
    let (release, hold) = channel::unbounded::<()>();
    // Two connections stay idle, so the first two drops may go to the resetter.
    let pool = builder(&connector, 6, 6)
        .name("busy")
        .on_checkin(move |_| {
            let name = thread_name();
            if name.starts_with("nimue-reset") {
                // Bounded: a failing assertion below must not leave close() waiting forever.
                hold.recv_timeout(support::PATIENCE).ok();
            }
            log.lock().unwrap().push(name);
            Ok(())
        })
        .build()
        .unwrap();
    let guards: Vec<_> = (0..4).map(|_| pool.get().unwrap()).collect();
    // The first is in the resetter's hands, the second queued behind it: two pending.
    for guard in guards {
        drop(guard);
    }
    let me = thread_name();
    assert_eq!(
        *seen.lock().unwrap(),
        [me.clone(), me],
        "the 3rd and 4th reset here"
    );
    // Being reset is `pending`, not `in_use`: every guard is dropped.
    let state = pool.state();
    assert_eq!(
        (state.in_use, state.pending, state.idle),
        (0, 2, 4),
        "{state:?}"
    );
    release.send(()).unwrap();
    release.send(()).unwrap();
    assert!(support::eventually(|| seen.lock().unwrap().len() == 4));
    assert!(seen.lock().unwrap()[2..]
        .iter()
        .all(|n| n == "nimue-reset busy"));
    assert!(support::eventually(|| pool.state().idle == 6));
}
