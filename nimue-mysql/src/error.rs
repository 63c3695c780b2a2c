//! MySQL/MariaDB errors mapped onto PEP 249's hierarchy.

use nimue_core::{DatabaseError, Error, ErrorKind, Violation};

/// The PEP 249 class of a server error code (as MySQLdb/PyMySQL map them), falling back to the
/// SQLSTATE class.
pub(crate) fn code_kind(code: u16, sqlstate: &str) -> ErrorKind {
    match code {
        // Duplicate key, foreign keys, NOT NULL, CHECK constraints.
        1022 | 1048 | 1052 | 1062 | 1169 | 1216 | 1217 | 1451 | 1452 | 1557 | 1586 | 3819
        | 4025 => ErrorKind::Integrity,
        // Syntax, unknown table/column/function, wrong statement arguments.
        1054 | 1064 | 1059 | 1060 | 1061 | 1063 | 1091 | 1110 | 1146 | 1149 | 1050 | 1051
        | 1210 | 1305 | 1630 => ErrorKind::Programming,
        // Out of range, truncated, bad value, too long, division by zero.
        1264 | 1265 | 1292 | 1365 | 1366 | 1367 | 1406 | 1411 | 1416 | 1690 => ErrorKind::Data,
        // Access denied, unknown database, too many connections, gone away, lost, killed,
        // shutdown, lock wait timeout, deadlock, interrupted.
        1040 | 1044 | 1045 | 1049 | 1053 | 1152 | 1153 | 1154 | 1155 | 1156 | 1157 | 1158
        | 1159 | 1160 | 1161 | 1205 | 1213 | 1317 | 1927 | 2002 | 2003 | 2006 | 2013 | 4031 => {
            ErrorKind::Operational
        }
        // A statement over its time limit: MariaDB's max_statement_time, MySQL's
        // max_execution_time.
        1969 | 3024 => ErrorKind::Operational,
        1235 | 1289 => ErrorKind::NotSupported,
        _ => match sqlstate.get(..2).unwrap_or("") {
            "23" => ErrorKind::Integrity,
            "42" => ErrorKind::Programming,
            "22" => ErrorKind::Data,
            "08" | "40" | "28" => ErrorKind::Operational,
            "0A" => ErrorKind::NotSupported,
            "XA" => ErrorKind::Internal,
            _ => ErrorKind::Database,
        },
    }
}

/// Which rule an integrity error broke, from its error number, and the constraint's (for
/// NOT NULL, the column's) name, which the server gives only in its message:
/// `Duplicate entry 'a' for key 'users_email'` (MySQL 8: `'users.users_email'`),
/// `... CONSTRAINT `fk` FOREIGN KEY ...`, `Column 'name' cannot be null`,
/// `Check constraint 'positive' is violated.`, MariaDB's `CONSTRAINT `positive` failed for ...`.
pub(crate) fn violation(code: u16, message: &str) -> (Violation, Option<String>) {
    /// The text between `open` (after its first occurrence) and the next `close`.
    fn between<'m>(message: &'m str, open: &str, close: char) -> Option<&'m str> {
        let start = message.find(open)? + open.len();
        let len = message[start..].find(close)?;
        Some(&message[start..start + len])
    }
    let (violation, name) = match code {
        1062 | 1022 | 1169 | 1586 => (Violation::Unique, between(message, "for key '", '\'')),
        1451 | 1452 | 1216 | 1217 => (Violation::ForeignKey, between(message, "CONSTRAINT `", '`')),
        1048 => (Violation::NotNull, between(message, "Column '", '\'')),
        3819 => (Violation::Check, between(message, "constraint '", '\'')),
        4025 => (Violation::Check, between(message, "CONSTRAINT `", '`')),
        _ => (Violation::Other, None),
    };
    (violation, name.map(str::to_owned))
}

/// Whether the connection is gone after this error (I/O, protocol, or a server code that
/// means the session ended).
pub(crate) fn is_gone(e: &mysql::Error) -> bool {
    match e {
        mysql::Error::MySqlError(server) => matches!(server.code, 1053 | 1927 | 2006 | 2013 | 4031),
        other => other.is_connectivity_error(),
    }
}

/// Whether a read or write on the socket ran out of time (the read/write timeouts).
fn timed_out(e: &mysql::Error) -> bool {
    let io = match e {
        mysql::Error::IoError(io) => Some(io),
        mysql::Error::CodecError(codec) => {
            std::error::Error::source(codec).and_then(|s| s.downcast_ref::<std::io::Error>())
        }
        _ => None,
    };
    io.is_some_and(|io| {
        matches!(
            io.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )
    })
}

/// The driver's words for `e`, without the `Kind { .. }` wrapper the `mysql` crate's
/// `Display` puts around them.
pub(crate) fn driver_text(e: &mysql::Error) -> String {
    use mysql::Error as E;
    match e {
        E::IoError(io) => io.to_string(),
        E::CodecError(codec) => codec.to_string(),
        E::MySqlError(server) => server.message.clone(),
        E::DriverError(driver) => driver.to_string(),
        E::UrlError(url) => url_text(url),
        other => other.to_string(),
    }
}

