//! Pool fault tests against a real server, written once and run for PostgreSQL and MariaDB:
//! sessions killed server-side, a server restart, wrong credentials.
//!
//! Nothing here asserts a duration: deadlines only stop a broken build from hanging, and the
//! checks are on what the pool did (which connections it handed out, its counters).

#![allow(dead_code)]

pub use crate::common::eventually;
use nimue::PoolHooks;
use nimue::{Connect, Connection, Error, ErrorKind, Liveness, Pool, PoolState};
use std::collections::HashSet;
use std::time::Duration;

/// `#[test]`s that run fault tests on the `server()` of the including file (skipped, or failed
/// under CI=true, when its server is not configured): `test_name => fault_function`.
#[allow(unused_macros)] // pool_restart.rs uses the functions, not this
macro_rules! server_tests {
    ($($name:ident => $fault:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let Some(server) = server() else { return };
                faults::$fault(server);
            }
        )*
    };
}

/// How to reach into one server from the outside.
pub struct Server<K: Connect> {
    /// Opens the pool's connections (and the admin connection).
    pub connector: K,
    /// The server's id of a session (PostgreSQL backend pid, MySQL connection id).
    pub session_id: fn(&mut K::Connection) -> i64,
    /// Kill session `id` from the admin connection.
    pub kill: fn(&mut K::Connection, i64),
    /// Whether session `id` still exists, seen from the admin connection.
    pub exists: fn(&mut K::Connection, i64) -> bool,
}

/// The pool's own bookkeeping agrees with itself.
pub fn assert_consistent(state: &PoolState) {
    assert_eq!(
        state.total,
        state.idle + state.in_use + state.pending,
        "{state:?}"
    );
    assert!(state.total <= state.max_size, "{state:?}");
}

/// Take `n` connections at once; each must really work. Returns their session ids, once
/// every one is back in the pool (their resets, which may run on the pool's resetter thread,
/// done: a session killed after this is killed idle, not in the middle of its reset).
fn sessions<K: Connect>(server: &Server<K>, pool: &Pool<K>, n: usize) -> Vec<i64> {
    let mut held: Vec<_> = (0..n).map(|_| pool.get().expect("a connection")).collect();
    let ids = held
        .iter_mut()
        .map(|conn| {
            let row = conn.query_row("SELECT 1", &[]).expect("a live connection");
            assert_eq!(row.expect("one row").get::<i64>(0).unwrap(), 1);
            (server.session_id)(&mut **conn)
        })
        .collect();
    drop(held);
    eventually("every returned connection is reset", || {
        pool.state().pending == 0
    });
    ids
}

/// Kill every session in `ids` and wait until the server has really ended them.
pub fn kill_all<K: Connect>(server: &Server<K>, ids: &[i64]) {
    let mut admin = server.connector.connect().expect("an admin connection");
    // Each check in its own transaction: PostgreSQL keeps one activity snapshot per
    // transaction.
    admin.set_autocommit(true).unwrap();
    for &id in ids {
        (server.kill)(&mut admin, id);
    }
    eventually("the killed sessions are gone", || {
        ids.iter().all(|&id| !(server.exists)(&mut admin, id))
    });
}

/// Sessions killed server-side while idle: the checker notices at its next round and
/// replaces every one, so the pool is whole again before anyone asks.
pub fn checker_replaces_killed_connections<K: Connect + Clone>(server: Server<K>) {
    let pool = Pool::builder(server.connector.clone())
        .name("killed-idle")
        .min_idle(3)
        .max_size(4)
        .check_interval(Duration::from_millis(200))
        .test_on_checkout(false)
        .build()
        .unwrap();
    let before: HashSet<i64> = sessions(&server, &pool, 3).into_iter().collect();
    assert_eq!(before.len(), 3);
    kill_all(&server, &before.iter().copied().collect::<Vec<_>>());

    eventually(
        "the checker found the dead connections and replaced them",
        || {
            let s = pool.state();
            s.checks_failed >= 3 && s.idle >= 3
        },
    );
    let state = pool.state();
    assert_eq!(state.checks_failed, 3, "{state:?}");
    assert_consistent(&state);
    // No check on checkout: the connections handed out now are the checker's new ones.
    let after: HashSet<i64> = sessions(&server, &pool, 3).into_iter().collect();
    assert!(after.is_disjoint(&before), "{before:?} vs {after:?}");
    assert_consistent(&pool.state());
}

