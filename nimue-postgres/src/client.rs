//! A blocking client over `tokio_postgres`, as the `postgres` crate's, that can also send a
//! request without waiting for its reply: what sending `BEGIN` together with the first
//! statement and a return's `ROLLBACK` without a round trip needs.
//!
//! `tokio_postgres` writes every request that is queued when its connection is polled in one
//! go, and the server answers in order: a request whose reply nobody waits for still has it
//! read (and dropped) before the replies that follow it.

use crate::error::map_err;
use crate::negotiate::{driver_config, Negotiate};
use crate::status::{Tap, TxStatus};
use nimue_core::{Error, Result};
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::runtime::Runtime;
use tokio_postgres::config::Host;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{AsyncMessage, Config, Socket};

/// How long dropping a client waits to write its goodbye.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// One connection to the server: the async client and what drives its socket.
pub(crate) struct Client {
    /// The async client (requests go from it to the connection through a channel); `None`
    /// only while the client is dropped.
    inner: Option<tokio_postgres::Client>,
    /// What the server last said of the session's transaction.
    status: TxStatus,
    /// `None` only while the client is dropped.
    driver: Option<Driver>,
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
    /// Connect with `config` (the connect timeout is the config's), with TLS from `tls` as the
    /// config's `sslmode` says. The server's transaction status is tapped from the stream.
    pub(crate) fn connect<T>(config: &Config, tls: Option<T>) -> Result<Client>
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
        let status = TxStatus::new();
        let (inner, connection): (_, Box<dyn Drive + Send>) = if has_unix_host(config) {
            let (inner, connection) = runtime.block_on(connect_unix(config, &status))?;
            (inner, Box::new(connection))
        } else {
            let negotiate = Negotiate {
                tls,
                mode: config.get_ssl_mode(),
                negotiation: config.get_ssl_negotiation(),
                status: status.clone(),
            };
            let (inner, connection) = runtime
                .block_on(driver_config(config).connect(negotiate))
                .map_err(map_err)?;
            (inner, Box::new(connection))
        };
        Ok(Client {
            inner: Some(inner),
            status,
            driver: Some(Driver {
                runtime,
                connection,
                ended: false,
                patience: None,
            }),
        })
    }

    /// Whether the server said, when it was last ready, that a transaction is open: true
    /// after every request whose reply was read (all replies come in order).
    pub(crate) fn server_in_transaction(&self) -> bool {
        self.status.in_transaction()
    }

    /// Whether a SQL `PREPARE` ran since the last call.
    pub(crate) fn take_sql_prepared(&self) -> bool {
        self.status.take_sql_prepared()
    }

    /// The server's own word on the session: what its messages reported.
    pub(crate) fn status(&self) -> &crate::status::TxStatus {
        &self.status
    }

    /// The session's `standard_conforming_strings`, as the server last reported it.
    pub(crate) fn standard_strings(&self) -> bool {
        self.status.standard_strings()
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
        let driver = self
            .driver
            .as_mut()
            .expect("the driver is there until dropped");
        (inner, driver)
    }

    /// Give up the connection when one wait for the server lasts longer than `patience`
    /// (a hung server or a silent network): the wait fails with an `OperationalError` and the
    /// connection is closed.
    pub(crate) fn set_patience(&mut self, patience: Option<Duration>) {
        self.parts().1.patience = patience;
    }

    /// Whether the connection is closed (the server went away, or a fatal error).
    pub(crate) fn is_closed(&self) -> bool {
        self.driver.as_ref().is_none_or(|d| d.ended)
            || self.inner.as_ref().is_none_or(|c| c.is_closed())
    }
}

impl Driver {
    /// Run `future` to its end, reading and writing the socket meanwhile.
    pub(crate) fn block_on<T: Send>(
        &mut self,
        future: impl Future<Output = Result<T, tokio_postgres::Error>> + Send,
    ) -> Result<T> {
        if in_async_context() {
            // This runtime cannot run here: it runs on a thread of its own meanwhile (this
            // thread waits: a synchronous call blocks, as it does anywhere; async code should
            // use `interact`).
            return std::thread::scope(|s| {
                let waited = s.spawn(|| self.block_on_here(future));
                waited.join().unwrap_or_else(|_| {
                    Err(Error::interface("the PostgreSQL client's thread panicked"))
                })
            });
        }
        self.block_on_here(future)
    }

