//! The part of a pool its handles, guards and checker share, and the operations on it.
//!
//! The rule of every function here: take the lock, update [`State`] with one of its I/O-free
//! methods, release the lock, then do the I/O (connect, ping, reset, close) and the wake-ups.

use super::builder::{Config, Reuse};
use super::connect::Connector;
use super::guard::PooledConnection;
use super::lane::Lane;
use super::leak::Leaks;
use super::state::{Attempt, Grant, Idle, Live, Retire, State, Wake};
use super::sync::{Arc, AtomicUsize, Condvar, Mutex, MutexGuard, SharedError};
use crate::connection::{Connect, Connection};
use crate::error::{Error, PoolTimeout, Result};
use crossbeam::utils::Backoff;
use std::any::Any;
use std::panic::{self, AssertUnwindSafe, Location};
use std::sync::atomic::Ordering;
use std::sync::PoisonError;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How many exponentially growing spins (about 200 pause instructions in all) a lone
/// waiter looks out for its grant before sleeping.
const SPINS: usize = if cfg!(loom) { 1 } else { 8 };

/// At most this many shelves in the fast lane (`lane.rs`); more connections than that
/// are idle in the state.
const MAX_SHELVES: usize = 64;

/// Log target of the pool.
pub(crate) const LOG: &str = "nimue::pool";

/// Where a connection being discarded was counted.
#[derive(Clone, Copy)]
pub(crate) enum Held {
    InUse,
    Checking,
}

/// Why a connection is being discarded (for the counters).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Why {
    /// Broken: `is_broken()`, a failed reset or hook, a panic while held.
    Broken,
    /// A ping failed.
    CheckFailed,
    /// Past `idle_timeout` or `max_lifetime`, or opened before an eviction.
    Retired(Retire),
    /// The pool is closed.
    Closed,
    /// Taken out of the pool by `detach()` (not closed).
    Detached,
}

/// What `acquire` got for a caller.
enum Got<C> {
    /// A connection to hand out (counted in `in_use`).
    Conn(Live<C>),
    /// A slot to open a connection in (counted in `opening`).
    Open(Attempt),
    /// Nothing without waiting (`try_get`).
    WouldWait,
    /// What a look at the shelves found (see [`Lane::take`]).
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

/// When a checkout stops trying.
#[derive(Clone, Copy)]
enum Until {
    /// `try_get`: never wait for another caller's connection.
    Now,
    /// `get_timeout`: the call's start plus its timeout.
    At(Instant),
    /// A timeout beyond the clock's range: no end.
    Never,
}

/// A caller's progress through `get`.
struct Wait {
    /// When the call started: its timeout counts from here, whatever it does first.
    began: Instant,
    until: Until,
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
        let began = Instant::now();
        let until = match timeout {
            None => Until::Now,
            Some(timeout) => began.checked_add(timeout).map_or(Until::Never, Until::At),
        };
        Wait {
            began,
            until,
            queued: false,
            front: false,
            counted: false,
            spun: false,
            rejected: None,
            rejections: 0,
        }
    }

    /// When the call ends, if it ever does (`try_get` ends at once).
    fn deadline(&self) -> Option<Instant> {
        match self.until {
            Until::Now => Some(self.began),
            Until::At(at) => Some(at),
            Until::Never => None,
        }
    }

