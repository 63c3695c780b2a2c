//! nimue behind PgBouncer in transaction pooling mode (`NIMUE_TEST_PGBOUNCER_URL`, started
//! by scripts/test.sh). The conformance suite through it is `conformance_pgbouncer.rs`, the
//! soak `soak.rs`.

#![cfg(feature = "postgres")]

mod common;

use nimue::postgres::{PgConnector, Statements};
use nimue::{Connect, Connection, ErrorKind};

/// The statement cache (the default) behind a transaction pooler: once a transaction lands
/// on another server connection, the server does not know the cached statement. That is an
/// OperationalError that names the fix; with `statements=unnamed` the same sequence works.
#[test]
fn the_statement_cache_behind_a_transaction_pooler_says_what_to_do() {
    let Some(url) = common::server_env("NIMUE_TEST_PGBOUNCER_URL") else {
        return;
    };
    let run = |statements: Statements| -> nimue::Result<()> {
        let connector = PgConnector::from_url(&url)?.statements(statements);
        let mut a = connector.connect()?;
        let mut b = connector.connect()?;
        // A prepares (and caches) its statement on the server connection of its transaction.
        a.query("SELECT 1::int8 AS one", &[])?;
        a.commit()?;
        // B's open transaction takes that server connection (PgBouncer reuses the last one
        // released), so A's next transaction runs on another.
        b.query("SELECT 2::int8", &[])?;
        let outcome = a.query("SELECT 1::int8 AS one", &[]).map(drop);
        b.rollback()?;
        a.rollback()?;
        outcome
    };
    let err = run(Statements::Cached).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Operational, "{err}");
    assert_eq!(err.sqlstate(), Some("26000"), "{err}");
    assert!(err.to_string().contains("statements=unnamed"), "{err}");
    run(Statements::Unnamed).unwrap();
}
