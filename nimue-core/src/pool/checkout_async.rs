//! [`GetAsync`]: a checkout that waits as a task, not a thread (`Pool::get_async`).
//!
//! It is the checkout of `checkout.rs`, the one threads go through, waiting as a task: the
//! fast lane, then an idle connection, or the same first-come-first-served queue as threads,
//! with a `Waker` in its mailbox instead of a condition variable: a returned connection or
//! one opened for the queue (on a thread of its own, never the executor's) is handed to it,
//! or it is nudged to come and take one, under the same rules (`state.rs`, "Hand-off"). It
//! blocks no thread while it waits: its timeout is kept by the pool's timer thread
//! (`timer.rs`), which serves a task whose deadline passed [`Grant::TimedOut`], so no timer
//! of any runtime is needed.
//!
//! # Cancellation
//!
//! Dropping the future leaks nothing, whenever it happens: queued, its mailbox leaves the
//! queue (a nudge it had passes to the next waiter); served but not yet polled, what it was
//! served goes on to the next waiter, through the same path as a return. Both happen under
//! the pool's lock, so nothing can be handed to the mailbox between the look and the removal.
//!
//! The checks of a checkout are `get`'s (`checkout.rs`, step 3), with one difference: the
//! `test_on_checkout` test is awaited where the connection offers it as a future
//! ([`PoolHooks::check_future`](crate::PoolHooks::check_future): native PostgreSQL, bridged
//! connections), so the task's thread is not blocked for the round trip; it runs in `poll`
//! otherwise, as does the `on_checkout` hook. Dropped mid-test, the future gives the
//! connection back as a dropped guard does (its reset then deals with the request cut short).

use super::checkout::{Checkout, Collected, How, Look};
use super::guard::PooledConnection;
use super::guarded::{guarded, guarded_future};
use super::shared::Shared;
use super::state::{Grant, Live};
use super::sync::Arc;
use crate::connection::{Liveness, Open, Poolable};
use crate::error::Result;
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
pub struct GetAsync<K: Open> {
    shared: Arc<Shared<K>>,
    co: Checkout,
    at: &'static Location<'static>,
    /// When it was first polled, for the event hooks (none: no hook, or not polled yet).
    called: Option<Instant>,
    /// The checkout test of the connection it was given, under way.
    testing: Option<Test<K::Conn>>,
}

/// A checkout test under way: its future owns the connection (lent, `Lent`) and hands it
/// back with the outcome.
type Test<C> = Pin<Box<dyn Future<Output = (Box<Live<C>>, Result<()>)> + Send>>;

/// A connection lent to its checkout test. Dropped still holding it (the checkout's future
/// was dropped mid-test), it gives the connection back as a dropped guard does.
struct Lent<K: Open> {
    shared: Arc<Shared<K>>,
    /// `None` once the test has ended and handed it back.
    live: Option<Box<Live<K::Conn>>>,
}

impl<K: Open> Drop for Lent<K> {
    fn drop(&mut self) {
        if let Some(live) = self.live.take() {
            Shared::give_back_dropped(&self.shared, live, std::thread::panicking());
        }
    }
}

/// The checkout test of `live` at `level`: awaited when the connection offers a future,
/// else run in place (at the future's first poll).
fn test<K: Open>(
    shared: &Arc<Shared<K>>,
    live: Box<Live<K::Conn>>,
    level: Liveness,
) -> Test<K::Conn> {
    let mut lent = Lent {
        shared: Arc::clone(shared),
        live: Some(live),
    };
    Box::pin(async move {
        let conn = &mut lent.live.as_mut().expect("lent until the end").conn;
        // `None`: the connection offers no future (the borrow of its offer ends here).
        let awaited = match guarded("ping", || Ok(conn.check_future(level))) {
            Ok(Some(future)) => Some(guarded_future("ping", future).await),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        };
        let outcome = awaited.unwrap_or_else(|| guarded("ping", || conn.check(level)));
        (lent.live.take().expect("lent until the end"), outcome)
    })
}

