//! Values between nimue and ODBC's C and SQL types.
//!
//! Parameters are bound with the C type that holds the value exactly and the SQL type that
//! names it (see [`to_param`]); the driver converts to the column's type. Columns are read by
//! the SQL type the driver reports ([`Kind::of`]): numbers, dates and timestamps through their
//! fixed-size C structs, text as UTF-16 (`SQL_C_WCHAR`, so the driver's narrow encoding never
//! matters), decimals and times as text parsed here (ODBC's `SQL_TIME_STRUCT` has no
//! fractional seconds, and `SQL_NUMERIC_STRUCT` needs per-driver descriptor set-up).

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use nimue_core::value::TIME_FORMAT;
use nimue_core::{Error, Result, TypeCode, Value};
use odbc_api::buffers::BufferDesc;
use odbc_api::parameter::{InputParameter, VarBinaryBox, VarCharBox, VarWCharBox, WithDataType};
use odbc_api::sys::{Date, Timestamp};
use odbc_api::{Bit, DataType};
use rust_decimal::Decimal;
use std::str::FromStr;

/// Longest character column (in characters) read through a bound buffer; longer ones are read
/// value by value with `SQLGetData`.
pub(crate) const MAX_BOUND_CHARS: usize = 4000;
/// Longest binary column (in bytes) read through a bound buffer.
pub(crate) const MAX_BOUND_BYTES: usize = 8000;
/// Fewest characters reserved for a decimal read as text: any value `rust_decimal` can hold
/// written without trailing zeros (29 digits, sign, point, a leading zero) fits. A column of
/// a larger precision gets room for all of its digits (`NUMERIC(57, 28)` writes
/// `Decimal::MAX` with 28 zeros after the point).
const DECIMAL_TEXT_CHARS: usize = 48;
/// Characters reserved for a time of day read as text (`HH:MM:SS.fffffffff` and then some).
const TIME_TEXT_CHARS: usize = 32;

/// How a column's values are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `SQL_BIT` through `SQL_C_BIT`.
    Bool,
    /// Integer types through `SQL_C_SBIGINT`.
    Int,
    /// Floating-point types through `SQL_C_DOUBLE`.
    Float,
    /// `DECIMAL`/`NUMERIC` as text, parsed exactly.
    Decimal,
    /// Character data (and any type without a better mapping) as UTF-16.
    Text,
    /// Binary data through `SQL_C_BINARY`.
    Bytes,
    /// `SQL_TYPE_DATE` through `SQL_C_TYPE_DATE`.
    Date,
    /// `SQL_TYPE_TIME` as text (the C struct drops fractional seconds).
    Time,
    /// `SQL_TYPE_TIMESTAMP` through `SQL_C_TYPE_TIMESTAMP`.
    Timestamp,
}

fn is_character(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Char { .. }
            | DataType::Varchar { .. }
            | DataType::LongVarchar { .. }
            | DataType::WChar { .. }
            | DataType::WVarchar { .. }
            | DataType::WLongVarchar { .. }
    )
}

/// Whether a database type name (`SQL_DESC_TYPE_NAME`) names an exact decimal type.
fn is_decimal_type_name(type_name: &str) -> bool {
    let name = type_name.trim().to_ascii_lowercase();
    ["decimal", "numeric", "dec("]
        .iter()
        .any(|prefix| name.starts_with(prefix))
}

impl Kind {
    /// How to read a column the driver describes as `data_type`, of the database type
    /// `type_name`. A character column whose type name is `DECIMAL`/`NUMERIC` reads as a
    /// decimal: the SQLite driver reports such columns as `VARCHAR`.
    pub(crate) fn of(data_type: &DataType, type_name: Option<&str>) -> Kind {
        match data_type {
            DataType::Bit => Kind::Bool,
            DataType::TinyInt | DataType::SmallInt | DataType::Integer | DataType::BigInt => {
                Kind::Int
            }
            DataType::Real | DataType::Float { .. } | DataType::Double => Kind::Float,
            DataType::Numeric { .. } | DataType::Decimal { .. } => Kind::Decimal,
            DataType::Binary { .. }
            | DataType::Varbinary { .. }
            | DataType::LongVarbinary { .. } => Kind::Bytes,
            DataType::Date => Kind::Date,
            DataType::Time { .. } => Kind::Time,
            DataType::Timestamp { .. } => Kind::Timestamp,
            t if is_character(t) && type_name.is_some_and(is_decimal_type_name) => Kind::Decimal,
            // Character data, and anything else (GUIDs, intervals, driver-specific types) as
            // its text form.
            _ => Kind::Text,
        }
    }

