//! HikariCP's "spike demand" scenario, nimue and r2d2 side by side in one process: a connect
//! takes 150 ms (or 20 ms), a query holds its connection 2 ms, `max_size` 50, `min_idle` 5,
//! and 50 threads ask at once. Then a sustained load that does need more connections (50
//! threads querying without pause for a second): how soon each pool grows to it, and what
//! it serves. Both pools connect through the same test driver with the same delay.
//! Writes `docs/bench/spike.md`.
//!
//! ```text
//! cargo bench --bench spike                  # three rounds of each (about a minute)
//! cargo bench --bench spike -- --quick       # one round, a smoke run
//! ```

mod common;

use clap::Parser;
use nimue::PoolHooks;
use nimue::{Connect, Pool};
use nimue_core::testing::{TestConnection, TestConnector};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "the spike-demand scenario, nimue beside r2d2")]
struct Args {
    /// One round of each: a smoke run.
    #[arg(long)]
    quick: bool,
    /// Rounds per measurement (medians are reported); default 3, 1 with --quick.
    #[arg(long)]
    rounds: Option<usize>,
    /// Where spike.md is written.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/bench"))]
    out: PathBuf,
    /// Passed by `cargo bench`.
    #[arg(long, hide = true)]
    bench: bool,
}

const MAX: usize = 50;
const MIN_IDLE: usize = 5;
const CALLERS: usize = 50;
const QUERY: Duration = Duration::from_millis(2);
const SUSTAINED: Duration = Duration::from_secs(1);

/// The pool side of one scenario.
trait Subject: Send + Sync + 'static {
    /// Check out, hold the connection for `QUERY`, give it back; how long the checkout took.
    fn query(&self) -> Duration;
    /// Connections the pool holds open (not those being opened).
    fn total(&self) -> usize;
}

impl Subject for Pool<TestConnector> {
    fn query(&self) -> Duration {
        let asked = Instant::now();
        let conn = self.get().expect("nimue get");
        let waited = asked.elapsed();
        thread::sleep(QUERY);
        drop(conn);
        waited
    }

    fn total(&self) -> usize {
        let state = self.state();
        state.idle + state.in_use
    }
}

struct Manager(TestConnector);

impl r2d2::ManageConnection for Manager {
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

impl Subject for r2d2::Pool<Manager> {
    fn query(&self) -> Duration {
        let asked = Instant::now();
        let conn = self.get().expect("r2d2 get");
        let waited = asked.elapsed();
        thread::sleep(QUERY);
        drop(conn);
        waited
    }

    fn total(&self) -> usize {
        self.state().connections as usize
    }
}

/// Builds one pool under test over a connector.
type Make = fn(&TestConnector) -> Arc<dyn Subject>;

fn nimue(connector: &TestConnector) -> Arc<dyn Subject> {
    let pool = Pool::builder(connector.clone())
        .min_idle(MIN_IDLE)
        .max_size(MAX)
        .connection_timeout(Duration::from_secs(30))
        .build()
        .expect("nimue pool");
    Arc::new(pool)
}

fn r2d2(connector: &TestConnector) -> Arc<dyn Subject> {
    let pool = r2d2::Pool::builder()
        .min_idle(Some(MIN_IDLE as u32))
        .max_size(MAX as u32)
        .connection_timeout(Duration::from_secs(30))
        .build(Manager(connector.clone()))
        .expect("r2d2 pool");
    Arc::new(pool)
}

/// What one spike came to.
#[derive(Clone, Copy, Default)]
struct Spike {
    /// Connects made because of the spike (counted once they all ended).
    opened: f64,
    median_ms: f64,
    slowest_ms: f64,
    /// Connections held once the spike and its connects are over.
    after: f64,
}

/// `CALLERS` threads ask at once of a pool warmed to `MIN_IDLE` connections.
fn spike(make: Make, connect: Duration) -> Spike {
    let connector = TestConnector::new();
    connector.set_connect_delay(connect);
    let pool = make(&connector);
    // Warm: min_idle connections open (r2d2 opens them in the background).
    let until = Instant::now() + Duration::from_secs(30);
    while connector.stats().opened < MIN_IDLE as u64 && Instant::now() < until {
        thread::sleep(Duration::from_millis(5));
    }
    thread::sleep(Duration::from_millis(100));
    let before = connector.stats().opened;
    let start = Arc::new(Barrier::new(CALLERS));
    let callers: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (pool, start) = (Arc::clone(&pool), Arc::clone(&start));
            thread::spawn(move || {
                start.wait();
                pool.query()
            })
        })
        .collect();
    let mut waits: Vec<f64> = callers
        .into_iter()
        .map(|t| t.join().expect("caller").as_secs_f64() * 1e3)
        .collect();
    // Connects started for the spike end within a connect time (and some).
    thread::sleep(connect + Duration::from_millis(100));
    waits.sort_by(f64::total_cmp);
    Spike {
        opened: (connector.stats().opened - before) as f64,
        median_ms: waits[waits.len() / 2],
        slowest_ms: waits[waits.len() - 1],
        after: pool.total() as f64,
    }
}

