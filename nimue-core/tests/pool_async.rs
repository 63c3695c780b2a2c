//! `Pool::get_async` and `PooledConnection::interact` on tokio runtimes, with the test
//! driver: tasks wait in the pool's queue without blocking their thread, time out, and leak
//! nothing when cancelled at any point; closures run off the runtime, and a panic in one
//! frees its slot.

use nimue_core::testing::TestConnector;
use nimue_core::PoolHooks;
use nimue_core::{Connection, ErrorKind, Pool};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

fn pool(min: usize, max: usize) -> Pool<TestConnector> {
    Pool::builder(TestConnector::new())
        .min_idle(min)
        .max_size(max)
        .connection_timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Poll `future` once with a waker that does nothing.
fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    std::pin::Pin::new(future).poll(&mut cx)
}

/// 100 tasks on one thread share 2 connections: each gets one in turn while the others wait
/// in the queue (a blocking wait would deadlock this single-threaded runtime).
#[test]
fn a_hundred_tasks_on_one_thread_share_two_connections() {
    let pool = pool(0, 2);
    let most = Arc::new(AtomicUsize::new(0));
    current_thread().block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..100 {
            let (pool, most) = (pool.clone(), Arc::clone(&most));
            tasks.push(tokio::spawn(async move {
                let conn = pool.get_async().await.expect("a connection in time");
                most.fetch_max(pool.state().in_use, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(1)).await;
                drop(conn);
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    });
    let st = pool.state();
    assert_eq!(most.load(Ordering::Relaxed), 2, "{st:?}");
    assert_eq!((st.in_use, st.waiting, st.total), (0, 0, 2), "{st:?}");
    assert_eq!(st.gets, 100);
    assert!(st.waits >= 90, "most of them waited: {st:?}");
    assert_eq!(st.timeouts, 0);
}

/// A task and a thread wait in one queue, in arrival order.
#[test]
fn tasks_and_threads_are_served_in_arrival_order() {
    let pool = pool(1, 1);
    let held = pool.get().unwrap();
    let thread_pool = pool.clone();
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let thread_order = Arc::clone(&order);
    let waiter = thread::spawn(move || {
        let conn = thread_pool.get().unwrap();
        thread_order.lock().unwrap().push("thread");
        thread::sleep(Duration::from_millis(20));
        drop(conn);
    });
    while pool.state().waiting < 1 {
        thread::sleep(Duration::from_millis(1));
    }
    current_thread().block_on(async {
        let task_pool = pool.clone();
        let task_order = Arc::clone(&order);
        let task = tokio::spawn(async move {
            let conn = task_pool.get_async().await.unwrap();
            task_order.lock().unwrap().push("task");
            drop(conn);
        });
        while pool.state().waiting < 2 {
            tokio::task::yield_now().await;
        }
        drop(held);
        task.await.unwrap();
    });
    waiter.join().unwrap();
    assert_eq!(*order.lock().unwrap(), ["thread", "task"]);
}

/// A task that finds no connection in time gets the pool's timeout error, from the checker
/// (no runtime timer involved), and leaves the queue.
#[test]
fn a_task_times_out_with_the_pools_error() {
    let pool = pool(1, 1);
    let held = pool.get().unwrap();
    let began = std::time::Instant::now();
    let err = current_thread()
        .block_on(pool.get_async_timeout(Duration::from_millis(100)))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PoolTimeout, "{err}");
    assert!(began.elapsed() >= Duration::from_millis(100));
    let st = pool.state();
    assert_eq!((st.waiting, st.timeouts, st.in_use), (0, 1, 1), "{st:?}");
    drop(held);
    assert_eq!(pool.state().idle, 1);
}

/// A task's timeout does not wait for the checker: with the checker stuck in a slow ping
/// (a hung server), the task still gets its timeout on time, from the pool's timer.
#[test]
fn a_task_times_out_while_the_checker_is_stuck_in_a_ping() {
    let connector = TestConnector::new();
    let pool = Pool::builder(connector.clone())
        .min_idle(2)
        .max_size(2)
        .check_interval(Duration::from_millis(20))
        .build()
        .unwrap();
    let held = pool.get().unwrap();
    connector.set_ping_delay(Duration::from_secs(3));
    // The checker takes the idle connection out to ping it, and hangs there.
    while pool.state().pending < 1 {
        thread::sleep(Duration::from_millis(5));
    }
    let err = current_thread()
        .block_on(pool.get_async_timeout(Duration::from_millis(100)))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PoolTimeout, "{err}");
    assert_eq!(
        pool.state().pending,
        1,
        "the ping had not ended: {:?}",
        pool.state()
    );
    drop(held);
}

