//! Reading a result set: its column descriptions, then its rows as they are asked for.
//!
//! When every column has a bounded size (numbers, dates, timestamps, times, decimals, and
//! character or binary columns of at most [`MAX_BOUND_CHARS`](crate::convert::MAX_BOUND_CHARS)
//! characters / [`MAX_BOUND_BYTES`](crate::convert::MAX_BOUND_BYTES) bytes whose declared size
//! the database enforces), a columnar buffer of at most [`BATCH_BYTES`] is bound and rows
//! arrive in batches of up to [`MAX_BATCH_ROWS`] (one `SQLFetch` per batch); a batch is
//! converted when its first row is asked for, and the next one fetched when it is used up.
//! Otherwise (a `TEXT`/`BLOB`/`bytea`-like column, or a driver whose sizes are not limits)
//! rows are fetched one by one and each value is read with `SQLGetData`, in as many pieces as
//! it takes.

use crate::convert::Kind;
use crate::convert::{from_date, from_text, from_timestamp, odbc_type_name, type_code, utf16_text};
use crate::error::map_err;
use nimue_core::{Column, Columns, Error, Result, Value};
use odbc_api::buffers::{AnyColumnBufferSlice, BufferDesc, ColumnarDynBuffer};
use odbc_api::handles::{AsStatementRef, Statement, StatementRef};
use odbc_api::sys::{Date, Desc, SqlReturn, Timestamp};
use odbc_api::{
    Bit, BlockCursor, ColumnDescription, Cursor, CursorImpl, DataType, Nullability, Nullable,
    ResultSetMetadata,
};
use std::collections::VecDeque;

/// Memory one batch of rows may take in its bound buffer.
pub(crate) const BATCH_BYTES: usize = 1 << 20;
/// Most rows fetched at once.
pub(crate) const MAX_BATCH_ROWS: usize = 1024;

/// How a result set is described and read.
pub(crate) struct Layout {
    /// The `description`.
    pub(crate) columns: Columns,
    kinds: Vec<Kind>,
    /// One bound buffer per column, when every column can be bound.
    buffers: Option<Vec<BufferDesc>>,
}

impl Layout {
    /// Whether rows are fetched in batches through bound buffers.
    pub(crate) fn is_batched(&self) -> bool {
        self.buffers.is_some()
    }
}

/// The database's own name of a column's type (`SQL_DESC_TYPE_NAME`), when the driver has one.
fn type_name(cursor: &mut impl AsStatementRef, column: u16) -> Option<String> {
    let stmt = cursor.as_stmt_ref();
    let mut buf = [0u8; 256];
    let mut len: i16 = 0;
    // SAFETY: `stmt.as_sys()` is the live statement handle of `cursor`, which we borrow
    // mutably for the whole call, so no other call uses it concurrently. SQL_DESC_TYPE_NAME is
    // a character attribute: the driver writes at most `buf.len()` bytes (the length passed,
    // which fits an i16) into `buf`, which outlives the call, and the full length into `len`;
    // the numeric-attribute pointer may be null for character attributes.
    let ret = unsafe {
        odbc_api::sys::SQLColAttribute(
            stmt.as_sys(),
            column,
            Desc::TypeName,
            buf.as_mut_ptr().cast(),
            buf.len() as i16,
            &mut len,
            std::ptr::null_mut(),
        )
    };
    if ret != SqlReturn::SUCCESS && ret != SqlReturn::SUCCESS_WITH_INFO {
        return None;
    }
    // A longer name was truncated (and zero-terminated); stop at the terminator either way.
    let written = usize::try_from(len).unwrap_or(0).min(buf.len());
    let name = buf[..written].split(|b| *b == 0).next().unwrap_or_default();
    let name = String::from_utf8_lossy(name).trim().to_owned();
    (!name.is_empty()).then_some(name)
}

/// Describe the result set `cursor` is on. With `trust_sizes` off, character and binary
/// columns are never bound (their declared sizes may not be limits).
pub(crate) fn describe(cursor: &mut impl ResultSetMetadata, trust_sizes: bool) -> Result<Layout> {
    let count = cursor.num_result_cols().map_err(map_err)?;
    let count = u16::try_from(count).unwrap_or(0);
    let mut columns = Vec::with_capacity(usize::from(count));
    let mut kinds = Vec::with_capacity(usize::from(count));
    let mut buffers = Some(Vec::with_capacity(usize::from(count)));
    for number in 1..=count {
        let mut desc = ColumnDescription::default();
        cursor.describe_col(number, &mut desc).map_err(map_err)?;
        let name = desc
            .name_to_string()
            .map_err(|_| Error::data(format!("the name of column {number} is not valid text")))?;
        let db_type_name = type_name(cursor, number);
        let kind = Kind::of(&desc.data_type, db_type_name.as_deref());
        let (precision, scale) = match desc.data_type {
            DataType::Numeric { precision, scale } | DataType::Decimal { precision, scale } => (
                u32::try_from(precision).ok(),
                u32::try_from(scale.max(0)).ok(),
            ),
            _ => (None, None),
        };
        let null_ok = match desc.nullability {
            Nullability::Nullable => Some(true),
            Nullability::NoNulls => Some(false),
            Nullability::Unknown => None,
        };
        let internal_size = cursor.col_octet_length(number).ok().flatten();
        let mut column = Column::new(name, type_code(&desc.data_type, kind))
            .with_type_name(db_type_name.unwrap_or_else(|| odbc_type_name(&desc.data_type)))
            .with_sizes(internal_size.map(|n| n.get()), precision, scale, null_ok);
        column.display_size = cursor
            .col_display_size(number)
            .ok()
            .flatten()
            .map(|n| n.get());
        columns.push(column);
        match kind.buffer_desc(&desc.data_type, trust_sizes) {
            Some(buffer) => buffers.iter_mut().for_each(|b| b.push(buffer)),
            None => buffers = None,
        }
        kinds.push(kind);
    }
    Ok(Layout {
        columns: columns.into(),
        kinds,
        buffers,
    })
}

