//! What the pool keeps under its one lock, and the bookkeeping that keeps it consistent.
//!
//! Everything here is plain data changed by short methods that never do I/O and never run
//! user code: callers take the lock, call one or two of these, release the lock, and only then
//! connect, ping, reset, close or wake anyone.
//!
//! # Invariants (checked by [`State::check`] in debug builds)
//!
//! 1. `total == idle.len() + in_use + opening + checking`: every counted connection is in
//!    exactly one place. A slot is counted as soon as it is reserved, before connecting, and
//!    uncounted only after its connection was closed (or its connect failed), so the number
//!    of live connections never exceeds `total`.
//! 2. `total <= max_size`.
//! 3. A waiter is queued only while no idle connection exists: everything that makes a
//!    connection idle ([`State::give`], [`State::put_checked`]) serves the first waiter instead.
//! 4. A waiter is queued while `total < max_size` only while connecting is backing off after a
//!    failure; the checker then retries at `backoff.retry_at` and, on success, every waiter it
//!    can is granted a slot ([`State::opened`]). So a freed slot is never left unused while a
//!    waiter could have used it.
//! 5. Each waiter is served at most once: a grant is written only into the slot of a waiter
//!    just removed from the queue, and the waiter takes it out under the same lock.

use crate::Error;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar};
use std::time::{Duration, Instant};

/// A connection with what the pool knows about it.
pub(crate) struct Live<C> {
    pub conn: C,
    /// When `max_lifetime` ends for it.
    pub expires: Option<Instant>,
}

/// An idle connection.
pub(crate) struct Idle<C> {
    pub live: Live<C>,
    /// The round in which it was returned or last pinged; the checker pings it in a later one.
    pub round: u64,
    /// When the checker first saw it idle (a lower bound of how long it has been idle).
    pub seen: Option<Instant>,
}

/// What a waiter is handed.
pub(crate) enum Grant<C> {
    /// A connection, already counted in `in_use`.
    Conn(Live<C>),
    /// Permission to open a connection: a slot counted in `total` and `opening`.
    Slot,
    /// The pool closed.
    Closed,
}

/// One queued waiter's mailbox; reused by later waiters.
struct Mailbox<C> {
    grant: Option<Grant<C>>,
    /// Whether the waiter sleeps on `signal.wake` (else it is spinning on `signal.ready`, or
    /// running): only a sleeper needs the system call a notification costs.
    sleeping: bool,
    signal: Arc<Signal>,
}

/// How a waiter learns it was served.
pub(crate) struct Signal {
    /// Set (under the pool's lock) when the grant is in the mailbox; the waiter spins on it a
    /// little before it goes to sleep, so a quick hand-off costs no system call.
    pub ready: AtomicBool,
    /// Wakes the sleeping waiter; waited on with the pool's lock.
    pub wake: Condvar,
}

/// Wakes one served waiter if it sleeps; call it after releasing the lock.
#[must_use]
pub(crate) struct Wake(Option<Arc<Signal>>);

impl Wake {
    pub(crate) fn wake(self) {
        if let Some(signal) = self.0 {
            signal.wake.notify_one();
        }
    }
}

/// A permission to connect that [`State::reserve`] gave out.
#[derive(Clone, Copy)]
pub(crate) struct Attempt {
    /// Whether this is the one retry allowed while backing off.
    pub probe: bool,
}

/// Exponential back-off of connect attempts after failures.
pub(crate) struct Backoff {
    /// Failed attempts in a row; 0 means healthy: anyone may connect.
    failures: u32,
    /// While failing: no attempt before this.
    pub retry_at: Instant,
    /// While failing: the one retry (probe) is under way.
    probing: bool,
    /// The longest delay between retries.
    cap: Duration,
}

/// The first retry delay; it doubles per failure up to the cap.
const FIRST_RETRY: Duration = Duration::from_millis(10);