/// Dropping a queued task's future takes it out of the queue.
#[test]
fn a_cancelled_queued_task_leaves_the_queue() {
    let pool = pool(1, 1);
    let held = pool.get().unwrap();
    let mut task = pool.get_async();
    assert!(poll_once(&mut task).is_pending());
    assert_eq!(pool.state().waiting, 1);
    drop(task);
    assert_eq!(pool.state().waiting, 0);
    drop(held);
    let st = pool.state();
    assert_eq!((st.idle, st.in_use, st.total), (1, 0, 1), "{st:?}");
}

/// A task handed the connection (it waited past the fair-share bound, so the return went
/// straight to it) and dropped before it was polled again passes the connection on: a
/// thread waiting behind it gets it.
#[test]
fn a_task_cancelled_after_it_was_served_passes_the_connection_on() {
    let pool = pool(1, 1);
    let held = pool.get().unwrap();
    let mut task = pool.get_async();
    assert!(poll_once(&mut task).is_pending());
    let behind = {
        let pool = pool.clone();
        thread::spawn(move || pool.get_timeout(Duration::from_secs(10)).map(drop))
    };
    while pool.state().waiting < 2 {
        thread::sleep(Duration::from_millis(1));
    }
    // Past the fair-share bound (500 µs): the return hands the connection to the task.
    thread::sleep(Duration::from_millis(5));
    drop(held);
    assert_eq!(pool.state().waiting, 1, "the task was served");
    drop(task);
    behind.join().unwrap().expect("the thread behind got it");
    let st = pool.state();
    assert_eq!((st.idle, st.in_use, st.waiting), (1, 0, 0), "{st:?}");
}

/// A task nudged to come for an idle connection and dropped passes the nudge on.
#[test]
fn a_task_cancelled_after_it_was_nudged_passes_the_nudge_on() {
    let pool = pool(1, 1);
    let held = pool.get().unwrap();
    let mut first = pool.get_async();
    assert!(poll_once(&mut first).is_pending());
    let mut second = pool.get_async();
    assert!(poll_once(&mut second).is_pending());
    // At once: within the fair-share bound the connection is idle and the first nudged.
    drop(held);
    drop(first);
    match poll_once(&mut second) {
        Poll::Ready(conn) => drop(conn.expect("the second task gets it")),
        Poll::Pending => panic!("the nudge was lost: {:?}", pool.state()),
    }
    let st = pool.state();
    assert_eq!((st.idle, st.in_use, st.waiting), (1, 0, 0), "{st:?}");
}

/// A new connection for a task is opened on another thread, not the task's.
#[test]
fn a_task_never_connects_on_its_own_thread() {
    let connector = TestConnector::new();
    connector.set_connect_delay(Duration::from_millis(50));
    let pool = Pool::builder(connector)
        .min_idle(0)
        .max_size(1)
        .build_lazy()
        .unwrap();
    let mut task = pool.get_async();
    // Connecting inline would have returned the connection from this poll.
    assert!(poll_once(&mut task).is_pending(), "connecting elsewhere");
    assert_eq!(pool.state().pending, 1, "the slot is being opened");
    let conn = current_thread().block_on(task).expect("the new connection");
    assert!(!conn.is_broken());
    assert_eq!(pool.state().created, 1);
}

/// A task that reserves a slot, then queues, races the thread that opens its connection:
/// whichever comes first, the task gets the connection and never waits beside an idle one
/// (a lost race would wait out the 10 s timeout, or trip the state's invariant check).
#[test]
fn a_task_and_the_thread_opening_its_connection_race_safely() {
    for _ in 0..300 {
        let pool = Pool::builder(TestConnector::new())
            .min_idle(0)
            .max_size(1)
            .connection_timeout(Duration::from_secs(10))
            .build_lazy()
            .unwrap();
        let conn = current_thread().block_on(pool.get_async());
        drop(conn.expect("the new connection"));
        let st = pool.state();
        assert_eq!((st.idle, st.waiting, st.timeouts), (1, 0, 0), "{st:?}");
    }
}

/// `close()` wakes a queued task with the closed error.
#[test]
fn closing_the_pool_ends_a_waiting_task() {
    let pool = pool(1, 1);
    let held = pool.get().unwrap();
    let closer = pool.clone();
    let err = current_thread().block_on(async move {
        let task = tokio::spawn(async move { pool.get_async().await.map(drop) });
        while closer.state().waiting < 1 {
            tokio::task::yield_now().await;
        }
        let closing = thread::spawn(move || closer.close());
        let result = task.await.unwrap();
        drop(held);
        closing.join().unwrap();
        result.unwrap_err()
    });
    assert_eq!(err.kind(), ErrorKind::PoolClosed, "{err}");
}