/// Sessions killed server-side, and no checker round before the next `get()`s: the checkout
/// test catches every dead one and the caller gets a fresh, working connection.
pub fn test_on_checkout_never_hands_out_a_dead_connection<K: Connect + Clone>(server: Server<K>) {
    let pool = Pool::builder(server.connector.clone())
        .name("killed-checkout")
        .min_idle(3)
        .max_size(3)
        .check_interval(Duration::from_secs(3600))
        .test_on_checkout(true)
        .build()
        .unwrap();
    let before = sessions(&server, &pool, 3);
    kill_all(&server, &before);
    // `sessions` fails the test if any connection handed out does not work.
    let after: HashSet<i64> = sessions(&server, &pool, 3).into_iter().collect();
    assert!(
        before.iter().all(|id| !after.contains(id)),
        "{before:?} vs {after:?}"
    );
    let state = pool.state();
    assert_eq!(state.checks_failed, 3, "{state:?}");
    assert_eq!(state.total, 3, "{state:?}");
    assert_consistent(&state);
}

/// Every session killed (as in a failover), no checker round and no checkout test: with
/// `evict_on_disconnect`, the first request to hit a dead connection fails, and the pool then
/// closes the other, older connections instead of failing one request on each.
pub fn one_disconnect_evicts_the_older_connections<K: Connect + Clone>(server: Server<K>) {
    let pool = Pool::builder(server.connector.clone())
        .name("evict")
        .min_idle(3)
        .max_size(3)
        .check_interval(Duration::from_secs(3600))
        .test_on_checkout(false)
        .evict_on_disconnect(true)
        .build()
        .unwrap();
    let before = sessions(&server, &pool, 3);
    kill_all(&server, &before);
    let mut first = pool.get().unwrap();
    let err = first.query_row("SELECT 1", &[]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Operational, "{err}");
    drop(first);
    // Only new sessions from here on: each of these would have failed without eviction.
    let after: HashSet<i64> = sessions(&server, &pool, 3).into_iter().collect();
    assert!(
        before.iter().all(|id| !after.contains(id)),
        "{before:?} vs {after:?}"
    );
    let state = pool.state();
    assert_eq!((state.broken, state.evicted), (1, 2), "{state:?}");
    assert_consistent(&state);
}

/// The liveness ladder on a real server: every level passes on a live connection and leaves
/// no transaction behind; `Ping` and `Query` both catch a session killed server-side; the
/// pool's checker and checkout test use the configured level.
pub fn the_liveness_ladder_works<K: Connect + Clone>(server: Server<K>) {
    let mut conn = server.connector.connect().unwrap();
    for level in [Liveness::Flag, Liveness::Ping, Liveness::Query] {
        conn.check(level).unwrap();
        conn.check(level).unwrap();
    }
    // Turning autocommit on fails while a transaction is open: none is.
    conn.set_autocommit(true)
        .expect("no transaction left open by the checks");
    conn.set_autocommit(false).unwrap();
    for level in [Liveness::Ping, Liveness::Query] {
        let mut victim = server.connector.connect().unwrap();
        let id = (server.session_id)(&mut victim);
        victim.commit().unwrap();
        kill_all(&server, &[id]);
        let err = victim.check(level).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Operational, "{level:?}: {err}");
    }
    let pool = Pool::builder(server.connector.clone())
        .name("ladder")
        .min_idle(2)
        .max_size(2)
        .check_interval(Duration::from_secs(3600))
        .test_on_checkout(true)
        .liveness(Liveness::Query)
        .build()
        .unwrap();
    let before = sessions(&server, &pool, 2);
    kill_all(&server, &before);
    let after: HashSet<i64> = sessions(&server, &pool, 2).into_iter().collect();
    assert!(before.iter().all(|id| !after.contains(id)));
    assert_eq!(pool.state().checks_failed, 2);
}

