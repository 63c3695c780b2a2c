//! Leak detection: which connections are out, since when, and where they were taken.

use super::guarded::LOG;
use std::panic::Location;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The registry of connections handed out, for `leak_threshold`.
pub(crate) struct Leaks {
    threshold: Duration,
    /// One entry per connection out; only short updates and scans, never I/O or logging.
    held: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    entries: Vec<Option<Entry>>,
    /// Indices of `None` entries, reused first.
    free: Vec<usize>,
}

struct Entry {
    since: Instant,
    at: &'static Location<'static>,
    warned: bool,
}

impl Leaks {
    pub(crate) fn new(threshold: Duration) -> Self {
        Leaks {
            threshold,
            held: Mutex::new(Table::default()),
        }
    }

    /// How often the checker scans: a leak is reported within 1.5 thresholds.
    pub(crate) fn scan_period(&self) -> Duration {
        (self.threshold / 2).max(Duration::from_millis(1))
    }

    /// Register a connection handed out by a `get` called at `at`; returns its ticket.
    pub(crate) fn checkout(&self, at: &'static Location<'static>) -> usize {
        let entry = Entry {
            since: Instant::now(),
            at,
            warned: false,
        };
        let mut table = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        match table.free.pop() {
            Some(ticket) => {
                table.entries[ticket] = Some(entry);
                ticket
            }
            None => {
                table.entries.push(Some(entry));
                table.entries.len() - 1
            }
        }
    }

    /// The connection of `ticket` came back: say so if it had been reported, or warn if it
    /// was held too long but came back before a scan noticed.
    pub(crate) fn checkin(&self, ticket: usize, pool: &str) {
        let entry = {
            let mut table = self.held.lock().unwrap_or_else(PoisonError::into_inner);
            table.free.push(ticket);
            table.entries[ticket].take()
        };
        let Some(entry) = entry else { return };
        let held = entry.since.elapsed();
        if entry.warned {
            log::info!(target: LOG, "pool {pool:?}: the connection taken at {} came back after {held:?}", entry.at);
        } else if held > self.threshold {
            self.warn(pool, entry.at, held);
        }
    }

    /// Warn about every connection held longer than the threshold (once each).
    pub(crate) fn scan(&self, pool: &str) {
        let now = Instant::now();
        let mut leaked = Vec::new();
        {
            let mut table = self.held.lock().unwrap_or_else(PoisonError::into_inner);
            for entry in table.entries.iter_mut().flatten() {
                let held = now.saturating_duration_since(entry.since);
                if !entry.warned && held > self.threshold {
                    entry.warned = true;
                    leaked.push((entry.at, held));
                }
            }
        }
        for (at, held) in leaked {
            self.warn(pool, at, held);
        }
    }

    fn warn(&self, pool: &str, at: &Location<'_>, held: Duration) {
        log::warn!(
            target: LOG,
            "pool {pool:?}: possible leak: the connection taken at {at} was held for {held:?}, longer than leak_threshold ({:?})",
            self.threshold
        );
    }
}
