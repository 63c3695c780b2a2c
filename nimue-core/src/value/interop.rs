//! Values of other crates' types: `chrono`'s time-zone-aware `DateTime`s (always), and behind
//! features `uuid::Uuid` (`uuid`), `serde_json::Value` (`json`) and the `time` crate's dates
//! and times (`time`).
//!
//! They travel as the [`Value`]s every adapter already speaks, so they work on every
//! database: a `DateTime` as a UTC [`Value::Timestamp`] (PostgreSQL binds it to `timestamptz`
//! as that instant, and reads `timestamptz` back as UTC), a `Uuid` as its hyphenated text
//! (PostgreSQL `uuid`, MariaDB `UUID` or `CHAR(36)`, text elsewhere; 16 bytes read back too),
//! JSON as its text (PostgreSQL `json`/`jsonb`, MySQL `JSON`, text elsewhere).
//!
//! ```
//! use chrono::{DateTime, TimeZone, Utc};
//! use nimue_core::{FromValue, Value};
//!
//! let at: DateTime<Utc> = Utc.with_ymd_and_hms(2026, 11, 30, 17, 0, 0).unwrap();
//! let v = Value::from(at);
//! assert_eq!(DateTime::<Utc>::from_value(&v)?, at);
//! // SQLite keeps timestamps as text: RFC 3339 with an offset reads too.
//! let text = Value::from("2026-11-30T18:00:00+01:00");
//! assert_eq!(DateTime::<Utc>::from_value(&text)?, at);
//! # Ok::<(), nimue_core::Error>(())
//! ```

use super::{FromValue, Value};
#[cfg(any(feature = "uuid", feature = "json", feature = "time"))]
use crate::error::Error;
use crate::error::Result;
use chrono::{DateTime, FixedOffset, NaiveDateTime, Utc};

#[cfg(any(feature = "uuid", feature = "json"))]
use super::from_value::mismatch;

impl From<DateTime<Utc>> for Value {
    /// The instant, as a UTC timestamp.
    fn from(at: DateTime<Utc>) -> Self {
        Value::Timestamp(at.naive_utc())
    }
}

impl From<DateTime<FixedOffset>> for Value {
    /// The instant, as a UTC timestamp (the offset is not kept).
    fn from(at: DateTime<FixedOffset>) -> Self {
        Value::Timestamp(at.naive_utc())
    }
}

impl FromValue for DateTime<Utc> {
    /// A timestamp is taken as UTC (PostgreSQL's `timestamptz` is read so); text may be
    /// RFC 3339 with any offset, or a timestamp without one (UTC).
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Text(s) => match DateTime::parse_from_rfc3339(s) {
                Ok(at) => Ok(at.with_timezone(&Utc)),
                Err(_) => NaiveDateTime::from_value(value).map(|ts| ts.and_utc()),
            },
            v => NaiveDateTime::from_value(v).map(|ts| ts.and_utc()),
        }
    }
}

impl FromValue for DateTime<FixedOffset> {
    /// RFC 3339 text keeps its offset; a timestamp is UTC (`+00:00`).
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Text(s) => match DateTime::parse_from_rfc3339(s) {
                Ok(at) => Ok(at),
                Err(_) => DateTime::<Utc>::from_value(value).map(|at| at.fixed_offset()),
            },
            v => DateTime::<Utc>::from_value(v).map(|at| at.fixed_offset()),
        }
    }
}

#[cfg(feature = "uuid")]
mod uuid_values {
    use super::*;
    use uuid::Uuid;

    impl From<Uuid> for Value {
        /// Its hyphenated text (`67e55044-10b1-426f-9247-bb680e5fe0c8`).
        fn from(id: Uuid) -> Self {
            Value::Text(id.hyphenated().to_string())
        }
    }

    impl FromValue for Uuid {
        /// From its text (any form `Uuid::parse_str` takes) or its 16 bytes.
        fn from_value(value: &Value) -> Result<Self> {
            match value {
                Value::Text(s) => {
                    Uuid::parse_str(s).map_err(|e| Error::data(format!("{s:?} is not a UUID: {e}")))
                }
                Value::Bytes(b) if b.len() == 16 => Uuid::from_slice(b)
                    .map_err(|e| Error::data(format!("16 bytes are not a UUID: {e}"))),
                // A UUID column some drivers hand over as bytes of its text.
                Value::Bytes(b) => std::str::from_utf8(b)
                    .ok()
                    .and_then(|s| Uuid::parse_str(s).ok())
                    .ok_or_else(|| Error::data(format!("{} bytes are not a UUID", b.len()))),
                v => mismatch(v, "Uuid"),
            }
        }
    }
}

