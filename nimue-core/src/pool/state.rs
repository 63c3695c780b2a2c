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
//! 2. `total <= max_size`, except just after `resize` lowered `max_size`: then no slot is
//!    reserved or given while `total >= max_size`, and returned connections are closed, so
//!    `total` only falls until it holds again.
//! 3. A waiter is queued while a connection is idle only while one queued waiter is *nudged*
//!    (told to come and take one, see "Hand-off" below): whatever makes a connection idle, or
//!    removes a nudged waiter, nudges the first waiter when this would not hold otherwise
//!    ([`State::nudge`]).
//! 4. Waiters are queued while `total < max_size` only while connecting is backing off after a
//!    failure (the checker then retries at `backoff.retry_at`), while as many connections are
//!    being opened for them (on threads of their own: a waiter never connects, `try_get`
//!    aside), or while the demand rule holds opens back until `demand.review_at` (the timer
//!    applies it again then, `demand.rs`). Whatever frees a slot, ends an outage or a
//!    hold-off, or queues a waiter applies the rule ([`State::open_for_demand`]). So a freed
//!    slot is never left unused while a waiter needs it.
//! 5. Each waiter is served at most once: a grant is written only into the slot of a waiter
//!    just removed from the queue, and the waiter takes it out under the same lock.
//! 6. Connects the demand asked for and not started yet (`pending`, counted in `total` and
//!    `opening`) exist only while a waiter is queued: the first waiter is woken to start
//!    them (it holds the pool's `Arc` a connect thread needs), any waiter that looks at its
//!    mailbox does, and when the queue empties they are dropped and their slots freed.
//!
//! # Hand-off
//!
//! A returned connection goes straight into the first waiter's mailbox when that waiter is
//! awake (spinning or running: it takes it within nanoseconds) or has waited longer than
//! `FAIR_AFTER` (`queue.rs`). Otherwise it becomes idle and the first waiter is nudged: woken
//! to come and take it, while a running caller may take it first. Handing a connection to a sleeping
//! thread would leave it unused for the thread's wake-up (tens of microseconds, during which
//! the returning thread, wanting a connection again, queues and sleeps in turn: a convoy);
//! letting running callers take it keeps every connection busy, and `FAIR_AFTER` bounds how
//! long the first waiter can be passed over. An async task first in the queue is always handed
//! it (`Mailbox::takes_directly` in `queue.rs`). Waiters are still served in arrival order.

use super::backoff::{Attempt, Backoff};
use super::demand::Demand;
use super::lane::Stamped;
use super::queue::Mailbox;
pub(crate) use super::queue::{Grant, Wake};
use super::stats::{Counters, PoolState};
use super::sync::SharedError;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A connection with what the pool knows about it.
pub(crate) struct Live<C> {
    pub conn: C,
    /// When `max_lifetime` ends for it.
    pub expires: Option<Instant>,
    /// When its connect started (connections whose connect started before an eviction are
    /// closed: one that was under way then may reach the old server or credentials).
    pub born: Instant,
    /// Its autocommit once `on_connect` finished: what every return restores (`None`: a
    /// connection without the setting).
    pub autocommit: Option<bool>,
    /// When it was last returned, if `checkout_skip_window` is set (else not measured).
    pub returned: Option<Instant>,
    /// Where the last checkout of it was made (for a warning about writes the server
    /// reported after it came back).
    pub last_at: Option<&'static std::panic::Location<'static>>,
    /// Just opened and handed straight to a waiter: its checkout skips the checks a new
    /// connection just passed (cleared once it is idle).
    pub fresh: bool,
    /// `born` and `expires` (`u64::MAX`: never) in the fast lane's nanoseconds.
    pub born_ns: u64,
    pub expires_ns: u64,
}

impl<C> Stamped for Live<C> {
    #[inline]
    fn expires_ns(&self) -> u64 {
        self.expires_ns
    }
    #[inline]
    fn born_ns(&self) -> u64 {
        self.born_ns
    }
}

