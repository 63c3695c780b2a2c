//! [`AsyncConnection`] and [`AsyncConnect`]: the async twins of
//! [`Connection`](crate::Connection) and [`Connect`](crate::Connect).

use super::cursor::AsyncCursor;
use super::transaction::{self, AsyncTransaction, TxFuture};
use crate::cell::RowView;
use crate::error::{Error, Result};
use crate::from_row::FromRow;
use crate::params::Params;
use crate::row::Row;
use crate::value::FromValue;
use std::future::Future;

/// A PEP 249 connection for async code: [`Connection`](crate::Connection)'s methods, each
/// that talks to the database a future. Autocommit starts off, as there.
///
/// A future dropped before it finished (a timeout, a cancelled task) leaves the connection
/// usable: what it had sent completes or is undone before the next call runs, and a
/// [`transaction`](Self::transaction) it was in is rolled back.
pub trait AsyncConnection: Send {
    /// The cursor type; it borrows the connection.
    type Cursor<'c>: AsyncCursor + Send
    where
        Self: 'c;

    /// A new cursor on this connection.
    fn cursor(&mut self) -> impl Future<Output = Result<Self::Cursor<'_>>> + Send;

    /// Commit the open transaction (a no-op when none is open).
    fn commit(&mut self) -> impl Future<Output = Result<()>> + Send;

    /// Roll the open transaction back (a no-op when none is open).
    fn rollback(&mut self) -> impl Future<Output = Result<()>> + Send;

    /// Roll back the open transaction without waiting for it: what a transaction whose
    /// future was dropped leaves behind. It is done before the connection's next call.
    fn rollback_later(&mut self);

    /// Whether every statement commits on its own.
    fn autocommit(&self) -> bool;

    /// Turn autocommit on or off (a `ProgrammingError` to turn it on inside a transaction).
    fn set_autocommit(&mut self, on: bool) -> impl Future<Output = Result<()>> + Send;

    /// Execute one statement and return its `rowcount` (a query's rows are read to the end).
    fn execute(
        &mut self,
        sql: &str,
        params: impl Params + Send,
    ) -> impl Future<Output = Result<i64>> + Send {
        let values = params.into_values().into_owned();
        async move {
            let mut cursor = self.cursor().await?;
            cursor.execute_values(sql, &values).await?;
            if cursor.rowcount() < 0 && cursor.description().is_some() {
                while !cursor.fetchmany(1024).await?.is_empty() {}
            }
            Ok(cursor.rowcount())
        }
    }

    /// Execute a query and return every row.
    fn query(
        &mut self,
        sql: &str,
        params: impl Params + Send,
    ) -> impl Future<Output = Result<Vec<Row>>> + Send {
        let values = params.into_values().into_owned();
        async move {
            let mut cursor = self.cursor().await?;
            cursor.execute_values(sql, &values).await?;
            cursor.fetchall().await
        }
    }

