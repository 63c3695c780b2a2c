//! Connections chosen at run time: one type for "whatever driver the URL names".
//!
//! [`Connection`] has an associated cursor type, so `dyn Connection` is not a type.
//! [`DynConnection`] is its object-safe twin, implemented for every connection;
//! [`BoxConnection`] (a `Box<dyn DynConnection>`) implements [`Connection`] again, so a pool
//! or any generic code can hold connections of drivers picked at run time.
//!
//! ```
//! use nimue_core::{BoxConnection, BoxConnector, Connect, Connection, Result};
//!
//! fn open(connector: &BoxConnector) -> Result<BoxConnection> {
//!     connector.connect()
//! }
//! fn uses_any(conn: &mut BoxConnection) -> Result<i64> {
//!     conn.execute("DELETE FROM sessions", &[])
//! }
//! ```

use crate::connection::{Connect, Connection, PoolHooks};
use crate::cursor::Cursor;
use crate::error::Result;
use std::any::Any;
use std::fmt;
use std::sync::Arc;

/// The object-safe form of [`Connection`] and its [`PoolHooks`], implemented for every
/// connection type.
pub trait DynConnection: Send {
    /// [`Connection::cursor`], boxed.
    fn dyn_cursor(&mut self) -> Result<Box<dyn Cursor + '_>>;
    /// [`Connection::commit`].
    fn dyn_commit(&mut self) -> Result<()>;
    /// [`Connection::rollback`].
    fn dyn_rollback(&mut self) -> Result<()>;
    /// [`Connection::close`].
    fn dyn_close(self: Box<Self>) -> Result<()>;
    /// [`Connection::autocommit`].
    fn dyn_autocommit(&self) -> bool;
    /// [`Connection::set_autocommit`].
    fn dyn_set_autocommit(&mut self, on: bool) -> Result<()>;
    /// [`PoolHooks::ping`].
    fn dyn_ping(&mut self) -> Result<()>;
    /// [`PoolHooks::is_broken`].
    fn dyn_is_broken(&self) -> bool;
    /// [`PoolHooks::check`].
    fn dyn_check(&mut self, level: crate::Liveness) -> Result<()>;
    /// [`PoolHooks::check_future`].
    fn dyn_check_future(&mut self, level: crate::Liveness) -> Option<crate::CheckFuture<'_>>;
    /// [`PoolHooks::reset`].
    fn dyn_reset(&mut self) -> Result<()>;
    /// [`PoolHooks::reset_cleared_session`].
    fn dyn_reset_cleared_session(&self) -> bool;
    /// [`PoolHooks::reset_waits`].
    fn dyn_reset_waits(&self) -> bool;
    /// [`PoolHooks::reset_is_local`].
    fn dyn_reset_is_local(&self) -> bool;
    /// [`PoolHooks::session_set_up`].
    fn dyn_session_set_up(&mut self);
    /// [`PoolHooks::backend`].
    fn dyn_backend(&self) -> &'static str;
    /// [`PoolHooks::holds_uncommitted_writes`].
    fn dyn_holds_uncommitted_writes(&self) -> bool;
    /// [`PoolHooks::took_back_uncommitted_writes`].
    fn dyn_took_back_uncommitted_writes(&mut self) -> bool;
    /// The connection as `Any`, to reach the adapter's own type.
    fn as_any(&self) -> &dyn Any;
    /// The connection as `Any`, mutable.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl dyn DynConnection {
    /// The adapter's own connection type `C` (e.g. `SqliteConnection`), when this is one: for
    /// its `native()` driver connection and whatever else the adapter offers.
    ///
    /// ```
    /// use nimue_core::testing::{TestConnection, TestConnector};
    /// use nimue_core::{BoxConnector, Connect, PoolHooks};
    /// let mut conn = BoxConnector::new(TestConnector::new()).connect()?;
    /// assert_eq!(conn.backend(), "test");
    /// assert!(conn.downcast_mut::<TestConnection>().is_some());
    /// # Ok::<(), nimue_core::Error>(())
    /// ```
    pub fn downcast_mut<C: Connection + 'static>(&mut self) -> Option<&mut C> {
        self.as_any_mut().downcast_mut()
    }

    /// `downcast_mut`, shared.
    pub fn downcast_ref<C: Connection + 'static>(&self) -> Option<&C> {
        self.as_any().downcast_ref()
    }
}

