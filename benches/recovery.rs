//! How soon a pool serves its callers again after a database outage: nimue and r2d2 side by
//! side, on the PostgreSQL and MariaDB servers scripts/test.sh starts (issue 16). Writes
//! `recovery.md` (by default into `docs/bench/`).
//!
//! ```text
//! # with the servers of scripts/lib (NIMUE_TEST_{POSTGRES,MYSQL}_{URL,CTL} set):
//! cargo bench --features postgres,mysql --bench recovery             # 3 rounds, 5 s down
//! cargo bench --features postgres,mysql --bench recovery -- --quick  # 1 round, 1 s down
//! ```
//!
//! Each round, for each database and each pool in turn: build the pool (min_idle 2,
//! max_size 4, every other setting the library's default), take all 4 connections and check
//! each with `SELECT 1`, stop the server (its control script: `pg_ctl -m immediate stop`,
//! MariaDB killed), use each held connection once (it fails) and give them back, so the
//! pool has nothing left from before the outage. Halfway through the outage (`--down`
//! seconds) `--callers` threads each call `get` with a 30 s timeout; at its end the server is
//! started. Measured from the moment the `start` command returns (the server accepts
//! connections then): when the first `get` returned a connection that answered `SELECT 1`,
//! when the last caller was served, and how many callers got an error (or a connection
//! that failed `SELECT 1`) instead.
//!
//! A database whose variables are not set is skipped with a message (exit 0 if none is
//! set); under CI=true a missing one is an error.

mod common;

use clap::Parser;
use common::{build_kind, machine};
use nimue::{Connect, Connection, Pool};
use r2d2_mysql::mysql::prelude::Queryable as _;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::thread;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "time to recover from a database outage: nimue against r2d2")]
struct Args {
    /// A smoke run: 1 round, 1 s down (unless --rounds or --down say otherwise).
    #[arg(long)]
    quick: bool,
    /// Rounds per database and pool (medians are reported); default 3, 1 with --quick.
    #[arg(long)]
    rounds: Option<usize>,
    /// How long the server stays down, in seconds; several (`--down 5,7.5`) are measured one
    /// after the other, a table each. Default 5, 1 with --quick.
    #[arg(long, value_name = "SECS", value_delimiter = ',')]
    down: Vec<f64>,
    /// Callers waiting through the outage.
    #[arg(long, default_value_t = 8)]
    callers: usize,
    /// Where recovery.md is written.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/bench"))]
    out: PathBuf,
    /// Passed by `cargo bench`.
    #[arg(long, hide = true)]
    bench: bool,
}

/// The same sizes for both pools.
const MIN_IDLE: usize = 2;
const MAX_SIZE: usize = 4;
/// Each waiting caller's `get` timeout.
const CALLER_TIMEOUT: Duration = Duration::from_secs(30);

/// A pool under test.
trait Subject: Sync {
    /// A connection within `timeout` that answers `SELECT 1`: when `get` returned it.
    fn get_and_select(&self, timeout: Duration) -> Result<Instant, String>;
    /// Take every slot (each answering `SELECT 1`), run `stop`, then use each held
    /// connection once (it fails: its server is gone) and give them all back.
    fn lose_every_connection(&self, stop: &mut dyn FnMut());
}

struct Nimue<K: Connect>(Pool<K>);

fn nimue_select_1<C: Connection>(conn: &mut C) -> Result<(), String> {
    let row = conn.query_row("SELECT 1", &[]).map_err(|e| e.to_string())?;
    match row.map(|row| row.get::<i64>(0)) {
        Some(Ok(1)) => Ok(()),
        other => Err(format!("SELECT 1 answered {other:?}")),
    }
}

impl<K: Connect> Subject for Nimue<K> {
    fn get_and_select(&self, timeout: Duration) -> Result<Instant, String> {
        let mut conn = self.0.get_timeout(timeout).map_err(|e| e.to_string())?;
        let got = Instant::now();
        nimue_select_1(&mut *conn).map(|()| got)
    }

    fn lose_every_connection(&self, stop: &mut dyn FnMut()) {
        let mut held: Vec<_> = (0..MAX_SIZE)
            .map(|_| self.0.get().expect("nimue: a connection before the outage"))
            .collect();
        for conn in &mut held {
            nimue_select_1(&mut **conn).expect("nimue: a live connection before the outage");
        }
        stop();
        for conn in &mut held {
            let _ = nimue_select_1(&mut **conn);
        }
    }
}

struct R2d2Postgres(
    r2d2::Pool<r2d2_postgres::PostgresConnectionManager<r2d2_postgres::postgres::NoTls>>,
);

