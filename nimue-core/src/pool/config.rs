//! The settings a pool keeps once built, and the checks they must pass.

use crate::connection::Liveness;
use crate::error::{Error, Result};
use std::time::Duration;

/// A hook run on a connection; an error discards the connection.
pub(crate) type Hook<C> = Box<dyn Fn(&mut C) -> Result<()> + Send + Sync>;

/// Which idle connection [`Pool::get`](crate::Pool::get) hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reuse {
    /// The most recently returned one (the default): a few hot connections do the work and
    /// the rest can time out and close when the load drops.
    #[default]
    Lifo,
    /// The one idle longest: the load is spread over every connection.
    Fifo,
}

/// The settings a pool keeps after it is built.
pub(crate) struct Config<C> {
    pub name: String,
    pub min_idle: usize,
    pub max_size: usize,
    pub connection_timeout: Duration,
    pub connect_timeout: Option<Duration>,
    pub max_waiting: Option<usize>,
    pub evict_on_disconnect: bool,
    pub liveness: Liveness,
    pub checkout_skip_window: Option<Duration>,
    pub check_interval: Duration,
    pub idle_timeout: Option<Duration>,
    pub max_lifetime: Option<Duration>,
    pub test_on_checkout: bool,
    pub background_reset: bool,
    pub leak_threshold: Option<Duration>,
    pub reuse: Reuse,
    pub autocommit: Option<bool>,
    pub on_connect: Option<Hook<C>>,
    pub on_checkout: Option<Hook<C>>,
    pub on_checkin: Option<Hook<C>>,
    /// The `on_event` hooks, and the metrics exporter's (`events.rs`).
    pub on_event: Vec<super::events::EventHook>,
    /// Export metrics (feature `metrics`).
    pub metrics: bool,
}

/// The most connections one pool may hold: far beyond what a process can keep open, and far
/// from where counting them could overflow.
pub const MAX_SIZE: usize = 1 << 20;

/// Whether `min_idle` and `max_size` make a pool: at least one connection, at most
/// [`MAX_SIZE`], and `min_idle` no more than `max_size`.
pub(crate) fn check_sizes(min_idle: usize, max_size: usize) -> Result<()> {
    if max_size == 0 {
        return Err(Error::interface("pool max_size must be at least 1"));
    }
    if max_size > MAX_SIZE {
        return Err(Error::interface(format!(
            "pool max_size ({max_size}) is over nimue's limit of {MAX_SIZE} connections"
        )));
    }
    if min_idle > max_size {
        return Err(Error::interface(format!(
            "pool min_idle ({min_idle}) is larger than max_size ({max_size})"
        )));
    }
    Ok(())
}
