//! Values between nimue and PostgreSQL's types.
//!
//! Parameters are typed by the server (from the statement's context); [`Param`] converts a
//! [`Value`] to whatever type the server asked for, within range or a `DataError`. Columns are
//! read by their type into [`PgValue`].

use bytes::BytesMut;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use nimue_core::{CellRef, Column, Columns, ErrorKind, FromValue, TypeCode, Value};
use postgres::types::{Format, FromSql, IsNull, Kind, ToSql, Type};
use rust_decimal::Decimal;
use std::error::Error as StdError;
use std::fmt;
use std::str::FromStr;

type BoxResult<T> = Result<T, Box<dyn StdError + Sync + Send>>;

/// A conversion failure, carried through the driver so it maps to the right PEP 249 class.
#[derive(Debug)]
pub(crate) struct ConversionError {
    pub(crate) kind: ErrorKind,
    pub(crate) message: String,
}

impl fmt::Display for ConversionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for ConversionError {}

fn fail<T>(kind: ErrorKind, message: String) -> BoxResult<T> {
    Err(Box::new(ConversionError { kind, message }))
}

/// A domain's base type; any other type itself.
fn base_type(ty: &Type) -> &Type {
    match ty.kind() {
        Kind::Domain(base) => base_type(base),
        _ => ty,
    }
}

fn is_text(ty: &Type) -> bool {
    <&str as ToSql>::accepts(ty) || matches!(ty.kind(), Kind::Enum(_))
}

/// The description of result columns.
pub(crate) fn describe(columns: &[tokio_postgres::Column]) -> Columns {
    columns
        .iter()
        .map(|c| Column::new(c.name(), type_code(c.type_())).with_type_name(c.type_().name()))
        .collect()
}

/// The PEP 249 type object of a column type.
pub(crate) fn type_code(ty: &Type) -> Option<TypeCode> {
    let ty = base_type(ty);
    Some(match *ty {
        Type::BOOL
        | Type::INT2
        | Type::INT4
        | Type::INT8
        | Type::FLOAT4
        | Type::FLOAT8
        | Type::NUMERIC
        | Type::MONEY => TypeCode::Number,
        Type::OID => TypeCode::RowId,
        Type::BYTEA => TypeCode::Binary,
        Type::DATE
        | Type::TIME
        | Type::TIMETZ
        | Type::TIMESTAMP
        | Type::TIMESTAMPTZ
        | Type::INTERVAL => TypeCode::Datetime,
        Type::JSON | Type::JSONB | Type::XML | Type::UUID => TypeCode::String,
        ref t if is_text(t) => TypeCode::String,
        _ => return None,
    })
}

/// A [`Value`] bound as a parameter of whatever type the server inferred.
#[derive(Debug)]
pub(crate) struct Param<'a>(pub(crate) &'a Value);

/// Read `value` as `T`, also parsing text (so `'42'` binds to an integer parameter).
fn read<T: FromValue + FromStr>(value: &Value, ty: &Type) -> BoxResult<T> {
    if let Value::Text(s) = value {
        if let Ok(v) = s.trim().parse::<T>() {
            return Ok(v);
        }
    }
    T::from_value(value).or_else(|e| {
        let why = e
            .as_database()
            .map_or_else(|| e.to_string(), |d| d.message().into());
        fail(ErrorKind::Data, format!("parameter of type {ty}: {why}"))
    })
}

