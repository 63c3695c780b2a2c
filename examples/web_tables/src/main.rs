//! web_tables: a small web app that lists the tables of a database as JSON, with one nimue
//! pool for the app's lifetime (the example from Python Nimue's README, in Rust).
//!
//! ```text
//! cargo run -p web_tables                               # embedded SQLite demo database
//! cargo run -p web_tables --all-features -- --database-url postgres://user:pass@127.0.0.1/db
//! curl http://127.0.0.1:8080/          # {"tables": ["authors", "books"]}
//! curl http://127.0.0.1:8080/health    # the pool's state
//! ```
//!
//! `--database-url` (or `DATABASE_URL`, which keeps the password off the command line) takes
//! `sqlite:PATH`, `postgres://…`, `mysql://…` or `odbc:…` (with the matching cargo feature).
//! Ctrl-C stops the server and closes the pool cleanly.
//!
//! Under load and faults: one thread does the HTTP (hyper on a one-thread tokio runtime) and
//! answers `/health` itself (it never waits for the database), as many workers as the pool has
//! connections serve `/`, a bounded queue sits in front of them, and a request the queue
//! cannot take, or one that found no connection within `--wait-ms`, gets a 503 with
//! `Retry-After` at once. A client that sends or reads nothing for `--client-timeout` seconds
//! is disconnected, and at most `--max-connections` are served at once.

mod app;
mod cli;
mod http;

use app::shown;
use clap::Parser;
use std::time::Duration;

/// Serve the tables of a database as JSON over HTTP (`GET /`), and the connection pool's
/// health (`GET /health`).
#[derive(Parser, Debug)]
#[command(name = "web_tables", version, long_about = None)]
struct Args {
    #[command(flatten)]
    serve: cli::ServeArgs,
    /// Threads serving `/`; default: one per pool connection (`--max`).
    #[arg(long)]
    workers: Option<usize>,
    /// Requests for `/` that may wait for a worker; more get 503 at once. Default: 4 per
    /// worker.
    #[arg(long)]
    queue: Option<usize>,
    /// How long a connection waits for the client to send a request (or the next one on a
    /// kept-alive connection), and a write for the client to read, in seconds; then the
    /// connection is closed.
    #[arg(long, default_value_t = 10)]
    client_timeout: u64,
    /// HTTP connections served at once; more wait in the listen backlog.
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
}

fn main() {
    if let Err(message) = run(Args::parse()) {
        eprintln!("web_tables: {message}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<(), String> {
    let (url, builder) = args.serve.pool_builder("web_tables")?;
    let pool = builder
        .test_on_checkout(true)
        .build()
        .map_err(|e| format!("opening the pool: {e}"))?;
    let listener = std::net::TcpListener::bind(&args.serve.bind)
        .map_err(|e| format!("listening on {}: {e}", args.serve.bind))?;
    let workers = args.workers.unwrap_or(args.serve.max).max(1);
    let client_timeout = Duration::from_secs(args.client_timeout.max(1));
    let options = http::Options {
        workers,
        queue: args.queue.unwrap_or(workers * 4),
        read_timeout: client_timeout,
        write_timeout: client_timeout,
        max_connections: args.max_connections,
    };
    let running = http::serve(listener, app::App::new(pool, &url), options)
        .map_err(|e| format!("starting the HTTP server: {e}"))?;
    // The address really bound (`--bind 127.0.0.1:0` picks a free port).
    println!(
        "web_tables: serving {} on http://{}/",
        shown(&url),
        running.local_addr()
    );
    let shutdown = running.shutdown_handle();
    ctrlc::set_handler(move || shutdown.trigger())
        .map_err(|e| format!("installing the Ctrl-C handler: {e}"))?;
    running.join();
    println!("web_tables: stopped, pool closed");
    Ok(())
}