/// An idle connection.
pub(crate) struct Idle<C> {
    pub live: Live<C>,
    /// The round in which it was returned or last pinged; the checker pings it in a later one.
    pub round: u64,
    /// When the checker first saw it idle (a lower bound of how long it has been idle).
    pub seen: Option<Instant>,
}

/// Why the checker retires an idle connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Retire {
    /// Idle longer than `idle_timeout`.
    Idle,
    /// Older than `max_lifetime`.
    Lifetime,
    /// Opened before an eviction.
    Evicted,
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
    /// Returned connections (counted in `in_use`) the resetter has not finished resetting:
    /// shown as `pending`, not `in_use`, in [`snapshot`](Self::snapshot).
    pub resetting: usize,
    pub max_size: usize,
    pub min_idle: usize,
    /// `resize` lowered `max_size` below `total`; cleared once `total <= max_size` again.
    pub shrinking: bool,
    /// Queued waiters (indices into `mailboxes`), first come first served.
    pub(super) waiters: VecDeque<usize>,
    /// How many of them hold off (their mailbox's `hold_until` is set): kept with every
    /// change to the queue or a hold-off, so the demand rule counts the others in O(1).
    pub(super) holding: usize,
    /// The queued waiter told to come and take an idle connection (invariant 3).
    pub(super) nudged: Option<usize>,
    pub(super) mailboxes: Vec<Mailbox<C>>,
    /// Mailboxes no waiter uses.
    pub(super) free: Vec<usize>,
    pub closed: bool,
    pub backoff: Backoff,
    /// What the rule for opening connections for waiters knows (`demand.rs`).
    pub demand: Demand,
    /// Connects the demand asked for that no waiter has started yet (invariant 6).
    pub(super) pending: Vec<Attempt>,
    /// Why the latest connect attempt failed; cleared by a successful one.
    pub last_connect_error: Option<SharedError>,
    /// The checker's round number.
    pub round: u64,
    /// Whether the timer thread (`timer.rs`) sleeps, and until when (`None`: until woken): a
    /// task queued with an earlier deadline must wake it.
    pub timer_asleep: bool,
    pub timer_wakes_at: Option<Instant>,
    /// When the current round started: a cheap, slightly late clock for the hot path.
    pub tick: Instant,
    /// Connections opened before this are closed instead of reused (`drain`, or a disconnect
    /// with `evict_on_disconnect`).
    pub evict_before: Option<Instant>,
    pub stats: Counters,
    /// The last state changes (debug builds; empty otherwise), for an invariant's failure
    /// message.
    pub(super) trail: std::collections::VecDeque<&'static str>,
}

impl<C> State<C> {
    pub(crate) fn new(min_idle: usize, max_size: usize, backoff_cap: Duration) -> Self {
        let now = Instant::now();
        State {
            // Grown by use: max_size is a bound, not a forecast.
            idle: VecDeque::new(),
            total: 0,
            in_use: 0,
            opening: 0,
            checking: 0,
            resetting: 0,
            max_size,
            min_idle,
            shrinking: false,
            waiters: VecDeque::new(),
            holding: 0,
            nudged: None,
            mailboxes: Vec::new(),
            free: Vec::new(),
            closed: false,
            backoff: Backoff::new(backoff_cap, now),
            demand: Demand::default(),
            pending: Vec::new(),
            last_connect_error: None,
            round: 0,
            timer_asleep: false,
            timer_wakes_at: None,
            tick: now,
            evict_before: None,
            stats: Counters::default(),
            trail: VecDeque::new(),
        }
    }

    /// Note a state change (debug builds), for [`check`](Self::check)'s messages.
    #[inline]
    pub(crate) fn note(&mut self, _what: &'static str) {
        #[cfg(debug_assertions)]
        {
            if self.trail.len() == 16 {
                self.trail.pop_front();
            }
            self.trail.push_back(_what);
        }
    }

