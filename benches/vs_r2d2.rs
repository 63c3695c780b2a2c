//! nimue and r2d2 side by side, in one process, on the same workloads. Prints nimue/r2d2
//! ratios and writes them to `docs/bench/results.md` and `docs/bench/ratios.svg`.
//!
//! ```text
//! cargo bench --bench vs_r2d2                  # the full run (about a minute and a half)
//! cargo bench --bench vs_r2d2 -- --quick       # a short, noisy smoke run
//! ```
//!
//! Every measurement runs both pools alternately, `--rounds` times each, and reports medians:
//! (a) uncontended checkout+return with a no-op connection, test-on-checkout off and on;
//! (b) contended checkout+return, 2 to 16 threads on pools of 4 and 10 (throughput);
//! (c) checkout + `SELECT 1` + return on SQLite, and the same query on a bare connection;
//! (d) latency percentiles of `get()` under the contention of (b).

mod common;

use clap::Parser;
use common::machine;
use nimue::sqlite::SqliteConnector;
use nimue::PoolHooks;
use nimue::{Connect, Connection, Pool};
use nimue_core::testing::{TestConnection, TestConnector};
use plotters::prelude::*;
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "nimue against r2d2, side by side")]
struct Args {
    /// Fewer and shorter rounds: a smoke run whose numbers are noisy.
    #[arg(long)]
    quick: bool,
    /// Rounds per measurement (medians are reported); default 5, 3 with --quick.
    #[arg(long)]
    rounds: Option<usize>,
    /// Where results.md and ratios.svg are written.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/bench"))]
    out: PathBuf,
    /// Only run one pool (`nimue` or `r2d2`) for 3 s at 8 threads on 4 connections, for a
    /// profiler (`perf record`).
    #[arg(long)]
    profile: Option<String>,
    /// Passed by `cargo bench`.
    #[arg(long, hide = true)]
    bench: bool,
}

const THREADS: [usize; 4] = [2, 4, 8, 16];
const POOL_SIZES: [usize; 2] = [4, 10];

/// A pool under test: checkout and return, nothing else.
trait Subject: Sync {
    /// Check a connection out and give it back.
    fn cycle(&self);
    /// The same, returning how long `get` took (in nanoseconds).
    fn timed_cycle(&self) -> u64;
}

struct Nimue(Pool<TestConnector>);

impl Subject for Nimue {
    #[inline]
    fn cycle(&self) {
        let conn = self.0.get().expect("nimue get");
        black_box(&*conn);
    }

    #[inline]
    fn timed_cycle(&self) -> u64 {
        let start = Instant::now();
        let conn = self.0.get().expect("nimue get");
        let waited = start.elapsed().as_nanos() as u64;
        black_box(&*conn);
        waited
    }
}

/// r2d2's side of the no-op driver: the same connections nimue gets.
struct NoopManager(TestConnector);

impl r2d2::ManageConnection for NoopManager {
    type Connection = TestConnection;
    type Error = nimue::Error;

    fn connect(&self) -> Result<TestConnection, nimue::Error> {
        self.0.connect()
    }

    fn is_valid(&self, conn: &mut TestConnection) -> Result<(), nimue::Error> {
        conn.ping()
    }

    fn has_broken(&self, conn: &mut TestConnection) -> bool {
        conn.is_broken()
    }
}

struct R2d2(r2d2::Pool<NoopManager>);

impl Subject for R2d2 {
    #[inline]
    fn cycle(&self) {
        let conn = self.0.get().expect("r2d2 get");
        black_box(&*conn);
    }

    #[inline]
    fn timed_cycle(&self) -> u64 {
        let start = Instant::now();
        let conn = self.0.get().expect("r2d2 get");
        let waited = start.elapsed().as_nanos() as u64;
        black_box(&*conn);
        waited
    }
}

fn nimue_pool(size: usize, test_on_checkout: bool) -> Nimue {
    let pool = Pool::builder(TestConnector::noop())
        .min_idle(size)
        .max_size(size)
        .connection_timeout(Duration::from_secs(60))
        .test_on_checkout(test_on_checkout)
        .build()
        .expect("nimue pool");
    Nimue(pool)
}

fn r2d2_pool(size: usize, test_on_checkout: bool) -> R2d2 {
    let pool = r2d2::Pool::builder()
        .min_idle(Some(size as u32))
        .max_size(size as u32)
        .connection_timeout(Duration::from_secs(60))
        .test_on_check_out(test_on_checkout)
        .build(NoopManager(TestConnector::noop()))
        .expect("r2d2 pool");
    R2d2(pool)
}

