//! [`PoolHooks`]: what an adapter tells the pool about a connection and does for it, apart
//! from the DB-API methods users call ([`Connection`]).

use crate::connection::Connection;
use crate::cursor::Cursor;
use crate::error::Result;
use std::future::Future;
use std::pin::Pin;

/// The future of [`PoolHooks::check_future`].
pub type CheckFuture<'c> = Pin<Box<dyn Future<Output = Result<()>> + Send + 'c>>;

/// The pool's side of a connection: checking it is alive, telling whether it is broken,
/// resetting it on return, and what the adapter knows of its session. Every method has a
/// default that is correct for any [`Connection`]; adapters override them where their driver
/// can do better (a cheaper ping, a reset without a round trip). A driver of your own needs
/// no more than `impl PoolHooks for MyConnection {}` to be pooled (see `examples/custom_driver.rs`).
///
/// Users rarely call these; [`Pool`](crate::Pool) does.
pub trait PoolHooks: Connection {
    /// Check the connection is alive, doing I/O if needed. The default runs `SELECT 1`;
    /// adapters override it with their driver's cheapest real check.
    fn ping(&mut self) -> Result<()> {
        let mut cursor = self.cursor()?;
        cursor.execute("SELECT 1", &[])?;
        cursor.fetchall().map(drop)
    }

    /// Check the connection is alive as thoroughly as `level` asks; the pool calls this (with
    /// its [`liveness`](crate::PoolBuilder::liveness) setting) on idle connections and for
    /// `test_on_checkout`, never with a transaction open. The default: a broken connection
    /// fails every level; [`Liveness::Ping`] is [`ping`](Self::ping); [`Liveness::Query`] runs
    /// `SELECT 1` through a cursor and, with autocommit off, rolls back the transaction that
    /// opened. Adapters whose database needs another query override it.
    ///
    /// ```
    /// use nimue_core::{testing::TestConnector, Connect, Connection, Liveness, PoolHooks};
    ///
    /// let connector = TestConnector::new();
    /// let mut conn = connector.connect()?;
    /// conn.check(Liveness::Query)?;
    /// connector.kill(conn.id());
    /// assert!(conn.check(Liveness::Flag).is_ok(), "the flag cannot know yet");
    /// assert!(conn.check(Liveness::Ping).is_err());
    /// # Ok::<(), nimue_core::Error>(())
    /// ```
    fn check(&mut self, level: Liveness) -> Result<()> {
        if self.is_broken() {
            return Err(crate::Error::operational("the connection is broken"));
        }
        match level {
            Liveness::Flag => Ok(()),
            Liveness::Ping => self.ping(),
            Liveness::Query => {
                {
                    let mut cursor = self.cursor()?;
                    cursor.execute("SELECT 1", &[])?;
                    cursor.fetchall()?;
                }
                if self.autocommit() {
                    Ok(())
                } else {
                    self.rollback()
                }
            }
        }
    }

    /// [`check`](Self::check) as a future, for a checkout a task awaits
    /// ([`Pool::get_async`](crate::Pool::get_async) with `test_on_checkout`): `Some` where the
    /// check can wait without blocking the task's thread (a native async connection's round
    /// trip, a bridged connection's command to its thread); `None`, the default, has the
    /// checkout run `check` in place, as a thread's checkout does.
    fn check_future(&mut self, level: Liveness) -> Option<CheckFuture<'_>> {
        let _ = level;
        None
    }

    /// Whether the connection is known to be unusable, without any I/O (a closed socket, a
    /// fatal error seen earlier). The pool discards broken connections instead of reusing them.
    fn is_broken(&self) -> bool {
        false
    }

    /// Return the connection to the state of a new one, as far as that is cheap, before the
    /// pool hands it to the next user. The default rolls back any open transaction and turns
    /// autocommit back off; adapters may clear more session state.
    fn reset(&mut self) -> Result<()> {
        self.rollback()?;
        if self.autocommit() {
            self.set_autocommit(false)?;
        }
        Ok(())
    }

    /// Whether [`reset`](Self::reset) would wait on the database now (a round trip to roll
    /// back or to clear the session). The pool then runs the reset of a dropped guard on its
    /// resetter thread (see [`PoolBuilder::background_reset`](crate::PoolBuilder::background_reset)),
    /// so the caller does not wait for it. The default, `true`, suits a driver whose rollback
    /// is a round trip; adapters whose reset is local or sent without waiting say `false`.
    fn reset_waits(&self) -> bool {
        true
    }

    /// Whether [`reset`](Self::reset) (and restoring the pool's autocommit after it) would
    /// not block now: nothing to roll back or clear, or only requests written without waiting
    /// (a native async connection's). With the `tokio`
    /// feature, a guard dropped on an async runtime's thread is then given back right there;
    /// otherwise its reset runs on a blocking thread, so no driver call blocks the runtime.
    /// The default, `false`, is always safe; adapters that track their session say `true` when
    /// they can.
    fn reset_is_local(&self) -> bool {
        false
    }

    /// Whether a transaction with writes in it is open: what giving the connection back to
    /// the pool would roll back (the pool then warns, naming where it was checked out).
    /// Adapters that can tell override it; the default is `false`.
    fn holds_uncommitted_writes(&self) -> bool {
        false
    }

    /// Whether the server has since said that the transaction an earlier
    /// [`reset`](Self::reset) rolled back held writes
    /// [`holds_uncommitted_writes`](Self::holds_uncommitted_writes) could not tell from the
    /// statements (a writing `WITH`, a function that writes): an adapter that asks the server
    /// without waiting for the answer gets it with a later request. Taken (the next call says
    /// `false`); the pool then warns, naming where that earlier checkout was made. The
    /// default is `false`.
    fn took_back_uncommitted_writes(&mut self) -> bool {
        false
    }

    /// The database system behind this connection, for code that picks a driver at run time
    /// (a [`BoxConnection`](crate::BoxConnection)): `"sqlite"`, `"postgres"`, `"mysql"`,
    /// `"odbc"` for nimue's adapters. The default is `"unknown"`.
    fn backend(&self) -> &'static str {
        "unknown"
    }

    /// Called by the pool once its set-up of a session (its `autocommit` setting and
    /// `on_connect` hook) has run: the session as it is now is what [`reset`](Self::reset)
    /// returns to. Adapters that make `reset` cheaper by tracking what a checkout changed
    /// start tracking from here; the default does nothing.
    fn session_set_up(&mut self) {}

    /// Whether the last [`reset`](Self::reset) also cleared the session's settings, as
    /// MySQL's `COM_RESET_CONNECTION` does (default `false`). The pool then runs its set-up
    /// again (its `autocommit` setting and `on_connect` hook), so a returned connection is
    /// always in the session the pool set up.
    fn reset_cleared_session(&self) -> bool {
        false
    }
}

/// How thoroughly the pool checks that a connection is alive ([`PoolHooks::check`]): a
/// ladder from free to thorough, set with [`PoolBuilder::liveness`](crate::PoolBuilder::liveness).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Liveness {
    /// No I/O: only [`PoolHooks::is_broken`] (a closed socket, a fatal error seen earlier).
    /// Free, but it calls a connection alive whose server went away silently.
    Flag,
    /// The driver's cheapest round trip, [`PoolHooks::ping`]: an empty query on PostgreSQL,
    /// `COM_PING` on MySQL, the dead-connection attribute and a query on ODBC, `SELECT 1` on
    /// SQLite. The default.
    #[default]
    Ping,
    /// A real statement through the SQL layer (`SELECT 1`): also catches a server that
    /// answers the protocol but cannot run statements.
    Query,
}
