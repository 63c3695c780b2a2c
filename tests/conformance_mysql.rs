//! The conformance suite on a real MariaDB server (`NIMUE_TEST_MYSQL_URL`, started by
//! scripts/test.sh).

#![cfg(feature = "mysql")]

mod common;
mod conformance;

use conformance::{conformance_tests, BadInput, Dialect, Target};

use nimue::mysql::MySqlConnector;
use nimue::ErrorKind;

const MYSQL: Dialect = Dialect {
    name: "mysql",
    int: "BIGINT",
    float: "DOUBLE",
    decimal: "DECIMAL(57, 28)",
    text: "LONGTEXT",
    bytes: "LONGBLOB",
    boolean: "BOOLEAN",
    date: "DATE",
    time: "TIME(6)",
    timestamp: "DATETIME(6)",
    serial: "BIGINT AUTO_INCREMENT PRIMARY KEY",
    has_lastrowid: true,
    not_supported: &[],
    rejects: &[
        (BadInput::TextForInt, ErrorKind::Data),
        (BadInput::BytesForInt, ErrorKind::Data),
        // The driver sends NaN as a double the server cannot store in a text column.
        (BadInput::NanForText, ErrorKind::Data),
        // Beyond max_allowed_packet (16 MiB): the server drops the connection.
        (BadInput::HugeBlob, ErrorKind::Operational),
    ],
    constraint_names: conformance::POSTGRES.constraint_names,
};

fn mysql() -> Option<Target<MySqlConnector>> {
    let url = common::server_env("NIMUE_TEST_MYSQL_URL")?;
    Some(Target {
        connector: MySqlConnector::from_url(&url).expect("a valid URL"),
        dialect: MYSQL,
        _keep: Box::new(()),
    })
}

conformance_tests!(mysql());
