//! End to end: nimue against r2d2 with its adapter crate and against the bare driver, on
//! SQLite, PostgreSQL and MariaDB, on the workloads of issue 17. Writes `e2e.md` and
//! `e2e.svg` (by default into `docs/bench/`).
//!
//! ```text
//! # with the servers of scripts/lib (NIMUE_TEST_POSTGRES_URL, NIMUE_TEST_MYSQL_URL set):
//! cargo bench --bench e2e --all-features                 # 5 rounds of 500 ms, a 1M-row scan
//! cargo bench --bench e2e --all-features -- --quick      # 1 round of 50 ms, a 20k-row scan
//! ```
//!
//! Per database, every round runs each contender once, alternately, in this process:
//! - nimue: its `Pool` (min_idle 8, max_size 8, every other setting the default: autocommit
//!   off) and adapter, through the DB-API (`query_row`, `query`, a cursor's `fetchmany`);
//!   for the single-thread point query also the same pool with `autocommit(true)`;
//! - r2d2 (max_size 8, no test on checkout like nimue, every other setting the default;
//!   `--r2d2-test-on-checkout` for r2d2's default, which runs `is_valid` on every checkout)
//!   with r2d2_sqlite (`prepare_cached`), r2d2_postgres (`query_one(&str, ..)`,
//!   `query(&str, ..)`) or r2d2_mysql (`exec_first`, `query`);
//! - the bare driver: one connection per thread, its statement prepared once (rusqlite
//!   `prepare_cached`, postgres `prepare`, mysql `prep`).
//!
//! Workloads: (1) checkout + `SELECT ? + 1` + read the value + return, 1 thread and 8
//! threads; (2) checkout + a 10k-row fetch (int8, text) read typed + return; both run for
//! `--ms` and count operations (rows); (3) a scan of `--scan-rows` rows of 100-byte text,
//! nimue's cursor `fetchmany(arraysize)` (arraysize 1000) against the driver's row stream,
//! each in a child process (this binary run again) that reports its time and its peak RSS
//! (`VmHWM`). Medians of `--rounds` rounds.
//!
//! A server whose URL variable is not set is skipped with a message; under CI=true that is
//! an error.

mod common;

use clap::Parser;
use common::{build_kind, child_result, machine, peak_rss_kb};
use nimue::{params, Connect, Connection, Cursor, Pool};
use plotters::prelude::*;
use r2d2_mysql::mysql;
use r2d2_mysql::mysql::prelude::Queryable as _;
use r2d2_postgres::postgres;
use r2d2_postgres::postgres::fallible_iterator::FallibleIterator as _;
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "nimue against r2d2 + driver and the bare driver on real databases")]
struct Args {
    /// A smoke run: 1 round of 50 ms, a 20k-row scan (unless the options below say otherwise).
    #[arg(long)]
    quick: bool,
    /// Rounds (medians are reported); default 5, 1 with --quick.
    #[arg(long)]
    rounds: Option<usize>,
    /// Length of each timed run in milliseconds; default 500, 50 with --quick.
    #[arg(long)]
    ms: Option<u64>,
    /// Rows of the streamed scan; default 1000000, 20000 with --quick.
    #[arg(long)]
    scan_rows: Option<usize>,
    /// Run r2d2 with its default `test_on_check_out(true)` (a `SELECT`-less validity check on
    /// every checkout: an empty batch on SQLite, an empty query on PostgreSQL, a ping on
    /// MariaDB) instead of without it, like nimue's default.
    #[arg(long)]
    r2d2_test_on_checkout: bool,
    /// Where e2e.md and e2e.svg are written.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/bench"))]
    out: PathBuf,
    /// Passed by `cargo bench`.
    #[arg(long, hide = true)]
    bench: bool,
    /// Internal: run one scan in this process (`sqlite|postgres|mariadb:bare|nimue`), print
    /// its numbers and exit.
    #[arg(long, hide = true)]
    child_scan: Option<String>,
    /// Internal: the SQLite database of the child's scan.
    #[arg(long, hide = true)]
    sqlite_path: Option<PathBuf>,
}

/// Connections per pool, and threads of the contended point query.
const POOL: usize = 8;
const FETCH_ROWS: usize = 10_000;
const ARRAYSIZE: usize = 1000;
const POINT_SQL: &str = "SELECT ? + 1";
const PG_POINT_SQL: &str = "SELECT $1::int8 + 1";
const FETCH_SQL: &str = "SELECT id, t FROM e2e_fetch";
const SCAN_SQL: &str = "SELECT t FROM e2e_scan";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Db {
    Sqlite,
    Postgres,
    Mariadb,
}

impl Db {
    const ALL: [Db; 3] = [Db::Sqlite, Db::Postgres, Db::Mariadb];

    fn name(self) -> &'static str {
        match self {
            Db::Sqlite => "SQLite",
            Db::Postgres => "PostgreSQL",
            Db::Mariadb => "MariaDB",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Db::Sqlite => "sqlite",
            Db::Postgres => "postgres",
            Db::Mariadb => "mariadb",
        }
    }

    fn from_key(key: &str) -> Option<Db> {
        Db::ALL.into_iter().find(|db| db.key() == key)
    }

    /// The variable holding the server's URL (SQLite needs none).
    fn env(self) -> Option<&'static str> {
        match self {
            Db::Sqlite => None,
            Db::Postgres => Some("NIMUE_TEST_POSTGRES_URL"),
            Db::Mariadb => Some("NIMUE_TEST_MYSQL_URL"),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    Bare,
    R2d2,
    Nimue,
    /// nimue with `autocommit(true)`.
    NimueAc,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Bare => "bare",
            Side::R2d2 => "r2d2",
            Side::Nimue => "nimue",
            Side::NimueAc => "nimue-ac",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Workload {
    Point1,
    Point8,
    Fetch,
    /// The fetch, nimue reading typed cells in place (`query_map`).
    FetchTyped,
    Scan,
    /// The scan, nimue reading typed cells in place (`map_rows`).
    ScanTyped,
}

impl Workload {
    const ALL: [Workload; 6] = [
        Workload::Point1,
        Workload::Point8,
        Workload::Fetch,
        Workload::FetchTyped,
        Workload::Scan,
        Workload::ScanTyped,
    ];

    fn name(self, scan_rows: usize) -> String {
        match self {
            Workload::Point1 => "point query, 1 thread".into(),
            Workload::Point8 => format!("point query, {POOL} threads, pool {POOL}"),
            Workload::Fetch => format!("fetch {}k rows (int8, text)", FETCH_ROWS / 1000),
            Workload::FetchTyped => {
                format!("fetch {}k rows, nimue: `query_map`", FETCH_ROWS / 1000)
            }
            Workload::Scan => format!("scan {} rows × 100-byte text", count(scan_rows)),
            Workload::ScanTyped => format!("scan {} rows, nimue: `map_rows`", count(scan_rows)),
        }
    }

    fn short(self) -> &'static str {
        match self {
            Workload::Point1 => "point, 1 thread",
            Workload::Point8 => "point, 8 threads",
            Workload::Fetch => "fetch 10k rows",
            Workload::FetchTyped => "fetch 10k, typed",
            Workload::Scan => "scan (time)",
            Workload::ScanTyped => "scan, typed",
        }
    }
}

