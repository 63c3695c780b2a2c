//! A network partition between the pool and its PostgreSQL server: the server runs in a
//! network namespace of the test's own (`scripts/partition`: a veth pair, 10.251.N.0/30),
//! and the link is cut silently while connections are idle and while one runs a query.
//! The connector's TCP settings are shortened for the test (keepalive after 1 s idle, every
//! second, 2 probes; a 3 s TCP user timeout); the README states the defaults.

#![cfg(feature = "postgres")]

mod common;

use nimue::postgres::PgConnector;
use nimue::{Connection, ErrorKind, Pool};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/partition")
}

/// The server in its namespace; stopped, and the namespace deleted, when dropped.
struct Partitioned {
    dir: tempfile::TempDir,
    host: String,
}

impl Partitioned {
    fn start(n: u8) -> Partitioned {
        let dir = tempfile::Builder::new()
            .prefix("nimue-partition.")
            .tempdir_in("/tmp")
            .unwrap();
        let out = Command::new(script())
            .arg("start")
            .arg(dir.path())
            .arg(n.to_string())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            let _ = Command::new(script()).arg("stop").arg(dir.path()).status();
            panic!(
                "scripts/partition start: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let host = stdout
            .lines()
            .find_map(|l| l.strip_prefix("HOST="))
            .expect("HOST=")
            .to_owned();
        Partitioned { dir, host }
    }

    fn link(&self, what: &str) {
        let done = Command::new(script())
            .arg(what)
            .arg(self.dir.path())
            .status()
            .unwrap();
        assert!(done.success(), "scripts/partition {what}");
    }
}

impl Drop for Partitioned {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

/// The backend pids of all the pool's connections, held at once.
fn pids(pool: &Pool<PgConnector>, n: usize) -> BTreeSet<i32> {
    let mut held: Vec<_> = (0..n).map(|_| pool.get().unwrap()).collect();
    held.iter_mut().map(|c| c.backend_pid().unwrap()).collect()
}

#[test]
fn a_partition_is_detected_and_the_pool_is_whole_again_after_it() {
    let Some(matrix) = common::server_env("NIMUE_TEST_POSTGRES_URL") else {
        return;
    };
    let password = common::UrlParts::parse(&matrix).password;
    let server = Partitioned::start((std::process::id() % 200 + 20) as u8);
    let url = format!(
        "postgres://nimue:{password}@{}:5432/nimue?connect_timeout=2&keepalives_idle=1\
         &keepalives_interval=1&keepalives_retries=2&tcp_user_timeout=3",
        server.host
    );
    let connector = PgConnector::from_url(&url)
        .unwrap()
        .ping_timeout(Duration::from_secs(1));
    let timeout = Duration::from_secs(2);
    let pool = Pool::builder(connector)
        .min_idle(3)
        .max_size(3)
        .check_interval(Duration::from_millis(500))
        .connection_timeout(timeout)
        .build()
        .unwrap();
    common::eventually("the pool is full", || pool.state().idle == 3);
    let before = pids(&pool, 3);

    // One connection runs a long query when the link goes.
    let mut running = pool.get().unwrap();
    let query = thread::spawn(move || {
        let started = Instant::now();
        let outcome = running.query("SELECT pg_sleep(30)", &[]).map(drop);
        (outcome, started.elapsed(), running.is_broken())
    });
    thread::sleep(Duration::from_millis(300));
    server.link("cut");

    // No get() hangs past its timeout, and what it hands out fails fast.
    for _ in 0..3 {
        let asked = Instant::now();
        let got = pool.get();
        assert!(
            asked.elapsed() < timeout + Duration::from_secs(1),
            "get() took {:?} during the partition",
            asked.elapsed()
        );
        if let Ok(mut conn) = got {
            let err = conn.query("SELECT 1", &[]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Operational, "{err}");
        }
    }
    // The query in flight ends with an error long before its 30 s (keepalive).
    let (outcome, took, broken) = query.join().unwrap();
    let err = outcome.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Operational, "{err}");
    assert!(broken, "its connection is marked broken");
    assert!(took < Duration::from_secs(20), "the query took {took:?}");
    // Every connection of before the cut is found dead and closed (broken in use, or its
    // idle check failed: the checker's ping timed out).
    common::eventually("the dead connections are discarded", || {
        let state = pool.state();
        state.idle == 0 && state.closed >= 3
    });

    server.link("heal");
    common::eventually("the pool is whole again", || pool.state().idle == 3);
    let after = pids(&pool, 3);
    assert!(before.is_disjoint(&after), "all connections are new ones");
    let mut conn = pool.get().unwrap();
    let row = conn.query_row("SELECT 1::int8", &[]).unwrap().unwrap();
    assert_eq!(row.get::<i64>(0).unwrap(), 1);
}