#[cfg(feature = "tokio")]
mod interact {
    use super::*;

    /// A pool of one connection whose every reset takes `delay`, reset where the guard is
    /// let go (no resetter thread): so where a reset runs shows.
    fn slow_reset_pool(delay: Duration) -> Pool<TestConnector> {
        let connector = TestConnector::new();
        let pool = Pool::builder(connector.clone())
            .min_idle(1)
            .max_size(1)
            .background_reset(false)
            .build()
            .unwrap();
        connector.set_reset_delay(delay);
        pool
    }

    /// The closure runs on a blocking thread, not the runtime's, and its result comes back.
    #[test]
    fn the_closure_runs_off_the_runtime_thread() {
        let pool = pool(1, 1);
        let runtime_thread = thread::current().id();
        let (ran_on, changed) = current_thread().block_on(async {
            let mut conn = pool.get_async().await.unwrap();
            conn.interact(|c| (thread::current().id(), c.execute("INSERT 1", &[])))
                .await
                .unwrap()
        });
        assert_ne!(ran_on, runtime_thread);
        changed.unwrap();
    }

    /// A panic in the closure is an error; the connection is closed and its slot freed.
    #[test]
    fn a_panic_in_the_closure_is_an_error_and_frees_the_slot() {
        let pool = pool(1, 1);
        current_thread().block_on(async {
            let mut conn = pool.get_async().await.unwrap();
            let err = conn
                .interact(|_| -> () { panic!("boom") })
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Interface, "{err}");
            assert!(err.to_string().contains("boom"), "{err}");
            let again = conn.interact(|_| ()).await.unwrap_err();
            assert_eq!(again.kind(), ErrorKind::Interface, "{again}");
            drop(conn);
            let st = pool.state();
            assert_eq!((st.in_use, st.broken), (0, 1), "{st:?}");
            // The slot is free: a new connection comes.
            let conn = pool.get_async().await.unwrap();
            drop(conn);
        });
    }

    /// An interact whose future is dropped while the closure runs: the closure finishes, and
    /// the connection goes back to the pool from the blocking thread.
    #[test]
    fn a_cancelled_interact_gives_the_connection_back() {
        let pool = pool(1, 1);
        current_thread().block_on(async {
            let mut conn = pool.get_async().await.unwrap();
            let (started_tx, started_rx) = std::sync::mpsc::channel();
            let slow = conn.interact(move |c| {
                started_tx.send(()).unwrap();
                thread::sleep(Duration::from_millis(100));
                c.execute("INSERT 1", &[]).map(drop)
            });
            let cancelled = tokio::time::timeout(Duration::from_millis(10), slow).await;
            assert!(cancelled.is_err(), "timed out while the closure ran");
            started_rx.recv().unwrap();
            drop(conn);
            let back = pool.get_async_timeout(Duration::from_secs(10)).await;
            let conn = back.expect("the connection came back");
            assert!(!conn.in_transaction(), "reset on its way back");
        });
        let st = pool.state();
        assert_eq!((st.total, st.broken), (1, 0), "{st:?}");
    }

    /// A guard dropped on a runtime thread is reset on a blocking thread: the runtime's
    /// thread goes on at once while the (slow) reset runs elsewhere.
    #[test]
    fn a_guard_dropped_on_the_runtime_is_reset_off_it() {
        let pool = slow_reset_pool(Duration::from_millis(200));
        current_thread().block_on(async {
            let mut conn = pool.get_async().await.unwrap();
            conn.interact(|c| c.execute("INSERT 1", &[]).map(drop))
                .await
                .unwrap()
                .unwrap();
            drop(conn);
            // A reset on this thread would have made it idle before the drop returned.
            let st = pool.state();
            assert_eq!(
                (st.idle, st.in_use),
                (0, 1),
                "being reset elsewhere: {st:?}"
            );
            let conn = pool.get_async().await.unwrap();
            assert!(!conn.in_transaction());
        });
    }

    /// An `interact` future cancelled after its closure finished (the connection waits in the
    /// blocking task's output): dropped on the runtime's thread, the connection is reset off
    /// it, as a dropped guard's is.
    #[test]
    fn a_cancelled_interact_is_reset_off_the_runtime() {
        let pool = slow_reset_pool(Duration::from_millis(200));
        current_thread().block_on(async {
            let mut conn = pool.get_async().await.unwrap();
            {
                let mut running = Box::pin(conn.interact(|c| c.execute("INSERT 1", &[]).map(drop)));
                assert!(poll_once(&mut running).is_pending());
                // The closure runs and finishes on its blocking thread meanwhile.
                thread::sleep(Duration::from_millis(50));
                drop(running);
            }
            // A reset on this thread would have made it idle before the drop returned.
            let st = pool.state();
            assert_eq!(
                (st.idle, st.in_use),
                (0, 1),
                "being reset elsewhere: {st:?}"
            );
            drop(conn);
            let conn = pool.get_async().await.unwrap();
            assert!(!conn.in_transaction());
        });
    }

    /// A guard with nothing to reset is given back right where it is dropped (no trip to a
    /// blocking thread): idle at once.
    #[test]
    fn a_guard_with_nothing_to_reset_is_given_back_in_place() {
        let pool = pool(1, 1);
        current_thread().block_on(async {
            let mut conn = pool.get_async().await.unwrap();
            conn.interact(|c| c.query("SELECT 1", &[]).map(drop))
                .await
                .unwrap()
                .unwrap();
            assert!(!conn.in_transaction());
            drop(conn);
            let st = pool.state();
            assert_eq!((st.idle, st.in_use), (1, 0), "given back in place: {st:?}");
        });
    }

    /// A task that panics while it holds a connection: the guard, dropped on the runtime's
    /// thread while it unwinds, is discarded (not reset and reused), off that thread.
    #[test]
    fn a_guard_dropped_by_a_panicking_task_is_discarded() {
        let pool = pool(1, 1);
        current_thread().block_on(async {
            let task_pool = pool.clone();
            let task = tokio::spawn(async move {
                let mut conn = task_pool.get_async().await.unwrap();
                conn.interact(|c| c.execute("INSERT 1", &[]).map(drop))
                    .await
                    .unwrap()
                    .unwrap();
                panic!("the handler failed");
            });
            assert!(task.await.unwrap_err().is_panic());
            let conn = pool
                .get_async()
                .await
                .expect("a new connection in its slot");
            assert!(!conn.in_transaction());
        });
        let st = pool.state();
        assert_eq!((st.broken, st.created), (1, 2), "{st:?}");
    }

    /// `Pool::interact` runs the closure and gives the connection back (reset and all) on the
    /// blocking thread: by the time it returns, the connection is idle again, rolled back.
    #[test]
    fn pool_interact_gives_the_connection_back_from_the_blocking_thread() {
        let pool = slow_reset_pool(Duration::from_millis(20));
        let runtime_thread = thread::current().id();
        current_thread().block_on(async {
            let ran_on = pool
                .interact(|c| {
                    c.execute("INSERT 1", &[]).unwrap();
                    thread::current().id()
                })
                .await
                .unwrap();
            assert_ne!(ran_on, runtime_thread);
            let st = pool.state();
            assert_eq!(
                (st.idle, st.in_use),
                (1, 0),
                "given back before it returned: {st:?}"
            );
            let conn = pool.get_async().await.unwrap();
            assert!(!conn.in_transaction(), "rolled back on its way back");
            drop(conn);
            let err = pool
                .interact(|_| -> () { panic!("boom") })
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Interface, "{err}");
        });
        let st = pool.state();
        assert_eq!((st.in_use, st.broken), (0, 1), "{st:?}");
    }
}

/// A task granted a slot (a connection was discarded while it waited) and polled only after
/// `close()` ends with the closed error, its slot freed: it does not queue again on the
/// closed pool (where nothing would ever serve it, its timeout included).
#[test]
fn a_task_granted_a_slot_before_close_ends_closed() {
    let pool = pool(1, 1);
    let mut held = pool.get().unwrap();
    let mut task = pool.get_async_timeout(Duration::from_millis(200));
    assert!(poll_once(&mut task).is_pending());
    held.set_broken();
    // Discarded: its slot goes to the task.
    drop(held);
    pool.close();
    match poll_once(&mut task) {
        Poll::Ready(Err(e)) => assert!(matches!(e, nimue_core::Error::Closed { .. }), "{e}"),
        Poll::Ready(Ok(_)) => panic!("a connection from a closed pool"),
        Poll::Pending => panic!("queued again on a closed pool: {:?}", pool.state()),
    }
    let st = pool.state();
    assert_eq!((st.total, st.pending, st.waiting), (0, 0, 0), "{st:?}");
}
