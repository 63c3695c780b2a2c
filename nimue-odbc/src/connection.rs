//! `OdbcConnection`: a PEP 249 connection over one ODBC connection handle.

use crate::convert::to_param;
use crate::error::{is_connection_lost, map_err};
use crate::fetch::{describe, read_rows, FetchError};
use nimue_core::sql::{starts_with_any, DML_KEYWORDS};
use nimue_core::{
    check_param_count, BufferedCursor, Connection, DatabaseError, Error, ErrorKind, Execute,
    Liveness, Result, ResultSet, Value,
};
use odbc_api::parameter::InputParameter;
use std::sync::Arc;

/// An open ODBC connection that disconnects on drop without ever panicking.
///
/// `odbc_api::Connection` panics in `drop` when the driver refuses to disconnect; a pool drops
/// connections whose server is gone, so this wrapper disconnects itself and, should the driver
/// refuse, leaks the handle (a few bytes in the driver manager) instead.
struct Open(Option<odbc_api::Connection<'static>>);

impl Open {
    fn get(&self) -> &odbc_api::Connection<'static> {
        self.0
            .as_ref()
            .expect("an OdbcConnection is open until it is closed or dropped")
    }

    fn close(&mut self) -> Result<()> {
        match self.0.take() {
            Some(conn) => disconnect(conn),
            None => Ok(()),
        }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            log::warn!("closing an ODBC connection: {e}");
        }
    }
}

/// Roll back (some drivers refuse to disconnect inside a transaction), disconnect and free.
fn disconnect(conn: odbc_api::Connection<'static>) -> Result<()> {
    // In autocommit mode SQLEndTran has no effect; on a dead connection it fails, which
    // changes nothing about disconnecting.
    if let Err(e) = conn.rollback() {
        log::debug!("rollback before disconnecting: {e}");
    }
    let mut handle = conn.into_handle();
    match handle.disconnect().into_result(&handle) {
        Ok(()) => Ok(()),
        Err(e) => {
            // Freeing a still-connected handle fails, and odbc-api panics when freeing fails:
            // keep the handle instead.
            std::mem::forget(handle);
            Err(map_err(e))
        }
    }
}

/// A connection through an ODBC driver.
///
/// Autocommit is off (PEP 249's default) through the ODBC autocommit attribute: the driver
/// opens a transaction with the first statement, and [`commit`](Connection::commit) /
/// [`rollback`](Connection::rollback) end it with `SQLEndTran`. Every statement is prepared
/// (`SQLPrepare`), its `?` placeholders counted (`SQLNumParams`) and bound, then executed;
/// [`executemany`](nimue_core::Cursor::executemany) prepares once.
///
/// The pool hooks: [`is_broken`](Connection::is_broken) is the driver's connection-dead
/// attribute (`SQL_ATTR_CONNECTION_DEAD`, no I/O) or a connection-level error seen earlier;
/// [`ping`](Connection::ping) checks that attribute, then runs the connector's ping query
/// (default `SELECT 1`) for a real round trip; [`reset`](Connection::reset) rolls back and
/// turns autocommit back off.
pub struct OdbcConnection {
    conn: Open,
    dbms: String,
    autocommit: bool,
    /// A statement ran since the last commit/rollback while autocommit was off.
    in_transaction: bool,
    /// A connection-level error was seen.
    broken: bool,
    /// Whether the driver's sizes of character and binary columns are limits, so that such
    /// columns may be read through bound buffers of that size.
    trust_sizes: bool,
    /// The driver cuts text parameters at a NUL byte (see [`TEXT_ENDS_AT_NUL`]).
    text_ends_at_nul: bool,
    ping_query: Arc<str>,
}

impl std::fmt::Debug for OdbcConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OdbcConnection")
            .field("dbms", &self.dbms)
            .field("autocommit", &self.autocommit)
            .field("in_transaction", &self.in_transaction)
            .field("broken", &self.broken)
            .finish()
    }
}

/// Database systems whose declared column sizes are not limits (SQLite stores a string of any
/// length in a `VARCHAR(10)` column, and its driver reports a `BLOB` as `BINARY(255)`).
const SIZES_NOT_ENFORCED: [&str; 1] = ["SQLite"];

/// Database systems whose ODBC driver silently cuts a text parameter at its first NUL byte
/// (seen with the SQLite3 and the PostgreSQL Unicode drivers): such text is refused with a
/// `NotSupportedError` instead.
const TEXT_ENDS_AT_NUL: [&str; 2] = ["SQLite", "PostgreSQL"];

