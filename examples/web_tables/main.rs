//! web_tables: a small web app that lists the tables of a database as JSON, with one nimue
//! pool for the app's lifetime (the example from Python Nimue's README, in Rust).
//!
//! ```text
//! cargo run --example web_tables                        # embedded SQLite demo database
//! cargo run --example web_tables --all-features -- --database-url postgres://user:pass@127.0.0.1/db
//! curl http://127.0.0.1:8080/          # {"tables": ["authors", "books"]}
//! curl http://127.0.0.1:8080/health    # the pool's state
//! ```
//!
//! `--database-url` takes `sqlite:PATH`, `postgres://…`, `mysql://…` or `odbc:…` (with the
//! matching cargo feature). Ctrl-C stops the server and closes the pool cleanly.

mod app;

use clap::Parser;
use nimue::{Connect, Connection, Pool};
use std::path::PathBuf;
use std::time::Duration;

/// List a database's tables over HTTP.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Database URL; default: a demo SQLite database in the temp directory.
    #[arg(long)]
    database_url: Option<String>,
    /// Connections the pool keeps open even when idle.
    #[arg(long, default_value_t = 1)]
    min: usize,
    /// Most connections the pool opens.
    #[arg(long, default_value_t = 8)]
    max: usize,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: String,
    /// HTTP worker threads.
    #[arg(long, default_value_t = 4)]
    workers: usize,
}

fn main() {
    if let Err(message) = run(Args::parse()) {
        eprintln!("web_tables: {message}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<(), String> {
    let url = match args.database_url {
        Some(url) => url,
        None => demo_database().map_err(|e| format!("creating the demo database: {e}"))?,
    };
    let connector = nimue::any::connector(&url).map_err(|e| e.to_string())?;
    let pool = Pool::builder(connector)
        .name("web_tables")
        .min_idle(args.min)
        .max_size(args.max)
        .connection_timeout(Duration::from_secs(5))
        .test_on_checkout(true)
        .build()
        .map_err(|e| format!("opening the pool: {e}"))?;
    let server = tiny_http::Server::http(&args.bind)
        .map_err(|e| format!("listening on {}: {e}", args.bind))?;
    println!(
        "web_tables: serving {} on http://{}/",
        shown(&url),
        args.bind
    );
    let running = app::serve(server, app::App::new(pool, &url), args.workers);
    let shutdown = running.shutdown_handle();
    ctrlc::set_handler(move || shutdown.trigger())
        .map_err(|e| format!("installing the Ctrl-C handler: {e}"))?;
    running.join();
    println!("web_tables: stopped, pool closed");
    Ok(())
}

/// The URL without its password, for the log line.
fn shown(url: &str) -> String {
    if url
        .get(..5)
        .is_some_and(|s| s.eq_ignore_ascii_case("odbc:"))
    {
        // An ODBC connection string: `PWD=secret;` (any case) becomes `PWD=***;`.
        return url
            .split(';')
            .map(|part| match part.split_once('=') {
                Some((key, _)) if key.trim().eq_ignore_ascii_case("pwd") => format!("{key}=***"),
                _ => part.to_owned(),
            })
            .collect::<Vec<_>>()
            .join(";");
    }
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            let user = credentials.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// Create (once) a small SQLite database so the table list is not empty; its URL.
fn demo_database() -> nimue::Result<String> {
    let path: PathBuf = std::env::temp_dir().join("nimue-web-tables-demo.db");
    let url = format!("sqlite:{}", path.display());
    let mut conn = nimue::any::connector(&url)?.connect()?;
    conn.execute(
        "CREATE TABLE IF NOT EXISTS authors (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
        &[],
    )?;
    conn.execute(
        "CREATE TABLE IF NOT EXISTS books (id INTEGER PRIMARY KEY, \
         author_id INTEGER REFERENCES authors (id), title TEXT NOT NULL)",
        &[],
    )?;
    conn.commit()?;
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::shown;

    #[test]
    fn passwords_never_reach_the_log_line() {
        assert_eq!(
            shown("postgres://app:s3cret@127.0.0.1:5432/db"),
            "postgres://app:***@127.0.0.1:5432/db"
        );
        assert_eq!(
            shown("odbc:Driver={PostgreSQL Unicode};UID=app;pwd=s3cret;Database=db"),
            "odbc:Driver={PostgreSQL Unicode};UID=app;pwd=***;Database=db"
        );
        assert_eq!(shown("sqlite:/tmp/x.db"), "sqlite:/tmp/x.db");
    }
}