/// Nanoseconds per call of `op`, over about `duration`.
fn ns_per_op(duration: Duration, mut op: impl FnMut()) -> f64 {
    // Calibrate a batch size of about a millisecond, then run whole batches.
    let mut batch = 1u64;
    loop {
        let start = Instant::now();
        for _ in 0..batch {
            op();
        }
        if start.elapsed() >= Duration::from_millis(1) {
            break;
        }
        batch *= 2;
    }
    let start = Instant::now();
    let mut done = 0u64;
    while start.elapsed() < duration {
        for _ in 0..batch {
            op();
        }
        done += batch;
    }
    start.elapsed().as_nanos() as f64 / done as f64
}

/// One contended run: `threads` threads cycle for `duration`.
struct Contended {
    /// Checkouts per second, all threads together (from an untimed run: reading the clock
    /// twice per checkout would cost as much as the checkout).
    throughput: f64,
    /// `get()` latency percentiles in nanoseconds: p50, p99, p99.9 (from a timed run).
    latency: [f64; 3],
}

/// Throughput from an untimed run, latencies from a timed one.
fn contended(subject: &impl Subject, threads: usize, duration: Duration) -> Contended {
    let throughput = untimed(subject, threads, duration);
    let latency = timed(subject, threads, duration);
    Contended {
        throughput,
        latency,
    }
}

/// Checkouts per second of `threads` threads cycling for `duration`.
fn untimed(subject: &impl Subject, threads: usize, duration: Duration) -> f64 {
    // Set once by the main thread when the time is up; the workers only read it.
    let stop = AtomicBool::new(false);
    let start = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut done = 0u64;
                    start.wait();
                    while !stop.load(Ordering::Relaxed) {
                        subject.cycle();
                        done += 1;
                    }
                    done
                })
            })
            .collect();
        start.wait();
        let began = Instant::now();
        std::thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
        let done: u64 = workers.into_iter().map(|w| w.join().expect("worker")).sum();
        done as f64 / began.elapsed().as_secs_f64()
    })
}

/// `get()` latency percentiles (p50, p99, p99.9, in ns) of `threads` threads cycling for
/// `duration`.
fn timed(subject: &impl Subject, threads: usize, duration: Duration) -> [f64; 3] {
    // Set once by the main thread when the time is up; the workers only read it.
    let stop = AtomicBool::new(false);
    let start = Barrier::new(threads + 1);
    let mut latencies = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut lat = Vec::with_capacity(1 << 18);
                    start.wait();
                    while !stop.load(Ordering::Relaxed) {
                        lat.push(subject.timed_cycle());
                    }
                    lat
                })
            })
            .collect();
        start.wait();
        std::thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
        let all: Vec<u64> = workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect();
        all
    });
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize] as f64;
    [at(0.5), at(0.99), at(0.999)]
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Run `nimue` and `r2d2` alternately `rounds` times each; medians of each.
fn side_by_side<T>(
    rounds: usize,
    mut nimue: impl FnMut() -> T,
    mut r2d2: impl FnMut() -> T,
) -> (Vec<T>, Vec<T>) {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        a.push(nimue());
        b.push(r2d2());
    }
    (a, b)
}

struct Uncontended {
    test_on_checkout: bool,
    nimue_ns: f64,
    r2d2_ns: f64,
}

struct ContendedRow {
    threads: usize,
    size: usize,
    nimue: Contended,
    r2d2: Contended,
}

struct Sqlite {
    nimue_pooled: f64,
    /// The same through `Pool::with` (no guard reference count).
    nimue_with: f64,
    nimue_bare: f64,
    r2d2_pooled: f64,
    rusqlite_bare: f64,
}

fn medians(runs: Vec<Contended>) -> Contended {
    let pick = |f: &dyn Fn(&Contended) -> f64| median(runs.iter().map(f).collect());
    Contended {
        throughput: pick(&|c| c.throughput),
        latency: [
            pick(&|c| c.latency[0]),
            pick(&|c| c.latency[1]),
            pick(&|c| c.latency[2]),
        ],
    }
}

