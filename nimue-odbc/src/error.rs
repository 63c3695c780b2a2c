//! ODBC errors mapped onto PEP 249's hierarchy, by SQLSTATE.
//!
//! ODBC reports every error with a five-character SQLSTATE. The classes databases share
//! (`23`, `42`, `08`, `22`, ...) map as psycopg maps them (the same table as the PostgreSQL
//! adapter); the ODBC-specific ones map by their meaning: `HYC00`/`IM001` (optional feature or
//! function not implemented) → NotSupported, `IM0xx` (the driver manager could not find or
//! load a driver) → InterfaceError, `HYT00`/`HYT01` (timeouts) → Operational. The SQLite
//! driver reports every SQL error as `HY000` with SQLite's own result code, which is mapped
//! like the native SQLite adapter maps it.

use nimue_core::error::sqlite_violation;
use nimue_core::{DatabaseError, Error, ErrorKind, Violation};

/// Packages that provide common ODBC drivers, for "driver not found" messages.
pub(crate) const DRIVER_PACKAGES: &str = "on Debian/Ubuntu e.g. `odbc-postgresql` (PostgreSQL), \
     `libsqliteodbc` (SQLite), `odbc-mariadb` (MariaDB/MySQL)";

/// The PEP 249 class of an SQLSTATE.
pub(crate) fn sqlstate_kind(sqlstate: &str) -> ErrorKind {
    match sqlstate {
        // Optional feature / driver function not implemented.
        "HYC00" | "IM001" => return ErrorKind::NotSupported,
        // Timeouts, cancellation, out of memory, communication failures.
        "HYT00" | "HYT01" | "HY008" | "HY001" | "HY013" | "08S01" => return ErrorKind::Operational,
        // Integrity violation reported when committing.
        "40002" => return ErrorKind::Integrity,
        // Restricted data type attribute violation: a value the driver cannot convert.
        "07006" => return ErrorKind::Data,
        // Invalid application buffer / SQL data type: a type the driver cannot bind.
        "HY003" | "HY004" => return ErrorKind::NotSupported,
        // Invalid parameter type or number.
        "HY105" | "07001" | "07002" | "07009" => return ErrorKind::Programming,
        _ => {}
    }
    match sqlstate.get(..2).unwrap_or("") {
        "23" => ErrorKind::Integrity,
        "42" | "3D" | "3F" | "26" | "2F" | "34" | "44" | "21" | "07" | "3C" | "S0" => {
            ErrorKind::Programming
        }
        "08" | "57" | "53" | "54" | "55" | "58" | "40" | "28" | "HV" => ErrorKind::Operational,
        "22" => ErrorKind::Data,
        "0A" => ErrorKind::NotSupported,
        "XX" | "25" | "24" | "2B" | "2D" | "P0" | "F0" | "27" | "38" | "39" | "3B" => {
            ErrorKind::Internal
        }
        // The driver manager could not find, load or set up a driver: a problem with the
        // interface (what is installed), not with a database.
        "IM" => ErrorKind::Interface,
        _ => ErrorKind::Database,
    }
}

/// The PEP 249 class of an SQLite result code (the SQLite driver's native error), as the
/// native SQLite adapter maps it.
pub(crate) fn sqlite_code_kind(code: i32) -> ErrorKind {
    match code & 0xff {
        1 | 21 | 23 | 25 => ErrorKind::Programming, // error, misuse, auth, range
        19 => ErrorKind::Integrity,                 // constraint
        18 | 20 => ErrorKind::Data,                 // too big, mismatch
        2 | 11 => ErrorKind::Internal,              // internal, corrupt
        _ => ErrorKind::Operational, // busy, locked, I/O, read-only, cannot open, ...
    }
}

/// Whether an error with this SQLSTATE means the connection is gone.
pub(crate) fn is_connection_lost(sqlstate: &str) -> bool {
    sqlstate.starts_with("08") || matches!(sqlstate, "57P01" | "57P02" | "57P03" | "HYT01")
}

