//! [`GetAsync`]: a checkout that waits as a task, not a thread (`Pool::get_async`).
//!
//! It takes what `get` takes without waiting (the fast lane, then an idle connection), and
//! otherwise queues in the same first-come-first-served queue as threads, with a `Waker` in
//! its mailbox instead of a condition variable: a returned connection is handed to it, or it is
//! nudged to come and take one, under the same rules (`state.rs`, "Hand-off"). It blocks no
//! thread while it waits:
//!
//! - A new connection is opened on a thread of its own, which gives it to the queue as the
//!   checker gives the connections it opens; the task waits for it in its place. So a task
//!   never connects on its executor's thread.
//! - Its timeout is kept by the pool's timer thread (`timer.rs`), which serves a task whose
//!   deadline passed [`Grant::TimedOut`]: no timer of any runtime is needed.
//!
//! # Cancellation
//!
//! Dropping the future leaks nothing, whenever it happens: queued, its mailbox leaves the
//! queue (a nudge it had passes to the next waiter); served but not yet polled, what it was
//! served goes on to the next waiter: a connection through the same path as a return, a slot
//! through the same path as a freed one. Both happen under the pool's lock, so nothing can be
//! handed to the mailbox between the look and the removal.
//!
//! The checks of a checkout (`is_broken`, and `test_on_checkout` and `on_checkout` if set)
//! run in `poll`, as `get` runs them on its caller: the latter two do I/O, which is why they
//! are off by default (the checker pings idle connections in the background instead).

use super::backoff::Attempt;
use super::checkout::rejection_pause;
use super::guard::PooledConnection;
use super::shared::Shared;
use super::state::{Grant, Live, State};
use super::sync::{Arc, MutexGuard, SharedError};
use crate::connection::Connect;
use crate::error::{Error, Result};
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// The future of [`Pool::get_async`](crate::Pool::get_async) and
/// [`Pool::get_async_timeout`](crate::Pool::get_async_timeout): a connection, waited for
/// without blocking a thread. Cancellation-safe: dropping it at any point gives back whatever
/// it was given.
#[must_use = "futures do nothing unless polled"]
pub struct GetAsync<K: Connect> {
    shared: Arc<Shared<K>>,
    timeout: Duration,
    at: &'static Location<'static>,
    /// When it first had to wait: its timeout counts from here.
    began: Option<Instant>,
    /// Its mailbox and when it queued, while queued.
    queued: Option<(usize, Instant)>,
    /// Whether the get was counted (the lane counts its own), and the wait.
    counted: bool,
    waited: bool,
    /// Come back at the front of the queue (it was granted a slot and is waiting for it).
    front: bool,
    /// When it was first polled, for the event hooks (none: no hook, or not polled yet).
    called: Option<Instant>,
    /// Connections turned away at checkout in a row, and the last one's reason (the cause
    /// of a timeout).
    rejections: u32,
    rejected: Option<Error>,
    /// After a rejection: no new connection is opened for it before then (it waits in the
    /// queue meanwhile, where a returned connection still reaches it).
    retry_at: Option<Instant>,
}

impl<K: Connect> GetAsync<K> {
    pub(crate) fn new(
        shared: Arc<Shared<K>>,
        timeout: Duration,
        at: &'static Location<'static>,
    ) -> Self {
        GetAsync {
            shared,
            timeout,
            at,
            began: None,
            queued: None,
            counted: false,
            waited: false,
            front: false,
            called: None,
            rejections: 0,
            rejected: None,
            retry_at: None,
        }
    }

