//! Rows read where the driver holds them: typed reads without building a [`Row`] of
//! [`Value`]s first.
//!
//! An adapter's [`RawRow`](crate::RawRow) hands out each cell as a [`CellRef`](crate::value::CellRef): text and bytes borrowed
//! from the driver's row, everything else as a (heap-free) [`Value`]. A [`RowView`] reads
//! typed cells from it with [`FromValue::from_cell`], so `String` costs one copy of the text
//! and a number none, as with the driver's own API. [`Cursor::map_rows`](crate::Cursor::map_rows)
//! and [`Connection::query_map`](crate::Connection::query_map) use it.

use crate::error::Result;
use crate::row::{conversion_error, Column, Row, RowIndex};
use crate::value::{CellRef, FromValue, RawRow, Value};

impl RawRow for Row {
    fn cell(&self, i: usize) -> Result<CellRef<'_>> {
        Ok(CellRef::of(&self[i]))
    }

    fn text(&self, i: usize) -> Option<&str> {
        match &self[i] {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    fn int(&self, i: usize) -> Option<i64> {
        match &self[i] {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }
}

/// A row being read, borrowed from the cursor for the time of one call: read its cells with
/// [`get`](Self::get), as a [`Row`]'s.
///
/// ```
/// use nimue_core::{params, Column, Row, RowView};
/// let row = Row::new(vec![Column::new("id", None), Column::new("name", None)].into(),
///                    params![7, "ada"].to_vec());
/// let view = RowView::new(&row, row.columns());
/// assert_eq!(view.get::<i64>(0)?, 7);
/// assert_eq!(view.get::<String>("name")?, "ada");
/// # Ok::<(), nimue_core::Error>(())
/// ```
#[derive(Clone, Copy)]
pub struct RowView<'r> {
    raw: &'r dyn RawRow,
    columns: &'r [Column],
}

impl<'r> RowView<'r> {
    /// A view of `raw`, whose cells `columns` describe.
    pub fn new(raw: &'r dyn RawRow, columns: &'r [Column]) -> Self {
        RowView { raw, columns }
    }

    /// Read the whole row into a tuple or another [`FromRow`](crate::FromRow) type.
    ///
    /// ```
    /// # use nimue_core::{Connection, Result};
    /// # fn f<C: Connection>(conn: &mut C) -> Result<()> {
    /// let pairs: Vec<(i64, String)> = conn.query_map("SELECT id, name FROM users", &[], |row| row.parse())?;
    /// # Ok(()) }
    /// ```
    pub fn parse<T: crate::FromRow>(&self) -> Result<T> {
        T::from_row(self)
    }

    /// Read a cell by position or name, converted to `T` (`Option<T>` reads `NULL`): the same
    /// conversions and errors as [`Row::get`].
    pub fn get<T: FromValue>(&self, index: impl RowIndex) -> Result<T> {
        let i = index.position(self.columns)?;
        T::from_raw(self.raw, i).map_err(|e| conversion_error(i, self.columns, &e))
    }

    /// The columns of the row.
    pub fn columns(&self) -> &'r [Column] {
        self.columns
    }

    /// The number of cells.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// Whether the row has no columns.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// The row as an owned [`Row`] (every cell converted to a [`Value`]).
    pub fn to_row(&self) -> Result<Row> {
        let values = (0..self.len())
            .map(|i| self.raw.cell(i).map(CellRef::into_value))
            .collect::<Result<Vec<Value>>>()?;
        Ok(Row::new(self.columns.into(), values))
    }
}

impl std::fmt::Debug for RowView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowView")
            .field("columns", &self.columns.len())
            .finish()
    }
}
