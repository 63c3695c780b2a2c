//! [`Progress`]: where a streaming cursor is with its last statement, and the PEP 249
//! bookkeeping of it (`description`, `rowcount`, `lastrowid`, the read-ahead buffer), shared
//! by the synchronous [`StreamingCursor`](crate::StreamingCursor) and the async
//! [`AsyncStreamingCursor`](crate::aio::AsyncStreamingCursor): they differ only in how they
//! wait for the driver's next row.

use crate::error::{Error, Result};
use crate::row::{Column, Columns, Row};
use crate::stream::Started;
use std::collections::VecDeque;

/// Where the cursor is with its last statement.
pub(crate) enum Progress {
    /// Nothing executed (or the last statement failed).
    Idle,
    /// A statement without a result set.
    Done {
        rowcount: i64,
        lastrowid: Option<i64>,
    },
    /// A query: rows read ahead, and whether the driver has more.
    Rows {
        columns: Columns,
        ahead: VecDeque<Row>,
        /// Rows taken from the driver so far.
        read: i64,
        /// The driver said there are no more (`read` is then the query's `rowcount`).
        ended: bool,
        lastrowid: Option<i64>,
    },
}

impl Progress {
    /// A statement that started (its rows, if any, not read yet).
    pub(crate) fn started(started: Started) -> Progress {
        match started {
            Started::Done {
                rowcount,
                lastrowid,
            } => Progress::Done {
                rowcount,
                lastrowid,
            },
            Started::Rows(columns) => Progress::Rows {
                columns,
                ahead: VecDeque::new(),
                read: 0,
                ended: false,
                lastrowid: None,
            },
        }
    }

    /// Whether the driver may have another row of the running query.
    pub(crate) fn wants_row(&self) -> bool {
        matches!(self, Progress::Rows { ended: false, .. })
    }

    /// Count what the driver handed out for the running query: a row, its end (then its
    /// `lastrowid` is asked), or an error (the statement failed midway: no rowcount or further
    /// rows pretend it ended).
    pub(crate) fn took(
        &mut self,
        row: Result<Option<Row>>,
        lastrowid_at_end: impl FnOnce() -> Option<i64>,
    ) -> Result<Option<Row>> {
        let Progress::Rows {
            read,
            ended,
            lastrowid,
            ..
        } = self
        else {
            return row;
        };
        match &row {
            Ok(Some(_)) => *read += 1,
            Ok(None) => {
                *ended = true;
                *lastrowid = lastrowid_at_end();
            }
            Err(_) => *self = Progress::Idle,
        }
        row
    }

    /// The query's read-ahead buffer, or the PEP 249 error for a cursor without one.
    pub(crate) fn rows_ahead(&mut self) -> Result<&mut VecDeque<Row>> {
        match self {
            Progress::Rows { ahead, .. } => Ok(ahead),
            Progress::Done { .. } => Err(Error::programming(
                "no results to fetch: the last statement returned no rows",
            )),
            Progress::Idle => Err(Error::programming(
                "no results to fetch: nothing was executed",
            )),
        }
    }

    /// PEP 249 `description`.
    pub(crate) fn description(&self) -> Option<&[Column]> {
        match self {
            Progress::Rows { columns, .. } => Some(columns),
            _ => None,
        }
    }

    /// PEP 249 `rowcount`; `driver` is what the driver knows of a query not read to its end.
    pub(crate) fn rowcount(&self, driver: impl FnOnce() -> Option<i64>) -> i64 {
        match self {
            Progress::Idle => -1,
            Progress::Done { rowcount, .. } => *rowcount,
            Progress::Rows { read, ended, .. } => {
                if *ended {
                    *read
                } else {
                    driver().unwrap_or(-1)
                }
            }
        }
    }

    /// PEP 249 `lastrowid`.
    pub(crate) fn lastrowid(&self) -> Option<i64> {
        match self {
            Progress::Idle => None,
            Progress::Done { lastrowid, .. } | Progress::Rows { lastrowid, .. } => *lastrowid,
        }
    }
}
