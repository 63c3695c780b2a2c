//! Controlling a live pool: `close`, `drain` (and eviction after a disconnect), `resize`.

use super::checkin::{Held, Why};
use super::guarded::LOG;
use super::shared::Shared;
use super::state::{Idle, Retire, Wake};
use super::sync::Mutex;
use crate::connection::Open;
use std::sync::PoisonError;
use std::thread::{self, JoinHandle};
use std::time::Instant;

impl<K: Open> Shared<K> {
    /// Close the pool: wake the waiters with `Closed`, close the idle connections, stop the
    /// checker. In-use connections are closed as they come back.
    pub(crate) fn close(&self) {
        let (idle, wakes) = {
            let mut st = self.lock();
            let closing = st.close();
            self.sync_gate(&st);
            closing
        };
        self.drain_lane();
        self.checker_wake.notify_one();
        self.timer_wake.notify_one();
        wakes.into_iter().for_each(Wake::wake);
        for entry in idle {
            self.discard(entry.live, Held::Checking, Why::Closed);
        }
        // Connections being reset in the background are closed as they come back.
        if let Some(resetter) = &self.resetter {
            resetter.wait_idle();
        }
        self.join(&self.checker, "checker");
        self.join(&self.timer, "timer");
        // Connects that ended meanwhile hand their connections over (to be closed).
        self.openers.wait_settled();
        log::debug!(target: LOG, "pool {:?} closed", self.config.name);
    }

    /// Wait for the pool's `what` thread (the checker or the timer) to end, if it ran. Either
    /// can end up dropping the last handle (the checker through a hook that owns one), which
    /// closes the pool on that thread: it must not wait for itself.
    fn join(&self, slot: &Mutex<Option<JoinHandle<()>>>, what: &str) {
        let handle = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(handle) = handle {
            if handle.thread().id() != thread::current().id() && handle.join().is_err() {
                log::error!(target: LOG, "pool {:?}: the {what} thread panicked", self.config.name);
            }
        }
    }

    /// Close every connection opened before `before` instead of reusing it: the idle ones
    /// now, the in-use ones when they come back. The checker opens replacements.
    pub(crate) fn evict(&self, before: Instant) {
        let idle = {
            let mut st = self.lock();
            if st.closed || st.evict_before.is_some_and(|at| at >= before) {
                return;
            }
            // Before the shelves are emptied: a connection shelved after this is not handed
            // out from there (invariant 5 of `lane.rs`).
            self.lane.set_evict_before(before);
            st.evict(before)
        };
        self.drain_lane();
        if !idle.is_empty() {
            log::info!(target: LOG, "pool {:?}: closing {} idle connection(s) opened before an eviction", self.config.name, idle.len());
        }
        self.close_evicted(idle);
        self.checker_wake.notify_one();
    }

    /// A connection opened at `born` was found dead: with `evict_on_disconnect`, every
    /// connection opened before now is closed rather than reused (SQLAlchemy's optimistic
    /// strategy). Not again for a connection that predates the last eviction: the
    /// connections opened since, to replace the dead, are not suspect.
    pub(crate) fn disconnect_seen(&self, born: Instant) {
        if !self.config.evict_on_disconnect {
            return;
        }
        let fresh = self.lock().evict_before.is_none_or(|at| born >= at);
        if fresh {
            self.evict(Instant::now());
        }
    }

    /// Close idle connections taken out (counted in `checking`) by an eviction or a resize.
    fn close_evicted(&self, idle: Vec<Idle<K::Conn>>) {
        for idle in idle {
            self.discard(idle.live, Held::Checking, Why::Retired(Retire::Evicted));
        }
    }

    /// Change `min_idle` and `max_size` of the live pool.
    pub(crate) fn resize(&self, min_idle: usize, max_size: usize) {
        self.connector.set_max_size(max_size);
        let (excess, wake) = {
            let mut st = self.lock();
            let resized = st.resize(min_idle, max_size);
            self.time(&st, st.demand.review_at);
            self.sync_gate(&st);
            resized
        };
        self.drain_lane();
        wake.wake();
        self.close_evicted(excess);
        self.checker_wake.notify_one();
    }
}
