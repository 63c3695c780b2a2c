//! `OdbcConnection`: a PEP 249 connection over one ODBC connection handle.

use crate::cursor::{OdbcCursor, OdbcStream};
use crate::error::{is_connection_lost, map_err};
use crate::fetch::FetchError;
use crate::session;
use nimue_core::{
    Connection, DatabaseError, Error, ErrorKind, Liveness, PoolHooks, Result, RowStream, Started,
    StreamingCursor,
};
use std::cell::Cell;
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

    fn get_mut(&mut self) -> &mut odbc_api::Connection<'static> {
        self.0
            .as_mut()
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
/// [`executemany`](nimue_core::Cursor::executemany) prepares once. Its cursor
/// ([`OdbcCursor`]) fetches rows from the driver as they are asked for.
///
/// The pool hooks: [`is_broken`](PoolHooks::is_broken) is the driver's connection-dead
/// attribute (`SQL_ATTR_CONNECTION_DEAD`, no I/O) or a connection-level error seen earlier;
/// [`ping`](PoolHooks::ping) checks that attribute, then runs the connector's ping query
/// (default `SELECT 1`) for a real round trip; [`reset`](PoolHooks::reset) rolls back and
/// turns autocommit back off; on PostgreSQL it also clears the session (as `DISCARD ALL`: one
/// round trip more) after a checkout that ran statements. After a checkout that ran
/// statements with autocommit on, the reset also sends an SQL `ROLLBACK`: the driver cannot know whether the SQL opened a
/// transaction (`BEGIN`), and `SQLEndTran` does nothing in autocommit mode. (One round trip
/// on such returns; the error of a `ROLLBACK` with nothing to roll back is ignored.)
pub struct OdbcConnection {
    conn: Open,
    dbms: String,
    autocommit: bool,
    /// A statement ran since the last commit/rollback while autocommit was off. (This flag
    /// and the two below are `Cell`s: a cursor's statement sets them through its shared
    /// borrow of the connection.)
    in_transaction: Cell<bool>,
    /// A statement ran with autocommit on: its SQL may have opened a transaction (`BEGIN`)
    /// that the driver does not know of, so `SQLEndTran` would not end it.
    sql_may_have_begun: Cell<bool>,
    /// A statement ran since the last reset (the session may hold something of it).
    used: Cell<bool>,
    /// Whether the last `reset` cleared the session (the pool then runs its set-up again).
    session_cleared: bool,
    /// What puts back the settings the session had when it was set up (the driver's own
    /// connect-time settings, e.g. psqlODBC's `ConnSettings`, which the clear undoes and
    /// nothing else would run again), run with the clear.
    restore_settings: Option<String>,
    /// What clears a session of this database system on return, when known
    /// ([`session::clear_for`]).
    clear_session: Option<&'static str>,
    /// A connection-level error was seen.
    broken: Cell<bool>,
    /// Whether the driver's sizes of character and binary columns are limits, so that such
    /// columns may be read through bound buffers of that size.
    trust_sizes: Cell<bool>,
    /// The driver cuts text parameters at a NUL byte (see [`TEXT_ENDS_AT_NUL`]).
    text_ends_at_nul: bool,
    /// `SQL_ATTR_QUERY_TIMEOUT` of every statement, in seconds (0: none).
    query_timeout_sec: usize,
    /// The driver's `SQLRowCount` after a query is its number of rows, or -1 (see
    /// [`COUNTS_QUERY_ROWS`]).
    counts_query_rows: bool,
    ping_query: Arc<str>,
}

impl std::fmt::Debug for OdbcConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OdbcConnection")
            .field("dbms", &self.dbms)
            .field("autocommit", &self.autocommit)
            .field("in_transaction", &self.in_transaction.get())
            .field("broken", &self.broken.get())
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

