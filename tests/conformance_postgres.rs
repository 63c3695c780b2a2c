//! The conformance suite on a real PostgreSQL server (`NIMUE_TEST_POSTGRES_URL`, started by
//! scripts/test.sh).

#![cfg(feature = "postgres")]

mod common;
mod conformance;

use conformance::{conformance_tests, BadInput, Case, Dialect, Target};
use nimue::postgres::PgConnector;
use nimue::ErrorKind;

const POSTGRES: Dialect = Dialect {
    name: "postgres",
    int: "BIGINT",
    float: "DOUBLE PRECISION",
    decimal: "NUMERIC(57, 28)",
    text: "TEXT",
    bytes: "BYTEA",
    boolean: "BOOLEAN",
    date: "DATE",
    time: "TIME",
    timestamp: "TIMESTAMP",
    serial: "BIGSERIAL PRIMARY KEY",
    has_lastrowid: false,
    // PostgreSQL's text types cannot hold a NUL byte.
    not_supported: &[Case::NulInText],
    rejects: &[
        (BadInput::TextForInt, ErrorKind::Data),
        (BadInput::BytesForInt, ErrorKind::Data),
    ],
};

fn postgres() -> Option<Target<PgConnector>> {
    let url = common::server_env("NIMUE_TEST_POSTGRES_URL")?;
    Some(Target {
        connector: PgConnector::from_url(&url).expect("a valid URL"),
        dialect: POSTGRES,
        _keep: Box::new(()),
    })
}

conformance_tests!(postgres());