/// A connection killed while a user holds it: the user's statement fails with an
/// OperationalError, and returning it discards it instead of handing it to the next caller.
pub fn a_connection_killed_while_held_is_discarded<K: Connect + Clone>(server: Server<K>) {
    let pool = Pool::builder(server.connector.clone())
        .name("killed-held")
        .min_idle(1)
        .max_size(1)
        .check_interval(Duration::from_secs(3600))
        .test_on_checkout(false)
        .build()
        .unwrap();
    let mut conn = pool.get().unwrap();
    let id = (server.session_id)(&mut *conn);
    kill_all(&server, &[id]);
    let err = conn.query("SELECT 1", &[]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Operational, "{err}");
    // The next statement fails the same way, at once (nothing waits on the dead socket).
    let again = conn.query("SELECT 1", &[]).unwrap_err();
    assert_eq!(again.kind(), ErrorKind::Operational, "{again}");
    drop(conn);
    let state = pool.state();
    assert_eq!(
        (state.idle, state.in_use, state.broken),
        (0, 0, 1),
        "{state:?}"
    );
    assert_consistent(&state);
    let fresh = sessions(&server, &pool, 1);
    assert_ne!(fresh, vec![id]);
}

/// Wrong credentials: `get()` fails within its timeout with the server's reason, typed, not
/// with a bare timeout; `build()` says the same at once. No slot is lost meanwhile.
pub fn wrong_credentials_are_reported_as_such<K: Connect + Clone>(
    bad: K,
    password: &str,
    reason: &str,
) {
    let err = Pool::builder(bad.clone())
        .min_idle(1)
        .max_size(2)
        .build()
        .unwrap_err();
    check_credentials_error(&err, password, reason);
    assert!(
        matches!(err, Error::Connect { timeout: None, .. }),
        "{err:?}"
    );

    let pool = Pool::builder(bad)
        .min_idle(1)
        .max_size(2)
        .build_lazy()
        .unwrap();
    let err = pool
        .get_timeout(Duration::from_millis(500))
        .map(drop)
        .unwrap_err();
    check_credentials_error(&err, password, reason);
    assert!(
        matches!(
            err,
            Error::Connect {
                timeout: Some(_),
                ..
            }
        ),
        "{err:?}"
    );
    let state = pool.state();
    assert!(state.connect_failures >= 1, "{state:?}");
    // Nothing open: at most the checker's retry in flight.
    assert_eq!((state.idle, state.in_use), (0, 0), "{state:?}");
    assert_eq!(state.total, state.pending, "{state:?}");
    let last = state.last_connect_error.expect("the cause is kept");
    assert!(last.contains(reason), "{last}");
    assert!(!last.contains(password), "{last}");
    // wait_ready says why the pool is not ready, too.
    let err = pool.wait_ready(Duration::from_millis(300)).unwrap_err();
    check_credentials_error(&err, password, reason);
}