impl OdbcConnection {
    /// Wrap a connected handle: turn autocommit off and learn the database system's name.
    pub(crate) fn open(conn: odbc_api::Connection<'static>, ping_query: Arc<str>) -> Result<Self> {
        let conn = Open(Some(conn));
        conn.get().set_autocommit(false).map_err(|e| {
            let e = map_err(e);
            Error::not_supported(format!(
                "the ODBC driver cannot turn autocommit off, so it cannot run transactions: {e}"
            ))
        })?;
        let dbms = conn
            .get()
            .database_management_system_name()
            .unwrap_or_default();
        let trust_sizes = !SIZES_NOT_ENFORCED
            .iter()
            .any(|name| dbms.eq_ignore_ascii_case(name));
        let text_ends_at_nul = TEXT_ENDS_AT_NUL
            .iter()
            .any(|name| dbms.eq_ignore_ascii_case(name));
        Ok(OdbcConnection {
            conn,
            text_ends_at_nul,
            dbms,
            autocommit: false,
            in_transaction: false,
            broken: false,
            trust_sizes,
            ping_query,
        })
    }

    /// The database system's name as the driver reports it (`SQL_DBMS_NAME`), e.g.
    /// `"PostgreSQL"` or `"SQLite"`.
    pub fn dbms_name(&self) -> &str {
        &self.dbms
    }

    /// The underlying `odbc-api` connection, for what nimue does not cover (catalog functions,
    /// driver attributes). Statements run through it bypass nimue's transaction tracking.
    pub fn odbc(&self) -> &odbc_api::Connection<'static> {
        self.conn.get()
    }

    /// Whether result sets with character or binary columns of a bounded size are read
    /// through bound buffers (off for drivers whose sizes are not limits, such as SQLite's,
    /// and after a value turned out longer than its column's reported size).
    pub fn binds_variable_size_columns(&self) -> bool {
        self.trust_sizes
    }

    /// Run `sql` once per parameter set on one prepared statement.
    fn run(&mut self, sql: &str, param_sets: &[&[Value]]) -> Result<ResultSet> {
        let result = self.run_prepared(sql, param_sets);
        match result {
            Ok(result) => Ok(result),
            Err(FetchError::Truncated(e)) => {
                self.trust_sizes = false;
                Err(e)
            }
            Err(FetchError::Other(e)) => Err(self.after_error(e)),
        }
    }

    /// Remember when an error means the connection is gone (by its SQLSTATE, or because the
    /// driver now reports the connection dead), and report that as an `OperationalError`.
    fn after_error(&mut self, e: Error) -> Error {
        let lost_by_state = e.sqlstate().is_some_and(is_connection_lost);
        let dead = matches!(self.conn.get().is_dead(), Ok(true));
        if !(lost_by_state || dead) {
            return e;
        }
        self.broken = true;
        if e.kind() == ErrorKind::Operational {
            return e;
        }
        let Some(db) = e.as_database() else {
            return e;
        };
        let mut lost = DatabaseError::new(
            ErrorKind::Operational,
            format!("the connection was lost: {}", db.message()),
        );
        if let Some(state) = db.sqlstate() {
            lost = lost.with_sqlstate(state);
        }
        if let Some(code) = db.code() {
            lost = lost.with_code(code);
        }
        lost.with_source(e).into()
    }

    fn run_prepared(
        &mut self,
        sql: &str,
        param_sets: &[&[Value]],
    ) -> std::result::Result<ResultSet, FetchError> {
        let conn = self.conn.get();
        let mut prepared = conn.prepare(sql).map_err(map_err)?;
        let expected = usize::from(prepared.num_params().map_err(map_err)?);
        for params in param_sets {
            check_param_count(expected, params.len())?;
        }
        let has_nul = |v: &Value| matches!(v, Value::Text(s) if s.contains('\0'));
        if self.text_ends_at_nul && param_sets.iter().any(|p| p.iter().any(has_nul)) {
            return Err(Error::not_supported(format!(
                "the {} ODBC driver cuts text at a NUL byte: pass such data as bytes",
                self.dbms
            ))
            .into());
        }
        if !self.autocommit {
            self.in_transaction = true;
        }
        let dml = starts_with_any(sql, &DML_KEYWORDS);
        let mut changed: Option<i64> = Some(0);
        let mut rows = None;
        for params in param_sets {
            let bound: Vec<Box<dyn InputParameter>> = params.iter().map(to_param).collect();
            if let Some(mut cursor) = prepared.execute(&bound[..]).map_err(map_err)? {
                let layout = describe(&mut cursor, self.trust_sizes)?;
                log::trace!(
                    "reading {} column(s) {}",
                    layout.columns.len(),
                    if layout.is_batched() {
                        "in batches"
                    } else {
                        "row by row"
                    }
                );
                let read = read_rows(cursor, &layout)?;
                rows = Some(ResultSet::with_rows(layout.columns, read));
                continue;
            }
            let count = prepared.row_count().map_err(map_err)?;
            changed = match (changed, count.and_then(|n| i64::try_from(n).ok())) {
                (Some(total), Some(n)) => Some(total + n),
                _ => None,
            };
        }
        Ok(match rows {
            Some(rows) => rows,
            None => ResultSet::no_rows(changed.filter(|_| dml).unwrap_or(-1), None),
        })
    }

    /// Map a driver error, remembering when it means the connection is gone.
    fn watch<T>(&mut self, result: std::result::Result<T, odbc_api::Error>) -> Result<T> {
        result.map_err(|e| self.after_error(map_err(e)))
    }

    fn end_transaction(&mut self, commit: bool) -> Result<()> {
        if self.autocommit {
            return Ok(());
        }
        // Whatever the outcome, no transaction of ours is open afterwards (a failed commit
        // rolls back; a failure to send means the connection is gone).
        self.in_transaction = false;
        let conn = self.conn.get();
        let done = if commit {
            conn.commit()
        } else {
            conn.rollback()
        };
        self.watch(done)
    }
}

