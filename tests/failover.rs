//! Primary failover behind a multi-host URL: a primary with a synchronous streaming standby
//! (`scripts/pg-pair`, its own pair of servers), the primary stopped under write load and the
//! standby promoted.

#![cfg(feature = "postgres")]

mod common;

use nimue::postgres::PgConnector;
use nimue::PoolHooks;
use nimue::{params, Connect, Connection, ErrorKind, Pool};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

#[test]
fn a_standby_promoted_under_load_takes_the_writes_and_loses_no_commit() {
    let Some(matrix) = common::server_env("NIMUE_TEST_POSTGRES_URL") else {
        return;
    };
    let password = common::UrlParts::parse(&matrix).password;
    let pair = common::ScriptServers::start("pg-pair", &[]);
    let (primary, standby_port) = (pair.value("PRIMARY_PORT"), pair.value("STANDBY_PORT"));
    let url_of = |ports: &str, attrs: &str| {
        format!("postgres://nimue:{password}@{ports}/nimue?connect_timeout=2{attrs}")
    };
    let both = format!("127.0.0.1:{primary},127.0.0.1:{standby_port}");
    let writable = url_of(&both, "&target_session_attrs=read-write");
    let standby = url_of(&format!("127.0.0.1:{standby_port}"), "");

    let mut setup = PgConnector::from_url(&writable).unwrap().connect().unwrap();
    setup
        .execute("CREATE TABLE failover (id BIGINT PRIMARY KEY)", &[])
        .unwrap();
    setup.commit().unwrap();
    drop(setup);

    // A write on the standby (read-only): an OperationalError, and the connection is
    // marked for replacement.
    let mut on_standby = PgConnector::from_url(&standby).unwrap().connect().unwrap();
    let err = on_standby
        .execute("INSERT INTO failover VALUES (-1)", &[])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Operational, "{err}");
    assert_eq!(err.sqlstate(), Some("25006"), "{err}");
    assert!(on_standby.is_broken(), "replaced by the pool");
    drop(on_standby);

    // Replicas by URL: read-only sessions go to the standby.
    let replicas = url_of(&both, "&target_session_attrs=read-only");
    let mut replica = PgConnector::from_url(&replicas).unwrap().connect().unwrap();
    let row = replica
        .query_row("SELECT pg_is_in_recovery()", &[])
        .unwrap()
        .unwrap();
    assert!(
        row.get::<bool>(0).unwrap(),
        "a read-only session is on the standby"
    );
    drop(replica);

    let check = Duration::from_secs(2);
    let pool = Arc::new(
        Pool::builder(PgConnector::from_url(&writable).unwrap())
            .min_idle(2)
            .max_size(4)
            .connection_timeout(Duration::from_secs(1))
            .check_interval(check)
            .build()
            .unwrap(),
    );
    let next = Arc::new(AtomicI64::new(0));
    let committed = Arc::new(Mutex::new(Vec::<(i64, Instant)>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let (pool, next, committed, stop) = (
                Arc::clone(&pool),
                Arc::clone(&next),
                Arc::clone(&committed),
                Arc::clone(&stop),
            );
            thread::spawn(move || {
                let mut errors = Vec::new();
                for _ in 0..100_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let id = next.fetch_add(1, Ordering::Relaxed);
                    let outcome = pool.get().and_then(|mut conn| {
                        conn.execute("INSERT INTO failover VALUES (?)", &params![id])?;
                        conn.commit()
                    });
                    match outcome {
                        Ok(()) => committed.lock().unwrap().push((id, Instant::now())),
                        Err(e) => {
                            errors.push(e.kind());
                            thread::sleep(Duration::from_millis(20));
                        }
                    }
                }
                errors
            })
        })
        .collect();

    thread::sleep(Duration::from_millis(500));
    let before = committed.lock().unwrap().len();
    assert!(before > 0, "writes went to the primary");
    pair.run("stop-primary");
    thread::sleep(Duration::from_millis(500));
    pair.run("promote");
    let promoted = Instant::now();
    // Bounded wait for the first write on the new primary.
    let first_after = loop {
        let after = committed
            .lock()
            .unwrap()
            .iter()
            .find(|(_, at)| *at > promoted)
            .map(|(_, at)| *at);
        if let Some(at) = after {
            break at;
        }
        assert!(
            promoted.elapsed() < Duration::from_secs(30),
            "no write succeeded after the promotion"
        );
        thread::sleep(Duration::from_millis(10));
    };
    thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let mut kinds = BTreeSet::new();
    for writer in writers {
        kinds.extend(writer.join().unwrap().into_iter().map(|k| format!("{k:?}")));
    }
    pool.close();

    let served_after = first_after - promoted;
    eprintln!("failover: first write on the new primary {served_after:?} after the promotion; errors meanwhile: {kinds:?}");
    assert!(
        served_after <= 2 * check,
        "writes served {served_after:?} after the promotion (check interval {check:?})"
    );
    // Every commit the clients saw is on the new primary.
    let mut new_primary = PgConnector::from_url(&standby).unwrap().connect().unwrap();
    let rows = new_primary.query("SELECT id FROM failover", &[]).unwrap();
    let there: BTreeSet<i64> = rows.iter().map(|r| r.get(0).unwrap()).collect();
    let seen = committed.lock().unwrap();
    let lost: Vec<i64> = seen
        .iter()
        .map(|(id, _)| *id)
        .filter(|id| !there.contains(id))
        .collect();
    assert!(lost.is_empty(), "commits lost in the failover: {lost:?}");
    assert!(seen.len() > before, "writes went on after the failover");
    for kind in &kinds {
        assert!(
            ["Operational", "Interface", "PoolTimeout"].contains(&kind.as_str()),
            "an unexpected error kind during the failover: {kind}"
        );
    }
}
