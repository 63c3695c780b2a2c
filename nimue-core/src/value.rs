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

use crate::error::{Error, Result};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use std::fmt;
use std::str::FromStr;

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

/// Build a parameter array for [`Cursor::execute`](crate::Cursor::execute) from Rust values.
///
/// ```
/// use nimue_core::{params, Value};
/// let p = params![1, "two", 3.0, None::<i64>];
/// assert_eq!(p[1], Value::Text("two".into()));
/// assert_eq!(p[3], Value::Null);
/// let none: [Value; 0] = params![];
/// assert!(none.is_empty());
/// ```
#[macro_export]
macro_rules! params {
    () => { [] as [$crate::Value; 0] };
    ($($p:expr),+ $(,)?) => { [$($crate::Value::from($p)),+] };
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

/// Conversion from a [`Value`] (a row cell) to a Rust type, as used by
/// [`Row::get`](crate::Row::get).
///
/// Conversions are strict about meaning and lenient about representation: an integer column
/// reads as any integer type it fits in (else a `DataError`), a date stored as ISO text (as
/// SQLite does) reads as a `NaiveDate`, but text never silently becomes a number.
pub trait FromValue: Sized {
    /// Convert, or fail with a [`DataError`](crate::ErrorKind::Data) that names both types.
    fn from_value(value: &Value) -> Result<Self>;

    /// Convert a cell read where the driver holds it ([`RowView::get`](crate::RowView::get)),
    /// with the same result as [`from_value`](Self::from_value) of its value. The default makes
    /// the value (copying text and bytes) and converts that; `String`, `Vec<u8>` and
    /// `Option` copy the driver's text or bytes once, straight into the result.
    fn from_cell(cell: CellRef<'_>) -> Result<Self> {
        Self::from_value(&cell.into_value())
    }

    /// Convert cell `i` of a driver's row: [`from_cell`](Self::from_cell) of it, after the
    /// row's shortcuts ([`RawRow::text`], [`RawRow::int`]) for the types that have one.
    fn from_raw(row: &dyn RawRow, i: usize) -> Result<Self> {
        Self::from_cell(row.cell(i)?)
    }
}

fn mismatch<T>(value: &Value, target: &str) -> Result<T> {
    Err(Error::data(format!(
        "cannot read a {} value as {target}",
        value.type_name()
    )))
}

fn out_of_range<T>(value: &Value, target: &str) -> Result<T> {
    Err(Error::data(format!(
        "value {value} is out of range for {target}"
    )))
}

impl FromValue for Value {
    fn from_value(value: &Value) -> Result<Self> {
        Ok(value.clone())
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }

    fn from_cell(cell: CellRef<'_>) -> Result<Self> {
        match cell {
            CellRef::Value(Value::Null) => Ok(None),
            cell => T::from_cell(cell).map(Some),
        }
    }

    /// A cell the row's shortcuts see as text or an integer is not `NULL`: `T`'s own read.
    fn from_raw(row: &dyn RawRow, i: usize) -> Result<Self> {
        if row.text(i).is_some() || row.int(i).is_some() {
            return T::from_raw(row, i).map(Some);
        }
        Self::from_cell(row.cell(i)?)
    }
}

impl FromValue for i64 {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Int(i) => Ok(*i),
            Value::Bool(b) => Ok(i64::from(*b)),
            Value::Decimal(d) if d.fract().is_zero() => match d.to_i64() {
                Some(i) => Ok(i),
                None => out_of_range(value, "i64"),
            },
            v => mismatch(v, "i64"),
        }
    }

    fn from_raw(row: &dyn RawRow, i: usize) -> Result<Self> {
        match row.int(i) {
            Some(n) => Ok(n),
            None => Self::from_cell(row.cell(i)?),
        }
    }
}

macro_rules! int_from_value {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(value: &Value) -> Result<Self> {
                let wide = i64::from_value(value).or_else(|_| mismatch(value, stringify!($t)))?;
                <$t>::try_from(wide).or_else(|_| out_of_range(value, stringify!($t)))
            }
        }
    )*};
}
int_from_value!(i8, i16, i32, u8, u16, u32, u64, usize, isize);

impl FromValue for f64 {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Float(x) => Ok(*x),
            // Integers and decimals widen to f64 (as PEP 249 drivers do); large ones round.
            Value::Int(i) => Ok(*i as f64),
            Value::Decimal(d) => d.to_f64().map_or_else(|| out_of_range(value, "f64"), Ok),
            v => mismatch(v, "f64"),
        }
    }
}

impl FromValue for f32 {
    fn from_value(value: &Value) -> Result<Self> {
        f64::from_value(value).map(|x| x as f32)
    }
}

