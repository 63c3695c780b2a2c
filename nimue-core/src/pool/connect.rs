//! Connecting within `connect_timeout`, whatever the driver does.
//!
//! Drivers bound the TCP connect, but not always the handshake after it: a server (or a proxy,
//! or a half-dead host) that accepts the connection and never answers blocks the PostgreSQL
//! and MySQL drivers in a read with no timeout. So the connector runs on a thread of its own
//! and the pool waits for it at most `connect_timeout`. A blocked driver call cannot be
//! interrupted: its thread is left to finish (when the driver's connect returns: the peer
//! answers or ends the connection, or a TCP timeout does) and closes whatever it opened. At
//! most `max_size` such abandoned attempts run per pool at once; past that, connecting fails
//! at once instead of piling up threads.
//!
//! The result goes from the connect thread to its waiter on a rendezvous channel (no buffer),
//! so at every moment exactly one side owns a connection just opened: the waiter, once its
//! receive took it, or else the connect thread, which closes it when the waiter is gone. A
//! channel with a buffer had a third owner, the buffer: a result sent after the waiter's
//! receive timed out but before it dropped the receiver stayed there and was dropped with the
//! channel, never `close()`d (issue 16).

use super::guarded::{close_quietly, guarded, LOG};
use crate::connection::{Open, Poolable};
use crate::error::{Error, Result};
use crossbeam::channel::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

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

impl<K: Open> Connector<K> {
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
    pub(crate) fn connect(&self, pool: &str) -> Result<K::Conn> {
        let Some(timeout) = self.timeout else {
            return guarded("the connector", || self.connector.open());
        };
        let rx = self.start(pool, timeout)?;
        receive(rx, pool, timeout, timeout)
    }

    /// Start a connect thread; its result arrives on the returned channel.
    fn start(&self, pool: &str, timeout: Duration) -> Result<Receiver<Result<K::Conn>>> {
        // Relaxed: see `Running`; an occasional extra thread past the bound is harmless.
        let running = self.running.fetch_add(1, Ordering::Relaxed);
        let slot = Running(Arc::clone(&self.running));
        if running >= self.max_running.load(Ordering::Relaxed) {
            return Err(Error::operational(format!(
                "not connecting: {running} earlier connection attempts are still running \
                 (unanswered after connect_timeout {timeout:?})"
            )));
        }
        let (tx, rx) = handover();
        let connector = Arc::clone(&self.connector);
        let name = pool.to_owned();
        thread::Builder::new()
            .name(format!("{pool}-connect"))
            .spawn(move || {
                let _slot = slot;
                let result = guarded("the connector", || connector.open());
                // Let go of the connector before anyone can see the result, so nothing of
                // the pool outlives it once the result was taken.
                drop(connector);
                hand_over(&tx, result, &name);
            })
            .map_err(|e| Error::interface_from(format!("starting a connect thread: {e}"), e))?;
        Ok(rx)
    }
}

/// The channel a connect thread hands its result over on: one sender (the connect thread),
/// one receiver (the thread that waits for it).
///
/// Zero capacity (a rendezvous): a send completes only into a receive that takes the message,
/// and fails once the receiver is dropped. So the result is never left in the channel with
/// nobody to take it: either the waiter received it (it is the waiter's), or the send failed
/// and the result came back to the connect thread (it is the thread's, which closes it).
/// With a buffer, a send landing between the waiter's timeout and its drop of the receiver
/// succeeded into the buffer, and the connection was dropped with the channel, unclosed.
fn handover<C>() -> (Sender<Result<C>>, Receiver<Result<C>>) {
    channel::bounded(0)
}

/// The connect thread's end of the hand-over: the result goes to whoever waits for it, or,
/// when nobody does any more, a connection in it is closed here.
fn hand_over<C: Poolable>(tx: &Sender<Result<C>>, result: Result<C>, pool: &str) {
    // Blocks until the waiter takes the result or drops the receiver, and so always ends:
    // every receiver is either in a `recv_timeout` or about to be dropped (`receive` drops it
    // as soon as its wait is over).
    if let Err(channel::SendError(Ok(conn))) = tx.send(result) {
        // The waiter is gone without having taken it: this thread owns the connection.
        log::debug!(target: LOG, "pool {pool:?}: closing a connection opened after connect_timeout");
        close_quietly(pool, conn);
    }
}

