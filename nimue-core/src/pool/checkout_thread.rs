//! The checkout (`checkout.rs`) as a thread waits for it: `get`, `get_timeout`, `try_get`
//! and `with`. The fast lane first, on a short path of its own; then looks until a connection
//! passes its checks; while queued, a short spin and then the mailbox's condition variable,
//! timed by the thread itself. `try_get` opens in its own slot instead of queueing.

use super::backoff::Attempt;
use super::checkin::{Held, Why};
use super::checkout::{Checkout, Collected, How, Look};
use super::events;
use super::queue::Signal;
use super::shared::Shared;
use super::state::{Live, Retire};
use super::sync::{Arc, SharedError};
use crate::connection::Open;
use crate::error::{Error, Result};
use crossbeam::utils::Backoff;
use std::sync::atomic::Ordering;
use std::sync::PoisonError;
use std::time::Instant;

/// How many exponentially growing spins (about 200 pause instructions in all) a lone
/// waiter looks out for its grant before sleeping.
const SPINS: usize = if cfg!(loom) { 1 } else { 8 };

impl<K: Open> Shared<K> {
    /// A connection for `get` or `with` (counted in `in_use`), checked and ready. The
    /// timeout (`None`: `try_get`) counts from this call's start, through every retry.
    pub(crate) fn checkout(
        this: &Arc<Self>,
        timeout: Option<std::time::Duration>,
    ) -> Result<Option<Box<Live<K::Conn>>>> {
        if this.config.on_event.is_empty() {
            return Self::checkout_quietly(this, timeout);
        }
        let called = Instant::now();
        let result = Self::checkout_quietly(this, timeout);
        this.report_checkout(result.as_ref().map(Option::is_some), called);
        result
    }

    /// Tell the event hooks how a checkout called at `called` ended (threads and tasks alike).
    pub(crate) fn report_checkout(
        &self,
        outcome: std::result::Result<bool, &Error>,
        called: Instant,
    ) {
        if let Some(event) = events::of_checkout(outcome, called.elapsed()) {
            self.emit(&event);
        }
    }

    /// [`checkout`](Self::checkout), telling no event hook.
    fn checkout_quietly(
        this: &Arc<Self>,
        timeout: Option<std::time::Duration>,
    ) -> Result<Option<Box<Live<K::Conn>>>> {
        let mut co = Checkout::new(timeout);
        // The fast lane first, on a short path of its own: kept small, it stays inlined into
        // the caller (through the general loop below, contended throughput halved).
        if let Some(took) = this.lane.take() {
            // Counted by the lane: the look must not count this get again.
            co.counted = true;
            match took {
                Ok(live) => {
                    if let Some(live) = this.hand_out(&mut co, live)? {
                        return Ok(Some(live));
                    }
                }
                Err(stale) => this.put_back(*stale),
            }
        }
        loop {
            let live = match Self::look(this, &mut co, How::Thread)? {
                Look::Conn(live) => live,
                Look::WouldWait => return Ok(None),
                Look::Shelved(Ok(live)) => live,
                Look::Shelved(Err(stale)) => {
                    this.put_back(*stale);
                    continue;
                }
                Look::Open(attempt) => match Self::open_own(this, attempt) {
                    Ok(Some(live)) => Box::new(live),
                    Ok(None) => continue, // the next look says why, or retries
                    Err(e) => return Err(this.connect_error(e)),
                },
                Look::Queued { signal, alone, .. } => Self::wait(this, &mut co, &signal, alone)?,
            };
            if let Some(live) = this.hand_out(&mut co, live)? {
                return Ok(Some(live));
            }
        }
    }

    /// Check a connection and hand it out: `Ok(None)` when it was turned away and the caller
    /// should look again (or an error when its time is up, or `try_get` was given a new one).
    #[inline]
    fn hand_out(
        &self,
        co: &mut Checkout,
        live: Box<Live<K::Conn>>,
    ) -> Result<Option<Box<Live<K::Conn>>>> {
        let fresh = live.fresh;
        // Checks and hooks do I/O: the clock starts before them.
        if self.config.test_on_checkout || self.config.on_checkout.is_some() {
            co.start();
        }
        match self.prepare(live) {
            Ok(live) => Ok(Some(live)),
            Err(e) => {
                co.turned_away(e);
                // A new connection turned away means new ones may all be.
                if (fresh && co.is_try()) || co.expired() {
                    return Err(self.gave_up(co));
                }
                Ok(None)
            }
        }
    }

    /// Wait in the queue: spin a little when alone (a connection often comes back within
    /// microseconds), then sleep on the mailbox's condition variable until served, nudged or
    /// out of time.
    fn wait(
        this: &Arc<Self>,
        co: &mut Checkout,
        signal: &Signal,
        alone: bool,
    ) -> Result<Box<Live<K::Conn>>> {
        if alone {
            let backoff = Backoff::new();
            for _ in 0..SPINS {
                if signal.ready.load(Ordering::Acquire) {
                    break;
                }
                backoff.spin();
            }
        }
        let deadline = co.deadline();
        let mut st = this.lock();
        loop {
            st = match Self::collect(this, co, st) {
                Collected::Done(result) => return result,
                Collected::Waiting(st) => st,
            };
            let now = Instant::now();
            if deadline.is_some_and(|deadline| now >= deadline) {
                let error = Self::leave(this, co, st, true);
                return Err(error.expect("a queued caller's timeout"));
            }
            let Some((index, _)) = co.queued else {
                unreachable!("a waiting caller is queued");
            };
            st.set_sleeping(index, true);
            st = match deadline {
                Some(deadline) => {
                    let waited = signal.wake.wait_timeout(st, deadline - now);
                    waited.unwrap_or_else(PoisonError::into_inner).0
                }
                None => signal.wake.wait(st).unwrap_or_else(PoisonError::into_inner),
            };
            st.set_sleeping(index, false);
        }
    }

    /// `try_get` opens a connection in the slot it reserved, on its own thread, waiting for
    /// the connect (bounded by `connect_timeout`). `Ok(None)`: the pool closed or was
    /// drained meanwhile (the connection was closed).
    fn open_own(
        this: &Arc<Self>,
        attempt: Attempt,
    ) -> std::result::Result<Option<Live<K::Conn>>, SharedError> {
        // Opened, for `drain()`, from when its slot was reserved.
        let born = attempt.reserved;
        let live = this
            .connector
            .connect(&this.config.name)
            .and_then(|conn| this.live(conn, born))
            .map_err(|e| {
                let e = SharedError::new(e);
                this.open_failed(attempt, &e);
                e
            })?;
        let mut st = this.lock();
        st.opened(born.elapsed());
        // Waiters may have counted on this connect (or waited for the outage it ended).
        let wake = st.demand_changed(Instant::now());
        // Closed, or drained while connecting: this connection is not handed out.
        let gone = if st.closed {
            Some(Why::Closed)
        } else if st.evicted(live.born) {
            Some(Why::Retired(Retire::Evicted))
        } else {
            None
        };
        st.check();
        drop(st);
        wake.wake();
        if let Some(why) = gone {
            this.discard(live, Held::InUse, why);
            return Ok(None);
        }
        Ok(Some(live))
    }
}