impl Backoff {
    fn new(cap: Duration, now: Instant) -> Self {
        Backoff {
            failures: 0,
            retry_at: now,
            probing: false,
            cap: cap.max(FIRST_RETRY),
        }
    }

    pub(crate) fn healthy(&self) -> bool {
        self.failures == 0
    }

    /// Whether a probe may start at `now` (only meaningful while failing).
    pub(crate) fn probe_due(&self, now: Instant) -> bool {
        !self.probing && now >= self.retry_at
    }

    fn failed(&mut self, attempt: Attempt, now: Instant) {
        // Failures of attempts started while healthy all belong to the same outage: only the
        // first and then each probe move the retry time.
        if attempt.probe || self.failures == 0 {
            self.failures = self.failures.saturating_add(1);
            let doubling = 1u32 << (self.failures - 1).min(16);
            self.retry_at = now + (FIRST_RETRY * doubling).min(self.cap);
        }
        if attempt.probe {
            self.probing = false;
        }
    }
}

/// Counters reported by [`PoolState`].
#[derive(Default, Clone)]
pub(crate) struct Counters {
    pub gets: u64,
    pub waits: u64,
    pub wait_time: Duration,
    pub timeouts: u64,
    pub created: u64,
    pub closed: u64,
    pub broken: u64,
    pub checks_failed: u64,
    pub connect_failures: u64,
    pub retired: u64,
}

/// The pool's state, behind its one mutex.
pub(crate) struct State<C> {
    /// Idle connections, idle longest at the front; returned ones go to the back. LIFO takes
    /// from the back, FIFO from the front.
    pub idle: VecDeque<Idle<C>>,
    /// Connections counted against `max_size` (invariant 1).
    pub total: usize,
    /// Connections handed out (to guards, or to a waiter about to wake).
    pub in_use: usize,
    /// Reserved slots whose connection is being opened.
    pub opening: usize,
    /// Idle connections taken out by the checker (to ping or close) or by `close()`.
    pub checking: usize,
    pub max_size: usize,
    pub min_idle: usize,
    /// Queued waiters (indices into `mailboxes`), first come first served.
    waiters: VecDeque<usize>,
    mailboxes: Vec<Mailbox<C>>,
    /// Mailboxes no waiter uses.
    free: Vec<usize>,
    pub closed: bool,
    pub backoff: Backoff,
    /// Why the latest connect attempt failed; cleared by a successful one.
    pub last_connect_error: Option<Arc<Error>>,
    /// The checker's round number.
    pub round: u64,
    /// When the current round started: a cheap, slightly late clock for the hot path.
    pub tick: Instant,
    pub stats: Counters,
}

impl<C> State<C> {
    pub(crate) fn new(min_idle: usize, max_size: usize, backoff_cap: Duration) -> Self {
        let now = Instant::now();
        State {
            idle: VecDeque::with_capacity(max_size),
            total: 0,
            in_use: 0,
            opening: 0,
            checking: 0,
            max_size,
            min_idle,
            waiters: VecDeque::new(),
            mailboxes: Vec::new(),
            free: Vec::new(),
            closed: false,
            backoff: Backoff::new(backoff_cap, now),
            last_connect_error: None,
            round: 0,
            tick: now,
            stats: Counters::default(),
        }
    }

    /// Assert the invariants (debug builds only).
    pub(crate) fn check(&self) {
        debug_assert_eq!(
            self.total,
            self.idle.len() + self.in_use + self.opening + self.checking,
            "every counted connection is in exactly one place"
        );
        debug_assert!(self.total <= self.max_size, "max_size is never exceeded");
        debug_assert!(
            self.waiters.is_empty() || self.idle.is_empty(),
            "nobody waits while a connection is idle"
        );
        debug_assert!(
            self.waiters.is_empty()
                || self.closed
                || self.total >= self.max_size
                || !self.backoff.healthy(),
            "nobody waits for a slot that could be opened"
        );
    }

