//! Connecting within `connect_timeout`, whatever the driver does.
//!
//! Drivers bound the TCP connect, but not always the handshake after it: a server (or a proxy,
//! or a half-dead host) that accepts the connection and never answers blocks the PostgreSQL
//! and MySQL drivers in a read with no timeout. So the connector runs on a thread of its own
//! and the pool waits for it at most `connect_timeout`. A blocked driver call cannot be
//! interrupted: its thread is left to finish (when the peer or a TCP timeout ends the
//! connection) and closes whatever it opened. At most `max_size` such abandoned attempts run
//! per pool at once; past that, connecting fails at once instead of piling up threads.

use super::guarded::{close_quietly, guarded, LOG};
use crate::connection::Connect;
use crate::error::{Error, Result};
use crossbeam::channel::{self, Receiver, RecvTimeoutError};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// The connector and the bound on connecting with it.
pub(crate) struct Connector<K> {
    pub connector: Arc<K>,
    /// `None`: connect on the calling thread, bounded only by the driver's own timeouts.
    timeout: Option<Duration>,
    /// Connect threads running now, whether a caller still waits for them or not.
    running: Arc<AtomicUsize>,
    /// The most connect threads at once: `max_size` waited-for plus `max_size` abandoned
    /// (of the pool's current `max_size`: `resize` changes it).
    max_running: AtomicUsize,
}

/// Decrements the running count when a connect thread ends, even by a panic.
struct Running(Arc<AtomicUsize>);

impl Drop for Running {
    fn drop(&mut self) {
        // Relaxed: the count only bounds how many threads start; it orders no other data.
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<K: Connect> Connector<K> {
    pub(crate) fn new(connector: K, timeout: Option<Duration>, max_size: usize) -> Self {
        Connector {
            connector: Arc::new(connector),
            // The loom models check the hand-off between callers, without extra threads.
            timeout: if cfg!(loom) { None } else { timeout },
            running: Arc::new(AtomicUsize::new(0)),
            max_running: AtomicUsize::new(max_size.saturating_mul(2)),
        }
    }

    /// Follow a new `max_size` (after `resize`).
    pub(crate) fn set_max_size(&self, max_size: usize) {
        // Relaxed: like `running`, it only bounds how many threads start.
        self.max_running
            .store(max_size.saturating_mul(2), Ordering::Relaxed);
    }

    /// Open a connection, waiting at most the connect timeout for it.
    pub(crate) fn connect(&self, pool: &str) -> Result<K::Connection> {
        let Some(timeout) = self.timeout else {
            return guarded("the connector", || self.connector.connect());
        };
        let rx = self.start(pool, timeout)?;
        receive(&rx, pool, timeout, timeout)
    }

    /// Open a connection for a caller that waits at most `wait` (its own `get` timeout) for
    /// it. `None`: the caller's time ran out first; the attempt goes on, up to the connect
    /// timeout, and its result goes to `late` (so a slow login still ends in the pool, and a
    /// lone caller whose timeout is shorter than the login does not retry for ever).
    pub(crate) fn connect_for(
        &self,
        pool: &str,
        wait: Duration,
        late: impl FnOnce(Result<K::Connection>) + Send + 'static,
    ) -> Option<Result<K::Connection>> {
        let Some(timeout) = self.timeout else {
            // No connect thread to leave behind: the caller waits for the driver.
            return Some(guarded("the connector", || self.connector.connect()));
        };
        let rx = match self.start(pool, timeout) {
            Ok(rx) => rx,
            Err(e) => return Some(Err(e)),
        };
        if wait >= timeout {
            return Some(receive(&rx, pool, timeout, timeout));
        }
        let began = Instant::now();
        match rx.recv_timeout(wait) {
            Ok(result) => return Some(result),
            Err(RecvTimeoutError::Disconnected) => return Some(Err(no_result())),
            Err(RecvTimeoutError::Timeout) => {}
        }
        // The rest of the connect timeout is watched on a thread of its own, which hands the
        // result on (or the timeout error); the caller goes back with its own timeout.
        let name = pool.to_owned();
        let rest = timeout.saturating_sub(began.elapsed());
        let watch = thread::Builder::new()
            .name(format!("{pool}-connect-watch"))
            .spawn(move || late(receive(&rx, &name, rest, timeout)));
        match watch {
            Ok(_) => None,
            Err(e) => Some(Err(Error::interface_from("starting a connect thread", e))),
        }
    }

    /// Start a connect thread; its result arrives on the returned channel.
    fn start(&self, pool: &str, timeout: Duration) -> Result<Receiver<Result<K::Connection>>> {
        // Relaxed: see `Running`; an occasional extra thread past the bound is harmless.
        let running = self.running.fetch_add(1, Ordering::Relaxed);
        let slot = Running(Arc::clone(&self.running));
        if running >= self.max_running.load(Ordering::Relaxed) {
            return Err(Error::operational(format!(
                "not connecting: {running} earlier connection attempts are still running \
                 (unanswered after connect_timeout {timeout:?})"
            )));
        }
        let (tx, rx) = channel::bounded(1);
        let connector = Arc::clone(&self.connector);
        let name = pool.to_owned();
        thread::Builder::new()
            .name(format!("{pool}-connect"))
            .spawn(move || {
                let _slot = slot;
                let result = guarded("the connector", || connector.connect());
                // Let go of the connector before anyone can see the result, so nothing of
                // the pool outlives it once the result was taken.
                drop(connector);
                // Whoever waited gave up: nobody will use this connection.
                if let Err(channel::SendError(Ok(conn))) = tx.send(result) {
                    log::debug!(target: LOG, "pool {name:?}: closing a connection opened after connect_timeout");
                    close_quietly(&name, conn);
                }
            })
            .map_err(|e| Error::interface_from("starting a connect thread", e))?;
        Ok(rx)
    }
}

/// Wait at most `wait` (what is left of the connect timeout `timeout`) for a connect
/// thread's result.
fn receive<C>(
    rx: &Receiver<Result<C>>,
    pool: &str,
    wait: Duration,
    timeout: Duration,
) -> Result<C> {
    match rx.recv_timeout(wait) {
        Ok(result) => result,
        Err(RecvTimeoutError::Timeout) => {
            log::warn!(target: LOG, "pool {pool:?}: connecting took longer than connect_timeout {timeout:?}; abandoned");
            // A result that arrives later is dropped with `rx`: a connection in it is closed.
            Err(Error::operational(format!(
                "connect timed out after {timeout:?} (connect_timeout): the server did not \
                 complete the connection"
            )))
        }
        Err(RecvTimeoutError::Disconnected) => Err(no_result()),
    }
}

fn no_result() -> Error {
    Error::interface("the connect thread ended without a result")
}
