//! PostgreSQL values nimue has no [`Value`] type for, read as their text (what `psql` shows
//! for them, in the default `DateStyle` and `IntervalStyle`): arrays (`{1,2,NULL}`,
//! `{"a b",c}`), `inet`/`cidr`, `interval`, `macaddr`, `point` and `"char"`. Results are read
//! in binary format, so each is decoded here from it. (Enum labels travel as text already:
//! `convert.rs` reads them.)

use nimue_core::Value;
use postgres::types::{FromSql, Kind, Type};
use postgres_protocol::types as wire;
use std::fmt::Write as _;

type BoxError = Box<dyn std::error::Error + Sync + Send>;

/// How an array element of a type with a [`Value`] is read (`convert.rs`'s reading of a
/// column, passed in so that this module does not depend on that one).
pub(crate) type ValueOf<'a> = &'a dyn Fn(&Type, &[u8]) -> Result<Value, BoxError>;

/// The text of a value of type `ty`, or `None` when nimue knows no text for that type.
pub(crate) fn as_text(
    ty: &Type,
    raw: &[u8],
    value_of: ValueOf<'_>,
) -> Option<Result<String, BoxError>> {
    if let Kind::Array(element) = ty.kind() {
        return Some(array(element, raw, value_of));
    }
    Some(match *ty {
        Type::INET | Type::CIDR => inet(ty, raw),
        Type::INTERVAL => interval(raw),
        Type::MACADDR => macaddr(raw),
        Type::POINT => wire::point_from_sql(raw).map(|p| format!("({},{})", p.x(), p.y())),
        Type::CHAR => i8::from_sql(ty, raw).map(|c| char::from(c as u8).to_string()),
        _ => return None,
    })
}

/// `10.0.0.1` (a host) or `10.0.0.0/8`; a `cidr` always with its mask.
fn inet(ty: &Type, raw: &[u8]) -> Result<String, BoxError> {
    let inet = wire::inet_from_sql(raw)?;
    let full = if inet.addr().is_ipv4() { 32 } else { 128 };
    Ok(if *ty == Type::INET && inet.netmask() == full {
        inet.addr().to_string()
    } else {
        format!("{}/{}", inet.addr(), inet.netmask())
    })
}

fn macaddr(raw: &[u8]) -> Result<String, BoxError> {
    if raw.len() != 6 {
        return Err("a macaddr is 6 bytes".into());
    }
    let hex: Vec<String> = raw.iter().map(|b| format!("{b:02x}")).collect();
    Ok(hex.join(":"))
}

/// `1 year 2 mons 3 days 04:05:06.5`, as PostgreSQL's `IntervalStyle = postgres` writes it.
fn interval(raw: &[u8]) -> Result<String, BoxError> {
    let bytes: [u8; 16] = raw.try_into().map_err(|_| "an interval is 16 bytes")?;
    let micros = i64::from_be_bytes(bytes[0..8].try_into()?);
    let days = i32::from_be_bytes(bytes[8..12].try_into()?);
    let months = i32::from_be_bytes(bytes[12..16].try_into()?);
    let mut parts = Vec::new();
    let unit = |n: i64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let (years, months) = (months / 12, months % 12);
    if years != 0 {
        parts.push(unit(years.into(), "year", "years"));
    }
    if months != 0 {
        parts.push(unit(months.into(), "mon", "mons"));
    }
    if days != 0 {
        parts.push(unit(days.into(), "day", "days"));
    }
    if micros != 0 || parts.is_empty() {
        let sign = if micros < 0 { "-" } else { "" };
        let abs = micros.unsigned_abs();
        let (secs, frac) = (abs / 1_000_000, abs % 1_000_000);
        let mut time = format!(
            "{sign}{:02}:{:02}:{:02}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        );
        if frac != 0 {
            let digits = format!("{frac:06}");
            let _ = write!(time, ".{}", digits.trim_end_matches('0'));
        }
        parts.push(time);
    }
    Ok(parts.join(" "))
}

/// `{1,2,NULL}`, `{{1,2},{3,4}}`, `{"a b",c}`: PostgreSQL's array text.
fn array(element: &Type, raw: &[u8], value_of: ValueOf<'_>) -> Result<String, BoxError> {
    let array = wire::array_from_sql(raw)?;
    let mut dims = Vec::new();
    let mut it = array.dimensions();
    while let Some(dim) = fallible_iterator::FallibleIterator::next(&mut it)? {
        dims.push(usize::try_from(dim.len)?);
    }
    let mut items = Vec::new();
    let mut values = array.values();
    while let Some(value) = fallible_iterator::FallibleIterator::next(&mut values)? {
        items.push(match value {
            None => "NULL".to_owned(),
            Some(raw) => quoted(&element_text(element, raw, value_of)?),
        });
    }
    if dims.is_empty() {
        return Ok("{}".to_owned());
    }
    let mut out = String::new();
    nest(&mut out, &dims, &mut items.into_iter());
    Ok(out)
}

fn nest(out: &mut String, dims: &[usize], items: &mut impl Iterator<Item = String>) {
    out.push('{');
    for i in 0..dims[0] {
        if i > 0 {
            out.push(',');
        }
        if dims.len() > 1 {
            nest(out, &dims[1..], items);
        } else if let Some(item) = items.next() {
            out.push_str(&item);
        }
    }
    out.push('}');
}

/// One element's text, as its own column would be read (booleans as `t`/`f`).
fn element_text(ty: &Type, raw: &[u8], value_of: ValueOf<'_>) -> Result<String, BoxError> {
    if let Some(text) = as_text(ty, raw, value_of) {
        return text;
    }
    Ok(match value_of(ty, raw)? {
        Value::Bool(b) => if b { "t" } else { "f" }.to_owned(),
        Value::Bytes(b) => {
            let mut hex = String::from("\\x");
            b.iter().for_each(|byte| {
                let _ = write!(hex, "{byte:02x}");
            });
            hex
        }
        other => other.to_string(),
    })
}

/// An element quoted as array text needs it: empty, `NULL`, or with a special character.
fn quoted(text: &str) -> String {
    let plain = !text.is_empty()
        && !text.eq_ignore_ascii_case("null")
        && !text
            .chars()
            .any(|c| matches!(c, '{' | '}' | ',' | '"' | '\\') || c.is_whitespace());
    if plain {
        return text.to_owned();
    }
    let mut out = String::from("\"");
    for c in text.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interval_bytes(micros: i64, days: i32, months: i32) -> Vec<u8> {
        let mut raw = micros.to_be_bytes().to_vec();
        raw.extend(days.to_be_bytes());
        raw.extend(months.to_be_bytes());
        raw
    }

    #[test]
    fn intervals_read_as_postgres_writes_them() {
        let cases = [
            ((0, 0, 0), "00:00:00"),
            ((0, 1, 0), "1 day"),
            ((7_200_000_000, 1, 0), "1 day 02:00:00"),
            ((0, -3, 14), "1 year 2 mons -3 days"),
            ((-1_500_000, 0, 1), "1 mon -00:00:01.5"),
        ];
        for ((micros, days, months), text) in cases {
            let raw = interval_bytes(micros, days, months);
            assert_eq!(interval(&raw).unwrap(), text);
        }
    }

    #[test]
    fn array_elements_are_quoted_when_they_must_be() {
        assert_eq!(quoted("abc"), "abc");
        assert_eq!(quoted("a b"), "\"a b\"");
        assert_eq!(quoted(""), "\"\"");
        assert_eq!(quoted("NULL"), "\"NULL\"");
        assert_eq!(quoted("say \"hi\""), "\"say \\\"hi\\\"\"");
    }
}