    /// Assert the invariants (debug builds only).
    pub(crate) fn check(&self) {
        debug_assert!(
            self.resetting <= self.in_use,
            "a connection being reset is still counted in use"
        );
        debug_assert_eq!(
            self.total,
            self.idle.len() + self.in_use + self.opening + self.checking,
            "every counted connection is in exactly one place"
        );
        debug_assert!(
            self.total <= self.max_size || self.shrinking,
            "max_size is never exceeded (but after resize lowered it)"
        );
        debug_assert!(
            self.waiters.is_empty() || self.idle.is_empty() || self.nudged.is_some(),
            "nobody waits while a connection is idle, unless a waiter is on its way to take it"
        );
        debug_assert!(
            self.nudged.is_none_or(|i| self.waiters.contains(&i)),
            "the nudged waiter is queued"
        );
        debug_assert_eq!(
            self.holding,
            self.count_holding(),
            "the waiters holding off are counted"
        );
        debug_assert!(
            self.waiting_for_slots() <= self.opening + self.idle.len() + self.checking
                || self.closed
                || self.total >= self.max_size
                || !self.backoff.healthy()
                || self.demand.review_at.is_some(),
            "nobody waits for a connection that could be opened, but while the rule holds it \
             back: {} waiting, {} opening, {} idle, {} checking, {}/{} ({} in use) after {:?}",
            self.waiting_for_slots(),
            self.opening,
            self.idle.len(),
            self.checking,
            self.total,
            self.max_size,
            self.in_use,
            self.trail,
        );
        debug_assert!(
            self.pending.is_empty() || !self.waiters.is_empty(),
            "connects not started are asked for by waiters"
        );
        debug_assert!(
            self.pending.len() <= self.opening,
            "pending connects are counted"
        );
    }

    /// Take an idle connection for a caller (`lifo`: the most recently returned one).
    #[inline]
    pub(crate) fn take_idle(&mut self, lifo: bool) -> Option<Live<C>> {
        self.note("take_idle");
        let idle = if lifo {
            self.idle.pop_back()
        } else {
            self.idle.pop_front()
        }?;
        self.in_use += 1;
        Some(idle.live)
    }

    /// Reserve a slot to open a connection in, if there is room and connecting is allowed:
    /// while connecting fails, only as the one probe, when it is due for a caller (`demand`)
    /// or for the background refill.
    pub(crate) fn reserve(
        &mut self,
        now: impl FnOnce() -> Instant,
        demand: bool,
    ) -> Option<Attempt> {
        self.note("reserve");
        if self.closed || self.total >= self.max_size {
            return None;
        }
        let probe = !self.backoff.healthy();
        if probe {
            if !self.backoff.probe_due(now(), demand) {
                return None;
            }
            self.backoff.start_probe();
        }
        self.total += 1;
        self.opening += 1;
        Some(Attempt {
            probe,
            reserved: Instant::now(),
        })
    }

    /// Whether callers wait for a connection: the checker's retries are then on demand.
    pub(crate) fn demand(&self) -> bool {
        !self.waiters.is_empty()
    }

    /// Whether the checker should open a connection now: to keep `min_idle` idle connections,
    /// or to retry for waiters while backing off (while connecting works, the connections
    /// waiters need are opened by the demand rule, [`State::open_for_demand`]).
    pub(crate) fn wants_open(&self, now: Instant) -> bool {
        let healthy = self.backoff.healthy();
        !self.closed
            && self.total < self.max_size
            && (self.idle.len() < self.min_idle || (self.demand() && !healthy))
            && (healthy || self.backoff.probe_due(now, self.demand()))
    }

    /// Apply the demand rule (`demand.rs`) at `now`: reserve the slots of the connects to
    /// open for the waiters, as [`pending`](Self::pending) connects, for a waiter to start
    /// (invariant 6).
    pub(crate) fn open_for_demand(&mut self, now: Instant) {
        self.note("open_for_demand");
        if self.waiters.is_empty() {
            return;
        }
        let waiting = self.waiting_for_slots();
        // An idle connection is on its way to the nudged waiter; one being checked comes
        // back (or frees its slot, which applies the rule again).
        let coming = self.opening + self.idle.len() + self.checking;
        let wanted = self.demand.opens(now, waiting, coming, self.in_use);
        for _ in 0..wanted {
            match self.reserve(|| now, true) {
                Some(attempt) => self.pending.push(attempt),
                None => break,
            }
        }
    }

