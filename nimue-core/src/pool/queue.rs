//! The waiters' queue inside [`State`]: each waiter's mailbox, what it is granted, how it is
//! nudged, and who to wake (a sleeping thread or an async task) once the lock is released.
//! The rules these serve, invariants 3 to 5 and "Hand-off", are in `state.rs`.

use super::state::{Live, State};
use super::sync::{Arc, AtomicBool, Condvar};
use std::sync::atomic::Ordering;
use std::task::Waker;
use std::time::{Duration, Instant};

/// What a waiter is handed.
pub(crate) enum Grant<C> {
    /// A connection, already counted in `in_use`.
    Conn(Live<C>),
    /// The pool closed.
    Closed,
    /// An async waiter's deadline passed (served by the timer, [`State::expire_tasks`]).
    TimedOut,
}

/// How long the first waiter may be passed over by running callers before returned
/// connections are handed to it directly (see "Hand-off" in the module docs).
/// (Never, under loom: its model runs must not depend on the clock.)
pub(crate) const FAIR_AFTER: Duration = if cfg!(loom) {
    Duration::MAX
} else {
    Duration::from_micros(500)
};

/// One queued waiter's mailbox; reused by later waiters.
pub(super) struct Mailbox<C> {
    grant: Option<Grant<C>>,
    /// When the waiter queued (for [`FAIR_AFTER`]).
    since: Instant,
    /// Whether the waiter sleeps on `signal.wake` (else it is spinning on `signal.ready`, or
    /// running): only a sleeper needs the system call a notification costs.
    sleeping: bool,
    signal: Arc<Signal>,
    /// Whether the waiter is an async task (`get_async`), woken through `waker`, not `signal`.
    task: bool,
    /// A task's waker, registered under the lock each time the task is polled and taken by
    /// whatever serves or nudges it (the task registers it again if it must wait on).
    waker: Option<Waker>,
    /// When a task gives up: the timer (`timer.rs`) serves it [`Grant::TimedOut`] then.
    deadline: Option<Instant>,
    /// A waiter holding off after a connection was turned away at its checkout: no new
    /// connection is opened for it before then (the timer ends the hold-off); a returned one
    /// still reaches it.
    hold_until: Option<Instant>,
}

impl<C> Mailbox<C> {
    /// Whether a returned connection goes straight to this waiter, first in the queue: it
    /// is awake (it takes it within nanoseconds), has waited [`FAIR_AFTER`], or is a task
    /// (waking a task costs no system call while its runtime is busy; letting running tasks
    /// barge past it made the p99.9 wait of 64 tasks on 8 connections five times longer).
    pub(super) fn takes_directly(&self) -> bool {
        !self.sleeping || self.task || self.since.elapsed() >= FAIR_AFTER
    }

    /// Who to wake for this waiter once the lock is released: its task, or its thread if it
    /// sleeps.
    fn sleeper(&mut self) -> Option<Sleeper> {
        if self.task {
            return self.waker.take().map(Sleeper::Task);
        }
        self.sleeping
            .then(|| Sleeper::Thread(Arc::clone(&self.signal)))
    }
}

/// How a waiter learns it was served.
pub(crate) struct Signal {
    /// Set (under the pool's lock) when the grant is in the mailbox or the waiter is nudged;
    /// the waiter spins on it a little before it goes to sleep, so a quick hand-off costs no
    /// system call.
    pub ready: AtomicBool,
    /// Wakes the sleeping waiter; waited on with the pool's lock.
    pub wake: Condvar,
}

/// A waiter to wake: a sleeping thread or an async task.
pub(crate) enum Sleeper {
    Thread(Arc<Signal>),
    Task(Waker),
}

/// Wakes the waiters a state change served or nudged, those that sleep (at most two: a
/// served one and the next one nudged); call it after releasing the lock.
#[must_use]
#[derive(Default)]
pub(crate) struct Wake(pub(super) [Option<Sleeper>; 2]);

impl Wake {
    pub(crate) fn wake(self) {
        for sleeper in self.0.into_iter().flatten() {
            match sleeper {
                Sleeper::Thread(signal) => signal.wake.notify_one(),
                Sleeper::Task(waker) => waker.wake(),
            }
        }
    }

    /// Both wakes (each holds at most its first).
    fn and(self, other: Wake) -> Wake {
        let [a, _] = self.0;
        let [b, _] = other.0;
        Wake([a, b])
    }
}