/// A live pool reshaped on a real server: `drain` replaces every session, `wait_ready`
/// returns once the replacements are open, `resize` shrinks and grows the pool, and
/// `max_waiting` refuses a caller while the only connection is out.
pub fn drain_and_resize_a_live_pool<K: Connect + Clone>(server: Server<K>) {
    let pool = Pool::builder(server.connector.clone())
        .name("reshape")
        .min_idle(2)
        .max_size(3)
        .max_waiting(Some(0))
        // No checker rounds: a ping taking the idle connection out would make a `get` wait
        // (and max_waiting 0 refuse it). Drain and resize still wake the checker to refill.
        .check_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    let before = sessions(&server, &pool, 2);
    pool.drain();
    pool.wait_ready(Duration::from_secs(60)).unwrap();
    let after: HashSet<i64> = sessions(&server, &pool, 2).into_iter().collect();
    assert!(
        before.iter().all(|id| !after.contains(id)),
        "{before:?} vs {after:?}"
    );
    let mut admin = server.connector.connect().unwrap();
    admin.set_autocommit(true).unwrap();
    eventually("the drained sessions are gone server-side", || {
        before.iter().all(|&id| !(server.exists)(&mut admin, id))
    });

    pool.resize(1, 1).unwrap();
    eventually("the pool fits its new size", || {
        let state = pool.state();
        (state.total, state.idle) == (1, 1)
    });
    let held = pool.get().unwrap();
    let err = pool.get().map(drop).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PoolExhausted, "{err}");
    drop(held);
    // min_idle 0: the checker opens nothing meanwhile that a get would have to wait for.
    pool.resize(0, 3).unwrap();
    assert_eq!(sessions(&server, &pool, 3).len(), 3);
    let state = pool.state();
    assert!(state.evicted >= 2 && state.rejected == 1, "{state:?}");
    assert_consistent(&state);
}

fn check_credentials_error(err: &Error, password: &str, reason: &str) {
    assert!(
        matches!(err.kind(), ErrorKind::Operational | ErrorKind::Interface),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains(reason), "{text}");
    assert!(!text.contains(password), "{text}");
    assert!(!format!("{err:?}").contains(password), "{err:?}");
}

/// The server stopped hard and started again, with one connection held across it: the pool
/// reports the outage as an OperationalError, heals by itself once the server is back, and
/// ends with every slot usable (nothing leaked, nothing dead handed out).
pub fn the_pool_recovers_after_a_restart<K: Connect + Clone>(server: Server<K>, ctl: &str) {
    let pool = Pool::builder(server.connector.clone())
        .name("restart")
        .min_idle(2)
        .max_size(4)
        .check_interval(Duration::from_millis(200))
        .test_on_checkout(true)
        .build()
        .unwrap();
    let before: HashSet<i64> = sessions(&server, &pool, 4).into_iter().collect();
    let mut held = pool.get().unwrap();

    run_ctl(ctl, "stop");
    let err = held.query("SELECT 1", &[]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Operational, "{err}");
    let err = pool
        .get_timeout(Duration::from_millis(500))
        .map(drop)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Operational, "while down: {err}");
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    drop(held); // dead: discarded, its slot freed
    assert_consistent(&pool.state());

    run_ctl(ctl, "start");
    eventually("the checker has refilled the pool", || {
        pool.state().idle >= 2
    });
    // Every slot is usable again, with new sessions only.
    let after: HashSet<i64> = sessions(&server, &pool, 4).into_iter().collect();
    assert!(after.is_disjoint(&before), "{before:?} vs {after:?}");
    let state = pool.state();
    assert_consistent(&state);
    assert_eq!((state.total, state.in_use), (4, 0), "{state:?}");
    assert!(state.connect_failures >= 1, "{state:?}");
    assert_eq!(state.last_connect_error, None, "recovered: {state:?}");
}

