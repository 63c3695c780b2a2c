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
    /// Since this was last taken, the server reported a setting's new value, or completed a
    /// command other than those that leave nothing in the session (their tags: see
    /// [`leaves_session`]).
    session_changed: AtomicBool,
    /// The last `RowDescription` was the writes probe's ([`PROBE_COLUMN`]): its row says.
    probing: AtomicBool,
    /// The writes probe answered true since this was last taken.
    probed_writes: AtomicBool,
    /// The server's major version (`server_version`, reported at startup); 0 until known.
    major: AtomicU8,
}

/// The column the writes probe names its answer (see [`writes_probe`]).
pub(crate) const PROBE_COLUMN: &str = "nimue_uncommitted_writes";

/// A query that says whether the open transaction wrote (it has a transaction ID), for a
/// server of major version `major`: `None` where there is no such function (before 10).
pub(crate) fn writes_probe(major: u8) -> Option<String> {
    let function = match major {
        13.. => "pg_current_xact_id_if_assigned",
        10..=12 => "txid_current_if_assigned",
        _ => return None,
    };
    Some(format!("SELECT {function}() IS NOT NULL AS {PROBE_COLUMN}"))
}

/// The `ParameterStatus` body that matters here, and the longest body kept to read one.
const STANDARD_STRINGS: &[u8] = b"standard_conforming_strings\0";
const SERVER_VERSION: &[u8] = b"server_version\0";
const LONGEST_KEPT: usize = 64;

impl TxStatus {
    /// Idle, as a session starts (its first `ReadyForQuery` says so too).
    pub(crate) fn new() -> Self {
        TxStatus(Arc::new(Reported {
            tx: AtomicU8::new(IDLE),
            standard_strings: AtomicBool::new(true),
            sql_prepared: AtomicBool::new(false),
            session_changed: AtomicBool::new(false),
            probing: AtomicBool::new(false),
            probed_writes: AtomicBool::new(false),
            major: AtomicU8::new(0),
        }))
    }

    /// Whether a transaction is open and not failed (`T`): a statement sent now runs.
    pub(crate) fn in_healthy_transaction(&self) -> bool {
        self.0.tx.load(Ordering::Relaxed) == b'T'
    }

    /// The server's major version, 0 until it said.
    pub(crate) fn major(&self) -> u8 {
        self.0.major.load(Ordering::Relaxed)
    }