    /// The bound-buffer description for a column of this kind, or `None` when its values
    /// are read one by one (long or unbounded data, or sizes the driver may not enforce).
    pub(crate) fn buffer_desc(self, data_type: &DataType, trust_sizes: bool) -> Option<BufferDesc> {
        let bounded = |length: Option<std::num::NonZeroUsize>, max: usize| {
            length.map(|n| n.get()).filter(|n| trust_sizes && *n <= max)
        };
        Some(match self {
            Kind::Bool => BufferDesc::Bit { nullable: true },
            Kind::Int => BufferDesc::I64 { nullable: true },
            Kind::Float => BufferDesc::F64 { nullable: true },
            Kind::Date => BufferDesc::Date { nullable: true },
            Kind::Timestamp => BufferDesc::Timestamp { nullable: true },
            Kind::Time => BufferDesc::WText {
                max_str_len: TIME_TEXT_CHARS,
            },
            Kind::Decimal if !is_character(data_type) => {
                let precision = match data_type {
                    DataType::Numeric { precision, .. } | DataType::Decimal { precision, .. } => {
                        *precision
                    }
                    _ => 0,
                };
                // Digits, sign, point and a leading zero. A driver whose sizes are not limits
                // (or a value that outgrew them) is read value by value.
                let chars = precision.saturating_add(3).max(DECIMAL_TEXT_CHARS);
                if !trust_sizes || chars > MAX_BOUND_CHARS {
                    return None;
                }
                BufferDesc::WText { max_str_len: chars }
            }
            Kind::Decimal => return None,
            Kind::Text => match data_type {
                DataType::Char { length }
                | DataType::Varchar { length }
                | DataType::WChar { length }
                | DataType::WVarchar { length } => BufferDesc::WText {
                    // A character may take two UTF-16 units.
                    max_str_len: 2 * bounded(*length, MAX_BOUND_CHARS)?,
                },
                _ => return None,
            },
            Kind::Bytes => match data_type {
                DataType::Binary { length } | DataType::Varbinary { length } => {
                    BufferDesc::Binary {
                        max_bytes: bounded(*length, MAX_BOUND_BYTES)?,
                    }
                }
                _ => return None,
            },
        })
    }
}

/// The PEP 249 type object of an ODBC SQL type.
pub(crate) fn type_code(data_type: &DataType, kind: Kind) -> Option<TypeCode> {
    use odbc_api::sys::SqlDataType;
    if let DataType::Other { data_type, .. } = data_type {
        return (*data_type == SqlDataType::EXT_GUID).then_some(TypeCode::String);
    }
    if matches!(data_type, DataType::Unknown) {
        return None;
    }
    Some(match kind {
        Kind::Bool | Kind::Int | Kind::Float | Kind::Decimal => TypeCode::Number,
        Kind::Text => TypeCode::String,
        Kind::Bytes => TypeCode::Binary,
        Kind::Date | Kind::Time | Kind::Timestamp => TypeCode::Datetime,
    })
}

/// The ODBC name of an SQL type, for `description` when the driver has no type name.
pub(crate) fn odbc_type_name(data_type: &DataType) -> String {
    match data_type {
        DataType::Unknown => "UNKNOWN".into(),
        DataType::Char { .. } => "CHAR".into(),
        DataType::WChar { .. } => "WCHAR".into(),
        DataType::Varchar { .. } => "VARCHAR".into(),
        DataType::WVarchar { .. } => "WVARCHAR".into(),
        DataType::LongVarchar { .. } => "LONGVARCHAR".into(),
        DataType::WLongVarchar { .. } => "WLONGVARCHAR".into(),
        DataType::Binary { .. } => "BINARY".into(),
        DataType::Varbinary { .. } => "VARBINARY".into(),
        DataType::LongVarbinary { .. } => "LONGVARBINARY".into(),
        DataType::Numeric { .. } => "NUMERIC".into(),
        DataType::Decimal { .. } => "DECIMAL".into(),
        DataType::Integer => "INTEGER".into(),
        DataType::SmallInt => "SMALLINT".into(),
        DataType::TinyInt => "TINYINT".into(),
        DataType::BigInt => "BIGINT".into(),
        DataType::Float { .. } => "FLOAT".into(),
        DataType::Real => "REAL".into(),
        DataType::Double => "DOUBLE".into(),
        DataType::Bit => "BIT".into(),
        DataType::Date => "DATE".into(),
        DataType::Time { .. } => "TIME".into(),
        DataType::Timestamp { .. } => "TIMESTAMP".into(),
        DataType::Other { data_type, .. } => format!("SQL type {}", data_type.0),
    }
}

/// Fractional-second digits needed for `nanos` (0, 3, 6 or 9).
fn fraction_digits(nanos: u32) -> i16 {
    match nanos {
        0 => 0,
        n if n % 1_000_000 == 0 => 3,
        n if n % 1_000 == 0 => 6,
        _ => 9,
    }
}