impl ToSql for Param<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> BoxResult<IsNull> {
        let value = self.0;
        if value.is_null() {
            return Ok(IsNull::Yes);
        }
        let base = base_type(ty);
        match *base {
            Type::BOOL => read::<bool>(value, ty)?.to_sql(base, out),
            Type::INT2 => read::<i16>(value, ty)?.to_sql(base, out),
            Type::INT4 => read::<i32>(value, ty)?.to_sql(base, out),
            Type::INT8 => read::<i64>(value, ty)?.to_sql(base, out),
            Type::OID => read::<u32>(value, ty)?.to_sql(base, out),
            // Read as f64 (text too), then narrowed with a range check: never Infinity or 0
            // for a finite non-zero value.
            Type::FLOAT4 => f32::from_value(&Value::Float(read::<f64>(value, ty)?))
                .or_else(|e| fail(ErrorKind::Data, format!("parameter of type {ty}: {e}")))?
                .to_sql(base, out),
            Type::FLOAT8 => read::<f64>(value, ty)?.to_sql(base, out),
            Type::NUMERIC => read::<Decimal>(value, ty)?.to_sql(base, out),
            Type::BYTEA => match value {
                Value::Bytes(b) => b.as_slice().to_sql(base, out),
                v => fail(ErrorKind::Data, format!("cannot bind {} as bytea", v.type_name())),
            },
            Type::DATE => NaiveDate::from_value(value)
                .or_else(|e| fail(ErrorKind::Data, e.to_string()))?
                .to_sql(base, out),
            Type::TIME => NaiveTime::from_value(value)
                .or_else(|e| fail(ErrorKind::Data, e.to_string()))?
                .to_sql(base, out),
            Type::TIMESTAMP => NaiveDateTime::from_value(value)
                .or_else(|e| fail(ErrorKind::Data, e.to_string()))?
                .to_sql(base, out),
            // A naive timestamp bound to timestamptz is taken as UTC.
            Type::TIMESTAMPTZ => NaiveDateTime::from_value(value)
                .or_else(|e| fail(ErrorKind::Data, e.to_string()))?
                .and_utc()
                .to_sql(base, out),
            Type::UUID => match value {
                Value::Text(s) => match uuid::Uuid::parse_str(s) {
                    Ok(id) => {
                        out.extend_from_slice(id.as_bytes());
                        Ok(IsNull::No)
                    }
                    Err(e) => fail(ErrorKind::Data, format!("{s:?} is not a UUID: {e}")),
                },
                Value::Bytes(b) if b.len() == 16 => {
                    out.extend_from_slice(b);
                    Ok(IsNull::No)
                }
                v => fail(ErrorKind::Data, format!("cannot bind {} as uuid", v.type_name())),
            },
            Type::JSON | Type::JSONB => match value {
                Value::Text(s) => {
                    if *base == Type::JSONB {
                        out.extend_from_slice(&[1]); // jsonb binary format version
                    }
                    out.extend_from_slice(s.as_bytes());
                    Ok(IsNull::No)
                }
                v => fail(ErrorKind::Data, format!("cannot bind {} as json", v.type_name())),
            },
            ref t if is_text(t) => match value {
                // The server would refuse it (22021) after the statement was sent; say what
                // cannot be done, and what can.
                Value::Text(s) if s.contains('\0') => fail(
                    ErrorKind::NotSupported,
                    format!("PostgreSQL {ty} cannot hold a NUL byte: pass such data as bytes (bytea)"),
                ),
                Value::Text(s) => {
                    out.extend_from_slice(s.as_bytes());
                    Ok(IsNull::No)
                }
                Value::Bytes(_) => fail(ErrorKind::Data, format!("cannot bind bytes as {ty}")),
                // An untyped `SELECT ?` is text to the server: send the value's text form.
                v => {
                    out.extend_from_slice(v.to_string().as_bytes());
                    Ok(IsNull::No)
                }
            },
            _ => fail(
                ErrorKind::NotSupported,
                format!("binding parameters of type {ty} is not supported; cast the placeholder (e.g. ?::text)"),
            ),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// A column value read by its PostgreSQL type.
pub(crate) struct PgValue(pub(crate) Value);

fn decode<'a, T: FromSql<'a>>(ty: &Type, raw: &'a [u8]) -> BoxResult<T> {
    T::from_sql(ty, raw).or_else(|e| fail(ErrorKind::Data, format!("reading a {ty} value: {e}")))
}

/// A `time` value: PostgreSQL's `24:00:00` (the end of a day, which no time of day in chrono
/// is) comes as the text PostgreSQL prints, not as midnight.
fn time_of_day(raw: &[u8]) -> BoxResult<Value> {
    const END_OF_DAY_MICROS: i64 = 86_400_000_000;
    if raw == END_OF_DAY_MICROS.to_be_bytes() {
        return Ok(Value::Text("24:00:00".to_owned()));
    }
    Ok(Value::Time(decode(&Type::TIME, raw)?))
}

impl<'a> FromSql<'a> for PgValue {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> BoxResult<Self> {
        let base = base_type(ty);
        let value = match *base {
            Type::BOOL => Value::Bool(decode(base, raw)?),
            Type::INT2 => Value::Int(decode::<i16>(base, raw)?.into()),
            Type::INT4 => Value::Int(decode::<i32>(base, raw)?.into()),
            Type::INT8 => Value::Int(decode(base, raw)?),
            Type::OID => Value::Int(decode::<u32>(base, raw)?.into()),
            Type::FLOAT4 => Value::Float(decode::<f32>(base, raw)?.into()),
            Type::FLOAT8 => Value::Float(decode(base, raw)?),
            Type::NUMERIC => Value::Decimal(decode(base, raw)?),
            Type::BYTEA => Value::Bytes(decode(base, raw)?),
            Type::DATE => Value::Date(decode(base, raw)?),
            Type::TIME => time_of_day(raw)?,
            // What a function returning nothing returns (`SELECT pg_advisory_lock(1)`).
            Type::VOID => Value::Null,
            Type::TIMESTAMP => Value::Timestamp(decode(base, raw)?),
            Type::TIMESTAMPTZ => Value::Timestamp(decode::<DateTime<Utc>>(base, raw)?.naive_utc()),
            Type::JSONB => Value::Text(text(raw.get(1..).unwrap_or_default())?),
            Type::UUID => Value::Text(uuid_text(raw)?),
            Type::JSON | Type::XML => Value::Text(text(raw)?),
            ref t if is_text(t) || matches!(t.kind(), Kind::Enum(_)) => Value::Text(text(raw)?),
            ref t => match crate::text::as_text(t, raw, &|t, raw| Ok(PgValue::from_sql(t, raw)?.0)) {
                Some(text) => Value::Text(text.or_else(|e| fail(ErrorKind::Data, format!("reading a {ty} value: {e}")))?),
                None => {
                    return fail(
                        ErrorKind::NotSupported,
                        format!("reading columns of type {ty} is not supported; cast it in the query (e.g. col::text)"),
                    )
                }
            },
        };
        Ok(PgValue(value))
    }

    fn from_sql_null(_: &Type) -> BoxResult<Self> {
        Ok(PgValue(Value::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// A parameter of an unnamed statement ([`Statements::Unnamed`](crate::Statements)), which
/// has no server-side description to encode it by: text and `NULL` go with an unspecified
/// type (text in text format), so the server types them from their context as it types a
/// literal (`'2024-01-01'` into a date column, `'{}'` into jsonb); every other value goes as
/// its own type (an integer as `int8`, a float as `float8`, ...).
pub(crate) struct Unnamed<'a>(pub(crate) &'a Value);

impl Unnamed<'_> {
    /// The type this parameter is declared with.
    pub(crate) fn declared(&self) -> Type {
        match self.0 {
            Value::Bool(_) => Type::BOOL,
            Value::Int(_) => Type::INT8,
            Value::Float(_) => Type::FLOAT8,
            Value::Decimal(_) => Type::NUMERIC,
            Value::Bytes(_) => Type::BYTEA,
            Value::Date(_) => Type::DATE,
            Value::Time(_) => Type::TIME,
            Value::Timestamp(_) => Type::TIMESTAMP,
            // Oid 0: "unspecified", inferred by the server (text, NULL).
            _ => Type::new("unspecified".into(), 0, Kind::Pseudo, "pg_catalog".into()),
        }
    }
}

impl fmt::Debug for Unnamed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl ToSql for Unnamed<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> BoxResult<IsNull> {
        match self.0 {
            Value::Null => Ok(IsNull::Yes),
            Value::Text(s) if s.contains('\0') => fail(
                ErrorKind::NotSupported,
                "PostgreSQL text cannot hold a NUL byte: pass such data as bytes".into(),
            ),
            Value::Text(s) => {
                out.extend_from_slice(s.as_bytes());
                Ok(IsNull::No)
            }
            value => Param(value).to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &Type) -> Format {
        match self.0 {
            Value::Text(_) => Format::Text,
            _ => Format::Binary,
        }
    }

    postgres::types::to_sql_checked!();
}

/// One cell read in place: text and bytes borrowed from the driver's row, anything else as
/// [`PgValue`] reads it.
pub(crate) struct PgCell<'a>(pub(crate) CellRef<'a>);

impl<'a> FromSql<'a> for PgCell<'a> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> BoxResult<Self> {
        let base = base_type(ty);
        let cell = match *base {
            Type::BYTEA => CellRef::Bytes(raw),
            Type::JSONB => CellRef::Text(borrowed_text(raw.get(1..).unwrap_or_default())?),
            Type::JSON | Type::XML => CellRef::Text(borrowed_text(raw)?),
            ref t if is_text(t) => CellRef::Text(borrowed_text(raw)?),
            _ => CellRef::Value(PgValue::from_sql(ty, raw)?.0),
        };
        Ok(PgCell(cell))
    }

    fn from_sql_null(_: &Type) -> BoxResult<Self> {
        Ok(PgCell(CellRef::Value(Value::Null)))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

fn borrowed_text(raw: &[u8]) -> BoxResult<&str> {
    match std::str::from_utf8(raw) {
        Ok(s) => Ok(s),
        Err(e) => fail(ErrorKind::Data, format!("text is not UTF-8: {e}")),
    }
}

fn text(raw: &[u8]) -> BoxResult<String> {
    match std::str::from_utf8(raw) {
        Ok(s) => Ok(s.to_owned()),
        Err(e) => fail(ErrorKind::Data, format!("text is not UTF-8: {e}")),
    }
}

fn uuid_text(raw: &[u8]) -> BoxResult<String> {
    match uuid::Uuid::from_slice(raw) {
        Ok(id) => Ok(id.hyphenated().to_string()),
        Err(e) => fail(ErrorKind::Data, format!("reading a uuid: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(v: Value, ty: &Type) -> Result<BytesMut, String> {
        let mut out = BytesMut::new();
        Param(&v)
            .to_sql(ty, &mut out)
            .map(|_| out)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn integers_bind_to_narrower_types_within_range() {
        assert_eq!(&encode(Value::Int(7), &Type::INT2).unwrap()[..], &[0, 7]);
        let err = encode(Value::Int(70_000), &Type::INT2).unwrap_err();
        assert!(err.contains("out of range"), "{err}");
        assert!(encode(Value::Text("12".into()), &Type::INT4).is_ok());
        assert!(encode(Value::Text("twelve".into()), &Type::INT4).is_err());
    }

    #[test]
    fn nul_in_text_is_not_supported() {
        let err = encode(Value::Text("a\0b".into()), &Type::TEXT).unwrap_err();
        assert!(err.contains("cannot hold a NUL byte"), "{err}");
        assert!(encode(Value::Text("ab".into()), &Type::TEXT).is_ok());
    }

    #[test]
    fn unsupported_types_say_so() {
        let err = encode(Value::Int(1), &Type::POINT).unwrap_err();
        assert!(err.contains("not supported"), "{err}");
    }

    #[test]
    fn type_codes_follow_pep249() {
        assert_eq!(type_code(&Type::INT4), Some(TypeCode::Number));
        assert_eq!(type_code(&Type::VARCHAR), Some(TypeCode::String));
        assert_eq!(type_code(&Type::BYTEA), Some(TypeCode::Binary));
        assert_eq!(type_code(&Type::TIMESTAMPTZ), Some(TypeCode::Datetime));
        assert_eq!(type_code(&Type::POINT), None);
    }

    #[test]
    fn uuids_read_as_text() {
        let raw: Vec<u8> = (0..16).collect();
        assert_eq!(
            uuid_text(&raw).unwrap(),
            "00010203-0405-0607-0809-0a0b0c0d0e0f"
        );
    }
}