/// Why reading rows failed.
pub(crate) enum FetchError {
    /// A value did not fit the bound buffer sized from the driver's column description: the
    /// driver's sizes are not limits.
    Truncated(Error),
    /// Any other error.
    Other(Error),
}

impl From<Error> for FetchError {
    fn from(e: Error) -> Self {
        FetchError::Other(e)
    }
}

impl From<FetchError> for Error {
    fn from(e: FetchError) -> Self {
        match e {
            FetchError::Truncated(e) | FetchError::Other(e) => e,
        }
    }
}

/// The cursor of a result set being read.
pub(crate) type OdbcCursorImpl<'s> = CursorImpl<StatementRef<'s>>;

/// The rows of a result set, fetched as they are asked for.
pub(crate) enum Fetcher<'s> {
    /// Batches through a bound columnar buffer.
    Batched {
        block: BlockCursor<OdbcCursorImpl<'s>, ColumnarDynBuffer>,
        /// The values of the current batch's rows not handed out yet, converted when the
        /// batch arrived; a row that failed to convert is the last one.
        ready: VecDeque<Result<Vec<Value>>>,
    },
    /// Row by row with `SQLGetData`, through reusable buffers.
    OneByOne {
        cursor: OdbcCursorImpl<'s>,
        wide: Vec<u16>,
        bytes: Vec<u8>,
    },
}

impl<'s> Fetcher<'s> {
    /// Start reading the result set `cursor` is on, as `layout` says.
    pub(crate) fn new(cursor: OdbcCursorImpl<'s>, layout: &Layout) -> Result<Self> {
        let Some(descs) = &layout.buffers else {
            return Ok(Fetcher::OneByOne {
                cursor,
                wide: Vec::new(),
                bytes: Vec::new(),
            });
        };
        let row_bytes = descs
            .iter()
            .map(BufferDesc::bytes_per_row)
            .sum::<usize>()
            .max(1);
        let capacity = (BATCH_BYTES / row_bytes).clamp(1, MAX_BATCH_ROWS);
        let buffer =
            ColumnarDynBuffer::try_from_descs(capacity, descs.iter().copied()).map_err(map_err)?;
        let block = cursor.bind_buffer(buffer).map_err(map_err)?;
        Ok(Fetcher::Batched {
            block,
            ready: VecDeque::new(),
        })
    }

    /// The values of the next row, or `None` at the end of the result set.
    pub(crate) fn next_values(
        &mut self,
        layout: &Layout,
    ) -> std::result::Result<Option<Vec<Value>>, FetchError> {
        match self {
            Fetcher::Batched { block, ready } => loop {
                if let Some(values) = ready.pop_front() {
                    return Ok(Some(values?));
                }
                if !fetch_batch(block, layout, ready)? {
                    return Ok(None);
                }
            },
            Fetcher::OneByOne {
                cursor,
                wide,
                bytes,
            } => match cursor.next_row().map_err(map_err)? {
                Some(mut row) => Ok(Some(read_row(&mut row, layout, wide, bytes)?)),
                None => Ok(None),
            },
        }
    }

    /// Close the cursor (`SQLCloseCursor`), whether or not every row was read. A driver that
    /// refuses (a connection lost mid-result) is logged, never a panic: the statement handle
    /// is freed right after, which closes the cursor anyway.
    pub(crate) fn close(self) {
        let cursor = match self {
            Fetcher::Batched { block, .. } => match block.unbind() {
                Ok((cursor, _buffer)) => cursor,
                Err(e) => {
                    log::debug!("unbinding an ODBC result set buffer: {e}");
                    return;
                }
            },
            Fetcher::OneByOne { cursor, .. } => cursor,
        };
        let mut statement = cursor.into_stmt();
        if let Err(e) = statement.close_cursor().into_result(&statement) {
            log::debug!("closing an ODBC cursor: {e}");
        }
    }
}