    /// Execute a query and map every row with `f`, as
    /// [`Connection::query_map`](crate::Connection::query_map) does (the same closure works
    /// for both): rows are fetched in batches as they are mapped.
    ///
    /// ```
    /// use nimue::aio::AsyncConnection;
    /// # async fn f<C: AsyncConnection>(conn: &mut C) -> nimue::Result<()> {
    /// let users: Vec<(i64, String)> = conn
    ///     .query_map("SELECT id, name FROM users WHERE active = ?", (true,), |row| {
    ///         Ok((row.get(0)?, row.get("name")?))
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    fn query_map<T: Send, F>(
        &mut self,
        sql: &str,
        params: impl Params + Send,
        mut f: F,
    ) -> impl Future<Output = Result<Vec<T>>> + Send
    where
        F: FnMut(RowView<'_>) -> Result<T> + Send,
    {
        let values = params.into_values().into_owned();
        async move {
            let mut cursor = self.cursor().await?;
            cursor.execute_values(sql, &values).await?;
            let mut mapped = Vec::new();
            loop {
                let batch = cursor.fetchmany(1024).await?;
                if batch.is_empty() {
                    return Ok(mapped);
                }
                for row in &batch {
                    mapped.push(f(RowView::new(row, row.columns()))?);
                }
            }
        }
    }

    /// Execute a query and read every row into a `T` (a tuple, or a [`FromRow`] struct).
    fn query_as<T: FromRow + Send>(
        &mut self,
        sql: &str,
        params: impl Params + Send,
    ) -> impl Future<Output = Result<Vec<T>>> + Send {
        // (The inner future is made inside: held as a capture and awaited, it would be in
        // this one's state twice.)
        let values = params.into_values().into_owned();
        async move {
            self.query(sql, values)
                .await?
                .iter()
                .map(Row::parse)
                .collect()
        }
    }

    /// Execute a query and return its first row, or `None`.
    fn query_row(
        &mut self,
        sql: &str,
        params: impl Params + Send,
    ) -> impl Future<Output = Result<Option<Row>>> + Send {
        let values = params.into_values().into_owned();
        async move {
            let mut cursor = self.cursor().await?;
            cursor.execute_values(sql, &values).await?;
            cursor.fetchone().await
        }
    }

    /// The first row as a `T`: an error of kind [`NoRows`](crate::ErrorKind::NoRows) when
    /// there is none.
    fn query_one<T: FromRow + Send>(
        &mut self,
        sql: &str,
        params: impl Params + Send,
    ) -> impl Future<Output = Result<T>> + Send {
        let values = params.into_values().into_owned();
        async move { self.query_opt(sql, values).await?.ok_or(Error::NoRows) }
    }

    /// The first row as a `T`, or `None`.
    fn query_opt<T: FromRow + Send>(
        &mut self,
        sql: &str,
        params: impl Params + Send,
    ) -> impl Future<Output = Result<Option<T>>> + Send {
        let values = params.into_values().into_owned();
        async move {
            let row = self.query_row(sql, values).await?;
            row.map(|row| row.parse()).transpose()
        }
    }

    /// The first column of the first row: an error of kind
    /// [`NoRows`](crate::ErrorKind::NoRows) when there is no row.
    fn query_scalar<T: FromValue + Send>(
        &mut self,
        sql: &str,
        params: impl Params + Send,
    ) -> impl Future<Output = Result<T>> + Send {
        let values = params.into_values().into_owned();
        async move {
            self.query_row(sql, values)
                .await?
                .ok_or(Error::NoRows)?
                .get(0)
        }
    }

    /// Run `f` in a transaction: committed when its future ends in `Ok`, rolled back when it
    /// ends in `Err`, panics or is dropped unfinished. Autocommit is off for the time of it
    /// (and turned back on after, if it was on). As with sqlx, `f` returns a boxed future:
    ///
    /// ```
    /// use nimue::aio::AsyncConnection;
    /// # async fn f<C: AsyncConnection>(conn: &mut C) -> nimue::Result<()> {
    /// conn.transaction(|tx| Box::pin(async move {
    ///     tx.execute("UPDATE accounts SET cents = cents - ? WHERE id = ?", (10, 1)).await?;
    ///     tx.execute("UPDATE accounts SET cents = cents + ? WHERE id = ?", (10, 2)).await?;
    ///     Ok(())
    /// }))
    /// .await
    /// # }
    /// ```
    fn transaction<'c, T, F>(&'c mut self, f: F) -> TxFuture<'c, T>
    where
        Self: Sized,
        T: Send + 'c,
        F: for<'t> FnOnce(&'t mut AsyncTransaction<'c, Self>) -> TxFuture<'t, T> + Send + 'c,
    {
        // Boxed (as sqlx's): an opaque future would have to be proven `Send` where it is
        // awaited, over the closure's higher-ranked lifetimes, which the compiler cannot do
        // (a spawned task's `transaction` would not compile).
        Box::pin(transaction::run(self, f))
    }

    /// [`transaction`](Self::transaction), run again (up to `attempts` times in all, with a
    /// short growing pause) while it fails because it lost a race with another transaction,
    /// as [`Connection::transaction_retrying`](crate::Connection::transaction_retrying):
    /// a serialization failure or a deadlock (SQLSTATE 40001 or 40P01; MySQL's 1213 and
    /// 1205). `f` must be safe to run again: everything it did was rolled back.
    ///
    /// ```
    /// use nimue::aio::AsyncConnection;
    /// # async fn f<C: AsyncConnection>(conn: &mut C) -> nimue::Result<()> {
    /// conn.transaction_retrying(5, |tx| Box::pin(async move {
    ///     tx.execute("UPDATE counters SET n = n + 1 WHERE id = ?", (7,)).await.map(drop)
    /// }))
    /// .await
    /// # }
    /// ```
    fn transaction_retrying<'c, T, F>(&'c mut self, attempts: usize, f: F) -> TxFuture<'c, T>
    where
        Self: Sized,
        T: Send + 'c,
        F: for<'t> FnMut(&'t mut AsyncTransaction<'c, Self>) -> TxFuture<'t, T> + Send + 'c,
    {
        // Boxed, as `transaction`.
        Box::pin(transaction::run_retrying(self, attempts, f))
    }
}

/// Opens async connections: [`Connect`](crate::Connect)'s twin.
pub trait AsyncConnect: Send + Sync + 'static {
    /// The connection type this connector opens.
    type Connection: AsyncConnection;

    /// Open a new connection.
    fn connect(&self) -> impl Future<Output = Result<Self::Connection>> + Send;
}
