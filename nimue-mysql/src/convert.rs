//! Values between nimue and the MySQL protocol's values.
//!
//! Columns are read by their MySQL type: `TINYINT(1)`/`BOOLEAN` as `Bool` (as JDBC does),
//! integers as `Int` (an `UNSIGNED BIGINT` beyond `i64` as `Decimal`), `DECIMAL` as `Decimal`,
//! binary strings and BLOBs as `Bytes`, other strings as `Text`, `DATE` as `Date`, `TIME` as
//! `Time` (a negative or over-24-hour `TIME` is a `DataError`), `DATETIME`/`TIMESTAMP` as
//! `Timestamp`.

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use mysql::consts::ColumnType;
use mysql::Value as My;
use nimue_core::{CellRef, Error, Result, TypeCode, Value};
use rust_decimal::Decimal;
use std::str::FromStr;

/// The binary pseudo character set: BINARY, VARBINARY and BLOB columns.
const BINARY_CHARSET: u16 = 63;

/// A nimue value as a protocol parameter.
pub(crate) fn to_mysql(value: &Value) -> My {
    match value {
        Value::Null => My::NULL,
        Value::Bool(b) => My::Int(i64::from(*b)),
        Value::Int(i) => My::Int(*i),
        Value::Float(x) => My::Double(*x),
        Value::Decimal(d) => My::Bytes(d.to_string().into_bytes()),
        Value::Text(s) => My::Bytes(s.as_bytes().to_vec()),
        Value::Bytes(b) => My::Bytes(b.clone()),
        Value::Date(d) => My::Date(d.year() as u16, d.month() as u8, d.day() as u8, 0, 0, 0, 0),
        Value::Time(t) => My::Time(
            false,
            0,
            t.hour() as u8,
            t.minute() as u8,
            t.second() as u8,
            t.nanosecond() / 1000,
        ),
        Value::Timestamp(ts) => My::Date(
            ts.year() as u16,
            ts.month() as u8,
            ts.day() as u8,
            ts.hour() as u8,
            ts.minute() as u8,
            ts.second() as u8,
            ts.nanosecond() / 1000,
        ),
        // Value is non-exhaustive for future types; none exist yet.
        #[allow(unreachable_patterns)]
        other => My::Bytes(other.to_string().into_bytes()),
    }
}

fn is_binary(column: &mysql::Column) -> bool {
    column.character_set() == BINARY_CHARSET
}

/// The PEP 249 type object and the type's SQL name.
pub(crate) fn describe(column: &mysql::Column) -> (Option<TypeCode>, &'static str) {
    use ColumnType::*;
    let binary = is_binary(column);
    let text_or_binary = |text, bin| {
        if binary {
            (Some(TypeCode::Binary), bin)
        } else {
            (Some(TypeCode::String), text)
        }
    };
    match column.column_type() {
        MYSQL_TYPE_TINY => (Some(TypeCode::Number), "TINYINT"),
        MYSQL_TYPE_SHORT => (Some(TypeCode::Number), "SMALLINT"),
        MYSQL_TYPE_INT24 => (Some(TypeCode::Number), "MEDIUMINT"),
        MYSQL_TYPE_LONG => (Some(TypeCode::Number), "INT"),
        MYSQL_TYPE_LONGLONG => (Some(TypeCode::Number), "BIGINT"),
        MYSQL_TYPE_FLOAT => (Some(TypeCode::Number), "FLOAT"),
        MYSQL_TYPE_DOUBLE => (Some(TypeCode::Number), "DOUBLE"),
        MYSQL_TYPE_DECIMAL | MYSQL_TYPE_NEWDECIMAL => (Some(TypeCode::Number), "DECIMAL"),
        MYSQL_TYPE_YEAR => (Some(TypeCode::Number), "YEAR"),
        MYSQL_TYPE_BIT => (Some(TypeCode::Number), "BIT"),
        MYSQL_TYPE_DATE | MYSQL_TYPE_NEWDATE => (Some(TypeCode::Datetime), "DATE"),
        MYSQL_TYPE_TIME | MYSQL_TYPE_TIME2 => (Some(TypeCode::Datetime), "TIME"),
        MYSQL_TYPE_DATETIME | MYSQL_TYPE_DATETIME2 => (Some(TypeCode::Datetime), "DATETIME"),
        MYSQL_TYPE_TIMESTAMP | MYSQL_TYPE_TIMESTAMP2 => (Some(TypeCode::Datetime), "TIMESTAMP"),
        MYSQL_TYPE_VARCHAR | MYSQL_TYPE_VAR_STRING => text_or_binary("VARCHAR", "VARBINARY"),
        MYSQL_TYPE_STRING => text_or_binary("CHAR", "BINARY"),
        MYSQL_TYPE_TINY_BLOB | MYSQL_TYPE_MEDIUM_BLOB | MYSQL_TYPE_LONG_BLOB | MYSQL_TYPE_BLOB => {
            text_or_binary("TEXT", "BLOB")
        }
        MYSQL_TYPE_ENUM => (Some(TypeCode::String), "ENUM"),
        MYSQL_TYPE_SET => (Some(TypeCode::String), "SET"),
        MYSQL_TYPE_JSON => (Some(TypeCode::String), "JSON"),
        MYSQL_TYPE_GEOMETRY => (Some(TypeCode::Binary), "GEOMETRY"),
        _ => (None, "UNKNOWN"),
    }
}

