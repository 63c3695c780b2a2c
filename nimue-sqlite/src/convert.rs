//! Values between nimue and SQLite's five storage classes.
//!
//! SQLite stores NULL, INTEGER, REAL, TEXT and BLOB. The richer PEP 249 types travel as:
//! booleans as 0/1, decimals and dates/times as ISO text. Reading back, the column's declared
//! type decides (like Python sqlite3's `PARSE_DECLTYPES`): a `BOOLEAN` column reads as `Bool`,
//! `DATE` as `Date`, `TIME` as `Time`, `TIMESTAMP`/`DATETIME` as `Timestamp`,
//! `DECIMAL`/`NUMERIC` as `Decimal` (how exactly depends on the column's affinity: see the
//! crate docs, Decimals).

use nimue_core::{CellRef, Error, FromValue, Result, TypeCode, Value};
use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};

/// A nimue value bound as an SQLite parameter.
pub(crate) struct Param<'a>(pub(crate) &'a Value);

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        use rusqlite::types::Value as Sql;
        Ok(match self.0 {
            Value::Null => ToSqlOutput::Owned(Sql::Null),
            Value::Bool(b) => ToSqlOutput::Owned(Sql::Integer(i64::from(*b))),
            Value::Int(i) => ToSqlOutput::Owned(Sql::Integer(*i)),
            Value::Float(x) => ToSqlOutput::Owned(Sql::Real(*x)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
            // Dates, times and decimals as text (ISO 8601, exact decimal digits).
            other => ToSqlOutput::Owned(Sql::Text(other.to_string())),
        })
    }
}

/// What a column's declared type says about how to read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hint {
    None,
    Bool,
    Decimal,
    Date,
    Time,
    Timestamp,
}

impl Hint {
    pub(crate) fn from_decltype(decltype: Option<&str>) -> Hint {
        let Some(t) = decltype.map(str::to_ascii_uppercase) else {
            return Hint::None;
        };
        if t.contains("BOOL") {
            Hint::Bool
        } else if t.contains("TIMESTAMP") || t.contains("DATETIME") {
            Hint::Timestamp
        } else if t.contains("DATE") {
            Hint::Date
        } else if t.contains("TIME") {
            Hint::Time
        } else if t.contains("DEC") || t.contains("NUMERIC") {
            Hint::Decimal
        } else {
            Hint::None
        }
    }
}

/// The PEP 249 type code of a declared type, following SQLite's affinity rules.
pub(crate) fn type_code(decltype: Option<&str>) -> Option<TypeCode> {
    let t = decltype?.to_ascii_uppercase();
    Some(match Hint::from_decltype(Some(&t)) {
        Hint::Date | Hint::Time | Hint::Timestamp => TypeCode::Datetime,
        Hint::Bool | Hint::Decimal => TypeCode::Number,
        Hint::None if t.contains("INT") => TypeCode::Number,
        Hint::None if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") => {
            TypeCode::String
        }
        Hint::None if t.contains("BLOB") || t.is_empty() => TypeCode::Binary,
        Hint::None => TypeCode::Number, // REAL and NUMERIC affinity
    })
}

/// One cell where the driver holds it: text of a column without a hint, and bytes, borrowed.
pub(crate) fn cell_of(cell: ValueRef<'_>, hint: Hint) -> Result<CellRef<'_>> {
    match (cell, hint) {
        (ValueRef::Text(bytes), Hint::None) => Ok(CellRef::Text(utf8(bytes)?)),
        (ValueRef::Blob(b), _) => Ok(CellRef::Bytes(b)),
        (cell, hint) => from_sql(cell, hint).map(CellRef::Value),
    }
}

fn utf8(bytes: &[u8]) -> Result<&str> {
    std::str::from_utf8(bytes)
        .map_err(|e| Error::data(format!("SQLite text is not valid UTF-8: {e}")))
}

/// Read one cell.
pub(crate) fn from_sql(cell: ValueRef<'_>, hint: Hint) -> Result<Value> {
    let value = match cell {
        ValueRef::Null => return Ok(Value::Null),
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(x) => Value::Float(x),
        ValueRef::Text(bytes) => Value::Text(utf8(bytes)?.to_owned()),
        ValueRef::Blob(b) => return Ok(Value::Bytes(b.to_vec())),
    };
    // A value the hint cannot read (e.g. 'abc' in a DATE column) stays as stored.
    let hinted = match hint {
        Hint::None => None,
        Hint::Bool => bool::from_value(&value).ok().map(Value::Bool),
        Hint::Decimal => FromValue::from_value(&value).ok().map(Value::Decimal),
        Hint::Date => FromValue::from_value(&value).ok().map(Value::Date),
        Hint::Time => FromValue::from_value(&value).ok().map(Value::Time),
        Hint::Timestamp => FromValue::from_value(&value).ok().map(Value::Timestamp),
    };
    Ok(hinted.unwrap_or(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decltypes_give_hints_and_type_codes() {
        assert_eq!(Hint::from_decltype(Some("boolean")), Hint::Bool);
        assert_eq!(Hint::from_decltype(Some("DATETIME")), Hint::Timestamp);
        assert_eq!(Hint::from_decltype(Some("DATE")), Hint::Date);
        assert_eq!(Hint::from_decltype(Some("TIME")), Hint::Time);
        assert_eq!(Hint::from_decltype(Some("DECIMAL(10,2)")), Hint::Decimal);
        // TEXT affinity, read as a decimal: the exact way to store decimals.
        assert_eq!(Hint::from_decltype(Some("decimal text")), Hint::Decimal);
        assert_eq!(type_code(Some("DECIMAL TEXT")), Some(TypeCode::Number));
        assert_eq!(type_code(Some("VARCHAR(20)")), Some(TypeCode::String));
        assert_eq!(type_code(Some("BIGINT")), Some(TypeCode::Number));
        assert_eq!(type_code(Some("BLOB")), Some(TypeCode::Binary));
        assert_eq!(type_code(None), None);
    }

    #[test]
    fn decimal_columns_read_text_integers_and_reals_as_decimals() {
        use rust_decimal::Decimal;
        use std::str::FromStr;
        let exact = "-1234567890.123456789012345678";
        assert_eq!(
            from_sql(ValueRef::Text(exact.as_bytes()), Hint::Decimal).unwrap(),
            Value::Decimal(Decimal::from_str(exact).unwrap())
        );
        assert_eq!(
            from_sql(ValueRef::Integer(-7), Hint::Decimal).unwrap(),
            Value::Decimal(Decimal::from(-7))
        );
        assert_eq!(
            from_sql(ValueRef::Real(0.1), Hint::Decimal).unwrap(),
            Value::Decimal(Decimal::from_str("0.1").unwrap())
        );
        // Beyond Decimal's range: the float as stored.
        assert_eq!(
            from_sql(ValueRef::Real(1e30), Hint::Decimal).unwrap(),
            Value::Float(1e30)
        );
    }

    #[test]
    fn unparsable_hinted_text_stays_text() {
        let v = from_sql(ValueRef::Text(b"soon"), Hint::Date).unwrap();
        assert_eq!(v, Value::Text("soon".into()));
        assert!(from_sql(ValueRef::Text(b"\xff"), Hint::None).is_err());
    }
}
