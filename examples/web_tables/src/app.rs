//! The web_tables application: what it answers (a database's tables, the pool's health), with
//! one pool for the app's lifetime. `http.rs` serves it; both are shared by the example's
//! `main.rs` and its integration test.

use nimue::aio::{AsyncConnection, Bridged, BridgedConnector};
use nimue::{BoxConnection, BoxConnector, Connect, Connection, Error, ErrorKind, Pool, Row};
use serde_json::{json, Value as Json};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// What a 503 tells the client to wait before trying again, in seconds (`Retry-After`).
pub const RETRY_AFTER_SECS: &str = "1";
/// The longest part of a request's path an error message repeats.
const PATH_SHOWN: usize = 100;

/// What the app serves from: a pool of `K`'s connections (web_tables' are blocking ones;
/// axum_tables' are [`AsyncApp`]'s, async ones over the same connectors).
pub struct App<K: Connect = BoxConnector> {
    pool: Pool<K>,
    /// The query that lists the database's tables: known from the URL's scheme, or learnt
    /// from the database on the first request (ODBC).
    tables_sql: OnceLock<&'static str>,
    /// Requests for `/` waiting for a worker (the bounded queue's length), kept by the HTTP
    /// layer; a gauge shown by `/health`, ordering nothing.
    pub(crate) queued: AtomicUsize,
    /// Requests refused with a 503 because the queue was full (a counter, ordering nothing).
    pub(crate) refused: AtomicU64,
    /// HTTP connections open now (a gauge, ordering nothing).
    pub(crate) connections: AtomicUsize,
}

/// axum_tables' app: the pool's checkouts are async connections (`nimue::aio`), each
/// connection on a thread of its own, so handlers await every statement.
#[allow(dead_code)] // (axum_tables')
pub type AsyncApp = App<BridgedConnector<BoxConnector>>;

impl<K: Connect> App<K> {
    /// An app over `pool`, the pool of `url`'s database.
    pub fn new(pool: Pool<K>, url: &str) -> Self {
        let tables_sql = OnceLock::new();
        if let Some(sql) = tables_query(url) {
            let _ = tables_sql.set(sql);
        }
        App {
            pool,
            tables_sql,
            queued: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
            connections: AtomicUsize::new(0),
        }
    }

    /// `GET /health`: the pool's state and the HTTP queue's. It reads numbers only: it never
    /// waits for a connection.
    pub fn health(&self) -> Json {
        let s = self.pool.state();
        json!({
            "status": if s.is_closed { "closed" } else { "ok" },
            "pool": {
                "name": self.pool.name(),
                "idle": s.idle,
                "in_use": s.in_use,
                "pending": s.pending,
                "total": s.total,
                "waiting": s.waiting,
                "min_idle": s.min_idle,
                "max_size": s.max_size,
                "gets": s.gets,
                "waits": s.waits,
                "wait_time_ms": s.wait_time.as_secs_f64() * 1e3,
                "timeouts": s.timeouts,
                "created": s.created,
                "closed": s.closed,
                "broken": s.broken,
                "checks_failed": s.checks_failed,
                "connect_failures": s.connect_failures,
                "direct": s.direct,
                "rejected": s.rejected,
                "retired_idle": s.retired_idle,
                "retired_lifetime": s.retired_lifetime,
                "evicted": s.evicted,
                "last_connect_error": s.last_connect_error,
            },
            "http": {
                "queued": self.queued.load(Ordering::Relaxed),
                "refused": self.refused.load(Ordering::Relaxed),
                "connections": self.connections.load(Ordering::Relaxed),
            },
        })
    }

    /// The answer to a request that needs no connection (`/health`, an unknown page, a
    /// wrong method), or `None` for one that does (`GET /`).
    pub fn answer_at_once(&self, method: &str, path: &str) -> Option<(u16, Json)> {
        let path = path.split('?').next().unwrap_or("");
        let read = matches!(method, "GET" | "HEAD");
        Some(match (read, path) {
            (true, "/") => return None,
            (true, "/health") => (200, self.health()),
            (false, "/" | "/health") => (405, json!({ "error": "method not allowed" })),
            _ => {
                let shown: String = path.chars().take(PATH_SHOWN).collect();
                let more = if shown.len() < path.len() { "…" } else { "" };
                (
                    404,
                    json!({ "error": format!("no such page: {shown}{more}") }),
                )
            }
        })
    }

    /// The pool, e.g. to close it on shutdown.
    pub fn pool(&self) -> &Pool<K> {
        &self.pool
    }
}

