//! Async pools: nimue's `get_async` (and its native async queries) against deadpool and bb8 on
//! no-op connections, and against deadpool-postgres and sqlx's `PgPool` on a real PostgreSQL
//! server. Writes `async.md` and `async.svg` (by default into `docs/bench/`).
//!
//! ```text
//! # with the servers of scripts/lib (NIMUE_TEST_POSTGRES_URL set):
//! cargo bench --bench async_pools --all-features                # 5 rounds of 500 ms
//! cargo bench --bench async_pools --all-features -- --quick     # 1 round of 50 ms
//! ```
//!
//! Every measurement runs in a child process (this binary run again), so each contender's
//! peak RSS (`VmHWM`) is its own; the contenders alternate within each round, and the
//! report gives the medians of `--rounds` rounds.
//!
//! - **checkout**, no-op connections, a pool of 8: nimue (`TestConnector::noop`, every
//!   setting the default), deadpool (`managed::Pool` with a manager whose `create` and
//!   `recycle` do nothing) and bb8 (a manager that does nothing, `test_on_check_out(false)`
//!   like nimue's default). 1 task on a current-thread runtime: checkout and return in a
//!   loop; 64 tasks on 2 worker threads: checkout, one `yield_now` holding it, return. The
//!   latency is the wait for the checkout.
//! - **query**, PostgreSQL, a pool of 8, 2 worker threads, 1 and 64 tasks: checkout,
//!   `SELECT $1::int8 + 1`, read the value, return. nimue, natively (`get_async`, then
//!   `AsyncConnection::query_scalar("SELECT ? + 1")`, its connector on the runtime with
//!   `PgConnector::runtime`): with its defaults (`nimue`: autocommit off, so `BEGIN` goes with
//!   the query and the return rolls back, and the session is cleared on return), with
//!   `autocommit(true)` (`nimue-ac`), and with autocommit on and `SessionReset::Rollback`
//!   (`nimue-fast`: nothing to clear). `nimue-interact` is the older way (`Pool::interact`,
//!   the query and the return on a blocking thread). deadpool-postgres: `prepare_cached` and
//!   `query_one`, with `RecyclingMethod::Clean` (`deadpool-postgres-clean`: the same session
//!   clear as nimue's default) and with its default `Fast` (nothing cleared); sqlx:
//!   `query(..).bind(i).fetch_one(&pool)` (its statement cache; nothing cleared). Ratios pair
//!   like with like. The latency is the whole operation.

mod common;
#[path = "common/pgbench.rs"]
mod pgbench;

use clap::Parser;
use common::{build_kind, child_result, machine, peak_rss_kb};
use hdrhistogram::Histogram;
use nimue::{params, Connection, Pool};
use nimue_core::testing::TestConnector;
use plotters::prelude::*;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const POOL: usize = 8;
const CHILD_TAG: &str = "ASYNC_POOLS_CHILD";

#[derive(Parser)]
#[command(about = "nimue's async checkout against deadpool, bb8, deadpool-postgres and sqlx")]
struct Args {
    /// A smoke run: 1 round of 50 ms.
    #[arg(long)]
    quick: bool,
    /// Rounds (medians are reported); default 5, 1 with --quick.
    #[arg(long)]
    rounds: Option<usize>,
    /// Length of each timed run in milliseconds; default 500, 50 with --quick.
    #[arg(long)]
    ms: Option<u64>,
    /// Where to write async.md and async.svg.
    #[arg(long, default_value = "docs/bench")]
    out: PathBuf,
    /// Internal: run one measurement (`workload:contender`) and print it.
    #[arg(long)]
    child: Option<String>,
    /// `cargo bench` passes this to every benchmark binary.
    #[arg(long, hide = true)]
    bench: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Workload {
    Checkout1,
    Checkout64,
    Query1,
    Query64,
    Tpcb64,
    Select64,
    Maria64,
}

impl Workload {
    const ALL: [Workload; 7] = [
        Workload::Checkout1,
        Workload::Checkout64,
        Workload::Query1,
        Workload::Query64,
        Workload::Tpcb64,
        Workload::Select64,
        Workload::Maria64,
    ];