/// 1000000 → "1M", 20000 → "20k".
fn count(n: usize) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

/// One unit of work (one query, or one fetch of many rows); returns what it counts (1, or
/// the rows read).
type Op<'a> = Box<dyn FnMut() -> u64 + 'a>;
/// Makes the op of worker thread `i` (called on that thread).
type MakeOp<'a> = Box<dyn Fn(usize) -> Op<'a> + Sync + 'a>;

/// Units per second of `threads` threads running their op for `duration` (each runs it once
/// untimed first: connect, prepare).
fn measure(threads: usize, duration: Duration, make: &MakeOp<'_>) -> f64 {
    let stop = AtomicBool::new(false);
    let ready = Barrier::new(threads + 1);
    thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|i| {
                let (stop, ready) = (&stop, &ready);
                s.spawn(move || {
                    let mut op = make(i);
                    op();
                    ready.wait();
                    let mut done = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        done += op();
                    }
                    done
                })
            })
            .collect();
        ready.wait();
        let began = Instant::now();
        thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
        let done: u64 = workers.into_iter().map(|w| w.join().expect("worker")).sum();
        done as f64 / began.elapsed().as_secs_f64()
    })
}

/// A contender in a timed workload.
struct Timed<'a> {
    workload: Workload,
    side: Side,
    threads: usize,
    make: MakeOp<'a>,
}

fn timed<'a>(workload: Workload, side: Side, threads: usize, make: MakeOp<'a>) -> Timed<'a> {
    Timed {
        workload,
        side,
        threads,
        make,
    }
}

// ---------------------------------------------------------------------------------------
// nimue, the same on every database

fn nimue_pool<K: Connect>(connector: K, autocommit: bool) -> Pool<K> {
    let mut builder = Pool::builder(connector)
        .name("e2e")
        .min_idle(POOL)
        .max_size(POOL);
    if autocommit {
        builder = builder.autocommit(true);
    }
    builder.build().expect("nimue pool")
}

/// r2d2 with `max_size` set and, unless asked for, no test on checkout; everything else
/// its default.
fn r2d2_pool<M: r2d2::ManageConnection>(manager: M, test_on_checkout: bool) -> r2d2::Pool<M> {
    r2d2::Pool::builder()
        .max_size(POOL as u32)
        .test_on_check_out(test_on_checkout)
        .build(manager)
        .expect("r2d2 pool")
}

fn nimue_point<K: Connect>(pool: &Pool<K>) -> MakeOp<'_> {
    Box::new(move |_| {
        let mut i = 0i64;
        Box::new(move || {
            i += 1;
            let mut conn = pool.get().expect("nimue get");
            let row = conn
                .query_row(POINT_SQL, &params![i])
                .expect("nimue SELECT ? + 1")
                .expect("nimue: a row");
            let v: i64 = row.get(0).expect("nimue: an integer");
            assert_eq!(v, i + 1);
            1
        })
    })
}

fn nimue_fetch<K: Connect>(pool: &Pool<K>) -> MakeOp<'_> {
    Box::new(move |_| {
        Box::new(move || {
            let mut conn = pool.get().expect("nimue get");
            let rows = conn.query(FETCH_SQL, &[]).expect("nimue fetch");
            for row in &rows {
                let id: i64 = row.get(0).expect("nimue: id");
                let t: String = row.get(1).expect("nimue: t");
                black_box((id, t));
            }
            assert_eq!(rows.len(), FETCH_ROWS);
            rows.len() as u64
        })
    })
}

fn nimue_fetch_typed<K: Connect>(pool: &Pool<K>) -> MakeOp<'_> {
    Box::new(move |_| {
        Box::new(move || {
            let mut conn = pool.get().expect("nimue get");
            let rows = conn
                .query_map(FETCH_SQL, &[], |row| {
                    Ok((row.get::<i64>(0)?, row.get::<String>(1)?))
                })
                .expect("nimue fetch");
            for row in &rows {
                black_box(row);
            }
            assert_eq!(rows.len(), FETCH_ROWS);
            rows.len() as u64
        })
    })
}

/// nimue's side of the scan: a cursor, `fetchmany(arraysize)` until empty, or with `typed`
/// `map_rows` reading each text in place. Rows and text bytes read.
fn nimue_scan<K: Connect>(connector: K, typed: bool) -> (u64, u64) {
    let pool = Pool::builder(connector)
        .name("e2e-scan")
        .min_idle(1)
        .max_size(1)
        .build()
        .expect("nimue pool");
    let mut conn = pool.get().expect("nimue get");
    let mut cur = conn.cursor().expect("nimue cursor");
    cur.set_arraysize(ARRAYSIZE);
    cur.execute(SCAN_SQL, &[]).expect("nimue scan");
    let (mut rows, mut bytes) = (0u64, 0u64);
    if typed {
        let texts = cur
            .map_rows(|row| row.get::<String>(0))
            .expect("nimue rows");
        for t in texts {
            bytes += t.expect("nimue: t").len() as u64;
            rows += 1;
        }
        return (rows, bytes);
    }
    loop {
        let batch = cur.fetchmany(cur.arraysize()).expect("nimue fetchmany");
        if batch.is_empty() {
            break;
        }
        for row in &batch {
            let t: String = row.get(0).expect("nimue: t");
            bytes += t.len() as u64;
        }
        rows += batch.len() as u64;
    }
    (rows, bytes)
}

// ---------------------------------------------------------------------------------------
// SQLite

fn sqlite_setup(path: &Path, scan_rows: usize) -> String {
    let conn = rusqlite::Connection::open(path).expect("sqlite open");
    conn.execute_batch(&format!(
        "DROP TABLE IF EXISTS e2e_fetch;
         DROP TABLE IF EXISTS e2e_scan;
         CREATE TABLE e2e_fetch (id INTEGER NOT NULL, t TEXT NOT NULL);
         CREATE TABLE e2e_scan (t TEXT NOT NULL);
         BEGIN;
         WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < {FETCH_ROWS})
         INSERT INTO e2e_fetch SELECT n, 'name-' || n FROM c;
         WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < {scan_rows})
         INSERT INTO e2e_scan SELECT printf('%0100d', n) FROM c;
         COMMIT;"
    ))
    .expect("sqlite setup");
    format!("SQLite {}", rusqlite::version())
}

