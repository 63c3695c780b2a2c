//! `SqliteConnection`: a PEP 249 connection over one rusqlite connection.

use crate::cursor::{prepare, read, Descriptions, Hints, SqliteStream};
use crate::error::{is_fatal, map_err};
use crate::session::SessionWatch;
use nimue_core::sql::starts_with_any;
use nimue_core::{Columns, Connection, Error, Params, PoolHooks, Result, Row, StreamingCursor};
use std::cell::{Cell, RefCell};
use std::sync::Arc;

/// Opens a new connection with a connector's settings.
pub(crate) type Opener = Arc<dyn Fn() -> rusqlite::Result<rusqlite::Connection> + Send + Sync>;

/// The cursor of an [`SqliteConnection`]: rows are stepped from SQLite as they are fetched
/// (see [`StreamingCursor`] for `rowcount` of long results). While a query's rows are being
/// read it holds SQLite's read snapshot: fetch to the end, execute another statement, or drop
/// the cursor to release it.
pub type SqliteCursor<'c> = StreamingCursor<SqliteStream<'c>>;

/// A connection to an SQLite database.
///
/// Follows PEP 249's transaction rules: with autocommit off (the default) every statement runs
/// inside a transaction, opened by the first (as Python 3.12's `sqlite3` does with
/// `autocommit=False`), that lasts until `commit()` or `rollback()`: a read and the write
/// that follows it see one snapshot. `BEGIN` (`IMMEDIATE`, `EXCLUSIVE`), `COMMIT`, `ROLLBACK`,
/// `RELEASE`, `PRAGMA`, `VACUUM`, `ATTACH` and `DETACH` open none (SQLite refuses the last
/// four inside a transaction, or ignores them there). The transaction is SQLite's deferred
/// kind unless the connector asks for `BEGIN IMMEDIATE`
/// ([`SqliteConnector::begin_immediate`](crate::SqliteConnector::begin_immediate)): two deferred transactions that both read and then
/// write cannot both commit; the second writer gets an `OperationalError` ("database is
/// locked"), to be rolled back and retried.
///
/// Given back to the pool, a connection whose session the checkout changed (a `PRAGMA` that
/// sets something, `ATTACH`, `DETACH`, a temporary table, index, view or trigger, as SQLite's
/// parser reports them; or anything done through [`native_mut`](Self::native_mut)) is
/// replaced by a new connection with the connector's settings, so the next checkout sees a
/// fresh session.
///
/// ```
/// use nimue_core::{params, Connect, Connection, Cursor};
/// use nimue_sqlite::SqliteConnector;
///
/// let mut conn = SqliteConnector::memory().connect()?;
/// conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)", &[])?;
/// let mut cur = conn.cursor()?;
/// cur.execute("INSERT INTO t (name) VALUES (?)", &params!["ada"])?;
/// assert_eq!(cur.rowcount(), 1);
/// assert_eq!(cur.lastrowid(), Some(1));
/// cur.execute("SELECT name FROM t", &[])?;
/// assert_eq!(cur.fetchone()?.unwrap().get::<String>(0)?, "ada");
/// drop(cur);
/// conn.commit()?;
/// # Ok::<(), nimue_core::Error>(())
/// ```
pub struct SqliteConnection {
    conn: rusqlite::Connection,
    /// Opens a new connection when the session changed (none for `from_rusqlite`).
    opener: Option<Opener>,
    /// Implicit transactions begin with `BEGIN IMMEDIATE`.
    begin_immediate: bool,
    /// Whether the session may differ from its set-up.
    session: SessionWatch,
    /// Whether the last `reset` replaced the connection.
    session_cleared: bool,
    /// A statement that writes ran in the open transaction.
    wrote: Cell<bool>,
    autocommit: bool,
    /// A fatal error was seen; set through the shared reference a cursor holds.
    broken: Cell<bool>,
    /// Descriptions of recent statements (cursors use it through a shared reference).
    descriptions: RefCell<Descriptions>,
}

impl std::fmt::Debug for SqliteConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteConnection")
            .field("path", &self.conn.path())
            .field("autocommit", &self.autocommit)
            .field("broken", &self.broken.get())
            .finish()
    }
}