    fn key(self) -> &'static str {
        match self {
            Workload::Checkout1 => "checkout-1",
            Workload::Checkout64 => "checkout-64",
            Workload::Query1 => "query-1",
            Workload::Query64 => "query-64",
            Workload::Tpcb64 => "tpcb-64",
            Workload::Select64 => "select-64",
            Workload::Maria64 => "mariadb-64",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Workload::Checkout1 => "checkout + return, 1 task (current-thread runtime)",
            Workload::Checkout64 => "checkout + yield + return, 64 tasks, 2 threads",
            Workload::Query1 => "PostgreSQL point query, 1 task",
            Workload::Query64 => "PostgreSQL point query, 64 tasks, 2 threads",
            Workload::Tpcb64 => "pgbench TPC-B-like transaction, 64 tasks, 2 threads",
            Workload::Select64 => "pgbench select-only, 64 tasks, 2 threads",
            Workload::Maria64 => "MariaDB point query, 64 tasks, 2 threads",
        }
    }

    fn tasks(self) -> usize {
        match self {
            Workload::Checkout1 | Workload::Query1 => 1,
            _ => 64,
        }
    }

    /// The server it needs (the variable that names it), if any.
    fn needs(self) -> Option<&'static str> {
        match self {
            Workload::Checkout1 | Workload::Checkout64 => None,
            Workload::Maria64 => Some("NIMUE_TEST_MYSQL_URL"),
            _ => Some("NIMUE_TEST_POSTGRES_URL"),
        }
    }

    fn pgbench(self) -> bool {
        matches!(self, Workload::Tpcb64 | Workload::Select64)
    }

    /// The contenders, nimue first; the others are what nimue is compared with.
    fn contenders(self) -> &'static [&'static str] {
        if self.pgbench() {
            &[
                "nimue",
                "nimue-fast",
                "deadpool-postgres-clean",
                "deadpool-postgres",
            ]
        } else if self == Workload::Maria64 {
            &[
                "nimue-mariadb",
                "nimue-mariadb-fast",
                "mysql_async",
                "mysql_async-fast",
            ]
        } else if self.needs().is_some() {
            &[
                "nimue",
                "nimue-ac",
                "nimue-fast",
                "nimue-interact",
                "deadpool-postgres-clean",
                "deadpool-postgres",
                "sqlx",
            ]
        } else {
            &["nimue", "deadpool", "bb8"]
        }
    }
}

/// One contender's result in one run.
#[derive(Clone, Copy, Debug, Default)]
struct Measured {
    ops_per_s: f64,
    p50_us: f64,
    p999_us: f64,
    rss_mb: f64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let ms = args.ms.unwrap_or(if args.quick { 50 } else { 500 });
    if let Some(spec) = &args.child {
        return child(spec, Duration::from_millis(ms));
    }
    let rounds = args.rounds.unwrap_or(if args.quick { 1 } else { 5 });
    let postgres = std::env::var("NIMUE_TEST_POSTGRES_URL").ok();
    for var in ["NIMUE_TEST_POSTGRES_URL", "NIMUE_TEST_MYSQL_URL"] {
        if std::env::var_os(var).is_none() {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{var} is not set and CI=true"
            );
            eprintln!("SKIP: {var} is not set: no workloads on its server");
        }
    }
    let workloads: Vec<Workload> = Workload::ALL
        .into_iter()
        .filter(|w| w.needs().is_none_or(|var| std::env::var_os(var).is_some()))
        .collect();
    if let Some(url) = &postgres {
        pgbench::setup(url);
    }
    println!(
        "async pools on {}, {}: {rounds} round(s) of {ms} ms",
        machine(),
        build_kind()
    );
    // results[workload][contender] = one Measured per round
    let mut results: Vec<Vec<Vec<Measured>>> = workloads
        .iter()
        .map(|w| vec![Vec::new(); w.contenders().len()])
        .collect();
    for round in 1..=rounds {
        for (wi, workload) in workloads.iter().enumerate() {
            for (ci, contender) in workload.contenders().iter().enumerate() {
                let m = in_child(*workload, contender, ms);
                println!(
                    "  round {round}: {:<12} {:<18} {:>10.1} k/s  p50 {:>8.1} µs  p99.9 {:>8.1} µs  peak RSS {:.1} MB",
                    workload.key(),
                    contender,
                    m.ops_per_s / 1e3,
                    m.p50_us,
                    m.p999_us,
                    m.rss_mb
                );
                results[wi][ci].push(m);
            }
        }
    }
    let table: Vec<(Workload, Vec<Measured>)> = workloads
        .iter()
        .zip(&results)
        .map(|(w, per)| (*w, per.iter().map(|runs| median(runs)).collect()))
        .collect();
    let md = report(&table, rounds, ms);
    println!("\n{md}");
    std::fs::create_dir_all(&args.out).expect("the output directory");
    let (md_path, svg_path) = (args.out.join("async.md"), args.out.join("async.svg"));
    std::fs::write(&md_path, md).expect("write async.md");
    plot(&svg_path, &table).expect("draw async.svg");
    println!("wrote {} and {}", md_path.display(), svg_path.display());
    ExitCode::SUCCESS
}