fn pg_select_1(conn: &mut r2d2_postgres::postgres::Client) -> Result<(), String> {
    let row = conn.query_one("SELECT 1", &[]).map_err(|e| e.to_string())?;
    match row.try_get::<_, i32>(0) {
        Ok(1) => Ok(()),
        other => Err(format!("SELECT 1 answered {other:?}")),
    }
}

impl Subject for R2d2Postgres {
    fn get_and_select(&self, timeout: Duration) -> Result<Instant, String> {
        let mut conn = self.0.get_timeout(timeout).map_err(|e| e.to_string())?;
        let got = Instant::now();
        pg_select_1(&mut conn).map(|()| got)
    }

    fn lose_every_connection(&self, stop: &mut dyn FnMut()) {
        let mut held: Vec<_> = (0..MAX_SIZE)
            .map(|_| self.0.get().expect("r2d2: a connection before the outage"))
            .collect();
        for conn in &mut held {
            pg_select_1(conn).expect("r2d2: a live connection before the outage");
        }
        stop();
        for conn in &mut held {
            let _ = pg_select_1(conn);
        }
    }
}

struct R2d2Mysql(r2d2::Pool<r2d2_mysql::MySqlConnectionManager>);

fn my_select_1(conn: &mut r2d2_mysql::mysql::Conn) -> Result<(), String> {
    match conn.query_first::<i64, _>("SELECT 1") {
        Ok(Some(1)) => Ok(()),
        Ok(other) => Err(format!("SELECT 1 answered {other:?}")),
        Err(e) => Err(e.to_string()),
    }
}

impl Subject for R2d2Mysql {
    fn get_and_select(&self, timeout: Duration) -> Result<Instant, String> {
        let mut conn = self.0.get_timeout(timeout).map_err(|e| e.to_string())?;
        let got = Instant::now();
        my_select_1(&mut conn).map(|()| got)
    }

    fn lose_every_connection(&self, stop: &mut dyn FnMut()) {
        let mut held: Vec<_> = (0..MAX_SIZE)
            .map(|_| self.0.get().expect("r2d2: a connection before the outage"))
            .collect();
        for conn in &mut held {
            my_select_1(conn).expect("r2d2: a live connection before the outage");
        }
        stop();
        for conn in &mut held {
            let _ = my_select_1(conn);
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Database {
    Postgres,
    Mariadb,
}

impl Database {
    fn name(self) -> &'static str {
        match self {
            Database::Postgres => "PostgreSQL",
            Database::Mariadb => "MariaDB",
        }
    }

    fn env_prefix(self) -> &'static str {
        match self {
            Database::Postgres => "NIMUE_TEST_POSTGRES",
            Database::Mariadb => "NIMUE_TEST_MYSQL",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    Nimue,
    R2d2,
}

impl Which {
    fn name(self) -> &'static str {
        match self {
            Which::Nimue => "nimue",
            Which::R2d2 => "r2d2",
        }
    }
}

/// A fresh pool of `which` on `url` (sizes set, everything else the library's default).
fn build(db: Database, which: Which, url: &str) -> Box<dyn Subject> {
    match (db, which) {
        (Database::Postgres, Which::Nimue) => {
            let connector = nimue::postgres::PgConnector::from_url(url).expect("PostgreSQL URL");
            Box::new(Nimue(nimue_pool(connector)))
        }
        (Database::Mariadb, Which::Nimue) => {
            let connector = nimue::mysql::MySqlConnector::from_url(url).expect("MariaDB URL");
            Box::new(Nimue(nimue_pool(connector)))
        }
        (Database::Postgres, Which::R2d2) => {
            let config = url
                .parse::<r2d2_postgres::postgres::Config>()
                .expect("PostgreSQL URL");
            let manager = r2d2_postgres::PostgresConnectionManager::new(
                config,
                r2d2_postgres::postgres::NoTls,
            );
            Box::new(R2d2Postgres(r2d2_pool(manager)))
        }
        (Database::Mariadb, Which::R2d2) => {
            let opts = r2d2_mysql::mysql::Opts::from_url(url).expect("MariaDB URL");
            let manager = r2d2_mysql::MySqlConnectionManager::new(
                r2d2_mysql::mysql::OptsBuilder::from_opts(opts),
            );
            Box::new(R2d2Mysql(r2d2_pool(manager)))
        }
    }
}

fn nimue_pool<K: Connect>(connector: K) -> Pool<K> {
    Pool::builder(connector)
        .name("recovery")
        .min_idle(MIN_IDLE)
        .max_size(MAX_SIZE)
        .build()
        .expect("nimue pool")
}

fn r2d2_pool<M: r2d2::ManageConnection>(manager: M) -> r2d2::Pool<M> {
    r2d2::Pool::builder()
        .min_idle(Some(MIN_IDLE as u32))
        .max_size(MAX_SIZE as u32)
        .build(manager)
        .expect("r2d2 pool")
}

/// A server stopped by its control script; started again when dropped unless
/// [`Down::start`] did, so a failed run leaves it up.
struct Down<'a> {
    ctl: &'a str,
    up: bool,
}

impl<'a> Down<'a> {
    fn new(ctl: &'a str) -> Self {
        Down { ctl, up: true }
    }

