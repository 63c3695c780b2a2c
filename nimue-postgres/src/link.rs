//! [`Link`]: a connection's socket (tokio-postgres' `Connection`) and how long one wait on it
//! may last, polled together with every request of its client ([`Link::run`]) by whichever
//! task or thread awaits it; [`Link::send`] writes a request without waiting for anything.

use crate::error::{connection_lost, map_err};
use crate::runtime::runtime_gone;
use nimue_core::{Error, Result};
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::Weak;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::runtime::Handle;
use tokio_postgres::AsyncMessage;

/// How long closing a connection waits to write its goodbye.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// The connection (the socket) and how long one wait on it may last: what every future of
/// the client is polled together with ([`Link::run`]), on whichever task or thread awaits it.
pub(crate) struct Link {
    connection: Box<dyn Drive + Send>,
    /// The connection has ended (closed or failed): it must not be polled again.
    ended: bool,
    /// How long one wait for the server may last before the connection is given up.
    patience: Option<Duration>,
    /// The runtime whose reactor serves the socket (its timers serve the patience).
    handle: Handle,
    /// Alive while that runtime is (a task of it holds the other end): `None` for a runtime
    /// of the connection's own.
    runtime_alive: Option<Weak<()>>,
}

/// A `tokio_postgres::Connection` of any stream type.
pub(crate) trait Drive {
    fn poll_message(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<AsyncMessage, tokio_postgres::Error>>>;
}

impl<S, T> Drive for tokio_postgres::Connection<S, T>
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_message(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<AsyncMessage, tokio_postgres::Error>>> {
        tokio_postgres::Connection::poll_message(self, cx)
    }
}

impl Link {
    /// The link over `connection`, whose socket `handle`'s runtime serves (alive while
    /// `runtime_alive` is, if given).
    pub(crate) fn new(
        connection: Box<dyn Drive + Send>,
        handle: Handle,
        runtime_alive: Option<Weak<()>>,
    ) -> Link {
        Link {
            connection,
            ended: false,
            patience: None,
            handle,
            runtime_alive,
        }
    }

    /// Give up the connection when one wait lasts longer than `patience`.
    pub(crate) fn set_patience(&mut self, patience: Option<Duration>) {
        self.patience = patience;
    }

    /// Whether the connection has ended, or the runtime that serves it has.
    pub(crate) fn is_ended(&self) -> bool {
        self.ended || self.runtime_gone()
    }

    /// Drive the connection (its client gone) until it has written its `Terminate`.
    pub(crate) async fn goodbye(mut self) {
        let Link {
            connection, ended, ..
        } = &mut self;
        let closed = poll_fn(|cx| drive(connection.as_mut(), ended, cx).map(drop));
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, closed).await;
    }
}

