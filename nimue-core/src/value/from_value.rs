//! [`FromValue`]: a row cell (a [`Value`], or a driver's cell) to a Rust type.

use super::{CellRef, RawRow, Value, DATE_FORMAT, TIMESTAMP_FORMAT, TIME_FORMAT};
use crate::error::{Error, Result};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use std::str::FromStr;

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

/// A `DataError` naming the value's type and the one asked for.
pub(super) fn mismatch<T>(value: &Value, target: &str) -> Result<T> {
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
int_from_value!(i8, i16, i32, u8, u16, u32, isize);

/// Unsigned types that reach past `i64::MAX`: such values come as whole decimals (as they go
/// to the database, see `Value::from(u64)`), and are read back exactly.
macro_rules! wide_unsigned_from_value {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(value: &Value) -> Result<Self> {
                let wide = match value {
                    Value::Decimal(d) if d.fract().is_zero() => d.to_u64(),
                    _ => {
                        let wide = i64::from_value(value).or_else(|_| mismatch(value, stringify!($t)))?;
                        u64::try_from(wide).ok()
                    }
                };
                wide.and_then(|w| <$t>::try_from(w).ok())
                    .map_or_else(|| out_of_range(value, stringify!($t)), Ok)
            }
        }
    )*};
}
wide_unsigned_from_value!(u64, usize);

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
    /// Rounded to the nearest `f32`; a finite value beyond `f32`'s range, or one so small it
    /// would become zero, is out of range (as a `real` column's server says) rather than
    /// infinity or 0.
    fn from_value(value: &Value) -> Result<Self> {
        let x = f64::from_value(value)?;
        let narrow = x as f32;
        if (narrow.is_infinite() && x.is_finite()) || (narrow == 0.0 && x != 0.0) {
            return out_of_range(value, "f32");
        }
        Ok(narrow)
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
    use chrono::NaiveDate;

    #[test]
    fn unsigned_values_past_i64_read_back_exactly() {
        for n in [u64::MAX, 1 << 63, 7] {
            assert_eq!(u64::from_value(&Value::from(n)).unwrap(), n);
        }
        assert_eq!(
            usize::from_value(&Value::from(usize::MAX)).unwrap(),
            usize::MAX
        );
        let past =
            Value::Decimal(rust_decimal::Decimal::from(u64::MAX) + rust_decimal::Decimal::ONE);
        assert_eq!(
            u64::from_value(&past).unwrap_err().kind(),
            crate::ErrorKind::Data
        );
        let half = Value::Decimal(rust_decimal::Decimal::new(15, 1));
        assert!(u64::from_value(&half).is_err());
        assert!(u64::from_value(&Value::Int(-1)).is_err());
    }

    #[test]
    fn f32_refuses_what_it_cannot_hold() {
        for x in [1e300, 3.5e38, -1e39, 1e-300] {
            let e = f32::from_value(&Value::Float(x)).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Data, "{x}");
        }
        assert_eq!(f32::from_value(&Value::Float(0.5)).unwrap(), 0.5);
        assert_eq!(f32::from_value(&Value::Float(0.0)).unwrap(), 0.0);
        assert!(f32::from_value(&Value::Float(f64::INFINITY))
            .unwrap()
            .is_infinite());
        assert!(f32::from_value(&Value::Float(f64::NAN)).unwrap().is_nan());
    }

    #[test]
    fn unsigned_64_bit_parameters_never_wrap() {
        let big = Value::from(u64::MAX);
        assert_eq!(big, Value::Decimal(rust_decimal::Decimal::from(u64::MAX)));
        assert_eq!(Value::from(7u64), Value::Int(7));
        assert_eq!(Value::from(7usize), Value::Int(7));
        assert_eq!(
            i64::from_value(&big).unwrap_err().kind(),
            crate::ErrorKind::Data
        );
        let p = crate::params![5u64, 6usize, 7u32];
        assert_eq!(p[0], Value::Int(5));
    }

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
