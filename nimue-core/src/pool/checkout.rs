//! The one checkout: how a caller gets a connection, for threads (`get`, `try_get`, `with`,
//! `checkout_thread.rs`) and tasks (`get_async`, `checkout_async.rs`) alike. Only the way of
//! waiting differs: a thread parks on its mailbox's condition variable and times itself out,
//! a task leaves its `Waker` in the mailbox and the pool's timer times it out.
//!
//! 1. [`Shared::look`]: in one critical section, take an idle connection, or queue. Queueing
//!    applies the demand rule (`demand.rs`): connections are opened for the queue on threads
//!    of their own, and the first waiter gets whichever comes first, a connection given back
//!    or one just opened. `try_get` never queues: it opens in a slot of its own, or gives up.
//! 2. [`Shared::collect`]: a queued caller looks at its mailbox (a connection, the pool's
//!    close, a task's timeout) or takes the idle connection it was nudged for; it starts the
//!    connects the demand asked for, if any (invariant 6 of `state.rs`).
//! 3. [`Shared::prepare`]: the checks before hand-out. A connection turned away is discarded
//!    and the caller looks again, holding off new connects for a pause that doubles from
//!    1 ms ([`Checkout::turned_away`]), so a hook that always fails costs a few connects.
//!
//! The call's timeout counts from its start, through every look.

use super::backoff::Attempt;
use super::checkin::{Held, Why};
use super::guarded::{broken, guarded, LOG};
use super::queue::Signal;
use super::shared::Shared;
use super::state::{Grant, Live, State, Wake};
use super::sync::{Arc, MutexGuard};
use crate::connection::{Liveness, Open, Poolable};
use crate::error::{Error, Result};
use std::task::Waker;
use std::time::{Duration, Instant};

/// How long a checkout holds off new connects after its `n`th connection in a row was
/// turned away at checkout: doubling from 1 ms, at most 100 ms.
pub(crate) fn rejection_pause(n: u32) -> Duration {
    Duration::from_millis(1 << n.saturating_sub(1).min(7)).min(Duration::from_millis(100))
}

/// A connection that passed [`Shared::screen`], with the liveness to test it at, if any.
pub(crate) type Screened<C> = (Box<Live<C>>, Option<Liveness>);

/// A caller's progress through a checkout.
pub(crate) struct Checkout {
    /// `None`: `try_get`, which never waits for another caller's connection.
    pub timeout: Option<Duration>,
    /// When the call started: its timeout counts from here. Read from the clock only when
    /// the call must do more than take a connection that is there (connect, queue, check), so
    /// the common checkout reads no clock.
    began: Option<Instant>,
    /// Its mailbox and when it queued, while queued.
    pub queued: Option<(usize, Instant)>,
    /// Whether the get was counted (the fast lane counts its own), and its wait.
    pub counted: bool,
    waited: bool,
    /// Whether it looked out for a shelved connection before queueing (threads).
    pub spun: bool,
    /// Why the last connection it was given was turned away at checkout.
    rejected: Option<Error>,
    /// Connections turned away in a row.
    rejections: u32,
    /// No connect is opened for it before then (after a rejection).
    hold_until: Option<Instant>,
}

/// How a caller waits.
pub(crate) enum How<'a> {
    Thread,
    Task(&'a Waker),
}

/// What a look got.
pub(crate) enum Look<C> {
    /// A connection to check and hand out (counted in `in_use`).
    Conn(Box<Live<C>>),
    /// `try_get`: a slot to open a connection in (counted in `opening`).
    Open(Attempt),
    /// `try_get`: nothing without waiting.
    WouldWait,
    /// What a thread's look at the shelves found (see [`Lane::take`](super::lane::Lane::take)).
    Shelved(std::result::Result<Box<Live<C>>, Box<Live<C>>>),
    /// Queued: a thread waits on the signal (`alone`: the only waiter, it may spin first);
    /// `drained`: shelved connections went through the state meanwhile, one may be its own.
    Queued {
        signal: Arc<Signal>,
        alone: bool,
        drained: bool,
    },
}

