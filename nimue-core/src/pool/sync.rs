//! The synchronization primitives the pool is built on: the standard library's, or, when
//! built with `--cfg loom`, loom's models of them, so `tests/loom.rs` can check every
//! interleaving of checkout, return and close (`scripts/loom.sh`).
//!
//! Errors keep `std::sync::Arc` in both builds: they are data, not synchronization.

#[cfg(loom)]
pub(crate) use loom::thread;
#[cfg(not(loom))]
pub(crate) use std::thread;

#[cfg(loom)]
pub(crate) use loom::sync::{
    atomic::{fence, AtomicBool, AtomicU64, AtomicUsize},
    Arc, Condvar, Mutex, MutexGuard,
};
#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{fence, AtomicBool, AtomicU64, AtomicUsize},
    Arc, Condvar, Mutex, MutexGuard,
};

/// A connect error, shared by every caller it failed: a plain `std::sync::Arc` in both builds.
pub(crate) type SharedError = std::sync::Arc<crate::Error>;
