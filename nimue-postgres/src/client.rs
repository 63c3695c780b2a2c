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
use std::pin::{pin, Pin};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::runtime::{Handle, Runtime};
use tokio_postgres::config::Host;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{AsyncMessage, Config, Socket};

/// How long dropping a client waits to write its goodbye.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

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

/// What runs the futures of the synchronous API to their end.
pub(crate) enum Exec {
    /// A current-thread runtime of the connection's own, run by the calling thread.
    Own(Runtime),
    /// The runtime the connection was opened on (the caller's, or the one the connector
    /// names): its reactor serves the socket while this thread waits.
    Caller(Handle),
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

/// A tokio runtime connections are opened on, and whether it still runs.
#[derive(Clone)]
pub(crate) struct OnRuntime {
    handle: Handle,
    /// Alive while the runtime is: a task of it holds the other end, dropped with it at its
    /// shutdown.
    alive: Weak<()>,
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
    fn served_here(&self) -> bool {
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
        T: MakeTlsConnect<Socket> + 'static + Send,
        T::TlsConnect: Send,
        T::Stream: Send,
        <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
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
        T: MakeTlsConnect<Socket> + 'static + Send,
        T::TlsConnect: Send,
        T::Stream: Send,
        <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
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
            link: Some(Link {
                connection,
                ended: false,
                patience: None,
                handle,
                runtime_alive,
            }),
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
        self.parts().1.patience = patience;
    }

    /// Whether the connection is closed (the server went away, or a fatal error), or cannot
    /// be used any more (its runtime shut down, or a panic took what runs it).
    pub(crate) fn is_closed(&self) -> bool {
        self.exec.is_none()
            || self
                .link
                .as_ref()
                .is_none_or(|l| l.ended || l.runtime_gone())
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
            match &exec {
                Exec::Own(runtime) => runtime.block_on(op(this)),
                Exec::Caller(handle) => handle.block_on(op(this)),
            }
        } else if exec.served_here() {
            Err(Error::interface(
                "this PostgreSQL connection's socket is served by the current-thread runtime \
                 this code runs on, which a blocking call would stop: use its async methods \
                 (nimue::aio::AsyncConnection)",
            ))
        } else {
            std::thread::scope(|s| {
                s.spawn(|| match &exec {
                    Exec::Own(runtime) => runtime.block_on(op(this)),
                    Exec::Caller(handle) => handle.block_on(op(this)),
                })
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
        let done = match &exec {
            Exec::Own(runtime) => runtime.block_on(link.run(f(client))),
            Exec::Caller(handle) => handle.block_on(link.run(f(client))),
        };
        self.exec = Some(exec);
        done
    }
}

impl Exec {
    /// Whether this thread is the only one that can serve the socket (the current-thread
    /// runtime the connection is on, running here).
    fn served_here(&self) -> bool {
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

    /// Whether the runtime that serves the socket has shut down.
    fn runtime_gone(&self) -> bool {
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
        let mut future = this.future;
        if let Poll::Ready(out) = future.as_mut().poll(cx) {
            return Poll::Ready(out.map_err(map_err));
        }
        if let Poll::Ready(Err(e)) = drive(link.connection.as_mut(), &mut link.ended, cx) {
            return Poll::Ready(Err(map_err(e)));
        }
        if let Poll::Ready(out) = future.as_mut().poll(cx) {
            return Poll::Ready(out.map_err(map_err));
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

/// The error of a connection whose runtime has shut down.
pub(crate) fn runtime_gone() -> Error {
    Error::operational(
        "the tokio runtime this PostgreSQL connection was opened on has shut down (a connection \
         belongs to the runtime that opened it, as with any tokio socket): the connection is \
         given up, and a pool replaces it",
    )
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
    T: MakeTlsConnect<Socket> + 'static + Send,
    T::TlsConnect: Send,
    T::Stream: Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
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
    T: MakeTlsConnect<Socket> + 'static + Send,
    T::TlsConnect: Send,
    T::Stream: Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
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
                    drop(handle.spawn(goodbye(link)));
                }
            }
            Exec::Own(runtime) if in_async_context() => {
                let goodbye = std::thread::Builder::new()
                    .name("nimue-pg-close".into())
                    .spawn(move || runtime.block_on(goodbye(link)));
                if let Err(e) = goodbye {
                    log::warn!("closing a PostgreSQL connection: no thread for it: {e}");
                }
            }
            Exec::Own(runtime) => runtime.block_on(goodbye(link)),
        }
    }
}

/// Drive the connection (its client gone) until it has written its `Terminate`.
async fn goodbye(mut link: Link) {
    let Link {
        connection, ended, ..
    } = &mut link;
    let closed = poll_fn(|cx| drive(connection.as_mut(), ended, cx).map(drop));
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, closed).await;
}

/// Whether this thread is inside a tokio runtime's context where blocking on this client's
/// own runtime would panic ("Cannot start a runtime from within a runtime"): a runtime's
/// worker thread, or one in `block_on`; not nimue's blocking threads (where `interact` runs).
/// A user's own `spawn_blocking` thread counts as inside too (nothing public tells them apart).
pub(crate) fn in_async_context() -> bool {
    !nimue_core::pool::on_blocking_thread() && tokio::runtime::Handle::try_current().is_ok()
}