/// What a look at the mailbox found.
pub(crate) enum Collected<'a, C> {
    Done(Result<Box<Live<C>>>),
    /// Nothing yet: still queued, the lock still held.
    Waiting(MutexGuard<'a, State<C>>),
}

impl Checkout {
    pub(crate) fn new(timeout: Option<Duration>) -> Self {
        Checkout {
            timeout,
            began: None,
            queued: None,
            counted: false,
            waited: false,
            spun: false,
            rejected: None,
            rejections: 0,
            hold_until: None,
        }
    }

    /// `try_get`: never wait.
    pub(crate) fn is_try(&self) -> bool {
        self.timeout.is_none()
    }

    /// Start the clock (once), before anything that takes time.
    pub(crate) fn start(&mut self) -> Instant {
        *self.began.get_or_insert_with(Instant::now)
    }

    /// When the call ends (`try_get`: at once), or `None`: a timeout beyond the clock's range.
    pub(crate) fn deadline(&mut self) -> Option<Instant> {
        let began = self.start();
        match self.timeout {
            None => Some(began),
            Some(timeout) => began.checked_add(timeout),
        }
    }

    pub(crate) fn expired(&mut self) -> bool {
        self.deadline().is_some_and(|at| Instant::now() >= at)
    }

    /// How long the call has taken so far.
    pub(crate) fn elapsed(&mut self) -> Duration {
        self.start().elapsed()
    }

    /// The connection it was given was turned away (`e`): no new connect for it for a pause
    /// that doubles with each one in a row.
    pub(crate) fn turned_away(&mut self, e: Error) {
        self.rejected = Some(e);
        self.rejections = self.rejections.saturating_add(1);
        self.hold_until = Some(Instant::now() + rejection_pause(self.rejections));
    }
}

impl<K: Open> Shared<K> {
    /// Step 1: an idle connection, or queue (see the module docs). Not for a queued caller.
    pub(crate) fn look(this: &Arc<Self>, co: &mut Checkout, how: How<'_>) -> Result<Look<K::Conn>> {
        debug_assert!(
            co.queued.is_none(),
            "a queued caller collects, it does not look"
        );
        let mut st = this.lock();
        if st.closed {
            return Err(this.closed_error());
        }
        if !co.counted {
            co.counted = true;
            st.stats.gets += 1;
        }
        if let Some(live) = st.take_idle(this.lifo()) {
            if st.waiting() > 0 {
                // Taken before the nudged waiter came for it: that waiter may need a connect.
                Self::demand_changed(this, st, Wake::default());
            }
            return Ok(Look::Conn(Box::new(live)));
        }
        if co.is_try() {
            // A caller is demand: while connecting fails, it may be the retry.
            return Ok(match st.reserve(Instant::now, true) {
                Some(attempt) => {
                    co.start();
                    Look::Open(attempt)
                }
                None => Look::WouldWait,
            });
        }
        // Nobody queued and returns go to the shelves: a connection usually comes back within
        // microseconds, often from a thread the scheduler must run first. A thread looks out
        // for it a little, yielding the CPU, before queueing (sleeping and waking cost system
        // calls, and closing the shelves sends every later return through this lock).
        if matches!(how, How::Thread)
            && !co.spun
            && !co.waited
            && st.waiting() == 0
            && this.lane.in_use()
        {
            co.spun = true;
            drop(st);
            if let Some(took) = this.lane.look_out() {
                return Ok(Look::Shelved(took));
            }
            return Self::look(this, co, how);
        }
        // `max_waiting` bounds the callers waiting on a pool that cannot grow for them.
        let room = st.total < st.max_size && st.backoff.healthy();
        if !co.waited && !room {
            if let Some(full) = this.queue_full(&mut st) {
                return Err(full);
            }
        }
        let now = Instant::now();
        co.began.get_or_insert(now);
        let hold = co.hold_until.filter(|&until| until > now);
        let (index, signal) = match how {
            How::Thread => st.enqueue(now, hold),
            How::Task(waker) => {
                let deadline = co.deadline();
                let queued = st.enqueue_task(now, hold, waker, deadline);
                this.time(&st, deadline);
                queued
            }
        };
        co.queued = Some((index, now));
        this.time(&st, hold);
        // Connects for the queue: this caller starts them (invariant 6 of `state.rs`).
        st.open_for_demand(now);
        this.time(&st, st.demand.review_at);
        let opens = st.take_pending();
        // A wait is a caller queued behind others' connections, not one whose arrival
        // started a connect (as `get` opening one on its own thread was not).
        if !co.waited {
            co.waited = true;
            if opens.is_empty() {
                st.stats.waits += 1;
            }
        }
        if !st.backoff.healthy() {
            // The checker retries for waiters while connecting backs off.
            this.checker_wake.notify_one();
        }
        // Shelving stops before this caller waits (invariant 4 of `lane.rs`)...
        this.sync_gate(&st);
        st.check();
        let alone = st.waiting() == 1;
        drop(st);
        Self::start_opens(this, opens);
        // ...and what is shelved comes to the waiters (maybe this one) through the state.
        let drained = this.drain_lane();
        Ok(Look::Queued {
            signal,
            alone,
            drained,
        })
    }

