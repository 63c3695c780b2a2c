//! The conformance suite through PgBouncer in transaction pooling mode
//! (`NIMUE_TEST_PGBOUNCER_URL`, in front of the test PostgreSQL server, started by
//! scripts/test.sh), with `statements=unnamed`: the tests run in parallel, so consecutive
//! transactions of one client land on different server connections.

#![cfg(feature = "postgres")]

mod common;
mod conformance;

use conformance::{conformance_tests, native_async_tests, BadInput, Dialect, Target, POSTGRES};
use nimue::postgres::PgConnector;
use nimue::ErrorKind;

const PGBOUNCER: Dialect = Dialect {
    name: "pgbouncer",
    rejects: &[
        (BadInput::TextForInt, ErrorKind::Data),
        // An unnamed statement's bytes parameter is bytea: the server's type mismatch.
        (BadInput::BytesForInt, ErrorKind::Programming),
    ],
    ..POSTGRES
};

fn pgbouncer() -> Option<Target<PgConnector>> {
    let url = common::server_env("NIMUE_TEST_PGBOUNCER_URL")?;
    Some(Target {
        connector: PgConnector::from_url(&format!("{url}?statements=unnamed"))
            .expect("a valid URL"),
        dialect: PGBOUNCER,
        _keep: Box::new(()),
    })
}

conformance_tests!(pgbouncer());

// The async cases on native connections (the socket driven by the awaiting task).
native_async_tests!(pgbouncer(), |t: &Target<PgConnector>| t.connector.clone());