/// Whether this is the driver manager's message for a driver library it cannot load
/// (unixODBC: `[unixODBC][Driver Manager]Can't open lib 'X' : file not found`, SQLSTATE 01000).
pub(crate) fn is_missing_driver(message: &str) -> bool {
    message.contains("[Driver Manager]") && message.contains("Can't open lib")
}

/// The parts of an ODBC diagnostic record.
pub(crate) struct Diagnostic {
    pub(crate) sqlstate: String,
    pub(crate) native: i32,
    pub(crate) message: String,
    pub(crate) function: &'static str,
}

/// The diagnostic record of an ODBC error, when it has one.
pub(crate) fn diagnostic(e: &odbc_api::Error) -> Option<Diagnostic> {
    use odbc_api::Error as E;
    let (record, function) = match e {
        E::Diagnostics { record, function } => (record, *function),
        E::UnableToRepresentNull(record) | E::OracleOdbcDriverDoesNotSupport64Bit(record) => {
            (record, "SQLFetch")
        }
        E::UnsupportedOdbcApiVersion(record) => (record, "SQLSetEnvAttr"),
        E::InvalidRowArraySize { record, .. } => (record, "SQLSetStmtAttr"),
        _ => return None,
    };
    // One line: the PostgreSQL driver joins its messages with ";\n".
    let message = String::from_utf8_lossy(&record.message)
        .trim()
        .trim_end_matches(';')
        .replace(";\n", "; ")
        .replace('\n', " ");
    Some(Diagnostic {
        sqlstate: record.state.as_str().to_owned(),
        native: record.native_error,
        message,
        function,
    })
}

/// Which rule an integrity error broke: the driver's SQLSTATE (PostgreSQL's driver passes the
/// server's on), or, from the SQLite driver (which says `HY000` and SQLite's primary code),
/// SQLite's own message, with the name it gives.
fn with_violation(error: DatabaseError, d: &Diagnostic) -> DatabaseError {
    if let Some(sqlite) = d.message.strip_prefix("[SQLite]") {
        let (violation, name) = sqlite_violation(sqlite).unwrap_or((Violation::Other, None));
        let error = error.with_violation(violation);
        return match name {
            Some(name) => error.with_constraint(without_code(name)),
            None => error,
        };
    }
    error.with_violation(Violation::of_sqlstate(&d.sqlstate).unwrap_or(Violation::Other))
}

/// `name` without the ` (19)` (SQLite's primary code) the SQLite driver appends.
fn without_code(name: &str) -> &str {
    match name.rsplit_once(" (") {
        Some((name, code))
            if code
                .strip_suffix(')')
                .is_some_and(|c| c.parse::<u32>().is_ok()) =>
        {
            name
        }
        _ => name,
    }
}

/// Map an ODBC error to nimue's hierarchy.
pub(crate) fn map_err(e: odbc_api::Error) -> Error {
    use odbc_api::Error as E;
    if let Some(d) = diagnostic(&e) {
        let kind = if d.sqlstate == "HY000" && d.message.starts_with("[SQLite]") {
            sqlite_code_kind(d.native)
        } else if is_missing_driver(&d.message) {
            ErrorKind::Interface
        } else {
            sqlstate_kind(&d.sqlstate)
        };
        if kind == ErrorKind::Interface {
            let message = format!("{} (SQLSTATE {}, {})", d.message, d.sqlstate, d.function);
            return Error::interface_from(message, e);
        }
        let mut error = DatabaseError::new(kind, &d.message);
        if kind == ErrorKind::Integrity {
            error = with_violation(error, &d);
        }
        return error
            .with_sqlstate(d.sqlstate)
            .with_code(i64::from(d.native))
            .with_driver_error(e)
            .into();
    }
    let kind = match &e {
        E::FailedAllocatingEnvironment | E::FailedSettingConnectionPooling => {
            let message = format!(
                "the ODBC driver manager (libodbc) could not set up an environment: {e}; \
                 install unixODBC (Debian/Ubuntu: `apt-get install unixodbc`)"
            );
            return Error::interface_from(message, e);
        }
        E::AbortedConnectionStringCompletion | E::FailedReadingInput(_) => {
            return Error::interface_from(e.to_string(), e)
        }
        E::TooLargeValueForBuffer { .. } => ErrorKind::Data,
        E::TooLargeColumnBufferSize { .. } => ErrorKind::Operational,
        _ => ErrorKind::Database,
    };
    DatabaseError::new(kind, e.to_string())
        .with_driver_error(e)
        .into()
}

