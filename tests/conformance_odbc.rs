//! The conformance suite through ODBC (unixODBC), on two drivers: PostgreSQL's (against the
//! server in `NIMUE_TEST_POSTGRES_URL`, connection string `NIMUE_TEST_ODBC_POSTGRES`) and
//! SQLite's (`NIMUE_TEST_ODBC_SQLITE`, pointed at a fresh database file per case). Both are set
//! up by scripts/test.sh (scripts/lib/odbc.sh).

#![cfg(feature = "odbc")]

mod common;
mod conformance;

use conformance::{conformance_tests, BadInput, Case, Dialect, Target};
use nimue::odbc::OdbcConnector;
use nimue::ErrorKind;

/// `connection_string` with the value of `key` (case-insensitive) replaced by `value`, or the
/// pair appended when the key is absent.
fn with_attribute(connection_string: &str, key: &str, value: &str) -> String {
    let mut pairs: Vec<String> = connection_string
        .split(';')
        .filter(|pair| !pair.trim().is_empty())
        .filter(|pair| {
            let name = pair.split('=').next().unwrap_or("").trim();
            !name.eq_ignore_ascii_case(key)
        })
        .map(str::to_owned)
        .collect();
    // Braces only where needed: the SQLite driver takes a braced Database value literally.
    pairs.push(format!(
        "{key}={}",
        nimue::odbc::odbc_api::escape_attribute_value(value)
    ));
    pairs.join(";") + ";"
}

/// PostgreSQL through the PostgreSQL Unicode driver.
mod postgres {
    use super::*;
    use nimue::{Connect, Connection};
    use std::sync::Once;

    /// PostgreSQL's types; the driver adds a refusal of its own. (Text with a NUL byte is
    /// refused as natively: the driver would cut it, nimue-odbc refuses it.)
    const ODBC_POSTGRES: Dialect = Dialect {
        name: "odbc-postgres",
        rejects: &[
            (BadInput::TextForInt, ErrorKind::Data),
            // The driver sends the bytes in a message the server rejects as malformed (08P01).
            (BadInput::BytesForInt, ErrorKind::Operational),
        ],
        // The driver's diagnostics carry the SQLSTATE, not the constraint's name.
        constraint_names: &[],
        ..conformance::POSTGRES
    };

    /// The suite's tables live in a schema of their own, so this binary never shares a table
    /// with the native PostgreSQL suite on the same server.
    const SCHEMA: &str = "nimue_odbc_conformance";

    fn postgres() -> Option<Target<OdbcConnector>> {
        let base = common::server_env("NIMUE_TEST_ODBC_POSTGRES")?;
        static SCHEMA_CREATED: Once = Once::new();
        SCHEMA_CREATED.call_once(|| {
            let mut conn = OdbcConnector::new(base.clone()).connect().expect("connect");
            conn.execute(&format!("CREATE SCHEMA IF NOT EXISTS {SCHEMA}"), &[])
                .expect("create schema");
            conn.commit().expect("commit");
        });
        let settings = format!("SET search_path TO {SCHEMA}");
        Some(Target {
            connector: OdbcConnector::new(with_attribute(&base, "ConnSettings", &settings)),
            dialect: ODBC_POSTGRES,
            _keep: Box::new(()),
        })
    }

    conformance_tests!(postgres());
}

/// SQLite through the SQLite3 driver, on a fresh database file per case.
mod sqlite {
    use super::*;

    const ODBC_SQLITE: Dialect = Dialect {
        name: "odbc-sqlite",
        // The driver reports INTEGER as a 32-bit SQL_INTEGER; BIGINT as SQL_BIGINT.
        int: "BIGINT",
        float: "DOUBLE",
        // TEXT affinity (a plain DECIMAL column rounds to 8-byte floats), reported as
        // VARCHAR with a type name starting with DECIMAL: read as Decimal.
        decimal: "DECIMAL TEXT",
        text: "TEXT",
        bytes: "BLOB",
        boolean: "BOOLEAN",
        date: "DATE",
        time: "TIME",
        timestamp: "TIMESTAMP",
        serial: "INTEGER PRIMARY KEY",
        has_lastrowid: false,
        // The driver would cut text at a NUL byte; nimue-odbc refuses it.
        not_supported: &[Case::NulInText],
        rejects: &[],
        // SQLite's own message, which the driver passes on, names them as natively.
        constraint_names: &[
            nimue::Violation::Unique,
            nimue::Violation::NotNull,
            nimue::Violation::Check,
        ],
    };

    fn sqlite() -> Option<Target<OdbcConnector>> {
        let base = common::server_env("NIMUE_TEST_ODBC_SQLITE")?;
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("conformance.db");
        let connection_string = with_attribute(&base, "Database", &file.display().to_string());
        // Foreign keys are enforced only when asked (the driver's default is off).
        let connection_string = with_attribute(&connection_string, "FKSupport", "1");
        Some(Target {
            connector: OdbcConnector::new(connection_string),
            dialect: ODBC_SQLITE,
            _keep: Box::new(dir),
        })
    }

    conformance_tests!(sqlite());
}
