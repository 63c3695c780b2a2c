//! Values that travel between Rust and the database: parameters in, row cells out.
//!
//! [`Value`] holds PEP 249's types. Rust types convert into it with `From` (for parameters,
//! usually through [`params!`](crate::params)) and out of it with [`FromValue`] (for
//! [`Row::get`](crate::Row::get)). `Option<T>` stands for a nullable value both ways.
//!
//! ```
//! use nimue_core::{FromValue, Value};
//! let v = Value::from(42);
//! assert_eq!(i64::from_value(&v).unwrap(), 42);
//! assert_eq!(Option::<String>::from_value(&Value::Null).unwrap(), None);
//! assert!(i8::from_value(&Value::from(1000)).is_err()); // out of range: a DataError
//! ```

use crate::error::Result;
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use rust_decimal::Decimal;
use std::fmt;

mod from_value;
mod interop;
mod to_value;

pub use from_value::FromValue;
pub use to_value::ToValue;

/// One SQL value, with PEP 249's types.
///
/// Dates and times are `chrono`'s naive types (no time zone); `Decimal` is
/// `rust_decimal::Decimal` (28 significant digits: a wider database `NUMERIC` is a
/// [`DataError`](crate::ErrorKind::Data) when read).
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub enum Value {
    /// SQL `NULL` (PEP 249 `None`).
    #[default]
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer of any width up to 64 bits.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// An exact decimal number (`NUMERIC`, `DECIMAL`).
    Decimal(Decimal),
    /// Text (`CHAR`, `VARCHAR`, `TEXT`): always valid UTF-8.
    Text(String),
    /// Bytes (`BLOB`, `BYTEA`, `VARBINARY`): PEP 249's `Binary`.
    Bytes(Vec<u8>),
    /// A calendar date: PEP 249's `Date`.
    Date(NaiveDate),
    /// A time of day: PEP 249's `Time`.
    Time(NaiveTime),
    /// A date and time without time zone: PEP 249's `Timestamp`.
    Timestamp(NaiveDateTime),
}

impl Value {
    /// Whether this is SQL `NULL`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The PEP 249 type object this value belongs to; `None` for `NULL`.
    pub fn type_code(&self) -> Option<TypeCode> {
        Some(match self {
            Value::Null => return None,
            Value::Bool(_) | Value::Int(_) | Value::Float(_) | Value::Decimal(_) => {
                TypeCode::Number
            }
            Value::Text(_) => TypeCode::String,
            Value::Bytes(_) => TypeCode::Binary,
            Value::Date(_) | Value::Time(_) | Value::Timestamp(_) => TypeCode::Datetime,
        })
    }

    /// A short name of the variant, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Bool(_) => "Bool",
            Value::Int(_) => "Int",
            Value::Float(_) => "Float",
            Value::Decimal(_) => "Decimal",
            Value::Text(_) => "Text",
            Value::Bytes(_) => "Bytes",
            Value::Date(_) => "Date",
            Value::Time(_) => "Time",
            Value::Timestamp(_) => "Timestamp",
        }
    }
}

impl fmt::Display for Value {
    /// SQL-ish text: `NULL`, numbers and dates as ISO text, text as itself, bytes as hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Decimal(d) => write!(f, "{d}"),
            Value::Text(s) => f.write_str(s),
            Value::Bytes(b) => {
                f.write_str("x'")?;
                b.iter().try_for_each(|byte| write!(f, "{byte:02x}"))?;
                f.write_str("'")
            }
            Value::Date(d) => write!(f, "{}", d.format(DATE_FORMAT)),
            Value::Time(t) => write!(f, "{}", t.format(TIME_FORMAT)),
            Value::Timestamp(ts) => write!(f, "{}", ts.format(TIMESTAMP_FORMAT)),
        }
    }
}

/// ISO 8601 date format used when dates travel as text.
pub const DATE_FORMAT: &str = "%Y-%m-%d";
/// ISO 8601 time format (fraction only when non-zero) used when times travel as text.
pub const TIME_FORMAT: &str = "%H:%M:%S%.f";
/// ISO 8601 timestamp format (space separated, as SQL writes it) used when timestamps
/// travel as text.
pub const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.f";

/// PEP 249's type objects, used as `type_code` in [`Column`](crate::Column) descriptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TypeCode {
    /// `STRING`: character columns.
    String,
    /// `BINARY`: long binary columns (BLOB, BYTEA, RAW).
    Binary,
    /// `NUMBER`: numeric columns (integers, floats, decimals, booleans).
    Number,
    /// `DATETIME`: date and time columns.
    Datetime,
    /// `ROWID`: the row id column.
    RowId,
}

