//! A blocking client over `tokio_postgres`, as the `postgres` crate's, that can also send a
//! request without waiting for its reply: what sending `BEGIN` together with the first
//! statement and a return's `ROLLBACK` without a round trip needs.
//!
//! `tokio_postgres` writes every request that is queued when its connection is polled in one
//! go, and the server answers in order: a request whose reply nobody waits for still has it
//! read (and dropped) before the replies that follow it.

use crate::error::map_err;
use crate::link::{Drive, Link};
use crate::negotiate::{driver_config, Negotiate};
use crate::runtime::{in_async_context, runtime_gone, Exec, OnRuntime};
use crate::status::{Tap, TxStatus};
use nimue_core::{Error, Result};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::runtime::Handle;
use tokio_postgres::config::Host;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{Config, Socket};

/// One connection to the server: the async client, what drives its socket, and what runs
/// the futures of the synchronous API.
pub(crate) struct Client {
    /// The async client (requests go from it to the connection through a channel); `None`
    /// only while the client is dropped.
    inner: Option<tokio_postgres::Client>,
    /// What the server last said of the session's transaction.
    status: TxStatus,
    /// `None` only while the client is dropped.
    link: Option<Link>,
    /// `None` while a synchronous call runs (it is taken out for it), or after a panic in one.
    exec: Option<Exec>,
}

/// A TLS connector the connect futures can carry across threads: what every connect here takes.
pub(crate) trait MakeTls:
    MakeTlsConnect<Socket, TlsConnect: Send + TlsConnect<Socket, Future: Send>, Stream: Send>
    + Send
    + 'static
{
}

impl<T> MakeTls for T where
    T: MakeTlsConnect<Socket, TlsConnect: Send + TlsConnect<Socket, Future: Send>, Stream: Send>
        + Send
        + 'static
{
}

/// What connecting makes: the async client and its connection.
type Opened = (tokio_postgres::Client, Box<dyn Drive + Send>);

