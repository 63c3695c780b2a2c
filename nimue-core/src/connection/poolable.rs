//! What the pool asks of the connections it holds ([`Poolable`]) and of what opens them
//! ([`Open`]): less than the DB-API. Every [`PoolHooks`] connection is `Poolable` and every
//! [`Connect`] connector is an `Open`, so nimue's DB-API connections are one kind of pooled
//! connection; a connection of another API (an ORM's, say) implements these two directly.

use super::hooks::{CheckFuture, Liveness, PoolHooks};
use super::{Connect, Connection};
use crate::error::{Error, Result};

/// A connection the pool can hold: checked, told broken, reset on return and closed. The
/// pool calls nothing else on it; users reach it through the guard's `Deref`.
///
/// The methods are [`PoolHooks`]' (see each there), minus the defaults that need the DB-API:
/// [`check`](Self::check) and [`reset`](Self::reset) are the implementor's to write, and a
/// connection without PEP 249's autocommit says so ([`session_autocommit`](Self::session_autocommit)
/// is `None`; a pool with an [`autocommit`](crate::PoolBuilder::autocommit) setting then
/// refuses to set it up).
///
/// ```
/// use nimue_core::{Liveness, Open, Pool, Poolable, Result};
///
/// /// A connection of some other API.
/// struct Session { alive: bool }
///
/// impl Poolable for Session {
///     fn check(&mut self, _level: Liveness) -> Result<()> {
///         if self.alive { Ok(()) } else { Err(nimue_core::Error::operational("gone")) }
///     }
///     fn reset(&mut self) -> Result<()> {
///         Ok(())
///     }
/// }
///
/// struct Opener;
///
/// impl Open for Opener {
///     type Conn = Session;
///     fn open(&self) -> Result<Session> {
///         Ok(Session { alive: true })
///     }
/// }
///
/// let pool = Pool::builder(Opener).max_size(2).build()?;
/// let session = pool.get()?;
/// assert!(session.alive);
/// # Ok::<(), nimue_core::Error>(())
/// ```
pub trait Poolable: Send + 'static {
    /// Check the connection is alive as thoroughly as `level` asks ([`PoolHooks::check`]).
    fn check(&mut self, level: Liveness) -> Result<()>;

    /// [`check`](Self::check) as a future for a task's checkout ([`PoolHooks::check_future`]);
    /// `None` (the default) runs `check` in place.
    fn check_future(&mut self, level: Liveness) -> Option<CheckFuture<'_>> {
        let _ = level;
        None
    }

    /// Whether the connection is known to be unusable, without I/O ([`PoolHooks::is_broken`]).
    fn is_broken(&self) -> bool {
        false
    }

    /// Back to the state the pool set up, before the next user ([`PoolHooks::reset`]).
    fn reset(&mut self) -> Result<()>;

    /// Whether `reset` would wait on the database now ([`PoolHooks::reset_waits`]).
    fn reset_waits(&self) -> bool {
        true
    }

    /// Whether `reset` would not block now ([`PoolHooks::reset_is_local`]).
    fn reset_is_local(&self) -> bool {
        false
    }

    /// Whether a transaction with writes is open ([`PoolHooks::holds_uncommitted_writes`]).
    fn holds_uncommitted_writes(&self) -> bool {
        false
    }

    /// Whether the server said an earlier reset rolled back writes
    /// ([`PoolHooks::took_back_uncommitted_writes`]).
    fn took_back_uncommitted_writes(&mut self) -> bool {
        false
    }

    /// The database system behind the connection ([`PoolHooks::backend`]).
    fn backend(&self) -> &'static str {
        "unknown"
    }

    /// The pool's set-up of the session has run ([`PoolHooks::session_set_up`]).
    fn session_set_up(&mut self) {}

    /// Whether the last reset cleared the session's settings
    /// ([`PoolHooks::reset_cleared_session`]).
    fn reset_cleared_session(&self) -> bool {
        false
    }

    /// PEP 249's autocommit of the session, which the pool restores after a reset; `None`
    /// (the default): the connection has no such setting.
    fn session_autocommit(&self) -> Option<bool> {
        None
    }

    /// Set the session's autocommit (the pool's `autocommit` setting, and its restore after
    /// a reset). The default refuses: the connection has no such setting.
    fn set_session_autocommit(&mut self, on: bool) -> Result<()> {
        let _ = on;
        Err(Error::not_supported(
            "this connection has no autocommit setting: leave the pool's autocommit unset",
        ))
    }

    /// Close the connection (the default drops it).
    fn close(self) -> Result<()>
    where
        Self: Sized,
    {
        Ok(())
    }
}

/// Every DB-API connection with its [`PoolHooks`] is poolable.
impl<C: PoolHooks + 'static> Poolable for C {
    fn check(&mut self, level: Liveness) -> Result<()> {
        PoolHooks::check(self, level)
    }
    fn check_future(&mut self, level: Liveness) -> Option<CheckFuture<'_>> {
        PoolHooks::check_future(self, level)
    }
    fn is_broken(&self) -> bool {
        PoolHooks::is_broken(self)
    }
    fn reset(&mut self) -> Result<()> {
        PoolHooks::reset(self)
    }
    fn reset_waits(&self) -> bool {
        PoolHooks::reset_waits(self)
    }
    fn reset_is_local(&self) -> bool {
        PoolHooks::reset_is_local(self)
    }
    fn holds_uncommitted_writes(&self) -> bool {
        PoolHooks::holds_uncommitted_writes(self)
    }
    fn took_back_uncommitted_writes(&mut self) -> bool {
        PoolHooks::took_back_uncommitted_writes(self)
    }
    fn backend(&self) -> &'static str {
        PoolHooks::backend(self)
    }
    fn session_set_up(&mut self) {
        PoolHooks::session_set_up(self)
    }
    fn reset_cleared_session(&self) -> bool {
        PoolHooks::reset_cleared_session(self)
    }
    fn session_autocommit(&self) -> Option<bool> {
        Some(Connection::autocommit(self))
    }
    fn set_session_autocommit(&mut self, on: bool) -> Result<()> {
        Connection::set_autocommit(self, on)
    }
    fn close(self) -> Result<()> {
        Connection::close(self)
    }
}

/// Opens the connections a pool holds: what [`Pool`](crate::Pool) asks of its connector.
/// Every [`Connect`] is one; implement it directly for connections that are [`Poolable`]
/// but not DB-API connections.
pub trait Open: Send + Sync + 'static {
    /// The connection type opened.
    type Conn: Poolable;

    /// Open a new connection.
    fn open(&self) -> Result<Self::Conn>;
}

impl<K: Connect> Open for K {
    type Conn = K::Connection;

    fn open(&self) -> Result<K::Connection> {
        self.connect()
    }
}
