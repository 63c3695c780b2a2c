//! A blocking client over `tokio_postgres`, as the `postgres` crate's, that can also send a
//! request without waiting for its reply: what sending `BEGIN` together with the first
//! statement and a return's `ROLLBACK` without a round trip needs.
//!
//! `tokio_postgres` writes every request that is queued when its connection is polled in one
//! go, and the server answers in order: a request whose reply nobody waits for still has it
//! read (and dropped) before the replies that follow it.

use crate::error::map_err;
use nimue_core::{Error, Result};
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::runtime::Runtime;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{AsyncMessage, Config, Socket};

/// How long dropping a client waits to write its goodbye.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// One connection to the server: the async client and what drives its socket.
pub(crate) struct Client {
    /// The async client (requests go from it to the connection through a channel); `None`
    /// only while the client is dropped.
    inner: Option<tokio_postgres::Client>,
    driver: Driver,
}

/// Runs the client's futures on this thread, driving the connection (the socket) meanwhile.
pub(crate) struct Driver {
    runtime: Runtime,
    connection: Box<dyn Drive + Send>,
    /// The connection has ended (closed or failed): it must not be polled again.
    ended: bool,
    /// How long one wait for the server may last before the connection is given up.
    patience: Option<Duration>,
}

/// A `tokio_postgres::Connection` of any stream type.
trait Drive {
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

impl Client {
    /// Connect with `config` (the connect timeout is the config's).
    pub(crate) fn connect<T>(config: &Config, tls: T) -> Result<Client>
    where
        T: MakeTlsConnect<Socket> + 'static + Send,
        T::TlsConnect: Send,
        T::Stream: Send,
        <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
    {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                Error::interface_from(format!("starting the PostgreSQL client's runtime: {e}"), e)
            })?;
        let (inner, connection) = runtime.block_on(config.connect(tls)).map_err(map_err)?;
        Ok(Client {
            inner: Some(inner),
            driver: Driver {
                runtime,
                connection: Box::new(connection),
                ended: false,
                patience: None,
            },
        })
    }

    /// The async client.
    pub(crate) fn inner(&self) -> &tokio_postgres::Client {
        self.inner
            .as_ref()
            .expect("the client is there until dropped")
    }

    /// The async client, and the driver to run its futures on.
    pub(crate) fn parts(&mut self) -> (&tokio_postgres::Client, &mut Driver) {
        let inner = self
            .inner
            .as_ref()
            .expect("the client is there until dropped");
        (inner, &mut self.driver)
    }

    /// Give up the connection when one wait for the server lasts longer than `patience`
    /// (a hung server or a silent network): the wait fails with an `OperationalError` and the
    /// connection is closed.
    pub(crate) fn set_patience(&mut self, patience: Option<Duration>) {
        self.driver.patience = patience;
    }

    /// Whether the connection is closed (the server went away, or a fatal error).
    pub(crate) fn is_closed(&self) -> bool {
        self.driver.ended || self.inner.as_ref().is_none_or(|c| c.is_closed())
    }
}

impl Driver {
    /// Run `future` to its end, reading and writing the socket meanwhile.
    pub(crate) fn block_on<T>(
        &mut self,
        future: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T> {
        let mut future = pin!(future);
        let (connection, ended) = (&mut self.connection, &mut self.ended);
        let done = poll_fn(|cx| {
            if let Poll::Ready(Err(e)) = drive(connection.as_mut(), ended, cx) {
                return Poll::Ready(Err(e));
            }
            future.as_mut().poll(cx)
        });
        let Some(patience) = self.patience else {
            return self.runtime.block_on(done).map_err(map_err);
        };
        // (The timer is made inside the runtime, which it needs.)
        match self
            .runtime
            .block_on(async { tokio::time::timeout(patience, done).await })
        {
            Ok(done) => done.map_err(map_err),
            Err(_) => {
                // Mid-request: what the server sends later could not be matched to anything.
                self.ended = true;
                Err(Error::operational(format!(
                    "no answer from the PostgreSQL server within {patience:?} (the statement \
                     timeout and a second): the connection is given up"
                )))
            }
        }
    }

    /// Send the request(s) `future` makes when first polled, and write them to the socket,
    /// without waiting for the reply: the connection reads and drops it later, before the
    /// reply to anything sent after. A failure shows in the next request (the connection is
    /// then closed).
    pub(crate) fn send(&mut self, future: impl Future) {
        let mut future = pin!(future);
        let (connection, ended) = (&mut self.connection, &mut self.ended);
        self.runtime.block_on(poll_fn(|cx| {
            let _ = future.as_mut().poll(cx);
            let _ = drive(connection.as_mut(), ended, cx);
            Poll::Ready(())
        }));
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

impl Drop for Client {
    /// Say goodbye (`Terminate`) and close the socket: the connection does that once the
    /// async client is gone.
    /// (Bounded: the connection does not wait for the server to close its side.)
    fn drop(&mut self) {
        drop(self.inner.take());
        let Driver {
            runtime,
            connection,
            ended,
            ..
        } = &mut self.driver;
        let closed = poll_fn(|cx| drive(connection.as_mut(), ended, cx).map(drop));
        // (The timer is made inside the runtime, which it needs.)
        let _ = runtime.block_on(async { tokio::time::timeout(CLOSE_TIMEOUT, closed).await });
    }
}