/// A URL error in words, with the MySQL name of a parameter given by its libpq name.
fn url_text(e: &mysql::UrlError) -> String {
    let hint = match e {
        mysql::UrlError::UnknownParameter(name) => match name.as_str() {
            "sslmode" => {
                " (MySQL's parameter is `ssl-mode`: DISABLED, PREFERRED, REQUIRED, \
                          VERIFY_CA or VERIFY_IDENTITY)"
            }
            "sslrootcert" => " (MySQL's parameter is `ssl-ca`)",
            "connect_timeout" => " (MySQL's parameter is `tcp_connect_timeout_ms`)",
            "dbname" | "database" => " (the database is the URL's path: mysql://user@host/db)",
            "user" | "password" => {
                " (the user and password go before the host: mysql://user:password@host/db)"
            }
            _ => "",
        },
        _ => "",
    };
    format!("{e}{hint}")
}

/// Map a driver error to nimue's hierarchy.
pub(crate) fn map_err(e: mysql::Error) -> Error {
    use mysql::{DriverError as D, Error as E};
    let kind = match &e {
        E::MySqlError(server) => {
            let kind = code_kind(server.code, &server.state);
            let message = server.message.clone();
            let (code, state) = (i64::from(server.code), server.state.clone());
            let mut error = DatabaseError::new(kind, message);
            if kind == ErrorKind::Integrity {
                let (violation, name) = violation(server.code, &server.message);
                error = error.with_violation(violation);
                if let Some(name) = name {
                    error = error.with_constraint(name);
                }
            }
            return error
                .with_code(code)
                .with_sqlstate(state)
                .with_driver_error(e)
                .into();
        }
        E::UrlError(_) => {
            return Error::interface_from(format!("invalid MySQL URL: {}", driver_text(&e)), e)
        }
        _ if timed_out(&e) => {
            let message = "no answer from the MySQL server within its read/write timeout (the \
                           statement timeout and a second): the connection is given up";
            return DatabaseError::new(ErrorKind::Operational, message)
                .with_driver_error(e)
                .into();
        }
        E::DriverError(D::MismatchedStmtParams(..) | D::MixedParams | D::Params(_)) => {
            ErrorKind::Programming
        }
        E::DriverError(D::ReadOnlyTransNotSupported | D::TlsNotSupported) => {
            ErrorKind::NotSupported
        }
        E::FromValueError(_) | E::FromRowError(_) => ErrorKind::Data,
        // I/O, protocol, timeouts, TLS, authentication plugins: the connection failed.
        _ => ErrorKind::Operational,
    };
    DatabaseError::new(kind, driver_text(&e))
        .with_driver_error(e)
        .into()
}

#[cfg(test)]
mod tests {
    use super::{code_kind, violation};
    use nimue_core::{ErrorKind, Violation};

    #[test]
    fn violations_and_names_come_from_mysql_and_mariadb_messages() {
        let cases = [
            (1062, "Duplicate entry 'a' for key 'users.users_email'", Violation::Unique, Some("users.users_email")),
            (1062, "Duplicate entry 'a' for key 'PRIMARY'", Violation::Unique, Some("PRIMARY")),
            (1452, "Cannot add or update a child row: a foreign key constraint fails (`db`.`c`, CONSTRAINT `c_fk` FOREIGN KEY (`p`) REFERENCES `p` (`id`))", Violation::ForeignKey, Some("c_fk")),
            (1048, "Column 'label' cannot be null", Violation::NotNull, Some("label")),
            (3819, "Check constraint 'n_check' is violated.", Violation::Check, Some("n_check")),
            (4025, "CONSTRAINT `n_check` failed for `db`.`t`", Violation::Check, Some("n_check")),
            (1557, "Upholding foreign key constraints for table 't' failed", Violation::Other, None),
        ];
        for (code, message, want, name) in cases {
            let (got, got_name) = violation(code, message);
            assert_eq!((got, got_name.as_deref()), (want, name), "{message}");
        }
    }

    #[test]
    fn codes_map_to_pep249_classes() {
        assert_eq!(code_kind(1062, "23000"), ErrorKind::Integrity);
        assert_eq!(code_kind(1064, "42000"), ErrorKind::Programming);
        assert_eq!(code_kind(1146, "42S02"), ErrorKind::Programming);
        assert_eq!(code_kind(2006, "HY000"), ErrorKind::Operational);
        assert_eq!(code_kind(2013, "HY000"), ErrorKind::Operational);
        assert_eq!(code_kind(1264, "22003"), ErrorKind::Data);
        assert_eq!(code_kind(9999, "23000"), ErrorKind::Integrity);
        assert_eq!(code_kind(9999, "HY000"), ErrorKind::Database);
        assert_eq!(code_kind(1969, "70100"), ErrorKind::Operational);
    }
}
