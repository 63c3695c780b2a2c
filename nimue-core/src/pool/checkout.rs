//! A caller gets a connection: `get`, `get_timeout`, `try_get` and `with`. The fast lane
//! first, then one critical section that takes an idle connection, reserves a slot to connect
//! in, or queues the caller; then the checks before hand-out. The call's timeout counts from
//! its start, through every retry.

use super::backoff::Attempt;
use super::checkin::{Held, Why};
use super::events;
use super::guarded::{broken, guarded, LOG};
use super::shared::Shared;
use super::state::{Grant, Live, Retire, Wake};
use super::sync::{Arc, SharedError};
use crate::connection::{Connect, Connection};
use crate::error::{Error, Result};
use crossbeam::utils::Backoff;
use std::sync::atomic::Ordering;
use std::sync::PoisonError;
use std::thread;
use std::time::{Duration, Instant};

/// How many exponentially growing spins (about 200 pause instructions in all) a lone
/// waiter looks out for its grant before sleeping.
const SPINS: usize = if cfg!(loom) { 1 } else { 8 };

/// How long a checkout waits before it tries again after its `n`th connection in a row was
/// turned away at checkout (threads sleep it; tasks wait it out in the queue): doubling from
/// 1 ms, at most 100 ms.
pub(crate) fn rejection_pause(n: u32) -> Duration {
    Duration::from_millis(1 << n.saturating_sub(1).min(7)).min(Duration::from_millis(100))
}

/// What `acquire` got for a caller.
enum Got<C> {
    /// A connection to hand out (counted in `in_use`).
    Conn(Live<C>),
    /// A slot to open a connection in (counted in `opening`).
    Open(Attempt),
    /// Nothing without waiting (`try_get`).
    WouldWait,
    /// What a look at the shelves found (see [`Lane::take`](super::lane::Lane::take)).
    Shelved(std::result::Result<Box<Live<C>>, Box<Live<C>>>),
}

/// What a caller's own connect attempt came to.
enum Opened<C> {
    Conn(Live<C>),
    /// The pool closed, or was drained, meanwhile (the connection was closed): try again.
    Gone,
    /// The caller's time ran out first: the pool takes the connection when it comes.
    Late,
}

/// A caller's progress through `get`.
struct Wait {
    /// `None`: `try_get`, which never waits for another caller's connection.
    timeout: Option<Duration>,
    /// When the call started: its timeout counts from here. Read from the clock only when
    /// the call must do more than take a connection that is there (connect, queue, check), so
    /// the common checkout reads no clock; what comes before that is a few lock-free steps.
    began: Option<Instant>,
    /// Whether it queued before (it is counted as a wait once).
    queued: bool,
    /// Queue at the front next time: its own connect attempt just failed.
    front: bool,
    /// Whether the get was counted.
    counted: bool,
    /// Whether it looked out for a shelved connection before queueing.
    spun: bool,
    /// Why the last connection it was given was turned away at checkout.
    rejected: Option<Error>,
    /// New connections turned away in a row (each retry waits twice as long).
    rejections: u32,
}

impl Wait {
    fn new(timeout: Option<Duration>) -> Self {
        Wait {
            timeout,
            began: None,
            queued: false,
            front: false,
            counted: false,
            spun: false,
            rejected: None,
            rejections: 0,
        }
    }

    /// `try_get`: never wait.
    fn is_try(&self) -> bool {
        self.timeout.is_none()
    }

    /// Start the clock (once), before anything that takes time.
    fn start(&mut self) -> Instant {
        *self.began.get_or_insert_with(Instant::now)
    }

    /// When the call ends (`try_get`: at once), or `None`: a timeout beyond the clock's range.
    fn deadline(&mut self) -> Option<Instant> {
        let began = self.start();
        match self.timeout {
            None => Some(began),
            Some(timeout) => began.checked_add(timeout),
        }
    }

