//! Opening connections for the pool (by `build`, the checker, or for the queue on threads of
//! their own), setting up their session, and recording failures for the back-off.

use super::backoff::Attempt;
use super::checkin::Held;
use super::events::PoolEvent;
use super::guarded::{close_quietly, guarded, LOG};
use super::shared::Shared;
use super::state::Live;
use super::sync::SharedError;
use crate::connection::{Open, Poolable};
use crate::error::Result;
use std::time::{Duration, Instant};

impl<K: Open> Shared<K> {
    /// Open a connection for the pool (by `build` or the checker), in a reserved slot, and
    /// give it to the first waiter or make it idle.
    pub(crate) fn open_for_pool(&self, attempt: Attempt) -> std::result::Result<(), SharedError> {
        let live = self.open_in(attempt)?;
        self.lend_to_pool(live);
        Ok(())
    }

    /// A connection just opened in a reserved slot goes to the first waiter or is idle
    /// (or is closed, as a returned one would be).
    pub(crate) fn lend_to_pool(&self, live: Live<K::Conn>) {
        let mut st = self.lock();
        if let Some(why) = Self::not_kept(&st, &live) {
            // The connect worked (a probe's end): connecting is healthy again, so the demand
            // rule is applied again now, under this lock (invariant 4: while backing off it
            // held the waiters' connects back). The connection is counted as opening until
            // closed: the waiters' connects are reckoned with it.
            st.connected(live.born.elapsed());
            let opens = st.demand_changed(Instant::now());
            st.check();
            drop(st);
            opens.wake();
            self.discard(live, Held::Opening, why);
            return;
        }
        st.opened(live.born.elapsed());
        self.give_back(st, live, true);
    }

    /// Open one idle connection now (for `build`).
    pub(crate) fn open_idle(&self) -> Result<()> {
        let attempt = self.lock().reserve(Instant::now, true);
        let attempt = attempt.expect("build opens at most max_size connections");
        self.open_for_pool(attempt)
            .map_err(|e| self.connect_error(e))
    }

    /// Open a connection in the slot `attempt` reserved; a failure frees the slot and
    /// backs off.
    pub(crate) fn open_in(
        &self,
        attempt: Attempt,
    ) -> std::result::Result<Live<K::Conn>, SharedError> {
        // Opened, for `drain()`, from when its slot was reserved.
        let born = attempt.reserved;
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
    pub(crate) fn live(&self, mut conn: K::Conn, born: Instant) -> Result<Live<K::Conn>> {
        if let Err(e) = guarded("the on_connect hook", || self.set_up(&mut conn)) {
            close_quietly(&self.config.name, conn);
            return Err(e);
        }
        self.emit(&PoolEvent::Opened {
            took: born.elapsed(),
        });
        let autocommit = conn.session_autocommit();
        let expires = self.config.max_lifetime.and_then(|l| lifetime_end(born, l));
        Ok(Live {
            conn,
            expires,
            born,
            autocommit,
            returned: None,
            fresh: true,
            last_at: None,
            born_ns: self.lane.stamp(born),
            expires_ns: expires.map_or(u64::MAX, |at| self.lane.stamp(at)),
        })
    }

    /// The session set-up of a new connection (or of one whose reset cleared its session):
    /// the pool's `autocommit`, then `on_connect`.
    pub(crate) fn set_up(&self, conn: &mut K::Conn) -> Result<()> {
        if let Some(on) = self.config.autocommit {
            conn.set_session_autocommit(on)?;
        }
        if let Some(hook) = &self.config.on_connect {
            hook(conn)?;
        }
        conn.session_set_up();
        Ok(())
    }

    pub(crate) fn open_failed(&self, attempt: Attempt, e: &SharedError) {
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
        self.emit(&PoolEvent::ConnectFailed { error: e });
        // The checker schedules the retry.
        self.checker_wake.notify_one();
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
