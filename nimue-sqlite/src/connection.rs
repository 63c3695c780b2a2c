//! `SqliteConnection`: a PEP 249 connection over one rusqlite connection.

use crate::cursor::{prepare, read, Descriptions, Hints, SqliteStream};
use crate::error::{is_fatal, map_err};
use nimue_core::sql::starts_with_any;
use nimue_core::{Columns, Connection, Error, Result, Row, StreamingCursor, Value};
use std::cell::{Cell, RefCell};

/// The cursor of an [`SqliteConnection`]: rows are stepped from SQLite as they are fetched
/// (see [`StreamingCursor`] for `rowcount` of long results). While a query's rows are being
/// read it holds SQLite's read snapshot: fetch to the end, execute another statement, or drop
/// the cursor to release it.
pub type SqliteCursor<'c> = StreamingCursor<SqliteStream<'c>>;

/// A connection to an SQLite database.
///
/// Follows PEP 249's transaction rules: with autocommit off (the default) the first statement
/// that writes (DML or DDL) opens a transaction that lasts until `commit()` or `rollback()`.
/// Read-only statements do not open one, so an idle reader never holds SQLite's lock.
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
    /// Wrap an open rusqlite connection (autocommit off, as PEP 249 wants).
    pub fn from_rusqlite(conn: rusqlite::Connection) -> Self {
        SqliteConnection {
            conn,
            autocommit: false,
            broken: Cell::new(false),
            descriptions: RefCell::default(),
        }
    }

    /// The underlying rusqlite connection, for what nimue does not cover (functions,
    /// backups, ...). Statements run through it bypass nimue's implicit transactions.
    pub fn rusqlite(&self) -> &rusqlite::Connection {
        &self.conn
    }

    /// The driver's connection (every adapter's `native`): the same as
    /// [`rusqlite`](Self::rusqlite).
    pub fn native(&self) -> &rusqlite::Connection {
        &self.conn
    }

    /// The driver's connection, mutable (e.g. for `rusqlite::Connection::transaction` or
    /// `backup`). What runs through it bypasses nimue's transaction tracking.
    pub fn native_mut(&mut self) -> &mut rusqlite::Connection {
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

    /// Whether running `stmt` should first open PEP 249's implicit transaction: autocommit
    /// is off, none is open, and the statement writes.
    pub(crate) fn opens_transaction(&self, stmt: &rusqlite::Statement<'_>, sql: &str) -> bool {
        !self.autocommit && self.conn.is_autocommit() && writes(stmt, sql)
    }
}

/// Whether running `stmt` outside a transaction should first open one (PEP 249's implicit
/// transactions): statements that write, except those SQLite refuses inside a transaction.
fn writes(stmt: &rusqlite::Statement<'_>, sql: &str) -> bool {
    // sqlite3_stmt_readonly is true for SELECT and for BEGIN/COMMIT/ROLLBACK/SAVEPOINT. A
    // SAVEPOINT outside a transaction would open one that its RELEASE commits: it opens
    // PEP 249's transaction first, so that it nests in it.
    (!stmt.readonly() && !starts_with_any(sql, &["PRAGMA", "VACUUM", "ATTACH", "DETACH"]))
        || starts_with_any(sql, &["SAVEPOINT"])
}

impl Connection for SqliteConnection {
    type Cursor<'c> = SqliteCursor<'c>;

    fn backend(&self) -> &'static str {
        "sqlite"
    }

    /// A transaction is open: PEP 249's opens with the first statement that writes.
    fn holds_uncommitted_writes(&self) -> bool {
        !self.conn.is_autocommit()
    }

    /// The database is in this process: a reset waits for no server.
    fn reset_waits(&self) -> bool {
        false
    }

    /// With no transaction open there is nothing to roll back.
    fn reset_is_local(&self) -> bool {
        self.conn.is_autocommit()
    }

    fn cursor(&mut self) -> Result<Self::Cursor<'_>> {
        Ok(StreamingCursor::new(SqliteStream::new(self)))
    }

    fn commit(&mut self) -> Result<()> {
        if self.conn.is_autocommit() {
            return Ok(());
        }
        let result = self.conn.execute_batch("COMMIT").map_err(map_err);
        self.watch(result)
    }

    fn rollback(&mut self) -> Result<()> {
        if self.conn.is_autocommit() {
            return Ok(());
        }
        let result = self.conn.execute_batch("ROLLBACK").map_err(map_err);
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

    /// A point query without a cursor: the first row, stepped straight from the statement
    /// (the rest of the result is not read).
    fn query_row(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        let first = (|| {
            let mut stmt = prepare(self, sql, params)?;
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
