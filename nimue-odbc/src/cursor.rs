//! The statement side of the ODBC streaming cursor: a prepared statement whose result set is
//! fetched from the driver as rows are asked for (in bound batches, or row by row), so a scan
//! holds at most one batch besides the rows read ahead.

use crate::connection::OdbcConnection;
use crate::convert::to_param;
use crate::error::map_err;
use crate::fetch::{describe, FetchError, Fetcher, Layout, OdbcCursorImpl};
use nimue_core::sql::{starts_with_any, DML_KEYWORDS};
use nimue_core::{
    check_param_count, Error, ParamSets, Result, Row, RowStream, Started, StreamingCursor, Value,
};
use odbc_api::handles::{AsStatementRef, Statement, StatementImpl};
use odbc_api::parameter::InputParameter;
use odbc_api::Prepared;

/// A statement that is running: the prepared statement and, while its result set is being
/// read, the rows fetched through it (which borrow it).
#[ouroboros::self_referencing]
struct Running<'c> {
    statement: Prepared<StatementImpl<'c>>,
    #[borrows(mut statement)]
    #[not_covariant]
    rows: Option<Fetcher<'this>>,
}

/// The rows of the statement an [`OdbcCursor`] runs.
pub struct OdbcStream<'c> {
    conn: &'c OdbcConnection,
    /// The query whose rows are being read, until its last row.
    running: Option<Running<'c>>,
    /// Its columns and how to read them.
    layout: Option<Layout>,
    /// Its number of rows, when the driver reported it at execute: `SQLRowCount`, used only
    /// for drivers known to report it only when it is the whole result's (PostgreSQL's, which
    /// holds every row after executing unless `UseDeclareFetch=1`).
    driver_rows: Option<i64>,
}

impl std::fmt::Debug for OdbcStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OdbcStream")
            .field("running", &self.running.is_some())
            .field("driver_rows", &self.driver_rows)
            .finish()
    }
}

impl<'c> OdbcStream<'c> {
    pub(crate) fn new(conn: &'c OdbcConnection) -> Self {
        OdbcStream {
            conn,
            running: None,
            layout: None,
            driver_rows: None,
        }
    }

    /// End the running statement: close its cursor, free its handle.
    fn finish(&mut self) {
        if let Some(mut running) = self.running.take() {
            running.with_rows_mut(|rows| {
                if let Some(rows) = rows.take() {
                    rows.close();
                }
            });
        }
    }

    /// Run `sql` once per parameter set (at least one), reporting errors as the connection
    /// sees them.
    fn run(&mut self, sql: &str, param_sets: &[&[Value]], many: Many) -> Result<Started> {
        // The previous statement ends (and releases what it held) first.
        self.finish();
        self.layout = None;
        self.driver_rows = None;
        let started = self.begin(sql, param_sets, many);
        self.conn.settle(started)
    }

    /// Prepare `sql`, check and bind each parameter set and execute it. A result set of the
    /// last execution stays open to be read (`Many::KeepLast`); the others are read to the
    /// end, their rows counted as changes (`INSERT ... RETURNING`), and dropped.
    fn begin(
        &mut self,
        sql: &str,
        param_sets: &[&[Value]],
        many: Many,
    ) -> std::result::Result<Started, FetchError> {
        let conn = self.conn;
        let mut statement = conn.odbc().prepare(sql).map_err(map_err)?;
        if conn.query_timeout_sec() > 0 {
            statement
                .set_query_timeout_sec(conn.query_timeout_sec())
                .map_err(map_err)?;
        }
        let expected = usize::from(statement.num_params().map_err(map_err)?);
        for params in param_sets {
            check_param_count(expected, params.len())?;
        }
        let has_nul = |v: &Value| matches!(v, Value::Text(s) if s.contains('\0'));
        if conn.text_ends_at_nul() && param_sets.iter().any(|p| p.iter().any(has_nul)) {
            return Err(Error::not_supported(format!(
                "the {} ODBC driver cuts text at a NUL byte: pass such data as bytes",
                conn.dbms_name()
            ))
            .into());
        }
        let Some((last, earlier)) = param_sets.split_last() else {
            return Ok(Started::Done {
                rowcount: 0,
                lastrowid: None,
            });
        };
        let (last, earlier) = match many {
            Many::KeepLast => (Some(last), earlier),
            Many::DrainAll => (None, param_sets),
        };
        conn.statement_runs();
        let dml = starts_with_any(sql, &DML_KEYWORDS);
        let trust_sizes = conn.binds_variable_size_columns();
        let counts_rows = conn.counts_query_rows();
        // Rows changed by the executions without a result set; `None` once one is unknown.
        let mut changed: Option<i64> = Some(0);
        let mut add_changed = |count: Option<usize>| {
            changed = match (changed, count.and_then(|n| i64::try_from(n).ok())) {
                (Some(total), Some(n)) => Some(total + n),
                _ => None,
            };
        };
        let mut layout = None;
        let mut driver_rows = None;
        // Without a last execution kept apart, every one is counted in `changed` already.
        let counted_all = last.is_none();
        let running = Running::try_new(
            statement,
            |statement| -> std::result::Result<_, FetchError> {
                for params in earlier {
                    let bound = bind(params);
                    let returned = match statement.execute(&bound[..]).map_err(map_err)? {
                        Some(mut cursor) => {
                            let read = describe(&mut cursor, trust_sizes)?;
                            Some(drain(Fetcher::new(cursor, &read)?, &read)?)
                        }
                        None => None,
                    };
                    match returned {
                        Some(rows) => add_changed(Some(rows)),
                        None => add_changed(statement.row_count().map_err(map_err)?),
                    }
                }
                let Some(last) = last else {
                    return Ok(None);
                };
                let bound = bind(last);
                let Some(mut cursor) = statement.execute(&bound[..]).map_err(map_err)? else {
                    return Ok(None);
                };
                let read = describe(&mut cursor, trust_sizes)?;
                log::trace!(
                    "reading {} column(s) {}",
                    read.columns.len(),
                    if read.is_batched() {
                        "in batches"
                    } else {
                        "row by row"
                    }
                );
                if counts_rows {
                    driver_rows = query_rows(&mut cursor);
                }
                let rows = Fetcher::new(cursor, &read)?;
                layout = Some(read);
                Ok(Some(rows))
            },
        )?;
        if let Some(layout) = layout {
            let columns = layout.columns.clone();
            self.running = Some(running);
            self.layout = Some(layout);
            self.driver_rows = driver_rows;
            return Ok(Started::Rows(columns));
        }
        let mut statement = running.into_heads().statement;
        if !counted_all {
            add_changed(statement.row_count().map_err(map_err)?);
        }
        Ok(Started::Done {
            rowcount: changed.filter(|_| dml).unwrap_or(-1),
            lastrowid: None,
        })
    }
}

