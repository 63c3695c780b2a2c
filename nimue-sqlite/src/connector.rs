//! `SqliteConnector`: opens SQLite connections for the pool.

use crate::connection::SqliteConnection;
use crate::error::map_err;
use nimue_core::{Connect, Error, Result};
use rusqlite::OpenFlags;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Opens connections to one SQLite database, with the same settings each time.
///
/// Defaults: read-write, create the file if missing, a 5 s busy timeout (so pooled
/// connections to one file wait for each other's locks instead of failing at once) and
/// foreign keys enforced (as every other database nimue supports does).
///
/// ```
/// use nimue_core::{Connect, Connection};
/// use nimue_sqlite::SqliteConnector;
/// use std::time::Duration;
///
/// let dir = std::env::temp_dir().join(format!("nimue-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let connector = SqliteConnector::new(dir.join("app.db"))
///     .busy_timeout(Duration::from_secs(2))
///     .init_sql("PRAGMA journal_mode = WAL");
/// let mut conn = connector.connect()?;
/// let mode: String = conn.query_scalar("PRAGMA journal_mode", ())?;
/// assert_eq!(mode, "wal");
/// # drop(conn); std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), nimue_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct SqliteConnector {
    target: Target,
    flags: OpenFlags,
    busy_timeout: Duration,
    foreign_keys: bool,
    init_sql: Vec<String>,
    begin_immediate: bool,
}

#[derive(Debug, Clone)]
enum Target {
    File(PathBuf),
    /// One in-memory database (SQLite's `memdb` VFS, shared by name within the process),
    /// kept alive by a connection of its own while a clone of the connector lives.
    Memory {
        name: String,
        keeper: Arc<Mutex<Option<rusqlite::Connection>>>,
    },
}

impl SqliteConnector {
    fn with_target(target: Target) -> Self {
        SqliteConnector {
            target,
            flags: OpenFlags::default(),
            busy_timeout: Duration::from_secs(5),
            foreign_keys: true,
            init_sql: Vec::new(),
            begin_immediate: false,
        }
    }