    fn stop(&mut self) {
        run_ctl(self.ctl, "stop");
        self.up = false;
    }

    fn start(&mut self) {
        run_ctl(self.ctl, "start");
        self.up = true;
    }
}

impl Drop for Down<'_> {
    fn drop(&mut self) {
        if !self.up {
            let _ = Command::new(self.ctl).arg("start").status();
        }
    }
}

fn run_ctl(ctl: &str, action: &str) {
    let status = Command::new(ctl)
        .arg(action)
        .status()
        .unwrap_or_else(|e| panic!("running {ctl} {action}: {e}"));
    assert!(status.success(), "{ctl} {action}: {status}");
}

/// One outage, seen from one pool.
struct Round {
    /// Milliseconds from `start` returning to the probe's first login (negative: the control
    /// script noticed the server later than the probe did).
    ready_ms: Option<f64>,
    /// Milliseconds from `start` returning to the first caller served (`None`: nobody was).
    first_ms: Option<f64>,
    /// ... to the last caller served.
    last_ms: Option<f64>,
    /// Callers that got an error (or a connection that failed `SELECT 1`).
    errors: Vec<String>,
}

/// Signed milliseconds from `from` to `to`.
fn ms_between(from: Instant, to: Instant) -> f64 {
    match to.checked_duration_since(from) {
        Some(d) => d.as_secs_f64() * 1e3,
        None => -(from - to).as_secs_f64() * 1e3,
    }
}

/// A fresh connection, opened and closed outside any pool: whether the server takes logins.
type Probe = Box<dyn Fn() -> bool + Sync>;

fn probe(db: Database, url: &str) -> Probe {
    match db {
        Database::Postgres => {
            let connector = nimue::postgres::PgConnector::from_url(url).expect("PostgreSQL URL");
            Box::new(move || connector.connect().is_ok())
        }
        Database::Mariadb => {
            let connector = nimue::mysql::MySqlConnector::from_url(url).expect("MariaDB URL");
            Box::new(move || connector.connect().is_ok())
        }
    }
}

fn outage(
    subject: &dyn Subject,
    probe: &Probe,
    ctl: &str,
    down: Duration,
    callers: usize,
) -> Round {
    let mut server = Down::new(ctl);
    let mut stopped = None;
    subject.lose_every_connection(&mut || {
        server.stop();
        stopped = Some(Instant::now());
    });
    let stopped = stopped.expect("the server was stopped");
    // The callers come halfway through the outage (at most 20 s before its end, so that
    // their 30 s timeout leaves room for the recovery).
    let callers_at = stopped + down.saturating_sub((down / 2).min(Duration::from_secs(20)));
    let start_at = stopped + down;
    thread::sleep(callers_at.saturating_duration_since(Instant::now()));
    let (started, ready, results) = thread::scope(|s| {
        let waiting: Vec<_> = (0..callers)
            .map(|_| s.spawn(|| subject.get_and_select(CALLER_TIMEOUT)))
            .collect();
        thread::sleep(start_at.saturating_duration_since(Instant::now()));
        // From just before the start: a login every 2 ms until one succeeds, to see when
        // the server really takes logins again (the control script polls more slowly).
        let ready = s.spawn(|| {
            let give_up = Instant::now() + CALLER_TIMEOUT;
            while Instant::now() < give_up {
                if probe() {
                    return Some(Instant::now());
                }
                thread::sleep(Duration::from_millis(2));
            }
            None
        });
        server.start();
        let started = Instant::now();
        let results: Vec<_> = waiting
            .into_iter()
            .map(|caller| caller.join().expect("a caller panicked"))
            .collect();
        (started, ready.join().expect("the probe panicked"), results)
    });
    let mut served: Vec<f64> = Vec::new();
    let mut errors = Vec::new();
    for result in results {
        match result {
            Ok(at) => served.push(ms_between(started, at)),
            Err(e) => errors.push(e),
        }
    }
    served.sort_by(f64::total_cmp);
    Round {
        ready_ms: ready.map(|at| ms_between(started, at)),
        first_ms: served.first().copied(),
        last_ms: served.last().copied(),
        errors,
    }
}

