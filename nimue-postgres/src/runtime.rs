//! Which runtime serves a connection's socket ([`OnRuntime`]), whether it still runs, and what
//! runs the blocking API's futures to their end ([`Exec`]).

use nimue_core::Error;
use std::sync::{Arc, Weak};
use tokio::runtime::{Handle, Runtime};

/// What runs the futures of the synchronous API to their end.
pub(crate) enum Exec {
    /// A current-thread runtime of the connection's own, run by the calling thread.
    Own(Runtime),
    /// The runtime the connection was opened on (the caller's, or the one the connector
    /// names): its reactor serves the socket while this thread waits.
    Caller(Handle),
}

/// A tokio runtime connections are opened on, and whether it still runs.
#[derive(Clone)]
pub(crate) struct OnRuntime {
    pub(crate) handle: Handle,
    /// Alive while the runtime is: a task of it holds the other end, dropped with it at its
    /// shutdown.
    pub(crate) alive: Weak<()>,
}

impl OnRuntime {
    pub(crate) fn new(handle: Handle) -> OnRuntime {
        let alive = Arc::new(());
        let held = Arc::clone(&alive);
        drop(handle.spawn(async move {
            let _held = held;
            std::future::pending::<()>().await
        }));
        OnRuntime {
            alive: Arc::downgrade(&alive),
            handle,
        }
    }

    /// Whether the runtime is a current-thread one running on this thread.
    pub(crate) fn served_here(&self) -> bool {
        served_here(&self.handle)
    }

    /// Whether the runtime has shut down.
    pub(crate) fn gone(&self) -> bool {
        self.alive.strong_count() == 0
    }

    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl Exec {
    /// Run `future` to its end on this thread (not inside an async runtime's context).
    pub(crate) fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        match self {
            Exec::Own(runtime) => runtime.block_on(future),
            Exec::Caller(handle) => handle.block_on(future),
        }
    }

    /// Whether this thread is the only one that can serve the socket (the current-thread
    /// runtime the connection is on, running here).
    pub(crate) fn served_here(&self) -> bool {
        match self {
            Exec::Own(_) => false,
            Exec::Caller(handle) => served_here(handle),
        }
    }
}

/// Whether `handle` is of a current-thread runtime that runs on this thread.
fn served_here(handle: &Handle) -> bool {
    handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread
        && Handle::try_current().is_ok_and(|here| here.id() == handle.id())
}

/// The error of a connection whose runtime has shut down.
pub(crate) fn runtime_gone() -> Error {
    Error::operational(
        "the tokio runtime this PostgreSQL connection was opened on has shut down (a connection \
         belongs to the runtime that opened it, as with any tokio socket): the connection is \
         given up, and a pool replaces it",
    )
}

/// Whether this thread is inside a tokio runtime's context where blocking on this client's
/// own runtime would panic ("Cannot start a runtime from within a runtime"): a runtime's
/// worker thread, or one in `block_on`; not nimue's blocking threads (where `interact` runs).
/// A user's own `spawn_blocking` thread counts as inside too (nothing public tells them apart).
pub(crate) fn in_async_context() -> bool {
    !nimue_core::pool::on_blocking_thread() && tokio::runtime::Handle::try_current().is_ok()
}
