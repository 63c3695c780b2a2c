//! Which threads run driver code for async callers: tokio's blocking threads while nimue runs
//! a closure or a return there ([`PooledConnection::interact`](super::PooledConnection),
//! `Pool::interact`, a guard dropped on a runtime thread). An adapter whose driver cannot run
//! inside a runtime's context without help (the PostgreSQL client drives a runtime of its
//! own) asks [`on_blocking_thread`] to know that blocking here is what was meant.

use std::cell::Cell;

thread_local! {
    /// Set while nimue's code runs on a blocking thread (a `BlockingSection` is alive).
    static BLOCKING: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread is one of tokio's blocking threads running driver code for nimue:
/// blocking calls are what it is for. `false` elsewhere, a runtime's worker threads included.
///
/// ```
/// assert!(!nimue_core::pool::on_blocking_thread());
/// ```
pub fn on_blocking_thread() -> bool {
    BLOCKING.with(Cell::get)
}

/// Marks this thread as [`on_blocking_thread`] until dropped.
#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
pub(crate) struct BlockingSection {
    was: bool,
}

#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
impl BlockingSection {
    pub(crate) fn enter() -> Self {
        BlockingSection {
            was: BLOCKING.with(|b| b.replace(true)),
        }
    }
}

impl Drop for BlockingSection {
    fn drop(&mut self) {
        BLOCKING.with(|b| b.set(self.was));
    }
}