    /// Take an idle connection for a caller (`lifo`: the most recently returned one).
    #[inline]
    pub(crate) fn take_idle(&mut self, lifo: bool) -> Option<Live<C>> {
        let idle = if lifo {
            self.idle.pop_back()
        } else {
            self.idle.pop_front()
        }?;
        self.in_use += 1;
        Some(idle.live)
    }

    /// Reserve a slot to open a connection in, if there is room and connecting is allowed.
    pub(crate) fn reserve(&mut self, now: impl FnOnce() -> Instant) -> Option<Attempt> {
        if self.closed || self.total >= self.max_size {
            return None;
        }
        let probe = !self.backoff.healthy();
        if probe {
            if !self.backoff.probe_due(now()) {
                return None;
            }
            self.backoff.probing = true;
        }
        self.total += 1;
        self.opening += 1;
        Some(Attempt { probe })
    }

    /// Whether the checker should open a connection now: to keep `min_idle` idle connections,
    /// or to retry for waiters while backing off.
    pub(crate) fn wants_open(&self, now: Instant) -> bool {
        !self.closed
            && self.total < self.max_size
            && (self.idle.len() < self.min_idle || !self.waiters.is_empty())
            && (self.backoff.healthy() || self.backoff.probe_due(now))
    }

    /// While connecting backs off and the pool wants a connection: when the checker should
    /// retry (unless someone else's retry is under way).
    pub(crate) fn retry_at(&self) -> Option<Instant> {
        let wanted = self.idle.len() < self.min_idle || !self.waiters.is_empty();
        let idle_retry = !self.backoff.healthy() && !self.backoff.probing;
        (!self.closed && wanted && idle_retry && self.total < self.max_size)
            .then_some(self.backoff.retry_at)
    }

    /// A connection opened in a reserved slot; it is now in use by whoever opened it.
    /// Returns whether this ended an outage: then call [`State::grant_slots`] (after giving
    /// the new connection away, if it is for a waiter).
    pub(crate) fn opened(&mut self) -> bool {
        self.opening -= 1;
        self.in_use += 1;
        self.stats.created += 1;
        self.last_connect_error = None;
        let recovered = !self.backoff.healthy();
        self.backoff.failures = 0;
        self.backoff.probing = false;
        recovered
    }

    /// After an outage: give every waiter there is room for a slot to open its connection in.
    pub(crate) fn grant_slots(&mut self) -> Vec<Wake> {
        let mut wakes = Vec::new();
        while self.total < self.max_size {
            let Some(wake) = self.serve(Grant::Slot) else {
                break;
            };
            self.total += 1;
            self.opening += 1;
            wakes.push(wake);
        }
        wakes
    }

    /// Opening a connection in a reserved slot failed: back off and free the slot.
    pub(crate) fn open_failed(&mut self, attempt: Attempt, error: Arc<Error>, now: Instant) {
        self.opening -= 1;
        self.total -= 1;
        self.stats.connect_failures += 1;
        self.last_connect_error = Some(error);
        self.backoff.failed(attempt, now);
    }

    /// Hand a connection that is in use (returned, or just opened by the checker) to the
    /// first waiter, or make it idle at the hot end.
    #[inline]
    pub(crate) fn give(&mut self, live: Live<C>) -> Option<Wake> {
        if self.waiters.is_empty() {
            self.in_use -= 1;
            self.idle.push_back(Idle {
                live,
                round: self.round,
                seen: None,
            });
            None
        } else {
            self.serve(Grant::Conn(live))
        }
    }

    /// Put back an idle connection the checker took out and found alive: to the first waiter,
    /// or at the cold end (`lifo`: the front) so the reuse order is not disturbed.
    pub(crate) fn put_checked(&mut self, mut idle: Idle<C>, lifo: bool) -> Option<Wake> {
        self.checking -= 1;
        if self.waiters.is_empty() {
            idle.round = self.round;
            if lifo {
                self.idle.push_front(idle);
            } else {
                self.idle.push_back(idle);
            }
            None
        } else {
            self.in_use += 1;
            self.serve(Grant::Conn(idle.live))
        }
    }