    /// One step: a connection (counted in `in_use`), an error, or queued with the waker.
    fn step(&mut self, cx: &mut Context<'_>) -> Poll<Result<Box<Live<K::Connection>>>> {
        let shared = Arc::clone(&self.shared);
        if let Some((index, queued)) = self.queued {
            let mut st = shared.lock();
            if let Some(grant) = st.take_grant(index) {
                self.queued = None;
                st.stats.wait_time += queued.elapsed();
                shared.sync_gate(&st);
                return match grant {
                    Grant::Conn(live) => Poll::Ready(Ok(Box::new(live))),
                    Grant::Slot => {
                        // Its connection comes through the queue, where this task goes
                        // back first.
                        self.front = true;
                        self.enqueue(st, Some(Attempt { probe: false }), cx)
                    }
                    Grant::Closed => Poll::Ready(Err(shared.closed_error())),
                    Grant::TimedOut => {
                        let waited = self.began.map_or(Duration::ZERO, |at| at.elapsed());
                        // Served at its retry time, not its deadline: look again.
                        if self.retry_at.take().is_some() && waited < self.timeout {
                            drop(st);
                            return self.step(cx);
                        }
                        st.stats.timeouts += 1;
                        let cause = self.rejected.take();
                        Poll::Ready(Err(shared.timeout_error(&st, waited, cause)))
                    }
                };
            }
            if let Some((live, next)) = st.take_nudged(index, shared.lifo()) {
                self.queued = None;
                st.stats.wait_time += queued.elapsed();
                shared.sync_gate(&st);
                st.check();
                drop(st);
                next.wake();
                return Poll::Ready(Ok(Box::new(live)));
            }
            st.set_waker(index, cx.waker());
            return Poll::Pending;
        }
        // The fast lane first, as `get` does (it counts the get itself).
        if let Some(took) = shared.lane.take() {
            self.counted = true;
            match took {
                Ok(live) => return Poll::Ready(Ok(live)),
                Err(stale) => shared.put_back(*stale),
            }
        }
        let mut st = shared.lock();
        if st.closed {
            return Poll::Ready(Err(shared.closed_error()));
        }
        if !self.counted {
            self.counted = true;
            st.stats.gets += 1;
        }
        if let Some(live) = st.take_idle(shared.lifo()) {
            return Poll::Ready(Ok(Box::new(live)));
        }
        if !self.waited {
            if let Some(full) = shared.queue_full(&mut st) {
                return Poll::Ready(Err(full));
            }
        }
        // Room for a connection: opened on a thread of its own, it comes to the queue. Not
        // before the retry time after a rejection (new connections may all be turned away).
        let backing_off = self.retry_at.is_some_and(|at| Instant::now() < at);
        let attempt = if backing_off {
            None
        } else {
            self.retry_at = None;
            st.reserve(Instant::now, true)
        };
        self.enqueue(st, attempt, cx)
    }

