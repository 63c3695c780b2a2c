//! Run one test body on every database your code supports: what nimue's own conformance
//! suite does, for your tests.
//!
//! [`each_database`] runs the body on SQLite (a fresh database file) always, then on each
//! database whose URL is listed in the `NIMUE_DATABASES` environment variable (separated by
//! spaces or commas; any URL [`any::connector`] takes). A listed
//! database that cannot be reached fails the test: it is never skipped. Each run gets a
//! [`Pool`] of [`BoxConnection`](crate::BoxConnection)s, so the body is written once against
//! the traits, as the code it tests.
//!
//! `scripts/with-databases postgres mariadb -- cargo test` (in nimue's repository: copy it
//! into yours) starts throwaway servers on 127.0.0.1, sets `NIMUE_DATABASES` to their URLs,
//! runs the command and stops them; `examples/cross_db.rs` is a complete example.
//!
//! ```
//! use nimue::{matrix, params, Connection};
//!
//! // In a #[test]:
//! matrix::each_database(|db| {
//!     let mut conn = db.pool().get()?;
//!     conn.execute("CREATE TABLE IF NOT EXISTS notes (body VARCHAR(100))", &[])?;
//!     conn.execute("INSERT INTO notes VALUES (?)", &params!["hello"])?;
//!     let n: i64 = conn.query_scalar("SELECT COUNT(*) FROM notes", ())?;
//!     assert!(n >= 1, "on {}", db.name());
//!     conn.rollback()
//! });
//! ```

use crate::any;
use nimue_core::{BoxConnector, Error, Pool, Result};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The environment variable listing the databases besides SQLite.
pub const ENV: &str = "NIMUE_DATABASES";

/// One database of the matrix, as a test body sees it.
pub struct Database {
    name: String,
    pool: Pool<BoxConnector>,
}

impl Database {
    /// Its name: the backend (`sqlite`, `postgres`, `mysql`, `odbc`), as tests print it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A pool on it (`min_idle` 0, `max_size` 4), for this run of the body only.
    pub fn pool(&self) -> &Pool<BoxConnector> {
        &self.pool
    }
}

/// The URLs listed in [`ENV`].
pub fn listed() -> Vec<String> {
    std::env::var(ENV)
        .unwrap_or_default()
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|url| !url.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Run `body` on SQLite, then on every database listed in [`ENV`], each with a pool of its
/// own. An `Err` from the body, a panic in it, or a listed database that cannot be reached
/// fails (panics) naming the database; what was printed says which ones ran.
pub fn each_database(body: impl FnMut(&Database) -> Result<()>) {
    each_database_of(&listed(), body)
}

/// [`each_database`] on SQLite and the databases at `urls` (instead of those in [`ENV`]).
pub fn each_database_of(urls: &[String], mut body: impl FnMut(&Database) -> Result<()>) {
    let file = SqliteFile::new();
    let sqlite = format!("sqlite:{}", file.0.display());
    for url in std::iter::once(sqlite).chain(urls.iter().cloned()) {
        let db = open(&url).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("matrix: running on {}", db.name);
        if let Err(e) = body(&db) {
            panic!("on {}: {e}", db.name);
        }
        db.pool.close();
    }
}

/// A pool on `url`, with one working connection checked (errors name the backend, never
/// the URL: it may hold a password).
fn open(url: &str) -> Result<Database> {
    let connector = any::connector(url)?;
    let pool = Pool::builder(connector).min_idle(0).max_size(4).build()?;
    // try_get: a database that is down fails now, not after `connection_timeout`.
    let unusable =
        |e: Error| Error::interface(format!("a database listed in {ENV} cannot be used: {e}"));
    let conn = pool.try_get().map_err(unusable)?;
    let conn = conn.ok_or_else(|| unusable(Error::interface("no connection")))?;
    let name = nimue_core::PoolHooks::backend(&*conn).to_owned();
    drop(conn);
    Ok(Database { name, pool })
}

/// A fresh SQLite file in the temp directory, removed (with its journal files) on drop.
struct SqliteFile(PathBuf);

impl SqliteFile {
    fn new() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let name = format!("nimue-matrix-{}-{n}.db", std::process::id());
        let path = std::env::temp_dir().join(name);
        let file = SqliteFile(path);
        file.remove();
        file
    }

    fn remove(&self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Drop for SqliteFile {
    fn drop(&mut self) {
        self.remove();
    }
}