/// Fetch the next batch into `ready`, converted; `false` at the end of the result set.
fn fetch_batch(
    block: &mut BlockCursor<OdbcCursorImpl<'_>, ColumnarDynBuffer>,
    layout: &Layout,
    ready: &mut VecDeque<Result<Vec<Value>>>,
) -> std::result::Result<bool, FetchError> {
    let batch = match block.fetch_with_truncation_check(true) {
        Ok(Some(batch)) => batch,
        Ok(None) => return Ok(false),
        Err(odbc_api::Error::TooLargeValueForBuffer {
            indicator,
            buffer_index,
        }) => {
            let column = &layout.columns[buffer_index];
            let size = indicator.map_or_else(|| "unknown".to_owned(), |n| n.to_string());
            return Err(FetchError::Truncated(Error::data(format!(
                "a value of column {buffer_index} ({:?}, {} bytes) is longer than the size \
                 the driver reported for the column; run the statement again (values of \
                 variable size are now read one by one on this connection)",
                column.name, size
            ))));
        }
        Err(e) => return Err(map_err(e).into()),
    };
    for row in 0..batch.num_rows() {
        let values: Result<Vec<Value>> = layout
            .kinds
            .iter()
            .enumerate()
            .map(|(index, kind)| read_cell(batch.column(index), *kind, row))
            .collect();
        let failed = values.is_err();
        ready.push_back(values);
        if failed {
            break;
        }
    }
    Ok(true)
}

/// The value in `row` of one bound column.
fn read_cell(slice: AnyColumnBufferSlice<'_>, kind: Kind, row: usize) -> Result<Value> {
    let mismatch = || Error::internal("a bound column buffer has an unexpected type");
    match kind {
        Kind::Bool => Ok(slice
            .as_nullable_slice::<Bit>()
            .ok_or_else(mismatch)?
            .get(row)
            .map_or(Value::Null, |b| Value::Bool(b.0 != 0))),
        Kind::Int => Ok(slice
            .as_nullable_slice::<i64>()
            .ok_or_else(mismatch)?
            .get(row)
            .map_or(Value::Null, |i| Value::Int(*i))),
        Kind::Float => Ok(slice
            .as_nullable_slice::<f64>()
            .ok_or_else(mismatch)?
            .get(row)
            .map_or(Value::Null, |x| Value::Float(*x))),
        Kind::Date => slice
            .as_nullable_slice::<Date>()
            .ok_or_else(mismatch)?
            .get(row)
            .map_or(Ok(Value::Null), from_date),
        Kind::Timestamp => slice
            .as_nullable_slice::<Timestamp>()
            .ok_or_else(mismatch)?
            .get(row)
            .map_or(Ok(Value::Null), from_timestamp),
        Kind::Bytes => Ok(slice
            .as_binary()
            .ok_or_else(mismatch)?
            .get(row)
            .map_or(Value::Null, |b| Value::Bytes(b.to_vec()))),
        Kind::Text | Kind::Decimal | Kind::Time => {
            match slice.as_wide_text().ok_or_else(mismatch)?.get(row) {
                None => Ok(Value::Null),
                Some(units) => from_text(kind, utf16_text(units)?),
            }
        }
    }
}

/// The values of the row the cursor is on, each read with `SQLGetData`.
fn read_row(
    row: &mut odbc_api::CursorRow<'_>,
    layout: &Layout,
    wide: &mut Vec<u16>,
    bytes: &mut Vec<u8>,
) -> Result<Vec<Value>> {
    let mut values = Vec::with_capacity(layout.kinds.len());
    for (index, kind) in layout.kinds.iter().enumerate() {
        let number = u16::try_from(index + 1).unwrap_or(u16::MAX);
        let value = match kind {
            Kind::Bool => {
                let mut v = Nullable::<Bit>::null();
                row.get_data(number, &mut v).map_err(map_err)?;
                v.into_opt().map_or(Value::Null, |b| Value::Bool(b.0 != 0))
            }
            Kind::Int => {
                let mut v = Nullable::<i64>::null();
                row.get_data(number, &mut v).map_err(map_err)?;
                v.into_opt().map_or(Value::Null, Value::Int)
            }
            Kind::Float => {
                let mut v = Nullable::<f64>::null();
                row.get_data(number, &mut v).map_err(map_err)?;
                v.into_opt().map_or(Value::Null, Value::Float)
            }
            Kind::Date => {
                let mut v = Nullable::<Date>::null();
                row.get_data(number, &mut v).map_err(map_err)?;
                v.as_opt().map_or(Ok(Value::Null), from_date)?
            }
            Kind::Timestamp => {
                let mut v = Nullable::<Timestamp>::null();
                row.get_data(number, &mut v).map_err(map_err)?;
                v.as_opt().map_or(Ok(Value::Null), from_timestamp)?
            }
            Kind::Bytes => {
                if row.get_binary(number, bytes).map_err(map_err)? {
                    Value::Bytes(bytes.clone())
                } else {
                    Value::Null
                }
            }
            Kind::Text | Kind::Decimal | Kind::Time => {
                if row.get_wide_text(number, wide).map_err(map_err)? {
                    from_text(*kind, utf16_text(wide)?)?
                } else {
                    Value::Null
                }
            }
        };
        values.push(value);
    }
    Ok(values)
}
