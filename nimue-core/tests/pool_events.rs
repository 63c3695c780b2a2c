//! `on_event`: what the pool tells a hook (issue 19), and, with the `metrics` feature, what
//! it exports.

mod support;

use nimue_core::pool::{CloseReason, PoolEvent};
use nimue_core::testing::TestConnector;
use nimue_core::{ErrorKind, Pool, PoolBuilder};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::builder;

/// Every event, as an owned summary.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    CheckedOut,
    TimedOut(Duration),
    Rejected,
    Opened,
    ConnectFailed(String),
    Closed(CloseReason),
}

fn recording(b: PoolBuilder<TestConnector>) -> (PoolBuilder<TestConnector>, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let b = b.on_event(move |event| {
        let summary = match event {
            PoolEvent::CheckedOut { .. } => Seen::CheckedOut,
            PoolEvent::TimedOut { waited } => Seen::TimedOut(*waited),
            PoolEvent::Rejected => Seen::Rejected,
            PoolEvent::Opened { .. } => Seen::Opened,
            PoolEvent::ConnectFailed { error } => Seen::ConnectFailed(error.to_string()),
            PoolEvent::Closed { reason } => Seen::Closed(*reason),
            _ => return,
        };
        log.lock().unwrap().push(summary);
    });
    (b, seen)
}

fn take(seen: &Mutex<Vec<Seen>>) -> Vec<Seen> {
    std::mem::take(&mut *seen.lock().unwrap())
}

#[test]
fn checkouts_opens_and_closes_are_told() {
    let connector = TestConnector::new();
    let (b, seen) = recording(builder(&connector, 0, 1));
    let pool = b.build().unwrap();
    drop(pool.get().unwrap());
    pool.with(|_| Ok::<_, nimue_core::Error>(())).unwrap();
    assert_eq!(
        take(&seen),
        [Seen::Opened, Seen::CheckedOut, Seen::CheckedOut]
    );

    let mut conn = pool.get().unwrap();
    conn.set_broken();
    drop(conn);
    assert_eq!(
        take(&seen),
        [Seen::CheckedOut, Seen::Closed(CloseReason::Broken)]
    );

    drop(pool.get().unwrap());
    pool.close();
    assert_eq!(
        take(&seen),
        [
            Seen::Opened,
            Seen::CheckedOut,
            Seen::Closed(CloseReason::PoolClosed)
        ]
    );
}

#[test]
fn timeouts_refusals_and_failed_connects_are_told() {
    let connector = TestConnector::new();
    let (b, seen) = recording(builder(&connector, 1, 1).max_waiting(Some(0)));
    let pool = b.build().unwrap();
    take(&seen);
    let held = pool.get().unwrap();
    let err = pool.get().map(drop).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PoolExhausted);
    drop(held);
    assert_eq!(take(&seen), [Seen::CheckedOut, Seen::Rejected]);

    let (b, seen) = recording(builder(&connector, 0, 1));
    let pool = b.build().unwrap();
    let held = pool.get().unwrap();
    let err = pool
        .get_timeout(Duration::from_millis(30))
        .map(drop)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PoolTimeout);
    drop(held);
    let events = take(&seen);
    let Some(Seen::TimedOut(waited)) = events.last() else {
        panic!("{events:?}")
    };
    assert!(*waited >= Duration::from_millis(30), "{waited:?}");

    connector.set_down(true);
    let (b, seen) = recording(builder(&connector, 0, 1));
    let pool = b.build().unwrap();
    assert!(pool.try_get().is_err());
    let events = take(&seen);
    assert!(
        matches!(&events[..], [Seen::ConnectFailed(why)] if why.contains("connection refused")),
        "{events:?}"
    );
}

#[test]
fn a_panicking_hook_does_not_hurt_the_pool() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 1, 1)
        .on_event(|_| panic!("a hook bug (expected by the test)"))
        .build()
        .unwrap();
    for _ in 0..3 {
        drop(pool.get().unwrap());
    }
    let state = pool.state();
    assert_eq!(
        (state.total, state.idle, state.broken),
        (1, 1, 0),
        "{state:?}"
    );
}

#[cfg(feature = "metrics")]
#[test]
fn metrics_are_exported_with_the_pools_name() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let connector = TestConnector::new();
    // A recorder of this thread only: the one connection is opened here, by `build`
    // (connections opened for waiters are opened on threads of their own).
    metrics::with_local_recorder(&recorder, || {
        let pool = Pool::builder(connector.clone())
            .name("exported")
            .min_idle(1)
            .max_size(1)
            .metrics(true)
            .build()
            .unwrap();
        for _ in 0..3 {
            drop(pool.get().unwrap());
        }
        pool.close();
    });
    let mut found = std::collections::HashMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        assert!(
            key.labels()
                .any(|l| l.key() == "pool" && l.value() == "exported"),
            "{key:?}"
        );
        let n = match value {
            DebugValue::Counter(n) => n as usize,
            DebugValue::Histogram(samples) => samples.len(),
            DebugValue::Gauge(_) => continue,
        };
        *found.entry(key.name().to_owned()).or_insert(0) += n;
    }
    assert_eq!(
        found.get("nimue_pool_checkout_wait_seconds"),
        Some(&3),
        "{found:?}"
    );
    assert_eq!(
        found.get("nimue_pool_connections_opened_total"),
        Some(&1),
        "{found:?}"
    );
    assert_eq!(
        found.get("nimue_pool_connections_closed_total"),
        Some(&1),
        "{found:?}"
    );
}

/// A task's checkout tells the same events as a thread's: checked out, timed out, refused.
#[cfg(feature = "tokio")]
#[test]
fn async_checkouts_are_told_as_thread_ones_are() {
    let connector = TestConnector::new();
    let (b, seen) = recording(builder(&connector, 1, 1).max_waiting(Some(1)));
    let pool = b.build().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    take(&seen);
    runtime.block_on(async {
        let held = pool.get_async().await.unwrap();
        assert_eq!(take(&seen), [Seen::CheckedOut]);
        let err = pool
            .get_async_timeout(Duration::from_millis(20))
            .await
            .map(drop)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PoolTimeout, "{err}");
        let seen_now = take(&seen);
        assert!(
            matches!(seen_now.as_slice(), [Seen::TimedOut(w)] if *w >= Duration::from_millis(20)),
            "{seen_now:?}"
        );
        // One waiter queued: the next is refused.
        let mut queued = pool.get_async();
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(std::future::Future::poll(std::pin::Pin::new(&mut queued), &mut cx).is_pending());
        let refused = pool.get_async().await.map(drop).unwrap_err();
        assert!(
            matches!(refused, nimue_core::Error::Exhausted(_)),
            "{refused}"
        );
        assert_eq!(take(&seen), [Seen::Rejected]);
        drop(queued);
        drop(held);
    });
}