    /// Whether the writes probe answered true since the last call.
    pub(crate) fn take_probed_writes(&self) -> bool {
        self.0.probed_writes.swap(false, Ordering::Relaxed)
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

    /// Whether the server reported a change of the session since the last call.
    pub(crate) fn take_session_changed(&self) -> bool {
        self.0.session_changed.swap(false, Ordering::Relaxed)
    }

    fn set(&self, status: u8) {
        self.0.tx.store(status, Ordering::Relaxed);
    }

    /// A `RowDescription` body: a field count, then each field's name and attributes.
    fn row_description(&self, body: &[u8]) {
        let probe = body.strip_prefix(&[0, 1][..]).is_some_and(|rest| {
            rest.strip_prefix(PROBE_COLUMN.as_bytes())
                .is_some_and(|rest| rest.first() == Some(&0))
        });
        self.0.probing.store(probe, Ordering::Relaxed);
    }

    /// A `DataRow` body: a column count, then each value's length and bytes. The probe's is
    /// one boolean in text: `t` or `f`.
    fn data_row(&self, body: &[u8]) {
        if self.0.probing.swap(false, Ordering::Relaxed) && body == [0, 1, 0, 0, 0, 1, b't'] {
            self.0.probed_writes.store(true, Ordering::Relaxed);
        }
    }

    /// A `CommandComplete` body: the command's tag.
    fn completed(&self, tag: &[u8]) {
        self.0.probing.store(false, Ordering::Relaxed);
        if tag == b"PREPARE\0" {
            self.0.sql_prepared.store(true, Ordering::Relaxed);
        }
        if !leaves_session(tag) {
            self.0.session_changed.store(true, Ordering::Relaxed);
        }
    }

    /// A `ParameterStatus` body: `name\0value\0`.
    fn parameter(&self, body: &[u8]) {
        self.0.session_changed.store(true, Ordering::Relaxed);
        if let Some(value) = body.strip_prefix(STANDARD_STRINGS) {
            let on = !value.starts_with(b"off");
            self.0.standard_strings.store(on, Ordering::Relaxed);
        } else if let Some(value) = body.strip_prefix(SERVER_VERSION) {
            // "15.5", "16beta1", "9.6.24": the digits before the first non-digit.
            let digits = value.iter().take_while(|b| b.is_ascii_digit());
            let major = digits.fold(0u32, |n, &b| n * 10 + u32::from(b - b'0'));
            self.0.major.store(major.min(255) as u8, Ordering::Relaxed);
        }
    }
}

/// Whether a command whose `CommandComplete` tag is `tag` leaves nothing in the session:
/// queries and changes of rows, and transaction control (a transaction's end is the
/// `ReadyForQuery` status's business). Everything else (`SET`, `CREATE TABLE` of a temporary
/// table, `LISTEN`, `DECLARE CURSOR`, `PREPARE`, ...) counts as a change.
fn leaves_session(tag: &[u8]) -> bool {
    let word = tag.split(|&b| b == b' ' || b == 0).next().unwrap_or(tag);
    matches!(
        word,
        b"SELECT"
            | b"INSERT"
            | b"UPDATE"
            | b"DELETE"
            | b"MERGE"
            | b"COPY"
            | b"FETCH"
            | b"MOVE"
            | b"SHOW"
            | b"EXPLAIN"
            | b"BEGIN"
            | b"START"
            | b"COMMIT"
            | b"ROLLBACK"
            | b"SAVEPOINT"
            | b"RELEASE"
    )
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
    /// The body of a short message being read (up to `LONGEST_KEPT` bytes).
    kept: Vec<u8>,
    /// The length of the current message's body.
    body_len: usize,
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
                // `ParameterStatus` ('S'), `CommandComplete` ('C'), and the writes probe's
                // `RowDescription` ('T') and `DataRow` ('D'): short bodies, read whole.
                let tag = self.header[0];
                let whole = self.kept.len() + n <= LONGEST_KEPT && self.body_len <= LONGEST_KEPT;
                if matches!(tag, b'S' | b'C' | b'T' | b'D') && whole {
                    self.kept.extend_from_slice(&bytes[..n]);
                    if n == self.left {
                        match tag {
                            b'S' => status.parameter(&self.kept),
                            b'C' => status.completed(&self.kept),
                            b'T' => status.row_description(&self.kept),
                            _ => status.data_row(&self.kept),
                        }
                    }
                } else if n == self.left && matches!(tag, b'T' | b'D') {
                    // Too long to be the probe's: whatever follows is not its answer.
                    status.0.probing.store(false, Ordering::Relaxed);
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
                self.body_len = self.left;
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

    /// The probe's row description and row, as the server sends them.
    fn probe_reply(answer: u8) -> Vec<u8> {
        let mut description = vec![0, 1];
        description.extend_from_slice(PROBE_COLUMN.as_bytes());
        description.extend_from_slice(&[0; 19]);
        let mut stream = message(b'T', &description);
        stream.extend(message(b'D', &[0, 1, 0, 0, 0, 1, answer]));
        stream.extend(message(b'C', b"SELECT 1\0"));
        stream.extend(message(b'Z', b"T"));
        stream
    }

    #[test]
    fn the_writes_probe_answer_is_read_off_the_stream() {
        for chunk in [1, 3, 1000] {
            let status = TxStatus::new();
            let mut framing = Framing::default();
            for piece in probe_reply(b'f').chunks(chunk) {
                framing.feed(piece, &status);
            }
            assert!(!status.take_probed_writes(), "chunks of {chunk}");
            for piece in probe_reply(b't').chunks(chunk) {
                framing.feed(piece, &status);
            }
            assert!(status.take_probed_writes(), "chunks of {chunk}");
            assert!(!status.take_probed_writes(), "taken");
        }
        // A user's one-boolean row under another name is not the probe's.
        let status = TxStatus::new();
        let mut framing = Framing::default();
        let mut description = vec![0, 1];
        description.extend_from_slice(b"other\0");
        description.extend_from_slice(&[0; 18]);
        framing.feed(&message(b'T', &description), &status);
        framing.feed(&message(b'D', &[0, 1, 0, 0, 0, 1, b't']), &status);
        assert!(!status.take_probed_writes());
    }

    #[test]
    fn the_server_version_gives_the_probe() {
        let status = TxStatus::new();
        let mut framing = Framing::default();
        framing.feed(
            &message(b'S', b"server_version\x0015.14 (Debian 15.14-0+deb12u1)\0"),
            &status,
        );
        assert_eq!(status.major(), 15);
        assert!(writes_probe(15)
            .unwrap()
            .contains("pg_current_xact_id_if_assigned"));
        assert!(writes_probe(12)
            .unwrap()
            .contains("txid_current_if_assigned"));
        assert_eq!(writes_probe(9), None);
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
