//! SQLite errors mapped onto PEP 249's hierarchy.

use nimue_core::error::sqlite_violation;
use nimue_core::{DatabaseError, Error, ErrorKind, Violation};
use rusqlite::ffi::ErrorCode;

/// Map a rusqlite error to nimue's hierarchy.
///
/// Constraint violations are `IntegrityError`; syntax errors, missing tables and bad
/// parameters `ProgrammingError`; busy/locked and I/O `OperationalError`; type mismatches and
/// oversized values `DataError`.
/// Which rule a constraint failure broke, from SQLite's extended result code, and the name
/// SQLite's message gives it (a unique or NOT NULL constraint's columns, a CHECK's name).
fn with_violation(error: DatabaseError, extended: i32, e: &rusqlite::Error) -> DatabaseError {
    use rusqlite::ffi;
    let violation = match extended {
        ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => Violation::Unique,
        ffi::SQLITE_CONSTRAINT_FOREIGNKEY => Violation::ForeignKey,
        ffi::SQLITE_CONSTRAINT_NOTNULL => Violation::NotNull,
        ffi::SQLITE_CONSTRAINT_CHECK => Violation::Check,
        _ => Violation::Other,
    };
    let message = match e {
        rusqlite::Error::SqliteFailure(_, Some(message)) => message.as_str(),
        _ => "",
    };
    let error = error.with_violation(violation);
    match sqlite_violation(message) {
        Some((_, Some(name))) => error.with_constraint(name),
        _ => error,
    }
}

pub(crate) fn map_err(e: rusqlite::Error) -> Error {
    use rusqlite::Error as E;
    // SQLite's own result code (`SqlInputError`, a syntax error with its offset, exists only
    // with rusqlite's modern SQLite, which `bundled` brings).
    let failure = match &e {
        E::SqliteFailure(code, _) => Some(*code),
        #[cfg(feature = "bundled")]
        E::SqlInputError { error, .. } => Some(*error),
        _ => None,
    };
    if let Some(code) = failure {
        let (kind, extended) = (failure_kind(code.code), code.extended_code);
        let mut error = DatabaseError::new(kind, e.to_string()).with_code(i64::from(extended));
        if code.code == ErrorCode::ConstraintViolation {
            error = with_violation(error, extended, &e);
        }
        return error.with_driver_error(e).into();
    }
    let kind = match &e {
        E::InvalidParameterCount(..)
        | E::InvalidParameterName(_)
        | E::MultipleStatement
        | E::InvalidColumnIndex(_)
        | E::InvalidColumnName(_)
        | E::InvalidQuery
        | E::ExecuteReturnedResults
        | E::NulError(_) => ErrorKind::Programming,
        E::FromSqlConversionFailure(..)
        | E::IntegralValueOutOfRange(..)
        | E::Utf8Error(..)
        | E::InvalidColumnType(..)
        | E::ToSqlConversionFailure(_) => ErrorKind::Data,
        E::InvalidPath(_) | E::SqliteSingleThreadedMode => {
            return Error::interface_from(format!("SQLite could not be used: {e}"), e)
        }
        _ => ErrorKind::Database,
    };
    DatabaseError::new(kind, e.to_string())
        .with_driver_error(e)
        .into()
}

/// The kind of a failure SQLite itself reported, by its primary result code.
fn failure_kind(code: ErrorCode) -> ErrorKind {
    match code {
        ErrorCode::ConstraintViolation => ErrorKind::Integrity,
        ErrorCode::TypeMismatch | ErrorCode::TooBig => ErrorKind::Data,
        ErrorCode::InternalMalfunction | ErrorCode::DatabaseCorrupt => ErrorKind::Internal,
        ErrorCode::ApiMisuse | ErrorCode::ParameterOutOfRange => ErrorKind::Programming,
        // SQLITE_ERROR: syntax errors, no such table/column, and other errors in the SQL.
        ErrorCode::Unknown => ErrorKind::Programming,
        ErrorCode::AuthorizationForStatementDenied => ErrorKind::Programming,
        _ => ErrorKind::Operational, // busy, locked, I/O, full, read-only, cannot open, ...
    }
}

/// Whether an error means the connection itself can no longer be trusted: the database file
/// is corrupt, is not a database, or failed with an I/O error.
pub(crate) fn is_fatal(e: &Error) -> bool {
    const FATAL: [i32; 3] = [
        rusqlite::ffi::SQLITE_CORRUPT,
        rusqlite::ffi::SQLITE_NOTADB,
        rusqlite::ffi::SQLITE_IOERR,
    ];
    let primary = e
        .as_database()
        .and_then(|d| d.code())
        .map(|c| (c & 0xff) as i32);
    primary.is_some_and(|c| FATAL.contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_codes_map_to_pep249_classes() {
        assert_eq!(
            failure_kind(ErrorCode::ConstraintViolation),
            ErrorKind::Integrity
        );
        assert_eq!(
            failure_kind(ErrorCode::DatabaseBusy),
            ErrorKind::Operational
        );
        assert_eq!(
            failure_kind(ErrorCode::DatabaseLocked),
            ErrorKind::Operational
        );
        assert_eq!(failure_kind(ErrorCode::Unknown), ErrorKind::Programming);
        assert_eq!(failure_kind(ErrorCode::TooBig), ErrorKind::Data);
        let e = map_err(rusqlite::Error::InvalidParameterCount(1, 2));
        assert_eq!(e.kind(), ErrorKind::Programming);
    }
}
