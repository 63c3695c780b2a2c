//! Many threads hammer one pool for a bounded time while the test driver injects faults
//! (connect, ping and reset failures, killed and broken connections, panics while holding,
//! detaches); afterwards every count must add up and nothing may leak.

mod support;

use nimue_core::testing::TestConnector;
use nimue_core::PoolHooks;
use nimue_core::{Connection, Error, ErrorKind, Pool, Reuse};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use support::{assert_consistent, eventually};

const THREADS: u64 = 8;
const RUN_FOR: Duration = Duration::from_millis(1500);
const MAX_ROUNDS: u64 = 50_000;
const MIN_IDLE: usize = 2;
const MAX_SIZE: usize = 5;

/// A tiny deterministic generator per thread (xorshift64).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// What the hammering threads saw.
#[derive(Default)]
struct Seen {
    gets: u64,
    timeouts: u64,
}

fn hammer(pool: &Pool<TestConnector>, seed: u64, detach: bool) -> Seen {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut seen = Seen::default();
    let start = Instant::now();
    for _ in 0..MAX_ROUNDS {
        let elapsed = start.elapsed();
        if elapsed >= RUN_FOR {
            break;
        }
        if elapsed.as_millis() / 100 % 4 == 3 {
            // Every fourth 100 ms, everybody pauses: connections sit idle, and the checker
            // pings, retires and tops up while the threads come and go.
            thread::sleep(Duration::from_millis(5));
            continue;
        }
        seen.gets += 1;
        let mut conn = match pool.get() {
            Ok(conn) => conn,
            Err(e) => {
                // Every failed get gave up at its timeout: a plain timeout, or the connect error
                // that was failing it then (`Error::Connect` with the timeout's numbers).
                assert!(
                    e.kind() == ErrorKind::PoolTimeout
                        || matches!(
                            e,
                            Error::Connect {
                                timeout: Some(_),
                                ..
                            }
                        ),
                    "{e:?}"
                );
                seen.timeouts += 1;
                continue;
            }
        };
        match rng.below(100) {
            0..=2 => {
                let held = AssertUnwindSafe(conn);
                let result = panic::catch_unwind(move || {
                    let _held = held;
                    // Unwinds like a panic (thread::panicking() is true) without the noise.
                    panic::resume_unwind(Box::new("injected panic"));
                });
                assert!(result.is_err());
            }
            3..=7 => conn.set_broken(),
            8..=9 => pool.connector().kill(conn.id()),
            10..=11 if detach => drop(conn.detach()),
            12..=39 => {
                // Fails (and breaks the connection) when it was killed.
                let _ = conn.execute("INSERT INTO t VALUES (1)", &[]);
            }
            40..=49 => {
                let _ = conn.close();
            }
            50..=54 => thread::sleep(Duration::from_millis(1)),
            _ => {
                let _ = conn.ping();
            }
        }
    }
    seen
}

/// While the workers run, resize the pool at random (max_size between 1 and MAX_SIZE) and
/// drain it now and then; back to the full size at the end.
fn reshape(pool: &Pool<TestConnector>, running: &AtomicBool) -> u64 {
    let mut rng = Rng(0x5eed);
    let mut changes = 0;
    while running.load(Ordering::Relaxed) {
        if rng.below(4) == 0 {
            pool.drain();
        } else {
            let max = 1 + rng.below(MAX_SIZE as u64) as usize;
            pool.resize(MIN_IDLE.min(max), max).unwrap();
        }
        changes += 1;
        thread::sleep(Duration::from_millis(7));
    }
    pool.resize(MIN_IDLE, MAX_SIZE).unwrap();
    changes
}

fn stress(reuse: Reuse, test_on_checkout: bool, detach: bool) {
    stress_with(reuse, test_on_checkout, detach, false);
}

