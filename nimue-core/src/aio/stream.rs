//! [`AsyncStreamingCursor`]: an [`AsyncCursor`] over an adapter's [`AsyncRowStream`], the
//! async twin of [`StreamingCursor`](crate::StreamingCursor) with the same bookkeeping
//! (`progress.rs`): what a native async adapter implements is only how a statement starts and
//! how its next row comes.

use super::cursor::AsyncCursor;
use crate::error::Result;
use crate::progress::Progress;
use crate::row::{Column, Row};
use crate::stream::{Started, READ_AHEAD};
use crate::value::Value;
use std::future::Future;

/// The statement side of an async streaming cursor: [`RowStream`](crate::RowStream)'s twin.
pub trait AsyncRowStream: Send {
    /// Start `sql` with `params` bound to its `?` placeholders.
    fn start(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> impl Future<Output = Result<Started>> + Send;

    /// The running query's next row, or `None` at its end.
    fn next_row(&mut self) -> impl Future<Output = Result<Option<Row>>> + Send;

    /// Run `sql` once per parameter set; the default starts it once per set, reads and drops
    /// any rows (counting them, as `RETURNING` rows are changes), and sums the row counts.
    fn start_many(
        &mut self,
        sql: &str,
        param_sets: Vec<Vec<Value>>,
    ) -> impl Future<Output = Result<Started>> + Send {
        async move {
            let mut total = 0;
            let mut last = None;
            for params in param_sets {
                match self.start(sql, &params).await? {
                    Started::Done {
                        rowcount,
                        lastrowid,
                    } => {
                        total += rowcount.max(0);
                        last = lastrowid.or(last);
                    }
                    Started::Rows(_) => {
                        while self.next_row().await?.is_some() {
                            total += 1;
                        }
                    }
                }
            }
            Ok(Started::Done {
                rowcount: total,
                lastrowid: last,
            })
        }
    }

    /// As [`RowStream::rowcount`](crate::RowStream::rowcount).
    fn rowcount(&self) -> Option<i64> {
        None
    }

    /// As [`RowStream::lastrowid`](crate::RowStream::lastrowid).
    fn lastrowid(&self) -> Option<i64> {
        None
    }
}

/// A PEP 249 cursor for async code over any [`AsyncRowStream`]: rows come from the driver as
/// they are fetched, with [`StreamingCursor`](crate::StreamingCursor)'s meaning of every
/// method (results of up to [`READ_AHEAD`] rows are read at `execute`).
pub struct AsyncStreamingCursor<S: AsyncRowStream> {
    stream: S,
    progress: Progress,
}

impl<S: AsyncRowStream> AsyncStreamingCursor<S> {
    /// A cursor on `stream` with nothing executed yet.
    pub fn new(stream: S) -> Self {
        AsyncStreamingCursor {
            stream,
            progress: Progress::Idle,
        }
    }

    /// The adapter's side of the cursor.
    pub fn stream(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Begin reading the result of a statement that started, as
    /// [`StreamingCursor`](crate::StreamingCursor) does.
    async fn begin(&mut self, started: Started) -> Result<()> {
        self.progress = Progress::started(started);
        // One more than READ_AHEAD: a result of exactly READ_AHEAD rows is seen to end.
        let read = self.read_ahead(READ_AHEAD + 1).await;
        if read.is_err() {
            // A failed execute leaves no partial result behind.
            self.progress = Progress::Idle;
        }
        read
    }

    /// Read up to `n` more rows from the driver into the read-ahead buffer.
    async fn read_ahead(&mut self, n: usize) -> Result<()> {
        for _ in 0..n {
            let Some(row) = self.next_from_driver().await? else {
                break;
            };
            self.progress.rows_ahead()?.push_back(row);
        }
        Ok(())
    }

    async fn next_from_driver(&mut self) -> Result<Option<Row>> {
        if !self.progress.wants_row() {
            return Ok(None);
        }
        let row = self.stream.next_row().await;
        let stream = &self.stream;
        self.progress.took(row, || stream.lastrowid())
    }
}

impl<S: AsyncRowStream> AsyncCursor for AsyncStreamingCursor<S> {
    async fn execute_values(&mut self, sql: &str, params: &[Value]) -> Result<()> {
        // A failed statement leaves no stale rows or counts behind.
        self.progress = Progress::Idle;
        let started = self.stream.start(sql, params).await?;
        self.begin(started).await
    }

    async fn executemany_values(&mut self, sql: &str, param_sets: Vec<Vec<Value>>) -> Result<()> {
        self.progress = Progress::Idle;
        let started = self.stream.start_many(sql, param_sets).await?;
        self.begin(started).await
    }

    fn description(&self) -> Option<&[Column]> {
        self.progress.description()
    }

    fn rowcount(&self) -> i64 {
        self.progress.rowcount(|| self.stream.rowcount())
    }

    fn lastrowid(&self) -> Option<i64> {
        self.progress.lastrowid()
    }

    async fn fetchmany(&mut self, size: usize) -> Result<Vec<Row>> {
        let ahead = self.progress.rows_ahead()?;
        let n = size.min(ahead.len());
        let mut rows: Vec<Row> = ahead.drain(..n).collect();
        while rows.len() < size {
            match self.next_from_driver().await? {
                Some(row) => rows.push(row),
                None => break,
            }
        }
        Ok(rows)
    }

    async fn fetchone(&mut self) -> Result<Option<Row>> {
        match self.progress.rows_ahead()?.pop_front() {
            Some(row) => Ok(Some(row)),
            None => self.next_from_driver().await,
        }
    }
}