    /// What is left of the call's time (`None`: no end).
    fn left(&self) -> Option<Duration> {
        self.deadline()
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    fn expired(&self) -> bool {
        self.left().is_some_and(|left| left.is_zero())
    }
}

pub(crate) struct Shared<K: Connect> {
    pub connector: Connector<K>,
    pub config: Config<K::Connection>,
    /// All the pool's numbers, connections and waiters; held only for short I/O-free updates
    /// (the invariants are listed in `state.rs`).
    state: Mutex<State<K::Connection>>,
    /// Returned connections waiting for the next checkout outside the lock (`lane.rs`; its
    /// gate is written under `state`'s lock).
    pub lane: Lane<Live<K::Connection>>,
    /// Wakes the checker early: a connection was discarded, a connect failed, a waiter
    /// queued while connecting backs off, the pool closed. Waited on with `state`'s lock.
    pub checker_wake: Condvar,
    /// The number of `Pool` handles; the last one dropped closes the pool.
    pub handles: AtomicUsize,
    /// The checker thread, until `close` joins it.
    pub checker: Mutex<Option<JoinHandle<()>>>,
    /// Connections handed out, when `leak_threshold` is set.
    pub leaks: Option<Leaks>,
}

impl<K: Connect> Shared<K> {
    pub(crate) fn new(connector: K, config: Config<K::Connection>) -> Self {
        let backoff_cap = config.check_interval.min(Duration::from_secs(5));
        // FIFO reuse must go round every connection: only LIFO pools shelve.
        let shelves = if config.reuse == Reuse::Lifo {
            config.max_size.min(MAX_SHELVES)
        } else {
            0
        };
        let state = State::new(config.min_idle, config.max_size, backoff_cap);
        let lane = Lane::new(shelves, state.tick);
        lane.set_gate(shelves > 0);
        Shared {
            state: Mutex::new(state),
            lane,
            leaks: config.leak_threshold.map(Leaks::new),
            connector: Connector::new(connector, config.connect_timeout, config.max_size),
            config,
            checker_wake: Condvar::new(),
            handles: AtomicUsize::new(0),
            checker: Mutex::new(None),
        }
    }

    /// Lock the state. No user code runs under this lock, so a poisoned lock only means a
    /// panic between two consistent states of ours: carry on rather than panic in a `Drop`.
    #[inline]
    pub(crate) fn lock(&self) -> MutexGuard<'_, State<K::Connection>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lifo(&self) -> bool {
        self.config.reuse == Reuse::Lifo
    }

    /// A checkout's entry in the leak registry, when `leak_threshold` is set.
    pub(crate) fn leak_ticket(&self, at: &'static Location<'static>) -> Option<usize> {
        self.leaks.as_ref().map(|leaks| leaks.checkout(at))
    }

    /// Settle a checkout's leak registry entry (the connection is being given back).
    pub(crate) fn settle_ticket(&self, ticket: Option<usize>) {
        if let (Some(ticket), Some(leaks)) = (ticket, &self.leaks) {
            leaks.checkin(ticket, &self.config.name);
        }
    }

    /// Open the lane's gate exactly when returns may be shelved (invariant 3 of `lane.rs`).
    /// Call it under the lock after any change to who waits, `closed` or `shrinking`.
    #[inline]
    fn sync_gate(&self, st: &State<K::Connection>) {
        self.lane
            .set_gate(self.lifo() && !st.closed && !st.shrinking && st.waiting() == 0);
    }

    /// Take every shelved connection back through the slow path (after closing the gate, or
    /// so that the state's numbers count them as idle).
    pub(crate) fn drain_lane(&self) {
        for live in self.lane.drain() {
            self.put_back(*live);
        }
    }

    /// `get`, `get_timeout` (`timeout: Some`) and `try_get` (`None`: never wait).
    /// (An associated function, not a method: loom's `Arc` cannot be a `self` type.)
    pub(crate) fn get(
        this: &Arc<Self>,
        timeout: Option<Duration>,
        at: &'static Location<'static>,
    ) -> Result<Option<PooledConnection<K>>> {
        let got = Self::checkout(this, timeout)?;
        Ok(got.map(|live| PooledConnection::new(Arc::clone(this), live, at)))
    }