fn sqlite_bare_point(conns: &[Mutex<rusqlite::Connection>]) -> MakeOp<'_> {
    Box::new(move |i| {
        let conn = conns[i].lock().expect("connection");
        let mut n = 0i64;
        Box::new(move || {
            n += 1;
            let v: i64 = conn
                .prepare_cached(POINT_SQL)
                .and_then(|mut stmt| stmt.query_row([n], |row| row.get(0)))
                .expect("rusqlite SELECT ? + 1");
            assert_eq!(v, n + 1);
            1
        })
    })
}

/// A 10k-row fetch on one rusqlite connection (r2d2's or a bare one).
fn rusqlite_fetch(conn: &rusqlite::Connection) -> u64 {
    let mut stmt = conn.prepare_cached(FETCH_SQL).expect("rusqlite prepare");
    let mut rows = stmt.query([]).expect("rusqlite fetch");
    let mut n = 0u64;
    while let Some(row) = rows.next().expect("rusqlite row") {
        let id: i64 = row.get(0).expect("rusqlite: id");
        let t: String = row.get(1).expect("rusqlite: t");
        black_box((id, t));
        n += 1;
    }
    assert_eq!(n, FETCH_ROWS as u64);
    n
}

fn sqlite_bare_fetch(conns: &[Mutex<rusqlite::Connection>]) -> MakeOp<'_> {
    Box::new(move |i| {
        let conn = conns[i].lock().expect("connection");
        Box::new(move || rusqlite_fetch(&conn))
    })
}

type R2d2Sqlite = r2d2::Pool<r2d2_sqlite::SqliteConnectionManager>;

fn sqlite_r2d2_point(pool: &R2d2Sqlite) -> MakeOp<'_> {
    Box::new(move |_| {
        let mut n = 0i64;
        Box::new(move || {
            n += 1;
            let conn = pool.get().expect("r2d2 get");
            let v: i64 = conn
                .prepare_cached(POINT_SQL)
                .and_then(|mut stmt| stmt.query_row([n], |row| row.get(0)))
                .expect("r2d2_sqlite SELECT ? + 1");
            assert_eq!(v, n + 1);
            1
        })
    })
}

fn sqlite_r2d2_fetch(pool: &R2d2Sqlite) -> MakeOp<'_> {
    Box::new(move |_| {
        Box::new(move || {
            let conn = pool.get().expect("r2d2 get");
            rusqlite_fetch(&conn)
        })
    })
}

fn sqlite_timed(path: &Path, run: &Run) -> Vec<Sample> {
    let bare: Vec<_> = (0..POOL)
        .map(|_| Mutex::new(rusqlite::Connection::open(path).expect("sqlite open")))
        .collect();
    let r2d2 = r2d2_pool(
        r2d2_sqlite::SqliteConnectionManager::file(path),
        run.r2d2_test,
    );
    let nimue = nimue_pool(nimue::sqlite::SqliteConnector::new(path), false);
    let nimue_ac = nimue_pool(nimue::sqlite::SqliteConnector::new(path), true);
    let contenders = vec![
        timed(Workload::Point1, Side::Bare, 1, sqlite_bare_point(&bare)),
        timed(Workload::Point1, Side::R2d2, 1, sqlite_r2d2_point(&r2d2)),
        timed(Workload::Point1, Side::Nimue, 1, nimue_point(&nimue)),
        timed(Workload::Point1, Side::NimueAc, 1, nimue_point(&nimue_ac)),
        timed(Workload::Point8, Side::Bare, POOL, sqlite_bare_point(&bare)),
        timed(Workload::Point8, Side::R2d2, POOL, sqlite_r2d2_point(&r2d2)),
        timed(Workload::Point8, Side::Nimue, POOL, nimue_point(&nimue)),
        timed(Workload::Fetch, Side::Bare, 1, sqlite_bare_fetch(&bare)),
        timed(Workload::Fetch, Side::R2d2, 1, sqlite_r2d2_fetch(&r2d2)),
        timed(Workload::Fetch, Side::Nimue, 1, nimue_fetch(&nimue)),
        timed(
            Workload::FetchTyped,
            Side::Bare,
            1,
            sqlite_bare_fetch(&bare),
        ),
        timed(
            Workload::FetchTyped,
            Side::R2d2,
            1,
            sqlite_r2d2_fetch(&r2d2),
        ),
        timed(
            Workload::FetchTyped,
            Side::Nimue,
            1,
            nimue_fetch_typed(&nimue),
        ),
    ];
    run_timed(Db::Sqlite, &contenders, run)
}

fn sqlite_scan(side: Side, path: &Path, typed: bool) -> (u64, u64) {
    match side {
        Side::Bare => {
            let conn = rusqlite::Connection::open(path).expect("sqlite open");
            let mut stmt = conn.prepare_cached(SCAN_SQL).expect("rusqlite prepare");
            let mut rows = stmt.query([]).expect("rusqlite scan");
            let (mut n, mut bytes) = (0u64, 0u64);
            while let Some(row) = rows.next().expect("rusqlite row") {
                let t: String = row.get(0).expect("rusqlite: t");
                bytes += t.len() as u64;
                n += 1;
            }
            (n, bytes)
        }
        _ => nimue_scan(nimue::sqlite::SqliteConnector::new(path), typed),
    }
}

// ---------------------------------------------------------------------------------------
// PostgreSQL

fn pg_connect(url: &str) -> postgres::Client {
    url.parse::<postgres::Config>()
        .expect("PostgreSQL URL")
        .connect(postgres::NoTls)
        .expect("PostgreSQL connect")
}

fn pg_setup(url: &str, scan_rows: usize) -> String {
    let mut client = pg_connect(url);
    client
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS e2e_fetch;
             DROP TABLE IF EXISTS e2e_scan;
             CREATE TABLE e2e_fetch (id int8 NOT NULL, t text NOT NULL);
             CREATE TABLE e2e_scan (t text NOT NULL);
             INSERT INTO e2e_fetch SELECT n, 'name-' || n FROM generate_series(1, {FETCH_ROWS}) n;
             INSERT INTO e2e_scan SELECT lpad(n::text, 100, 'x') FROM generate_series(1, {scan_rows}) n;"
        ))
        .expect("PostgreSQL setup");
    // Set the hint bits and the statistics now, not during the first round.
    client
        .batch_execute("VACUUM ANALYZE e2e_fetch")
        .expect("VACUUM");
    client
        .batch_execute("VACUUM ANALYZE e2e_scan")
        .expect("VACUUM");
    let version: String = client
        .query_one("SHOW server_version", &[])
        .expect("server_version")
        .get(0);
    format!("PostgreSQL {version}")
}