    /// Queue this task in the critical section `st` holds (the one that found no idle
    /// connection), then start the connect `attempt` reserved, if any: its connection comes
    /// to the queue, so it cannot become idle beside this task before it queued (invariant 3
    /// of `state.rs`). Then take what the lane held through the state: if anything, look once
    /// more, it may have come to this task.
    fn enqueue(
        &mut self,
        mut st: MutexGuard<'_, State<K::Connection>>,
        attempt: Option<Attempt>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Box<Live<K::Connection>>>> {
        let shared = Arc::clone(&self.shared);
        // Closed since this task was granted its slot: nothing would serve it in the queue.
        if st.closed {
            if attempt.is_some() {
                shared.return_slot(st);
            }
            return Poll::Ready(Err(shared.closed_error()));
        }
        let now = Instant::now();
        let began = *self.began.get_or_insert(now);
        if !self.waited {
            self.waited = true;
            st.stats.waits += 1;
        }
        // The timer serves it at its deadline, or at its retry time if that comes first.
        let deadline = match (began.checked_add(self.timeout), self.retry_at) {
            (Some(deadline), Some(retry)) => Some(deadline.min(retry)),
            (deadline, retry) => deadline.or(retry),
        };
        let front = std::mem::take(&mut self.front);
        let holding_off = attempt.is_none() && self.retry_at.is_some();
        let index = st.enqueue_task(front, now, cx.waker(), deadline, holding_off);
        self.queued = Some((index, now));
        // The timer serves the timeout: woken if it would sleep past the deadline. The checker
        // retries for waiters while connecting backs off.
        let wake_timer = st.timer_late_for(deadline);
        let wake_checker = !st.backoff.healthy();
        // Shelving stops before this task waits (invariant 4 of `lane.rs`)...
        shared.sync_gate(&st);
        st.check();
        drop(st);
        if let Some(attempt) = attempt {
            open_for_queue(&shared, attempt);
        }
        #[cfg(not(loom))]
        if deadline.is_some() {
            super::timer::ensure_started(&shared);
        }
        if wake_timer {
            shared.timer_wake.notify_one();
        }
        if wake_checker {
            shared.checker_wake.notify_one();
        }
        // ...and what is shelved comes to the waiters (maybe this one) through the state. A
        // connection that reaches this task wakes it anyway: looking again only saves that.
        if shared.drain_lane() {
            return self.step(cx);
        }
        Poll::Pending
    }
}

impl<K: Connect> Shared<K> {
    /// A slot a task held (reserved, or granted) and will not open a connection in: to the
    /// next waiter, or uncounted.
    fn return_slot(&self, mut st: MutexGuard<'_, State<K::Connection>>) {
        st.opening -= 1;
        let wake = st.release_slot();
        self.sync_gate(&st);
        st.check();
        drop(st);
        if let Some(wake) = wake {
            wake.wake();
        }
    }
}

/// Open a connection in the slot `attempt` reserved, on a thread of its own; it goes to the
/// first waiter, or is idle (a failure is recorded and backs off, as the checker's do).
fn open_for_queue<K: Connect>(shared: &Arc<Shared<K>>, attempt: Attempt) {
    let pool = Arc::clone(shared);
    let name = format!("nimue-open {}", shared.config.name).replace('\0', "");
    let spawned = std::thread::Builder::new()
        .name(name)
        .spawn(move || pool.open_for_pool(attempt).map(drop).unwrap_or(()));
    if let Err(e) = spawned {
        let error = Error::interface_from("could not start a thread to connect on", e);
        shared.open_failed(attempt, &SharedError::new(error));
    }
}

impl<K: Connect> Future for GetAsync<K> {
    type Output = Result<PooledConnection<K>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // No field is pinned: `GetAsync` is `Unpin`.
        let this = self.get_mut();
        if this.called.is_none() && !this.shared.config.on_event.is_empty() {
            this.called = Some(Instant::now());
        }
        let ready = this.poll_checkout(cx);
        if let (Poll::Ready(result), Some(called)) = (&ready, this.called) {
            this.shared
                .report_checkout(result.as_ref().map(|_| true), called);
        }
        ready
    }
}

impl<K: Connect> GetAsync<K> {
    fn poll_checkout(&mut self, cx: &mut Context<'_>) -> Poll<Result<PooledConnection<K>>> {
        let this = self;
        loop {
            let live = match this.step(cx) {
                Poll::Ready(Ok(live)) => live,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            match this.shared.prepare(live, false) {
                Ok(live) => {
                    let guard = PooledConnection::new(Arc::clone(&this.shared), live, this.at);
                    return Poll::Ready(Ok(guard));
                }
                // Turned away (and discarded): look again, opening no new connection before
                // the pause `get` would sleep.
                Err(e) => {
                    this.rejections = this.rejections.saturating_add(1);
                    this.rejected = Some(e);
                    this.retry_at = Some(Instant::now() + rejection_pause(this.rejections));
                    continue;
                }
            }
        }
    }
}

impl<K: Connect> Drop for GetAsync<K> {
    fn drop(&mut self) {
        let Some((index, _)) = self.queued.take() else {
            return;
        };
        let shared = &self.shared;
        let mut st = shared.lock();
        match st.take_grant(index) {
            // Served, never polled: the connection goes on as a return does.
            Some(Grant::Conn(live)) => shared.give_back(st, live, false),
            Some(Grant::Slot) => shared.return_slot(st),
            Some(Grant::Closed | Grant::TimedOut) => shared.sync_gate(&st),
            // Still queued: it leaves; a nudge it had goes to the next waiter.
            None => {
                let next = st.dequeue(index);
                shared.sync_gate(&st);
                st.check();
                drop(st);
                next.wake();
            }
        }
    }
}

impl<K: Connect> fmt::Debug for GetAsync<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetAsync")
            .field("pool", &self.shared.config.name)
            .field("queued", &self.queued.is_some())
            .finish_non_exhaustive()
    }
}
