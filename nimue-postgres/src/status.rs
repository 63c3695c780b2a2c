//! The server's own word on the session: the transaction status byte of every
//! `ReadyForQuery` message, and the `standard_conforming_strings` setting of its
//! `ParameterStatus` reports, read off the connection's stream as its bytes pass.
//!
//! `tokio_postgres` reads that byte and drops it, so guessing it from the SQL text was all the
//! adapter could do, and a guess misses cases (`COMMIT AND CHAIN` opens a new transaction at
//! once). [`Tap`] wraps the plaintext stream the driver reads (under TLS when there is TLS)
//! and follows the backend's message framing to note each status as it arrives: the status is
//! always that of the last request whose reply was read.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, TlsStream};

/// `ReadyForQuery`'s status when no transaction is open.
const IDLE: u8 = b'I';

/// What the server reported last, shared by a connection's [`Tap`] and its client.
#[derive(Clone)]
pub(crate) struct TxStatus(Arc<Reported>);

struct Reported {
    /// The last `ReadyForQuery` status: `I` idle, `T` in a transaction, `E` in a failed one.
    tx: AtomicU8,
    /// The last `standard_conforming_strings` reported (on unless the server said off).
    standard_strings: AtomicBool,
    /// A SQL `PREPARE` completed (its `CommandComplete` tag) since this was last taken.
    sql_prepared: AtomicBool,
}

/// The `ParameterStatus` body that matters here, and the longest body kept to read one.
const STANDARD_STRINGS: &[u8] = b"standard_conforming_strings\0";
const LONGEST_KEPT: usize = 64;

impl TxStatus {
    /// Idle, as a session starts (its first `ReadyForQuery` says so too).
    pub(crate) fn new() -> Self {
        TxStatus(Arc::new(Reported {
            tx: AtomicU8::new(IDLE),
            standard_strings: AtomicBool::new(true),
            sql_prepared: AtomicBool::new(false),
        }))
    }

    /// Whether the server said a transaction is open (or failed and not yet rolled back)
    /// when it last became ready.
    pub(crate) fn in_transaction(&self) -> bool {
        // Relaxed (here and below): written and read on the connection's one thread (the
        // client's runtime is current-thread); the atomics only let the tap and the client
        // share them.
        self.0.tx.load(Ordering::Relaxed) != IDLE
    }

    /// Whether the session's string constants treat a backslash as an ordinary character
    /// (`standard_conforming_strings`, as the server last reported it).
    pub(crate) fn standard_strings(&self) -> bool {
        self.0.standard_strings.load(Ordering::Relaxed)
    }

    /// Whether a SQL `PREPARE` ran since the last call (the server's tag said so).
    pub(crate) fn take_sql_prepared(&self) -> bool {
        self.0.sql_prepared.swap(false, Ordering::Relaxed)
    }

    fn set(&self, status: u8) {
        self.0.tx.store(status, Ordering::Relaxed);
    }

    /// A `CommandComplete` body: the command's tag.
    fn completed(&self, tag: &[u8]) {
        if tag == b"PREPARE\0" {
            self.0.sql_prepared.store(true, Ordering::Relaxed);
        }
    }

    /// A `ParameterStatus` body: `name\0value\0`.
    fn parameter(&self, body: &[u8]) {
        if let Some(value) = body.strip_prefix(STANDARD_STRINGS) {
            let on = !value.starts_with(b"off");
            self.0.standard_strings.store(on, Ordering::Relaxed);
        }
    }
}

/// Where the reader stands in the backend's message stream: every message is a tag byte, a
/// big-endian length that counts itself, and that many bytes less four of body.
#[derive(Default)]
struct Framing {
    header: [u8; 5],
    /// Bytes of `header` read so far (while no body is being skipped).
    have: usize,
    /// Body bytes of the current message still to come.
    left: usize,
    /// The body of a `ParameterStatus` or `CommandComplete` message being read (up to
    /// `LONGEST_KEPT` bytes).
    kept: Vec<u8>,
}