    /// A counted slot is free (its connection closed): give the first waiter permission to
    /// open a connection in it, or uncount it.
    pub(crate) fn release_slot(&mut self) -> Option<Wake> {
        if !self.closed && self.backoff.healthy() {
            if let Some(wake) = self.serve(Grant::Slot) {
                self.opening += 1;
                return Some(wake);
            }
        }
        self.total -= 1;
        None
    }

    /// Take the checker's next idle connection to ping: one not used or pinged this round,
    /// idle longest first.
    pub(crate) fn take_unchecked(&mut self) -> Option<Idle<C>> {
        let round = self.round;
        let at = self.idle.iter().position(|idle| idle.round < round)?;
        self.checking += 1;
        self.idle.remove(at)
    }

    /// Start a checker round at `now` (taken under the lock): take out the idle connections
    /// past `max_lifetime`, and those idle longer than `idle_timeout` while more than
    /// `min_idle` are idle, idle longest first (the front, in both reuse orders).
    pub(crate) fn start_round(
        &mut self,
        now: Instant,
        idle_timeout: Option<Duration>,
    ) -> Vec<Idle<C>> {
        self.round += 1;
        self.tick = now;
        let mut retire = Vec::new();
        let mut kept = VecDeque::with_capacity(self.max_size);
        let idle = std::mem::take(&mut self.idle);
        let mut spare = idle.len().saturating_sub(self.min_idle);
        for mut entry in idle {
            let expired = entry.live.expires.is_some_and(|at| at <= now);
            let timed_out = match (entry.seen, idle_timeout) {
                (Some(seen), Some(limit)) => spare > 0 && now.duration_since(seen) >= limit,
                _ => false,
            };
            if expired || timed_out {
                spare = spare.saturating_sub(1);
                retire.push(entry);
            } else {
                entry.seen.get_or_insert(now);
                kept.push_back(entry);
            }
        }
        self.idle = kept;
        self.checking += retire.len();
        retire
    }

    /// Close the pool: the idle connections to close (counted in `checking` until they are)
    /// and the waiters to wake with [`Grant::Closed`].
    pub(crate) fn close(&mut self) -> (Vec<Idle<C>>, Vec<Wake>) {
        self.closed = true;
        let idle: Vec<_> = self.idle.drain(..).collect();
        self.checking += idle.len();
        let mut wakes = Vec::new();
        while let Some(wake) = self.serve(Grant::Closed) {
            wakes.push(wake);
        }
        (idle, wakes)
    }

    /// Queue a waiter (at the front when it is coming back after its own connect failed) and
    /// return its mailbox and the signal it waits for.
    pub(crate) fn enqueue(&mut self, front: bool) -> (usize, Arc<Signal>) {
        let index = self.free.pop().unwrap_or_else(|| {
            self.mailboxes.push(Mailbox {
                grant: None,
                sleeping: false,
                signal: Arc::new(Signal {
                    ready: AtomicBool::new(false),
                    wake: Condvar::new(),
                }),
            });
            self.mailboxes.len() - 1
        });
        if front {
            self.waiters.push_front(index);
        } else {
            self.waiters.push_back(index);
        }
        let signal = &self.mailboxes[index].signal;
        signal.ready.store(false, Ordering::Relaxed);
        (index, Arc::clone(signal))
    }

    /// Record whether a waiter is about to sleep (`true`) or awake again.
    pub(crate) fn set_sleeping(&mut self, index: usize, sleeping: bool) {
        self.mailboxes[index].sleeping = sleeping;
    }

    /// The grant in a waiter's mailbox, if it was served; the mailbox is then free again.
    pub(crate) fn take_grant(&mut self, index: usize) -> Option<Grant<C>> {
        let grant = self.mailboxes[index].grant.take()?;
        self.free.push(index);
        Some(grant)
    }

