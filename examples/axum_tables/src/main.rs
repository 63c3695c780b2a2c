//! axum_tables: the main job, web_tables, as an async service: axum on tokio, serving the same
//! JSON from one nimue pool.
//!
//! ```text
//! cargo run -p axum_tables                              # embedded SQLite demo database
//! cargo run -p axum_tables --all-features -- --database-url postgres://user:pass@127.0.0.1/db
//! curl http://127.0.0.1:8080/          # {"tables": ["authors", "books"]}
//! curl http://127.0.0.1:8080/health    # the pool's state
//! ```
//!
//! Handlers use nimue's async DB-API (`nimue::aio`): they wait for a connection with
//! `Pool::get_async` and await each statement (`AsyncConnection::query`), so no database I/O
//! ever runs on the runtime's threads (`routes.rs`). The pool's connections are
//! `BridgedConnector`s of the URL's: every adapter, each connection on a thread of its own.
//! `--threads 1` runs everything on one thread. Ctrl-C stops the server and closes the pool.

// web_tables' answers, shared (this program does not use its thread-pool side).
#[allow(dead_code)]
#[path = "../../web_tables/src/app.rs"]
mod app;
#[path = "../../web_tables/src/cli.rs"]
mod cli;
mod routes;

use app::{shown, App};
use clap::Parser;
use nimue::aio::BridgedConnector;
use std::sync::Arc;
use std::time::Duration;

/// Serve the tables of a database as JSON over HTTP (`GET /`), and the connection pool's
/// health (`GET /health`), from async handlers.
#[derive(Parser, Debug)]
#[command(name = "axum_tables", version, long_about = None)]
struct Args {
    #[command(flatten)]
    serve: cli::ServeArgs,
    /// The runtime's threads (1: a current-thread runtime).
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

fn main() {
    if let Err(message) = run(Args::parse()) {
        eprintln!("axum_tables: {message}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<(), String> {
    // Built before the runtime starts: `build` opens `--min` connections on this thread.
    let (url, builder) = args
        .serve
        .pool_builder_of("axum_tables", BridgedConnector::new)?;
    let pool = builder
        .build()
        .map_err(|e| format!("opening the pool: {e}"))?;
    let runtime = match args.threads {
        0 | 1 => tokio::runtime::Builder::new_current_thread(),
        n => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(n);
            builder
        }
    }
    .enable_all()
    .build()
    .map_err(|e| format!("starting the runtime: {e}"))?;
    let app = Arc::new(App::new(pool.clone(), &url));
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.serve.bind)
            .await
            .map_err(|e| format!("listening on {}: {e}", args.serve.bind))?;
        let bound = listener.local_addr().map_err(|e| e.to_string())?;
        println!("axum_tables: serving {} on http://{bound}/", shown(&url));
        axum::serve(listener, routes::router(app))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(|e| format!("serving: {e}"))
    })?;
    // Returns handed to blocking threads finish before the runtime is gone.
    runtime.shutdown_timeout(Duration::from_secs(10));
    pool.close();
    println!("axum_tables: stopped, pool closed");
    Ok(())
}