impl Link {
    /// Run `future` to its end, reading and writing the socket meanwhile; a wait longer than
    /// the patience gives the connection up.
    pub(crate) fn run<F, T>(&mut self, future: F) -> Run<'_, F>
    where
        F: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        Run {
            link: self,
            future,
            timer: None,
        }
    }

    /// Send the request(s) `future` makes when first polled, and write them to the socket as
    /// far as it takes them now, without waiting for the reply (or for anything): the
    /// connection writes the rest and reads and drops the reply later, before the reply to
    /// anything sent after. A failure shows in the next request (the connection is then
    /// closed). Safe on any thread, an async runtime's too.
    pub(crate) fn send(&mut self, future: impl Future) {
        let mut future = pin!(future);
        let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
        // (Polled inside the connection's runtime context, which its socket was made in.)
        let _inside = self.handle.enter();
        let _ = future.as_mut().poll(&mut cx);
        let _ = drive(self.connection.as_mut(), &mut self.ended, &mut cx);
    }

    /// A request's outcome, as the caller's `Result`. An error of severity `FATAL` or
    /// `PANIC` is the server's word that it ends the session: the connection is over from
    /// that message on, not only once the socket's end (which may come a moment later) has
    /// been read; a pool asking `is_broken` in between would otherwise keep it.
    fn outcome<T>(&mut self, out: Result<T, tokio_postgres::Error>) -> Result<T> {
        out.map_err(|e| {
            if e.as_db_error().is_some_and(ends_session) {
                self.ended = true;
            }
            map_err(e)
        })
    }

    /// Whether the runtime that serves the socket has shut down.
    pub(crate) fn runtime_gone(&self) -> bool {
        self.runtime_alive
            .as_ref()
            .is_some_and(|alive| alive.strong_count() == 0)
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Link::run`]: a future of the client, polled together with the
    /// connection. (A struct rather than an `async fn`, so that the future it runs is in it
    /// once, not moved from an argument into a local of its own.) `timer`: the patience's
    /// deadline, from the first poll that waits.
    pub(crate) struct Run<'a, F> {
        link: &'a mut Link,
        #[pin]
        future: F,
        timer: Option<Pin<Box<tokio::time::Sleep>>>,
    }
}

impl<F, T> Future for Run<'_, F>
where
    F: Future<Output = Result<T, tokio_postgres::Error>>,
{
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let this = self.project();
        let link = &mut **this.link;
        if link.runtime_gone() {
            link.ended = true;
            return Poll::Ready(Err(runtime_gone()));
        }
        // The future first (what it sends is queued), then the connection (which writes it,
        // and reads and hands over what has come), then the future again (it takes what was
        // handed over): a request goes out and a reply is taken in the same poll, with no
        // wake-up of the task in between.
        if link.ended {
            // Nothing reads the socket any more: a request would wait for ever.
            return Poll::Ready(Err(connection_lost()));
        }
        let mut future = this.future;
        if let Poll::Ready(out) = future.as_mut().poll(cx) {
            return Poll::Ready(link.outcome(out));
        }
        if let Poll::Ready(Err(e)) = drive(link.connection.as_mut(), &mut link.ended, cx) {
            return Poll::Ready(Err(map_err(e)));
        }
        if let Poll::Ready(out) = future.as_mut().poll(cx) {
            return Poll::Ready(link.outcome(out));
        }
        let Some(patience) = link.patience else {
            return Poll::Pending;
        };
        let timer = this.timer.get_or_insert_with(|| {
            // The timer belongs to the connection's runtime (made inside its context).
            let _inside = link.handle.enter();
            Box::pin(tokio::time::sleep(patience))
        });
        if timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        // Mid-request: what the server sends later could not be matched to anything.
        link.ended = true;
        Poll::Ready(Err(Error::operational(format!(
            "no answer from the PostgreSQL server within {patience:?} (the statement timeout \
             and a second): the connection is given up"
        ))))
    }
}

/// Poll the connection until it has nothing to do: requests written, replies handed to their
/// futures. Notices are logged; an error ends the connection.
fn drive(
    connection: &mut (dyn Drive + Send),
    ended: &mut bool,
    cx: &mut Context<'_>,
) -> Poll<Result<(), tokio_postgres::Error>> {
    while !*ended {
        match connection.poll_message(cx) {
            Poll::Ready(Some(Ok(AsyncMessage::Notice(notice)))) => {
                log::info!("{}: {}", notice.severity(), notice.message());
            }
            Poll::Ready(Some(Ok(_))) => {}
            Poll::Ready(Some(Err(e))) => {
                *ended = true;
                return Poll::Ready(Err(e));
            }
            Poll::Ready(None) => *ended = true,
            Poll::Pending => return Poll::Pending,
        }
    }
    Poll::Ready(Ok(()))
}

/// Whether the server ends the session after this error (protocol: "FATAL", "PANIC").
fn ends_session(db: &tokio_postgres::error::DbError) -> bool {
    use tokio_postgres::error::Severity;
    matches!(
        db.parsed_severity(),
        Some(Severity::Fatal | Severity::Panic)
    )
}