fn main() {
    let args = Args::parse();
    let rounds = args.rounds.unwrap_or(if args.quick { 3 } else { 5 });
    let run = if args.quick {
        Duration::from_millis(100)
    } else {
        Duration::from_millis(400)
    };
    if let Some(which) = &args.profile {
        let run = Duration::from_secs(3);
        let c = match which.as_str() {
            "nimue" => untimed(&nimue_pool(4, false), 8, run),
            "r2d2" => untimed(&r2d2_pool(4, false), 8, run),
            "nimue-sqlite" => 1e9 / ns_per_op(run, sqlite_nimue_cycle()),
            other => panic!("--profile nimue|r2d2|nimue-sqlite, not {other}"),
        };
        println!("{which}: {:.2} M/s", c / 1e6);
        return;
    }
    let machine = machine();
    println!("nimue vs r2d2 on {machine}; {rounds} rounds of {run:?} each, medians\n");

    println!("(a) uncontended checkout+return, no-op connection, pool of 4");
    let mut uncontended = Vec::new();
    for test_on_checkout in [false, true] {
        let nimue = nimue_pool(4, test_on_checkout);
        let r2d2 = r2d2_pool(4, test_on_checkout);
        let (a, b) = side_by_side(
            rounds,
            || ns_per_op(run, || nimue.cycle()),
            || ns_per_op(run, || r2d2.cycle()),
        );
        let row = Uncontended {
            test_on_checkout,
            nimue_ns: median(a),
            r2d2_ns: median(b),
        };
        println!(
            "    test_on_checkout {:5}: nimue {:7.1} ns  r2d2 {:7.1} ns  time ratio {:.2}",
            row.test_on_checkout,
            row.nimue_ns,
            row.r2d2_ns,
            row.nimue_ns / row.r2d2_ns
        );
        uncontended.push(row);
    }

    println!("\n(b, d) contended checkout+return: throughput and get() latency");
    let mut rows = Vec::new();
    for size in POOL_SIZES {
        for threads in THREADS {
            let nimue = nimue_pool(size, false);
            let r2d2 = r2d2_pool(size, false);
            let (a, b) = side_by_side(
                rounds,
                || contended(&nimue, threads, run),
                || contended(&r2d2, threads, run),
            );
            let row = ContendedRow {
                threads,
                size,
                nimue: medians(a),
                r2d2: medians(b),
            };
            println!(
                "    {:2} threads, pool {:2}: throughput ratio {:5.2} ({:.2} vs {:.2} M/s)  \
                 p50 {:.0}/{:.0} ns  p99 {:.0}/{:.0} ns  p99.9 {:.0}/{:.0} ns",
                threads,
                size,
                row.nimue.throughput / row.r2d2.throughput,
                row.nimue.throughput / 1e6,
                row.r2d2.throughput / 1e6,
                row.nimue.latency[0],
                row.r2d2.latency[0],
                row.nimue.latency[1],
                row.r2d2.latency[1],
                row.nimue.latency[2],
                row.r2d2.latency[2],
            );
            rows.push(row);
        }
    }

    println!("\n(c) checkout + SELECT 1 + return on SQLite (in-memory), pool of 4");
    let sqlite = sqlite(rounds, run);
    println!(
        "    nimue {:.0} ns, with() {:.0} ns (bare {:.0} ns, overhead {:+.1}%, with() {:+.1}%)  \
         r2d2 {:.0} ns (bare rusqlite {:.0} ns, overhead {:+.1}%)  time ratio {:.2}",
        sqlite.nimue_pooled,
        sqlite.nimue_with,
        sqlite.nimue_bare,
        overhead(sqlite.nimue_pooled, sqlite.nimue_bare),
        overhead(sqlite.nimue_with, sqlite.nimue_bare),
        sqlite.r2d2_pooled,
        sqlite.rusqlite_bare,
        overhead(sqlite.r2d2_pooled, sqlite.rusqlite_bare),
        sqlite.nimue_pooled / sqlite.r2d2_pooled
    );

    std::fs::create_dir_all(&args.out).expect("output directory");
    let md = markdown(&machine, rounds, run, &uncontended, &rows, &sqlite);
    let md_path = args.out.join("results.md");
    std::fs::write(&md_path, md).expect("write results.md");
    let svg_path = args.out.join("ratios.svg");
    plot(&svg_path, &rows).expect("plot");
    println!("\nwrote {} and {}", md_path.display(), svg_path.display());
}

fn overhead(pooled: f64, bare: f64) -> f64 {
    (pooled / bare - 1.0) * 100.0
}