    /// [`open_for_demand`](Self::open_for_demand) where no waiter is at hand: who to wake to
    /// start the connects.
    pub(crate) fn demand_changed(&mut self, now: Instant) -> Wake {
        self.open_for_demand(now);
        self.call_for_opens()
    }

    /// The connects asked for that no waiter started yet: the caller starts them once the
    /// lock is released (invariant 6).
    pub(crate) fn take_pending(&mut self) -> Vec<Attempt> {
        std::mem::take(&mut self.pending)
    }

    /// While connecting backs off and the pool wants a connection: when the checker should
    /// retry (unless someone else's retry is under way): soon while callers wait, after the
    /// exponential delay for the background refill.
    pub(crate) fn retry_at(&self) -> Option<Instant> {
        let wanted = self.idle.len() < self.min_idle || self.demand();
        let idle_retry = !self.backoff.healthy() && !self.backoff.probing();
        (!self.closed && wanted && idle_retry && self.total < self.max_size)
            .then(|| self.backoff.due_at(self.demand()))
    }

    /// Whether connections opened at `born` predate an eviction (`drain`, or a disconnect
    /// with `evict_on_disconnect`).
    pub(crate) fn evicted(&self, born: Instant) -> bool {
        self.evict_before.is_some_and(|at| born < at)
    }

    /// A connection opened in a reserved slot, after `took`; it is now in use by whoever
    /// opened it. Returns whether this ended an outage (then apply the demand rule, after
    /// giving the new connection away).
    pub(crate) fn opened(&mut self, took: Duration) -> bool {
        self.note("opened");
        self.opening -= 1;
        self.in_use += 1;
        self.stats.created += 1;
        self.connected(took)
    }

    /// A connect succeeded after `took` (whether its connection is kept or not): connecting
    /// works, the probe if it was one is over. Returns whether this ended an outage.
    pub(crate) fn connected(&mut self, took: Duration) -> bool {
        self.last_connect_error = None;
        self.demand.connected(took);
        self.backoff.succeeded()
    }

    /// Opening a connection in a reserved slot failed: back off and free the slot.
    pub(crate) fn open_failed(&mut self, attempt: Attempt, error: SharedError, now: Instant) {
        self.note("open_failed");
        self.opening -= 1;
        self.total -= 1;
        self.stats.connect_failures += 1;
        self.last_connect_error = Some(error);
        self.backoff.failed(attempt, now);
    }

    /// Hand a connection that is in use (returned, or just opened by the checker) to the
    /// first waiter when it is awake or has waited too long, else make it idle at the hot end
    /// and nudge the first waiter (see "Hand-off" in the module docs).
    #[inline]
    pub(crate) fn give(&mut self, mut live: Live<C>) -> Wake {
        self.note("give");
        if let Some(&first) = self.waiters.front() {
            let mailbox = &self.mailboxes[first];
            // With a waiter nudged, a connection is idle already: the order is kept by
            // queueing this one behind it.
            let direct = self.nudged.is_none() && mailbox.takes_directly();
            if direct {
                return self.serve(Grant::Conn(live)).unwrap_or_default();
            }
        }
        self.in_use -= 1;
        // Idle, it may die before its checkout: that one tests it as any.
        live.fresh = false;
        self.idle.push_back(Idle {
            live,
            round: self.round,
            seen: None,
        });
        self.nudge()
    }

    /// Put back an idle connection the checker took out and found alive: to the first waiter,
    /// or at the cold end (`lifo`: the front) so the reuse order is not disturbed.
    pub(crate) fn put_checked(&mut self, mut idle: Idle<C>, lifo: bool) -> Wake {
        self.note("put_checked");
        self.checking -= 1;
        if self.waiters.is_empty() || self.nudged.is_some() {
            idle.round = self.round;
            if lifo {
                self.idle.push_front(idle);
            } else {
                self.idle.push_back(idle);
            }
            self.nudge()
        } else {
            self.in_use += 1;
            self.serve(Grant::Conn(idle.live)).unwrap_or_default()
        }
    }

