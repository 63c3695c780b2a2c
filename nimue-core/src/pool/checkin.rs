//! A connection comes back (reset, then to the first waiter, idle, or a shelf), or is
//! discarded: closed, with its slot freed and counted by why.

use super::events::{CloseReason, PoolEvent};
use super::guarded::{broken, close_quietly, guarded, reset_waits, LOG};
use super::resetter::{RESET_QUEUE, SPARE};
use super::shared::Shared;
use super::state::{Live, Retire, State, Wake};
use super::sync::{Arc, MutexGuard};
use crate::connection::{Open, Poolable};
use crate::error::Result;
use std::time::Instant;

/// Where a connection being discarded was counted.
#[derive(Clone, Copy)]
pub(crate) enum Held {
    InUse,
    Checking,
    /// In use, and counted in `resetting` too (given to the resetter).
    Resetting,
    /// Just opened, still counted in `opening` (the waiters counted on it until it is gone).
    Opening,
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

impl<K: Open> Shared<K> {
    /// The one way back for a connection nobody holds any more (a dropped guard, an
    /// `interact` future cancelled with the connection in it): on an async runtime's thread,
    /// a return that calls the driver runs on a blocking thread (feature `tokio`), else as
    /// [`checkin_dropped`](Self::checkin_dropped) here.
    pub(crate) fn give_back_dropped(this: &Arc<Self>, live: Box<Live<K::Conn>>, panicking: bool) {
        #[cfg(feature = "tokio")]
        let Some(live) = super::blocking::off_runtime(this, live, panicking) else {
            return;
        };
        this.checkin_dropped(live, panicking);
    }

    /// A dropped guard gives its connection back: to the resetter when its reset would wait
    /// on the database, the resetter has room and two others are idle (`resetter.rs`,
    /// invariant 4), else as [`checkin`](Self::checkin).
    pub(crate) fn checkin_dropped(&self, live: Box<Live<K::Conn>>, panicking: bool) {
        let live = match &self.resetter {
            Some(resetter)
                // `reset_waits` first: on the common path (it says no) `is_broken` is asked
                // once, by `checkin`, not twice.
                if !panicking
                    && reset_waits(&live.conn)
                    && !broken(&live.conn)
                    && self.reserve_reset() =>
            {
                match resetter.offer(live) {
                    Ok(()) => return,
                    Err(live) => {
                        self.lock().resetting -= 1;
                        live
                    }
                }
            }
            _ => live,
        };
        // The error was logged; a drop has no one to report it to.
        let _ = self.checkin(live, panicking);
    }

    /// Count a connection as being reset in the background, if the resetter has room and
    /// [`SPARE`] other connections are idle (in the state or on shelves) for the next checkouts
    /// (invariants 2 and 4 of `resetter.rs`).
    fn reserve_reset(&self) -> bool {
        let shelved = self.lane.shelved();
        let mut st = self.lock();
        if st.resetting >= RESET_QUEUE || shelved + st.idle.len() < SPARE {
            return false;
        }
        st.resetting += 1;
        true
    }

    /// The resetter's [`checkin`](Self::checkin) of a connection from
    /// [`checkin_dropped`](Self::checkin_dropped): counted as being reset until its reset is
    /// done, then put back or discarded as usual.
    pub(crate) fn checkin_reset(&self, live: Box<Live<K::Conn>>) {
        // The error was logged; a dropped guard has no one to report it to.
        let _ = self.checkin_from(live, false, Held::Resetting);
    }

    /// A guard gives its connection back: reset it and hand it to the first waiter or make it
    /// idle; discard it when it is broken, was held by a panicking thread, or fails to reset.
    pub(crate) fn checkin(&self, live: Box<Live<K::Conn>>, panicking: bool) -> Result<()> {
        self.checkin_from(live, panicking, Held::InUse)
    }