/// Every round of one pool on one database, for one outage length.
struct Row {
    down: Duration,
    db: Database,
    which: Which,
    rounds: Vec<Round>,
}

fn median(mut xs: Vec<f64>) -> Option<f64> {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied()
}

fn ms(x: Option<f64>) -> String {
    // `+ 0.0` turns the -0 of a small negative number rounded into 0.
    x.map_or("—".into(), |x| format!("{:.0}", x.round() + 0.0))
}

impl Row {
    fn first(&self) -> Option<f64> {
        median(self.rounds.iter().filter_map(|r| r.first_ms).collect())
    }

    /// From the probe's first login to the first caller served.
    fn first_after_ready(&self) -> Option<f64> {
        let lags = self
            .rounds
            .iter()
            .filter_map(|r| Some(r.first_ms? - r.ready_ms?));
        median(lags.collect())
    }

    fn last(&self) -> Option<f64> {
        median(self.rounds.iter().filter_map(|r| r.last_ms).collect())
    }

    fn errors(&self) -> usize {
        self.rounds.iter().map(|r| r.errors.len()).sum()
    }

    /// Each round: first served after `start` returned / after the probe's first login.
    fn each_first(&self) -> String {
        let each: Vec<String> = self
            .rounds
            .iter()
            .map(|r| {
                let lag = r.first_ms.zip(r.ready_ms).map(|(f, r)| f - r);
                format!("{} / {}", ms(r.first_ms), ms(lag))
            })
            .collect();
        each.join(", ")
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let ci = std::env::var("CI").as_deref() == Ok("true");
    let rounds = args.rounds.unwrap_or(if args.quick { 1 } else { 3 }).max(1);
    let downs: Vec<Duration> = if args.down.is_empty() {
        vec![Duration::from_secs(if args.quick { 1 } else { 5 })]
    } else {
        let valid = |d: &f64| d.is_finite() && *d > 0.0 && *d <= 60.0;
        if !args.down.iter().all(valid) {
            eprintln!("recovery: --down takes seconds in (0, 60]");
            return ExitCode::FAILURE;
        }
        args.down
            .iter()
            .map(|&d| Duration::from_secs_f64(d))
            .collect()
    };

    let mut servers = Vec::new();
    for db in [Database::Postgres, Database::Mariadb] {
        let var = |what: &str| {
            let name = format!("{}_{what}", db.env_prefix());
            std::env::var(&name)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or(name)
        };
        match (var("URL"), var("CTL")) {
            (Ok(url), Ok(ctl)) => servers.push((db, url, ctl)),
            (Err(missing), _) | (_, Err(missing)) => {
                if ci {
                    eprintln!(
                        "ERROR: {missing} is not set and CI=true: scripts/test.sh must start {}",
                        db.name()
                    );
                    return ExitCode::FAILURE;
                }
                eprintln!(
                    "SKIP: {missing} is not set; {} is not measured (start the servers with \
                     scripts/lib/postgres.sh and mariadb.sh, or run scripts/test.sh)",
                    db.name()
                );
            }
        }
    }
    if servers.is_empty() {
        eprintln!("recovery: no database server to measure; nothing done");
        return ExitCode::SUCCESS;
    }

    let machine = machine();
    let lengths: Vec<String> = downs.iter().map(|d| secs(*d)).collect();
    println!(
        "recovery after an outage on {machine}: {rounds} round(s), {} s down, {} callers\n",
        lengths.join(" and "),
        args.callers
    );
    let mut rows: Vec<Row> = Vec::new();
    for &down in &downs {
        for (db, url, ctl) in &servers {
            let mut pair = [Which::Nimue, Which::R2d2].map(|which| Row {
                down,
                db: *db,
                which,
                rounds: Vec::new(),
            });
            // Both pools alternately, each outage with a fresh pool.
            let probe = probe(*db, url);
            for round in 1..=rounds {
                for row in &mut pair {
                    let subject = build(*db, row.which, url);
                    let result = outage(&*subject, &probe, ctl, down, args.callers);
                    drop(subject);
                    println!(
                        "    {} s down, {:10} {:5} round {round}: first served {:>6} ms, last \
                         {:>6} ms after start returned (server took a probe's login at {:>5} \
                         ms), {} of {} callers errored",
                        secs(down),
                        db.name(),
                        row.which.name(),
                        ms(result.first_ms),
                        ms(result.last_ms),
                        ms(result.ready_ms),
                        result.errors.len(),
                        args.callers
                    );
                    if let Some(e) = result.errors.first() {
                        println!("        first error: {e}");
                    }
                    row.rounds.push(result);
                }
            }
            rows.extend(pair);
        }
    }

    let md = markdown(&machine, &args, rounds, &downs, &rows);
    println!("\n{md}");
    std::fs::create_dir_all(&args.out).expect("output directory");
    let path = args.out.join("recovery.md");
    std::fs::write(&path, md).expect("write recovery.md");
    println!("wrote {}", path.display());
    ExitCode::SUCCESS
}

/// Seconds, as short as they go: `5`, `7.5`.
fn secs(d: Duration) -> String {
    let s = format!("{:.3}", d.as_secs_f64());
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn markdown(machine: &str, args: &Args, rounds: usize, downs: &[Duration], rows: &[Row]) -> String {
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
    if !args.down.is_empty() {
        let lengths: Vec<String> = downs.iter().map(|d| secs(*d)).collect();
        flags.push(format!("--down {}", lengths.join(",")));
    }
    if args.callers != 8 {
        flags.push(format!("--callers {}", args.callers));
    }
    let command = if flags.is_empty() {
        "cargo bench --features postgres,mysql --bench recovery".to_string()
    } else {
        format!(
            "cargo bench --features postgres,mysql --bench recovery -- {}",
            flags.join(" ")
        )
    };
    let _ = writeln!(
        md,
        "# Recovery after an outage: nimue vs r2d2\n\n\
         Written by `{command}` on {date}, {build}: {machine}.\n\n\
         Each round, per database and pool (a fresh pool each time, min_idle {MIN_IDLE}, \
         max_size {MAX_SIZE}, every other setting the library's default): all {MAX_SIZE} \
         connections are checked out and answer `SELECT 1`; the server is stopped \
         (PostgreSQL: `pg_ctl -m immediate stop`; MariaDB: SIGKILL); each held connection is \
         used once (it fails) and given back; halfway through the outage {} callers each call \
         `get` with a {} s timeout; then the server is started. Times are from the moment the \
         start command returns (its script has seen the server accept a login) to the first \
         caller served with a connection that answers `SELECT 1`, and to the last one. The \
         start scripts poll (`pg_ctl -w`; `mariadb-admin ping` every 50 ms), so they return a \
         little after the server is back, and a pool can be faster than that (a negative \
         time); a probe thread that logs in every 2 ms from just before the start gives a \
         second reference: the first caller served after the probe's first login (itself \
         good to a few tens of ms: a pool's login racing the probe's can finish first). \
         {rounds} round(s), both pools alternately; times are medians over the rounds.",
        args.callers,
        CALLER_TIMEOUT.as_secs(),
    );
    for &down in downs {
        let _ = writeln!(
            md,
            "\n## {} s down\n\n\
             | database | pool | first caller served, ms after start returned | ms after the probe's first login | last caller served, ms after start returned | callers errored | each round: first served after start / after probe (ms) |\n\
             |---|---|---|---|---|---|---|",
            secs(down)
        );
        for row in rows.iter().filter(|row| row.down == down) {
            let _ = writeln!(
                md,
                "| {} | {} | **{}** | **{}** | {} | {} of {} | {} |",
                row.db.name(),
                row.which.name(),
                ms(row.first()),
                ms(row.first_after_ready()),
                ms(row.last()),
                row.errors(),
                row.rounds.len() * args.callers,
                row.each_first()
            );
        }
    }
    let _ = writeln!(md, "\n## In short\n");
    for pair in rows.chunks(2) {
        if let [nimue, r2d2] = pair {
            let _ = writeln!(
                md,
                "- {}, {} s down: the first caller was served {} ms (nimue) and {} ms (r2d2) \
                 after the server took the probe's login; {} and {} callers errored.",
                nimue.db.name(),
                secs(nimue.down),
                ms(nimue.first_after_ready()),
                ms(r2d2.first_after_ready()),
                nimue.errors(),
                r2d2.errors()
            );
        }
    }
    // Each distinct error once, with how often it came.
    let mut errors: Vec<(String, usize)> = Vec::new();
    for row in rows {
        for e in row.rounds.iter().flat_map(|r| &r.errors) {
            let line = format!(
                "{} s down, {} {}: {e}",
                secs(row.down),
                row.db.name(),
                row.which.name()
            );
            match errors.iter_mut().find(|(seen, _)| *seen == line) {
                Some((_, n)) => *n += 1,
                None => errors.push((line, 1)),
            }
        }
    }
    if !errors.is_empty() {
        let _ = writeln!(md, "\nErrors the callers got:\n");
        for (line, n) in errors {
            let _ = writeln!(md, "- {line} (×{n})");
        }
    }
    md
}