/// What becomes of the last execution's result set.
#[derive(Clone, Copy)]
enum Many {
    /// It stays open to be read (`execute`).
    KeepLast,
    /// It is read and counted as the others are (`executemany`, whose row count is every
    /// set's, as on the other adapters).
    DrainAll,
}

/// A parameter set as bound parameters.
fn bind(params: &[Value]) -> Vec<Box<dyn InputParameter>> {
    params.iter().map(to_param).collect()
}

/// Read a result set to its end (conversion errors included) and close it; its rows.
fn drain(mut rows: Fetcher<'_>, layout: &Layout) -> std::result::Result<usize, FetchError> {
    let mut n = 0;
    let read = loop {
        match rows.next_values(layout) {
            Ok(Some(_)) => n += 1,
            Ok(None) => break Ok(n),
            Err(e) => break Err(e),
        }
    };
    rows.close();
    read
}

/// The driver's `SQLRowCount` for the result set `cursor` is on, when it gives one.
fn query_rows(cursor: &mut OdbcCursorImpl<'_>) -> Option<i64> {
    let mut statement = cursor.as_stmt_ref();
    let count = statement.row_count().into_result(&statement).ok()?;
    i64::try_from(count).ok().filter(|n| *n >= 0)
}

impl RowStream for OdbcStream<'_> {
    fn start(&mut self, sql: &str, params: &[Value]) -> Result<Started> {
        self.run(sql, &[params], Many::KeepLast)
    }

    fn rowcount(&self) -> Option<i64> {
        self.driver_rows
    }

    /// Prepares once, then executes once per parameter set.
    /// The sets are gathered first: every set is checked before any runs.
    fn start_many(&mut self, sql: &str, param_sets: &mut ParamSets<'_>) -> Result<Started> {
        let owned: Vec<_> = param_sets.collect();
        let sets: Vec<&[Value]> = owned.iter().map(AsRef::as_ref).collect();
        if sets.is_empty() {
            self.finish();
            self.layout = None;
            self.driver_rows = None;
            return Ok(Started::Done {
                rowcount: 0,
                lastrowid: None,
            });
        }
        self.run(sql, &sets, Many::DrainAll)
    }

    fn next_row(&mut self) -> Result<Option<Row>> {
        let (Some(running), Some(layout)) = (&mut self.running, &self.layout) else {
            return Ok(None);
        };
        let next = running.with_rows_mut(|rows| match rows {
            Some(rows) => rows.next_values(layout),
            None => Ok(None),
        });
        if !matches!(next, Ok(Some(_))) {
            // The end, or an error: the statement is finished either way.
            self.finish();
        }
        let next = self.conn.settle(next)?;
        Ok(next.and_then(|values| {
            let columns = self.layout.as_ref()?.columns.clone();
            Some(Row::new(columns, values))
        }))
    }
}

impl Drop for OdbcStream<'_> {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The cursor of an [`OdbcConnection`]: a [`StreamingCursor`] over an [`OdbcStream`], so rows
/// come from the driver as they are fetched. A query's `rowcount` is known at once when the
/// driver reports it while executing (PostgreSQL's driver, which then holds every row, see the
/// [crate documentation](crate#streaming)); with other drivers a result longer than
/// [`READ_AHEAD`](nimue_core::stream::READ_AHEAD) rows reports `-1` until its last row has
/// been fetched.
///
/// While a query's rows are being read its ODBC statement stays open (with the driver's
/// cursor, and on PostgreSQL with `UseDeclareFetch=1` a server-side cursor): fetch to the
/// end, execute another statement, or drop the cursor to release it.
pub type OdbcCursor<'c> = StreamingCursor<OdbcStream<'c>>;