/// The median of each number over the runs.
fn median(runs: &[Measured]) -> Measured {
    let med = |f: fn(&Measured) -> f64| {
        let mut v: Vec<f64> = runs.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Measured {
        ops_per_s: med(|m| m.ops_per_s),
        p50_us: med(|m| m.p50_us),
        p999_us: med(|m| m.p999_us),
        rss_mb: med(|m| m.rss_mb),
    }
}

/// In the parent: one measurement in a child process.
fn in_child(workload: Workload, contender: &str, ms: u64) -> Measured {
    let spec = format!("{}:{contender}", workload.key());
    let args = ["--child", spec.as_str(), "--ms", &ms.to_string()];
    let line = child_result(&args, CHILD_TAG);
    Measured {
        ops_per_s: line.field("ops_per_s"),
        p50_us: line.field("p50_us"),
        p999_us: line.field("p999_us"),
        rss_mb: line.field("hwm_kb") / 1024.0,
    }
}

/// In the child: run `workload:contender` and print its numbers.
fn child(spec: &str, run_for: Duration) -> ExitCode {
    let (key, contender) = spec.split_once(':').expect("workload:contender");
    let workload = Workload::ALL
        .into_iter()
        .find(|w| w.key() == key)
        .unwrap_or_else(|| panic!("no workload {key}"));
    let runtime = if workload == Workload::Checkout1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(2);
        builder
    }
    .enable_all()
    .build()
    .expect("a runtime");
    let tasks = workload.tasks();
    let hold = workload == Workload::Checkout64;
    let (ops, hist, secs) = runtime.block_on(async move {
        match contender {
            "nimue" | "nimue-ac" if workload.needs().is_none() => {
                let pool = Pool::builder(TestConnector::noop())
                    .min_idle(POOL)
                    .max_size(POOL)
                    .build()
                    .expect("nimue pool");
                drive(tasks, run_for, move || {
                    let pool = pool.clone();
                    async move { timed_checkout(pool.get_async(), "nimue get_async", hold).await }
                })
                .await
            }
            "deadpool" => {
                let pool = deadpool::managed::Pool::<NoopDeadpool>::builder(NoopDeadpool)
                    .max_size(POOL)
                    .build()
                    .expect("deadpool");
                drive(tasks, run_for, move || {
                    let pool = pool.clone();
                    async move { timed_checkout(pool.get(), "deadpool get", hold).await }
                })
                .await
            }
            "bb8" => {
                let pool = bb8::Pool::builder()
                    .max_size(POOL as u32)
                    .test_on_check_out(false)
                    .build(NoopBb8)
                    .await
                    .expect("bb8");
                drive(tasks, run_for, move || {
                    let pool = pool.clone();
                    async move { timed_checkout(pool.get(), "bb8 get", hold).await }
                })
                .await
            }
            "nimue" | "nimue-ac" | "nimue-fast" => {
                let reset = match contender {
                    "nimue-fast" => nimue::SessionReset::Rollback,
                    _ => nimue::SessionReset::Always,
                };
                let connector = nimue::postgres::PgConnector::from_url(&postgres_url())
                    .expect("a PostgreSQL URL")
                    .session_reset(reset)
                    .runtime(tokio::runtime::Handle::current());
                let pool = Pool::builder(connector)
                    .min_idle(POOL)
                    .max_size(POOL)
                    .autocommit(contender != "nimue")
                    .build()
                    .expect("nimue pool");
                drive(tasks, run_for, move || {
                    let pool = pool.clone();
                    async move {
                        use nimue::aio::AsyncConnection;
                        let began = Instant::now();
                        let mut conn = pool.get_async().await.expect("get_async");
                        match workload {
                            Workload::Tpcb64 => pgbench::tpcb_nimue(&mut conn).await.expect("tpcb"),
                            Workload::Select64 => pgbench::select_nimue(&mut conn)
                                .await
                                .map(drop)
                                .expect("select"),
                            _ => {
                                let i = next_param();
                                let value: i64 =
                                    AsyncConnection::query_scalar(&mut conn, "SELECT ? + 1", (i,))
                                        .await
                                        .expect("the query");
                                assert_eq!(value, i + 1);
                            }
                        }
                        drop(conn);
                        began.elapsed()
                    }
                })
                .await
            }
            "nimue-interact" => {
                let url = postgres_url();
                let connector = nimue::any::connector(&url).expect("a PostgreSQL URL");
                let pool = Pool::builder(connector)
                    .min_idle(POOL)
                    .max_size(POOL)
                    .build()
                    .expect("nimue pool");
                drive(tasks, run_for, move || {
                    let pool = pool.clone();
                    async move {
                        let began = Instant::now();
                        let i = next_param();
                        let value = pool
                            .interact(move |c| {
                                let row = c.query_row("SELECT ? + 1", &params![i])?;
                                row.expect("one row").get::<i64>(0)
                            })
                            .await
                            .expect("interact")
                            .expect("the query");
                        assert_eq!(value, i + 1);
                        began.elapsed()
                    }
                })
                .await
            }
            "deadpool-postgres" | "deadpool-postgres-clean" => {
                let mut config = deadpool_postgres::Config::new();
                config.url = Some(postgres_url());
                config.pool = Some(deadpool_postgres::PoolConfig::new(POOL));
                if contender == "deadpool-postgres-clean" {
                    config.manager = Some(deadpool_postgres::ManagerConfig {
                        recycling_method: deadpool_postgres::RecyclingMethod::Clean,
                    });
                }
                let pool = config
                    .create_pool(
                        Some(deadpool_postgres::Runtime::Tokio1),
                        deadpool_postgres::tokio_postgres::NoTls,
                    )
                    .expect("deadpool-postgres");
                drive(tasks, run_for, move || {
                    let pool = pool.clone();
                    async move {
                        let began = Instant::now();
                        let mut client = pool.get().await.expect("deadpool-postgres get");
                        match workload {
                            Workload::Tpcb64 => {
                                pgbench::tpcb_deadpool(&mut client).await.expect("tpcb");
                                return began.elapsed();
                            }
                            Workload::Select64 => {
                                pgbench::select_deadpool(&client).await.expect("select");
                                return began.elapsed();
                            }
                            _ => {}
                        }
                        let i = next_param();
                        let statement = client
                            .prepare_cached("SELECT $1::int8 + 1")
                            .await
                            .expect("prepare");
                        let row = client.query_one(&statement, &[&i]).await.expect("query");
                        assert_eq!(row.get::<_, i64>(0), i + 1);
                        drop(client);
                        began.elapsed()
                    }
                })
                .await
            }
            "sqlx" => {
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(POOL as u32)
                    .min_connections(POOL as u32)
                    .connect(&postgres_url())
                    .await
                    .expect("sqlx PgPool");
                drive(tasks, run_for, move || {
                    let pool = pool.clone();
                    async move {
                        use sqlx::Row as _;
                        let began = Instant::now();
                        let i = next_param();
                        let row = sqlx::query("SELECT $1::int8 + 1")
                            .bind(i)
                            .fetch_one(&pool)
                            .await
                            .expect("sqlx query");
                        assert_eq!(row.try_get::<i64, _>(0).expect("an int8"), i + 1);
                        began.elapsed()
                    }
                })
                .await
            }
            "nimue-mariadb" | "nimue-mariadb-fast" => {
                let reset = match contender {
                    "nimue-mariadb-fast" => nimue::SessionReset::Rollback,
                    _ => nimue::SessionReset::Always,
                };
                let connector = nimue::mysql::MySqlConnector::from_url(&mysql_url())
                    .expect("a MySQL URL")
                    .session_reset(reset);
                let pool = Pool::builder(nimue::aio::BridgedConnector::new(connector))
                    .min_idle(POOL)
                    .max_size(POOL)
                    .autocommit(contender == "nimue-mariadb-fast")
                    .build()
                    .expect("nimue pool");
                drive(tasks, run_for, move || {
                    let pool = pool.clone();
                    async move {
                        use nimue::aio::AsyncConnection;
                        let began = Instant::now();
                        let i = next_param();
                        let mut conn = pool.get_async().await.expect("get_async");
                        let value: i64 = conn
                            .query_scalar("SELECT ? + 1", (i,))
                            .await
                            .expect("the query");
                        assert_eq!(value, i + 1);
                        drop(conn);
                        began.elapsed()
                    }
                })
                .await
            }
            "mysql_async" | "mysql_async-fast" => {
                use mysql_async::prelude::Queryable;
                let constraints = mysql_async::PoolConstraints::new(POOL, POOL).expect("8, 8");
                let pool_opts = mysql_async::PoolOpts::default()
                    .with_constraints(constraints)
                    .with_reset_connection(contender == "mysql_async");
                let opts = mysql_async::OptsBuilder::from_opts(
                    mysql_async::Opts::from_url(&mysql_url()).expect("a MySQL URL"),
                )
                .pool_opts(pool_opts);
                let pool = mysql_async::Pool::new(opts);
                drive(tasks, run_for, move || {
                    let pool = pool.clone();
                    async move {
                        let began = Instant::now();
                        let i = next_param();
                        let mut conn = pool.get_conn().await.expect("mysql_async get_conn");
                        let value: Option<i64> = conn
                            .exec_first("SELECT ? + 1", (i,))
                            .await
                            .expect("the query");
                        assert_eq!(value, Some(i + 1));
                        drop(conn);
                        began.elapsed()
                    }
                })
                .await
            }
            other => panic!("no contender {other}"),
        }
    });
    let hwm_kb = peak_rss_kb();
    println!(
        "{CHILD_TAG} ops_per_s={} p50_us={} p999_us={} hwm_kb={hwm_kb}",
        ops as f64 / secs,
        hist.value_at_quantile(0.5) as f64 / 1e3,
        hist.value_at_quantile(0.999) as f64 / 1e3,
    );
    ExitCode::SUCCESS
}