impl FromValue for bool {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Bool(b) => Ok(*b),
            // Databases without a boolean type (SQLite, MySQL) store 0/1.
            Value::Int(0) => Ok(false),
            Value::Int(1) => Ok(true),
            Value::Int(_) => out_of_range(value, "bool"),
            v => mismatch(v, "bool"),
        }
    }
}

impl FromValue for Decimal {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Decimal(d) => Ok(*d),
            Value::Int(i) => Ok(Decimal::from(*i)),
            // The shortest text that round-trips the float, then exact decimal parsing.
            Value::Float(x) => {
                Decimal::from_str(&x.to_string()).or_else(|_| out_of_range(value, "Decimal"))
            }
            Value::Text(s) => Decimal::from_str(s.trim())
                .or_else(|_| Decimal::from_scientific(s.trim()))
                .or_else(|_| mismatch(value, "Decimal")),
            v => mismatch(v, "Decimal"),
        }
    }
}

impl FromValue for String {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Text(s) => Ok(s.clone()),
            v => mismatch(v, "String"),
        }
    }

    fn from_cell(cell: CellRef<'_>) -> Result<Self> {
        match cell {
            CellRef::Text(s) => Ok(s.to_owned()),
            cell => Self::from_value(&cell.into_value()),
        }
    }

    fn from_raw(row: &dyn RawRow, i: usize) -> Result<Self> {
        match row.text(i) {
            Some(s) => Ok(s.to_owned()),
            None => Self::from_cell(row.cell(i)?),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Bytes(b) => Ok(b.clone()),
            v => mismatch(v, "Vec<u8>"),
        }
    }
    fn from_cell(cell: CellRef<'_>) -> Result<Self> {
        match cell {
            CellRef::Bytes(b) => Ok(b.to_vec()),
            cell => Self::from_value(&cell.into_value()),
        }
    }
}

/// Parse ISO text with any of `formats`.
fn parse_text<T>(
    value: &Value,
    target: &str,
    formats: &[&str],
    parse: fn(&str, &str) -> chrono::ParseResult<T>,
) -> Result<T> {
    let Value::Text(s) = value else {
        return mismatch(value, target);
    };
    formats
        .iter()
        .find_map(|f| parse(s.trim(), f).ok())
        .map_or_else(
            || Err(Error::data(format!("cannot parse {s:?} as {target}"))),
            Ok,
        )
}

impl FromValue for NaiveDate {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Date(d) => Ok(*d),
            v => parse_text(v, "NaiveDate", &[DATE_FORMAT], NaiveDate::parse_from_str),
        }
    }
}

impl FromValue for NaiveTime {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Time(t) => Ok(*t),
            v => parse_text(v, "NaiveTime", &[TIME_FORMAT], NaiveTime::parse_from_str),
        }
    }
}

impl FromValue for NaiveDateTime {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Timestamp(ts) => Ok(*ts),
            Value::Date(d) => Ok(d.and_time(NaiveTime::MIN)),
            v => parse_text(
                v,
                "NaiveDateTime",
                &[TIMESTAMP_FORMAT, "%Y-%m-%dT%H:%M:%S%.f"],
                NaiveDateTime::parse_from_str,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_convert_within_range_only() {
        assert_eq!(i32::from_value(&Value::Int(7)).unwrap(), 7);
        assert_eq!(
            i8::from_value(&Value::Int(300)).unwrap_err().kind(),
            crate::ErrorKind::Data
        );
        assert!(u64::from_value(&Value::Int(-1)).is_err());
        assert!(i64::from_value(&Value::Text("5".into())).is_err());
    }

    #[test]
    fn dates_parse_from_iso_text() {
        let d = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        assert_eq!(
            NaiveDate::from_value(&Value::Text("2024-02-29".into())).unwrap(),
            d
        );
        let ts = d.and_hms_micro_opt(1, 2, 3, 456_000).unwrap();
        let text = Value::Timestamp(ts).to_string();
        assert_eq!(text, "2024-02-29 01:02:03.456");
        assert_eq!(NaiveDateTime::from_value(&Value::Text(text)).unwrap(), ts);
        assert!(NaiveDate::from_value(&Value::Text("yesterday".into())).is_err());
    }

    #[test]
    fn decimals_read_from_floats_and_text() {
        let d = Decimal::from_str("12345.6789").unwrap();
        assert_eq!(Decimal::from_value(&Value::Float(12345.6789)).unwrap(), d);
        assert_eq!(
            Decimal::from_value(&Value::Text("12345.6789".into())).unwrap(),
            d
        );
    }

    #[test]
    fn options_map_null() {
        assert_eq!(Option::<i64>::from_value(&Value::Null).unwrap(), None);
        assert_eq!(Value::from(None::<&str>), Value::Null);
        assert_eq!(Value::from(Some("x")), Value::Text("x".into()));
        assert!(i64::from_value(&Value::Null).is_err());
    }
}
