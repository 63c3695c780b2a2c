//! `MySqlConnection`: a PEP 249 connection over one `mysql::Conn`.

use crate::cursor::MySqlStream;
use crate::error::{is_gone, map_err};
use mysql::prelude::Queryable;
use nimue_core::{Connection, Error, Result, StreamingCursor};

/// The cursor of a [`MySqlConnection`]: rows are read from the server as they are fetched
/// (see [`StreamingCursor`] for `rowcount` of long results).
///
/// The MySQL protocol has one result in flight per connection, and the server sends a query's
/// rows as fast as the client reads them: while a cursor is in the middle of a result, the
/// rest waits in the socket (and the server gives up on the connection after its
/// `net_write_timeout`, 60 s by default, without a read). Executing another statement on the
/// cursor, or dropping it, reads and discards the rest of the result first.
pub type MySqlCursor<'c> = StreamingCursor<MySqlStream<'c>>;

/// A connection to a MySQL or MariaDB server.
///
/// The session runs with `autocommit=0` (PEP 249's default): every statement is inside a
/// transaction until `commit()` or `rollback()`, with no extra round trip to open one.
/// Statements are prepared once and cached by the driver. `rowcount` counts matched rows
/// for `UPDATE` (the `CLIENT_FOUND_ROWS` behaviour, as PostgreSQL and SQLite count).
pub struct MySqlConnection {
    conn: mysql::Conn,
    session: Session,
    reset_session: bool,
    /// Whether the last `reset` cleared the session (`COM_RESET_CONNECTION`).
    session_cleared: bool,
}

impl std::fmt::Debug for MySqlConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MySqlConnection")
            .field("connection_id", &self.conn.connection_id())
            .field("autocommit", &self.session.autocommit)
            .field("in_transaction", &self.session.in_transaction)
            .field("broken", &self.session.broken)
            .finish()
    }
}

impl MySqlConnection {
    /// Wrap a driver connection whose session already has `autocommit=0` (the connector's
    /// init command sets it). With `reset_session`, [`reset`](Connection::reset) clears all
    /// session state with `COM_RESET_CONNECTION`; without, it only rolls back.
    pub fn from_conn(conn: mysql::Conn, reset_session: bool) -> Self {
        MySqlConnection {
            conn,
            session: Session::default(),
            reset_session,
            session_cleared: false,
        }
    }

    /// The server's id for this session, for `KILL <id>` or the process list.
    pub fn connection_id(&self) -> u32 {
        self.conn.connection_id()
    }

    /// The underlying driver connection, for what nimue does not cover. Statements run
    /// through it bypass nimue's transaction tracking.
    pub fn conn(&mut self) -> &mut mysql::Conn {
        &mut self.conn
    }
}

/// PEP 249's bookkeeping of a session, apart from the driver connection: a cursor reading a
/// result (which borrows the driver connection) still updates it.
#[derive(Debug, Default)]
pub(crate) struct Session {
    pub(crate) autocommit: bool,
    /// A statement ran since the last commit/rollback (so the session holds a transaction).
    pub(crate) in_transaction: bool,
    /// A statement ran since the last reset (so the session may hold state to clear).
    pub(crate) used: bool,
    pub(crate) broken: bool,
}

impl Session {
    /// Map a driver error, remembering when the connection is gone (the pool discards it).
    pub(crate) fn watch<T>(&mut self, result: std::result::Result<T, mysql::Error>) -> Result<T> {
        result.map_err(|e| {
            self.broken |= is_gone(&e);
            map_err(e)
        })
    }
}

impl Connection for MySqlConnection {
    type Cursor<'c> = MySqlCursor<'c>;

    fn cursor(&mut self) -> Result<Self::Cursor<'_>> {
        Ok(StreamingCursor::new(MySqlStream::new(
            &mut self.conn,
            &mut self.session,
        )))
    }

    fn commit(&mut self) -> Result<()> {
        if !std::mem::take(&mut self.session.in_transaction) {
            return Ok(());
        }
        let done = self.conn.query_drop("COMMIT");
        self.session.watch(done)
    }

    fn rollback(&mut self) -> Result<()> {
        if !std::mem::take(&mut self.session.in_transaction) {
            return Ok(());
        }
        let done = self.conn.query_drop("ROLLBACK");
        self.session.watch(done)
    }

    /// Sends `COM_QUIT` and closes the socket (the driver does it on drop).
    fn close(self) -> Result<()> {
        drop(self.conn);
        Ok(())
    }

    fn autocommit(&self) -> bool {
        self.session.autocommit
    }

    fn set_autocommit(&mut self, on: bool) -> Result<()> {
        if on && self.session.in_transaction {
            return Err(Error::programming(
                "cannot turn autocommit on inside a transaction: commit or roll back first",
            ));
        }
        let done = self.conn.query_drop(if on {
            "SET autocommit=1"
        } else {
            "SET autocommit=0"
        });
        self.session.watch(done)?;
        self.session.autocommit = on;
        self.session.used = true;
        Ok(())
    }

    /// The protocol's `COM_PING`.
    fn ping(&mut self) -> Result<()> {
        let done = self.conn.ping();
        self.session.watch(done)
    }

    fn is_broken(&self) -> bool {
        self.session.broken
    }

    /// Roll back and clear the session: with `COM_RESET_CONNECTION` (one round trip that
    /// also drops temporary tables, user variables and prepared statements) when the
    /// connection was used and the connector resets sessions, else a `ROLLBACK` when a
    /// transaction is open. Either way the session is back to `autocommit=0`.
    /// `COM_RESET_CONNECTION` (with `reset_session`, on a used connection) clears session
    /// variables: the pool runs its `on_connect` set-up again.
    fn reset_cleared_session(&self) -> bool {
        self.session_cleared
    }

    fn reset(&mut self) -> Result<()> {
        self.session_cleared = self.reset_session && std::mem::take(&mut self.session.used);
        if self.session_cleared {
            let done = self.conn.reset();
            self.session.watch(done)?;
        } else {
            self.rollback()?;
            if self.session.autocommit {
                let done = self.conn.query_drop("SET autocommit=0");
                self.session.watch(done)?;
            }
        }
        self.session.in_transaction = false;
        self.session.autocommit = false;
        Ok(())
    }
}
