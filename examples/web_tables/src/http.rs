//! The HTTP layer of web_tables: hyper (HTTP/1.1) on a one-thread tokio runtime in front of
//! the worker threads that talk to the database.
//!
//! The front thread does all network I/O: it answers `/health` (and unknown pages) itself, so
//! health checks never wait behind the database, and hands `GET /` to the workers through a
//! bounded queue; a request the queue cannot take gets a 503 with `Retry-After` at once. Every
//! connection has a read and a write timeout, and at most `max_connections` are served at once
//! (more wait in the kernel's listen backlog), so slow or stuck clients cannot pile up.

use crate::app::{App, RETRY_AFTER_SECS};
use bytes::Bytes;
use crossbeam::channel::{self, TrySendError};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{json, Value as Json};
use std::convert::Infallible;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;
use tokio::sync::{oneshot, Notify, Semaphore};
use tokio_io_timeout::TimeoutStream;

/// How the server is sized and how long it waits for clients.
#[derive(Clone, Debug)]
pub struct Options {
    /// Threads serving `GET /` (each holds at most one pool connection).
    pub workers: usize,
    /// Requests for `/` that may wait for a worker; more get 503 at once.
    pub queue: usize,
    /// How long a connection waits for the client to send: a request's headers, or the next
    /// request on a kept-alive connection. Then the connection is closed.
    pub read_timeout: Duration,
    /// How long a write may wait for the client to take the response. Then the connection is
    /// closed.
    pub write_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog until one ends.
    pub max_connections: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            workers: 4,
            queue: 16,
            read_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            max_connections: 1024,
        }
    }
}

/// A `GET /` on its way to a worker, with where its answer goes.
struct Job {
    method: String,
    path: String,
    reply: oneshot::Sender<(u16, Json)>,
}

/// What every connection's handler shares.
struct Front {
    app: Arc<App>,
    jobs: channel::Sender<Job>,
}

/// A running server: its threads, its address and what it serves.
pub struct Running {
    shutdown: Shutdown,
    threads: Vec<JoinHandle<()>>,
    app: Arc<App>,
    local_addr: SocketAddr,
}

/// Stops a [`Running`] server from anywhere (a Ctrl-C handler, a test).
#[derive(Clone)]
pub struct Shutdown {
    stop: Arc<Notify>,
}

impl Shutdown {
    /// Stop accepting and end the front thread; the workers follow once the queue is empty.
    pub fn trigger(&self) {
        // `notify_one` keeps the wake-up if the front is not waiting yet.
        self.stop.notify_one();
    }
}

/// Serve `app` on `listener` with `options.workers` threads for the requests that need a
/// connection and a queue of `options.queue` requests in front of them.
pub fn serve(listener: TcpListener, app: App, options: Options) -> io::Result<Running> {
    let local_addr = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let app = Arc::new(app);
    let (jobs, queue) = channel::bounded::<Job>(options.queue.max(1));
    let mut threads: Vec<JoinHandle<()>> = (0..options.workers.max(1))
        .map(|_| {
            let (queue, app) = (queue.clone(), Arc::clone(&app));
            thread::spawn(move || {
                // Ends when the front drops the last sender.
                for job in queue.iter() {
                    app.queued.fetch_sub(1, Ordering::Relaxed);
                    if job.reply.is_closed() {
                        continue; // the client is gone: no database work for nobody
                    }
                    let answer = app.respond(&job.method, &job.path);
                    let _ = job.reply.send(answer);
                }
            })
        })
        .collect();
    let stop = Arc::new(Notify::new());
    let front = Arc::new(Front {
        app: Arc::clone(&app),
        jobs,
    });
    let front_stop = Arc::clone(&stop);
    threads.push(thread::spawn(move || {
        runtime.block_on(accept_loop(listener, front, front_stop, options));
        // Dropping the runtime drops every connection's task, and with them the last
        // senders of the queue: the workers finish what is queued and end.
        runtime.shutdown_timeout(Duration::from_secs(1));
    }));
    Ok(Running {
        shutdown: Shutdown { stop },
        threads,
        app,
        local_addr,
    })
}

/// Accept connections until `stop`, each served on a task of its own.
async fn accept_loop(
    listener: TcpListener,
    front: Arc<Front>,
    stop: Arc<Notify>,
    options: Options,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => return eprintln!("web_tables: listening: {e}"),
    };
    let slots = Arc::new(Semaphore::new(options.max_connections.max(1)));
    loop {
        // A slot first: past `max_connections` new clients wait in the backlog.
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot.expect("the semaphore is never closed"),
            _ = stop.notified() => return,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors and the like: wait a little, do not spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.notified() => return,
        };
        let _ = stream.set_nodelay(true);
        let mut stream = TimeoutStream::new(stream);
        stream.set_read_timeout(Some(options.read_timeout));
        stream.set_write_timeout(Some(options.write_timeout));
        let front = Arc::clone(&front);
        let read_timeout = options.read_timeout;
        tokio::spawn(async move {
            // Both held until the connection ends, or its task is dropped at shutdown.
            let _slot = slot;
            let _open = Open::new(&front.app);
            let service = hyper::service::service_fn(move |request| {
                let front = Arc::clone(&front);
                async move { Ok::<_, Infallible>(handle(&front, request).await) }
            });
            // Errors here are the client's (it hung up, timed out or sent garbage).
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(read_timeout)
                .serve_connection(TokioIo::new(Box::pin(stream)), service)
                .await;
        });
    }
}

/// Counts a connection in the app's `connections` gauge (shown by `/health`) while it lives.
struct Open(Arc<App>);

impl Open {
    fn new(app: &Arc<App>) -> Self {
        app.connections.fetch_add(1, Ordering::Relaxed);
        Open(Arc::clone(app))
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One request's answer.
async fn handle(front: &Front, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = request.method().as_str();
    let path = request.uri().path();
    if let Some((status, body)) = front.app.answer_at_once(method, path) {
        return response(status, &body);
    }
    let (reply, answer) = oneshot::channel();
    let job = Job {
        method: method.to_owned(),
        path: path.to_owned(),
        reply,
    };
    front.app.queued.fetch_add(1, Ordering::Relaxed);
    match front.jobs.try_send(job) {
        Ok(()) => match answer.await {
            Ok((status, body)) => response(status, &body),
            Err(_) => response(503, &json!({ "error": "the server is stopping" })),
        },
        Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
            front.app.queued.fetch_sub(1, Ordering::Relaxed);
            front.app.refused.fetch_add(1, Ordering::Relaxed);
            response(
                503,
                &json!({ "error": "busy: too many requests waiting for the database" }),
            )
        }
    }
}

/// `(status, body)` as a JSON response; a 503 says when to come back.
fn response(status: u16, body: &Json) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if status == 503 {
        headers.insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
    }
    response
}

impl Running {
    /// The address the server listens on (the real port when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle that stops this server.
    pub fn shutdown_handle(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Wait for the threads to stop (after [`Shutdown::trigger`]), then close the pool.
    pub fn join(self) {
        for thread in self.threads {
            let _ = thread.join();
        }
        self.app.pool().close();
    }
}