type PgBare = Mutex<(postgres::Client, postgres::Statement, postgres::Statement)>;

fn pg_bare(url: &str) -> PgBare {
    let mut client = pg_connect(url);
    let point = client.prepare(PG_POINT_SQL).expect("prepare");
    let fetch = client.prepare(FETCH_SQL).expect("prepare");
    Mutex::new((client, point, fetch))
}

fn pg_bare_point(conns: &[PgBare]) -> MakeOp<'_> {
    Box::new(move |i| {
        let mut conn = conns[i].lock().expect("connection");
        let mut n = 0i64;
        Box::new(move || {
            n += 1;
            let (client, point, _) = &mut *conn;
            let v: i64 = client
                .query_one(&*point, &[&n])
                .expect("postgres SELECT $1 + 1")
                .get(0);
            assert_eq!(v, n + 1);
            1
        })
    })
}

fn pg_read(rows: &[postgres::Row]) -> u64 {
    for row in rows {
        let id: i64 = row.get(0);
        let t: String = row.get(1);
        black_box((id, t));
    }
    assert_eq!(rows.len(), FETCH_ROWS);
    rows.len() as u64
}

fn pg_bare_fetch(conns: &[PgBare]) -> MakeOp<'_> {
    Box::new(move |i| {
        let mut conn = conns[i].lock().expect("connection");
        Box::new(move || {
            let (client, _, fetch) = &mut *conn;
            pg_read(&client.query(&*fetch, &[]).expect("postgres fetch"))
        })
    })
}

type R2d2Pg = r2d2::Pool<r2d2_postgres::PostgresConnectionManager<postgres::NoTls>>;

fn pg_r2d2_point(pool: &R2d2Pg) -> MakeOp<'_> {
    Box::new(move |_| {
        let mut n = 0i64;
        Box::new(move || {
            n += 1;
            let mut conn = pool.get().expect("r2d2 get");
            let v: i64 = conn
                .query_one(PG_POINT_SQL, &[&n])
                .expect("r2d2_postgres SELECT $1 + 1")
                .get(0);
            assert_eq!(v, n + 1);
            1
        })
    })
}

fn pg_r2d2_fetch(pool: &R2d2Pg) -> MakeOp<'_> {
    Box::new(move |_| {
        Box::new(move || {
            let mut conn = pool.get().expect("r2d2 get");
            pg_read(&conn.query(FETCH_SQL, &[]).expect("r2d2_postgres fetch"))
        })
    })
}

fn pg_timed(url: &str, run: &Run) -> Vec<Sample> {
    let bare: Vec<_> = (0..POOL).map(|_| pg_bare(url)).collect();
    let manager = r2d2_postgres::PostgresConnectionManager::new(
        url.parse().expect("PostgreSQL URL"),
        postgres::NoTls,
    );
    let r2d2 = r2d2_pool(manager, run.r2d2_test);
    let connector = || nimue::postgres::PgConnector::from_url(url).expect("PostgreSQL URL");
    let nimue = nimue_pool(connector(), false);
    let nimue_ac = nimue_pool(connector(), true);
    let contenders = vec![
        timed(Workload::Point1, Side::Bare, 1, pg_bare_point(&bare)),
        timed(Workload::Point1, Side::R2d2, 1, pg_r2d2_point(&r2d2)),
        timed(Workload::Point1, Side::Nimue, 1, nimue_point(&nimue)),
        timed(Workload::Point1, Side::NimueAc, 1, nimue_point(&nimue_ac)),
        timed(Workload::Point8, Side::Bare, POOL, pg_bare_point(&bare)),
        timed(Workload::Point8, Side::R2d2, POOL, pg_r2d2_point(&r2d2)),
        timed(Workload::Point8, Side::Nimue, POOL, nimue_point(&nimue)),
        timed(Workload::Fetch, Side::Bare, 1, pg_bare_fetch(&bare)),
        timed(Workload::Fetch, Side::R2d2, 1, pg_r2d2_fetch(&r2d2)),
        timed(Workload::Fetch, Side::Nimue, 1, nimue_fetch(&nimue)),
        timed(Workload::FetchTyped, Side::Bare, 1, pg_bare_fetch(&bare)),
        timed(Workload::FetchTyped, Side::R2d2, 1, pg_r2d2_fetch(&r2d2)),
        timed(
            Workload::FetchTyped,
            Side::Nimue,
            1,
            nimue_fetch_typed(&nimue),
        ),
    ];
    run_timed(Db::Postgres, &contenders, run)
}

fn pg_scan(side: Side, url: &str, typed: bool) -> (u64, u64) {
    match side {
        Side::Bare => {
            let mut client = pg_connect(url);
            let mut rows = client
                .query_raw(SCAN_SQL, std::iter::empty::<&dyn postgres::types::ToSql>())
                .expect("postgres scan");
            let (mut n, mut bytes) = (0u64, 0u64);
            while let Some(row) = rows.next().expect("postgres row") {
                let t: String = row.get(0);
                bytes += t.len() as u64;
                n += 1;
            }
            (n, bytes)
        }
        _ => nimue_scan(
            nimue::postgres::PgConnector::from_url(url).expect("PostgreSQL URL"),
            typed,
        ),
    }
}

// ---------------------------------------------------------------------------------------
// MariaDB

/// The driver's options from `url`, on TCP like nimue's `MySqlConnector::from_url` unless the
/// URL sets `prefer_socket` (the driver's own default switches from 127.0.0.1 to the server's
/// Unix socket, which takes about 40% off a round trip here: all contenders on one transport).
fn my_opts(url: &str) -> mysql::OptsBuilder {
    let opts = mysql::OptsBuilder::from_opts(mysql::Opts::from_url(url).expect("MariaDB URL"));
    if url.contains("prefer_socket=") {
        opts
    } else {
        opts.prefer_socket(false)
    }
}

fn my_connect(url: &str) -> mysql::Conn {
    mysql::Conn::new(my_opts(url)).expect("MariaDB connect")
}

