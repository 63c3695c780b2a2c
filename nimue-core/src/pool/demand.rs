//! When to open connections for callers that wait: the rule behind "a waiter is served by
//! whichever comes first, a connection given back or one opened for the demand".
//!
//! A caller that finds nothing idle queues; connections are opened for the queue on threads
//! of their own (never on the caller's), and each goes to the first waiter, or idle when
//! nobody waits any more. How many to open is the question: one per waiter makes every
//! momentary queue grow the pool (HikariCP's "spike demand": 50 callers at once on 5 warm
//! connections, a 150 ms connect and a 2 ms query; one connect each opened 45 connections that
//! arrived long after the returns had served everybody). So the pool opens for the waiters
//! that the returns will not serve within one connect time:
//!
//! - Nothing in use (nothing will come back), or no connect measured yet: one per waiter.
//! - The queue has lasted a connect time, or does not shrink as connections come back (new
//!   callers keep it as long as it was: sustained demand, not a spike): one per waiter, so the
//!   pool reaches what the load needs within the next connect time.
//! - Otherwise the waiters beyond what the queue will drain within a connect time: what the
//!   returns serve at the rate seen (in this backlog, or the last one), less what arrives. A rate is trusted once as many returns were seen
//!   as connections are in use (at most [`EVIDENCE`]): the first return alone, one of a batch
//!   checked out together, says little. Before that: one connect at a time, until the returns
//!   say how fast they come or a quarter of a connect time passes without them.
//!
//! While the rule holds opens back it names the time it must be applied again
//! ([`Demand::review_at`]); the pool's timer applies it then.

use std::time::{Duration, Instant};

/// What the pool knows of its demand (kept in the state, under its lock).
#[derive(Debug, Default)]
pub(crate) struct Demand {
    /// When the queue last became non-empty; `None` while nobody waits.
    since: Option<Instant>,
    /// Connections given back since then.
    returns: u32,
    /// The longest the queue was in this backlog, and when it was last that long.
    peak: usize,
    peak_at: Option<Instant>,
    /// Returns per second in the last backlog: what the next one expects at first.
    rate: Option<f64>,
    /// How long a connect takes (a moving average of the successful ones).
    connect: Option<Duration>,
    /// When the rule must be applied again (it held opens back), if it must.
    pub review_at: Option<Instant>,
}

/// The weight of the newest connect time in the moving average.
const NEWEST: f64 = 0.25;

/// At most this many returns make a rate worth trusting.
pub(crate) const EVIDENCE: usize = 8;

impl Demand {
    /// The queue became non-empty at `now`.
    pub(crate) fn queued(&mut self, now: Instant) {
        self.since = Some(now);
        self.returns = 0;
        self.peak = 0;
        self.peak_at = None;
    }

    /// The queue became empty at `now`: its return rate is the next backlog's first guess.
    pub(crate) fn emptied(&mut self, now: Instant) {
        if let Some(since) = self.since.take() {
            let age = now.saturating_duration_since(since).as_secs_f64();
            if self.returns > 0 && age > 0.0 {
                self.rate = Some(f64::from(self.returns) / age);
            }
        }
        self.review_at = None;
    }

    /// A connection was given back (counted while callers wait).
    #[inline]
    pub(crate) fn returned(&mut self) {
        if self.since.is_some() {
            self.returns = self.returns.saturating_add(1);
        }
    }

    /// A connect succeeded after `took`.
    pub(crate) fn connected(&mut self, took: Duration) {
        self.connect = Some(match self.connect {
            None => took,
            Some(was) => was.mul_f64(1.0 - NEWEST) + took.mul_f64(NEWEST),
        });
    }