/// Database systems whose ODBC driver answers `SQLRowCount` after a query with the number of
/// rows of its result when it already holds them all (the PostgreSQL driver, unless
/// `UseDeclareFetch=1`), and with -1 otherwise (seen with psqlODBC 13). ODBC leaves that
/// answer to the driver (SQLite's is 0), so other drivers' is not used.
const COUNTS_QUERY_ROWS: [&str; 1] = ["PostgreSQL"];

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
        let counts_query_rows = COUNTS_QUERY_ROWS
            .iter()
            .any(|name| dbms.eq_ignore_ascii_case(name));
        let clear_session = session::clear_for(&dbms);
        let mut connection = OdbcConnection {
            dbms,
            conn,
            text_ends_at_nul,
            counts_query_rows,
            autocommit: false,
            in_transaction: Cell::new(false),
            sql_may_have_begun: Cell::new(false),
            used: Cell::new(false),
            session_cleared: false,
            restore_settings: None,
            clear_session,
            broken: Cell::new(false),
            trust_sizes: Cell::new(trust_sizes),
            ping_query,
            query_timeout_sec: 0,
        };
        // What the driver set up at connect (e.g. psqlODBC's `ConnSettings`) is the session a
        // reset returns to, used in a pool or not.
        if connection.clear_session.is_some() {
            connection.restore_settings = connection.session_settings()?;
        }
        connection.used.set(false);
        Ok(connection)
    }

    /// Give every statement this `SQL_ATTR_QUERY_TIMEOUT` (0: none).
    pub(crate) fn set_query_timeout_sec(&mut self, secs: usize) {
        self.query_timeout_sec = secs;
    }

    /// The `SQL_ATTR_QUERY_TIMEOUT` of every statement (0: none).
    pub(crate) fn query_timeout_sec(&self) -> usize {
        self.query_timeout_sec
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

    /// The driver's connection (every adapter's `native`): the same as [`odbc`](Self::odbc).
    pub fn native(&self) -> &odbc_api::Connection<'static> {
        self.conn.get()
    }

    /// The driver's connection, mutable. What runs through it bypasses nimue's transaction
    /// tracking.
    pub fn native_mut(&mut self) -> &mut odbc_api::Connection<'static> {
        self.conn.get_mut()
    }

    /// Whether result sets with character or binary columns of a bounded size are read
    /// through bound buffers (off for drivers whose sizes are not limits, such as SQLite's,
    /// and after a value turned out longer than its column's reported size).
    pub fn binds_variable_size_columns(&self) -> bool {
        self.trust_sizes.get()
    }

    /// Whether the driver's `SQLRowCount` after a query may be used as its `rowcount`.
    pub(crate) fn counts_query_rows(&self) -> bool {
        self.counts_query_rows
    }

    /// Whether the driver cuts text parameters at a NUL byte.
    pub(crate) fn text_ends_at_nul(&self) -> bool {
        self.text_ends_at_nul
    }

    /// Note that a statement runs: with autocommit off, it is in the driver's transaction.
    pub(crate) fn statement_runs(&self) {
        self.used.set(true);
        if self.autocommit {
            self.sql_may_have_begun.set(true);
        } else {
            self.in_transaction.set(true);
        }
    }

    /// The outcome of running or reading a statement, as the cursor reports it: an error
    /// means the connection is lost when its SQLSTATE or the driver says so; a value longer
    /// than its column's reported size turns bound buffers off for variable-size columns.
    pub(crate) fn settle<T>(&self, result: std::result::Result<T, FetchError>) -> Result<T> {
        match result {
            Ok(value) => Ok(value),
            Err(FetchError::Truncated(e)) => {
                self.trust_sizes.set(false);
                Err(e)
            }
            Err(FetchError::Other(e)) => Err(self.after_error(e)),
        }
    }

    /// Remember when an error means the connection is gone (by its SQLSTATE, or because the
    /// driver now reports the connection dead), and report that as an `OperationalError`.
    fn after_error(&self, e: Error) -> Error {
        let lost_by_state = e.sqlstate().is_some_and(is_connection_lost);
        let dead = matches!(self.conn.get().is_dead(), Ok(true));
        if !(lost_by_state || dead) {
            return e;
        }
        self.broken.set(true);
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
        lost.with_driver_error(e).into()
    }

    /// Run `sql` and read any rows it returns to the end.
    fn run_to_end(&self, sql: &str) -> Result<()> {
        let mut stream = OdbcStream::new(self);
        if let Started::Rows(_) = stream.start(sql, &[])? {
            while stream.next_row()?.is_some() {}
        }
        Ok(())
    }

    /// The statement that puts this session's own settings back (see
    /// [`session::restore_settings`]).
    fn session_settings(&mut self) -> Result<Option<String>> {
        let rows = self.query(session::SETTINGS, &[]);
        if !self.autocommit {
            self.rollback()?;
        }
        session::restore_settings(&rows?)
    }

    /// Map a driver error, remembering when it means the connection is gone.
    fn watch<T>(&self, result: std::result::Result<T, odbc_api::Error>) -> Result<T> {
        result.map_err(|e| self.after_error(map_err(e)))
    }

    fn end_transaction(&mut self, commit: bool) -> Result<()> {
        if self.autocommit {
            return Ok(());
        }
        // Whatever the outcome, no transaction of ours is open afterwards (a failed commit
        // rolls back; a failure to send means the connection is gone).
        self.in_transaction.set(false);
        let conn = self.conn.get();
        let done = if commit {
            conn.commit()
        } else {
            conn.rollback()
        };
        self.watch(done)
    }
}

