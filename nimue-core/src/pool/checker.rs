//! The liveness checker: one background thread per pool that keeps it healthy.
//!
//! Every `check_interval` it runs a round: it closes idle connections past `max_lifetime` or
//! `idle_timeout`, then pings each idle connection not used since the previous round, one at
//! a time, outside the lock (a live one goes back at the cold end, or straight to a waiter; a
//! dead one is closed). Between rounds it opens connections while fewer than `min_idle` are
//! idle, and retries for waiters while connecting backs off. It sleeps on `checker_wake`, so
//! a discarded connection, a failed connect or `close()` wakes it early.
//!
//! It holds an `Arc` of the shared part, not a `Pool` handle, so the last handle dropped
//! still closes the pool, and `close()` wakes and joins it.

use super::checkin::{Held, Why};
use super::config::Reuse;
use super::guarded::{guarded, LOG};
use super::shared::Shared;
use super::state::Retire;
use super::sync::Arc;
use crate::connection::{Open, Poolable};
use std::io;
use std::sync::PoisonError;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// `at + d`, or a century on when that is past the clock's range: a huge `check_interval` or
/// `leak_threshold` means "never".
fn later(at: Instant, d: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    at.checked_add(d.min(CENTURY)).unwrap_or(at)
}

/// Start the checker of `shared`.
pub(crate) fn spawn<K: Open>(shared: &Arc<Shared<K>>) -> io::Result<JoinHandle<()>> {
    let shared = Arc::clone(shared);
    let name = format!("nimue-checker {}", shared.config.name).replace('\0', "");
    thread::Builder::new()
        .name(name)
        .spawn(move || run(&shared))
}

fn run<K: Open>(shared: &Shared<K>) {
    let interval = shared.config.check_interval;
    let leak_period = shared.leaks.as_ref().map(|leaks| leaks.scan_period());
    let mut next_round = later(Instant::now(), interval);
    let mut next_leak_scan = leak_period.map(|period| later(Instant::now(), period));
    loop {
        top_up(shared);
        let now = Instant::now();
        if now >= next_round {
            round(shared);
            next_round = later(Instant::now(), interval);
        }
        if let (Some(at), Some(period), Some(leaks)) = (next_leak_scan, leak_period, &shared.leaks)
        {
            if now >= at {
                leaks.scan(&shared.config.name);
                next_leak_scan = Some(later(now, period));
            }
        }
        // Sleep until the next thing to do. Whatever changes the state so that there is
        // something to do notifies `checker_wake` after the change, and this decides under the
        // same lock it waits with, so no wake-up is lost.
        let st = shared.lock();
        if st.closed {
            return;
        }
        let now = Instant::now();
        if st.wants_open(now) {
            continue;
        }
        let mut until = next_round.min(next_leak_scan.unwrap_or(next_round));
        if let Some(retry_at) = st.retry_at() {
            until = until.min(retry_at);
        }
        let timeout = until.saturating_duration_since(now);
        drop(
            shared
                .checker_wake
                .wait_timeout(st, timeout)
                .unwrap_or_else(PoisonError::into_inner),
        );
    }
}

/// Open connections while the pool wants them (up to `min_idle` idle, or one retry for
/// waiters while backing off); stop at the first failure.
fn top_up<K: Open>(shared: &Shared<K>) {
    loop {
        let attempt = {
            let mut st = shared.lock();
            let now = Instant::now();
            if !st.wants_open(now) {
                return;
            }
            let demand = st.demand();
            st.reserve(|| now, demand)
        };
        let Some(attempt) = attempt else { return };
        if shared.open_for_pool(attempt).is_err() {
            return; // logged and recorded; the back-off says when to retry
        }
    }
}

/// One round: retire expired and idle-timed-out connections, then ping the others.
fn round<K: Open>(shared: &Shared<K>) {
    // Shelved connections are idle too: into the state, to be pinged and retired like any.
    shared.drain_lane();
    #[cfg(feature = "metrics")]
    if shared.config.metrics {
        let state = shared.lock().snapshot();
        super::metrics::gauges(&shared.config.name, &state);
    }
    let retired = {
        let mut st = shared.lock();
        let now = Instant::now();
        shared.lane.set_tick(now);
        st.start_round(now, shared.config.idle_timeout)
    };
    for (idle, why) in retired {
        log::debug!(target: LOG, "pool {:?}: retiring an idle connection ({why:?})", shared.config.name);
        shared.discard(idle.live, Held::Checking, Why::Retired(why));
    }
    let lifo = shared.config.reuse == Reuse::Lifo;
    loop {
        let Some(mut idle) = shared.lock().take_unchecked() else {
            return;
        };
        let level = shared.config.liveness;
        let alive = guarded("ping", || idle.live.conn.check(level));
        if let Err(e) = alive {
            log::warn!(target: LOG, "pool {:?}: an idle connection is dead and will be replaced: {e}", shared.config.name);
            shared.discard(idle.live, Held::Checking, Why::CheckFailed);
            continue;
        }
        // The ping read whatever the server still had to say of the last return.
        super::guard::warn_if_took_back(shared, &mut idle.live);
        let mut st = shared.lock();
        if st.closed {
            drop(st);
            shared.discard(idle.live, Held::Checking, Why::Closed);
            return;
        }
        // Drained, or the pool shrank, while it was pinged: not put back.
        if st.unwanted(idle.live.born) {
            drop(st);
            shared.discard(idle.live, Held::Checking, Why::Retired(Retire::Evicted));
            continue;
        }
        let wake = st.put_checked(idle, lifo);
        st.check();
        drop(st);
        wake.wake();
    }
}