macro_rules! value_from {
    ($($t:ty => |$v:ident| $e:expr),* $(,)?) => {$(
        impl From<$t> for Value {
            fn from($v: $t) -> Self {
                $e
            }
        }
    )*};
}

value_from! {
    bool => |v| Value::Bool(v),
    i8 => |v| Value::Int(v.into()),
    i16 => |v| Value::Int(v.into()),
    i32 => |v| Value::Int(v.into()),
    i64 => |v| Value::Int(v),
    u8 => |v| Value::Int(v.into()),
    u16 => |v| Value::Int(v.into()),
    u32 => |v| Value::Int(v.into()),
    // Above i64::MAX: an exact decimal (an integer column of the database then refuses it
    // with a DataError, an unsigned one takes it), never a wrapped negative number.
    u64 => |v| i64::try_from(v).map_or_else(|_| Value::Decimal(Decimal::from(v)), Value::Int),
    usize => |v| i64::try_from(v).map_or_else(|_| Value::Decimal(Decimal::from(v)), Value::Int),
    isize => |v| i64::try_from(v).map_or_else(|_| Value::Decimal(Decimal::from(v)), Value::Int),
    f32 => |v| Value::Float(v.into()),
    f64 => |v| Value::Float(v),
    Decimal => |v| Value::Decimal(v),
    String => |v| Value::Text(v),
    &str => |v| Value::Text(v.to_owned()),
    &String => |v| Value::Text(v.clone()),
    Vec<u8> => |v| Value::Bytes(v),
    &[u8] => |v| Value::Bytes(v.to_vec()),
    NaiveDate => |v| Value::Date(v),
    NaiveTime => |v| Value::Time(v),
    NaiveDateTime => |v| Value::Timestamp(v),
    &Value => |v| v.clone(),
}

impl<const N: usize> From<&[u8; N]> for Value {
    fn from(v: &[u8; N]) -> Self {
        Value::Bytes(v.to_vec())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// Build a parameter array for [`Cursor::execute`](crate::Cursor::execute) from Rust values
/// of any [`ToValue`] types, owned or borrowed (an owned `String` is moved, not copied).
///
/// ```
/// use nimue_core::{params, Value};
/// let name = String::from("two");
/// let p = params![1, &name, 3.0, None::<i64>, &4_i64];
/// assert_eq!(p[1], Value::Text("two".into()));
/// assert_eq!(p[3], Value::Null);
/// assert_eq!(p[4], Value::Int(4));
/// let none: [Value; 0] = params![];
/// assert!(none.is_empty());
/// ```
#[macro_export]
macro_rules! params {
    () => { [] as [$crate::Value; 0] };
    ($($p:expr),+ $(,)?) => { [$($crate::value::ToValue::into_value($p)),+] };
}

/// One cell of a row, as the driver holds it.
#[derive(Debug, Clone, PartialEq)]
pub enum CellRef<'a> {
    /// Text, borrowed from the driver's row.
    Text(&'a str),
    /// Bytes, borrowed from the driver's row.
    Bytes(&'a [u8]),
    /// Any other value (`NULL`, numbers, dates, ...), as the adapter reads it.
    Value(Value),
}

impl CellRef<'_> {
    /// The cell as an owned [`Value`].
    pub fn into_value(self) -> Value {
        match self {
            CellRef::Text(s) => Value::Text(s.to_owned()),
            CellRef::Bytes(b) => Value::Bytes(b.to_vec()),
            CellRef::Value(v) => v,
        }
    }

    /// The cell of a [`Value`] (text and bytes borrowed from it).
    pub fn of(value: &Value) -> CellRef<'_> {
        match value {
            Value::Text(s) => CellRef::Text(s),
            Value::Bytes(b) => CellRef::Bytes(b),
            v => CellRef::Value(v.clone()),
        }
    }
}

/// A row as the driver holds it: what an adapter implements for its driver's row type to
/// serve [`RowStream::next_raw`](crate::RowStream::next_raw).
pub trait RawRow {
    /// Cell `i` (in range: the caller checks it against the columns). A value the adapter
    /// cannot convert is a `DataError` or `NotSupportedError`, as in its `next_row`.
    fn cell(&self, i: usize) -> Result<CellRef<'_>>;

    /// Cell `i` when it is text as it stands, else `None` (then [`cell`](Self::cell) says what
    /// it is). A shortcut for `String` reads: a small return value, no `Result` to unpack.
    /// The default is always `None`.
    fn text(&self, i: usize) -> Option<&str> {
        let _ = i;
        None
    }

    /// Cell `i` when it is an integer as it stands, else `None`; as [`text`](Self::text).
    fn int(&self, i: usize) -> Option<i64> {
        let _ = i;
        None
    }
}