/// Callers waiting through a restart (issue 16): every connection dies with the server, the
/// background refill fails long enough for its back-off to grow, then callers queue while the
/// server is still down and it starts. Every caller, all well within their timeout, must get
/// a connection that works, and the pool ends consistent, with no error left over.
///
/// Nothing here asserts how quickly that happens (`benches/recovery.rs` measures it); with
/// the 30 s check interval the back-off may grow to 5 s, and the callers' timeout is 20 s.
pub fn callers_waiting_through_a_restart_all_get_a_connection<K: Connect + Clone>(
    server: Server<K>,
    ctl: &str,
) {
    const CALLERS: usize = 8;
    const MAX_SIZE: usize = 4;
    const TIMEOUT: Duration = Duration::from_secs(20);
    /// Down at least this long before the callers come (the back-off grows meanwhile).
    const DOWN: Duration = Duration::from_secs(3);
    let pool = Pool::builder(server.connector.clone())
        .name("restart-waiters")
        .min_idle(2)
        .max_size(MAX_SIZE)
        .check_interval(Duration::from_secs(30))
        .build()
        .unwrap();
    // Every slot taken and proven live, so that no connection from before the restart can
    // be left idle (the default is no test on checkout) and handed out afterwards.
    let mut held: Vec<_> = (0..MAX_SIZE).map(|_| pool.get().unwrap()).collect();
    for conn in &mut held {
        select_1(&mut **conn).expect("a live connection before the restart");
    }

    let mut down = Down::stop(ctl);
    let stopped = std::time::Instant::now();
    for conn in &mut held {
        let err = conn.query("SELECT 1", &[]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Operational, "{err}");
    }
    drop(held); // dead: discarded; the refill for min_idle starts failing
    let state = pool.state();
    assert_eq!((state.idle, state.in_use), (0, 0), "{state:?}");
    assert_consistent(&state);
    eventually("the background refill has failed several times", || {
        pool.state().connect_failures >= 3
    });
    if let Some(rest) = DOWN.checked_sub(stopped.elapsed()) {
        std::thread::sleep(rest);
    }
    let failures_while_down = pool.state().connect_failures;

    let entered = std::sync::atomic::AtomicUsize::new(0);
    let outcomes: Vec<Result<(), String>> = std::thread::scope(|s| {
        let callers: Vec<_> = (0..CALLERS)
            .map(|i| {
                let (pool, entered) = (&pool, &entered);
                s.spawn(move || {
                    entered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let mut conn = pool
                        .get_timeout(TIMEOUT)
                        .map_err(|e| format!("caller {i}: get: {e}"))?;
                    select_1(&mut *conn).map_err(|e| format!("caller {i}: SELECT 1: {e}"))
                })
            })
            .collect();
        eventually("every caller is in get_timeout", || {
            entered.load(std::sync::atomic::Ordering::SeqCst) == CALLERS
        });
        eventually("the callers wait", || pool.state().waiting > 0);
        // Nothing could have been served while the server was down.
        let state = pool.state();
        assert_eq!((state.idle, state.in_use), (0, 0), "{state:?}");
        down.start();
        callers
            .into_iter()
            .map(|caller| caller.join().expect("a caller panicked"))
            .collect()
    });
    let failed: Vec<&String> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    let state = pool.state();
    assert!(
        failed.is_empty(),
        "{} of {CALLERS} callers got no working connection: {failed:#?}\n{state:?}",
        failed.len()
    );

    assert_consistent(&state);
    assert_eq!(
        (state.in_use, state.waiting, state.timeouts),
        (0, 0, 0),
        "{state:?}"
    );
    assert!(state.connect_failures >= failures_while_down, "{state:?}");
    assert_eq!(state.last_connect_error, None, "recovered: {state:?}");
    // And the whole pool works again: every slot, with sessions from after the restart.
    assert_eq!(sessions(&server, &pool, MAX_SIZE).len(), MAX_SIZE);
    let state = pool.state();
    assert_consistent(&state);
    assert_eq!((state.total, state.in_use), (MAX_SIZE, 0), "{state:?}");
}

/// `SELECT 1` on `conn`, which must answer 1.
fn select_1<C: Connection + ?Sized>(conn: &mut C) -> Result<(), Error> {
    let row = conn.query_row("SELECT 1", &[])?;
    let one = row.expect("SELECT 1 returns a row").get::<i64>(0)?;
    assert_eq!(one, 1);
    Ok(())
}

/// A server stopped by its control script; started again when dropped unless [`Down::start`]
/// did, so a failing test leaves the server up for the next one.
struct Down<'a> {
    ctl: &'a str,
    up: bool,
}

impl<'a> Down<'a> {
    fn stop(ctl: &'a str) -> Self {
        run_ctl(ctl, "stop");
        Down { ctl, up: false }
    }

    fn start(&mut self) {
        run_ctl(self.ctl, "start");
        self.up = true;
    }
}