    /// Remove a waiter that gives up (it was not served: it is still queued).
    pub(crate) fn dequeue(&mut self, index: usize) {
        let at = self.waiters.iter().position(|&i| i == index);
        debug_assert!(at.is_some(), "an unserved waiter is queued");
        if let Some(at) = at {
            self.waiters.remove(at);
        }
        self.free.push(index);
    }

    pub(crate) fn waiting(&self) -> usize {
        self.waiters.len()
    }

    /// Serve the first waiter, if any (invariant 5: it leaves the queue as it is served).
    fn serve(&mut self, grant: Grant<C>) -> Option<Wake> {
        let index = self.waiters.pop_front()?;
        let mailbox = &mut self.mailboxes[index];
        debug_assert!(mailbox.grant.is_none(), "a waiter is served at most once");
        mailbox.grant = Some(grant);
        mailbox.signal.ready.store(true, Ordering::Release);
        let sleeper = mailbox.sleeping.then(|| Arc::clone(&mailbox.signal));
        Some(Wake(sleeper))
    }

    /// The public snapshot.
    pub(crate) fn snapshot(&self) -> PoolState {
        let s = &self.stats;
        PoolState {
            idle: self.idle.len(),
            in_use: self.in_use,
            pending: self.opening + self.checking,
            total: self.total,
            waiting: self.waiters.len(),
            max_size: self.max_size,
            min_idle: self.min_idle,
            is_closed: self.closed,
            gets: s.gets,
            waits: s.waits,
            wait_time: s.wait_time,
            timeouts: s.timeouts,
            created: s.created,
            closed: s.closed,
            broken: s.broken,
            checks_failed: s.checks_failed,
            connect_failures: s.connect_failures,
            retired: s.retired,
            last_connect_error: self.last_connect_error.as_ref().map(|e| e.to_string()),
        }
    }
}

/// A snapshot of a pool's numbers, from [`Pool::state`](crate::Pool::state).
///
/// `total == idle + in_use + pending` always holds, and `total <= max_size`.
///
/// ```
/// # use nimue_core::{testing::TestConnector, Pool};
/// let pool = Pool::new(TestConnector::new(), 2, 5)?;
/// let conn = pool.get()?;
/// let state = pool.state();
/// assert_eq!((state.in_use, state.idle, state.total), (1, 1, 2));
/// assert_eq!(state.total, state.idle + state.in_use + state.pending);
/// assert_eq!(state.gets, 1);
/// # Ok::<(), nimue_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolState {
    /// Idle connections.
    pub idle: usize,
    /// Connections handed out.
    pub in_use: usize,
    /// Connections being opened, or taken out by the checker to be pinged or closed.
    pub pending: usize,
    /// Every connection counted against `max_size`: `idle + in_use + pending`.
    pub total: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
    /// The most connections the pool opens.
    pub max_size: usize,
    /// How many idle connections the pool keeps ready.
    pub min_idle: usize,
    /// Whether the pool was closed.
    pub is_closed: bool,
    /// Calls of `get`, `get_timeout` and `try_get`.
    pub gets: u64,
    /// Gets that had to wait.
    pub waits: u64,
    /// Total time gets spent waiting.
    pub wait_time: Duration,
    /// Gets that timed out.
    pub timeouts: u64,
    /// Connections opened.
    pub created: u64,
    /// Connections closed (for any reason).
    pub closed: u64,
    /// Connections discarded as broken: `is_broken()`, failed `reset()`, a panic while held,
    /// a failed `on_checkout`/`on_checkin` hook.
    pub broken: u64,
    /// Pings that failed: the checker's on idle connections and `test_on_checkout`'s.
    pub checks_failed: u64,
    /// Connect attempts that failed (connector or `on_connect` hook).
    pub connect_failures: u64,
    /// Connections closed for `idle_timeout` or `max_lifetime`.
    pub retired: u64,
    /// Why the latest connect attempt failed, unless one succeeded since.
    pub last_connect_error: Option<String>,
}