/// One checkout + `SELECT 1` + return on a nimue SQLite pool of 4, for `--profile`.
fn sqlite_nimue_cycle() -> impl FnMut() {
    let nimue = Pool::builder(SqliteConnector::memory())
        .min_idle(4)
        .max_size(4)
        .build()
        .expect("nimue sqlite pool");
    move || {
        let mut conn = nimue.get().expect("get");
        black_box(conn.query_row("SELECT 1", &[]).expect("SELECT 1"));
    }
}

fn sqlite(rounds: usize, run: Duration) -> Sqlite {
    let nimue = Pool::builder(SqliteConnector::memory())
        .min_idle(4)
        .max_size(4)
        .build()
        .expect("nimue sqlite pool");
    let mut bare = SqliteConnector::memory().connect().expect("sqlite");
    // Like for like: nimue does not test on checkout by default, r2d2 does.
    let r2d2 = r2d2::Pool::builder()
        .min_idle(Some(4))
        .max_size(4)
        .test_on_check_out(false)
        .build(r2d2_sqlite::SqliteConnectionManager::memory())
        .expect("r2d2 sqlite pool");
    let raw = rusqlite::Connection::open_in_memory().expect("rusqlite");
    let select = |conn: &rusqlite::Connection| -> i64 {
        conn.prepare_cached("SELECT 1")
            .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
            .expect("SELECT 1")
    };
    let mut results = [vec![], vec![], vec![], vec![], vec![]];
    for _ in 0..rounds {
        results[4].push(ns_per_op(run, || {
            let row = nimue.with(|conn| conn.query_row("SELECT 1", &[]));
            black_box(row.expect("SELECT 1"));
        }));
        results[0].push(ns_per_op(run, || {
            let mut conn = nimue.get().expect("get");
            black_box(conn.query_row("SELECT 1", &[]).expect("SELECT 1"));
        }));
        results[1].push(ns_per_op(run, || {
            black_box(bare.query_row("SELECT 1", &[]).expect("SELECT 1"));
        }));
        results[2].push(ns_per_op(run, || {
            let conn = r2d2.get().expect("get");
            black_box(select(&conn));
        }));
        results[3].push(ns_per_op(run, || {
            black_box(select(&raw));
        }));
    }
    let [a, b, c, d, e] = results.map(median);
    Sqlite {
        nimue_pooled: a,
        nimue_with: e,
        nimue_bare: b,
        r2d2_pooled: c,
        rusqlite_bare: d,
    }
}

