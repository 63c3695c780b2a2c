//! PEP 249 cursors: execute statements, then fetch their rows.
//!
//! [`Cursor`] is the trait user code calls. Most adapters don't implement it by hand: they
//! implement [`Execute`] (run one statement, return its whole [`ResultSet`]) and use
//! [`BufferedCursor`], which provides every PEP 249 cursor method on top of it.

use crate::cell::RowView;
use crate::error::{Error, Result};
use crate::params::{ParamSets, Params};
use crate::row::{Column, Columns, Row};
use crate::value::Value;
use std::collections::VecDeque;

/// A PEP 249 cursor.
///
/// Parameters use the qmark style (`?`) on every adapter. A cursor borrows its connection;
/// drop it to end it.
///
/// ```
/// use nimue_core::{params, Connection, Cursor, Result};
///
/// fn names_since<C: Connection>(conn: &mut C, year: i64) -> Result<Vec<String>> {
///     let mut cur = conn.cursor()?;
///     cur.execute("SELECT name FROM people WHERE born >= ?", &params![year])?;
///     cur.fetchall()?.iter().map(|row| row.get(0)).collect()
/// }
/// ```
pub trait Cursor {
    /// Prepare and execute one statement with `params` ([`Params`]: `params![..]`, a tuple,
    /// a slice, `&[]` for none) bound to its `?` placeholders.
    ///
    /// A wrong number of parameters is a `ProgrammingError`, never a panic. Rows of a previous
    /// statement that were not fetched are discarded.
    fn execute<P: Params>(&mut self, sql: &str, params: P) -> Result<()>
    where
        Self: Sized,
    {
        self.execute_values(sql, &params.into_values())
    }

    /// Execute one statement once per parameter set, taken from any iterator as it runs (a
    /// `&[Vec<Value>]`, a `Vec` of tuples, an iterator that reads a file): `rowcount` is the
    /// total of affected rows.
    ///
    /// ```
    /// use nimue_core::{Connection, Cursor, Result};
    ///
    /// fn load<C: Connection>(conn: &mut C, points: &[(i64, f64)]) -> Result<()> {
    ///     let mut cur = conn.cursor()?;
    ///     cur.executemany("INSERT INTO points VALUES (?, ?)", points.iter().map(|(id, x)| (id, x)))?;
    ///     drop(cur);
    ///     conn.commit()
    /// }
    /// ```
    fn executemany<I>(&mut self, sql: &str, param_sets: I) -> Result<()>
    where
        Self: Sized,
        I: IntoIterator,
        I::Item: Params,
    {
        self.executemany_values(sql, &mut param_sets.into_iter().map(|p| p.into_values()))
    }

    /// [`execute`](Self::execute) with its parameters as [`Value`]s: what the cursor
    /// implements (and what a `dyn Cursor` calls).
    fn execute_values(&mut self, sql: &str, params: &[Value]) -> Result<()>;