fn stress_with(reuse: Reuse, test_on_checkout: bool, detach: bool, live_changes: bool) {
    let connector = TestConnector::with_seed(u64::from(detach) + 7);
    connector.set_connect_failure_rate(0.05);
    connector.set_ping_failure_rate(0.05);
    connector.set_reset_failure_rate(0.02);
    let pool = Pool::builder(connector.clone())
        .name("stress")
        .min_idle(MIN_IDLE)
        .max_size(MAX_SIZE)
        .check_interval(Duration::from_millis(10))
        .idle_timeout(Some(Duration::from_millis(30)))
        .max_lifetime(Some(Duration::from_millis(100)))
        .connection_timeout(Duration::from_millis(200))
        .test_on_checkout(test_on_checkout)
        .reuse(reuse)
        .evict_on_disconnect(live_changes)
        .build_lazy()
        .unwrap();

    // A monitor checks the numbers add up all along.
    let running = Arc::new(AtomicBool::new(true));
    let monitor = {
        let (pool, running) = (pool.clone(), Arc::clone(&running));
        thread::spawn(move || {
            let mut samples = 0u64;
            while running.load(Ordering::Relaxed) {
                let state = pool.state();
                if live_changes {
                    // Just after a resize lowered max_size, total may exceed it for a while.
                    assert_eq!(state.total, state.idle + state.in_use + state.pending);
                    assert!(state.total <= MAX_SIZE, "{state:?}");
                } else {
                    assert_consistent(&state);
                }
                samples += 1;
                thread::yield_now();
            }
            samples
        })
    };
    let workers: Vec<_> = (0..THREADS)
        .map(|seed| {
            let pool = pool.clone();
            thread::spawn(move || hammer(&pool, seed + 1, detach))
        })
        .collect();
    let reshaper = live_changes.then(|| {
        let (pool, running) = (pool.clone(), Arc::clone(&running));
        thread::spawn(move || reshape(&pool, &running))
    });
    let mut seen = Seen::default();
    for worker in workers {
        let one = worker.join().expect("no unexpected panic in a worker");
        seen.gets += one.gets;
        seen.timeouts += one.timeouts;
    }
    running.store(false, Ordering::Relaxed);
    assert!(monitor.join().unwrap() > 0);
    if let Some(reshaper) = reshaper {
        assert!(reshaper.join().unwrap() > 0);
        assert!(pool.state().evicted > 0, "{:?}", pool.state());
    }

    let state = pool.state();
    assert_eq!(state.gets, seen.gets, "every get counted once");
    assert_eq!(state.timeouts, seen.timeouts);
    assert!(state.waits <= state.gets);
    assert_eq!((state.in_use, state.waiting), (0, 0), "{state:?}");
    assert!(
        state.broken > 0 && state.created > 0,
        "faults were injected: {state:?}"
    );
    if !detach {
        // Slots are counted before connecting and freed after closing, so the connections
        // that exist never outnumber max_size (detached ones are no longer the pool's).
        assert!(
            connector.stats().max_live <= MAX_SIZE,
            "{:?}",
            connector.stats()
        );
    }

    // Quiescence: no faults, nobody using the pool. The checker keeps working (retiring
    // expired connections, topping up), so wait for a moment with nothing pending.
    connector.set_connect_failure_rate(0.0);
    connector.set_ping_failure_rate(0.0);
    connector.set_reset_failure_rate(0.0);
    assert!(
        eventually(|| {
            let state = pool.state();
            state.pending == 0 && state.idle >= MIN_IDLE && connector.stats().live == state.total
        }),
        "{:?} {:?}",
        pool.state(),
        connector.stats()
    );
    let state = pool.state();
    assert_consistent(&state);
    assert_eq!(state.total, state.idle);

    // Still healthy: every slot can be used.
    let all: Vec<_> = (0..MAX_SIZE).map(|_| pool.get().unwrap()).collect();
    assert!(pool.try_get().unwrap().is_none());
    for mut conn in all {
        // Without test_on_checkout, a connection killed during the run may still sit idle
        // until the checker's next round pings it; nothing else may be wrong with any.
        if let Err(e) = conn.ping() {
            assert!(e.to_string().contains("killed"), "{e}");
        }
    }

    drop(pool);
    assert_eq!(connector.stats().live, 0, "nothing leaked after close");
    assert_eq!(connector.clones(), 1, "the checker is gone");
}

#[test]
fn stress_while_resizing_and_draining() {
    stress_with(Reuse::Lifo, true, false, true);
}

#[test]
fn stress_lifo_with_detach() {
    stress(Reuse::Lifo, false, true);
}

#[test]
fn stress_fifo_with_checkout_tests() {
    stress(Reuse::Fifo, true, false);
}