impl Drop for Down<'_> {
    fn drop(&mut self) {
        if !self.up {
            let _ = std::process::Command::new(self.ctl).arg("start").status();
        }
    }
}

fn run_ctl(ctl: &str, action: &str) {
    let status = std::process::Command::new(ctl)
        .arg(action)
        .status()
        .unwrap_or_else(|e| panic!("running {ctl} {action}: {e}"));
    assert!(status.success(), "{ctl} {action}: {status}");
}

/// A PostgreSQL server: backends by pid, killed with `pg_terminate_backend`.
#[cfg(feature = "postgres")]
pub fn postgres(url: &str) -> Server<nimue::postgres::PgConnector> {
    use nimue::params;
    Server {
        connector: nimue::postgres::PgConnector::from_url(url).unwrap(),
        session_id: |conn| i64::from(conn.backend_pid().unwrap()),
        kill: |admin, pid| {
            let row = admin
                .query_row("SELECT pg_terminate_backend(?::int)", &params![pid])
                .unwrap();
            assert!(
                row.unwrap().get::<bool>(0).unwrap(),
                "backend {pid} terminated"
            );
        },
        exists: |admin, pid| {
            let row = admin
                .query_row(
                    "SELECT COUNT(*) FROM pg_stat_activity WHERE pid = ?::int",
                    &params![pid],
                )
                .unwrap();
            row.unwrap().get::<i64>(0).unwrap() > 0
        },
    }
}

/// A MySQL / MariaDB server: connections by id, killed with `KILL`.
#[cfg(feature = "mysql")]
pub fn mysql(url: &str) -> Server<nimue::mysql::MySqlConnector> {
    use nimue::params;
    Server {
        connector: nimue::mysql::MySqlConnector::from_url(url).unwrap(),
        session_id: |conn| i64::from(conn.connection_id()),
        kill: |admin, id| {
            admin.execute(&format!("KILL {id}"), &[]).unwrap();
        },
        exists: |admin, id| {
            let row = admin
                .query_row(
                    "SELECT COUNT(*) FROM information_schema.processlist WHERE id = ?",
                    &params![id],
                )
                .unwrap();
            row.unwrap().get::<i64>(0).unwrap() > 0
        },
    }
}

/// The session `on_connect` set up (autocommit on), or the pool's `autocommit` setting, holds
/// on every checkout, not only the first: rows written with autocommit on are there after
/// the guard is dropped, seen from a connection of its own.
pub fn autocommit_holds_on_every_checkout<K: Connect + Clone>(server: Server<K>) {
    let table = format!("nimue_autocommit_{}", std::process::id());
    let mut admin = server.connector.connect().expect("an admin connection");
    admin.set_autocommit(true).unwrap();
    admin
        .execute(&format!("CREATE TABLE {table} (id INT)"), &[])
        .unwrap();
    let by_hook = Pool::builder(server.connector.clone())
        .min_idle(1)
        .max_size(1)
        .on_connect(|conn| conn.set_autocommit(true))
        .build()
        .unwrap();
    let by_setting = Pool::builder(server.connector.clone())
        .min_idle(1)
        .max_size(1)
        .autocommit(true)
        .build()
        .unwrap();
    for (pool, first) in [(&by_hook, 0), (&by_setting, 10)] {
        for id in first..first + 3 {
            let mut conn = pool.get().unwrap();
            assert!(conn.autocommit(), "checkout of row {id}");
            conn.execute(
                &format!("INSERT INTO {table} (id) VALUES (?)"),
                &nimue::params![id],
            )
            .unwrap();
            // Dropped without commit: with autocommit on, nothing to roll back.
        }
        assert_eq!(pool.state().created, 1, "one connection, reused");
    }
    let count = admin
        .query_row(&format!("SELECT COUNT(*) FROM {table}"), &[])
        .unwrap()
        .unwrap()
        .get::<i64>(0)
        .unwrap();
    admin.execute(&format!("DROP TABLE {table}"), &[]).unwrap();
    assert_eq!(count, 6, "every autocommitted row is there");
}
