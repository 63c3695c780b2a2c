//! The liveness checker and back-off, on the fault-injecting test driver. Background effects
//! are polled for with a generous deadline; nothing here asserts on how fast they happen.

mod support;

use nimue_core::testing::TestConnector;
use nimue_core::Pool;
use nimue_core::PoolHooks;
use std::thread;
use std::time::Duration;
use support::{assert_consistent, builder, eventually, INTERVAL};

/// Long enough that the checker does nothing during a test.
const QUIET: Duration = Duration::from_secs(3600);

#[test]
fn dead_idle_connections_are_replaced() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 3, 5).build().unwrap();
    connector.kill_all(); // ids 1..=3 are dead now
    assert!(
        eventually(|| {
            let state = pool.state();
            state.checks_failed >= 3 && state.idle == 3 && state.pending == 0
        }),
        "{:?}",
        pool.state()
    );
    assert_consistent(&pool.state());
    assert_eq!(connector.stats().live, 3);
    let conns: Vec<_> = (0..3).map(|_| pool.get().unwrap()).collect();
    for mut conn in conns {
        assert!(conn.id() > 3, "a replacement");
        conn.ping().unwrap();
    }
}

#[test]
fn the_checker_keeps_min_idle_connections_ready() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 2, 4).build().unwrap();
    let lent = (pool.get().unwrap(), pool.get().unwrap());
    assert!(eventually(|| pool.state().idle == 2), "{:?}", pool.state());
    let state = pool.state();
    assert_eq!((state.total, state.in_use), (4, 2));
    drop(lent);
    // Never above max_size: the returned ones make 4 idle, none more is opened.
    thread::sleep(INTERVAL * 3);
    assert_eq!(pool.state().total, 4);
}

#[test]
fn build_lazy_fills_the_pool_in_the_background() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 3, 5).build_lazy().unwrap();
    assert!(eventually(|| pool.state().idle == 3), "{:?}", pool.state());
    assert_eq!(connector.stats().live, 3);
}

#[test]
fn test_on_checkout_never_hands_out_a_dead_connection() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 4, 4)
        .check_interval(QUIET)
        .test_on_checkout(true)
        .build()
        .unwrap();
    for _ in 0..3 {
        connector.kill_all();
        let conns: Vec<_> = (0..4).map(|_| pool.get().unwrap()).collect();
        for mut conn in conns {
            conn.ping().expect("a live connection");
        }
    }
    let state = pool.state();
    assert_eq!(state.checks_failed, 12);
    assert_eq!(state.total, 4);
}

#[test]
fn idle_connections_retire_after_idle_timeout_down_to_min_idle() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 1, 4)
        .idle_timeout(Some(Duration::from_millis(100)))
        .build()
        .unwrap();
    drop((0..4).map(|_| pool.get().unwrap()).collect::<Vec<_>>());
    assert_eq!(pool.state().idle, 4);
    assert!(eventually(|| pool.state().total == 1), "{:?}", pool.state());
    let state = pool.state();
    assert_eq!((state.idle, state.retired), (1, 3));
    assert_eq!(
        (state.retired_idle, state.retired_lifetime),
        (3, 0),
        "closed for idleness"
    );
    thread::sleep(INTERVAL * 4);
    assert_eq!(pool.state().total, 1, "never below min_idle");
    assert_eq!(connector.stats().live, 1);
}

#[test]
fn idle_connections_past_max_lifetime_are_replaced() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 2, 3)
        .max_lifetime(Some(Duration::from_millis(150)))
        .build()
        .unwrap();
    assert!(
        eventually(|| pool.state().retired >= 2 && connector.stats().opened >= 4),
        "{:?}",
        pool.state()
    );
    assert_eq!(pool.state().retired_idle, 0, "closed for age, not idleness");
    assert!(eventually(|| pool.state().idle == 2));
}