#[cfg(feature = "json")]
mod json_values {
    use super::*;

    impl From<serde_json::Value> for Value {
        /// Its JSON text.
        fn from(json: serde_json::Value) -> Self {
            Value::Text(json.to_string())
        }
    }

    impl From<&serde_json::Value> for Value {
        /// Its JSON text.
        fn from(json: &serde_json::Value) -> Self {
            Value::Text(json.to_string())
        }
    }

    impl FromValue for serde_json::Value {
        /// Parsed from the column's text (or UTF-8 bytes).
        fn from_value(value: &Value) -> Result<Self> {
            let text = match value {
                Value::Text(s) => s.as_str(),
                Value::Bytes(b) => std::str::from_utf8(b)
                    .map_err(|e| Error::data(format!("JSON bytes are not UTF-8: {e}")))?,
                v => return mismatch(v, "serde_json::Value"),
            };
            serde_json::from_str(text).map_err(|e| Error::data(format!("not JSON: {e}")))
        }
    }
}

#[cfg(feature = "time")]
mod time_values {
    //! The `time` crate's types, through chrono's (exact to the microsecond and beyond).
    use super::*;
    use chrono::{Datelike, NaiveDate, NaiveTime, Timelike};

    fn date_to_time(d: NaiveDate) -> Result<time::Date> {
        let month =
            time::Month::try_from(d.month() as u8).map_err(|e| Error::data(e.to_string()))?;
        time::Date::from_calendar_date(d.year(), month, d.day() as u8)
            .map_err(|e| Error::data(format!("{d} is out of the time crate's range: {e}")))
    }

    fn date_from_time(d: time::Date) -> Result<NaiveDate> {
        NaiveDate::from_ymd_opt(d.year(), u8::from(d.month()).into(), d.day().into())
            .ok_or_else(|| Error::data(format!("{d} is out of chrono's range")))
    }

    fn time_to_time(t: NaiveTime) -> Result<time::Time> {
        let nanos = t.nanosecond().min(999_999_999);
        time::Time::from_hms_nano(t.hour() as u8, t.minute() as u8, t.second() as u8, nanos)
            .map_err(|e| Error::data(e.to_string()))
    }

    fn time_from_time(t: time::Time) -> NaiveTime {
        NaiveTime::from_hms_nano_opt(
            t.hour().into(),
            t.minute().into(),
            t.second().into(),
            t.nanosecond(),
        )
        .unwrap_or(NaiveTime::MIN)
    }

    /// Every `time::Date` is in chrono's range (years ±9999 against ±262142).
    fn date_of(d: time::Date) -> NaiveDate {
        date_from_time(d).expect("time's dates are within chrono's range")
    }

    impl From<time::Date> for Value {
        fn from(d: time::Date) -> Self {
            Value::Date(date_of(d))
        }
    }

    impl From<time::Time> for Value {
        fn from(t: time::Time) -> Self {
            Value::Time(time_from_time(t))
        }
    }

    impl From<time::PrimitiveDateTime> for Value {
        fn from(ts: time::PrimitiveDateTime) -> Self {
            Value::Timestamp(date_of(ts.date()).and_time(time_from_time(ts.time())))
        }
    }

    impl From<time::OffsetDateTime> for Value {
        /// The instant, as a UTC timestamp.
        fn from(at: time::OffsetDateTime) -> Self {
            let utc = at.to_offset(time::UtcOffset::UTC);
            Value::from(time::PrimitiveDateTime::new(utc.date(), utc.time()))
        }
    }

    impl FromValue for time::Date {
        fn from_value(value: &Value) -> Result<Self> {
            date_to_time(NaiveDate::from_value(value)?)
        }
    }

    impl FromValue for time::Time {
        fn from_value(value: &Value) -> Result<Self> {
            time_to_time(NaiveTime::from_value(value)?)
        }
    }

    impl FromValue for time::PrimitiveDateTime {
        fn from_value(value: &Value) -> Result<Self> {
            let ts = NaiveDateTime::from_value(value)?;
            Ok(time::PrimitiveDateTime::new(
                date_to_time(ts.date())?,
                time_to_time(ts.time())?,
            ))
        }
    }

    impl FromValue for time::OffsetDateTime {
        /// A timestamp is taken as UTC, as for chrono's `DateTime<Utc>`.
        fn from_value(value: &Value) -> Result<Self> {
            let utc = DateTime::<Utc>::from_value(value)?.naive_utc();
            let ts =
                time::PrimitiveDateTime::new(date_to_time(utc.date())?, time_to_time(utc.time())?);
            Ok(ts.assume_utc())
        }
    }
}
