//! PostgreSQL errors mapped onto PEP 249's hierarchy, by SQLSTATE class.

use crate::convert::ConversionError;
use nimue_core::{DatabaseError, Error, ErrorKind, Violation};
use std::error::Error as _;

/// The PEP 249 class of an SQLSTATE, by its two-character class (as psycopg maps them).
pub(crate) fn sqlstate_kind(sqlstate: &str) -> ErrorKind {
    match sqlstate.get(..2).unwrap_or("") {
        "23" => ErrorKind::Integrity,
        "42" | "3D" | "3F" | "26" | "2F" | "34" | "44" | "21" => ErrorKind::Programming,
        "08" | "57" | "53" | "54" | "55" | "58" | "40" | "28" | "HV" => ErrorKind::Operational,
        "22" => ErrorKind::Data,
        "0A" => ErrorKind::NotSupported,
        "XX" | "25" | "24" | "2B" | "2D" | "P0" | "F0" | "27" | "38" | "39" | "3B" => {
            ErrorKind::Internal
        }
        _ => ErrorKind::Database,
    }
}

/// The error and its causes, as one line (the driver's top-level message alone is often just
/// "error connecting to server").
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The error of a request on a connection that has ended.
pub(crate) fn connection_lost() -> Error {
    Error::operational("the connection to the server was lost")
}

/// Map a driver error to nimue's hierarchy.
pub(crate) fn map_err(e: postgres::Error) -> Error {
    if let Some(db) = e.as_db_error() {
        let mut message = format!("{}: {}", db.severity(), db.message());
        if let Some(detail) = db.detail() {
            message.push_str(&format!(" ({detail})"));
        }
        let code = db.code().code().to_owned();
        let mut error = DatabaseError::new(sqlstate_kind(&code), message);
        if let Some(violation) = Violation::of_sqlstate(&code) {
            error = error.with_violation(violation);
            // The server names the constraint; for NOT NULL, the column.
            if let Some(name) = db.constraint().or(db.column()) {
                error = error.with_constraint(name);
            }
        }
        return error.with_sqlstate(code).with_driver_error(e).into();
    }
    if let Some(conversion) = e.source().and_then(|s| s.downcast_ref::<ConversionError>()) {
        let (kind, message) = (conversion.kind, with_causes(&e));
        return DatabaseError::new(kind, message)
            .with_driver_error(e)
            .into();
    }
    let message = with_causes(&e);
    if message.starts_with("invalid connection string")
        || message.starts_with("invalid configuration")
    {
        return Error::interface_from(message, e);
    }
    // I/O, closed connections, timeouts, TLS and protocol failures.
    DatabaseError::new(ErrorKind::Operational, message)
        .with_driver_error(e)
        .into()
}

#[cfg(test)]
mod tests {
    use super::sqlstate_kind;
    use nimue_core::ErrorKind;

    #[test]
    fn sqlstate_classes_map_like_psycopg() {
        assert_eq!(sqlstate_kind("23505"), ErrorKind::Integrity);
        assert_eq!(sqlstate_kind("42601"), ErrorKind::Programming);
        assert_eq!(sqlstate_kind("42P01"), ErrorKind::Programming);
        assert_eq!(sqlstate_kind("08006"), ErrorKind::Operational);
        assert_eq!(sqlstate_kind("57P01"), ErrorKind::Operational);
        assert_eq!(sqlstate_kind("28P01"), ErrorKind::Operational);
        assert_eq!(sqlstate_kind("22003"), ErrorKind::Data);
        assert_eq!(sqlstate_kind("0A000"), ErrorKind::NotSupported);
        assert_eq!(sqlstate_kind("XX000"), ErrorKind::Internal);
        assert_eq!(sqlstate_kind(""), ErrorKind::Database);
    }
}