    /// What is left of the call's time (`None`: no end).
    fn left(&mut self) -> Option<Duration> {
        self.deadline()
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    fn expired(&mut self) -> bool {
        self.left().is_some_and(|left| left.is_zero())
    }

    /// How long the call has taken so far.
    fn elapsed(&mut self) -> Duration {
        self.start().elapsed()
    }
}

impl<K: Connect> Shared<K> {
    /// A connection for `get` or `with` (counted in `in_use`), checked and ready. The
    /// timeout (`None`: `try_get`) counts from this call's start, through every retry.
    pub(crate) fn checkout(
        this: &Arc<Self>,
        timeout: Option<Duration>,
    ) -> Result<Option<Box<Live<K::Connection>>>> {
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
        timeout: Option<Duration>,
    ) -> Result<Option<Box<Live<K::Connection>>>> {
        let mut wait = Wait::new(timeout);
        // The fast lane first, on a short path of its own: kept small, it stays inlined into
        // the caller (through the general loop below, contended throughput halved).
        if let Some(took) = this.lane.take() {
            // Counted by the lane: the slow path must not count this get again.
            wait.counted = true;
            match took {
                Ok(live) => {
                    if let Some(live) = this.hand_out(&mut wait, live, false)? {
                        return Ok(Some(live));
                    }
                }
                Err(stale) => this.put_back(*stale),
            }
        }
        loop {
            let (live, fresh) = match this.acquire(&mut wait)? {
                Got::Conn(live) => (Box::new(live), false),
                Got::WouldWait => return Ok(None),
                Got::Shelved(Ok(live)) => (live, false),
                Got::Shelved(Err(stale)) => {
                    this.put_back(*stale);
                    continue;
                }
                Got::Open(attempt) => match Self::open_for_caller(this, attempt, &mut wait) {
                    Ok(Opened::Conn(live)) => (Box::new(live), true),
                    Ok(Opened::Gone) => continue, // the next acquire says why, or retries
                    Ok(Opened::Late) => return Err(this.gave_up(&mut wait)),
                    Err(e) if wait.is_try() => return Err(this.connect_error(e)),
                    Err(_) if wait.expired() => return Err(this.gave_up(&mut wait)),
                    Err(_) => {
                        wait.front = true;
                        continue;
                    }
                },
            };
            if let Some(live) = this.hand_out(&mut wait, live, fresh)? {
                return Ok(Some(live));
            }
        }
    }

    /// Check a connection and hand it out: `Ok(None)` when it was turned away and the caller
    /// should try again (or an error when its time is up).
    #[inline]
    fn hand_out(
        &self,
        wait: &mut Wait,
        live: Box<Live<K::Connection>>,
        fresh: bool,
    ) -> Result<Option<Box<Live<K::Connection>>>> {
        // Checks and hooks do I/O: the clock starts before them.
        if self.config.test_on_checkout || self.config.on_checkout.is_some() {
            wait.start();
        }
        match self.prepare(live, fresh) {
            Ok(live) => Ok(Some(live)),
            Err(e) => self.rejected(wait, e, fresh).map(|()| None),
        }
    }

    /// A connection a caller was given was turned away at checkout (by `on_checkout` or
    /// `test_on_checkout`, and discarded): carry on, or give up with the reason as the cause
    /// when the call's time is up. A new connection turned away means new ones may all be:
    /// `try_get` gives up, `get` retries after a delay doubling from 1 ms (at most 100 ms),
    /// so a hook that always fails costs a few connects, not a storm of them.
    fn rejected(&self, wait: &mut Wait, e: Error, fresh: bool) -> Result<()> {
        wait.rejected = Some(e);
        if fresh {
            wait.rejections = wait.rejections.saturating_add(1);
            if wait.is_try() {
                return Err(self.gave_up(wait));
            }
            let pause = rejection_pause(wait.rejections);
            thread::sleep(wait.left().map_or(pause, |left| left.min(pause)));
        }
        if wait.expired() {
            return Err(self.gave_up(wait));
        }
        Ok(())
    }