impl<C> State<C> {
    /// Nudge the first waiter if a connection is idle and no waiter is nudged yet
    /// (invariant 3).
    pub(super) fn nudge(&mut self) -> Wake {
        if self.nudged.is_some() || self.idle.is_empty() {
            return Wake::default();
        }
        let Some(&first) = self.waiters.front() else {
            return Wake::default();
        };
        self.nudged = Some(first);
        let mailbox = &mut self.mailboxes[first];
        mailbox.signal.ready.store(true, Ordering::Release);
        Wake([mailbox.sleeper(), None])
    }

    /// A waiter that woke up: if it was nudged, take an idle connection for it (it leaves the
    /// queue; the next waiter is nudged if one is still idle). `None`: it was not nudged, or a
    /// running caller took the connection first (it stays queued, in its place).
    pub(crate) fn take_nudged(&mut self, index: usize, lifo: bool) -> Option<(Live<C>, Wake)> {
        self.note("take_nudged");
        if self.nudged != Some(index) {
            return None;
        }
        self.nudged = None;
        let mailbox = &self.mailboxes[index];
        mailbox.signal.ready.store(false, Ordering::Relaxed);
        let live = self.take_idle(lifo)?;
        self.remove_waiter(index);
        Some((live, self.nudge()))
    }

    /// Queue a waiter (holding off until `hold_until`, if given) and return its mailbox and
    /// the signal it waits for.
    pub(crate) fn enqueue(
        &mut self,
        now: Instant,
        hold_until: Option<Instant>,
    ) -> (usize, Arc<Signal>) {
        self.note("enqueue");
        let index = self.free.pop().unwrap_or_else(|| {
            self.mailboxes.push(Mailbox {
                grant: None,
                since: now,
                sleeping: false,
                signal: Arc::new(Signal {
                    ready: AtomicBool::new(false),
                    wake: Condvar::new(),
                }),
                task: false,
                waker: None,
                deadline: None,
                hold_until: None,
            });
            self.mailboxes.len() - 1
        });
        if self.waiters.is_empty() {
            self.demand.queued(now);
        }
        self.waiters.push_back(index);
        let mailbox = &mut self.mailboxes[index];
        mailbox.since = now;
        mailbox.task = false;
        mailbox.waker = None;
        mailbox.deadline = None;
        mailbox.hold_until = hold_until;
        mailbox.signal.ready.store(false, Ordering::Relaxed);
        let signal = Arc::clone(&mailbox.signal);
        self.holding += usize::from(hold_until.is_some());
        (index, signal)
    }

    /// Queue an async task (`get_async`) as [`enqueue`](Self::enqueue) does a thread; it
    /// counts as asleep (waking a task costs a trip through its executor), and gives up at
    /// `deadline`.
    pub(crate) fn enqueue_task(
        &mut self,
        now: Instant,
        hold_until: Option<Instant>,
        waker: &Waker,
        deadline: Option<Instant>,
    ) -> (usize, Arc<Signal>) {
        let (index, signal) = self.enqueue(now, hold_until);
        let mailbox = &mut self.mailboxes[index];
        mailbox.task = true;
        mailbox.sleeping = true;
        mailbox.waker = Some(waker.clone());
        mailbox.deadline = deadline;
        (index, signal)
    }

    /// Queued waiters that connections may be opened for (all but those holding off).
    pub(super) fn waiting_for_slots(&self) -> usize {
        self.waiters.len() - self.holding
    }

    /// The waiters holding off, counted one by one (for [`State::check`]).
    pub(super) fn count_holding(&self) -> usize {
        self.waiters
            .iter()
            .filter(|&&i| self.mailboxes[i].hold_until.is_some())
            .count()
    }

    /// A waiter's hold-off ends (it was over, or the waiter left the queue).
    fn unhold(&mut self, index: usize) {
        if self.mailboxes[index].hold_until.take().is_some() {
            self.holding -= 1;
        }
    }

    /// Wake the first waiter to start the connects the demand asked for ([`State::pending`]):
    /// whoever waits starts them when it next looks at its mailbox.
    pub(super) fn call_for_opens(&mut self) -> Wake {
        if self.pending.is_empty() {
            return Wake::default();
        }
        match self.waiters.front() {
            Some(&first) => Wake([self.mailboxes[first].sleeper(), None]),
            None => Wake::default(),
        }
    }