    /// Connections to the database file at `path` (created when missing).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self::with_target(Target::File(path.into()))
    }

    /// Connections to one new in-memory database, shared by every connection this connector
    /// and its clones open (a pool's connections see the same tables), and dropped when the
    /// last of them is gone. Another call makes another database.
    ///
    /// ```
    /// use nimue_core::{Connect, Connection};
    /// let connector = nimue_sqlite::SqliteConnector::memory();
    /// let mut one = connector.connect()?;
    /// one.execute("CREATE TABLE t (n INTEGER)", &[])?;
    /// one.commit()?;
    /// let mut two = connector.connect()?;
    /// assert!(two.execute("SELECT n FROM t", &[]).is_ok());
    /// # Ok::<(), nimue_core::Error>(())
    /// ```
    pub fn memory() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        // Relaxed: only uniqueness matters.
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Self::with_target(Target::Memory {
            name: format!("/nimue-memory-{}-{n}", std::process::id()),
            keeper: Arc::default(),
        })
    }

    /// A connector from a URL: `sqlite:path/to.db`, `sqlite://path/to.db`,
    /// `sqlite:///absolute/path.db` or `sqlite::memory:`, with the parameters sqlx's users
    /// write: `mode=ro|rw|rwc|memory` (read-only, read-write, read-write-create (the default),
    /// a named in-memory database) and `cache=shared|private`. They go to SQLite as a `file:`
    /// URI; any other parameter is an `InterfaceError`. An error never repeats the URL.
    ///
    /// ```
    /// use nimue_sqlite::SqliteConnector;
    /// assert!(SqliteConnector::from_url("sqlite://data/app.db").is_ok());
    /// assert!(SqliteConnector::from_url("sqlite::memory:").is_ok());
    /// assert!(SqliteConnector::from_url("sqlite:app.db?mode=ro").is_ok());
    /// // One in-memory database shared by the pool's connections:
    /// assert!(SqliteConnector::from_url("sqlite:cache?mode=memory&cache=shared").is_ok());
    /// let err = SqliteConnector::from_url("sqlite:app.db?mdoe=ro").unwrap_err();
    /// assert_eq!(err.kind(), nimue_core::ErrorKind::Interface);
    /// let err = SqliteConnector::from_url("postgres://localhost/db").unwrap_err();
    /// assert_eq!(err.kind(), nimue_core::ErrorKind::Interface);
    /// ```
    pub fn from_url(url: &str) -> Result<Self> {
        let rest = url
            .strip_prefix("sqlite:")
            .ok_or_else(|| Error::interface("not an sqlite: URL"))?;
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let (path, query) = match rest.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (rest, None),
        };
        let Some(query) = query else {
            return match path {
                "" => Err(Error::interface("no database path in the sqlite: URL")),
                ":memory:" => Ok(Self::memory()),
                path => Ok(Self::new(path)),
            };
        };
        for pair in query.split('&') {
            let known = matches!(
                pair,
                "mode=ro"
                    | "mode=rw"
                    | "mode=rwc"
                    | "mode=memory"
                    | "cache=shared"
                    | "cache=private"
            );
            if !known {
                return Err(Error::interface(
                    "an sqlite: URL takes mode=ro|rw|rwc|memory and cache=shared|private only",
                ));
            }
        }
        if path.is_empty() {
            return Err(Error::interface("no database path in the sqlite: URL"));
        }
        // SQLite reads the parameters itself from a `file:` URI (the flags allow URIs).
        Ok(Self::new(format!("file:{path}?{query}")))
    }

    /// Open with these rusqlite flags instead of the default (read-write, create, URI).
    pub fn flags(mut self, flags: OpenFlags) -> Self {
        self.flags = flags;
        self
    }

    /// Open the database read-only.
    pub fn read_only(self) -> Self {
        self.flags(OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI)
    }

    /// How long a statement waits for another connection's lock before failing with an
    /// `OperationalError` (default 5 s).
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Whether to enforce foreign keys (`PRAGMA foreign_keys`, default on).
    pub fn foreign_keys(mut self, on: bool) -> Self {
        self.foreign_keys = on;
        self
    }

    /// Open PEP 249's implicit transactions with `BEGIN IMMEDIATE` (default off: `BEGIN`,
    /// SQLite's deferred kind). An immediate transaction takes the database's write lock at
    /// its start, so writers that read first queue behind each other (for up to the busy
    /// timeout) instead of the second failing when it writes; readers take it too.
    pub fn begin_immediate(mut self, on: bool) -> Self {
        self.begin_immediate = on;
        self
    }

    /// Whether implicit transactions are opened with `BEGIN IMMEDIATE`.
    pub fn get_begin_immediate(&self) -> bool {
        self.begin_immediate
    }

    /// SQL run on every new connection, after the built-in settings (e.g. `PRAGMA`s).
    pub fn init_sql(mut self, sql: impl Into<String>) -> Self {
        self.init_sql.push(sql.into());
        self
    }

    /// A new connection with the connector's settings.
    fn open(&self) -> rusqlite::Result<rusqlite::Connection> {
        let conn = match &self.target {
            Target::File(path) => rusqlite::Connection::open_with_flags(path, self.flags)?,
            Target::Memory { name, keeper } => {
                let uri = format!("file:{name}?vfs=memdb");
                let flags = self.flags | OpenFlags::SQLITE_OPEN_URI;
                // The keeper's lock is held while this connection opens: the database
                // exists from the keeper's opening until the connector's last clone is gone.
                let mut kept = keeper.lock().unwrap_or_else(|e| e.into_inner());
                if kept.is_none() {
                    *kept = Some(rusqlite::Connection::open_with_flags(&uri, flags)?);
                }
                rusqlite::Connection::open_with_flags(&uri, flags)?
            }
        };
        conn.busy_timeout(self.busy_timeout)?;
        conn.pragma_update(None, "foreign_keys", self.foreign_keys)?;
        for sql in &self.init_sql {
            conn.execute_batch(sql)?;
        }
        Ok(conn)
    }
}

impl Connect for SqliteConnector {
    type Connection = SqliteConnection;

    fn connect(&self) -> Result<SqliteConnection> {
        let conn = self.open().map_err(map_err)?;
        let connector = self.clone();
        let opener = Arc::new(move || connector.open());
        SqliteConnection::opened(conn, opener, self.begin_immediate)
    }
}
