//! PEP 249 connections and the connector that opens them.

use crate::cell::RowView;
use crate::cursor::Cursor;
use crate::error::{Error, Result};
use crate::from_row::FromRow;
use crate::params::Params;
use crate::row::Row;
use crate::value::FromValue;

mod hooks;
mod poolable;
mod session_reset;
mod transaction;

pub use hooks::{CheckFuture, Liveness, PoolHooks};
pub use poolable::{Open, Poolable};
pub use session_reset::SessionReset;
pub use transaction::Transaction;
pub(crate) use transaction::{is_retryable, retry_pauses, settle};

/// A PEP 249 connection.
///
/// Like PEP 249 (and psycopg), a connection starts with autocommit **off**: the first
/// statement opens a transaction that lasts until [`commit`](Connection::commit) or
/// [`rollback`](Connection::rollback). [`set_autocommit`](Connection::set_autocommit) turns
/// that off.
///
/// What the pool asks of a connection beyond this (a liveness check, whether it is broken,
/// how to reset it) is the adapter's other trait, [`PoolHooks`]: users call only these methods.
///
/// ```
/// use nimue_core::{params, Connection, Result};
///
/// fn transfer<C: Connection>(conn: &mut C, from: i64, to: i64, cents: i64) -> Result<()> {
///     conn.execute("UPDATE account SET cents = cents - ? WHERE id = ?", &params![cents, from])?;
///     conn.execute("UPDATE account SET cents = cents + ? WHERE id = ?", &params![cents, to])?;
///     conn.commit()
/// }
/// ```
pub trait Connection: Send {
    /// The cursor type; it borrows the connection.
    type Cursor<'c>: Cursor
    where
        Self: 'c;

    /// A new cursor on this connection.
    fn cursor(&mut self) -> Result<Self::Cursor<'_>>;

    /// Commit the open transaction (a no-op when none is open).
    fn commit(&mut self) -> Result<()>;

    /// Roll the open transaction back (a no-op when none is open).
    fn rollback(&mut self) -> Result<()>;

    /// Close the connection now, reporting any error the driver has on closing. Dropping a
    /// connection closes it too, silently. An open transaction is rolled back.
    fn close(self) -> Result<()>
    where
        Self: Sized;

    /// Whether every statement commits on its own.
    fn autocommit(&self) -> bool;

    /// Turn autocommit on or off. Turning it on while a transaction is open commits nothing:
    /// it is a `ProgrammingError`, as in psycopg; commit or roll back first.
    fn set_autocommit(&mut self, on: bool) -> Result<()>;

    /// Execute one statement on a fresh cursor and return its `rowcount` (for a query, the
    /// number of rows it produced: its rows are read to the end).
    ///
    /// ```
    /// # use nimue_core::{params, Connection, Result};
    /// # fn f<C: Connection>(conn: &mut C) -> Result<()> {
    /// let changed = conn.execute("DELETE FROM sessions WHERE user_id = ?", &params![42])?;
    /// # Ok(()) }
    /// ```
    fn execute(&mut self, sql: &str, params: impl Params) -> Result<i64> {
        let mut cursor = self.cursor()?;
        cursor.execute(sql, params)?;
        // A long query's rowcount is known once its rows were read (streaming cursors).
        if cursor.rowcount() < 0 && cursor.description().is_some() {
            while !cursor.fetchmany(1024)?.is_empty() {}
        }
        Ok(cursor.rowcount())
    }

    /// Execute a query on a fresh cursor and return every row.
    ///
    /// ```
    /// # use nimue_core::{params, Connection, Result};
    /// # fn f<C: Connection>(conn: &mut C) -> Result<()> {
    /// for row in conn.query("SELECT id, name FROM users WHERE active = ?", &params![true])? {
    ///     let (id, name): (i64, String) = (row.get(0)?, row.get("name")?);
    /// }
    /// # Ok(()) }
    /// ```
    fn query(&mut self, sql: &str, params: impl Params) -> Result<Vec<Row>> {
        let mut cursor = self.cursor()?;
        cursor.execute(sql, params)?;
        cursor.fetchall()
    }

