//! The threads that open connections for the queue (`checkout.rs`, step 1): one per connect
//! the demand rule asked for, started by a waiter, each giving its connection to the first
//! waiter or making it idle (`open.rs`).
//!
//! [`Openers`] counts them, so that `close()` leaves none behind that has finished
//! connecting: it waits for those (they only hand their connection over, to be closed), not
//! for those still in a driver's connect, which nothing can interrupt (bounded by
//! `connect_timeout`; each closes what it opens when it ends). The count lives beside the
//! pool's shared part, not in it: a thread stops counting only after it let go of the pool.

use super::backoff::Attempt;
use super::shared::Shared;
use super::sync::{thread, Arc, Condvar, Mutex, SharedError};
use crate::connection::Open;
use crate::error::Error;
use std::cell::Cell;
use std::sync::PoisonError;

/// The opener threads of one pool.
#[derive(Default)]
pub(crate) struct Openers {
    /// How many run, and how many of those are connecting (or setting up a session); the
    /// difference is what `close()` waits for.
    count: Mutex<Count>,
    /// Notified when a thread stops running or starts connecting.
    settled: Condvar,
}

#[derive(Default)]
struct Count {
    running: usize,
    connecting: usize,
}

// Whether this thread is an opener (a `close()` on it must not wait for itself). Loom's
// threads share one OS thread: under loom, loom's thread-locals.
#[cfg(not(loom))]
std::thread_local! {
    static OPENER: Cell<bool> = const { Cell::new(false) };
}
#[cfg(loom)]
loom::thread_local! {
    static OPENER: Cell<bool> = Cell::new(false);
}

impl Openers {
    fn count(&self) -> super::sync::MutexGuard<'_, Count> {
        self.count.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `close()`: wait until every opener thread is gone or connecting (under loom, whose
    /// connects are instant, until all are gone).
    pub(crate) fn wait_settled(&self) {
        let own = usize::from(OPENER.with(Cell::get));
        let mut count = self.count();
        loop {
            let busy = if cfg!(loom) {
                count.running
            } else {
                count.running - count.connecting
            };
            if busy <= own {
                return;
            }
            count = self
                .settled
                .wait(count)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn connecting(&self, yes: bool) {
        let mut count = self.count();
        if yes {
            count.connecting += 1;
            // One fewer for `close()` to wait for.
            self.settled.notify_all();
        } else {
            count.connecting -= 1;
        }
    }

    fn ended(&self) {
        self.count().running -= 1;
        self.settled.notify_all();
    }
}

impl<K: Open> Shared<K> {
    /// Start the connects the demand asked for, each on a thread of its own.
    pub(crate) fn start_opens(this: &Arc<Self>, opens: Vec<Attempt>) {
        for attempt in opens {
            let openers = std::sync::Arc::clone(&this.openers);
            openers.count().running += 1;
            let pool = Arc::clone(this);
            let name = format!("nimue-open {}", this.config.name).replace('\0', "");
            let spawned = thread::Builder::new().name(name).spawn(move || {
                OPENER.with(|opener| opener.set(true));
                pool.open_for_queue(attempt, &openers);
                // Let go of the pool before counting out: once `close()` saw this thread
                // gone, nothing of it holds the pool.
                drop(pool);
                openers.ended();
            });
            if let Err(e) = spawned {
                this.openers.ended();
                let error = Error::interface_from("could not start a thread to connect on", e);
                this.open_failed(attempt, &SharedError::new(error));
            }
        }
    }

    /// An opener thread's work: connect (counted as connecting meanwhile), then hand the
    /// connection over; a failure is recorded and backs off, as the checker's do.
    fn open_for_queue(&self, attempt: Attempt, openers: &Openers) {
        openers.connecting(true);
        let opened = self.open_in(attempt);
        openers.connecting(false);
        if let Ok(live) = opened {
            self.lend_to_pool(live);
        }
    }
}
