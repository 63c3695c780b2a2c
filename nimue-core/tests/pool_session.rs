//! The session a returned connection goes back to: what `on_connect` (or the pool's
//! `autocommit` setting) set up, on every checkout, not only the first.

mod support;

use nimue_core::testing::TestConnector;
use nimue_core::Connection;
use support::builder;

#[test]
fn autocommit_turned_on_by_on_connect_holds_on_every_checkout() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 1, 1)
        .on_connect(|conn| conn.set_autocommit(true))
        .build()
        .unwrap();
    for checkout in 0..3 {
        let mut conn = pool.get().unwrap();
        assert!(conn.autocommit(), "checkout {checkout}");
        conn.execute("INSERT INTO t VALUES (1)", &[]).unwrap();
        assert!(
            !conn.in_transaction(),
            "autocommit: nothing left to roll back"
        );
    }
    assert_eq!(pool.state().created, 1, "the same connection each time");
}

#[test]
fn the_pool_setting_turns_autocommit_on_for_every_checkout() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 1, 1).autocommit(true).build().unwrap();
    for checkout in 0..3 {
        assert!(pool.get().unwrap().autocommit(), "checkout {checkout}");
    }
}

#[test]
fn on_connect_runs_after_the_pool_setting_and_wins() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 1, 1)
        .autocommit(true)
        .on_connect(|conn| conn.set_autocommit(false))
        .build()
        .unwrap();
    for checkout in 0..2 {
        assert!(!pool.get().unwrap().autocommit(), "checkout {checkout}");
    }
}

#[test]
fn a_user_who_changes_autocommit_does_not_change_it_for_the_next() {
    let connector = TestConnector::new();
    let pool = builder(&connector, 1, 1).build().unwrap();
    let mut conn = pool.get().unwrap();
    assert!(!conn.autocommit(), "PEP 249's default");
    conn.set_autocommit(true).unwrap();
    drop(conn);
    assert!(!pool.get().unwrap().autocommit());

    let pool = builder(&connector, 1, 1).autocommit(true).build().unwrap();
    let mut conn = pool.get().unwrap();
    conn.set_autocommit(false).unwrap();
    conn.execute("INSERT INTO t VALUES (1)", &[]).unwrap();
    drop(conn); // rolled back, then autocommit restored
    let conn = pool.get().unwrap();
    assert!(conn.autocommit() && !conn.in_transaction());
}
