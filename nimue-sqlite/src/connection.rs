//! `SqliteConnection`: a PEP 249 connection over one rusqlite connection.

use crate::convert::{from_sql, type_code, Hint, Param};
use crate::error::{is_fatal, map_err};
use nimue_core::sql::{starts_with_any, DML_KEYWORDS};
use nimue_core::{
    check_param_count, BufferedCursor, Column, Columns, Connection, Error, Execute, Result,
    ResultSet, Row, Value,
};
use std::collections::VecDeque;

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
    broken: bool,
}

impl std::fmt::Debug for SqliteConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteConnection")
            .field("path", &self.conn.path())
            .field("autocommit", &self.autocommit)
            .field("broken", &self.broken)
            .finish()
    }
}

impl SqliteConnection {
    /// Wrap an open rusqlite connection (autocommit off, as PEP 249 wants).
    pub fn from_rusqlite(conn: rusqlite::Connection) -> Self {
        SqliteConnection {
            conn,
            autocommit: false,
            broken: false,
        }
    }

    /// The underlying rusqlite connection, for what nimue does not cover (functions,
    /// backups, ...). Statements run through it bypass nimue's implicit transactions.
    pub fn rusqlite(&self) -> &rusqlite::Connection {
        &self.conn
    }

    /// Remember a fatal error so the pool discards this connection instead of reusing it.
    fn watch<T>(&mut self, result: Result<T>) -> Result<T> {
        if let Err(e) = &result {
            self.broken |= is_fatal(e);
        }
        result
    }

    fn run(&self, sql: &str, params: &[Value]) -> Result<ResultSet> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(map_err)?;
        check_param_count(stmt.parameter_count(), params.len())?;
        if !self.autocommit && self.conn.is_autocommit() && opens_transaction(&stmt, sql) {
            self.conn.execute_batch("BEGIN").map_err(map_err)?;
        }
        for (i, value) in params.iter().enumerate() {
            stmt.raw_bind_parameter(i + 1, Param(value))
                .map_err(map_err)?;
        }
        let inserts = starts_with_any(sql, &["INSERT", "REPLACE"]);
        let lastrowid = || inserts.then(|| self.conn.last_insert_rowid());
        if stmt.column_count() == 0 {
            stmt.raw_execute().map_err(map_err)?;
            let writes = starts_with_any(sql, &DML_KEYWORDS);
            let rowcount = if writes {
                self.conn.changes() as i64
            } else {
                -1
            };
            return Ok(ResultSet::no_rows(rowcount, lastrowid()));
        }
        // Describe the columns only once the statement has been stepped: SQLite recompiles a
        // cached statement after a schema change at its first step, and the declared types of
        // the old compilation would be stale.
        let mut described: Option<(Columns, Vec<Hint>)> = None;
        let mut rows = VecDeque::new();
        let mut raw = stmt.raw_query();
        while let Some(raw_row) = raw.next().map_err(map_err)? {
            let (columns, hints) = described.get_or_insert_with(|| describe(raw_row.as_ref()));
            let values = hints
                .iter()
                .enumerate()
                .map(|(i, hint)| from_sql(raw_row.get_ref(i).map_err(map_err)?, *hint))
                .collect::<Result<Vec<Value>>>()?;
            rows.push_back(Row::new(columns.clone(), values));
        }
        drop(raw);
        let columns = match described {
            Some((columns, _)) => columns,
            None => describe(&stmt).0,
        };
        let mut result = ResultSet::with_rows(columns, rows);
        result.lastrowid = lastrowid(); // INSERT ... RETURNING
        Ok(result)
    }
}

/// The result columns of a (stepped) statement, with how to read each.
fn describe(stmt: &rusqlite::Statement<'_>) -> (Columns, Vec<Hint>) {
    let (columns, hints): (Vec<Column>, Vec<Hint>) = stmt
        .columns()
        .into_iter()
        .map(|c| {
            let column = Column::new(c.name(), type_code(c.decl_type()));
            let column = match c.decl_type() {
                Some(t) => column.with_type_name(t),
                None => column,
            };
            (column, Hint::from_decltype(c.decl_type()))
        })
        .unzip();
    (columns.into(), hints)
}

/// Whether running `stmt` outside a transaction should first open one (PEP 249's implicit
/// transactions): statements that write, except those SQLite refuses inside a transaction.
fn opens_transaction(stmt: &rusqlite::Statement<'_>, sql: &str) -> bool {
    // sqlite3_stmt_readonly is true for SELECT and for BEGIN/COMMIT/ROLLBACK/SAVEPOINT.
    !stmt.readonly() && !starts_with_any(sql, &["PRAGMA", "VACUUM", "ATTACH", "DETACH"])
}

impl Execute for SqliteConnection {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<ResultSet> {
        let result = self.run(sql, params);
        self.watch(result)
    }
}

impl Connection for SqliteConnection {
    type Cursor<'c> = BufferedCursor<'c, SqliteConnection>;

    fn cursor(&mut self) -> Result<Self::Cursor<'_>> {
        Ok(BufferedCursor::new(self))
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
        self.broken
    }
}
