//! The resetter: one background thread per pool that resets connections whose guards were
//! dropped, when the reset would wait on the database (MariaDB's `ROLLBACK` round trip), so
//! the caller goes on at once instead of waiting for it.
//!
//! # Invariants
//!
//! 1. A connection offered to the resetter stays counted in the state's `in_use` (and in its
//!    `resetting`, which `PoolState` shows as `pending`) until its reset is done and it goes
//!    through `Shared::checkin` like any return: nobody can be handed a connection whose
//!    reset has not finished, so no caller ever sees the previous checkout's transaction or
//!    session.
//! 2. At most [`RESET_QUEUE`] connections wait for or are in a reset (the state's
//!    `resetting`). A guard dropped while that many are pending resets its connection on its
//!    own thread, as a pool without a resetter does: under load the resets stay spread over
//!    the callers' threads, and one thread never becomes the bottleneck of every return.
//! 3. `close()` waits until every connection sent here was put back or discarded (unless it
//!    runs on the resetter itself), so a closed pool has closed every connection it had.
//! 4. A connection goes to the resetter only while [`SPARE`] others are idle, and never when
//!    it is broken or its thread panicking: a lone caller's `get` right after the drop takes
//!    an idle one, so a background reset does not make it wait, `try_get` return `None` or
//!    `max_waiting` refuse it where a reset in place would have served it. And a pool with
//!    few idle connections is busy: there the hand-off to another thread costs more CPU
//!    than the round trip it saves the caller (MariaDB at 8 threads on 8 connections, 2
//!    cores: 0.83x r2d2_mysql with one spare, 1.09x with two).
//!
//! The thread holds a `Weak` of the shared part: it neither keeps a dropped pool alive nor
//! needs to be told to stop. The last `Arc` dropped drops the only sender, which ends it.

use super::guarded::{close_quietly, LOG};
use super::shared::Shared;
use super::state::Live;
use crate::connection::Open;
use crossbeam::channel::{self, Receiver, Sender};
use std::sync::{Condvar, Mutex, PoisonError};
use std::thread::{self, ThreadId};

/// Invariant 2: how many connections may wait for or be in a background reset (counted in
/// the state's `resetting`).
pub(crate) const RESET_QUEUE: usize = 2;

/// Invariant 4: how many other connections must be idle for a reset to go to the resetter.
pub(crate) const SPARE: usize = 2;

/// The pool's side of its resetter thread.
pub(crate) struct Resetter<C> {
    tx: Sender<Box<Live<C>>>,
    /// The receiving end, until [`spawn`] hands it to the thread.
    rx: Mutex<Option<Receiver<Box<Live<C>>>>>,
    /// Connections sent and not yet put back or discarded; `idle` is notified when it drops
    /// to zero (invariant 3).
    pending: Mutex<usize>,
    idle: Condvar,
    /// The resetter thread, so `close()` called there does not wait for itself.
    thread: Mutex<Option<ThreadId>>,
}

impl<C> Resetter<C> {
    pub(crate) fn new() -> Self {
        let (tx, rx) = channel::unbounded();
        Resetter {
            tx,
            rx: Mutex::new(Some(rx)),
            pending: Mutex::new(0),
            idle: Condvar::new(),
            thread: Mutex::new(None),
        }
    }

    /// Take `live` for a background reset (the caller reserved its place in the state's
    /// `resetting`), or give it back when the thread is gone.
    pub(crate) fn offer(&self, live: Box<Live<C>>) -> Result<(), Box<Live<C>>> {
        // Invariant 3: raised before the send, so `close()` never misses one in flight.
        *self.pending.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        // The receiver lives as long as the thread, which outlives every `Shared`.
        self.tx.send(live).map_err(|e| {
            self.done();
            e.into_inner()
        })
    }

    /// One reset finished (its connection was put back or discarded).
    fn done(&self) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        *pending -= 1;
        if *pending == 0 {
            self.idle.notify_all();
        }
    }

    /// Invariant 3: wait until no reset is pending, unless called on the resetter thread.
    pub(crate) fn wait_idle(&self) {
        let on_resetter = *self.thread.lock().unwrap_or_else(PoisonError::into_inner)
            == Some(thread::current().id());
        if on_resetter {
            return;
        }
        let pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        drop(
            self.idle
                .wait_while(pending, |n| *n > 0)
                .unwrap_or_else(PoisonError::into_inner),
        );
    }
}

/// Start the resetter thread of `shared` (when it has a resetter).
#[cfg(not(loom))]
pub(crate) fn spawn<K: Open>(shared: &std::sync::Arc<Shared<K>>) -> std::io::Result<()> {
    let Some(resetter) = &shared.resetter else {
        return Ok(());
    };
    let Some(rx) = resetter
        .rx
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
    else {
        return Ok(());
    };
    let weak = std::sync::Arc::downgrade(shared);
    let name = format!("nimue-reset {}", shared.config.name).replace('\0', "");
    let handle = thread::Builder::new().name(name.clone()).spawn(move || {
        // Every sender gone (the pool's shared part dropped): nothing more can come.
        for live in rx.iter() {
            match weak.upgrade() {
                Some(shared) => {
                    shared.checkin_reset(live);
                    if let Some(resetter) = &shared.resetter {
                        resetter.done();
                    }
                }
                // Unreachable while a guard could send: a guard holds the shared part.
                None => close_quietly(&name, live.conn),
            }
        }
        log::trace!(target: LOG, "{name} stopped");
    })?;
    // Set before any guard can offer a connection (the pool is not handed out yet).
    *resetter
        .thread
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = Some(handle.thread().id());
    Ok(())
}