impl SqliteConnection {
    /// Wrap an open rusqlite connection (autocommit off, as PEP 249 wants). Its session is
    /// not restored on return (there is no connector to open a fresh one): only an open
    /// transaction is rolled back.
    pub fn from_rusqlite(conn: rusqlite::Connection) -> Self {
        SqliteConnection {
            conn,
            opener: None,
            begin_immediate: false,
            session: SessionWatch::default(),
            session_cleared: false,
            wrote: Cell::new(false),
            autocommit: false,
            broken: Cell::new(false),
            descriptions: RefCell::default(),
        }
    }

    /// A connection of a connector's, whose session is watched and replaced by one from
    /// `opener` when changed.
    pub(crate) fn opened(
        mut conn: rusqlite::Connection,
        opener: Opener,
        begin_immediate: bool,
    ) -> Result<Self> {
        let session = SessionWatch::default();
        session.install(&mut conn).map_err(map_err)?;
        Ok(SqliteConnection {
            opener: Some(opener),
            begin_immediate,
            session,
            ..Self::from_rusqlite(conn)
        })
    }

    /// The underlying rusqlite connection, for what nimue does not cover (functions,
    /// backups, ...). Statements run through it bypass nimue's implicit transactions, and
    /// the pool's return replaces the connection (nimue cannot tell what they changed).
    pub fn rusqlite(&self) -> &rusqlite::Connection {
        self.session.raise();
        &self.conn
    }

    /// The driver's connection (every adapter's `native`): the same as
    /// [`rusqlite`](Self::rusqlite).
    pub fn native(&self) -> &rusqlite::Connection {
        self.rusqlite()
    }

    /// The driver's connection, mutable (e.g. for `rusqlite::Connection::transaction` or
    /// `backup`). What runs through it bypasses nimue's transaction tracking, and the
    /// pool's return replaces the connection.
    pub fn native_mut(&mut self) -> &mut rusqlite::Connection {
        self.session.raise();
        &mut self.conn
    }

    /// The rusqlite connection, for the cursor.
    pub(crate) fn raw(&self) -> &rusqlite::Connection {
        &self.conn
    }

    /// The description of a (stepped) statement's result columns, and how to read each.
    pub(crate) fn describe(&self, stmt: &rusqlite::Statement<'_>) -> (Columns, Hints) {
        self.descriptions.borrow_mut().get(stmt)
    }

    /// Remember a fatal error so the pool discards this connection instead of reusing it.
    pub(crate) fn watch<T>(&self, result: Result<T>) -> Result<T> {
        if let Err(e) = &result {
            if is_fatal(e) {
                self.broken.set(true);
            }
        }
        result
    }

    /// Before `stmt` runs: open PEP 249's implicit transaction when autocommit is off, none
    /// is open, and the statement may run in one; note a statement that writes.
    pub(crate) fn starting(&self, stmt: &rusqlite::Statement<'_>, sql: &str) -> Result<()> {
        if self.conn.is_autocommit() {
            self.wrote.set(false);
            if !self.autocommit && !outside_transactions(sql) {
                let begin = if self.begin_immediate {
                    "BEGIN IMMEDIATE"
                } else {
                    "BEGIN"
                };
                self.watch(self.run_cached(begin))?;
            }
        }
        // sqlite3_stmt_readonly: SQLite's word on whether the statement writes (a writing
        // CTE, DDL and the rest included).
        if !stmt.readonly() {
            self.wrote.set(true);
        }
        Ok(())
    }
}

impl SqliteConnection {
    /// Run a statement without parameters or rows, prepared once (`BEGIN`, `COMMIT` and
    /// `ROLLBACK` run around nearly every checkout: parsing them each time costs more than a
    /// point query).
    fn run_cached(&self, sql: &str) -> Result<()> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut stmt| stmt.raw_execute())
            .map(drop)
            .map_err(map_err)
    }
}