impl Client {
    /// Connect with `config` (the connect timeout is the config's), with TLS from `tls` as the
    /// config's `sslmode` says, on a current-thread runtime of the connection's own or, given
    /// `on`, on that runtime (its reactor serves the socket: the connection can then be used
    /// from async code on it without a thread of its own). The server's transaction status is
    /// tapped from the stream.
    pub(crate) fn connect<T>(
        config: &Config,
        tls: Option<T>,
        on: Option<&OnRuntime>,
    ) -> Result<Client>
    where
        T: MakeTls,
    {
        let status = TxStatus::new();
        let Some(runtime) = on else {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| {
                    Error::interface_from(
                        format!("starting the PostgreSQL client's runtime: {e}"),
                        e,
                    )
                })?;
            let opened = runtime.block_on(open(config, tls, &status))?;
            let handle = runtime.handle().clone();
            return Ok(Client::new(
                opened,
                status,
                handle,
                None,
                Exec::Own(runtime),
            ));
        };
        if runtime.gone() {
            return Err(runtime_gone());
        }
        if runtime.served_here() {
            return Err(Error::interface(
                "cannot open a PostgreSQL connection for this current-thread runtime \
                 synchronously on its own thread (the thread that would serve its socket is the \
                 one waiting): build the pool with build_lazy() (it opens connections in the \
                 background), or open it with AsyncConnect::connect",
            ));
        }
        let handle = &runtime.handle;
        let opened = if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread {
            open_as_task(handle, config, tls, &status)?
        } else if in_async_context() {
            // A runtime's thread cannot wait for it: the wait happens on a thread of its own.
            std::thread::scope(|s| {
                s.spawn(|| handle.block_on(open(config, tls, &status)))
                    .join()
                    .unwrap_or_else(|_| Err(Error::interface("connecting panicked")))
            })?
        } else {
            handle.block_on(open(config, tls, &status))?
        };
        Ok(Client::on_runtime(opened, status, runtime.clone()))
    }

    /// [`connect`](Self::connect) from async code, on the runtime it runs on (which is
    /// `known`, if given).
    pub(crate) async fn connect_here<T>(
        config: &Config,
        tls: Option<T>,
        known: Option<OnRuntime>,
    ) -> Result<Client>
    where
        T: MakeTls,
    {
        let handle = Handle::try_current().map_err(|_| {
            Error::interface(
                "a PostgreSQL connection for async code is opened on a tokio runtime: await it \
                 inside one, or name one with PgConnector::runtime",
            )
        })?;
        let status = TxStatus::new();
        let opened = open(config, tls, &status).await?;
        let runtime = known.unwrap_or_else(|| OnRuntime::new(handle));
        Ok(Client::on_runtime(opened, status, runtime))
    }

    fn on_runtime(opened: Opened, status: TxStatus, runtime: OnRuntime) -> Client {
        let handle = runtime.handle.clone();
        Client::new(
            opened,
            status,
            handle.clone(),
            Some(runtime.alive),
            Exec::Caller(handle),
        )
    }

    fn new(
        (inner, connection): Opened,
        status: TxStatus,
        handle: Handle,
        runtime_alive: Option<Weak<()>>,
        exec: Exec,
    ) -> Client {
        Client {
            inner: Some(inner),
            status,
            link: Some(Link::new(connection, handle, runtime_alive)),
            exec: Some(exec),
        }
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

    /// The async client, and the link to run its futures with.
    pub(crate) fn parts(&mut self) -> (&tokio_postgres::Client, &mut Link) {
        let inner = self
            .inner
            .as_ref()
            .expect("the client is there until dropped");
        let link = self.link.as_mut().expect("the link is there until dropped");
        (inner, link)
    }

    /// Give up the connection when one wait for the server lasts longer than `patience`
    /// (a hung server or a silent network): the wait fails with an `OperationalError` and the
    /// connection is closed.
    pub(crate) fn set_patience(&mut self, patience: Option<Duration>) {
        self.parts().1.set_patience(patience);
    }

    /// Whether the connection is closed (the server went away, or a fatal error), or cannot
    /// be used any more (its runtime shut down, or a panic took what runs it).
    pub(crate) fn is_closed(&self) -> bool {
        self.exec.is_none()
            || self.link.as_ref().is_none_or(Link::is_ended)
            || self.inner.as_ref().is_none_or(|c| c.is_closed())
    }

    /// Whether the socket is served by a runtime of the connection's own (it was opened for
    /// synchronous use): async code cannot await it.
    pub(crate) fn owns_runtime(&self) -> bool {
        matches!(self.exec, Some(Exec::Own(_)))
    }

    /// Run the future `op` makes of `this` to its end on this thread: the synchronous API.
    /// Inside an async runtime's context (where a runtime cannot be waited on) the wait
    /// happens on a thread of its own; refused only where it could never end: on the one
    /// thread of the current-thread runtime that serves the connection's socket.
    pub(crate) fn blocking<S: HasClient + Send, T: Send>(
        this: &mut S,
        op: impl AsyncFnOnce(&mut S) -> Result<T> + Send,
    ) -> Result<T> {
        let Some(exec) = this.client().exec.take() else {
            return Err(lost());
        };
        let done = if !in_async_context() {
            exec.block_on(op(this))
        } else if exec.served_here() {
            Err(Error::interface(
                "this PostgreSQL connection's socket is served by the current-thread runtime \
                 this code runs on, which a blocking call would stop: use its async methods \
                 (nimue::aio::AsyncConnection)",
            ))
        } else {
            std::thread::scope(|s| {
                s.spawn(|| exec.block_on(op(this)))
                    .join()
                    .unwrap_or_else(|_| {
                        Err(Error::interface("the PostgreSQL client's thread panicked"))
                    })
            })
        };
        this.client().exec = Some(exec);
        done
    }
}

impl Client {
    /// Run the future `f` makes of the async client to its end on this thread (it need not
    /// be `Send`, so it never moves to another thread): inside an async runtime's context it is
    /// refused with an `InterfaceError` that says what to use instead.
    pub(crate) fn block_on_local<T>(
        &mut self,
        f: impl for<'a> FnOnce(&'a tokio_postgres::Client) -> crate::ClientFuture<'a, T>,
    ) -> Result<T> {
        if in_async_context() {
            return Err(Error::interface(
                "PgConnection::run cannot run on an async runtime's thread (it waits for the \
                 server): call it inside PooledConnection::interact or Pool::interact",
            ));
        }
        let Some(exec) = self.exec.take() else {
            return Err(lost());
        };
        let (client, link) = self.parts();
        let done = exec.block_on(link.run(f(client)));
        self.exec = Some(exec);
        done
    }
}

/// What holds a [`Client`]: a connection, or a cursor's stream.
pub(crate) trait HasClient {
    fn client(&mut self) -> &mut Client;
}

impl HasClient for Client {
    fn client(&mut self) -> &mut Client {
        self
    }
}