fn markdown(
    machine: &str,
    rounds: usize,
    run: Duration,
    uncontended: &[Uncontended],
    rows: &[ContendedRow],
    sqlite: &Sqlite,
) -> String {
    let mut md = String::new();
    let date = chrono::Local::now().format("%Y-%m-%d");
    let _ = writeln!(
        md,
        "# nimue vs r2d2\n\n\
         Written by `cargo bench --bench vs_r2d2` on {date}: {machine}. Both pools run in one \
         process on the same workloads, alternately, {rounds} rounds of {run:?} each; every \
         number is a median. Ratios are nimue/r2d2.\n\n\
         ## (a) Uncontended checkout + return (no-op connection, pool of 4)\n\n\
         | test on checkout | nimue ns | r2d2 ns | time ratio (target ≤ 0.5) |\n|---|---|---|---|"
    );
    for u in uncontended {
        let _ = writeln!(
            md,
            "| {} | {:.1} | {:.1} | **{:.2}** |",
            if u.test_on_checkout { "on" } else { "off" },
            u.nimue_ns,
            u.r2d2_ns,
            u.nimue_ns / u.r2d2_ns
        );
    }
    let _ = writeln!(
        md,
        "\n## (b) Contended checkout + return: throughput\n\n\
         | threads | pool | nimue M/s | r2d2 M/s | throughput ratio (target ≥ 1.5 at 8 on 4) |\n\
         |---|---|---|---|---|"
    );
    for r in rows {
        let _ = writeln!(
            md,
            "| {} | {} | {:.2} | {:.2} | **{:.2}** |",
            r.threads,
            r.size,
            r.nimue.throughput / 1e6,
            r.r2d2.throughput / 1e6,
            r.nimue.throughput / r.r2d2.throughput
        );
    }
    let _ = writeln!(
        md,
        "\n## (d) `get()` latency under contention (µs, nimue / r2d2)\n\n\
         | threads | pool | p50 | p99 | p99.9 | p99.9 ratio (target ≤ 1) |\n|---|---|---|---|---|---|"
    );
    for r in rows {
        let [a, b] = [&r.nimue.latency, &r.r2d2.latency];
        let _ = writeln!(
            md,
            "| {} | {} | {:.2} / {:.2} | {:.2} / {:.2} | {:.2} / {:.2} | **{:.2}** |",
            r.threads,
            r.size,
            a[0] / 1e3,
            b[0] / 1e3,
            a[1] / 1e3,
            b[1] / 1e3,
            a[2] / 1e3,
            b[2] / 1e3,
            a[2] / b[2]
        );
    }
    let _ = writeln!(
        md,
        "\n## (c) Checkout + `SELECT 1` + return on SQLite (in-memory, pool of 4)\n\n\
         | | pooled ns | bare connection ns | pool overhead (target ≤ 5%) |\n|---|---|---|---|\n\
         | nimue (nimue-sqlite), `get()` | {:.0} | {:.0} | **{:+.1}%** |\n\
         | nimue (nimue-sqlite), `Pool::with` | {:.0} | {:.0} | **{:+.1}%** |\n\
         | r2d2 (r2d2_sqlite, rusqlite) | {:.0} | {:.0} | {:+.1}% |\n\n\
         Pooled time ratio nimue/r2d2: **{:.2}** (includes the DB-API layer of nimue-sqlite; \
         the bare columns compare the adapters alone).\n\n\
         ![throughput and p99.9 ratios](ratios.svg)",
        sqlite.nimue_pooled,
        sqlite.nimue_bare,
        overhead(sqlite.nimue_pooled, sqlite.nimue_bare),
        sqlite.nimue_with,
        sqlite.nimue_bare,
        overhead(sqlite.nimue_with, sqlite.nimue_bare),
        sqlite.r2d2_pooled,
        sqlite.rusqlite_bare,
        overhead(sqlite.r2d2_pooled, sqlite.rusqlite_bare),
        sqlite.nimue_pooled / sqlite.r2d2_pooled
    );
    md
}

/// Two panels against the thread count: throughput ratio and p99.9 latency ratio, one line
/// per pool size.
fn plot(path: &Path, rows: &[ContendedRow]) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (960, 400)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((1, 2));
    type Metric = (&'static str, fn(&ContendedRow) -> f64, f64);
    let metrics: [Metric; 2] = [
        (
            "throughput nimue/r2d2 (higher is better)",
            |r| r.nimue.throughput / r.r2d2.throughput,
            1.5,
        ),
        (
            "p99.9 get() latency nimue/r2d2 (lower is better)",
            |r| r.nimue.latency[2] / r.r2d2.latency[2],
            1.0,
        ),
    ];
    let colors = [BLUE, RED];
    for (panel, (title, metric, target)) in panels.iter().zip(metrics) {
        let top = rows.iter().map(metric).fold(target, f64::max) * 1.15;
        let mut chart = ChartBuilder::on(panel)
            .caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(45)
            .build_cartesian_2d(-0.3f64..3.3f64, 0f64..top)?;
        chart
            .configure_mesh()
            .x_labels(THREADS.len())
            .x_label_formatter(&|x| {
                THREADS
                    .get(x.round() as usize)
                    .map_or(String::new(), |t| format!("{t} threads"))
            })
            .y_label_formatter(&|y| format!("{y:.1}"))
            .draw()?;
        chart
            .draw_series(LineSeries::new(
                [(-0.3, target), (3.3, target)],
                BLACK.mix(0.4),
            ))?
            .label(format!("target {target}"))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK.mix(0.4)));
        for (size, color) in POOL_SIZES.into_iter().zip(colors) {
            let points: Vec<(f64, f64)> = rows
                .iter()
                .filter(|r| r.size == size)
                .map(|r| {
                    let i = THREADS.iter().position(|&t| t == r.threads).unwrap_or(0);
                    (i as f64, metric(r))
                })
                .collect();
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
                .label(format!("pool of {size}"))
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color));
            chart.draw_series(PointSeries::of_element(
                points,
                4,
                color.filled(),
                &|c, s, st| Circle::new(c, s, st),
            ))?;
        }
        chart
            .configure_series_labels()
            .border_style(BLACK.mix(0.3))
            .background_style(WHITE.mix(0.9))
            .draw()?;
    }
    root.present()?;
    Ok(())
}