fn my_setup(url: &str, scan_rows: usize) -> String {
    let mut conn = my_connect(url);
    conn.query_drop(
        "DROP TABLE IF EXISTS e2e_fetch, e2e_scan, e2e_digits;
         CREATE TABLE e2e_fetch (id BIGINT NOT NULL, t VARCHAR(100) NOT NULL);
         CREATE TABLE e2e_scan (t VARCHAR(100) NOT NULL);
         CREATE TABLE e2e_digits (d INT NOT NULL);
         INSERT INTO e2e_digits VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9);",
    )
    .expect("MariaDB setup");
    // 1..=10^5 from five digits, plus a batch offset: 100k rows per INSERT.
    let numbers = "SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d + 1 AS n \
                   FROM e2e_digits a, e2e_digits b, e2e_digits c, e2e_digits e, e2e_digits f";
    conn.query_drop(format!(
        "INSERT INTO e2e_fetch SELECT n, CONCAT('name-', n) FROM ({numbers}) s \
         WHERE n <= {FETCH_ROWS}"
    ))
    .expect("MariaDB fill e2e_fetch");
    for batch in 0..scan_rows.div_ceil(100_000) {
        let offset = batch * 100_000;
        conn.query_drop(format!(
            "INSERT INTO e2e_scan SELECT LPAD(n + {offset}, 100, 'x') FROM ({numbers}) s \
             WHERE n + {offset} <= {scan_rows}"
        ))
        .expect("MariaDB fill e2e_scan");
    }
    conn.query_drop("ANALYZE TABLE e2e_fetch, e2e_scan")
        .expect("ANALYZE");
    let version: String = conn
        .query_first("SELECT VERSION()")
        .expect("VERSION()")
        .expect("a version");
    format!("MariaDB {version}")
}

type MyBare = Mutex<(mysql::Conn, mysql::Statement)>;

fn my_bare(url: &str) -> MyBare {
    let mut conn = my_connect(url);
    let point = conn.prep(POINT_SQL).expect("prep");
    Mutex::new((conn, point))
}

fn my_bare_point(conns: &[MyBare]) -> MakeOp<'_> {
    Box::new(move |i| {
        let mut conn = conns[i].lock().expect("connection");
        let mut n = 0i64;
        Box::new(move || {
            n += 1;
            let (conn, point) = &mut *conn;
            let v: i64 = conn
                .exec_first(&*point, (n,))
                .expect("mysql SELECT ? + 1")
                .expect("mysql: a row");
            assert_eq!(v, n + 1);
            1
        })
    })
}

fn my_bare_fetch(conns: &[MyBare]) -> MakeOp<'_> {
    Box::new(move |i| {
        let mut conn = conns[i].lock().expect("connection");
        Box::new(move || {
            let (conn, _) = &mut *conn;
            let mut n = 0u64;
            for row in conn.query_iter(FETCH_SQL).expect("mysql fetch") {
                let (id, t): (i64, String) = mysql::from_row(row.expect("mysql row"));
                black_box((id, t));
                n += 1;
            }
            assert_eq!(n, FETCH_ROWS as u64);
            n
        })
    })
}

type R2d2My = r2d2::Pool<r2d2_mysql::MySqlConnectionManager>;

fn my_r2d2_point(pool: &R2d2My) -> MakeOp<'_> {
    Box::new(move |_| {
        let mut n = 0i64;
        Box::new(move || {
            n += 1;
            let mut conn = pool.get().expect("r2d2 get");
            let v: i64 = conn
                .exec_first(POINT_SQL, (n,))
                .expect("r2d2_mysql SELECT ? + 1")
                .expect("r2d2_mysql: a row");
            assert_eq!(v, n + 1);
            1
        })
    })
}

fn my_r2d2_fetch(pool: &R2d2My) -> MakeOp<'_> {
    Box::new(move |_| {
        Box::new(move || {
            let mut conn = pool.get().expect("r2d2 get");
            let rows: Vec<(i64, String)> = conn.query(FETCH_SQL).expect("r2d2_mysql fetch");
            for row in &rows {
                black_box(row);
            }
            assert_eq!(rows.len(), FETCH_ROWS);
            rows.len() as u64
        })
    })
}

fn my_timed(url: &str, run: &Run) -> Vec<Sample> {
    let bare: Vec<_> = (0..POOL).map(|_| my_bare(url)).collect();
    let manager = r2d2_mysql::MySqlConnectionManager::new(my_opts(url));
    let r2d2 = r2d2_pool(manager, run.r2d2_test);
    let connector = || nimue::mysql::MySqlConnector::from_url(url).expect("MariaDB URL");
    let nimue = nimue_pool(connector(), false);
    let nimue_ac = nimue_pool(connector(), true);
    let contenders = vec![
        timed(Workload::Point1, Side::Bare, 1, my_bare_point(&bare)),
        timed(Workload::Point1, Side::R2d2, 1, my_r2d2_point(&r2d2)),
        timed(Workload::Point1, Side::Nimue, 1, nimue_point(&nimue)),
        timed(Workload::Point1, Side::NimueAc, 1, nimue_point(&nimue_ac)),
        timed(Workload::Point8, Side::Bare, POOL, my_bare_point(&bare)),
        timed(Workload::Point8, Side::R2d2, POOL, my_r2d2_point(&r2d2)),
        timed(Workload::Point8, Side::Nimue, POOL, nimue_point(&nimue)),
        timed(Workload::Fetch, Side::Bare, 1, my_bare_fetch(&bare)),
        timed(Workload::Fetch, Side::R2d2, 1, my_r2d2_fetch(&r2d2)),
        timed(Workload::Fetch, Side::Nimue, 1, nimue_fetch(&nimue)),
        timed(Workload::FetchTyped, Side::Bare, 1, my_bare_fetch(&bare)),
        timed(Workload::FetchTyped, Side::R2d2, 1, my_r2d2_fetch(&r2d2)),
        timed(
            Workload::FetchTyped,
            Side::Nimue,
            1,
            nimue_fetch_typed(&nimue),
        ),
    ];
    run_timed(Db::Mariadb, &contenders, run)
}

fn my_scan(side: Side, url: &str, typed: bool) -> (u64, u64) {
    match side {
        Side::Bare => {
            let mut conn = my_connect(url);
            let (mut n, mut bytes) = (0u64, 0u64);
            for row in conn.query_iter(SCAN_SQL).expect("mysql scan") {
                let t: String = mysql::from_row(row.expect("mysql row"));
                bytes += t.len() as u64;
                n += 1;
            }
            (n, bytes)
        }
        _ => nimue_scan(
            nimue::mysql::MySqlConnector::from_url(url).expect("MariaDB URL"),
            typed,
        ),
    }
}

// ---------------------------------------------------------------------------------------
// Rounds, the scan's child processes, medians

/// One measurement of one contender.
struct Sample {
    db: Db,
    workload: Workload,
    side: Side,
    /// Operations or rows per second.
    rate: f64,
    /// The scan: milliseconds and the child's peak RSS in MB.
    scan: Option<(f64, f64)>,
}

/// How the timed workloads run.
struct Run {
    rounds: usize,
    duration: Duration,
    r2d2_test: bool,
}