#[cfg(test)]
mod tests {
    use super::{is_connection_lost, sqlite_code_kind, sqlstate_kind, without_code};

    #[test]
    fn the_sqlite_drivers_code_is_not_part_of_a_name() {
        assert_eq!(without_code("t.col2 (19)"), "t.col2");
        assert_eq!(without_code("t.col2"), "t.col2");
        assert_eq!(without_code("odd (name)"), "odd (name)");
    }
    use nimue_core::ErrorKind;

    #[test]
    fn sqlstates_map_to_pep249_classes() {
        assert_eq!(sqlstate_kind("23505"), ErrorKind::Integrity);
        assert_eq!(sqlstate_kind("23000"), ErrorKind::Integrity);
        assert_eq!(sqlstate_kind("42601"), ErrorKind::Programming);
        assert_eq!(sqlstate_kind("42S02"), ErrorKind::Programming);
        assert_eq!(sqlstate_kind("08001"), ErrorKind::Operational);
        assert_eq!(sqlstate_kind("08S01"), ErrorKind::Operational);
        assert_eq!(sqlstate_kind("28P01"), ErrorKind::Operational);
        assert_eq!(sqlstate_kind("22003"), ErrorKind::Data);
        assert_eq!(sqlstate_kind("0A000"), ErrorKind::NotSupported);
        assert_eq!(sqlstate_kind("HYC00"), ErrorKind::NotSupported);
        assert_eq!(sqlstate_kind("IM001"), ErrorKind::NotSupported);
        assert_eq!(sqlstate_kind("IM002"), ErrorKind::Interface);
        assert_eq!(sqlstate_kind("IM003"), ErrorKind::Interface);
        assert_eq!(sqlstate_kind("HYT00"), ErrorKind::Operational);
        assert_eq!(sqlstate_kind("07002"), ErrorKind::Programming);
        assert_eq!(sqlstate_kind("40001"), ErrorKind::Operational);
        assert_eq!(sqlstate_kind("XX000"), ErrorKind::Internal);
        assert_eq!(sqlstate_kind("HY000"), ErrorKind::Database);
        assert_eq!(sqlstate_kind(""), ErrorKind::Database);
    }

    #[test]
    fn sqlite_codes_map_like_the_sqlite_adapter() {
        assert_eq!(sqlite_code_kind(1), ErrorKind::Programming);
        assert_eq!(sqlite_code_kind(19), ErrorKind::Integrity);
        assert_eq!(sqlite_code_kind(2067), ErrorKind::Integrity); // SQLITE_CONSTRAINT_UNIQUE
        assert_eq!(sqlite_code_kind(5), ErrorKind::Operational);
        assert_eq!(sqlite_code_kind(14), ErrorKind::Operational);
        assert_eq!(sqlite_code_kind(18), ErrorKind::Data);
        assert_eq!(sqlite_code_kind(11), ErrorKind::Internal);
    }

    #[test]
    fn connection_exceptions_mark_the_connection_lost() {
        assert!(is_connection_lost("08S01"));
        assert!(is_connection_lost("57P01"));
        assert!(!is_connection_lost("42601"));
    }
}