    /// Whether the timer must be woken to serve a timeout at `deadline` in time: it sleeps
    /// past it. (Awake, or not started yet, it looks at every deadline before it sleeps.)
    pub(crate) fn timer_late_for(&self, deadline: Option<Instant>) -> bool {
        match (deadline, self.timer_asleep, self.timer_wakes_at) {
            (None, _, _) | (Some(_), false, _) => false,
            (Some(_), true, None) => true,
            (Some(deadline), true, Some(wakes)) => deadline < wakes,
        }
    }

    /// A queued task was polled and waits on: the waker to wake it with.
    pub(crate) fn set_waker(&mut self, index: usize, waker: &Waker) {
        let mailbox = &mut self.mailboxes[index];
        if !mailbox.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            mailbox.waker = Some(waker.clone());
        }
    }

    /// Serve [`Grant::TimedOut`] to every queued task whose deadline is past `now`, and end
    /// the hold-offs that are over: the wakes, whether a hold-off ended (the demand changed),
    /// and when the next deadline or hold-off end comes.
    pub(crate) fn expire_tasks(&mut self, now: Instant) -> (Vec<Wake>, bool, Option<Instant>) {
        self.note("expire");
        let mut wakes = Vec::new();
        let mut unheld = false;
        let mut next: Option<Instant> = None;
        let mut sooner = |at: Instant| next = Some(next.map_or(at, |n: Instant| n.min(at)));
        let mut at = 0;
        while at < self.waiters.len() {
            let index = self.waiters[at];
            match self.mailboxes[index].hold_until {
                Some(until) if until <= now => {
                    self.unhold(index);
                    unheld = true;
                }
                Some(until) => sooner(until),
                None => {}
            }
            match self.mailboxes[index].deadline {
                Some(deadline) if deadline <= now => {
                    self.unhold(index);
                    self.waiters.remove(at);
                    wakes.push(self.served(index, Grant::TimedOut));
                    self.left_queue();
                }
                Some(deadline) => {
                    sooner(deadline);
                    at += 1;
                }
                None => at += 1,
            }
        }
        (wakes, unheld, next)
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

    /// Remove a waiter that gives up (it was not served: it is still queued); if it was
    /// nudged, the next waiter is.
    pub(crate) fn dequeue(&mut self, index: usize) -> Wake {
        self.note("dequeue");
        if self.nudged == Some(index) {
            self.nudged = None;
        }
        self.remove_waiter(index);
        self.nudge()
    }

    pub(super) fn remove_waiter(&mut self, index: usize) {
        let at = self.waiters.iter().position(|&i| i == index);
        debug_assert!(at.is_some(), "an unserved waiter is queued");
        if let Some(at) = at {
            self.unhold(index);
            self.waiters.remove(at);
        }
        self.free.push(index);
        self.left_queue();
    }

    /// A waiter left the queue: if it was the last, the backlog is over, and the connects
    /// asked for and not started are not needed (their slots are freed).
    fn left_queue(&mut self) {
        if !self.waiters.is_empty() {
            return;
        }
        self.demand.emptied(Instant::now());
        let unstarted = std::mem::take(&mut self.pending);
        if !unstarted.is_empty() {
            let probe = unstarted.iter().any(|attempt| attempt.probe);
            self.total -= unstarted.len();
            self.opening -= unstarted.len();
            self.shrinking &= self.total > self.max_size;
            if probe {
                self.backoff.probe_dropped();
            }
        }
    }

    pub(crate) fn waiting(&self) -> usize {
        self.waiters.len()
    }

    /// Serve the first waiter, if any (invariant 5: it leaves the queue as it is served). If
    /// it was the nudged one, the next waiter is nudged (invariant 3).
    pub(super) fn serve(&mut self, grant: Grant<C>) -> Option<Wake> {
        self.note("serve");
        let index = self.waiters.pop_front()?;
        self.unhold(index);
        let wake = self.served(index, grant);
        self.left_queue();
        Some(wake)
    }

    /// Put `grant` in the mailbox of `index`, just removed from the queue.
    pub(super) fn served(&mut self, index: usize, grant: Grant<C>) -> Wake {
        let mailbox = &mut self.mailboxes[index];
        debug_assert!(mailbox.grant.is_none(), "a waiter is served at most once");
        mailbox.grant = Some(grant);
        mailbox.signal.ready.store(true, Ordering::Release);
        let served = Wake([mailbox.sleeper(), None]);
        if self.nudged == Some(index) {
            self.nudged = None;
            return served.and(self.nudge());
        }
        served
    }
}