fn run_timed(db: Db, contenders: &[Timed<'_>], run: &Run) -> Vec<Sample> {
    let mut samples = Vec::new();
    for round in 1..=run.rounds {
        for c in contenders {
            let rate = measure(c.threads, run.duration, &c.make);
            println!(
                "    {:10} round {round}: {:17} {:8} {}",
                db.name(),
                c.workload.short(),
                c.side.name(),
                rate_text(c.workload, rate)
            );
            samples.push(Sample {
                db,
                workload: c.workload,
                side: c.side,
                rate,
                scan: None,
            });
        }
    }
    samples
}

/// What a scan child prints on its last line.
const CHILD_TAG: &str = "e2e-scan";

/// In the child: one scan, then its numbers on stdout.
fn child_scan(spec: &str, sqlite_path: Option<&Path>) -> ExitCode {
    let Some((db, side, typed)) = spec.split_once(':').and_then(|(db, side)| {
        let (side, typed) = match side {
            "bare" => (Side::Bare, false),
            "nimue" => (Side::Nimue, false),
            "nimue-typed" => (Side::Nimue, true),
            _ => return None,
        };
        Some((Db::from_key(db)?, side, typed))
    }) else {
        eprintln!(
            "e2e: --child-scan takes sqlite|postgres|mariadb:bare|nimue|nimue-typed, not {spec}"
        );
        return ExitCode::FAILURE;
    };
    let url = || {
        let var = db.env().expect("a server");
        std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set"))
    };
    let start = Instant::now();
    let (rows, bytes) = match db {
        Db::Sqlite => sqlite_scan(side, sqlite_path.expect("--sqlite-path"), typed),
        Db::Postgres => pg_scan(side, &url(), typed),
        Db::Mariadb => my_scan(side, &url(), typed),
    };
    let ms = start.elapsed().as_secs_f64() * 1e3;
    let hwm_kb = peak_rss_kb();
    println!("{CHILD_TAG} rows={rows} bytes={bytes} ms={ms} hwm_kb={hwm_kb}");
    ExitCode::SUCCESS
}

/// In the parent: run one scan in a child process; (milliseconds, peak RSS in MB).
fn scan_in_child(
    db: Db,
    workload: Workload,
    side: Side,
    sqlite_path: &Path,
    scan_rows: usize,
) -> (f64, f64) {
    let side_key = match (side, workload) {
        (Side::Bare, _) => "bare",
        (_, Workload::ScanTyped) => "nimue-typed",
        _ => "nimue",
    };
    let spec = format!("{}:{side_key}", db.key());
    let path = sqlite_path.to_string_lossy();
    let line = child_result(&["--child-scan", &spec, "--sqlite-path", &path], CHILD_TAG);
    let field = |name: &str| line.field(name);
    assert_eq!(
        field("rows") as usize,
        scan_rows,
        "{} {} scanned the wrong number of rows",
        db.name(),
        side.name()
    );
    (field("ms"), field("hwm_kb") / 1024.0)
}

fn run_scans(db: Db, sqlite_path: &Path, rounds: usize, scan_rows: usize) -> Vec<Sample> {
    let mut samples = Vec::new();
    for round in 1..=rounds {
        let runs = [Workload::Scan, Workload::ScanTyped]
            .into_iter()
            .flat_map(|w| [(w, Side::Bare), (w, Side::Nimue)]);
        for (workload, side) in runs {
            let (ms, mb) = scan_in_child(db, workload, side, sqlite_path, scan_rows);
            println!(
                "    {:10} round {round}: {:17} {:8} {ms:.0} ms, peak RSS {mb:.1} MB",
                db.name(),
                workload.short(),
                side.name(),
            );
            samples.push(Sample {
                db,
                workload,
                side,
                rate: scan_rows as f64 / (ms / 1e3),
                scan: Some((ms, mb)),
            });
        }
    }
    samples
}

fn median(mut xs: Vec<f64>) -> Option<f64> {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied()
}

/// Medians of one contender's samples.
#[derive(Clone, Copy)]
struct Result3 {
    rate: f64,
    scan: Option<(f64, f64)>,
}

fn result(samples: &[Sample], db: Db, workload: Workload, side: Side) -> Option<Result3> {
    let mine: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.db == db && s.workload == workload && s.side == side)
        .collect();
    let rate = median(mine.iter().map(|s| s.rate).collect())?;
    let scan = median(mine.iter().filter_map(|s| s.scan.map(|x| x.0)).collect()).zip(median(
        mine.iter().filter_map(|s| s.scan.map(|x| x.1)).collect(),
    ));
    Some(Result3 { rate, scan })
}

/// One line of the table: one workload on one database.
struct Line {
    db: Db,
    workload: Workload,
    bare: Option<Result3>,
    r2d2: Option<Result3>,
    nimue: Option<Result3>,
    nimue_ac: Option<Result3>,
}

impl Line {
    fn vs_r2d2(&self) -> Option<f64> {
        Some(self.nimue?.rate / self.r2d2?.rate)
    }

    fn vs_bare(&self) -> Option<f64> {
        Some(self.nimue?.rate / self.bare?.rate)
    }
}

fn rate_text(workload: Workload, rate: f64) -> String {
    let unit = match workload {
        Workload::Fetch | Workload::FetchTyped | Workload::Scan | Workload::ScanTyped => " rows/s",
        _ => "/s",
    };
    if rate >= 1e6 {
        format!("{:.2} M{unit}", rate / 1e6)
    } else if rate >= 1e3 {
        format!("{:.1} k{unit}", rate / 1e3)
    } else {
        format!("{rate:.0}{unit}")
    }
}

fn cell(workload: Workload, r: Option<Result3>) -> String {
    match r {
        None => "–".into(),
        Some(Result3 {
            scan: Some((ms, mb)),
            rate,
        }) => format!(
            "{ms:.0} ms ({}), peak RSS {mb:.1} MB",
            rate_text(workload, rate)
        ),
        Some(r) => rate_text(workload, r.rate),
    }
}

