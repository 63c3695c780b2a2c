//! The timer: one thread per pool, the clock of its queue. It serves tasks their timeout
//! ([`Grant::TimedOut`](super::state::Grant)) when their deadline passes, ends the hold-offs
//! of waiters whose connection was turned away ([`State::expire_tasks`]), and applies the
//! demand rule again when it held opens back (`demand.rs`, [`Demand::review_at`]).
//!
//! A waiting thread times itself out; a waiting task has nothing to run on. The checker could
//! do this, but it does I/O (pings, connects) that takes long on a hung server or a cut
//! network: a task's timeout must not wait for that. This thread does no I/O: the connects
//! the rule asks for are started by the first waiter, whom it wakes.
//!
//! It sleeps on `timer_wake` until the earliest of these times; whatever sets an earlier one
//! wakes it (the state's `timer_wakes_at`, written under the lock it waits with, so no
//! wake-up is lost). Like the checker, it holds an `Arc` of the shared part, and `close()`
//! wakes and joins it.
//!
//! [`State::expire_tasks`]: super::state::State::expire_tasks
//! [`Demand::review_at`]: super::demand::Demand::review_at

use super::shared::Shared;
use super::state::Wake;
use super::sync::Arc;
use crate::connection::Open;
use std::sync::atomic::Ordering;
use std::sync::PoisonError;
use std::thread;
use std::time::Instant;

/// Start the timer of `shared` if it is not running yet.
pub(crate) fn ensure_started<K: Open>(shared: &Arc<Shared<K>>) {
    // Acquire/Release: a task that sees it started also sees the handle stored (only
    // `close` reads that, under the mutex, so the flag only spares the lock).
    if shared.timer_started.load(Ordering::Acquire) {
        return;
    }
    let mut slot = shared.timer.lock().unwrap_or_else(PoisonError::into_inner);
    if shared.timer_started.load(Ordering::Acquire) {
        return;
    }
    let pool = Arc::clone(shared);
    let name = format!("nimue-timer {}", shared.config.name).replace('\0', "");
    match thread::Builder::new().name(name).spawn(move || run(&pool)) {
        Ok(handle) => *slot = Some(handle),
        // Without it, tasks wait past their deadline until served: say so, and try again
        // with the next task.
        Err(e) => {
            log::error!(target: super::guarded::LOG, "pool {:?}: could not start the timer thread: {e}", shared.config.name);
            return;
        }
    }
    shared.timer_started.store(true, Ordering::Release);
}

fn run<K: Open>(shared: &Shared<K>) {
    let mut st = shared.lock();
    loop {
        // `close` served every waiter already.
        if st.closed {
            return;
        }
        let now = Instant::now();
        let (expired, unheld, next) = st.expire_tasks(now);
        let review = st.demand.review_at.is_some_and(|at| at <= now);
        if !expired.is_empty() || unheld || review {
            let opens = st.demand_changed(now);
            shared.sync_gate(&st);
            st.check();
            drop(st);
            expired.into_iter().for_each(Wake::wake);
            opens.wake();
            st = shared.lock();
            continue;
        }
        let next = match (next, st.demand.review_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        st.timer_wakes_at = next;
        st.timer_asleep = true;
        st = match next {
            Some(at) => {
                let wait = at.saturating_duration_since(Instant::now());
                let waited = shared.timer_wake.wait_timeout(st, wait);
                waited.unwrap_or_else(PoisonError::into_inner).0
            }
            None => shared
                .timer_wake
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner),
        };
        st.timer_asleep = false;
    }
}
