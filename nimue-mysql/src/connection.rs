//! `MySqlConnection`: a PEP 249 connection over one `mysql::Conn`.

use crate::cursor::MySqlStream;
use crate::session::{Session, SessionReset};
use mysql::prelude::Queryable;
use nimue_core::{Connection, Error, PoolHooks, Result, StreamingCursor};

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
    /// The autocommit of the session as set up: what `reset` restores.
    set_up_autocommit: bool,
    /// The connection's default database, which `COM_RESET_CONNECTION` does not restore.
    database: Option<String>,
    /// The init commands and the connector's session settings, run again after
    /// `COM_RESET_CONNECTION`, as one multi-statement (empty: none).
    set_up: String,
    /// Whether the last `reset` cleared the session (`COM_RESET_CONNECTION`).
    session_cleared: bool,
}

impl std::fmt::Debug for MySqlConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MySqlConnection")
            .field("connection_id", &self.conn.connection_id())
            .field("autocommit", &self.session.autocommit)
            .field("in_transaction", &self.session.in_transaction)
            .field("changed", &self.session.changed)
            .field("broken", &self.session.broken)
            .finish()
    }
}

impl MySqlConnection {
    /// Wrap a driver connection whose session already has `autocommit=0` (the connector's
    /// init command sets it). With `reset_session`, [`reset`](PoolHooks::reset) clears all
    /// session state with `COM_RESET_CONNECTION` after every used checkout
    /// ([`SessionReset::Always`]: whether the server reports session changes on this
    /// connection is not known); without, it only rolls back.
    pub fn from_conn(conn: mysql::Conn, reset_session: bool) -> Self {
        let reset = if reset_session {
            SessionReset::Always
        } else {
            SessionReset::Rollback
        };
        // After COM_RESET_CONNECTION the driver runs its own init commands, then this.
        Self::with_reset(conn, reset, None, vec!["SET autocommit=0".to_owned()])
    }

    /// Wrap a driver connection whose session has `autocommit=0`, `database` as its default
    /// and the settings `set_up` made, resetting it as `reset` says (`WhenChanged` only when
    /// the server reports session changes on it).
    pub(crate) fn with_reset(
        conn: mysql::Conn,
        reset: SessionReset,
        database: Option<String>,
        set_up: Vec<String>,
    ) -> Self {
        MySqlConnection {
            conn,
            session: Session {
                reset,
                ..Session::default()
            },
            set_up_autocommit: false,
            database,
            set_up: set_up.join("; "),
            session_cleared: false,
        }
    }

    /// The server's id for this session, for `KILL <id>` or the process list.
    pub fn connection_id(&self) -> u32 {
        self.conn.connection_id()
    }

    /// The underlying driver connection, for what nimue does not cover. nimue cannot see what
    /// runs through it, so the pool's return then rolls back, and with the default
    /// [`SessionReset::Always`] resets the session completely.
    pub fn conn(&mut self) -> &mut mysql::Conn {
        self.session.borrowed();
        &mut self.conn
    }

    /// The driver's connection (every adapter's `native`).
    pub fn native(&self) -> &mysql::Conn {
        &self.conn
    }

    /// The driver's connection, mutable: the same as [`conn`](Self::conn).
    pub fn native_mut(&mut self) -> &mut mysql::Conn {
        self.conn()
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
        self.session.wrote = false;
        if !std::mem::take(&mut self.session.in_transaction) {
            return Ok(());
        }
        let done = self.conn.query_drop("COMMIT");
        self.session.watch(done)
    }

    fn rollback(&mut self) -> Result<()> {
        self.session.wrote = false;
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
        // The session just reset (or set) to this: nothing to send.
        if self.session.server_autocommit != Some(on) {
            let done = self.conn.query_drop(if on {
                "SET autocommit=1"
            } else {
                "SET autocommit=0"
            });
            self.session.watch(done)?;
            self.session.server_autocommit = Some(on);
        }
        self.session.autocommit = on;
        Ok(())
    }
}

impl PoolHooks for MySqlConnection {
    fn backend(&self) -> &'static str {
        "mysql"
    }

    /// The server reported a write in the open transaction (its session tracking: not known
    /// on a server without it).
    fn holds_uncommitted_writes(&self) -> bool {
        self.session.in_transaction && self.session.wrote
    }

    /// The protocol's `COM_PING`.
    fn ping(&mut self) -> Result<()> {
        let done = self.conn.ping();
        self.session.watch(done)
    }

    fn is_broken(&self) -> bool {
        self.session.broken
    }

    /// Back to the session as it was set up: `COM_RESET_CONNECTION` when the checkout may have
    /// changed more than autocommit and the transaction (see [`SessionReset`]; one round trip
    /// that rolls back and also drops temporary tables, user variables, locks and prepared
    /// statements), else a `ROLLBACK` when a transaction may be open and a `SET autocommit`
    /// when it was changed. A checkout that ran only queries with autocommit on costs no round
    /// trip at all. After `COM_RESET_CONNECTION` the session has `autocommit=0`, the
    /// statements the checkout ran are prepared again (the reset drops them), and the pool
    /// runs its `on_connect` set-up again.
    fn reset(&mut self) -> Result<()> {
        self.session_cleared = std::mem::take(&mut self.session.changed);
        if self.session_cleared {
            let done = self.conn.reset();
            self.session.watch(done)?;
            // The reset undid the init commands (`SET autocommit=0` among them) and the
            // connector's settings (session tracking, the statement timeout), and kept
            // whatever database a `USE` chose: all in one more round trip.
            let mut again = self.set_up.clone();
            if let Some(db) = self.database.as_deref() {
                if !again.is_empty() {
                    again.push_str("; ");
                }
                again.push_str(&format!("USE `{}`", db.replace('`', "``")));
            }
            if !again.is_empty() {
                let done = self.conn.query_drop(&again);
                self.session.watch(done)?;
            }
            // The statements it ran, ready again for the next checkout (most run the same
            // ones); one that no longer prepares (a table dropped) is left to fail there.
            for sql in std::mem::take(&mut self.session.statements) {
                let prepared = self.conn.prep(&sql);
                if let Err(e) = self.session.watch(prepared) {
                    if self.session.broken {
                        return Err(e);
                    }
                }
            }
            self.session.server_autocommit = Some(false);
            self.session.in_transaction = false;
            self.session.wrote = false;
            self.session.autocommit = false;
            self.set_up_autocommit = false;
            return Ok(());
        }
        // The driver keeps its prepared statements: nothing to prepare again.
        self.session.statements.clear();
        self.rollback()?;
        if self.session.autocommit != self.set_up_autocommit {
            self.set_autocommit(self.set_up_autocommit)?;
        }
        Ok(())
    }

    fn reset_cleared_session(&self) -> bool {
        self.session_cleared
    }

    /// A round trip follows when the checkout may have opened a transaction (every
    /// statement with autocommit off), changed the session, or turned autocommit around.
    fn reset_waits(&self) -> bool {
        self.session.changed
            || self.session.in_transaction
            || self.session.autocommit != self.set_up_autocommit
    }

    /// `reset` sends something exactly when it waits for it.
    fn reset_is_local(&self) -> bool {
        !self.reset_waits()
    }

    /// The session as it is now (after the pool's `autocommit` and `on_connect`) is what
    /// `reset` returns to.
    fn session_set_up(&mut self) {
        self.set_up_autocommit = self.session.autocommit;
        self.session.changed = false;
    }
}