impl Framing {
    /// Follow `bytes`, the next ones the server sent, noting each `ReadyForQuery`'s status.
    fn feed(&mut self, mut bytes: &[u8], status: &TxStatus) {
        while !bytes.is_empty() {
            if self.left > 0 {
                let n = self.left.min(bytes.len());
                // `ReadyForQuery` ('Z') has a one-byte body: the status.
                if self.header[0] == b'Z' && n == self.left {
                    status.set(bytes[n - 1]);
                }
                // `ParameterStatus` ('S') and `CommandComplete` ('C'): short bodies, read whole.
                let tag = self.header[0];
                if matches!(tag, b'S' | b'C') && self.kept.len() + n <= LONGEST_KEPT {
                    self.kept.extend_from_slice(&bytes[..n]);
                    if n == self.left {
                        if tag == b'S' {
                            status.parameter(&self.kept);
                        } else {
                            status.completed(&self.kept);
                        }
                    }
                }
                self.left -= n;
                bytes = &bytes[n..];
                continue;
            }
            let n = (5 - self.have).min(bytes.len());
            self.header[self.have..self.have + n].copy_from_slice(&bytes[..n]);
            self.have += n;
            bytes = &bytes[n..];
            if self.have == 5 {
                let len = u32::from_be_bytes([
                    self.header[1],
                    self.header[2],
                    self.header[3],
                    self.header[4],
                ]);
                self.left = (len as usize).saturating_sub(4);
                self.have = 0;
                self.kept.clear();
            }
        }
    }
}

/// A stream that notes the transaction status of every `ReadyForQuery` read through it.
/// It must see the backend's messages from the first (after any TLS negotiation).
pub(crate) struct Tap<S> {
    inner: S,
    framing: Framing,
    status: TxStatus,
}

impl<S> Tap<S> {
    pub(crate) fn new(inner: S, status: TxStatus) -> Self {
        Tap {
            inner,
            framing: Framing::default(),
            status,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tap<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            this.framing.feed(&buf.filled()[before..], &this.status);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tap<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl<S: TlsStream + Unpin> TlsStream for Tap<S> {
    fn channel_binding(&self) -> ChannelBinding {
        self.inner.channel_binding()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![tag];
        m.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn the_status_of_each_ready_for_query_is_noted_however_the_bytes_are_split() {
        let mut stream = message(b'C', b"COMMIT\0");
        stream.extend(message(b'Z', b"T"));
        // A DataRow whose body holds a 'Z' and a 'I': not a message boundary.
        stream.extend(message(b'D', b"\0\x01\0\0\0\x02ZI"));
        stream.extend(message(b'Z', b"E"));
        for chunk in 1..=stream.len() {
            let status = TxStatus::new();
            let mut framing = Framing::default();
            let mut seen = vec![b'I'];
            for piece in stream.chunks(chunk) {
                framing.feed(piece, &status);
                let now = status.0.tx.load(Ordering::Relaxed);
                if seen.last() != Some(&now) {
                    seen.push(now);
                }
            }
            // The row's bytes were never taken for a status.
            let expected: &[u8] = if chunk < stream.len() { b"ITE" } else { b"IE" };
            assert_eq!(seen, expected, "chunks of {chunk}");
        }
        let status = TxStatus::new();
        Framing::default().feed(&message(b'Z', b"I"), &status);
        assert!(!status.in_transaction());
    }

    #[test]
    fn standard_conforming_strings_is_followed() {
        let status = TxStatus::new();
        let mut framing = Framing::default();
        assert!(status.standard_strings());
        let mut stream = message(b'S', b"standard_conforming_strings\0off\0");
        stream.extend(message(b'S', b"TimeZone\0UTC\0"));
        for byte in &stream {
            framing.feed(std::slice::from_ref(byte), &status);
        }
        assert!(!status.standard_strings());
        framing.feed(
            &message(b'S', b"standard_conforming_strings\0on\0"),
            &status,
        );
        assert!(status.standard_strings());
    }
}