fn ratio(x: Option<f64>) -> String {
    x.map_or("–".into(), |x| format!("**{x:.2}x**"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(spec) = &args.child_scan {
        return child_scan(spec, args.sqlite_path.as_deref());
    }
    let ci = std::env::var("CI").as_deref() == Ok("true");
    let rounds = args.rounds.unwrap_or(if args.quick { 1 } else { 5 }).max(1);
    let run = Duration::from_millis(args.ms.unwrap_or(if args.quick { 50 } else { 500 }).max(1));
    let scan_rows = args
        .scan_rows
        .unwrap_or(if args.quick { 20_000 } else { 1_000_000 })
        .max(1);

    let mut dbs = vec![(Db::Sqlite, String::new())];
    for db in [Db::Postgres, Db::Mariadb] {
        let var = db.env().expect("a server");
        match std::env::var(var).ok().filter(|v| !v.is_empty()) {
            Some(url) => dbs.push((db, url)),
            None if ci => {
                eprintln!(
                    "ERROR: {var} is not set and CI=true: scripts/test.sh must start {}",
                    db.name()
                );
                return ExitCode::FAILURE;
            }
            None => eprintln!(
                "SKIP: {var} is not set; {} is not measured (start the servers with \
                 scripts/lib/postgres.sh and mariadb.sh, or run scripts/test.sh)",
                db.name()
            ),
        }
    }

    let machine = machine();
    println!(
        "end to end on {machine}: {rounds} round(s) of {} ms, scan of {} rows\n",
        run.as_millis(),
        count(scan_rows)
    );
    let timing = Run {
        rounds,
        duration: run,
        r2d2_test: args.r2d2_test_on_checkout,
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite_path = dir.path().join("e2e.db");
    let mut samples = Vec::new();
    let mut versions = Vec::new();
    for (db, url) in &dbs {
        let started = Instant::now();
        let version = match db {
            Db::Sqlite => sqlite_setup(&sqlite_path, scan_rows),
            Db::Postgres => pg_setup(url, scan_rows),
            Db::Mariadb => my_setup(url, scan_rows),
        };
        println!(
            "{version}: tables set up in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        samples.extend(match db {
            Db::Sqlite => sqlite_timed(&sqlite_path, &timing),
            Db::Postgres => pg_timed(url, &timing),
            Db::Mariadb => my_timed(url, &timing),
        });
        samples.extend(run_scans(*db, &sqlite_path, rounds, scan_rows));
        versions.push(version);
    }

    let mut lines = Vec::new();
    for (db, _) in &dbs {
        for workload in Workload::ALL {
            let get = |side| result(&samples, *db, workload, side);
            lines.push(Line {
                db: *db,
                workload,
                bare: get(Side::Bare),
                r2d2: get(Side::R2d2),
                nimue: get(Side::Nimue),
                nimue_ac: get(Side::NimueAc),
            });
        }
    }
    let md = markdown(&machine, &versions, &args, rounds, run, scan_rows, &lines);
    println!("\n{md}");
    std::fs::create_dir_all(&args.out).expect("output directory");
    let md_path = args.out.join("e2e.md");
    std::fs::write(&md_path, md).expect("write e2e.md");
    let svg_path = args.out.join("e2e.svg");
    plot(&svg_path, &lines).expect("plot");
    println!("wrote {} and {}", md_path.display(), svg_path.display());
    ExitCode::SUCCESS
}

fn markdown(
    machine: &str,
    versions: &[String],
    args: &Args,
    rounds: usize,
    run: Duration,
    scan_rows: usize,
    lines: &[Line],
) -> String {
    let mut md = String::new();
    let date = chrono::Local::now().format("%Y-%m-%d");
    let build = build_kind();
    let mut flags = Vec::new();
    if args.quick {
        flags.push("--quick".to_string());
    }
    if let Some(r) = args.rounds {
        flags.push(format!("--rounds {r}"));
    }
    if let Some(ms) = args.ms {
        flags.push(format!("--ms {ms}"));
    }
    if let Some(n) = args.scan_rows {
        flags.push(format!("--scan-rows {n}"));
    }
    if args.r2d2_test_on_checkout {
        flags.push("--r2d2-test-on-checkout".to_string());
    }
    let mut command = "cargo bench --bench e2e --all-features".to_string();
    if !flags.is_empty() {
        command = format!("{command} -- {}", flags.join(" "));
    }
    let _ = writeln!(
        md,
        "# End to end: nimue, r2d2 + driver, and the bare driver\n\n\
         Written by `{command}` on {date}, {build}: {machine}. Databases: {} (the \
         servers on 127.0.0.1, started by `scripts/lib/postgres.sh` and `mariadb.sh`; SQLite \
         in a file in a temp dir).\n\n\
         Per database, each round runs every contender once, alternately, in one process; \
         {rounds} round(s) of {} ms for the point queries and the fetch; every number is a \
         median over the rounds. The scan runs in a child process per contender and round; \
         its peak RSS is the child's `VmHWM`.\n",
        versions.join(", "),
        run.as_millis()
    );
    let _ = writeln!(
        md,
        "| workload | database | bare driver | r2d2 + driver | nimue | nimue, autocommit on | \
         nimue / r2d2 | nimue / bare |\n|---|---|---|---|---|---|---|---|"
    );
    for line in lines {
        let ac = match (line.nimue_ac, line.bare) {
            (Some(ac), Some(bare)) => format!(
                "{} ({:.2}x bare)",
                rate_text(line.workload, ac.rate),
                ac.rate / bare.rate
            ),
            (ac, _) => cell(line.workload, ac),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {ac} | {} | {} |",
            line.workload.name(scan_rows),
            line.db.name(),
            cell(line.workload, line.bare),
            cell(line.workload, line.r2d2),
            cell(line.workload, line.nimue),
            ratio(line.vs_r2d2()),
            ratio(line.vs_bare()),
        );
    }
    let _ = writeln!(
        md,
        "\n## The contenders\n\n\
         - **nimue**: `Pool::builder(connector).min_idle({POOL}).max_size({POOL})`, every \
         other setting the default (autocommit off, no test on checkout). Point query: \
         `pool.get()`, `conn.query_row(\"SELECT ? + 1\", &params![i])`, `row.get::<i64>(0)`, \
         the guard dropped. Fetch: `pool.get()`, `conn.query(\"SELECT id, t FROM e2e_fetch\", \
         &[])`, `row.get::<i64>(0)` and `row.get::<String>(1)` for every row. Scan: a pool of \
         one, `conn.cursor()`, `set_arraysize({ARRAYSIZE})`, `execute`, then \
         `fetchmany(cur.arraysize())` until empty, `row.get::<String>(0)`. The *typed* \
         fetch and scan read each cell in place: `conn.query_map(FETCH_SQL, &[], |row| \
         Ok((row.get::<i64>(0)?, row.get::<String>(1)?)))` and `cur.map_rows(|row| \
         row.get::<String>(0))` (bare and r2d2 run their same code again). *autocommit on*: \
         the same pool with `.autocommit(true)`.\n\
         - **r2d2 + driver**: `r2d2::Pool::builder().max_size({POOL}){r2d2_test}, every \
         other setting the default (r2d2_mysql pings in `has_broken` on every return). \
         r2d2_sqlite: `prepare_cached(\"SELECT ? + \
         1\")` and `query_row`; r2d2_postgres: `conn.query_one(\"SELECT $1::int8 + 1\", \
         &[&i])` (the driver prepares the `&str` every time) and `conn.query(&str, &[])`; \
         r2d2_mysql: `conn.exec_first(\"SELECT ? + 1\", (i,))` (the driver's statement cache) \
         and `conn.query::<(i64, String), _>(..)`.\n\
         - **bare driver**: one connection per thread ({POOL} for the {POOL}-thread point \
         query), the statement prepared once: rusqlite `prepare_cached`; postgres \
         `client.prepare` then `query_one(&stmt, ..)` / `query(&stmt, ..)`; mysql \
         `conn.prep` then `exec_first(&stmt, ..)`, and `query_iter` for the fetch. Scan: \
         rusqlite `Rows`, postgres `query_raw` (a `RowIter`), mysql `query_iter`, each \
         row's text read as a `String`.\n\n\
         Tables: `e2e_fetch (id int8, t text)` with {FETCH_ROWS} rows (`'name-' || id`), \
         `e2e_scan (t text)` with {} rows of 100 characters (on MariaDB `BIGINT` and \
         `VARCHAR(100)`). On MariaDB all three connect over TCP to 127.0.0.1 (the `mysql` \
         crate would switch to the server's Unix socket by default; nimue's `from_url` does \
         not) unless the URL sets `prefer_socket`. Ratios are throughputs \
         (for the scan, rows/s from its time).\n\n\
         ![nimue / r2d2 and nimue / bare](e2e.svg)",
        count(scan_rows),
        r2d2_test = if args.r2d2_test_on_checkout {
            ".test_on_check_out(true)` (r2d2's default: the manager's `is_valid` on every \
             checkout, an empty batch on r2d2_sqlite, an empty query on r2d2_postgres, a ping \
             on r2d2_mysql)"
        } else {
            ".test_on_check_out(false)` (like nimue's default; r2d2's own default tests every \
             checkout: an empty batch on r2d2_sqlite, an empty query on r2d2_postgres, a ping \
             on r2d2_mysql; `--r2d2-test-on-checkout` measures that)"
        },
    );
    md
}

/// Left: one horizontal bar pair per line, nimue / r2d2 and nimue / bare, a rule at 1.
/// Right: the scan's peak RSS per database, bare driver and nimue.
fn plot(path: &Path, lines: &[Line]) -> Result<(), Box<dyn std::error::Error>> {
    let n = lines.len().max(1);
    let height = 120 + 34 * n as u32;
    let whole = SVGBackend::new(path, (1280, height)).into_drawing_area();
    whole.fill(&WHITE)?;
    let (root, right) = whole.split_horizontally(940);
    let top = lines
        .iter()
        .flat_map(|l| [l.vs_r2d2(), l.vs_bare()])
        .flatten()
        .fold(1.0f64, f64::max)
        * 1.1;
    let labels: Vec<String> = lines
        .iter()
        .map(|l| format!("{}: {}", l.db.name(), l.workload.short()))
        .collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "nimue throughput relative to r2d2 + driver and to the bare driver (higher is better)",
            ("sans-serif", 16),
        )
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(230)
        .build_cartesian_2d(0f64..top, -0.5f64..(n as f64 - 0.5))?;
    chart
        .configure_mesh()
        .y_labels(n + 1)
        .y_label_formatter(&|y| {
            let i = y.round();
            if (y - i).abs() > 0.01 || i < 0.0 {
                return String::new();
            }
            // Top to bottom in table order.
            labels.get(n - 1 - i as usize).cloned().unwrap_or_default()
        })
        .x_label_formatter(&|x| format!("{x:.1}x"))
        .x_desc("ratio")
        .draw()?;
    type Bar = (&'static str, RGBColor, f64, fn(&Line) -> Option<f64>);
    let bars: [Bar; 2] = [
        ("nimue / r2d2", BLUE, 0.18, Line::vs_r2d2),
        ("nimue / bare driver", RED, -0.18, Line::vs_bare),
    ];
    for (name, color, offset, metric) in bars {
        let rects: Vec<_> = lines
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                let y = (n - 1 - i) as f64 + offset;
                metric(l).map(|x| {
                    Rectangle::new([(0.0, y - 0.15), (x, y + 0.15)], color.mix(0.7).filled())
                })
            })
            .collect();
        chart
            .draw_series(rects)?
            .label(name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], color.filled()));
    }
    chart
        .draw_series(LineSeries::new(
            [(1.0, -0.5), (1.0, n as f64 - 0.5)],
            BLACK.stroke_width(1),
        ))?
        .label("1x (parity)")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLACK));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .border_style(BLACK.mix(0.3))
        .background_style(WHITE.mix(0.9))
        .draw()?;
    plot_rss(&right, lines)?;
    whole.present()?;
    Ok(())
}