#[test]
fn a_connection_in_use_past_max_lifetime_is_closed_after_it_comes_back() {
    let connector = TestConnector::new();
    let lifetime = Duration::from_millis(100);
    let pool = builder(&connector, 0, 1)
        .max_lifetime(Some(lifetime))
        .build()
        .unwrap();
    let conn = pool.get().unwrap();
    thread::sleep(lifetime + INTERVAL * 2);
    drop(conn); // closed now, or at the checker's next round
    assert!(
        eventually(|| pool.state().retired == 1),
        "{:?}",
        pool.state()
    );
    assert_eq!((pool.state().total, connector.stats().live), (0, 0));
    assert_eq!(pool.get().unwrap().id(), 2);
}

#[test]
fn waiters_are_served_when_the_database_comes_back() {
    let connector = TestConnector::new();
    connector.set_down(true);
    let pool = builder(&connector, 0, 2).build_lazy().unwrap();
    let waiters: Vec<_> = (0..4)
        .map(|_| {
            let pool = pool.clone();
            thread::spawn(move || {
                let conn = pool.get()?;
                thread::sleep(Duration::from_millis(20));
                drop(conn);
                Ok::<_, nimue_core::Error>(())
            })
        })
        .collect();
    assert!(
        eventually(|| pool.state().waiting == 4),
        "{:?}",
        pool.state()
    );
    assert!(pool.state().last_connect_error.is_some());
    connector.set_down(false);
    for waiter in waiters {
        waiter.join().unwrap().expect("served after the outage");
    }
    let state = pool.state();
    assert!(state.total <= 2 && state.total >= 1, "{state:?}");
    assert_eq!(state.last_connect_error, None);
    assert_consistent(&state);
}

#[test]
fn connect_retries_back_off() {
    let connector = TestConnector::new();
    connector.set_down(true);
    let pool = builder(&connector, 2, 4).build_lazy().unwrap();
    thread::sleep(Duration::from_millis(1000));
    // Doubling from 10 ms up to the 50 ms check interval: about 20 attempts in a second.
    let failures = connector.stats().connect_failures;
    assert!((1..=60).contains(&failures), "{failures} attempts");
    assert_eq!(pool.state().total, 0);
    connector.set_down(false);
    assert!(eventually(|| pool.state().idle == 2));
}

#[test]
fn a_slow_connect_does_not_block_other_gets() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 0, 2)
        .check_interval(QUIET)
        .build()
        .unwrap();
    let lent = pool.get().unwrap();
    let lent_id = lent.id();
    connector.set_connect_delay(Duration::from_millis(300));
    let pool2 = pool.clone();
    // Queued, while a connect for it runs, slowly.
    let slow = thread::spawn(move || pool2.get().map(|c| c.id()));
    assert!(eventually(|| pool.state().pending == 1));
    // The pool's lock is not held while that connect runs.
    let state = pool.state();
    assert_eq!((state.total, state.in_use, state.waiting), (2, 1, 1));
    // Whichever comes first serves the waiter: the connection given back, long before the
    // new one; that one goes idle when it comes.
    drop(lent);
    assert_eq!(slow.join().unwrap().unwrap(), lent_id);
    assert!(eventually(|| pool.state().idle == 2), "{:?}", pool.state());
    assert!(pool.try_get().unwrap().is_some());
}

#[test]
fn close_stops_the_checker_even_while_it_backs_off() {
    let connector = TestConnector::new();
    connector.set_down(true);
    let pool = builder(&connector, 2, 4).build_lazy().unwrap();
    assert!(eventually(|| connector.stats().connect_failures >= 2));
    pool.close(); // joins the checker
    assert_eq!(connector.clones(), 2, "only this handle's share is left");
    drop(pool);
    assert_eq!(connector.clones(), 1);
}

#[test]
fn a_pool_of_closures_reconnects_too() {
    let connector = TestConnector::new();
    let source = connector.clone();
    let pool = Pool::builder(move || nimue_core::Connect::connect(&source))
        .min_idle(2)
        .max_size(2)
        .check_interval(INTERVAL)
        .build()
        .unwrap();
    connector.kill_all();
    assert!(eventually(
        || pool.state().checks_failed >= 2 && pool.state().idle == 2
    ));
}