/// Check out with `get`, timing the wait; hold the connection across one `yield_now` if
/// `hold`; return it. The wait.
async fn timed_checkout<T, E: std::fmt::Debug>(
    get: impl Future<Output = Result<T, E>>,
    what: &str,
    hold: bool,
) -> Duration {
    let began = Instant::now();
    let conn = get.await.expect(what);
    let waited = began.elapsed();
    if hold {
        tokio::task::yield_now().await;
    }
    drop(conn);
    waited
}

/// A parameter that differs from query to query (no result can be cached).
fn next_param() -> i64 {
    static NEXT: AtomicI64 = AtomicI64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed) % 1_000_000
}

fn mysql_url() -> String {
    std::env::var("NIMUE_TEST_MYSQL_URL").expect("NIMUE_TEST_MYSQL_URL")
}

fn postgres_url() -> String {
    std::env::var("NIMUE_TEST_POSTGRES_URL").expect("NIMUE_TEST_POSTGRES_URL")
}

/// Run `op` in a loop on `tasks` tasks: first a warm-up of a fifth of `run_for`, then
/// `run_for` measured. The operations done, their latencies (ns), and the seconds measured.
async fn drive<F, Fut>(tasks: usize, run_for: Duration, op: F) -> (u64, Histogram<u64>, f64)
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Duration> + Send,
{
    let op = Arc::new(op);
    let warm_up = Instant::now() + run_for / 5;
    let began = warm_up;
    let end = warm_up + run_for;
    let workers: Vec<_> = (0..tasks)
        .map(|_| {
            let op = Arc::clone(&op);
            tokio::spawn(async move {
                let mut hist = Histogram::<u64>::new(3).expect("a histogram");
                let mut ops = 0u64;
                loop {
                    let latency = op().await;
                    let now = Instant::now();
                    if now >= end {
                        break;
                    }
                    if now >= warm_up {
                        ops += 1;
                        hist.record(latency.as_nanos().max(1) as u64)
                            .expect("a latency in range");
                    }
                }
                (ops, hist)
            })
        })
        .collect();
    let mut total = 0;
    let mut merged = Histogram::<u64>::new(3).expect("a histogram");
    for worker in workers {
        let (ops, hist) = worker.await.expect("a worker task");
        total += ops;
        merged.add(hist).expect("histograms merge");
    }
    (total, merged, (end - began).as_secs_f64())
}

