//! Streaming cursors: rows come from the driver as they are fetched, so a scan of any size
//! holds a bounded number of rows in memory.
//!
//! An adapter implements [`RowStream`] (start a statement, hand out its next row) and uses
//! [`StreamingCursor`], which provides every PEP 249 cursor method on top of it, with the same
//! meaning as [`BufferedCursor`](crate::BufferedCursor)'s, but one:
//!
//! - **`rowcount` of a query.** The cursor reads up to [`READ_AHEAD`] rows when the statement
//!   starts. A result that ends within them has its `rowcount` at once, as a buffered cursor's;
//!   a longer one reports `-1` (PEP 249: "cannot be determined") until its last row has been
//!   fetched, and then the number of rows it produced (before that, the number the driver
//!   reports, when it knows it: [`RowStream::rowcount`]).
//!
//! While a statement's rows are being read, the database may hold resources for it (a read
//! snapshot, a server-side portal, the connection's socket): fetch to the end, execute another
//! statement, or drop the cursor to release them.

use crate::cell::RowView;
use crate::cursor::Cursor;
use crate::error::Result;
use crate::params::ParamSets;
use crate::progress::Progress;
use crate::row::{Column, Columns, Row};
use crate::value::RawRow;
use crate::value::Value;

/// How many rows a streaming cursor reads when a query starts: results this small behave
/// exactly as buffered ones (their `rowcount` is known at once).
pub const READ_AHEAD: usize = 64;

/// How a statement started.
#[derive(Debug, Clone)]
pub enum Started {
    /// It has a result set with these columns; its rows come from [`RowStream::next_row`].
    Rows(Columns),
    /// It has no result set (DML, DDL): what it did.
    Done {
        /// PEP 249 `rowcount` (`-1` when unknown).
        rowcount: i64,
        /// PEP 249 `lastrowid`.
        lastrowid: Option<i64>,
    },
}

/// The statement side of a streaming cursor: what an adapter implements so that
/// [`StreamingCursor`] is a complete PEP 249 cursor for it.
pub trait RowStream {
    /// Start `sql` with `params`. Rows of the previous statement that were not read are
    /// discarded first (and whatever it held released).
    fn start(&mut self, sql: &str, params: &[Value]) -> Result<Started>;

    /// The next row of the running statement, or `None` at its end (the statement is then
    /// finished and releases what it held).
    fn next_row(&mut self) -> Result<Option<Row>>;