/// Statements that open no implicit transaction: those that control transactions, and those
/// SQLite refuses or ignores inside one.
fn outside_transactions(sql: &str) -> bool {
    starts_with_any(
        sql,
        &[
            "BEGIN", "COMMIT", "END", "ROLLBACK", "RELEASE", "PRAGMA", "VACUUM", "ATTACH", "DETACH",
        ],
    )
}

impl Connection for SqliteConnection {
    type Cursor<'c> = SqliteCursor<'c>;

    fn cursor(&mut self) -> Result<Self::Cursor<'_>> {
        Ok(StreamingCursor::new(SqliteStream::new(self)))
    }

    fn commit(&mut self) -> Result<()> {
        if self.conn.is_autocommit() {
            return Ok(());
        }
        let result = self.run_cached("COMMIT");
        self.watch(result)
    }

    fn rollback(&mut self) -> Result<()> {
        if self.conn.is_autocommit() {
            return Ok(());
        }
        let result = self.run_cached("ROLLBACK");
        self.watch(result)
    }

    fn close(self) -> Result<()> {
        self.conn.close().map_err(|(_, e)| map_err(e))
    }

    fn autocommit(&self) -> bool {
        self.autocommit
    }

    fn set_autocommit(&mut self, on: bool) -> Result<()> {
        if on && !self.conn.is_autocommit() {
            return Err(Error::programming(
                "cannot turn autocommit on inside a transaction: commit or roll back first",
            ));
        }
        self.autocommit = on;
        Ok(())
    }

    /// A point query without a cursor: the first row, stepped straight from the statement
    /// (the rest of the result is not read).
    fn query_row(&mut self, sql: &str, params: impl Params) -> Result<Option<Row>> {
        let params = params.into_values();
        let first = (|| {
            let mut stmt = prepare(self, sql, &params)?;
            if stmt.column_count() == 0 {
                stmt.raw_execute().map_err(map_err)?;
                return Err(Error::programming(
                    "no results to fetch: the last statement returned no rows",
                ));
            }
            let mut rows = stmt.raw_query();
            match rows.next().map_err(map_err)? {
                Some(row) => {
                    let (columns, hints) = self.describe(row.as_ref());
                    Ok(Some(Row::new(columns, read(row, &hints)?)))
                }
                None => Ok(None),
            }
        })();
        self.watch(first)
    }
}

impl PoolHooks for SqliteConnection {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    /// A transaction is open and a statement that writes ran in it.
    fn holds_uncommitted_writes(&self) -> bool {
        !self.conn.is_autocommit() && self.wrote.get()
    }

    /// The database is in this process: a reset waits for no server.
    fn reset_waits(&self) -> bool {
        false
    }

    /// With no transaction open and the session as set up there is nothing to do.
    fn reset_is_local(&self) -> bool {
        self.conn.is_autocommit() && !self.session.changed()
    }

    /// Roll back an open transaction and restore autocommit; when the checkout changed the
    /// session (see the type's docs), replace the connection by a new one of the connector's
    /// (the pool then runs its set-up on it).
    fn reset(&mut self) -> Result<()> {
        self.session_cleared = false;
        if let (true, Some(opener)) = (self.session.changed(), &self.opener) {
            let mut fresh = opener().map_err(map_err)?;
            self.session.install(&mut fresh).map_err(map_err)?;
            let old = std::mem::replace(&mut self.conn, fresh);
            // A failure to close the old one loses nothing of the new one's.
            let _ = old.close();
            self.wrote.set(false);
            self.autocommit = false;
            self.session_cleared = true;
            return Ok(());
        }
        self.rollback()?;
        if self.autocommit {
            self.set_autocommit(false)?;
        }
        Ok(())
    }

    fn reset_cleared_session(&self) -> bool {
        self.session_cleared
    }

    /// The session as it is now (after the pool's set-up) is what `reset` returns to.
    fn session_set_up(&mut self) {
        self.session.clear(&self.conn);
    }

    fn ping(&mut self) -> Result<()> {
        let result = self
            .conn
            .prepare_cached("SELECT 1")
            .and_then(|mut stmt| stmt.query_row([], |_| Ok(())))
            .map_err(map_err);
        self.watch(result)
    }

    fn is_broken(&self) -> bool {
        self.broken.get()
    }
}