    /// [`checkin`](Self::checkin) of a connection counted as `held` (in use, or being reset:
    /// then it leaves `resetting` in the same critical section that makes it idle or frees
    /// its slot, so `PoolState` never shows it in use).
    fn checkin_from(
        &self,
        mut live: Box<Live<K::Conn>>,
        panicking: bool,
        held: Held,
    ) -> Result<()> {
        if panicking || broken(&live.conn) {
            // A connection broken by the driver (not by a panic) usually means the database
            // went away: every connection opened before now is suspect.
            if !panicking {
                self.disconnect_seen(live.born);
            }
            self.discard(*live, held, Why::Broken);
            return Ok(());
        }
        // Back to the session the pool set up: `reset`, then the autocommit it had.
        let mut cleaned = guarded("reset", || {
            live.conn.reset()?;
            if live.conn.reset_cleared_session() {
                self.set_up(&mut live.conn)?;
            }
            if let Some(on) = live.autocommit {
                if live.conn.session_autocommit() != Some(on) {
                    live.conn.set_session_autocommit(on)?;
                }
            }
            Ok(())
        });
        if let (Ok(()), Some(hook)) = (&cleaned, &self.config.on_checkin) {
            cleaned = guarded("the on_checkin hook", || hook(&mut live.conn));
        }
        if let Err(e) = cleaned {
            log::info!(target: LOG, "pool {:?}: a returned connection failed to reset and is discarded: {e}", self.config.name);
            self.discard(*live, held, Why::Broken);
            return Err(e);
        }
        if self.config.checkout_skip_window.is_some() {
            live.returned = Some(Instant::now());
        }
        if let Held::Resetting = held {
            // Through the state, in one critical section with leaving `resetting`.
            let mut st = self.lock();
            st.resetting -= 1;
            st.demand.returned();
            self.give_back(st, *live, false);
            return Ok(());
        }
        // Onto a shelf, without the lock, when the lane takes it (usually).
        self.lane.put(live, |live| self.put_back(*live));
        Ok(())
    }

    /// Return a connection (counted in `in_use`) through the state: to the first waiter or
    /// idle, or closed when the pool is closed, it expired or is unwanted.
    pub(crate) fn put_back(&self, live: Live<K::Conn>) {
        let mut st = self.lock();
        st.demand.returned();
        self.give_back(st, live, false);
    }

    /// [`put_back`](Self::put_back) under the lock the caller took; `opened`: the
    /// connection was just opened for the pool, so the demand rule is applied again (it may
    /// have ended an outage, or gone idle with waiters held back).
    pub(crate) fn give_back(
        &self,
        mut st: MutexGuard<'_, State<K::Conn>>,
        live: Live<K::Conn>,
        opened: bool,
    ) {
        if let Some(why) = Self::not_kept(&st, &live) {
            self.sync_gate(&st);
            drop(st);
            // Its slot is freed through `uncount`, which applies the demand rule.
            self.discard(live, Held::InUse, why);
            return;
        }
        let first = st.give(live);
        let opens = if opened {
            st.demand_changed(Instant::now())
        } else {
            Wake::default()
        };
        self.sync_gate(&st);
        st.check();
        drop(st);
        first.wake();
        opens.wake();
    }

    /// Why a connection coming back (or just opened) is closed rather than kept: the pool is
    /// closed, it expired, or it is unwanted (opened before an eviction, or over the size).
    pub(crate) fn not_kept(st: &State<K::Conn>, live: &Live<K::Conn>) -> Option<Why> {
        let expired = live.expires.is_some_and(|at| at <= st.tick);
        if st.closed {
            Some(Why::Closed)
        } else if expired {
            Some(Why::Retired(Retire::Lifetime))
        } else if st.unwanted(live.born) {
            Some(Why::Retired(Retire::Evicted))
        } else {
            None
        }
    }

    /// Close a connection (no lock held), then free its slot.
    pub(crate) fn discard(&self, live: Live<K::Conn>, from: Held, why: Why) {
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
            Held::Opening => {
                st.opening -= 1;
                st.stats.created += 1;
            }
            Held::Resetting => {
                st.in_use -= 1;
                st.resetting -= 1;
            }
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
        wake.wake();
        if short {
            self.checker_wake.notify_one();
        }
        if let Some(reason) = CloseReason::of(why) {
            self.emit(&PoolEvent::Closed { reason });
        }
    }
}