/// Whether a column is `TINYINT(1)`, MySQL's `BOOLEAN`.
fn is_boolean(column: &mysql::Column) -> bool {
    column.column_type() == ColumnType::MYSQL_TYPE_TINY && column.column_length() == 1
}

/// Read one cell of `column`.
/// What the bytes of a column hold.
enum BytesKind {
    Decimal,
    Binary,
    Text,
}

fn bytes_kind(column: &mysql::Column) -> BytesKind {
    use ColumnType::*;
    match column.column_type() {
        MYSQL_TYPE_DECIMAL | MYSQL_TYPE_NEWDECIMAL => BytesKind::Decimal,
        _ if is_binary(column) => BytesKind::Binary,
        MYSQL_TYPE_BIT | MYSQL_TYPE_GEOMETRY => BytesKind::Binary,
        _ => BytesKind::Text,
    }
}

/// One cell read in place: text and bytes borrowed from the driver's row, anything else as
/// [`from_mysql`] reads it.
pub(crate) fn cell_of<'a>(value: &'a My, column: &mysql::Column) -> Result<CellRef<'a>> {
    match (value, bytes_kind(column)) {
        (My::Bytes(bytes), BytesKind::Binary) => Ok(CellRef::Bytes(bytes)),
        (My::Bytes(bytes), BytesKind::Text) => {
            std::str::from_utf8(bytes).map(CellRef::Text).map_err(|e| {
                let name = column.name_str();
                Error::data(format!("column {name:?}: text is not UTF-8: {e}"))
            })
        }
        (value, _) => from_mysql(value.clone(), column).map(CellRef::Value),
    }
}

pub(crate) fn from_mysql(value: My, column: &mysql::Column) -> Result<Value> {
    use ColumnType::*;
    let name = column.name_str();
    let bad = |what: String| Error::data(format!("column {name:?}: {what}"));
    Ok(match value {
        My::NULL => Value::Null,
        My::Int(i) if is_boolean(column) => Value::Bool(i != 0),
        My::Int(i) => Value::Int(i),
        My::UInt(u) => match i64::try_from(u) {
            Ok(i) if is_boolean(column) => Value::Bool(i != 0),
            Ok(i) => Value::Int(i),
            Err(_) => Value::Decimal(Decimal::from(u)),
        },
        My::Float(x) => Value::Float(f64::from(x)),
        My::Double(x) => Value::Float(x),
        My::Bytes(bytes) => match bytes_kind(column) {
            BytesKind::Decimal => {
                let text = String::from_utf8_lossy(&bytes);
                Value::Decimal(Decimal::from_str(&text).map_err(|e| {
                    bad(format!(
                        "DECIMAL {text} does not fit a 28-digit decimal: {e}"
                    ))
                })?)
            }
            BytesKind::Binary => Value::Bytes(bytes),
            BytesKind::Text => Value::Text(
                String::from_utf8(bytes).map_err(|e| bad(format!("text is not UTF-8: {e}")))?,
            ),
        },
        My::Date(y, mo, d, h, mi, s, us) => {
            let date = NaiveDate::from_ymd_opt(y.into(), mo.into(), d.into())
                .ok_or_else(|| bad(format!("{y:04}-{mo:02}-{d:02} is not a calendar date")))?;
            match column.column_type() {
                MYSQL_TYPE_DATE | MYSQL_TYPE_NEWDATE => Value::Date(date),
                _ => {
                    let time = NaiveTime::from_hms_micro_opt(h.into(), mi.into(), s.into(), us)
                        .ok_or_else(|| bad(format!("{h}:{mi}:{s}.{us} is not a time of day")))?;
                    Value::Timestamp(NaiveDateTime::new(date, time))
                }
            }
        }
        My::Time(negative, days, h, mi, s, us) => {
            let time = (!negative && days == 0)
                .then(|| NaiveTime::from_hms_micro_opt(h.into(), mi.into(), s.into(), us))
                .flatten()
                .ok_or_else(|| {
                    let sign = if negative { "-" } else { "" };
                    bad(format!(
                        "TIME {sign}{}:{mi:02}:{s:02} is not a time of day",
                        days * 24 + u32::from(h)
                    ))
                })?;
            Value::Time(time)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_keep_their_meaning() {
        assert_eq!(to_mysql(&Value::Bool(true)), My::Int(1));
        let d = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        assert_eq!(to_mysql(&Value::Date(d)), My::Date(2024, 2, 29, 0, 0, 0, 0));
        let t = NaiveTime::from_hms_micro_opt(1, 2, 3, 4).unwrap();
        assert_eq!(to_mysql(&Value::Time(t)), My::Time(false, 0, 1, 2, 3, 4));
        assert_eq!(
            to_mysql(&Value::Decimal(Decimal::from_str("1.50").unwrap())),
            My::Bytes(b"1.50".to_vec())
        );
    }
}