    /// Step 2: what a queued caller's mailbox holds, under the lock `st` (see the module
    /// docs); the connects the demand asked for are started first.
    pub(crate) fn collect<'a>(
        this: &'a Arc<Self>,
        co: &mut Checkout,
        mut st: MutexGuard<'a, State<K::Conn>>,
    ) -> Collected<'a, K::Conn> {
        let Some((index, queued)) = co.queued else {
            unreachable!("only a queued caller collects");
        };
        let opens = st.take_pending();
        if !opens.is_empty() {
            drop(st);
            Self::start_opens(this, opens);
            st = this.lock();
        }
        if let Some(grant) = st.take_grant(index) {
            co.queued = None;
            st.stats.wait_time += queued.elapsed();
            this.sync_gate(&st);
            let result = match grant {
                Grant::Conn(live) => Ok(Box::new(live)),
                Grant::Closed => Err(this.closed_error()),
                Grant::TimedOut => {
                    st.stats.timeouts += 1;
                    Err(this.timed_out(&st, co))
                }
            };
            Self::demand_changed(this, st, Wake::default());
            return Collected::Done(result);
        }
        if let Some((live, next)) = st.take_nudged(index, this.lifo()) {
            co.queued = None;
            st.stats.wait_time += queued.elapsed();
            this.sync_gate(&st);
            Self::demand_changed(this, st, next);
            return Collected::Done(Ok(Box::new(live)));
        }
        Collected::Waiting(st)
    }

    /// A caller left the queue (served, or giving up) or took an idle connection past it,
    /// under the lock `st`: the waiters may need connects that what it took was counted
    /// against (an idle connection a waiter holding off took, say), so the demand rule is
    /// applied again; then `next` is woken and the connects are started.
    fn demand_changed(this: &Arc<Self>, mut st: MutexGuard<'_, State<K::Conn>>, next: Wake) {
        if st.waiting() > 0 {
            st.open_for_demand(Instant::now());
            this.time(&st, st.demand.review_at);
        }
        let opens = st.take_pending();
        st.check();
        drop(st);
        next.wake();
        Self::start_opens(this, opens);
    }

    /// A queued caller gives up (`timed_out`: its time ran out, and the error that says so
    /// is returned; else it was cancelled): it leaves the queue; a nudge it had goes to the
    /// next waiter, and the connects it was to start are started.
    pub(crate) fn leave(
        this: &Arc<Self>,
        co: &mut Checkout,
        mut st: MutexGuard<'_, State<K::Conn>>,
        timed_out: bool,
    ) -> Option<Error> {
        let (index, queued) = co.queued.take()?;
        let next = st.dequeue(index);
        st.stats.wait_time += queued.elapsed();
        let error = timed_out.then(|| {
            st.stats.timeouts += 1;
            this.timed_out(&st, co)
        });
        this.sync_gate(&st);
        Self::demand_changed(this, st, next);
        error
    }

    /// Tell the timer about a time it must act at (a task's deadline, a hold-off's end, the
    /// demand rule's review), if it would sleep past it.
    pub(crate) fn time(&self, st: &State<K::Conn>, at: Option<Instant>) {
        if st.timer_late_for(at) {
            self.timer_wake.notify_one();
        }
    }

    /// Step 3: check a connection before handing it out; `Err`: it was discarded, for that
    /// reason. A new one (never handed out) is not tested again. (A task's checkout runs the
    /// same three parts, awaiting the test where the connection can: `checkout_async.rs`.)
    pub(crate) fn prepare(&self, live: Box<Live<K::Conn>>) -> Result<Box<Live<K::Conn>>> {
        let (mut live, test) = self.screen(live)?;
        if let Some(level) = test {
            let outcome = guarded("ping", || live.conn.check(level));
            live = self.tested(live, outcome)?;
        }
        self.hooked(live)
    }

    /// Step 3, first part: discard a broken connection; the liveness to test it at, if
    /// `test_on_checkout` asks for a test (not of a new one, nor of one returned within the
    /// skip window).
    pub(crate) fn screen(&self, mut live: Box<Live<K::Conn>>) -> Result<Screened<K::Conn>> {
        if std::mem::take(&mut live.fresh) {
            return Ok((live, None));
        }
        if broken(&live.conn) {
            self.discard(*live, Held::InUse, Why::Broken);
            return Err(Error::operational("the connection was broken"));
        }
        let recent = match (self.config.checkout_skip_window, live.returned) {
            (Some(window), Some(returned)) => returned.elapsed() < window,
            _ => false,
        };
        let test = (self.config.test_on_checkout && !recent).then_some(self.config.liveness);
        Ok((live, test))
    }

    /// Step 3, second part: the test's `outcome`; a failed test discards the connection.
    pub(crate) fn tested(
        &self,
        live: Box<Live<K::Conn>>,
        outcome: Result<()>,
    ) -> Result<Box<Live<K::Conn>>> {
        match outcome {
            Ok(()) => Ok(live),
            Err(e) => {
                log::info!(target: LOG, "pool {:?}: a connection failed its checkout test: {e}", self.config.name);
                self.discard(*live, Held::InUse, Why::CheckFailed);
                Err(e)
            }
        }
    }

    /// Step 3, last part: the `on_checkout` hook, if set; a failure discards the connection.
    pub(crate) fn hooked(&self, mut live: Box<Live<K::Conn>>) -> Result<Box<Live<K::Conn>>> {
        if let Some(hook) = &self.config.on_checkout {
            if let Err(e) = guarded("the on_checkout hook", || hook(&mut live.conn)) {
                log::warn!(target: LOG, "pool {:?}: on_checkout failed, connection discarded: {e}", self.config.name);
                self.discard(*live, Held::InUse, Why::Broken);
                return Err(e);
            }
        }
        Ok(live)
    }

    /// A caller's time ran out outside the queue (after a rejection).
    pub(crate) fn gave_up(&self, co: &mut Checkout) -> Error {
        let mut st = self.lock();
        st.stats.timeouts += 1;
        self.timed_out(&st, co)
    }

    /// The error of a checkout whose time ran out (counted by the caller): the connect
    /// error while connecting fails, else a timeout caused by the last rejection, if any.
    pub(crate) fn timed_out(&self, st: &State<K::Conn>, co: &mut Checkout) -> Error {
        self.timeout_error(st, co.elapsed(), co.rejected.take())
    }
}