/// Precision and scale of a decimal, as its SQL type.
fn decimal_type(d: &Decimal) -> DataType {
    let digits = d.mantissa().unsigned_abs().to_string().len();
    let scale = d.scale() as usize;
    DataType::Decimal {
        precision: digits.max(scale).max(1),
        scale: scale as i16,
    }
}

/// A value as an input parameter: the C type that holds it exactly, with the SQL type that
/// names it.
///
/// | `Value` | C type | SQL type |
/// |---|---|---|
/// | `Null` | `SQL_C_WCHAR` (NULL) | `SQL_WVARCHAR` |
/// | `Bool` | `SQL_C_BIT` | `SQL_BIT` |
/// | `Int` | `SQL_C_SBIGINT` | `SQL_BIGINT` |
/// | `Float` | `SQL_C_DOUBLE` | `SQL_DOUBLE` |
/// | `Decimal` | `SQL_C_CHAR` (its exact text) | `SQL_DECIMAL(p, s)` |
/// | `Text` | `SQL_C_WCHAR` (UTF-16) | `SQL_WVARCHAR` |
/// | `Bytes` | `SQL_C_BINARY` | `SQL_VARBINARY` |
/// | `Date` | `SQL_C_TYPE_DATE` | `SQL_TYPE_DATE` |
/// | `Time` | `SQL_C_CHAR` (`HH:MM:SS.ffffff`) | `SQL_TYPE_TIME(p)` |
/// | `Timestamp` | `SQL_C_CHAR` (`YYYY-MM-DD HH:MM:SS.ffffff`) | `SQL_TYPE_TIMESTAMP(p)` |
///
/// Times and timestamps travel as ISO text because the SQLite driver formats
/// `SQL_C_TYPE_TIMESTAMP` with milliseconds only and `SQL_TIME_STRUCT` has no fraction.
pub(crate) fn to_param(value: &Value) -> Box<dyn InputParameter> {
    match value {
        Value::Null => Box::new(VarWCharBox::null()),
        Value::Bool(b) => Box::new(Bit::from_bool(*b)),
        Value::Int(i) => Box::new(*i),
        Value::Float(x) => Box::new(*x),
        Value::Decimal(d) => Box::new(WithDataType::new(
            VarCharBox::from_string(d.to_string()),
            decimal_type(d),
        )),
        Value::Text(s) => Box::new(VarWCharBox::from_str_slice(s)),
        Value::Bytes(b) => Box::new(VarBinaryBox::from_vec(b.clone())),
        Value::Date(d) => Box::new(Date {
            year: d.year() as i16,
            month: d.month() as u16,
            day: d.day() as u16,
        }),
        Value::Time(t) => {
            let precision = fraction_digits(t.nanosecond());
            Box::new(WithDataType::new(
                VarCharBox::from_string(t.format(TIME_FORMAT).to_string()),
                DataType::Time { precision },
            ))
        }
        Value::Timestamp(ts) => {
            let precision = fraction_digits(ts.nanosecond());
            Box::new(WithDataType::new(
                VarCharBox::from_string(ts.format("%Y-%m-%d %H:%M:%S%.f").to_string()),
                DataType::Timestamp { precision },
            ))
        }
        // `Value` is non-exhaustive; a future variant travels as its text form.
        other => Box::new(VarWCharBox::from_str_slice(&other.to_string())),
    }
}

/// Text from UTF-16 code units; unpaired surrogates are a `DataError`.
pub(crate) fn utf16_text(units: &[u16]) -> Result<String> {
    String::from_utf16(units)
        .map_err(|_| Error::data("the driver returned text that is not valid UTF-16"))
}

/// A value from the text the driver produced for a column of `kind` (text, decimals, times).
pub(crate) fn from_text(kind: Kind, text: String) -> Result<Value> {
    Ok(match kind {
        Kind::Decimal => Value::Decimal(parse_decimal(&text)?),
        Kind::Time => Value::Time(parse_time(&text)?),
        _ => Value::Text(text),
    })
}

fn parse_decimal(text: &str) -> Result<Decimal> {
    let s = text.trim();
    Decimal::from_str(s)
        .or_else(|_| Decimal::from_scientific(s))
        .map_err(|e| Error::data(format!("cannot read {s:?} as a Decimal: {e}")))
}

fn parse_time(text: &str) -> Result<NaiveTime> {
    let s = text.trim();
    NaiveTime::parse_from_str(s, TIME_FORMAT)
        .or_else(|_| NaiveTime::parse_from_str(s, "%H:%M"))
        .map_err(|_| Error::data(format!("cannot read {s:?} as a time of day")))
}

/// A date from ODBC's date struct.
pub(crate) fn from_date(d: &Date) -> Result<Value> {
    NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day))
        .map(Value::Date)
        .ok_or_else(|| Error::data(format!("the driver returned an invalid date: {d:?}")))
}