/// Wait at most `wait` (what is left of the connect timeout `timeout`) for a connect
/// thread's result.
fn receive<C>(rx: Receiver<Result<C>>, pool: &str, wait: Duration, timeout: Duration) -> Result<C> {
    // Rendezvous (see `handover`): `Ok` means the result is ours; `Timeout` means the connect
    // thread handed nothing over, and, the channel holding nothing, cannot do so any more once
    // the receiver is gone.
    let received = rx.recv_timeout(wait);
    // Let go of the receiver at once: a connect thread that finishes from now on fails its
    // send and closes the connection itself, without waiting for this thread to move on.
    drop(rx);
    match received {
        Ok(result) => result,
        Err(RecvTimeoutError::Timeout) => {
            log::warn!(target: LOG, "pool {pool:?}: connecting took longer than connect_timeout {timeout:?}; abandoned");
            // A result that arrives later comes back to its connect thread, which closes it.
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

#[cfg(all(test, feature = "testing"))]
mod tests {
    use super::*;
    use crate::connection::{Connect, Connection};
    use crate::testing::TestConnector;
    use std::time::Instant;

    /// Poll `cond` for up to 20 s.
    fn eventually(mut cond: impl FnMut() -> bool) -> bool {
        let until = Instant::now() + Duration::from_secs(20);
        while !cond() {
            if Instant::now() >= until {
                return false;
            }
            thread::sleep(Duration::from_millis(2));
        }
        true
    }

    /// Once no connection is alive, every one opened was closed with `close()`, and no
    /// connect thread runs.
    fn all_closed(connector: &TestConnector, connecting: &Connector<TestConnector>) -> bool {
        let stats = connector.stats();
        stats.live == 0
            && stats.opened == stats.closed
            && connecting.running.load(Ordering::Relaxed) == 0
    }

    #[test]
    fn a_connect_within_connect_timeout_hands_its_connection_over() {
        let connector = TestConnector::new();
        connector.set_connect_delay(Duration::from_millis(20));
        let connecting = Connector::new(connector.clone(), Some(Duration::from_secs(20)), 1);
        let conn = connecting.connect("test").unwrap();
        Connection::close(conn).unwrap();
        assert!(eventually(|| all_closed(&connector, &connecting)));
        assert_eq!(connector.stats().opened, 1);
    }

    #[test]
    fn a_connect_past_connect_timeout_closes_its_connection_when_it_arrives() {
        let connector = TestConnector::new();
        connector.set_connect_delay(Duration::from_millis(300));
        let connecting = Connector::new(connector.clone(), Some(Duration::from_millis(30)), 1);
        let err = connecting.connect("test").unwrap_err();
        assert!(err.to_string().contains("connect_timeout"), "{err}");
        // The thread goes on with the driver's connect, then closes what it opened.
        assert_eq!(connecting.running.load(Ordering::Relaxed), 1);
        assert!(eventually(|| all_closed(&connector, &connecting)));
        assert_eq!(connector.stats().opened, 1);
    }

    /// The waiter's time ran out (`recv_timeout` said `Timeout`), and the connection arrives
    /// before the waiter has let go of the receiver: the narrowest window of issue 16. The
    /// test holds it open: the send gets every chance to land in it, then the receiver is
    /// dropped, as `receive` does after a timeout.
    #[test]
    fn a_result_sent_between_the_timeout_and_the_drop_of_the_receiver_is_closed() {
        let connector = TestConnector::new();
        let (tx, rx) = handover();
        let waited = rx.recv_timeout(Duration::from_millis(1));
        assert!(matches!(waited, Err(RecvTimeoutError::Timeout)));
        let conn = connector.connect().unwrap();
        let sender = thread::spawn(move || hand_over(&tx, Ok(conn), "test"));
        // The send completes now if the channel can hold the connection without a receiver
        // taking it; it cannot if it must wait for one.
        let until = Instant::now() + Duration::from_millis(300);
        while !sender.is_finished() && Instant::now() < until {
            thread::sleep(Duration::from_millis(1));
        }
        drop(rx);
        sender.join().unwrap();
        let stats = connector.stats();
        assert_eq!(stats.live, 0);
        assert_eq!(
            (stats.opened, stats.closed),
            (1, 1),
            "the connection was dropped, not closed: {stats:?}"
        );
    }
}
