//! `PoolState` serializes (feature `serde`), for a health endpoint or a metrics exporter.

#![cfg(all(feature = "serde", feature = "sqlite"))]

use nimue::Pool;

#[test]
fn pool_state_serializes_with_every_number() {
    let dir = tempfile::tempdir().unwrap();
    let pool = Pool::builder(nimue::sqlite::SqliteConnector::new(dir.path().join("s.db")))
        .name("serde")
        .min_idle(1)
        .max_size(3)
        .build()
        .unwrap();
    let _held = pool.get().unwrap();
    let json = serde_json::to_value(pool.state()).unwrap();
    assert_eq!(json["in_use"], 1);
    assert_eq!(json["max_size"], 3);
    assert_eq!(json["is_closed"], false);
    // Durations are milliseconds, as numbers.
    assert_eq!(json["wait_time_ms"], 0.0, "{json}");
    assert!(json.get("wait_time").is_none(), "{json}");
    assert_eq!(json["last_connect_error"], serde_json::Value::Null);
}