    /// A counted slot is free (its connection closed): uncount it, and open in its place
    /// what the waiters need (the wake of [`open_for_demand`](Self::open_for_demand)).
    pub(crate) fn release_slot(&mut self) -> Wake {
        self.note("release_slot");
        self.total -= 1;
        self.shrinking &= self.total > self.max_size;
        if self.waiters.is_empty() {
            return Wake::default();
        }
        self.demand_changed(Instant::now())
    }

    /// Whether a connection opened at `born` must not be reused: it predates an eviction, or
    /// the pool holds more than `max_size` after a resize.
    pub(crate) fn unwanted(&self, born: Instant) -> bool {
        self.total > self.max_size || self.evicted(born)
    }

    /// Close every connection opened before `now` instead of reusing it: returns the idle
    /// ones (counted in `checking` until they are closed); in-use ones are closed on return.
    pub(crate) fn evict(&mut self, now: Instant) -> Vec<Idle<C>> {
        self.note("evict");
        self.evict_before = Some(now);
        let idle: Vec<_> = self.idle.drain(..).collect();
        self.checking += idle.len();
        idle
    }

    /// Change the sizes: more room gives waiters slots at once; less closes idle connections
    /// above it now (returned) and in-use ones as they come back (invariant 2).
    pub(crate) fn resize(&mut self, min_idle: usize, max_size: usize) -> (Vec<Idle<C>>, Wake) {
        self.note("resize");
        self.min_idle = min_idle;
        self.max_size = max_size;
        let mut excess = Vec::new();
        while self.total - excess.len() > max_size {
            match self.idle.pop_front() {
                Some(idle) => excess.push(idle),
                None => break,
            }
        }
        self.checking += excess.len();
        self.shrinking = self.total > max_size;
        let wake = self.demand_changed(Instant::now());
        (excess, wake)
    }

    /// Take the checker's next idle connection to ping: one not used or pinged this round,
    /// idle longest first.
    pub(crate) fn take_unchecked(&mut self) -> Option<Idle<C>> {
        self.note("take_unchecked");
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
    ) -> Vec<(Idle<C>, Retire)> {
        self.round += 1;
        self.tick = now;
        let mut retire = Vec::new();
        let idle = std::mem::take(&mut self.idle);
        let mut kept = VecDeque::with_capacity(idle.len());
        let mut spare = idle.len().saturating_sub(self.min_idle);
        for mut entry in idle {
            let expired = entry.live.expires.is_some_and(|at| at <= now);
            let evicted = self.evicted(entry.live.born);
            let timed_out = match (entry.seen, idle_timeout) {
                (Some(seen), Some(limit)) => spare > 0 && now.duration_since(seen) >= limit,
                _ => false,
            };
            let why = if evicted {
                Some(Retire::Evicted)
            } else if expired {
                Some(Retire::Lifetime)
            } else if timed_out {
                Some(Retire::Idle)
            } else {
                None
            };
            if let Some(why) = why {
                spare = spare.saturating_sub(1);
                retire.push((entry, why));
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
        let unstarted = std::mem::take(&mut self.pending);
        self.total -= unstarted.len();
        self.opening -= unstarted.len();
        let idle: Vec<_> = self.idle.drain(..).collect();
        self.checking += idle.len();
        let mut wakes = Vec::new();
        while let Some(wake) = self.serve(Grant::Closed) {
            wakes.push(wake);
        }
        (idle, wakes)
    }

    /// The public snapshot.
    pub(crate) fn snapshot(&self) -> PoolState {
        let s = &self.stats;
        PoolState {
            idle: self.idle.len(),
            in_use: self.in_use - self.resetting,
            pending: self.opening + self.checking + self.resetting,
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
            retired: s.retired_idle + s.retired_lifetime,
            retired_idle: s.retired_idle,
            retired_lifetime: s.retired_lifetime,
            evicted: s.evicted,
            rejected: s.rejected,
            dirty_returns: s.dirty_returns,
            direct: s.gets.saturating_sub(s.waits),
            last_connect_error: self.last_connect_error.as_ref().map(|e| e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests;