    /// A connection for `get` or `with` (counted in `in_use`), checked and ready. The
    /// timeout (`None`: `try_get`) counts from this call's start, through every retry.
    pub(crate) fn checkout(
        this: &Arc<Self>,
        timeout: Option<Duration>,
    ) -> Result<Option<Box<Live<K::Connection>>>> {
        // The fast lane first; what it finds is handled like what the slow path finds there.
        let mut shelved = this.lane.take().map(Got::Shelved);
        let mut wait = Wait::new(timeout);
        // Counted by the lane: the slow path must not count this get again.
        wait.counted = shelved.is_some();
        loop {
            let got = match shelved.take() {
                Some(got) => got,
                None => this.acquire(&mut wait)?,
            };
            let (live, fresh) = match got {
                Got::Conn(live) => (Box::new(live), false),
                Got::WouldWait => return Ok(None),
                Got::Shelved(Ok(live)) => (live, false),
                Got::Shelved(Err(stale)) => {
                    this.put_back(*stale);
                    continue;
                }
                Got::Open(attempt) => match Self::open_for_caller(this, attempt, &wait) {
                    Ok(Opened::Conn(live)) => (Box::new(live), true),
                    Ok(Opened::Gone) => continue, // the next acquire says why, or retries
                    Ok(Opened::Late) => return Err(this.gave_up(&mut wait)),
                    Err(e) if matches!(wait.until, Until::Now) => return Err(this.connect_error(e)),
                    Err(_) if wait.expired() => return Err(this.gave_up(&mut wait)),
                    Err(_) => {
                        wait.front = true;
                        continue;
                    }
                },
            };
            match this.prepare(live, fresh) {
                Ok(live) => return Ok(Some(live)),
                Err(e) => this.rejected(&mut wait, e, fresh)?,
            }
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
            if matches!(wait.until, Until::Now) {
                return Err(self.gave_up(wait));
            }
            let pause = Duration::from_millis(1 << (wait.rejections - 1).min(7))
                .min(Duration::from_millis(100));
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
            return Ok(Got::Open(attempt));
        }
        if matches!(wait.until, Until::Now) {
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
            if let Some(max) = self.config.max_waiting {
                if st.waiting() >= max {
                    st.stats.rejected += 1;
                    return Err(Error::Exhausted(self.numbers(&st, Duration::ZERO)));
                }
            }
        }
        let queued = Instant::now();
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
                let error = self.timeout_error(&st, now - wait.began, wait.rejected.take());
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
        wait: &Wait,
    ) -> std::result::Result<Opened<K::Connection>, SharedError> {
        let name = &this.config.name;
        let born = Instant::now();
        let connected = match wait.until {
            Until::Now => this.connector.connect(name),
            Until::At(_) | Until::Never => {
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

    /// The result of an attempt whose caller stopped waiting: the connection goes to the
    /// first waiter or is idle, or the failure is recorded and the slot freed.
    fn adopt(&self, attempt: Attempt, born: Instant, result: Result<K::Connection>) {
        match result.and_then(|conn| self.live(conn, born)) {
            Ok(live) => {
                log::debug!(target: LOG, "pool {:?}: a connection finished opening after its caller gave up; kept", self.config.name);
                self.lend_to_pool(live);
            }
            Err(e) => self.open_failed(attempt, &SharedError::new(e)),
        }
    }

    /// A caller's time ran out outside the queue (while connecting, or after a rejection).
    fn gave_up(&self, wait: &mut Wait) -> Error {
        let mut st = self.lock();
        st.stats.timeouts += 1;
        self.timeout_error(&st, wait.began.elapsed(), wait.rejected.take())
    }

    /// Open a connection for the pool (by `build` or the checker), in a reserved slot, and
    /// give it to the first waiter or make it idle.
    pub(crate) fn open_for_pool(&self, attempt: Attempt) -> std::result::Result<(), SharedError> {
        let live = self.open_in(attempt)?;
        self.lend_to_pool(live);
        Ok(())
    }

    /// A connection just opened in a reserved slot goes to the first waiter or is idle
    /// (or is closed, as a returned one would be).
    fn lend_to_pool(&self, live: Live<K::Connection>) {
        let mut st = self.lock();
        let recovered = st.opened();
        self.give_back(st, live, recovered);
    }

    /// Open one idle connection now (for `build`).
    pub(crate) fn open_idle(&self) -> Result<()> {
        let attempt = self.lock().reserve(Instant::now, true);
        let attempt = attempt.expect("build opens at most max_size connections");
        self.open_for_pool(attempt)
            .map_err(|e| self.connect_error(e))
    }

    /// [`open`](Self::open) in the slot `attempt` reserved; a failure frees the slot and
    /// backs off.
    fn open_in(&self, attempt: Attempt) -> std::result::Result<Live<K::Connection>, SharedError> {
        let born = Instant::now();
        let opened = self
            .connector
            .connect(&self.config.name)
            .and_then(|conn| self.live(conn, born));
        opened.map_err(|e| {
            let e = SharedError::new(e);
            self.open_failed(attempt, &e);
            e
        })
    }

    /// Set up a new connection whose connect started at `born` (no lock held): the pool's
    /// `autocommit`, then `on_connect`; the session they leave is what returns restore.
    fn live(&self, mut conn: K::Connection, born: Instant) -> Result<Live<K::Connection>> {
        if let Err(e) = guarded("the on_connect hook", || self.set_up(&mut conn)) {
            close_quietly(&self.config.name, conn);
            return Err(e);
        }
        let autocommit = conn.autocommit();
        let expires = self.config.max_lifetime.and_then(|l| lifetime_end(born, l));
        Ok(Live {
            conn,
            expires,
            born,
            autocommit,
            returned: None,
            born_ns: self.lane.stamp(born),
            expires_ns: expires.map_or(u64::MAX, |at| self.lane.stamp(at)),
        })
    }

    /// The session set-up of a new connection (or of one whose reset cleared its session):
    /// the pool's `autocommit`, then `on_connect`.
    fn set_up(&self, conn: &mut K::Connection) -> Result<()> {
        if let Some(on) = self.config.autocommit {
            conn.set_autocommit(on)?;
        }
        match &self.config.on_connect {
            Some(hook) => hook(conn),
            None => Ok(()),
        }
    }

    fn open_failed(&self, attempt: Attempt, e: &SharedError) {
        let mut st = self.lock();
        // Once per outage at warn: retries for waiting callers come every few tens of ms.
        if st.backoff.healthy() {
            log::warn!(target: LOG, "pool {:?}: connect failed: {e}", self.config.name);
        } else {
            log::debug!(target: LOG, "pool {:?}: connect failed again: {e}", self.config.name);
        }
        st.open_failed(attempt, SharedError::clone(e), Instant::now());
        st.check();
        drop(st);
        // The checker schedules the retry.
        self.checker_wake.notify_one();
    }

    /// Check a connection before handing it out; `Err`: it was discarded, for that reason.
    fn prepare(
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

    /// A guard gives its connection back: reset it and hand it to the first waiter or make it
    /// idle; discard it when it is broken, was held by a panicking thread, or fails to reset.
    pub(crate) fn checkin(
        &self,
        mut live: Box<Live<K::Connection>>,
        panicking: bool,
    ) -> Result<()> {
        if panicking || broken(&live.conn) {
            // A connection broken by the driver (not by a panic) usually means the database
            // went away: every connection opened before now is suspect.
            if !panicking {
                self.disconnect_seen(live.born);
            }
            self.discard(*live, Held::InUse, Why::Broken);
            return Ok(());
        }
        // Back to the session the pool set up: `reset`, then the autocommit it had.
        let mut cleaned = guarded("reset", || {
            live.conn.reset()?;
            if live.conn.reset_cleared_session() {
                self.set_up(&mut live.conn)?;
            }
            if live.conn.autocommit() != live.autocommit {
                live.conn.set_autocommit(live.autocommit)?;
            }
            Ok(())
        });
        if let (Ok(()), Some(hook)) = (&cleaned, &self.config.on_checkin) {
            cleaned = guarded("the on_checkin hook", || hook(&mut live.conn));
        }
        if let Err(e) = cleaned {
            log::info!(target: LOG, "pool {:?}: a returned connection failed to reset and is discarded: {e}", self.config.name);
            self.discard(*live, Held::InUse, Why::Broken);
            return Err(e);
        }
        if self.config.checkout_skip_window.is_some() {
            live.returned = Some(Instant::now());
        }
        // Onto a shelf, without the lock, when the lane takes it (usually).
        self.lane.put(live, |live| self.put_back(*live));
        Ok(())
    }

    /// Return a connection (counted in `in_use`) through the state: to the first waiter or
    /// idle, or closed when the pool is closed, it expired or is unwanted.
    fn put_back(&self, live: Live<K::Connection>) {
        self.give_back(self.lock(), live, false);
    }

    /// [`put_back`](Self::put_back) under the lock the caller took; `recovered`: the
    /// connection ended an outage, so every waiter there is room for gets a slot too.
    fn give_back(
        &self,
        mut st: MutexGuard<'_, State<K::Connection>>,
        live: Live<K::Connection>,
        recovered: bool,
    ) {
        let expired = live.expires.is_some_and(|at| at <= st.tick);
        let why = if st.closed {
            Some(Why::Closed)
        } else if expired {
            Some(Why::Retired(Retire::Lifetime))
        } else if st.unwanted(live.born) {
            Some(Why::Retired(Retire::Evicted))
        } else {
            None
        };
        if let Some(why) = why {
            // Still the end of an outage: the waiters get slots (invariant 4 of `state.rs`).
            let wakes = if recovered {
                st.grant_slots()
            } else {
                Vec::new()
            };
            self.sync_gate(&st);
            drop(st);
            wakes.into_iter().for_each(Wake::wake);
            self.discard(live, Held::InUse, why);
            return;
        }
        let first = st.give(live);
        let wakes = if recovered {
            st.grant_slots()
        } else {
            Vec::new()
        };
        self.sync_gate(&st);
        st.check();
        drop(st);
        first.wake();
        wakes.into_iter().for_each(Wake::wake);
    }

    /// Close a connection (no lock held), then free its slot.
    pub(crate) fn discard(&self, live: Live<K::Connection>, from: Held, why: Why) {
        if why == Why::CheckFailed {
            self.disconnect_seen(live.born);
        }
        close_quietly(&self.config.name, live.conn);
        self.uncount(from, why);
    }

    /// Uncount a connection that was closed or detached: its slot goes to the first waiter,
    /// or is freed (and the checker told if the pool is now short of idle connections).
    pub(crate) fn uncount(&self, from: Held, why: Why) {
        let mut st = self.lock();
        match from {
            Held::InUse => st.in_use -= 1,
            Held::Checking => st.checking -= 1,
        }
        let stats = &mut st.stats;
        match why {
            Why::Broken => stats.broken += 1,
            Why::CheckFailed => stats.checks_failed += 1,
            Why::Retired(Retire::Idle) => stats.retired_idle += 1,
            Why::Retired(Retire::Lifetime) => stats.retired_lifetime += 1,
            Why::Retired(Retire::Evicted) => stats.evicted += 1,
            Why::Closed | Why::Detached => {}
        }
        if why != Why::Detached {
            stats.closed += 1;
        }
        let wake = st.release_slot();
        let short = !st.closed && st.idle.len() < st.min_idle;
        st.check();
        drop(st);
        if let Some(wake) = wake {
            wake.wake();
        }
        if short {
            self.checker_wake.notify_one();
        }
    }

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
        wakes.into_iter().for_each(Wake::wake);
        for entry in idle {
            self.discard(entry.live, Held::Checking, Why::Closed);
        }
        let checker = self
            .checker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(checker) = checker {
            // The checker can end up dropping the last handle (through a hook that owns
            // one); it must not wait for itself.
            if checker.thread().id() != thread::current().id() && checker.join().is_err() {
                log::error!(target: LOG, "pool {:?}: the checker thread panicked", self.config.name);
            }
        }
        log::debug!(target: LOG, "pool {:?} closed", self.config.name);
    }

    /// The pool's numbers, for an error.
    fn numbers(&self, st: &State<K::Connection>, waited: Duration) -> Box<PoolTimeout> {
        Box::new(PoolTimeout {
            pool: self.config.name.clone(),
            waited,
            size: st.total,
            max_size: st.max_size,
            in_use: st.in_use,
            idle: st.idle.len(),
            waiting: st.waiting(),
            cause: None,
        })
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
    fn disconnect_seen(&self, born: Instant) {
        if !self.config.evict_on_disconnect {
            return;
        }
        let fresh = self.lock().evict_before.map_or(true, |at| born >= at);
        if fresh {
            self.evict(Instant::now());
        }
    }

    /// Close idle connections taken out (counted in `checking`) by an eviction or a resize.
    fn close_evicted(&self, idle: Vec<Idle<K::Connection>>) {
        for idle in idle {
            self.discard(idle.live, Held::Checking, Why::Retired(Retire::Evicted));
        }
    }

    /// Change `min_idle` and `max_size` of the live pool.
    pub(crate) fn resize(&self, min_idle: usize, max_size: usize) {
        self.connector.set_max_size(max_size);
        let (excess, wakes) = {
            let mut st = self.lock();
            let resized = st.resize(min_idle, max_size);
            self.sync_gate(&st);
            resized
        };
        self.drain_lane();
        wakes.into_iter().for_each(Wake::wake);
        self.close_evicted(excess);
        self.checker_wake.notify_one();
    }

    pub(crate) fn closed_error(&self) -> Error {
        Error::Closed {
            pool: self.config.name.clone(),
        }
    }

    pub(crate) fn connect_error(&self, source: SharedError) -> Error {
        Error::Connect {
            pool: self.config.name.clone(),
            source,
            timeout: None,
        }
    }

    /// A `get()` gave up: [`Error::Timeout`] with the cause when connections it was given
    /// were turned away at checkout (`rejected`); else [`Error::Connect`] with the cause while
    /// connecting fails (a wrong password is reported as such); else [`Error::Timeout`].
    pub(crate) fn timeout_error(
        &self,
        st: &State<K::Connection>,
        waited: Duration,
        rejected: Option<Error>,
    ) -> Error {
        let mut numbers = self.numbers(st, waited);
        if let Some(cause) = rejected {
            numbers.cause = Some(std::sync::Arc::new(cause));
            return Error::Timeout(numbers);
        }
        match &st.last_connect_error {
            Some(source) => Error::Connect {
                pool: self.config.name.clone(),
                source: SharedError::clone(source),
                timeout: Some(numbers),
            },
            None => Error::Timeout(numbers),
        }
    }
}

/// Whether a connection is broken; a panic in the driver's `is_broken` says it is.
fn broken<C: Connection>(conn: &C) -> bool {
    panic::catch_unwind(AssertUnwindSafe(|| conn.is_broken())).unwrap_or(true)
}

/// Close a connection, logging (not returning) an error.
pub(crate) fn close_quietly<C: Connection>(pool: &str, conn: C) {
    if let Err(e) = guarded("close", || conn.close()) {
        log::debug!(target: LOG, "pool {pool:?}: closing a connection failed: {e}");
    }
}

/// Run driver or hook code, turning a panic into an error so the pool's counts stay right
/// (the panic message was already printed by the panic hook).
pub(crate) fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        Err(Error::interface(format!(
            "{what} panicked: {}",
            panic_message(payload.as_ref())
        )))
    })
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(no message)"
    }
}

/// When a connection opened at `born` reaches `max_lifetime`: up to 2.5% sooner, at random,
/// so connections opened together do not all expire together (HikariCP's variance).
fn lifetime_end(born: Instant, lifetime: Duration) -> Option<Instant> {
    born.checked_add(lifetime.mul_f64(1.0 - fastrand::f64() / 40.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_are_spread_over_the_last_two_and_a_half_percent() {
        let born = Instant::now();
        let lifetime = Duration::from_secs(1000);
        let ends: Vec<Duration> = (0..200)
            .map(|_| lifetime_end(born, lifetime).unwrap() - born)
            .collect();
        let min = *ends.iter().min().unwrap();
        let max = *ends.iter().max().unwrap();
        assert!(
            min >= Duration::from_secs(975) && max <= lifetime,
            "{min:?}..{max:?}"
        );
        // 200 draws over 25 s: spread over most of it, not bunched.
        assert!(max - min > Duration::from_secs(20), "{min:?}..{max:?}");
    }
}