impl<C: PoolHooks + 'static> DynConnection for C {
    fn dyn_cursor(&mut self) -> Result<Box<dyn Cursor + '_>> {
        Ok(Box::new(self.cursor()?))
    }
    fn dyn_commit(&mut self) -> Result<()> {
        self.commit()
    }
    fn dyn_rollback(&mut self) -> Result<()> {
        self.rollback()
    }
    fn dyn_close(self: Box<Self>) -> Result<()> {
        (*self).close()
    }
    fn dyn_autocommit(&self) -> bool {
        self.autocommit()
    }
    fn dyn_set_autocommit(&mut self, on: bool) -> Result<()> {
        self.set_autocommit(on)
    }
    fn dyn_ping(&mut self) -> Result<()> {
        self.ping()
    }
    fn dyn_check(&mut self, level: crate::Liveness) -> Result<()> {
        self.check(level)
    }
    fn dyn_check_future(&mut self, level: crate::Liveness) -> Option<crate::CheckFuture<'_>> {
        self.check_future(level)
    }
    fn dyn_is_broken(&self) -> bool {
        self.is_broken()
    }
    fn dyn_reset(&mut self) -> Result<()> {
        self.reset()
    }
    fn dyn_reset_cleared_session(&self) -> bool {
        self.reset_cleared_session()
    }
    fn dyn_reset_waits(&self) -> bool {
        self.reset_waits()
    }
    fn dyn_reset_is_local(&self) -> bool {
        self.reset_is_local()
    }
    fn dyn_session_set_up(&mut self) {
        self.session_set_up()
    }
    fn dyn_backend(&self) -> &'static str {
        self.backend()
    }
    fn dyn_holds_uncommitted_writes(&self) -> bool {
        self.holds_uncommitted_writes()
    }
    fn dyn_took_back_uncommitted_writes(&mut self) -> bool {
        self.took_back_uncommitted_writes()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// A connection of any driver, chosen at run time.
pub type BoxConnection = Box<dyn DynConnection>;

impl Connection for BoxConnection {
    type Cursor<'c> = Box<dyn Cursor + 'c>;

    fn cursor(&mut self) -> Result<Self::Cursor<'_>> {
        (**self).dyn_cursor()
    }
    fn commit(&mut self) -> Result<()> {
        (**self).dyn_commit()
    }
    fn rollback(&mut self) -> Result<()> {
        (**self).dyn_rollback()
    }
    fn close(self) -> Result<()> {
        self.dyn_close()
    }
    fn autocommit(&self) -> bool {
        (**self).dyn_autocommit()
    }
    fn set_autocommit(&mut self, on: bool) -> Result<()> {
        (**self).dyn_set_autocommit(on)
    }
}

impl PoolHooks for BoxConnection {
    fn ping(&mut self) -> Result<()> {
        (**self).dyn_ping()
    }

    fn check(&mut self, level: crate::Liveness) -> Result<()> {
        (**self).dyn_check(level)
    }

    fn check_future(&mut self, level: crate::Liveness) -> Option<crate::CheckFuture<'_>> {
        (**self).dyn_check_future(level)
    }

    fn is_broken(&self) -> bool {
        (**self).dyn_is_broken()
    }

    fn reset(&mut self) -> Result<()> {
        (**self).dyn_reset()
    }

    fn reset_cleared_session(&self) -> bool {
        (**self).dyn_reset_cleared_session()
    }

    fn reset_waits(&self) -> bool {
        (**self).dyn_reset_waits()
    }

    fn reset_is_local(&self) -> bool {
        (**self).dyn_reset_is_local()
    }

    fn session_set_up(&mut self) {
        (**self).dyn_session_set_up()
    }

    fn backend(&self) -> &'static str {
        (**self).dyn_backend()
    }

    fn holds_uncommitted_writes(&self) -> bool {
        (**self).dyn_holds_uncommitted_writes()
    }

    fn took_back_uncommitted_writes(&mut self) -> bool {
        (**self).dyn_took_back_uncommitted_writes()
    }
}

/// A connector of any driver, opening [`BoxConnection`]s.
#[derive(Clone)]
pub struct BoxConnector {
    connect: Arc<dyn Fn() -> Result<BoxConnection> + Send + Sync>,
    /// `Debug` of the wrapped connector (adapters keep passwords out of theirs).
    shown: String,
}

impl BoxConnector {
    /// Wrap any connector.
    pub fn new<K: Connect + fmt::Debug>(connector: K) -> Self
    where
        K::Connection: 'static,
    {
        let shown = format!("{connector:?}");
        BoxConnector {
            connect: Arc::new(move || Ok(Box::new(connector.connect()?) as BoxConnection)),
            shown,
        }
    }
}

impl fmt::Debug for BoxConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl Connect for BoxConnector {
    type Connection = BoxConnection;

    fn connect(&self) -> Result<BoxConnection> {
        (self.connect)()
    }
}
