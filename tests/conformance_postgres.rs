//! The conformance suite on a real PostgreSQL server (`NIMUE_TEST_POSTGRES_URL`, started by
//! scripts/test.sh).

#![cfg(feature = "postgres")]

mod common;
mod conformance;

use conformance::{conformance_tests, native_async_tests, Target, POSTGRES};
use nimue::postgres::PgConnector;

fn postgres() -> Option<Target<PgConnector>> {
    let url = common::server_env("NIMUE_TEST_POSTGRES_URL")?;
    Some(Target {
        connector: PgConnector::from_url(&url).expect("a valid URL"),
        dialect: POSTGRES,
        _keep: Box::new(()),
    })
}

conformance_tests!(postgres());

// The async cases on native connections (the socket driven by the awaiting task).
native_async_tests!(postgres(), |t: &Target<PgConnector>| t.connector.clone());