impl Connection for OdbcConnection {
    type Cursor<'c> = OdbcCursor<'c>;

    fn cursor(&mut self) -> Result<Self::Cursor<'_>> {
        Ok(StreamingCursor::new(OdbcStream::new(self)))
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
        if on && self.in_transaction.get() {
            return Err(Error::programming(
                "cannot turn autocommit on inside a transaction: commit or roll back first",
            ));
        }
        let done = self.conn.get().set_autocommit(on);
        self.watch(done)?;
        self.autocommit = on;
        self.in_transaction.set(false);
        Ok(())
    }
}

impl PoolHooks for OdbcConnection {
    fn backend(&self) -> &'static str {
        "odbc"
    }

    /// The driver's connection-dead attribute, then a round trip with the ping query. A
    /// transaction the query opens is rolled back.
    fn ping(&mut self) -> Result<()> {
        if matches!(self.conn.get().is_dead(), Ok(true)) {
            self.broken.set(true);
            return Err(Error::operational(
                "the ODBC driver reports the connection is dead",
            ));
        }
        let was_in_transaction = self.in_transaction.get();
        let result = match self.run_to_end(&self.ping_query) {
            // The server answered, refusing statements until the failed transaction is rolled
            // back (SQLSTATE class 25, e.g. PostgreSQL's 25P02): the connection is alive.
            Err(e) if !self.broken.get() && e.sqlstate().is_some_and(|s| s.starts_with("25")) => {
                Ok(())
            }
            other => other,
        };
        if !was_in_transaction && !self.autocommit {
            let ended = self.rollback();
            return result.and(ended);
        }
        result
    }

    fn is_broken(&self) -> bool {
        self.broken.get() || matches!(self.conn.get().is_dead(), Ok(true))
    }

    fn reset_cleared_session(&self) -> bool {
        self.session_cleared
    }

    /// The session as the pool's set-up left it is the baseline: its statements are not a
    /// checkout's, and on PostgreSQL its settings (the driver's connect-time ones among them)
    /// are what the clear puts back.
    fn session_set_up(&mut self) {
        if self.clear_session.is_some() {
            match self.session_settings() {
                Ok(restore) => self.restore_settings = restore,
                Err(e) => {
                    log::warn!("reading the session's settings (to keep them across resets): {e}")
                }
            }
        }
        self.used.set(false);
    }

    /// Roll back, ending with SQL a transaction the statements may have begun with
    /// autocommit on (see the type's docs), and turn autocommit back off.
    fn reset(&mut self) -> Result<()> {
        if self.sql_may_have_begun.get() {
            if let Err(e) = self.run_to_end("ROLLBACK") {
                if self.broken.get() {
                    return Err(e);
                }
                // Nothing was open: what drivers say to that differs (an error with the
                // SQLite driver, a warning with PostgreSQL's).
                log::debug!("ROLLBACK after an autocommit checkout: {e}");
            }
        }
        self.sql_may_have_begun.set(false);
        self.session_cleared = false;
        self.rollback()?;
        if let (Some(clear), true) = (self.clear_session, self.used.take()) {
            // With autocommit on: in one implicit transaction, not the driver's. Executed
            // directly (`SQLExecDirect`), so the driver prepares nothing of its own for it.
            self.set_autocommit(true)?;
            let done = match &self.restore_settings {
                Some(restore) => self
                    .conn
                    .get()
                    .execute(&format!("{clear}; {restore}"), (), None),
                None => self.conn.get().execute(clear, (), None),
            };
            self.watch(done.map(drop))?;
            self.used.set(false);
            self.session_cleared = true;
        }
        if self.autocommit {
            self.set_autocommit(false)?;
        }
        Ok(())
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