impl<K: Open> GetAsync<K> {
    pub(crate) fn new(
        shared: Arc<Shared<K>>,
        timeout: Duration,
        at: &'static Location<'static>,
    ) -> Self {
        GetAsync {
            shared,
            co: Checkout::new(Some(timeout)),
            at,
            called: None,
            testing: None,
        }
    }

    /// One step: a connection (counted in `in_use`), an error, or queued with the waker.
    fn step(&mut self, cx: &mut Context<'_>) -> Poll<Result<Box<Live<K::Conn>>>> {
        let shared = &self.shared;
        if let Some((index, _)) = self.co.queued {
            return match Shared::collect(shared, &mut self.co, shared.lock()) {
                Collected::Done(result) => Poll::Ready(result),
                Collected::Waiting(mut st) => {
                    st.set_waker(index, cx.waker());
                    Poll::Pending
                }
            };
        }
        // The fast lane first, as `get` does (it counts the get itself).
        if let Some(took) = shared.lane.take() {
            self.co.counted = true;
            match took {
                Ok(live) => return Poll::Ready(Ok(live)),
                Err(stale) => shared.put_back(*stale),
            }
        }
        match Shared::look(shared, &mut self.co, How::Task(cx.waker())) {
            Err(e) => Poll::Ready(Err(e)),
            Ok(Look::Conn(live)) => Poll::Ready(Ok(live)),
            // A connection that reaches this task wakes it anyway: looking again only saves
            // that.
            Ok(Look::Queued { drained: true, .. }) => self.step(cx),
            Ok(Look::Queued { drained: false, .. }) => Poll::Pending,
            Ok(Look::Open(_) | Look::WouldWait | Look::Shelved(_)) => {
                unreachable!("a task neither opens, gives up at once nor spins")
            }
        }
    }
}

impl<K: Open> Future for GetAsync<K> {
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

impl<K: Open> GetAsync<K> {
    fn poll_checkout(&mut self, cx: &mut Context<'_>) -> Poll<Result<PooledConnection<K>>> {
        loop {
            let shared = &self.shared;
            let prepared = if let Some(testing) = &mut self.testing {
                let Poll::Ready((live, outcome)) = testing.as_mut().poll(cx) else {
                    return Poll::Pending;
                };
                self.testing = None;
                shared
                    .tested(live, outcome)
                    .and_then(|live| shared.hooked(live))
            } else {
                let live = match self.step(cx) {
                    Poll::Ready(Ok(live)) => live,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                };
                match self.shared.screen(live) {
                    Ok((live, Some(level))) => {
                        self.testing = Some(test(&self.shared, live, level));
                        continue;
                    }
                    Ok((live, None)) => self.shared.hooked(live),
                    Err(e) => Err(e),
                }
            };
            match prepared {
                Ok(live) => {
                    let guard = PooledConnection::new(Arc::clone(&self.shared), live, self.at);
                    return Poll::Ready(Ok(guard));
                }
                // Turned away (and discarded): look again, as `get` does.
                Err(e) => {
                    self.co.turned_away(e);
                    if self.co.expired() {
                        return Poll::Ready(Err(self.shared.gave_up(&mut self.co)));
                    }
                }
            }
        }
    }
}

impl<K: Open> Drop for GetAsync<K> {
    fn drop(&mut self) {
        let Some((index, _)) = self.co.queued else {
            return;
        };
        let shared = &self.shared;
        let mut st = shared.lock();
        match st.take_grant(index) {
            // Served, never polled: the connection goes on as a return does.
            Some(Grant::Conn(live)) => {
                self.co.queued = None;
                let opens = st.take_pending();
                shared.give_back(st, live, false);
                Shared::start_opens(shared, opens);
            }
            Some(Grant::Closed | Grant::TimedOut) => {
                self.co.queued = None;
                shared.sync_gate(&st);
            }
            // Still queued: it leaves; a nudge it had goes to the next waiter.
            None => {
                Shared::leave(shared, &mut self.co, st, false);
            }
        }
    }
}

impl<K: Open> fmt::Debug for GetAsync<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetAsync")
            .field("pool", &self.shared.config.name)
            .field("queued", &self.co.queued.is_some())
            .finish_non_exhaustive()
    }
}