/// The error of a connection whose runtime a panic took.
fn lost() -> Error {
    Error::interface("the PostgreSQL connection was lost to a panic during a call")
}

/// How long a current-thread runtime's timers may stay still while this thread waits for a
/// connection it opens before the runtime's thread is taken to be blocked (waiting for this
/// very connection, or on its way out).
const STILL: Duration = Duration::from_secs(1);

/// Open a connection as a task of the current-thread runtime `handle`, waiting on this thread:
/// only the runtime's own thread can serve a socket of it, so the task must run there. A task
/// of the runtime ticks meanwhile; if its ticks stop for [`STILL`] (however slow the server),
/// that thread is not running the runtime (a synchronous `Pool::build` on it waiting for its
/// `min_idle` connections, or a pool dropped on it while it opens one): an `InterfaceError`
/// that says so, instead of a hang until the connect timeout.
fn open_as_task<T>(
    handle: &Handle,
    config: &Config,
    tls: Option<T>,
    status: &TxStatus,
) -> Result<Opened>
where
    T: MakeTls,
{
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::mpsc::RecvTimeoutError;
    const LOOK: Duration = Duration::from_millis(100);
    // A count, ordering nothing else: relaxed.
    let ticks = Arc::new(AtomicU64::new(0));
    let ticking = Arc::clone(&ticks);
    let beat = handle.spawn(async move {
        let mut every = tokio::time::interval(LOOK / 2);
        loop {
            every.tick().await;
            ticking.fetch_add(1, Ordering::Relaxed);
        }
    });
    let (done, outcome) = std::sync::mpsc::sync_channel(1);
    let (config, status) = (config.clone(), status.clone());
    drop(handle.spawn(async move {
        let _ = done.send(open(&config, tls, &status).await);
    }));
    let (mut seen, mut still) = (0, Duration::ZERO);
    let answer = loop {
        match outcome.recv_timeout(LOOK) {
            Ok(opened) => break opened,
            Err(RecvTimeoutError::Disconnected) => {
                break Err(Error::interface("the connect task ended without an answer"))
            }
            Err(RecvTimeoutError::Timeout) => {
                let now = ticks.load(Ordering::Relaxed);
                still = if now == seen {
                    still + LOOK
                } else {
                    Duration::ZERO
                };
                seen = now;
                if still >= STILL {
                    break Err(Error::interface(
                        "the current-thread runtime this PostgreSQL connection is for is not \
                         running (its thread is blocked: a synchronous Pool::build on it waits \
                         for min_idle connections that only that thread can open, or a pool is \
                         dropped on it): build the pool with build_lazy() (it opens connections \
                         in the background), or use a multi-thread runtime",
                    ));
                }
            }
        }
    };
    beat.abort();
    answer
}

/// Connect over TCP (with TLS as negotiated) or the Unix-domain sockets `config` names, in
/// the current runtime's context.
async fn open<T>(config: &Config, tls: Option<T>, status: &TxStatus) -> Result<Opened>
where
    T: MakeTls,
{
    if has_unix_host(config) {
        let (inner, connection) = connect_unix(config, status).await?;
        return Ok((inner, Box::new(connection)));
    }
    let negotiate = Negotiate {
        tls,
        mode: config.get_ssl_mode(),
        negotiation: config.get_ssl_negotiation(),
        status: status.clone(),
    };
    let (inner, connection) = driver_config(config)
        .connect(negotiate)
        .await
        .map_err(map_err)?;
    Ok((inner, Box::new(connection)))
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
    /// its side.) On the caller's runtime that is a task of it; on a runtime of the
    /// connection's own inside an async runtime's context (where it can be neither run nor
    /// dropped), a thread of its own.
    fn drop(&mut self) {
        let (Some(inner), Some(link), Some(exec)) =
            (self.inner.take(), self.link.take(), self.exec.take())
        else {
            return;
        };
        drop(inner);
        match exec {
            Exec::Caller(handle) => {
                if !link.runtime_gone() {
                    drop(handle.spawn(link.goodbye()));
                }
            }
            Exec::Own(runtime) if in_async_context() => {
                let goodbye = std::thread::Builder::new()
                    .name("nimue-pg-close".into())
                    .spawn(move || runtime.block_on(link.goodbye()));
                if let Err(e) = goodbye {
                    log::warn!("closing a PostgreSQL connection: no thread for it: {e}");
                }
            }
            Exec::Own(runtime) => runtime.block_on(link.goodbye()),
        }
    }
}