    /// [`block_on`](Self::block_on) for a future that must stay on this thread: inside an
    /// async runtime's context it is refused with an `InterfaceError` that names `interact`.
    pub(crate) fn block_on_local<T>(
        &mut self,
        future: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T> {
        if in_async_context() {
            return Err(Error::interface(
                "PgConnection::run cannot run on an async runtime's thread (its client drives a \
                 runtime of its own): call it inside PooledConnection::interact or \
                 Pool::interact",
            ));
        }
        self.block_on_here(future)
    }

    fn block_on_here<T>(
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
    pub(crate) fn send(&mut self, future: impl Future + Send) {
        if in_async_context() {
            // As `block_on`: this runtime runs on a thread of its own for it.
            std::thread::scope(|s| {
                let _ = s.spawn(|| self.send_here(future)).join();
            });
            return;
        }
        self.send_here(future)
    }

    fn send_here(&mut self, future: impl Future) {
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

/// Whether `config` names a Unix-domain socket (a host that is a directory's path).
fn has_unix_host(config: &Config) -> bool {
    #[cfg(unix)]
    return config
        .get_hosts()
        .iter()
        .any(|h| matches!(h, Host::Unix(_)));
    #[cfg(not(unix))]
    false
}

/// Connect over the Unix-domain sockets `config` names, tried in order (no TLS there, as
/// libpq), each within the connect timeout.
#[cfg(unix)]
async fn connect_unix(
    config: &Config,
    status: &TxStatus,
) -> Result<(
    tokio_postgres::Client,
    tokio_postgres::Connection<Tap<tokio::net::UnixStream>, tokio_postgres::tls::NoTlsStream>,
)> {
    let mut plain = config.clone();
    plain.ssl_mode(tokio_postgres::config::SslMode::Disable);
    let ports = config.get_ports();
    let mut last = None;
    for (i, host) in config.get_hosts().iter().enumerate() {
        let Host::Unix(dir) = host else {
            return Err(Error::interface(
                "a PostgreSQL configuration may not mix Unix-domain sockets and TCP hosts",
            ));
        };
        let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
        let path = dir.join(format!(".s.PGSQL.{port}"));
        let attempt = async {
            let socket = tokio::net::UnixStream::connect(&path).await.map_err(|e| {
                Error::operational(format!("connecting to {}: {e}", path.display()))
            })?;
            plain
                .connect_raw(Tap::new(socket, status.clone()), tokio_postgres::NoTls)
                .await
                .map_err(map_err)
        };
        let outcome = match config.get_connect_timeout() {
            Some(timeout) => tokio::time::timeout(*timeout, attempt)
                .await
                .unwrap_or_else(|_| {
                    Err(Error::operational(format!(
                        "connecting to {}: timed out after {timeout:?}",
                        path.display()
                    )))
                }),
            None => attempt.await,
        };
        match outcome {
            Ok(connected) => return Ok(connected),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| Error::interface("no host to connect to")))
}

#[cfg(not(unix))]
async fn connect_unix(
    _: &Config,
    _: &TxStatus,
) -> Result<(
    tokio_postgres::Client,
    tokio_postgres::Connection<Socket, tokio_postgres::tls::NoTlsStream>,
)> {
    unreachable!("no Unix-domain sockets here")
}

impl Drop for Client {
    /// Say goodbye (`Terminate`) and close the socket: the connection does that once the
    /// async client is gone. (Bounded: the connection does not wait for the server to close
    /// its side.) Inside an async runtime's context, where this client's own runtime can be
    /// neither run nor dropped, that happens on a thread of its own.
    fn drop(&mut self) {
        let (Some(inner), Some(driver)) = (self.inner.take(), self.driver.take()) else {
            return;
        };
        if in_async_context() {
            let goodbye = std::thread::Builder::new()
                .name("nimue-pg-close".into())
                .spawn(move || goodbye(inner, driver));
            if let Err(e) = goodbye {
                log::warn!("closing a PostgreSQL connection: no thread for it: {e}");
            }
            return;
        }
        goodbye(inner, driver);
    }
}

/// Drop the async client, then drive the connection until it has written its `Terminate`.
fn goodbye(inner: tokio_postgres::Client, mut driver: Driver) {
    drop(inner);
    let Driver {
        runtime,
        connection,
        ended,
        ..
    } = &mut driver;
    let closed = poll_fn(|cx| drive(connection.as_mut(), ended, cx).map(drop));
    // (The timer is made inside the runtime, which it needs.)
    let _ = runtime.block_on(async { tokio::time::timeout(CLOSE_TIMEOUT, closed).await });
}

/// Whether this thread is inside a tokio runtime's context where blocking on this client's
/// own runtime would panic ("Cannot start a runtime from within a runtime"): a runtime's
/// worker thread, or one in `block_on`; not nimue's blocking threads (where `interact` runs).
/// A user's own `spawn_blocking` thread counts as inside too (nothing public tells them apart).
fn in_async_context() -> bool {
    !nimue_core::pool::on_blocking_thread() && tokio::runtime::Handle::try_current().is_ok()
}