/// deadpool's manager for connections that are nothing.
struct NoopDeadpool;

impl deadpool::managed::Manager for NoopDeadpool {
    type Type = ();
    type Error = Infallible;

    async fn create(&self) -> Result<(), Infallible> {
        Ok(())
    }

    async fn recycle(
        &self,
        _: &mut (),
        _: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<Infallible> {
        Ok(())
    }
}

/// bb8's manager for connections that are nothing.
struct NoopBb8;

impl bb8::ManageConnection for NoopBb8 {
    type Connection = ();
    type Error = Infallible;

    async fn connect(&self) -> Result<(), Infallible> {
        Ok(())
    }

    async fn is_valid(&self, _: &mut ()) -> Result<(), Infallible> {
        Ok(())
    }

    fn has_broken(&self, _: &mut ()) -> bool {
        false
    }
}

/// Which nimue contender is compared with which other: like with like (the session cleared
/// on return, or only rolled back), and each with sqlx (which does neither).
fn pairs(workload: Workload) -> &'static [(&'static str, &'static str)] {
    if workload == Workload::Maria64 {
        &[
            ("nimue-mariadb", "mysql_async"),
            ("nimue-mariadb-fast", "mysql_async-fast"),
        ]
    } else if workload.needs().is_some() {
        &[
            ("nimue", "deadpool-postgres-clean"),
            ("nimue-ac", "deadpool-postgres-clean"),
            ("nimue-fast", "deadpool-postgres"),
            ("nimue", "sqlx"),
            ("nimue-ac", "sqlx"),
            ("nimue-fast", "sqlx"),
        ]
    } else {
        &[("nimue", "deadpool"), ("nimue", "bb8")]
    }
}