#[allow(dead_code)] // (axum_tables')
impl AsyncApp {
    /// `GET /` from async code: `{"tables": [...]}`, every statement awaited (a checkout
    /// waited for as a task; the connection goes back when `conn` drops).
    pub async fn tables_async(&self) -> Result<Json, Error> {
        let mut conn = self.pool.get_async().await?;
        let rows = match self.tables_sql.get() {
            Some(sql) => conn.query(sql, ()).await?,
            None => {
                let (sql, rows) = Bridged::run(&mut conn, discover_tables_query).await?;
                let _ = self.tables_sql.set(sql);
                rows
            }
        };
        names_json(&rows)
    }
}

impl App {
    /// `GET /`: `{"tables": [...]}`. The connection goes back to the pool when `conn` drops,
    /// on every path out of this function, errors and panics included.
    fn tables(&self) -> Result<Json, Error> {
        let mut conn = self.pool.get()?;
        self.list_tables(&mut conn)
    }

    /// `{"tables": [...]}`, read on `conn` (any connection of this app's database).
    pub fn list_tables(&self, conn: &mut BoxConnection) -> Result<Json, Error> {
        let rows = match self.tables_sql.get() {
            Some(sql) => conn.query(sql, &[])?,
            None => {
                let (sql, rows) = discover_tables_query(conn)?;
                let _ = self.tables_sql.set(sql);
                rows
            }
        };
        names_json(&rows)
    }

    /// Answer one request: a status code and a JSON body. Never panics on bad input.
    pub fn respond(&self, method: &str, path: &str) -> (u16, Json) {
        self.answer_at_once(method, path)
            .unwrap_or_else(|| match self.tables() {
                Ok(body) => (200, body),
                Err(e) => (status_of(&e), error_json(&e)),
            })
    }
}

/// `{"tables": [...]}` of the rows' first column.
fn names_json(rows: &[Row]) -> Result<Json, Error> {
    let names = rows
        .iter()
        .map(|row| row.get::<String>(0))
        .collect::<Result<Vec<String>, Error>>()?;
    Ok(json!({ "tables": names }))
}

const SQLITE_TABLES: &str = "SELECT name FROM sqlite_master \
     WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name";
const MYSQL_TABLES: &str = "SELECT table_name AS name FROM information_schema.tables \
     WHERE table_schema = DATABASE() ORDER BY table_name";
const POSTGRES_TABLES: &str = "SELECT table_name AS name FROM information_schema.tables \
     WHERE table_schema = current_schema() ORDER BY table_name";

/// The query listing the tables of the database `url` names by its scheme (the driver
/// `nimue::any` picks for it); `None` for `odbc:`, where any database may be behind the driver.
fn tables_query(url: &str) -> Option<&'static str> {
    match url.split(':').next().unwrap_or("") {
        "sqlite" => Some(SQLITE_TABLES),
        "mysql" | "mariadb" => Some(MYSQL_TABLES),
        "postgres" | "postgresql" => Some(POSTGRES_TABLES),
        _ => None,
    }
}

/// For a database the URL does not name (ODBC): each database's query in turn, on `conn`.
/// Each uses what only its own database has (`current_schema()`, `DATABASE()`,
/// `sqlite_master`), so the first that runs is the right one. Only a ProgrammingError (no
/// such function or table) moves on to the next; any other error is the answer.
fn discover_tables_query(conn: &mut BoxConnection) -> Result<(&'static str, Vec<Row>), Error> {
    let mut last = None;
    for sql in [POSTGRES_TABLES, MYSQL_TABLES, SQLITE_TABLES] {
        match conn.query(sql, &[]) {
            Ok(rows) => return Ok((sql, rows)),
            Err(e) if e.kind() == ErrorKind::Programming => {
                // PostgreSQL refuses every statement after an error until a rollback.
                conn.rollback()?;
                last = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.expect("at least one query was tried"))
}

/// 503 when the database or pool is unavailable (worth retrying), 500 otherwise.
pub fn status_of(e: &Error) -> u16 {
    match e.kind() {
        ErrorKind::Operational => 503,
        k if !k.is_database() && k != ErrorKind::Interface => 503, // pool timeout / closed
        _ => 500,
    }
}

/// An error as the JSON body of its response.
pub fn error_json(e: &Error) -> Json {
    json!({ "error": e.to_string(), "kind": format!("{:?}", e.kind()) })
}

/// The URL without its password, for the log line.
pub fn shown(url: &str) -> String {
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
pub fn demo_database() -> nimue::Result<String> {
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
