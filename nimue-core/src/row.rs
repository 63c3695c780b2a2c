//! Result rows and their column descriptions.

use crate::error::{Error, Result};
use crate::value::{FromValue, TypeCode, Value};
use std::ops::Index;
use std::sync::Arc;

/// One column of a result set: PEP 249's seven-item `description` entry.
///
/// ```
/// use nimue_core::{Column, TypeCode};
/// let c = Column::new("id", Some(TypeCode::Number)).with_type_name("INTEGER");
/// assert_eq!(c.name, "id");
/// assert_eq!(c.type_code, Some(TypeCode::Number));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Column {
    /// The column's name (or alias) as the database reports it.
    pub name: String,
    /// The PEP 249 type object; `None` when the driver cannot tell (e.g. an SQLite expression).
    pub type_code: Option<TypeCode>,
    /// The database's own type name (`"int8"`, `"VARCHAR"`, ...), when known.
    pub type_name: Option<String>,
    /// PEP 249 `display_size`.
    pub display_size: Option<usize>,
    /// PEP 249 `internal_size`.
    pub internal_size: Option<usize>,
    /// PEP 249 `precision`.
    pub precision: Option<u32>,
    /// PEP 249 `scale`.
    pub scale: Option<u32>,
    /// PEP 249 `null_ok`: `None` when unknown.
    pub null_ok: Option<bool>,
}

impl Column {
    /// A column with a name and type code; every optional item unknown.
    pub fn new(name: impl Into<String>, type_code: Option<TypeCode>) -> Self {
        Column {
            name: name.into(),
            type_code,
            type_name: None,
            display_size: None,
            internal_size: None,
            precision: None,
            scale: None,
            null_ok: None,
        }
    }

    /// Set the database's type name.
    pub fn with_type_name(mut self, type_name: impl Into<String>) -> Self {
        self.type_name = Some(type_name.into());
        self
    }

    /// Set PEP 249's `internal_size`, `precision`, `scale` and `null_ok` at once; `None`
    /// leaves an item unknown.
    pub fn with_sizes(
        mut self,
        internal_size: Option<usize>,
        precision: Option<u32>,
        scale: Option<u32>,
        null_ok: Option<bool>,
    ) -> Self {
        self.internal_size = internal_size;
        self.precision = precision;
        self.scale = scale;
        self.null_ok = null_ok;
        self
    }
}

/// The columns of a result set, shared by all its rows.
pub type Columns = Arc<[Column]>;

/// One result row: values plus the shared column description.
///
/// Read cells by position or by name with typed conversion; `Option<T>` reads `NULL`.
///
/// ```
/// use nimue_core::{params, Column, Row, TypeCode};
/// let cols = vec![Column::new("id", Some(TypeCode::Number)), Column::new("name", None)];
/// let row = Row::new(cols.into(), params![7, None::<String>].to_vec());
/// let id: i64 = row.get(0)?;
/// let name: Option<String> = row.get("name")?;
/// assert_eq!((id, name), (7, None));
/// assert!(row.get::<i64>("nope").is_err());
/// # Ok::<(), nimue_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    columns: Columns,
    values: Vec<Value>,
}

impl Row {
    /// A row of `values` described by `columns` (same length).
    pub fn new(columns: Columns, values: Vec<Value>) -> Self {
        debug_assert_eq!(columns.len(), values.len());
        Row { columns, values }
    }

    /// Read a cell, converting it to `T`.
    ///
    /// Errors: an unknown column is a `ProgrammingError`; a value that does not convert is a
    /// `DataError`. Never panics.
    pub fn get<T: FromValue>(&self, index: impl RowIndex) -> Result<T> {
        let i = index.index(self)?;
        T::from_value(&self.values[i]).map_err(|e| conversion_error(i, &self.columns, &e))
    }

    /// Read a cell by column name (the same as `get` with a `&str`).
    pub fn get_by_name<T: FromValue>(&self, name: &str) -> Result<T> {
        self.get(name)
    }

    /// The raw value at `index`, when there is one.
    pub fn value(&self, index: usize) -> Option<&Value> {
        self.values.get(index)
    }

    /// All values, in column order.
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// The values, consuming the row.
    pub fn into_values(self) -> Vec<Value> {
        self.values
    }

    /// The column descriptions.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the row has no columns.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

impl Index<usize> for Row {
    type Output = Value;

    /// The raw value at `index`; panics when out of range, like a slice.
    fn index(&self, index: usize) -> &Value {
        &self.values[index]
    }
}

/// The `DataError` of cell `i` that failed to convert with `e`, naming the column.
pub(crate) fn conversion_error(i: usize, columns: &[Column], e: &Error) -> Error {
    Error::data(format!(
        "column {i} ({:?}): {}",
        columns[i].name,
        e.as_database().map_or("conversion failed", |d| d.message())
    ))
}

/// A way to name a column: its position (`usize`) or its name (`&str`).
pub trait RowIndex {
    /// The position of the column among `columns`, or a `ProgrammingError`.
    fn position(&self, columns: &[Column]) -> Result<usize>;

    /// The position of the column in `row`, or a `ProgrammingError`.
    fn index(&self, row: &Row) -> Result<usize> {
        self.position(row.columns())
    }
}

impl RowIndex for usize {
    fn position(&self, columns: &[Column]) -> Result<usize> {
        if *self < columns.len() {
            Ok(*self)
        } else {
            Err(Error::programming(format!(
                "column index {self} out of range for a row of {} columns",
                columns.len()
            )))
        }
    }
}

impl RowIndex for &str {
    /// Exact match first, then ASCII case-insensitive (SQL folds unquoted names).
    fn position(&self, cols: &[Column]) -> Result<usize> {
        cols.iter()
            .position(|c| c.name == *self)
            .or_else(|| cols.iter().position(|c| c.name.eq_ignore_ascii_case(self)))
            .ok_or_else(|| Error::programming(format!("no column named {self:?} in the row")))
    }
}
