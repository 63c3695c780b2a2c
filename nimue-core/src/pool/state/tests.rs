//! The hand-off rules, step by step on the bare state (no threads, no timing).

use super::*;
use crate::pool::queue::FAIR_AFTER;

fn live(id: u32) -> Live<u32> {
    Live {
        conn: id,
        expires: None,
        born: Instant::now(),
        autocommit: Some(false),
        returned: None,
        fresh: false,
        last_at: None,
        born_ns: 0,
        expires_ns: u64::MAX,
    }
}

/// A pool of one connection, in use, with `n` sleeping waiters queued at `since`.
fn exhausted(n: usize, since: Instant) -> (State<u32>, Vec<usize>) {
    let mut st = State::new(0, 1, Duration::from_secs(1));
    let attempt = st.reserve(Instant::now, true).unwrap();
    assert!(!attempt.probe);
    st.opened(Duration::ZERO);
    let waiters = (0..n)
        .map(|_| {
            let (index, _) = st.enqueue(since, None);
            st.set_sleeping(index, true);
            index
        })
        .collect();
    st.check();
    (st, waiters)
}

/// When a waiter that has "just queued" queued, however slow the machine running the test:
/// an instant in the future, whose `elapsed()` stays zero, so it never counts as having
/// waited `FAIR_AFTER`.
fn just_queued() -> Instant {
    Instant::now() + Duration::from_secs(3600)
}

fn woken(wake: &Wake) -> usize {
    wake.0.iter().flatten().count()
}

#[test]
fn a_connection_returned_to_sleepers_is_idle_and_the_first_is_nudged() {
    let (mut st, w) = exhausted(2, just_queued());
    let wake = st.give(live(1));
    assert_eq!(woken(&wake), 1, "the first waiter is woken");
    assert_eq!((st.idle.len(), st.in_use), (1, 0));
    assert_eq!(st.nudged, Some(w[0]));
    st.check();
    // Only the nudged waiter takes it; the second stays queued.
    assert!(st.take_nudged(w[1], true).is_none());
    let (conn, next) = st
        .take_nudged(w[0], true)
        .expect("the nudged waiter takes it");
    assert_eq!((conn.conn, woken(&next)), (1, 0));
    assert_eq!((st.waiting(), st.in_use, st.nudged), (1, 1, None));
    st.check();
}

#[test]
fn a_running_caller_may_take_it_first_and_the_nudged_waiter_stays_in_place() {
    let (mut st, w) = exhausted(2, just_queued());
    let _ = st.give(live(1));
    let taken = st
        .take_idle(true)
        .expect("a running caller takes the idle one");
    assert!(st.take_nudged(w[0], true).is_none(), "nothing left");
    assert_eq!(st.waiting(), 2);
    st.check();
    // The next connection returned nudges it again.
    let wake = st.give(taken);
    assert_eq!((woken(&wake), st.nudged), (1, Some(w[0])));
    st.check();
}

#[test]
fn a_nudged_waiter_that_gives_up_passes_the_nudge_on() {
    let (mut st, w) = exhausted(2, just_queued());
    let _ = st.give(live(1));
    let next = st.dequeue(w[0]);
    assert_eq!((woken(&next), st.nudged), (1, Some(w[1])));
    st.check();
    let (conn, _) = st.take_nudged(w[1], true).expect("the second takes it");
    assert_eq!(conn.conn, 1);
    st.check();
}

#[test]
fn an_awake_or_long_waiting_first_waiter_is_handed_the_connection() {
    let (mut st, w) = exhausted(1, just_queued());
    st.set_sleeping(w[0], false);
    let _ = st.give(live(1));
    assert!(
        matches!(st.take_grant(w[0]), Some(Grant::Conn(_))),
        "awake: direct"
    );
    st.check();

    let long_ago = Instant::now() - FAIR_AFTER;
    let (mut st, w) = exhausted(1, long_ago);
    let wake = st.give(live(1));
    assert_eq!(woken(&wake), 1);
    assert!(st.idle.is_empty(), "not left for running callers");
    assert!(
        matches!(st.take_grant(w[0]), Some(Grant::Conn(_))),
        "waited: direct"
    );
    st.check();
}

#[test]
fn a_freed_slot_becomes_a_connect_for_the_queue_that_the_first_waiter_starts() {
    // Two connections in use, two sleeping waiters.
    let mut st = State::new(0, 2, Duration::from_secs(1));
    for _ in 0..2 {
        st.reserve(Instant::now, true).unwrap();
        st.opened(Duration::ZERO);
    }
    let w: Vec<usize> = (0..2)
        .map(|_| {
            let (index, _) = st.enqueue(just_queued(), None);
            st.set_sleeping(index, true);
            index
        })
        .collect();
    let _ = st.give(live(1));
    assert_eq!(st.nudged, Some(w[0]));
    // The other connection is discarded: its slot is opened in for the queue (no waiter
    // connects), and the first waiter is woken to start that connect.
    st.in_use -= 1;
    let wake = st.release_slot();
    assert_eq!(woken(&wake), 1, "the first waiter, to start the connect");
    assert_eq!((st.total, st.opening, st.pending.len()), (2, 1, 1));
    assert_eq!(
        st.nudged,
        Some(w[0]),
        "still nudged for the idle connection"
    );
    st.check();
    assert_eq!(st.take_pending().len(), 1);
    st.check();
}

#[test]
fn connects_nobody_started_are_dropped_when_the_queue_empties() {
    let mut st: State<u32> = State::new(0, 3, Duration::from_secs(1));
    st.reserve(Instant::now, true).unwrap();
    st.opened(Duration::ZERO);
    let (index, _) = st.enqueue(just_queued(), None);
    st.open_for_demand(Instant::now());
    assert_eq!((st.total, st.opening, st.pending.len()), (2, 1, 1));
    // The waiter is served by a return before anyone started the connect: it is not made.
    st.remove_waiter(index);
    assert_eq!((st.total, st.opening, st.pending.len()), (1, 0, 0));
    st.check();
}

#[test]
fn a_waiter_holding_off_is_not_opened_for() {
    let mut st: State<u32> = State::new(0, 3, Duration::from_secs(1));
    st.reserve(Instant::now, true).unwrap();
    st.opened(Duration::ZERO);
    let now = Instant::now();
    let _ = st.enqueue(just_queued(), Some(now + Duration::from_secs(3600)));
    st.open_for_demand(now);
    assert_eq!(st.pending.len(), 0);
    st.check();
    // Its hold-off ends (the timer's `expire_tasks`): now it is.
    let (_, unheld, _) = st.expire_tasks(now + Duration::from_secs(7200));
    assert!(unheld);
    let _ = st.demand_changed(now);
    assert_eq!(st.pending.len(), 1);
    st.check();
}
