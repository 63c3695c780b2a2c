//! The part of a pool its handles, guards and checker share: the state behind its lock, the
//! fast lane, the connector and settings, and the errors it reports. Its operations live in
//! one file per concern: `checkout.rs` (a caller gets a connection), `checkin.rs` (one comes
//! back, or is discarded), `open.rs` (opening connections), `control.rs` (close, drain,
//! resize).
//!
//! The rule of every operation: take the lock, update [`State`] with one of its I/O-free
//! methods, release the lock, then do the I/O (connect, ping, reset, close) and the wake-ups.

use super::config::{Config, Reuse};
use super::connect::Connector;
use super::lane::Lane;
use super::leak::Leaks;
use super::resetter::Resetter;
use super::state::{Live, State};
use super::sync::{AtomicUsize, Condvar, Mutex, MutexGuard, SharedError};
use crate::connection::Open;
use crate::error::{Error, PoolTimeout};
use std::panic::Location;
use std::sync::PoisonError;
use std::thread::JoinHandle;
use std::time::Duration;

/// At most this many shelves in the fast lane (`lane.rs`); more connections than that
/// are idle in the state.
const MAX_SHELVES: usize = 64;

pub(crate) struct Shared<K: Open> {
    pub connector: Connector<K>,
    pub config: Config<K::Conn>,
    /// All the pool's numbers, connections and waiters; held only for short I/O-free updates
    /// (the invariants are listed in `state.rs`).
    state: Mutex<State<K::Conn>>,
    /// Returned connections waiting for the next checkout outside the lock (`lane.rs`; its
    /// gate is written under `state`'s lock).
    pub lane: Lane<Live<K::Conn>>,
    /// Wakes the checker early: a connection was discarded, a connect failed, a waiter
    /// queued while connecting backs off, the pool closed. Waited on with `state`'s lock.
    pub checker_wake: Condvar,
    /// The number of `Pool` handles; the last one dropped closes the pool.
    pub handles: AtomicUsize,
    /// The checker thread, until `close` joins it.
    pub checker: Mutex<Option<JoinHandle<()>>>,
    /// Wakes the timer (`timer.rs`): a task queued with a deadline before the timer's, or
    /// `close()`. Waited on with `state`'s lock.
    pub timer_wake: Condvar,
    /// The timer thread, once the first task waited with a deadline, until `close` joins it;
    /// `timer_started` says it was started without taking this lock.
    pub timer: Mutex<Option<JoinHandle<()>>>,
    pub timer_started: std::sync::atomic::AtomicBool,
    /// The threads opening connections for the queue (`opener.rs`); beside the shared part,
    /// so a thread can count itself out after letting go of it.
    pub openers: std::sync::Arc<super::opener::Openers>,
    /// Connections handed out, when `leak_threshold` is set.
    pub leaks: Option<Leaks>,
    /// Resets dropped guards' connections off the callers' threads, when
    /// `background_reset` is on (never under loom, whose model has no such thread).
    pub resetter: Option<Resetter<K::Conn>>,
}

impl<K: Open> Shared<K> {
    pub(crate) fn new(connector: K, config: Config<K::Conn>) -> Self {
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
            resetter: (config.background_reset && !cfg!(loom)).then(Resetter::new),
            connector: Connector::new(connector, config.connect_timeout, config.max_size),
            config,
            checker_wake: Condvar::new(),
            timer_wake: Condvar::new(),
            timer: Mutex::new(None),
            openers: std::sync::Arc::default(),
            timer_started: std::sync::atomic::AtomicBool::new(false),
            handles: AtomicUsize::new(0),
            checker: Mutex::new(None),
        }
    }

    /// Lock the state. No user code runs under this lock, so a poisoned lock only means a
    /// panic between two consistent states of ours: carry on rather than panic in a `Drop`.
    #[inline]
    pub(crate) fn lock(&self) -> MutexGuard<'_, State<K::Conn>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn lifo(&self) -> bool {
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
    pub(crate) fn sync_gate(&self, st: &State<K::Conn>) {
        self.lane
            .set_gate(self.lifo() && !st.closed && !st.shrinking && st.waiting() == 0);
    }

    /// Take every shelved connection back through the slow path (after closing the gate, or
    /// so that the state's numbers count them as idle).
    pub(crate) fn drain_lane(&self) -> bool {
        let drained = self.lane.drain();
        let any = !drained.is_empty();
        for live in drained {
            self.put_back(*live);
        }
        any
    }

    /// A caller about to queue for the first time while `max_waiting` callers wait already:
    /// counted as refused, and the error that says so ([`Error::Exhausted`]).
    pub(crate) fn queue_full(&self, st: &mut State<K::Conn>) -> Option<Error> {
        let max = self.config.max_waiting?;
        if st.waiting() < max {
            return None;
        }
        st.stats.rejected += 1;
        Some(Error::Exhausted(self.numbers(st, Duration::ZERO)))
    }

    /// The pool's numbers, for an error.
    pub(crate) fn numbers(&self, st: &State<K::Conn>, waited: Duration) -> Box<PoolTimeout> {
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

    /// Tell the `on_event` hooks (none: nothing to do).
    pub(crate) fn emit(&self, event: &super::events::PoolEvent<'_>) {
        if !self.config.on_event.is_empty() {
            super::events::emit(&self.config.name, &self.config.on_event, event);
        }
    }

    pub(crate) fn closed_error(&self) -> Error {
        Error::Closed {
            pool: self.config.name.clone(),
        }
    }

    pub(crate) fn connect_error(&self, source: SharedError) -> Error {
        Error::Connect {
            pool: self.config.name.clone(),
            cause: source,
            timeout: None,
        }
    }

    /// A `get()` gave up: [`Error::Connect`] with the cause while connecting fails (a wrong
    /// password or a stopped server is reported as such: the root cause, even when a dead
    /// idle connection also failed its checkout test); else [`Error::Timeout`], with the
    /// reason the connections it was given were turned away at checkout (`rejected`) as its
    /// source, if they were.
    pub(crate) fn timeout_error(
        &self,
        st: &State<K::Conn>,
        waited: Duration,
        rejected: Option<Error>,
    ) -> Error {
        let mut numbers = self.numbers(st, waited);
        if let Some(source) = &st.last_connect_error {
            return Error::Connect {
                pool: self.config.name.clone(),
                cause: SharedError::clone(source),
                timeout: Some(numbers),
            };
        }
        numbers.cause = rejected.map(std::sync::Arc::new);
        Error::Timeout(numbers)
    }
}