    /// How many more connections to open at `now` for `waiting` callers (those that may be
    /// opened for), with `opening` under way (or idle, on their way to a nudged waiter) and
    /// `in_use` to come back; sets
    /// [`review_at`](Self::review_at) when it holds some back.
    pub(crate) fn opens(
        &mut self,
        now: Instant,
        waiting: usize,
        opening: usize,
        in_use: usize,
    ) -> usize {
        self.review_at = None;
        if waiting >= self.peak {
            self.peak = waiting;
            self.peak_at = Some(now);
        }
        let uncovered = waiting.saturating_sub(opening);
        // Under loom the model has no timer to apply the rule again: every waiter is
        // opened for, the hand-off is what the model checks.
        if uncovered == 0 || cfg!(loom) {
            return uncovered;
        }
        let (Some(since), Some(connect)) = (self.since, self.connect) else {
            return uncovered;
        };
        let age = now.saturating_duration_since(since);
        let quarter = connect / 4;
        let evidence = in_use.clamp(1, EVIDENCE);
        let unseen = (self.returns as usize) < evidence;
        if in_use == 0 || age >= connect || (unseen && age >= quarter) {
            return uncovered;
        }
        let rate = if unseen {
            self.rate
        } else {
            Some(f64::from(self.returns) / age.as_secs_f64().max(1e-9))
        };
        let open = match rate {
            // Nothing says how soon a connection comes back: one connect at a time.
            None => usize::from(opening == 0),
            Some(rate) => {
                let mut expected = rate * connect.as_secs_f64();
                if !unseen {
                    // With the returns seen, the queue should have shrunk since it was longest;
                    // what it drains per second is what the returns serve less what arrives.
                    let drained = self.peak.saturating_sub(waiting) as f64;
                    let over = self
                        .peak_at
                        .map_or(0.0, |at| now.saturating_duration_since(at).as_secs_f64());
                    let draining = if over > 0.0 { drained / over } else { 0.0 };
                    expected = expected.min(draining * connect.as_secs_f64());
                }
                // `as` saturates: a huge rate covers every waiter.
                uncovered.saturating_sub(expected as usize)
            }
        };
        if open < uncovered {
            let next = if unseen {
                since + quarter
            } else {
                since + connect
            };
            self.review_at = Some(next);
        }
        open
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn warm(connect: Duration) -> Demand {
        let mut demand = Demand::default();
        demand.connected(connect);
        demand
    }

    #[test]
    fn without_a_measured_connect_every_waiter_is_opened_for() {
        let now = Instant::now();
        let mut demand = Demand::default();
        demand.queued(now);
        assert_eq!(demand.opens(now, 10, 2, 5), 8);
        assert_eq!(demand.review_at, None);
    }

    #[test]
    fn with_nothing_in_use_every_waiter_is_opened_for() {
        let now = Instant::now();
        let mut demand = warm(150 * MS);
        demand.queued(now);
        assert_eq!(demand.opens(now, 10, 0, 0), 10);
    }

    #[test]
    fn a_spike_with_no_return_seen_yet_opens_one_at_a_time() {
        let now = Instant::now();
        let mut demand = warm(150 * MS);
        demand.queued(now);
        assert_eq!(demand.opens(now, 45, 0, 5), 1);
        assert_eq!(demand.opens(now, 45, 1, 5), 0);
        assert!(demand.review_at.is_some_and(|at| at <= now + 38 * MS));
    }

    #[test]
    fn returns_fast_enough_hold_every_open_back() {
        let now = Instant::now();
        let mut demand = warm(150 * MS);
        demand.queued(now);
        assert_eq!(demand.opens(now, 45, 1, 5), 0);
        // Five returns in the first 2 ms, five served: 375 expected within a connect time.
        for _ in 0..5 {
            demand.returned();
        }
        assert_eq!(demand.opens(now + 2 * MS, 40, 1, 5), 0);
        assert_eq!(demand.review_at, Some(now + 150 * MS));
    }

    #[test]
    fn slow_returns_open_for_the_waiters_they_will_not_serve() {
        let now = Instant::now();
        let mut demand = warm(100 * MS);
        demand.queued(now);
        assert_eq!(demand.opens(now, 14, 0, 2), 1);
        // Two returns in 20 ms with two in use, two served: ten expected within a connect
        // time, for eleven waiters no connect is under way for.
        demand.returned();
        demand.returned();
        assert_eq!(demand.opens(now + 20 * MS, 12, 1, 2), 1);
    }

    #[test]
    fn the_first_return_of_a_batch_is_not_yet_a_rate() {
        let now = Instant::now();
        let mut demand = warm(20 * MS);
        demand.queued(now);
        assert_eq!(demand.opens(now, 45, 0, 5), 1);
        demand.returned();
        // One of five in use came back after 2 ms: one connect at a time still.
        assert_eq!(demand.opens(now + 2 * MS, 44, 1, 5), 0);
        for _ in 0..4 {
            demand.returned();
        }
        // All five, and five served: 50 expected within a connect time.
        assert_eq!(demand.opens(now + 2 * MS, 40, 1, 5), 0);
        assert_eq!(demand.review_at, Some(now + 20 * MS));
    }

    /// 45 callers at once on five connections in use (150 ms connects), and the five come
    /// back within 2 ms.
    fn five_returned_of_a_spike() -> (Instant, Demand) {
        let now = Instant::now();
        let mut demand = warm(150 * MS);
        demand.queued(now);
        assert_eq!(demand.opens(now, 45, 0, 5), 1);
        for _ in 0..5 {
            demand.returned();
        }
        (now, demand)
    }

    #[test]
    fn a_queue_that_does_not_shrink_is_opened_for_at_once() {
        let (now, mut demand) = five_returned_of_a_spike();
        // Five new callers took the served ones' places.
        assert_eq!(demand.opens(now + 2 * MS, 45, 1, 5), 44);
    }

    #[test]
    fn a_queue_that_drains_in_time_is_not() {
        let (now, mut demand) = five_returned_of_a_spike();
        // Five served in 2 ms, nobody new: drained within a connect time.
        assert_eq!(demand.opens(now + 2 * MS, 40, 1, 5), 0);
    }

    #[test]
    fn a_queue_that_lasts_a_connect_time_is_opened_for_in_full() {
        let now = Instant::now();
        let mut demand = warm(150 * MS);
        demand.queued(now);
        let _ = demand.opens(now, 90, 0, 5);
        // Draining, but not within a connect time of its start.
        for _ in 0..1000 {
            demand.returned();
        }
        assert_eq!(demand.opens(now + 100 * MS, 45, 0, 5), 0);
        assert_eq!(demand.opens(now + 150 * MS, 45, 0, 5), 45);
        assert_eq!(demand.review_at, None);
    }

    #[test]
    fn no_return_for_a_quarter_connect_time_opens_for_everyone() {
        let now = Instant::now();
        let mut demand = warm(100 * MS);
        demand.queued(now);
        assert_eq!(demand.opens(now + 25 * MS, 6, 1, 5), 5);
    }

    #[test]
    fn the_last_backlog_s_rate_is_the_next_one_s_first_guess() {
        let now = Instant::now();
        let mut demand = warm(150 * MS);
        demand.queued(now);
        for _ in 0..10 {
            demand.returned();
        }
        demand.emptied(now + 4 * MS);
        let later = now + 1000 * MS;
        demand.queued(later);
        // 2500 returns a second: the next spike opens nothing at first.
        assert_eq!(demand.opens(later, 45, 0, 5), 0);
        assert!(demand.review_at.is_some());
    }

    #[test]
    fn connect_times_are_averaged() {
        let mut demand = warm(100 * MS);
        demand.connected(200 * MS);
        assert_eq!(demand.connect, Some(125 * MS));
    }
}