    /// [`executemany`](Self::executemany) with its parameter sets as [`Value`]s, one at a time:
    /// what the cursor implements.
    fn executemany_values(&mut self, sql: &str, param_sets: &mut ParamSets<'_>) -> Result<()>;

    /// The result columns of the last statement, or `None` when it returned no rows (DML, DDL)
    /// or nothing was executed yet.
    fn description(&self) -> Option<&[Column]>;

    /// Rows affected by the last DML statement, or the number of rows a query produced;
    /// `-1` when unknown (DDL, nothing executed).
    fn rowcount(&self) -> i64;

    /// The row id of the last inserted row, when the database reports one.
    fn lastrowid(&self) -> Option<i64>;

    /// How many rows [`fetchmany`](Cursor::fetchmany) is usually asked for (PEP 249
    /// `arraysize`, default 1).
    fn arraysize(&self) -> usize;

    /// Set [`arraysize`](Cursor::arraysize).
    fn set_arraysize(&mut self, size: usize);

    /// The next row, or `None` when the result set is exhausted.
    ///
    /// A `ProgrammingError` when the last statement produced no result set.
    fn fetchone(&mut self) -> Result<Option<Row>>;

    /// Up to `size` next rows (fewer at the end, none when exhausted).
    fn fetchmany(&mut self, size: usize) -> Result<Vec<Row>> {
        let mut rows = Vec::with_capacity(size.min(1024));
        while rows.len() < size {
            match self.fetchone()? {
                Some(row) => rows.push(row),
                None => break,
            }
        }
        Ok(rows)
    }

    /// Every remaining row.
    fn fetchall(&mut self) -> Result<Vec<Row>> {
        let mut rows = Vec::new();
        while let Some(row) = self.fetchone()? {
            rows.push(row);
        }
        Ok(rows)
    }

    /// Fetch the next row and hand it to `f` as a [`RowView`], read where the driver holds it
    /// when the cursor can (a streaming cursor's typed reads then skip making a [`Row`]);
    /// `false` when there are no more rows. The errors of [`fetchone`](Self::fetchone); `f`
    /// keeps its own. [`map_rows`](Self::map_rows) is the friendlier form.
    fn fetch_with(&mut self, f: &mut dyn FnMut(RowView<'_>)) -> Result<bool> {
        match self.fetchone()? {
            Some(row) => {
                f(RowView::new(&row, row.columns()));
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The remaining rows of the last query, each turned into a `T` by `f` as it is fetched,
    /// for a `for` loop or `collect`: typed reads at the driver's speed, without a [`Row`]
    /// per row. A `ProgrammingError` at once when the last statement produced no result set.
    ///
    /// ```
    /// use nimue_core::{Connection, Cursor, Result};
    ///
    /// fn names<C: Connection>(conn: &mut C) -> Result<Vec<(i64, String)>> {
    ///     let mut cur = conn.cursor()?;
    ///     cur.execute("SELECT id, name FROM users", &[])?;
    ///     let rows = cur.map_rows(|row| Ok((row.get(0)?, row.get("name")?)))?;
    ///     rows.collect()
    /// }
    /// ```
    fn map_rows<T, F>(&mut self, f: F) -> Result<MapRows<'_, Self, F>>
    where
        Self: Sized,
        F: FnMut(RowView<'_>) -> Result<T>,
    {
        self.rows()?;
        Ok(MapRows { cursor: self, f })
    }

    /// The remaining rows of the last query, one by one, for a `for` loop: each item is a
    /// row or the error that ended the fetch. A `ProgrammingError` at once when the last
    /// statement produced no result set.
    ///
    /// ```
    /// use nimue_core::{Connection, Cursor, Result};
    ///
    /// fn total<C: Connection>(conn: &mut C) -> Result<i64> {
    ///     let mut cur = conn.cursor()?;
    ///     cur.execute("SELECT amount FROM payments", &[])?;
    ///     let mut sum = 0;
    ///     for row in cur.rows()? {
    ///         sum += row?.get::<i64>(0)?;
    ///     }
    ///     Ok(sum)
    /// }
    /// ```
    fn rows(&mut self) -> Result<Rows<'_, Self>>
    where
        Self: Sized,
    {
        if self.description().is_none() {
            // The same error fetchone gives: no result set, or nothing executed.
            self.fetchone()?;
            return Err(Error::programming(
                "no results to fetch: the last statement returned no rows",
            ));
        }
        Ok(Rows { cursor: self })
    }
}

/// The remaining rows of a cursor's last query, from [`Cursor::rows`].
pub struct Rows<'a, C: Cursor + ?Sized> {
    cursor: &'a mut C,
}

impl<C: Cursor + ?Sized> Iterator for Rows<'_, C> {
    type Item = Result<Row>;

    fn next(&mut self) -> Option<Result<Row>> {
        self.cursor.fetchone().transpose()
    }
}

/// The remaining rows of a cursor's last query turned into `T`s, from [`Cursor::map_rows`].
pub struct MapRows<'a, C: Cursor + ?Sized, F> {
    cursor: &'a mut C,
    f: F,
}

impl<T, C: Cursor + ?Sized, F: FnMut(RowView<'_>) -> Result<T>> Iterator for MapRows<'_, C, F> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        let mut item = None;
        let f = &mut self.f;
        match self.cursor.fetch_with(&mut |row| item = Some(f(row))) {
            Ok(true) => item,
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

/// A boxed cursor is a cursor (what [`BoxConnection`](crate::BoxConnection) hands out).
impl<C: Cursor + ?Sized> Cursor for Box<C> {
    fn execute_values(&mut self, sql: &str, params: &[Value]) -> Result<()> {
        (**self).execute_values(sql, params)
    }
    fn executemany_values(&mut self, sql: &str, param_sets: &mut ParamSets<'_>) -> Result<()> {
        (**self).executemany_values(sql, param_sets)
    }
    fn description(&self) -> Option<&[Column]> {
        (**self).description()
    }
    fn rowcount(&self) -> i64 {
        (**self).rowcount()
    }
    fn lastrowid(&self) -> Option<i64> {
        (**self).lastrowid()
    }
    fn arraysize(&self) -> usize {
        (**self).arraysize()
    }
    fn set_arraysize(&mut self, size: usize) {
        (**self).set_arraysize(size)
    }
    fn fetchone(&mut self) -> Result<Option<Row>> {
        (**self).fetchone()
    }
    fn fetchmany(&mut self, size: usize) -> Result<Vec<Row>> {
        (**self).fetchmany(size)
    }
    fn fetchall(&mut self) -> Result<Vec<Row>> {
        (**self).fetchall()
    }
    fn fetch_with(&mut self, f: &mut dyn FnMut(RowView<'_>)) -> Result<bool> {
        (**self).fetch_with(f)
    }
}

/// The complete outcome of one statement, as an adapter hands it to [`BufferedCursor`].
#[derive(Debug, Clone, Default)]
pub struct ResultSet {
    /// The result columns, `None` for a statement without a result set.
    pub columns: Option<Columns>,
    /// The rows, in order.
    pub rows: VecDeque<Row>,
    /// PEP 249 `rowcount` (`-1` when unknown).
    pub rowcount: i64,
    /// PEP 249 `lastrowid`.
    pub lastrowid: Option<i64>,
}

impl ResultSet {
    /// A result set of `rows` described by `columns`; `rowcount` is the number of rows.
    pub fn with_rows(columns: Columns, rows: VecDeque<Row>) -> Self {
        ResultSet {
            columns: Some(columns),
            rowcount: rows.len() as i64,
            rows,
            lastrowid: None,
        }
    }

    /// The outcome of a statement without a result set.
    pub fn no_rows(rowcount: i64, lastrowid: Option<i64>) -> Self {
        ResultSet {
            columns: None,
            rows: VecDeque::new(),
            rowcount,
            lastrowid,
        }
    }
}

/// The one method a buffering adapter implements: run a statement, return all its results.
///
/// Implementing this on a connection type makes [`BufferedCursor`] a complete PEP 249 cursor
/// for it. (Its methods are `run` and `run_many`, not `execute`: a connection implements
/// [`Connection`](crate::Connection) too, whose `execute` callers use, with both traits in
/// scope.)
///
/// ```
/// use nimue_core::{testing::TestConnector, Connect, Connection, Execute};
/// let mut conn = TestConnector::new().connect()?;
/// let changed: i64 = conn.execute("INSERT INTO t VALUES (1)", &[])?; // Connection's
/// let result = conn.run("SELECT 1", &[])?; // Execute's: the whole result
/// assert_eq!(result.rows.len(), 1);
/// # Ok::<(), nimue_core::Error>(())
/// ```
pub trait Execute {
    /// Run `sql` once with `params`, returning its whole result.
    fn run(&mut self, sql: &str, params: &[Value]) -> Result<ResultSet>;

    /// Run `sql` once per parameter set. The default runs [`Execute::run`] in a loop and
    /// sums the row counts; adapters override it to prepare once.
    fn run_many(&mut self, sql: &str, param_sets: &mut ParamSets<'_>) -> Result<ResultSet> {
        let mut total = ResultSet::no_rows(0, None);
        for params in param_sets {
            let one = self.run(sql, &params)?;
            total.rowcount += one.rowcount.max(0);
            total.lastrowid = one.lastrowid.or(total.lastrowid);
        }
        Ok(total)
    }
}

/// A PEP 249 cursor over any [`Execute`] connection, holding each statement's rows in memory.
///
/// Like psycopg's default (client-side) cursors: `execute` reads the whole result, the fetch
/// methods hand it out. It also iterates over its remaining rows.
pub struct BufferedCursor<'c, C: Execute + ?Sized> {
    conn: &'c mut C,
    result: Option<ResultSet>,
    arraysize: usize,
}

impl<'c, C: Execute + ?Sized> BufferedCursor<'c, C> {
    /// A cursor on `conn` with nothing executed yet.
    pub fn new(conn: &'c mut C) -> Self {
        BufferedCursor {
            conn,
            result: None,
            arraysize: 1,
        }
    }

    /// The connection this cursor runs on.
    pub fn connection(&mut self) -> &mut C {
        self.conn
    }

    fn result_rows(&mut self) -> Result<&mut VecDeque<Row>> {
        match &mut self.result {
            Some(ResultSet {
                columns: Some(_),
                rows,
                ..
            }) => Ok(rows),
            Some(_) => Err(Error::programming(
                "no results to fetch: the last statement returned no rows",
            )),
            None => Err(Error::programming(
                "no results to fetch: nothing was executed",
            )),
        }
    }
}

impl<C: Execute + ?Sized> Cursor for BufferedCursor<'_, C> {
    fn execute_values(&mut self, sql: &str, params: &[Value]) -> Result<()> {
        // Drop the previous result first: a failed statement leaves no stale rows behind.
        self.result = None;
        self.result = Some(self.conn.run(sql, params)?);
        Ok(())
    }

    fn executemany_values(&mut self, sql: &str, param_sets: &mut ParamSets<'_>) -> Result<()> {
        self.result = None;
        self.result = Some(self.conn.run_many(sql, param_sets)?);
        Ok(())
    }

    fn description(&self) -> Option<&[Column]> {
        self.result.as_ref()?.columns.as_deref()
    }

    fn rowcount(&self) -> i64 {
        self.result.as_ref().map_or(-1, |r| r.rowcount)
    }

    fn lastrowid(&self) -> Option<i64> {
        self.result.as_ref()?.lastrowid
    }

    fn arraysize(&self) -> usize {
        self.arraysize
    }

    fn set_arraysize(&mut self, size: usize) {
        self.arraysize = size.max(1);
    }

    fn fetchone(&mut self) -> Result<Option<Row>> {
        Ok(self.result_rows()?.pop_front())
    }

    fn fetchmany(&mut self, size: usize) -> Result<Vec<Row>> {
        let rows = self.result_rows()?;
        let n = size.min(rows.len());
        Ok(rows.drain(..n).collect())
    }

    fn fetchall(&mut self) -> Result<Vec<Row>> {
        Ok(self.result_rows()?.drain(..).collect())
    }
}

impl<C: Execute + ?Sized> Iterator for BufferedCursor<'_, C> {
    type Item = Row;

    /// The next remaining row; `None` at the end or when there is no result set.
    fn next(&mut self) -> Option<Row> {
        self.result_rows().ok()?.pop_front()
    }
}