/// What the sustained load came to.
#[derive(Clone, Copy, Default)]
struct Sustained {
    /// From the load's start until the pool held 45 connections (the load keeps 50 busy).
    grew_ms: f64,
    queries_per_s: f64,
}

fn sustained(make: Make, connect: Duration) -> Sustained {
    let connector = TestConnector::new();
    connector.set_connect_delay(connect);
    let pool = make(&connector);
    thread::sleep(connect * (MIN_IDLE as u32 + 1));
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (pool, stop, done) = (Arc::clone(&pool), Arc::clone(&stop), Arc::clone(&done));
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    pool.query();
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let mut grew = None;
    while started.elapsed() < SUSTAINED + connect {
        if grew.is_none() && pool.total() >= 45 {
            grew = Some(started.elapsed());
        }
        thread::sleep(Duration::from_millis(2));
    }
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    workers.into_iter().for_each(|w| w.join().expect("worker"));
    Sustained {
        grew_ms: grew.map_or(f64::NAN, |at| at.as_secs_f64() * 1e3),
        queries_per_s: done.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64(),
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn medians(runs: &[Spike]) -> Spike {
    Spike {
        opened: median(runs.iter().map(|r| r.opened).collect()),
        median_ms: median(runs.iter().map(|r| r.median_ms).collect()),
        slowest_ms: median(runs.iter().map(|r| r.slowest_ms).collect()),
        after: median(runs.iter().map(|r| r.after).collect()),
    }
}

fn main() {
    let args = Args::parse();
    let rounds = args.rounds.unwrap_or(if args.quick { 1 } else { 3 });
    let mut report = String::new();
    let _ = writeln!(
        report,
        "# Spike demand: nimue beside r2d2\n\n`cargo bench --bench spike` ({rounds} round(s), \
         medians; {}, {}). A connect takes the time shown, a query holds its connection \
         {} ms, `max_size` {MAX}, `min_idle` {MIN_IDLE}; {CALLERS} threads ask at once \
         (HikariCP's \"spike demand\" scenario). Both pools connect through the same test \
         driver.\n",
        common::machine(),
        common::build_kind(),
        QUERY.as_millis(),
    );
    let _ = writeln!(
        report,
        "| connect | pool | opened for the spike | median wait | slowest wait | connections after |\n|---|---|---|---|---|---|"
    );
    for connect in [Duration::from_millis(150), Duration::from_millis(20)] {
        let pools: [(&str, Make); 2] = [("nimue", nimue), ("r2d2", r2d2)];
        let mut runs: [Vec<Spike>; 2] = [Vec::new(), Vec::new()];
        for _ in 0..rounds {
            for (i, (_, make)) in pools.iter().enumerate() {
                runs[i].push(spike(*make, connect));
            }
        }
        for (i, (name, _)) in pools.iter().enumerate() {
            let s = medians(&runs[i]);
            let line = format!(
                "| {} ms | {name} | {} | {:.1} ms | {:.1} ms | {} |",
                connect.as_millis(),
                s.opened,
                s.median_ms,
                s.slowest_ms,
                s.after
            );
            println!("{line}");
            let _ = writeln!(report, "{line}");
        }
    }
    let _ = writeln!(
        report,
        "\nSustained load: {CALLERS} threads query without pause for {} s, from a pool warmed \
         to {MIN_IDLE}: how long until it holds 45 connections, and what it serves.\n\n\
         | connect | pool | reached 45 after | queries/s | nimue/r2d2 |\n|---|---|---|---|---|",
        SUSTAINED.as_secs()
    );
    for connect in [Duration::from_millis(150), Duration::from_millis(20)] {
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        for _ in 0..rounds {
            ours.push(sustained(nimue, connect));
            theirs.push(sustained(r2d2, connect));
        }
        let pick = |runs: &[Sustained]| Sustained {
            grew_ms: median(runs.iter().map(|r| r.grew_ms).collect()),
            queries_per_s: median(runs.iter().map(|r| r.queries_per_s).collect()),
        };
        let (n, r) = (pick(&ours), pick(&theirs));
        for (name, s, ratio) in [
            (
                "nimue",
                n,
                format!("{:.2}x", n.queries_per_s / r.queries_per_s),
            ),
            ("r2d2", r, String::new()),
        ] {
            let grew = if s.grew_ms.is_nan() {
                "not within the run".to_owned()
            } else {
                format!("{:.0} ms", s.grew_ms)
            };
            let line = format!(
                "| {} ms | {name} | {grew} | {:.0} | {ratio} |",
                connect.as_millis(),
                s.queries_per_s
            );
            println!("{line}");
            let _ = writeln!(report, "{line}");
        }
    }
    let _ = writeln!(
        report,
        "\nPeak RSS of the benchmark process: {} kB.",
        common::peak_rss_kb()
    );
    std::fs::create_dir_all(&args.out).expect("output directory");
    let path = args.out.join("spike.md");
    std::fs::write(&path, report).expect("write spike.md");
    println!("wrote {}", path.display());
}