/// Each pair's throughput ratio: (nimue contender, other, nimue's over the other's).
fn ratios(workload: Workload, row: &[Measured]) -> Vec<(&'static str, &'static str, f64)> {
    let names = workload.contenders();
    let of = |name: &str| {
        names
            .iter()
            .position(|n| *n == name)
            .map(|i| row[i].ops_per_s)
    };
    pairs(workload)
        .iter()
        .filter_map(|&(ours, other)| Some((ours, other, of(ours)? / of(other)?)))
        .collect()
}

fn report(table: &[(Workload, Vec<Measured>)], rounds: usize, ms: u64) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Async pools: nimue against deadpool, bb8, deadpool-postgres and sqlx\n"
    );
    let _ = writeln!(
        md,
        "On {}, {}; medians of {rounds} round(s) of {ms} ms, each contender in a process of \
         its own. Written by `cargo bench --bench async_pools --all-features` \
         (`benches/async_pools.rs`, which says what each contender runs).\n",
        machine(),
        build_kind()
    );
    let _ = writeln!(
        md,
        "| workload | contender | throughput | p50 | p99.9 | peak RSS | nimue's throughput over it |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|");
    for (workload, row) in table {
        let ratios = ratios(*workload, row);
        for (name, m) in workload.contenders().iter().zip(row) {
            let mine: Vec<String> = ratios
                .iter()
                .filter(|(_, other, _)| other == name)
                .map(|(ours, _, r)| format!("{ours}: **{r:.2}x**"))
                .collect();
            let ratio = if mine.is_empty() {
                String::from("–")
            } else {
                mine.join(", ")
            };
            let _ = writeln!(
                md,
                "| {} | {name} | {:.1} k/s | {:.1} µs | {:.1} µs | {:.1} MB | {ratio} |",
                workload.name(),
                m.ops_per_s / 1e3,
                m.p50_us,
                m.p999_us,
                m.rss_mb
            );
        }
    }
    let _ = writeln!(
        md,
        "\nLatency is the wait for the checkout (checkout workloads) or the whole operation \
         (query workloads). nimue's queries are native: `get_async`, then `query_scalar(\"SELECT ? \
         + 1\")` of `nimue::aio::AsyncConnection`, awaited on the task (no thread hop); with \
         the defaults (`nimue`: autocommit off, so a `BEGIN` goes with the query and the return \
         rolls back; the session is cleared on return, as deadpool-postgres' \
         `RecyclingMethod::Clean` does), with `autocommit(true)` (`nimue-ac`), and with \
         autocommit on and `SessionReset::Rollback` (`nimue-fast`: nothing cleared, as \
         deadpool-postgres' default `RecyclingMethod::Fast` and sqlx). `nimue-interact` is the \
         old way, `Pool::interact` (the query on a blocking thread). What the numbers say, and \
         what limits them: [`async-notes.md`](async-notes.md).\n\n![nimue / others](async.svg)"
    );
    md
}