impl Execute for OdbcConnection {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<ResultSet> {
        self.run(sql, &[params])
    }

    /// Prepares once, then executes once per parameter set.
    fn execute_many(&mut self, sql: &str, param_sets: &[Vec<Value>]) -> Result<ResultSet> {
        let sets: Vec<&[Value]> = param_sets.iter().map(Vec::as_slice).collect();
        if sets.is_empty() {
            return Ok(ResultSet::no_rows(0, None));
        }
        self.run(sql, &sets)
    }
}

impl Connection for OdbcConnection {
    type Cursor<'c> = BufferedCursor<'c, OdbcConnection>;

    fn cursor(&mut self) -> Result<Self::Cursor<'_>> {
        Ok(BufferedCursor::new(self))
    }

    fn commit(&mut self) -> Result<()> {
        self.end_transaction(true)
    }

    fn rollback(&mut self) -> Result<()> {
        self.end_transaction(false)
    }

    /// Rolls back an open transaction, then disconnects.
    fn close(mut self) -> Result<()> {
        self.conn.close()
    }

    fn autocommit(&self) -> bool {
        self.autocommit
    }

    fn set_autocommit(&mut self, on: bool) -> Result<()> {
        if on == self.autocommit {
            return Ok(());
        }
        if on && self.in_transaction {
            return Err(Error::programming(
                "cannot turn autocommit on inside a transaction: commit or roll back first",
            ));
        }
        let done = self.conn.get().set_autocommit(on);
        self.watch(done)?;
        self.autocommit = on;
        self.in_transaction = false;
        Ok(())
    }

    /// The driver's connection-dead attribute, then a round trip with the ping query. A
    /// transaction the query opens is rolled back.
    fn ping(&mut self) -> Result<()> {
        if matches!(self.conn.get().is_dead(), Ok(true)) {
            self.broken = true;
            return Err(Error::operational(
                "the ODBC driver reports the connection is dead",
            ));
        }
        let was_in_transaction = self.in_transaction;
        let query = Arc::clone(&self.ping_query);
        let result = match self.run(&query, &[&[]]) {
            // The server answered, refusing statements until the failed transaction is rolled
            // back (SQLSTATE class 25, e.g. PostgreSQL's 25P02): the connection is alive.
            Err(e) if !self.broken && e.sqlstate().is_some_and(|s| s.starts_with("25")) => Ok(()),
            other => other.map(drop),
        };
        if !was_in_transaction && !self.autocommit {
            let ended = self.rollback();
            return result.and(ended);
        }
        result
    }

    fn is_broken(&self) -> bool {
        self.broken || matches!(self.conn.get().is_dead(), Ok(true))
    }

    /// [`Liveness::Flag`]: the driver's dead-connection attribute (no round trip with most
    /// drivers). `Ping` and `Query` both run the connector's ping query (`SELECT 1` unless
    /// configured, e.g. `SELECT 1 FROM DUAL` for Oracle): ODBC has no protocol-level ping.
    fn check(&mut self, level: Liveness) -> Result<()> {
        if self.is_broken() {
            return Err(Error::operational("the connection is broken"));
        }
        match level {
            Liveness::Flag => Ok(()),
            _ => self.ping(),
        }
    }
}
