//! The pool over connections that are not DB-API connections (issue 30, item 1): a type that
//! implements only `Poolable`, opened by an `Open`, gets every pool feature a DB-API
//! connection gets: the checker, the checkout test, broken connections discarded, returns
//! reset, `get_async`, events and numbers, drain, resize and close.

mod support;

use nimue_core::pool::{CloseReason, PoolEvent};
use nimue_core::{ErrorKind, Liveness, Open, Pool, Poolable, Result};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::eventually;

/// What the sessions of one opener did, seen from the test.
#[derive(Default)]
struct Server {
    opened: AtomicUsize,
    closed: AtomicUsize,
    resets: AtomicUsize,
    checks: AtomicUsize,
    /// The ids of the sessions the server has ended.
    killed: Mutex<Vec<usize>>,
}

/// A session of some other API: an id, a flag the user can set to say it broke.
struct Session {
    id: usize,
    server: Arc<Server>,
    broken: Arc<AtomicBool>,
}

impl Session {
    fn alive(&self) -> bool {
        !self.server.killed.lock().unwrap().contains(&self.id)
    }
}

impl Poolable for Session {
    fn check(&mut self, _level: Liveness) -> Result<()> {
        self.server.checks.fetch_add(1, Ordering::SeqCst);
        if self.alive() {
            Ok(())
        } else {
            Err(nimue_core::Error::operational("the session is gone"))
        }
    }

    fn is_broken(&self) -> bool {
        self.broken.load(Ordering::SeqCst)
    }

    fn reset(&mut self) -> Result<()> {
        self.server.resets.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn close(self) -> Result<()> {
        self.server.closed.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[derive(Clone, Default)]
struct Opener {
    server: Arc<Server>,
}

impl Open for Opener {
    type Conn = Session;

    fn open(&self) -> Result<Session> {
        let id = self.server.opened.fetch_add(1, Ordering::SeqCst);
        Ok(Session {
            id,
            server: Arc::clone(&self.server),
            broken: Arc::new(AtomicBool::new(false)),
        })
    }
}

#[test]
fn returns_are_reset_and_broken_sessions_discarded() {
    let opener = Opener::default();
    // One session at most: the reuse below is of that one (with room for two, the checker
    // may open a second for `min_idle` while the first is held, and hand that out next).
    let pool = Pool::builder(opener.clone())
        .min_idle(1)
        .max_size(1)
        .build()
        .unwrap();
    let first = pool.get().unwrap();
    let id = first.id;
    drop(first);
    assert!(
        eventually(|| pool.state().pending == 0),
        "the return is reset"
    );
    assert_eq!(opener.server.resets.load(Ordering::SeqCst), 1);
    let again = pool.get().unwrap();
    assert_eq!(again.id, id, "the same session, reused");
    again.broken.store(true, Ordering::SeqCst);
    drop(again);
    let state = pool.state();
    assert_eq!((state.broken, state.idle), (1, 0), "{state:?}");
    assert_eq!(opener.server.closed.load(Ordering::SeqCst), 1);
    assert_ne!(pool.get().unwrap().id, id, "a new session");
}

#[test]
fn the_checker_and_the_checkout_test_replace_dead_sessions() {
    let opener = Opener::default();
    let pool = Pool::builder(opener.clone())
        .min_idle(2)
        .max_size(2)
        .check_interval(Duration::from_millis(50))
        .build()
        .unwrap();
    opener.server.killed.lock().unwrap().extend([0, 1]);
    assert!(
        eventually(|| {
            let s = pool.state();
            s.checks_failed == 2 && s.idle == 2
        }),
        "the checker replaced both"
    );
    let ids: Vec<usize> = [pool.get().unwrap(), pool.get().unwrap()]
        .iter()
        .map(|s| s.id)
        .collect();
    assert!(ids.iter().all(|&id| id >= 2), "{ids:?}");

    let tested = Pool::builder(opener.clone())
        .min_idle(1)
        .max_size(1)
        .check_interval(Duration::from_secs(3600))
        .test_on_checkout(true)
        .build()
        .unwrap();
    let id = tested.get().unwrap().id;
    opener.server.killed.lock().unwrap().push(id);
    let fresh = tested.get().unwrap();
    assert_ne!(fresh.id, id);
    assert_eq!(tested.state().checks_failed, 1);
}

#[test]
fn tasks_check_out_as_threads_do() {
    let opener = Opener::default();
    let pool = Pool::builder(opener.clone())
        .min_idle(0)
        .max_size(1)
        .test_on_checkout(true)
        .build()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let held = pool.get_async().await.unwrap();
        let id = held.id;
        let waiting = tokio::spawn({
            let pool = pool.clone();
            async move { pool.get_async().await.unwrap().id }
        });
        tokio::task::yield_now().await;
        drop(held);
        assert_eq!(waiting.await.unwrap(), id, "handed to the waiting task");
    });
    assert!(
        opener.server.checks.load(Ordering::SeqCst) >= 1,
        "tested at checkout"
    );
}

#[test]
fn events_drain_resize_and_close_work_the_same() {
    let opener = Opener::default();
    let closes = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&closes);
    let pool = Pool::builder(opener.clone())
        .min_idle(2)
        .max_size(3)
        .on_event(move |event| {
            if let PoolEvent::Closed { reason } = event {
                seen.lock().unwrap().push(*reason);
            }
        })
        .build()
        .unwrap();
    pool.drain();
    assert!(
        eventually(|| {
            pool.state().idle == 2 && opener.server.opened.load(Ordering::SeqCst) == 4
        }),
        "the checker refilled after the drain"
    );
    assert!(closes
        .lock()
        .unwrap()
        .iter()
        .all(|r| *r == CloseReason::Evicted));
    pool.resize(1, 1).unwrap();
    assert!(eventually(|| pool.state().total == 1), "the pool shrank");
    let state = pool.state();
    assert_eq!((state.max_size, state.min_idle), (1, 1), "{state:?}");
    pool.close();
    assert_eq!(pool.get().unwrap_err().kind(), ErrorKind::PoolClosed);
    assert!(
        eventually(|| {
            opener.server.closed.load(Ordering::SeqCst)
                == opener.server.opened.load(Ordering::SeqCst)
        }),
        "every session closed"
    );
}

/// PEP 249's autocommit is the DB-API's: asked to set it on sessions without it, the pool
/// says so instead of opening connections it cannot set up.
#[test]
fn a_pool_autocommit_setting_is_refused_for_sessions_without_one() {
    let err = Pool::builder(Opener::default())
        .min_idle(1)
        .autocommit(true)
        .build()
        .map(drop)
        .unwrap_err();
    assert!(err.to_string().contains("autocommit"), "{err}");
}
