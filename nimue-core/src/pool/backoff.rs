//! Spacing connect attempts while connecting fails.

use std::time::{Duration, Instant};

/// A permission to connect that [`State::reserve`](super::state::State::reserve) gave out.
#[derive(Clone, Copy)]
pub(crate) struct Attempt {
    /// Whether this is the one retry allowed while backing off.
    pub probe: bool,
    /// When its slot was reserved: its connection counts as opened then (a `drain()` after
    /// this closes it), however late the thread that connects gets going.
    pub reserved: Instant,
}

/// Back-off of connect attempts after failures: exponential for the background refill, short
/// and jittered while callers want a connection (so the first connect after the database
/// comes back follows within [`DEMAND_RETRY`]'s jitter, not the exponential delay). One
/// attempt (the *probe*) at a time while failing.
pub(crate) struct Backoff {
    /// Failed attempts in a row; 0 means healthy: anyone may connect.
    failures: u32,
    /// While failing: no attempt for the background refill before this.
    pub retry_at: Instant,
    /// While failing: no attempt for a caller before this.
    demand_at: Instant,
    /// While failing: the one retry (probe) is under way.
    probing: bool,
    /// The longest delay between retries.
    cap: Duration,
}

/// The first retry delay; it doubles per failure up to the cap.
const FIRST_RETRY: Duration = Duration::from_millis(10);

/// While callers want a connection, the next attempt starts this long after a failure, give
/// or take half of it at random (so many pools do not retry in step).
const DEMAND_RETRY: Duration = Duration::from_millis(50);

impl Backoff {
    pub(crate) fn new(cap: Duration, now: Instant) -> Self {
        Backoff {
            failures: 0,
            retry_at: now,
            demand_at: now,
            probing: false,
            cap: cap.max(FIRST_RETRY),
        }
    }

    pub(crate) fn healthy(&self) -> bool {
        self.failures == 0
    }

    /// When the next probe may start: for a caller (`demand`) or the background refill.
    pub(crate) fn due_at(&self, demand: bool) -> Instant {
        if demand {
            self.demand_at.min(self.retry_at)
        } else {
            self.retry_at
        }
    }

    /// Whether a probe may start at `now` (only meaningful while failing), for a caller
    /// (`demand`) or the background refill.
    pub(crate) fn probe_due(&self, now: Instant, demand: bool) -> bool {
        !self.probing && now >= self.due_at(demand)
    }

    /// The probe starts (only while failing).
    pub(crate) fn start_probe(&mut self) {
        self.probing = true;
    }

    /// Whether the probe is under way.
    pub(crate) fn probing(&self) -> bool {
        self.probing
    }

    /// The probe was reserved but will not be made (nobody wants it any more).
    pub(crate) fn probe_dropped(&mut self) {
        self.probing = false;
    }

    /// A connect succeeded: healthy again. Returns whether this ended an outage.
    pub(crate) fn succeeded(&mut self) -> bool {
        let recovered = !self.healthy();
        self.failures = 0;
        self.probing = false;
        recovered
    }

    /// An attempt failed at `now`.
    pub(crate) fn failed(&mut self, attempt: Attempt, now: Instant) {
        // Failures of attempts started while healthy all belong to the same outage: only the
        // first and then each probe move the retry time.
        if attempt.probe || self.failures == 0 {
            self.failures = self.failures.saturating_add(1);
            let doubling = 1u32 << (self.failures - 1).min(16);
            self.retry_at = now + (FIRST_RETRY * doubling).min(self.cap);
            self.demand_at = now + DEMAND_RETRY.mul_f64(0.5 + fastrand::f64());
        }
        if attempt.probe {
            self.probing = false;
        }
    }
}