    /// The hot path: one critical section that takes an idle connection or reserves a slot,
    /// or else queues the caller until it is handed one (or a slot) or times out.
    fn acquire(&self, wait: &mut Wait) -> Result<Got<K::Connection>> {
        let mut st = self.lock();
        if st.closed {
            return Err(self.closed_error());
        }
        if !wait.counted {
            wait.counted = true;
            st.stats.gets += 1;
        }
        if let Some(live) = st.take_idle(self.lifo()) {
            return Ok(Got::Conn(live));
        }
        // A caller is demand: while connecting fails, it may be the retry.
        if let Some(attempt) = st.reserve(Instant::now, true) {
            wait.start();
            return Ok(Got::Open(attempt));
        }
        if wait.is_try() {
            return Ok(Got::WouldWait);
        }
        // Nobody queued and returns go to the shelves: a connection usually comes back within
        // microseconds, often from a thread the scheduler must run first. Look out for it a
        // little, yielding the CPU, before queueing (sleeping and waking cost system calls,
        // and closing the shelves sends every later return through this lock).
        if !wait.spun && !wait.queued && st.waiting() == 0 && self.lane.in_use() {
            wait.spun = true;
            drop(st);
            if let Some(took) = self.lane.look_out() {
                return Ok(Got::Shelved(took));
            }
            return self.acquire(wait);
        }
        if !wait.queued {
            if let Some(full) = self.queue_full(&mut st) {
                return Err(full);
            }
        }
        let queued = Instant::now();
        wait.began.get_or_insert(queued);
        if !wait.queued {
            wait.queued = true;
            st.stats.waits += 1;
        }
        let deadline = wait.deadline();
        let (index, signal) = st.enqueue(std::mem::take(&mut wait.front), queued);
        if !st.backoff.healthy() {
            // The checker retries for waiters while connecting backs off.
            self.checker_wake.notify_one();
        }
        // Shelving stops before this caller sleeps (invariant 4 of `lane.rs`)...
        self.sync_gate(&st);
        st.check();
        // A connection often comes back within microseconds: a lone waiter looks out for it
        // a little before sleeping, which would make the hand-over cost two system calls.
        // With more waiters than that, spinning would only take CPU from the holders.
        let alone = st.waiting() == 1;
        drop(st);
        // ...and what is shelved comes to the waiters (maybe this one) through the state.
        self.drain_lane();
        if alone {
            let backoff = Backoff::new();
            for _ in 0..SPINS {
                if signal.ready.load(Ordering::Acquire) {
                    break;
                }
                backoff.spin();
            }
        }
        let mut st = self.lock();
        loop {
            if let Some(grant) = st.take_grant(index) {
                st.stats.wait_time += queued.elapsed();
                self.sync_gate(&st);
                return match grant {
                    Grant::Conn(live) => Ok(Got::Conn(live)),
                    Grant::Slot => Ok(Got::Open(Attempt { probe: false })),
                    Grant::Closed => Err(self.closed_error()),
                    // Only tasks have deadlines in the state: a thread times itself out.
                    Grant::TimedOut => {
                        Err(self.timeout_error(&st, wait.elapsed(), wait.rejected.take()))
                    }
                };
            }
            if let Some((live, next)) = st.take_nudged(index, self.lifo()) {
                st.stats.wait_time += queued.elapsed();
                self.sync_gate(&st);
                st.check();
                drop(st);
                next.wake();
                return Ok(Got::Conn(live));
            }
            let now = Instant::now();
            if deadline.is_some_and(|deadline| now >= deadline) {
                let next = st.dequeue(index);
                st.stats.wait_time += now - queued;
                st.stats.timeouts += 1;
                let error = self.timeout_error(&st, wait.elapsed(), wait.rejected.take());
                self.sync_gate(&st);
                st.check();
                drop(st);
                next.wake();
                return Err(error);
            }
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

    /// Open a connection for a caller, in the slot it reserved, waiting no longer than what
    /// is left of its time (`try_get` waits for its attempt); when that runs out first, the
    /// attempt goes on and the pool takes its connection ([`Opened::Late`]).
    fn open_for_caller(
        this: &Arc<Self>,
        attempt: Attempt,
        wait: &mut Wait,
    ) -> std::result::Result<Opened<K::Connection>, SharedError> {
        let name = &this.config.name;
        let born = Instant::now();
        let connected = match wait.timeout {
            None => this.connector.connect(name),
            Some(_) => {
                let left = wait.left().unwrap_or(Duration::MAX);
                let shared = Arc::clone(this);
                let late = move |result| shared.adopt(attempt, born, result);
                match this.connector.connect_for(name, left, late) {
                    Some(result) => result,
                    None => return Ok(Opened::Late),
                }
            }
        };
        let live = connected
            .and_then(|conn| this.live(conn, born))
            .map_err(|e| {
                let e = SharedError::new(e);
                this.open_failed(attempt, &e);
                e
            })?;
        let mut st = this.lock();
        let wakes = if st.opened() {
            st.grant_slots()
        } else {
            Vec::new()
        };
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
        wakes.into_iter().for_each(Wake::wake);
        if let Some(why) = gone {
            this.discard(live, Held::InUse, why);
            return Ok(Opened::Gone);
        }
        Ok(Opened::Conn(live))
    }

    /// A caller's time ran out outside the queue (while connecting, or after a rejection).
    fn gave_up(&self, wait: &mut Wait) -> Error {
        let mut st = self.lock();
        st.stats.timeouts += 1;
        self.timeout_error(&st, wait.elapsed(), wait.rejected.take())
    }

    /// Check a connection before handing it out; `Err`: it was discarded, for that reason.
    pub(crate) fn prepare(
        &self,
        mut live: Box<Live<K::Connection>>,
        fresh: bool,
    ) -> Result<Box<Live<K::Connection>>> {
        if !fresh {
            if broken(&live.conn) {
                self.discard(*live, Held::InUse, Why::Broken);
                return Err(Error::operational("the connection was broken"));
            }
            let recent = match (self.config.checkout_skip_window, live.returned) {
                (Some(window), Some(returned)) => returned.elapsed() < window,
                _ => false,
            };
            if self.config.test_on_checkout && !recent {
                let level = self.config.liveness;
                if let Err(e) = guarded("ping", || live.conn.check(level)) {
                    log::info!(target: LOG, "pool {:?}: a connection failed its checkout test: {e}", self.config.name);
                    self.discard(*live, Held::InUse, Why::CheckFailed);
                    return Err(e);
                }
            }
        }
        if let Some(hook) = &self.config.on_checkout {
            if let Err(e) = guarded("the on_checkout hook", || hook(&mut live.conn)) {
                log::warn!(target: LOG, "pool {:?}: on_checkout failed, connection discarded: {e}", self.config.name);
                self.discard(*live, Held::InUse, Why::Broken);
                return Err(e);
            }
        }
        Ok(live)
    }
}