    /// Execute a query on a fresh cursor and turn every row into a `T` with `f` as it is
    /// fetched ([`Cursor::map_rows`]): typed reads without a [`Row`](crate::Row) per row.
    ///
    /// ```
    /// # use nimue_core::{params, Connection, Result};
    /// # fn f<C: Connection>(conn: &mut C) -> Result<()> {
    /// let users: Vec<(i64, String)> = conn.query_map(
    ///     "SELECT id, name FROM users WHERE active = ?",
    ///     &params![true],
    ///     |row| Ok((row.get(0)?, row.get("name")?)),
    /// )?;
    /// # Ok(()) }
    /// ```
    fn query_map<T>(
        &mut self,
        sql: &str,
        params: impl Params,
        f: impl FnMut(RowView<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut cursor = self.cursor()?;
        cursor.execute(sql, params)?;
        let rows = cursor.map_rows(f)?;
        rows.collect()
    }

    /// Execute a query on a fresh cursor and read every row into a `T`: a tuple, or a struct
    /// that implements [`FromRow`](crate::FromRow) (sqlx's `query_as`). Cells are read in
    /// place, as with [`query_map`](Self::query_map).
    ///
    /// ```
    /// # use nimue_core::{params, Connection, Result};
    /// # fn f<C: Connection>(conn: &mut C) -> Result<()> {
    /// let users: Vec<(i64, String)> =
    ///     conn.query_as("SELECT id, name FROM users WHERE active = ?", &params![true])?;
    /// # Ok(()) }
    /// ```
    fn query_as<T: FromRow>(&mut self, sql: &str, params: impl Params) -> Result<Vec<T>> {
        self.query_map(sql, params, |row| T::from_row(&row))
    }

    /// Run `f` in a transaction: committed when `f` returns `Ok`, rolled back when it returns
    /// `Err` or panics (the panic goes on), so that work cannot be left half done or
    /// forgotten. Autocommit is off for the time of it (and turned back on after, if it was
    /// on). Inside, [`Transaction::transaction`] nests as a savepoint. Work done on this
    /// connection before, and not yet committed, becomes part of the transaction.
    ///
    /// ```
    /// # use nimue_core::{params, Connection, Result};
    /// # fn f<C: Connection>(conn: &mut C) -> Result<()> {
    /// let id: i64 = conn.transaction(|tx| {
    ///     tx.execute("UPDATE accounts SET balance = balance - ? WHERE id = ?", &params![10, 1])?;
    ///     tx.execute("UPDATE accounts SET balance = balance + ? WHERE id = ?", &params![10, 2])?;
    ///     Ok(2)
    /// })?; // both or neither
    /// # Ok(()) }
    /// ```
    fn transaction<T>(
        &mut self,
        f: impl FnOnce(&mut Transaction<'_, Self>) -> Result<T>,
    ) -> Result<T>
    where
        Self: Sized,
    {
        transaction::run(self, f)
    }

    /// [`transaction`](Self::transaction), run again (up to `attempts` times in all, with a
    /// short growing pause) while it fails because it lost a race with another transaction: a
    /// serialization failure or a deadlock (SQLSTATE 40001 or 40P01; MySQL's 1213 deadlock
    /// and 1205 lock wait timeout). `f` must be safe to run again: everything it did was
    /// rolled back.
    ///
    /// ```
    /// # use nimue_core::{params, Connection, Result};
    /// # fn f<C: Connection>(conn: &mut C) -> Result<()> {
    /// conn.transaction_retrying(5, |tx| {
    ///     tx.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", &[])?;
    ///     tx.execute("UPDATE counters SET n = n + 1 WHERE id = ?", &params![7]).map(drop)
    /// })
    /// # }
    /// ```
    fn transaction_retrying<T>(
        &mut self,
        attempts: usize,
        f: impl FnMut(&mut Transaction<'_, Self>) -> Result<T>,
    ) -> Result<T>
    where
        Self: Sized,
    {
        transaction::run_retrying(self, attempts, f)
    }

    /// Execute a query and return its first row, or `None` when it returned no rows (the rest
    /// of its rows are not read).
    fn query_row(&mut self, sql: &str, params: impl Params) -> Result<Option<Row>> {
        let mut cursor = self.cursor()?;
        cursor.execute(sql, params)?;
        cursor.fetchone()
    }

    /// Execute a query and read its first row into a `T` (a tuple, or a [`FromRow`] struct):
    /// an error of kind [`NoRows`](crate::ErrorKind::NoRows) when it returned none.
    ///
    /// ```
    /// # use nimue_core::{params, Connection, Result};
    /// # fn f<C: Connection>(conn: &mut C) -> Result<()> {
    /// let (name, born): (String, i64) =
    ///     conn.query_one("SELECT name, born FROM people WHERE id = ?", (7,))?;
    /// # Ok(()) }
    /// ```
    fn query_one<T: FromRow>(&mut self, sql: &str, params: impl Params) -> Result<T> {
        self.query_opt(sql, params)?.ok_or(Error::NoRows)
    }

    /// Execute a query and read its first row into a `T`, or `None` when it returned no rows.
    ///
    /// ```
    /// # use nimue_core::{params, Connection, Result};
    /// # fn f<C: Connection>(conn: &mut C) -> Result<()> {
    /// let user: Option<(i64, String)> =
    ///     conn.query_opt("SELECT id, name FROM users WHERE email = ?", ("ada@example.com",))?;
    /// # Ok(()) }
    /// ```
    fn query_opt<T: FromRow>(&mut self, sql: &str, params: impl Params) -> Result<Option<T>> {
        let mut cursor = self.cursor()?;
        cursor.execute(sql, params)?;
        let mut first = None;
        cursor.fetch_with(&mut |row| first = Some(T::from_row(&row)))?;
        first.transpose()
    }

    /// Execute a query and read the first column of its first row (`COUNT(*)`, a `RETURNING
    /// id`, a setting): an error of kind [`NoRows`](crate::ErrorKind::NoRows) when it returned
    /// none; a `T` that is an `Option` reads `NULL` as `None`.
    ///
    /// ```
    /// # use nimue_core::{params, Connection, Result};
    /// # fn f<C: Connection>(conn: &mut C) -> Result<()> {
    /// let active: i64 = conn.query_scalar("SELECT COUNT(*) FROM users WHERE active = ?", (true,))?;
    /// # Ok(()) }
    /// ```
    fn query_scalar<T: FromValue>(&mut self, sql: &str, params: impl Params) -> Result<T> {
        let mut cursor = self.cursor()?;
        cursor.execute(sql, params)?;
        let mut first = None;
        cursor.fetch_with(&mut |row| first = Some(row.get::<T>(0)))?;
        first.ok_or(Error::NoRows)?
    }
}

/// Opens connections: Python Nimue's `connfunc`, r2d2's `ManageConnection::connect`.
///
/// Adapters provide connector types (e.g. `SqliteConnector`); any closure returning a
/// connection is a connector too.
///
/// ```
/// use nimue_core::{Connect, Result};
///
/// fn open_twice<K: Connect>(connector: &K) -> Result<(K::Connection, K::Connection)> {
///     Ok((connector.connect()?, connector.connect()?))
/// }
/// ```
pub trait Connect: Send + Sync + 'static {
    /// The connection type this connector opens (a [`Connection`] with its [`PoolHooks`]).
    type Connection: PoolHooks;

    /// Open a new connection.
    fn connect(&self) -> Result<Self::Connection>;
}

impl<F, C> Connect for F
where
    F: Fn() -> Result<C> + Send + Sync + 'static,
    C: PoolHooks,
{
    type Connection = C;

    fn connect(&self) -> Result<C> {
        self()
    }
}

/// Check a parameter count against the number of `?` placeholders, for adapters whose driver
/// does not check it itself.
///
/// ```
/// assert!(nimue_core::check_param_count(2, 2).is_ok());
/// assert_eq!(
///     nimue_core::check_param_count(2, 1).unwrap_err().kind(),
///     nimue_core::ErrorKind::Programming
/// );
/// ```
pub fn check_param_count(expected: usize, given: usize) -> Result<()> {
    if expected == given {
        Ok(())
    } else {
        Err(Error::programming(format!(
            "the statement has {expected} parameter placeholder(s) but {given} parameter(s) were given"
        )))
    }
}
