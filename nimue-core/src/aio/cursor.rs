//! [`AsyncCursor`]: the async twin of [`Cursor`](crate::Cursor).

use crate::error::{Error, Result};
use crate::params::Params;
use crate::row::{Column, Row};
use crate::value::Value;
use futures_core::Stream;
use std::collections::VecDeque;
use std::future::Future;

/// A PEP 249 cursor for async code: [`Cursor`](crate::Cursor)'s methods, each that talks to
/// the database a future.
pub trait AsyncCursor: Send {
    /// Execute one statement with `params` bound to its `?` placeholders.
    fn execute(
        &mut self,
        sql: &str,
        params: impl Params + Send,
    ) -> impl Future<Output = Result<()>> + Send
    where
        Self: Sized,
    {
        let values = params.into_values().into_owned();
        async move { self.execute_values(sql, &values).await }
    }

    /// [`execute`](Self::execute) with its parameters as [`Value`]s: what the cursor
    /// implements.
    fn execute_values(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> impl Future<Output = Result<()>> + Send;

    /// Execute one statement once per parameter set; `rowcount` is the total.
    fn executemany<I>(
        &mut self,
        sql: &str,
        param_sets: I,
    ) -> impl Future<Output = Result<()>> + Send
    where
        Self: Sized,
        I: IntoIterator,
        I::Item: Params,
    {
        let sets: Vec<Vec<Value>> = param_sets
            .into_iter()
            .map(|p| p.into_values().into_owned())
            .collect();
        self.executemany_values(sql, sets)
    }

    /// [`executemany`](Self::executemany) with its sets as [`Value`]s.
    fn executemany_values(
        &mut self,
        sql: &str,
        param_sets: Vec<Vec<Value>>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// The result columns of the last statement, or `None` when it returned no rows.
    fn description(&self) -> Option<&[Column]>;

    /// Rows affected by the last DML statement, or a query's rows read so far once known;
    /// `-1` when unknown.
    fn rowcount(&self) -> i64;

    /// The row id of the last inserted row, when the database reports one.
    fn lastrowid(&self) -> Option<i64>;

    /// Up to `size` next rows (fewer at the end, none when exhausted).
    fn fetchmany(&mut self, size: usize) -> impl Future<Output = Result<Vec<Row>>> + Send;

    /// The next row, or `None` at the end.
    fn fetchone(&mut self) -> impl Future<Output = Result<Option<Row>>> + Send {
        async move { Ok(self.fetchmany(1).await?.pop()) }
    }

    /// The remaining rows of the last query as a [`Stream`] (`futures::Stream`), fetched
    /// in batches of `batch` rows as it is read: memory stays bounded by
    /// one batch. A `ProgrammingError` item when the last statement produced no result set.
    ///
    /// ```
    /// use futures_util::TryStreamExt;
    /// use nimue::aio::{AsyncConnection, AsyncCursor};
    /// # async fn f<C: AsyncConnection>(conn: &mut C) -> nimue::Result<i64> {
    /// let mut cur = conn.cursor().await?;
    /// cur.execute("SELECT amount FROM payments", ()).await?;
    /// let mut total = 0;
    /// let mut rows = std::pin::pin!(cur.rows(500));
    /// while let Some(row) = rows.try_next().await? {
    ///     total += row.get::<i64>(0)?;
    /// }
    /// # Ok(total) }
    /// ```
    fn rows(&mut self, batch: usize) -> impl Stream<Item = Result<Row>> + Send + '_
    where
        Self: Sized,
    {
        let batch = batch.max(1);
        let start = (self, VecDeque::new(), false);
        futures_util::stream::unfold(start, move |(cursor, mut buffered, mut ended)| async move {
            if buffered.is_empty() && !ended {
                if cursor.description().is_none() {
                    let e = Error::programming(
                        "no results to fetch: the last statement returned no rows",
                    );
                    return Some((Err(e), (cursor, buffered, true)));
                }
                match cursor.fetchmany(batch).await {
                    Ok(rows) => {
                        ended = rows.len() < batch;
                        buffered.extend(rows);
                    }
                    Err(e) => return Some((Err(e), (cursor, buffered, true))),
                }
            }
            let row = buffered.pop_front()?;
            Some((Ok(row), (cursor, buffered, ended)))
        })
    }

    /// Every remaining row.
    fn fetchall(&mut self) -> impl Future<Output = Result<Vec<Row>>> + Send {
        async move {
            let mut all = Vec::new();
            loop {
                let batch = self.fetchmany(1024).await?;
                if batch.is_empty() {
                    return Ok(all);
                }
                all.extend(batch);
            }
        }
    }
}