    /// The next row of the running statement handed to `f` as the driver holds it (no
    /// [`Row`] built: see [`RawRow`]); `false` at its end. The default goes through
    /// [`next_row`](Self::next_row); adapters override it to skip making `Value`s.
    fn next_raw(&mut self, f: &mut dyn FnMut(&dyn RawRow)) -> Result<bool> {
        match self.next_row()? {
            Some(row) => {
                f(&row);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Run `sql` once per parameter set; the default starts it once per set and sums the row
    /// counts, a set that returns rows (`INSERT ... RETURNING`) counting the rows it returned
    /// (read and dropped), as [`AsyncRowStream::start_many`](crate::aio::AsyncRowStream::start_many) does.
    fn start_many(&mut self, sql: &str, param_sets: &mut ParamSets<'_>) -> Result<Started> {
        let mut total = 0;
        let mut last = None;
        for params in param_sets {
            match self.start(sql, &params)? {
                Started::Done {
                    rowcount,
                    lastrowid,
                } => {
                    total += rowcount.max(0);
                    last = lastrowid.or(last);
                }
                Started::Rows(_) => {
                    while self.next_row()?.is_some() {
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

    /// The number of rows of the running query, when the driver knows it before its last row
    /// was read (e.g. a driver that holds the whole result); the cursor's `rowcount` until
    /// then. Default `None`: `rowcount` is `-1` until the end of a long result.
    fn rowcount(&self) -> Option<i64> {
        None
    }

    /// PEP 249 `lastrowid` of a query that has ended (e.g. `INSERT ... RETURNING`); asked
    /// once, after [`next_row`](Self::next_row) returned `None`. Default `None`.
    fn lastrowid(&self) -> Option<i64> {
        None
    }
}

/// A PEP 249 cursor over any [`RowStream`]: rows come from the driver as they are fetched.
///
/// ```
/// use nimue_core::stream::{RowStream, Started, StreamingCursor};
/// use nimue_core::{Column, Columns, Cursor, Result, Row, Value};
///
/// /// A "driver" whose every query counts from 1 to the number after SELECT.
/// struct Counter { columns: Columns, next: i64, last: i64 }
///
/// impl RowStream for Counter {
///     fn start(&mut self, sql: &str, _params: &[Value]) -> Result<Started> {
///         self.last = sql.trim_start_matches("SELECT ").parse().unwrap_or(0);
///         self.next = 1;
///         Ok(Started::Rows(self.columns.clone()))
///     }
///     fn next_row(&mut self) -> Result<Option<Row>> {
///         if self.next > self.last {
///             return Ok(None);
///         }
///         self.next += 1;
///         Ok(Some(Row::new(self.columns.clone(), vec![Value::Int(self.next - 1)])))
///     }
/// }
///
/// let columns: Columns = vec![Column::new("n", None)].into();
/// let mut cur = StreamingCursor::new(Counter { columns, next: 0, last: 0 });
/// cur.execute("SELECT 3", &[])?;
/// assert_eq!(cur.rowcount(), 3); // a short result: known at once
/// let mut sum = 0;
/// for row in cur.rows()? {
///     sum += row?.get::<i64>(0)?;
/// }
/// assert_eq!(sum, 6);
///
/// cur.execute("SELECT 1000000", &[])?; // read as fetched, never all in memory
/// assert_eq!(cur.rowcount(), -1, "not known until the end");
/// while !cur.fetchmany(1000)?.is_empty() {}
/// assert_eq!(cur.rowcount(), 1_000_000);
/// # Ok::<(), nimue_core::Error>(())
/// ```
pub struct StreamingCursor<S: RowStream> {
    stream: S,
    progress: Progress,
    arraysize: usize,
}

impl<S: RowStream> StreamingCursor<S> {
    /// A cursor on `stream` with nothing executed yet.
    pub fn new(stream: S) -> Self {
        StreamingCursor {
            stream,
            progress: Progress::Idle,
            arraysize: 1,
        }
    }

    /// The adapter's side of the cursor.
    pub fn stream(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Begin reading the result of a statement that started.
    fn begin(&mut self, started: Started) -> Result<()> {
        self.progress = Progress::started(started);
        // One more than READ_AHEAD: a result of exactly READ_AHEAD rows is seen to end.
        let read = self.read_ahead(READ_AHEAD + 1);
        if read.is_err() {
            // A failed execute leaves no partial result behind, as a buffered cursor's.
            self.progress = Progress::Idle;
        }
        read
    }

    /// Read up to `n` more rows from the driver into the read-ahead buffer.
    fn read_ahead(&mut self, n: usize) -> Result<()> {
        for _ in 0..n {
            let Some(row) = self.next_from_driver()? else {
                break;
            };
            self.progress.rows_ahead()?.push_back(row);
        }
        Ok(())
    }

    /// The driver's next row of the running query (counted), or `None` at its end.
    fn next_from_driver(&mut self) -> Result<Option<Row>> {
        if !self.progress.wants_row() {
            return Ok(None);
        }
        let row = self.stream.next_row();
        let stream = &self.stream;
        self.progress.took(row, || stream.lastrowid())
    }
}

impl<S: RowStream> Cursor for StreamingCursor<S> {
    fn execute_values(&mut self, sql: &str, params: &[Value]) -> Result<()> {
        // A failed statement leaves no stale rows or counts behind.
        self.progress = Progress::Idle;
        let started = self.stream.start(sql, params)?;
        self.begin(started)
    }

    fn executemany_values(&mut self, sql: &str, param_sets: &mut ParamSets<'_>) -> Result<()> {
        self.progress = Progress::Idle;
        let started = self.stream.start_many(sql, param_sets)?;
        self.begin(started)
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

    fn arraysize(&self) -> usize {
        self.arraysize
    }

    fn set_arraysize(&mut self, size: usize) {
        self.arraysize = size.max(1);
    }

    fn fetchone(&mut self) -> Result<Option<Row>> {
        match self.progress.rows_ahead()?.pop_front() {
            Some(row) => Ok(Some(row)),
            None => self.next_from_driver(),
        }
    }

    /// Rows read ahead first; then straight from the driver's row
    /// ([`RowStream::next_raw`]), without making a [`Row`].
    fn fetch_with(&mut self, f: &mut dyn FnMut(RowView<'_>)) -> Result<bool> {
        if let Some(row) = self.progress.rows_ahead()?.pop_front() {
            f(RowView::new(&row, row.columns()));
            return Ok(true);
        }
        let Progress::Rows {
            columns,
            read,
            ended,
            lastrowid,
            ..
        } = &mut self.progress
        else {
            return Ok(false);
        };
        if *ended {
            return Ok(false);
        }
        match self
            .stream
            .next_raw(&mut |raw| f(RowView::new(raw, columns)))
        {
            Ok(true) => {
                *read += 1;
                Ok(true)
            }
            Ok(false) => {
                *ended = true;
                *lastrowid = self.stream.lastrowid();
                Ok(false)
            }
            Err(e) => {
                // The statement failed midway: no rowcount or further rows pretend it ended.
                self.progress = Progress::Idle;
                Err(e)
            }
        }
    }

    fn fetchmany(&mut self, size: usize) -> Result<Vec<Row>> {
        let ahead = self.progress.rows_ahead()?;
        let n = size.min(ahead.len());
        let mut rows: Vec<Row> = ahead.drain(..n).collect();
        while rows.len() < size {
            match self.next_from_driver()? {
                Some(row) => rows.push(row),
                None => break,
            }
        }
        Ok(rows)
    }

    fn fetchall(&mut self) -> Result<Vec<Row>> {
        let mut rows: Vec<Row> = self.progress.rows_ahead()?.drain(..).collect();
        while let Some(row) = self.next_from_driver()? {
            rows.push(row);
        }
        Ok(rows)
    }
}

impl<S: RowStream> Iterator for StreamingCursor<S> {
    type Item = Row;

    /// The next remaining row; `None` at the end, when there is no result set, or on an error
    /// (use [`Cursor::rows`] to see errors).
    fn next(&mut self) -> Option<Row> {
        self.fetchone().ok().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    /// Rows 1, 2, ... up to `last`; an error instead of row `fail_at`.
    struct Numbers {
        columns: Columns,
        next: i64,
        last: i64,
        fail_at: i64,
    }

    impl RowStream for Numbers {
        fn start(&mut self, _sql: &str, _params: &[Value]) -> Result<Started> {
            self.next = 1;
            Ok(Started::Rows(self.columns.clone()))
        }
        fn next_row(&mut self) -> Result<Option<Row>> {
            let n = self.next;
            if n == self.fail_at {
                return Err(Error::data("row cannot be read"));
            }
            if n > self.last {
                return Ok(None);
            }
            self.next += 1;
            Ok(Some(Row::new(self.columns.clone(), vec![Value::Int(n)])))
        }
    }

    fn cursor(last: i64, fail_at: i64) -> StreamingCursor<Numbers> {
        StreamingCursor::new(Numbers {
            columns: vec![Column::new("n", None)].into(),
            next: 1,
            last,
            fail_at,
        })
    }

    #[test]
    fn a_short_result_has_its_rowcount_at_once_and_a_long_one_at_its_end() {
        let mut cur = cursor(READ_AHEAD as i64, 0);
        cur.execute("q", &[]).unwrap();
        assert_eq!(cur.rowcount(), READ_AHEAD as i64);
        let mut cur = cursor(READ_AHEAD as i64 + 1, 0);
        cur.execute("q", &[]).unwrap();
        assert_eq!(cur.rowcount(), -1);
        assert_eq!(cur.fetchall().unwrap().len(), READ_AHEAD + 1);
        assert_eq!(cur.rowcount(), READ_AHEAD as i64 + 1);
    }

    #[test]
    fn an_error_while_reading_ahead_leaves_no_partial_result() {
        let mut cur = cursor(100, 10);
        assert!(cur.execute("q", &[]).is_err());
        assert!(cur.description().is_none());
        assert_eq!(cur.rowcount(), -1);
        let err = cur.fetchone().unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Programming, "{err}");
    }

    #[test]
    fn an_error_past_the_read_ahead_comes_with_the_fetch_that_reaches_it() {
        let mut cur = cursor(200, 100);
        cur.execute("q", &[]).unwrap();
        let rows = cur.fetchmany(99).unwrap();
        assert_eq!(rows.len(), 99);
        assert_eq!(cur.fetchone().unwrap_err().kind(), crate::ErrorKind::Data);
        // The statement failed: it does not look ended, with a rowcount, afterwards.
        assert_eq!(cur.rowcount(), -1);
        assert!(cur.description().is_none());
        assert!(cur.fetchone().is_err());
    }
}
