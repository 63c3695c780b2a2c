//! The conformance suite on SQLite (embedded: always runs).

#![cfg(feature = "sqlite")]

mod common;
mod conformance;

use conformance::{conformance_tests, Dialect, Target};
use nimue::sqlite::SqliteConnector;
use nimue::Violation;

const SQLITE: Dialect = Dialect {
    name: "sqlite",
    int: "INTEGER",
    float: "REAL",
    // TEXT affinity, read as Decimal (plain DECIMAL rounds to 8-byte floats: nimue-sqlite docs).
    decimal: "DECIMAL TEXT",
    text: "TEXT",
    bytes: "BLOB",
    boolean: "BOOLEAN",
    date: "DATE",
    time: "TIME",
    timestamp: "TIMESTAMP",
    serial: "INTEGER PRIMARY KEY",
    has_lastrowid: true,
    not_supported: &[],
    rejects: &[],
    // SQLite names the columns of a unique or NOT NULL constraint and a CHECK's name; not a
    // foreign key's.
    constraint_names: &[Violation::Unique, Violation::NotNull, Violation::Check],
};

/// A fresh database file per case, removed with its temp dir.
fn sqlite() -> Option<Target<SqliteConnector>> {
    let dir = tempfile::tempdir().expect("temp dir");
    Some(Target {
        connector: SqliteConnector::new(dir.path().join("conformance.db")),
        dialect: SQLITE,
        _keep: Box::new(dir),
    })
}

conformance_tests!(sqlite());

/// The same suite through the run-time driver choice (`nimue::any`, `BoxConnection`).
mod via_any_url {
    use super::{Target, SQLITE};

    fn sqlite_any() -> Option<Target<nimue::BoxConnector>> {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite:{}", dir.path().join("any.db").display());
        Some(Target {
            connector: nimue::any::connector(&url).expect("an sqlite URL"),
            dialect: SQLITE,
            _keep: Box::new(dir),
        })
    }

    super::conformance_tests!(sqlite_any());
}