fn plot(
    path: &Path,
    table: &[(Workload, Vec<Measured>)],
) -> Result<(), Box<dyn std::error::Error>> {
    let bars: Vec<(String, f64)> = table
        .iter()
        .flat_map(|(w, row)| {
            ratios(*w, row)
                .into_iter()
                .map(move |(ours, other, r)| (format!("{}: {ours} / {other}", w.key()), r))
        })
        .collect();
    let n = bars.len().max(1);
    let root = SVGBackend::new(path, (960, 100 + 30 * n as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let top = bars.iter().map(|(_, r)| *r).fold(1.0f64, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "nimue throughput relative to the other async pools (higher is better)",
            ("sans-serif", 16),
        )
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(300)
        .build_cartesian_2d(0f64..top, -0.5f64..(n as f64 - 0.5))?;
    chart
        .configure_mesh()
        .y_labels(n + 1)
        .y_label_formatter(&|y| {
            let i = y.round();
            if (y - i).abs() > 0.01 || i < 0.0 {
                return String::new();
            }
            bars.get(n - 1 - i as usize)
                .map(|(label, _)| label.clone())
                .unwrap_or_default()
        })
        .x_label_formatter(&|x| format!("{x:.1}x"))
        .x_desc("ratio")
        .draw()?;
    chart.draw_series(bars.iter().enumerate().map(|(i, (_, r))| {
        let y = (n - 1 - i) as f64;
        Rectangle::new([(0.0, y - 0.3), (*r, y + 0.3)], BLUE.mix(0.7).filled())
    }))?;
    chart.draw_series(LineSeries::new(
        [(1.0, -0.5), (1.0, n as f64 - 0.5)],
        BLACK.stroke_width(1),
    ))?;
    root.present()?;
    Ok(())
}