/// A timestamp from ODBC's timestamp struct.
pub(crate) fn from_timestamp(ts: &Timestamp) -> Result<Value> {
    NaiveDate::from_ymd_opt(i32::from(ts.year), u32::from(ts.month), u32::from(ts.day))
        .and_then(|d| {
            d.and_hms_nano_opt(
                u32::from(ts.hour),
                u32::from(ts.minute),
                u32::from(ts.second),
                ts.fraction,
            )
        })
        .map(|t: NaiveDateTime| Value::Timestamp(t))
        .ok_or_else(|| Error::data(format!("the driver returned an invalid timestamp: {ts:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_the_sql_type() {
        assert_eq!(Kind::of(&DataType::BigInt, None), Kind::Int);
        assert_eq!(Kind::of(&DataType::Bit, None), Kind::Bool);
        assert_eq!(
            Kind::of(
                &DataType::Numeric {
                    precision: 20,
                    scale: 6
                },
                None
            ),
            Kind::Decimal
        );
        let varchar = DataType::Varchar {
            length: std::num::NonZeroUsize::new(20),
        };
        assert_eq!(Kind::of(&varchar, Some("varchar(20)")), Kind::Text);
        // The SQLite driver reports DECIMAL columns as VARCHAR.
        assert_eq!(Kind::of(&varchar, Some("DECIMAL(20, 6)")), Kind::Decimal);
        assert_eq!(Kind::of(&DataType::Time { precision: 6 }, None), Kind::Time);
        assert_eq!(Kind::of(&DataType::Unknown, None), Kind::Text);
    }

    #[test]
    fn only_trusted_bounded_columns_are_bound() {
        let short = DataType::Varchar {
            length: std::num::NonZeroUsize::new(10),
        };
        let long = DataType::LongVarchar {
            length: std::num::NonZeroUsize::new(10),
        };
        assert_eq!(
            Kind::Text.buffer_desc(&short, true),
            Some(BufferDesc::WText { max_str_len: 20 })
        );
        assert_eq!(Kind::Text.buffer_desc(&short, false), None);
        assert_eq!(Kind::Text.buffer_desc(&long, true), None);
        assert_eq!(
            Kind::Int.buffer_desc(&DataType::BigInt, false),
            Some(BufferDesc::I64 { nullable: true })
        );
    }

    #[test]
    fn decimal_buffers_hold_every_digit_of_the_column() {
        let numeric = |precision| DataType::Numeric {
            precision,
            scale: 2,
        };
        assert_eq!(
            Kind::Decimal.buffer_desc(&numeric(10), true),
            Some(BufferDesc::WText { max_str_len: 48 })
        );
        // NUMERIC(57, 28): `-` 29 digits `.` 28 digits.
        assert_eq!(
            Kind::Decimal.buffer_desc(&numeric(57), true),
            Some(BufferDesc::WText { max_str_len: 60 })
        );
        assert_eq!(Kind::Decimal.buffer_desc(&numeric(4000), true), None);
        assert_eq!(Kind::Decimal.buffer_desc(&numeric(10), false), None);
    }

    #[test]
    fn decimals_and_times_parse_from_text() {
        assert_eq!(
            from_text(Kind::Decimal, "-12345.678900".into()).unwrap(),
            Value::Decimal(Decimal::from_str("-12345.6789").unwrap())
        );
        assert!(from_text(Kind::Decimal, "1e400".into()).is_err());
        assert_eq!(
            from_text(Kind::Time, "23:59:58.123456".into()).unwrap(),
            Value::Time(NaiveTime::from_hms_micro_opt(23, 59, 58, 123_456).unwrap())
        );
        assert_eq!(
            from_text(Kind::Text, "x".into()).unwrap(),
            Value::Text("x".into())
        );
    }

    #[test]
    fn decimal_parameters_carry_precision_and_scale() {
        let d = Decimal::from_str("-0.01").unwrap();
        assert_eq!(
            decimal_type(&d),
            DataType::Decimal {
                precision: 2,
                scale: 2
            }
        );
        assert_eq!(
            decimal_type(&Decimal::ZERO),
            DataType::Decimal {
                precision: 1,
                scale: 0
            }
        );
    }

    #[test]
    fn struct_conversions_check_ranges() {
        let bad = Date {
            year: 2023,
            month: 2,
            day: 30,
        };
        assert!(from_date(&bad).is_err());
        let ts = Timestamp {
            year: 2024,
            month: 2,
            day: 29,
            hour: 23,
            minute: 59,
            second: 58,
            fraction: 123_456_000,
        };
        assert_eq!(
            from_timestamp(&ts).unwrap().to_string(),
            "2024-02-29 23:59:58.123456"
        );
    }
}