fn plot_rss<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    lines: &[Line],
) -> Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    // (database, bare MB, nimue MB)
    type Scan = (Db, f64, f64);
    let scans: Vec<Scan> = lines
        .iter()
        .filter(|l| l.workload == Workload::Scan)
        .filter_map(|l| Some((l.db, l.bare?.scan?.1, l.nimue?.scan?.1)))
        .collect();
    let n = scans.len().max(1);
    let top = scans.iter().map(|s| s.1.max(s.2)).fold(16.0f64, f64::max) * 1.25;
    let mut chart = ChartBuilder::on(area)
        .caption(
            "scan: peak RSS, MB (grey: bare driver, red: nimue)",
            ("sans-serif", 14),
        )
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..top, -0.5f64..(n as f64 - 0.5))?;
    chart
        .configure_mesh()
        .y_labels(n + 1)
        .y_label_formatter(&|y| {
            let i = y.round();
            if (y - i).abs() > 0.01 || i < 0.0 {
                return String::new();
            }
            scans
                .get(n - 1 - i as usize)
                .map_or(String::new(), |s| s.0.name().to_string())
        })
        .x_desc("MB")
        .draw()?;
    // Grey: the bare driver; red: nimue (named in the caption).
    for (color, offset, nimue) in [(BLACK, 0.18, false), (RED, -0.18, true)] {
        let metric = |s: &Scan| if nimue { s.2 } else { s.1 };
        let y = |i: usize| (n - 1 - i) as f64 + offset;
        chart.draw_series(scans.iter().enumerate().map(|(i, s)| {
            Rectangle::new(
                [(0.0, y(i) - 0.15), (metric(s), y(i) + 0.15)],
                color.mix(0.6).filled(),
            )
        }))?;
        chart.draw_series(scans.iter().enumerate().map(|(i, s)| {
            Text::new(
                format!(" {:.0}", metric(s)),
                (metric(s), y(i) + 0.1),
                ("sans-serif", 12),
            )
        }))?;
    }
    Ok(())
}
