//! The fast lane: shelves where returned connections wait for the thread that comes back for
//! them first, so a checkout and return that meet there take no lock and touch no cache line
//! other threads write (HikariCP's `ConcurrentBag` with its thread-local hint, on a fixed
//! array of cells).
//!
//! # Invariants
//!
//! 1. A shelved connection stays counted in the state's `in_use`: the fast path never changes
//!    the numbers behind the lock, so every invariant in `state.rs` holds as before, and
//!    whoever takes a connection off a shelf owns it exactly as if the pool had lent it.
//! 2. A shelf is a single atomic cell swapped whole: a connection is owned by exactly one
//!    party at any time (a shelf, a guard, or the state). Beside the cell, a `full` hint lets
//!    callers skip empty shelves without writing their cache lines. It may say "full" over an
//!    empty cell (a put's set landing after the take of what it shelved; the next take that
//!    looks clears it, at the cost of one swap), but never "empty" over a shelved connection
//!    once the put that shelved it has returned (issue 16), because a take clears the hint
//!    *before* its swap and a put sets it *after* its swap. Say a put's swap `S_P` shelves `c`
//!    and its set `W_P` follows. A clear `C` that comes after `W_P` in the hint's modification
//!    order belongs to a take whose swap `S_C` comes after `S_P` in the cell's order, so `S_C`
//!    (or a swap between them) takes `c` off: were `S_C` before `S_P`, `S_P` would read from
//!    the release sequence `S_C` heads (the cell's swaps are `AcqRel` read-modify-writes:
//!    crossbeam's `AtomicCell` on the pointer-sized `Option<Box<T>>`; under loom a modelled
//!    mutex, whose unlock and next lock order them alike), so `C` → `S_C` → `S_P` → `W_P`
//!    would put `C` before `W_P` in happens-before, hence in the hint's order (coherence). The
//!    hint's own stores can thus be `Relaxed`. A look that says "empty" over `c` therefore
//!    only meets a take still between its clear and its swap, which takes `c` (or finds it
//!    gone). Cleared after the swap instead, a loser's late clear could land after a put's
//!    set and hide that put's connection from every taker until the next put, drain or
//!    checker round (the loom model of issue 16 fails so).
//! 3. Connections are shelved only while the *gate* is open: LIFO reuse, pool not closed, no
//!    caller queued, not shrinking. The gate is written only under the pool's lock (so it
//!    always reflects the state after the latest change), and closed before a caller queues,
//!    the pool closes or shrinks.
//! 4. No caller sleeps, and no closed pool keeps a connection, while one is shelved: whoever
//!    closes the gate then empties every shelf through the slow path; a returner shelves,
//!    then reads the gate, and takes back what it shelved if the gate is closed. Both sides
//!    put a `SeqCst` fence between their write and their read (Dekker's pattern), so at least
//!    one of them sees the other's write.
//! 5. A connection past `max_lifetime` or opened before an eviction is never handed out from a
//!    shelf: both are checked against atomic copies of the state's clock and eviction time,
//!    on the way onto a shelf and again on the way off.

use super::sync::{fence, AtomicBool, AtomicU64};
use crossbeam::utils::CachePadded;
#[cfg(not(loom))]
use std::cell::Cell;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// One shelf: a connection cell and its `full` hint (invariant 2).
struct Shelf<T> {
    cell: Cell_<T>,
    /// Invariant 2: may say full over an empty cell, never empty over a shelved connection.
    full: AtomicBool,
}

impl<T> Shelf<T> {
    fn new() -> Self {
        Shelf {
            cell: Cell_::new(),
            full: AtomicBool::new(false),
        }
    }

    /// Whether the shelf may hold a connection: a look before a write, so that skipping a
    /// shelf costs no write to its cache line.
    #[inline]
    fn looks_full(&self) -> bool {
        // Relaxed: only a look (invariant 2); the swap after it decides.
        self.full.load(Ordering::Relaxed)
    }

    /// Take what the shelf holds, if anything: the hint is cleared first, then the cell is
    /// swapped (the order invariant 2 rests on).
    #[inline]
    fn take(&self) -> Option<Box<T>> {
        // Relaxed: the cell's swap right after orders it before any later put's set (inv. 2).
        self.full.store(false, Ordering::Relaxed);
        self.cell.swap(None)
    }

    /// Put `item` on the shelf; what it held (the hint was stale) comes back.
    #[inline]
    fn swap_in(&self, item: Box<T>) -> Option<Box<T>> {
        let out = self.cell.swap(Some(item));
        // Relaxed: after the swap, so after every clear whose swap came first (invariant 2).
        self.full.store(true, Ordering::Relaxed);
        out
    }
}

/// Checkouts served from the shelves (added to the pool's `gets`): a counter per thread, so
/// counting writes no cache line another thread writes, and needs no atomic read-modify-write.
#[cfg(not(loom))]
struct Gets(thread_local::ThreadLocal<std::sync::atomic::AtomicU64>);

#[cfg(not(loom))]
impl Gets {
    fn new() -> Self {
        Gets(thread_local::ThreadLocal::new())
    }
    #[inline]
    fn add_one(&self) {
        let mine = self.0.get_or_default();
        // Relaxed load and store, not an RMW: only this thread writes its counter.
        mine.store(mine.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }
    fn sum(&self) -> u64 {
        // Relaxed: a statistic; a thread joined before this call has its count seen in full.
        self.0.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

/// Under loom: one modelled atomic counter (loom's threads would share a thread-local).
#[cfg(loom)]
struct Gets(AtomicU64);

#[cfg(loom)]
impl Gets {
    fn new() -> Self {
        Gets(AtomicU64::new(0))
    }
    fn add_one(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    fn sum(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A swap-only cell: lock-free (one `xchg`, an `AcqRel` swap: invariant 2) in normal builds.
#[cfg(not(loom))]
struct Cell_<T>(crossbeam::atomic::AtomicCell<Option<Box<T>>>);

#[cfg(not(loom))]
impl<T> Cell_<T> {
    fn new() -> Self {
        Cell_(crossbeam::atomic::AtomicCell::new(None))
    }
    #[inline]
    fn swap(&self, item: Option<Box<T>>) -> Option<Box<T>> {
        self.0.swap(item)
    }
}

/// Under loom: the same swap through a modelled mutex (loom cannot see into `AtomicCell`).
#[cfg(loom)]
struct Cell_<T>(super::sync::Mutex<Option<Box<T>>>);

#[cfg(loom)]
impl<T> Cell_<T> {
    fn new() -> Self {
        Cell_(super::sync::Mutex::new(None))
    }
    fn swap(&self, item: Option<Box<T>>) -> Option<Box<T>> {
        std::mem::replace(&mut *self.0.lock().unwrap(), item)
    }
}

#[cfg(not(loom))]
thread_local! {
    /// The shelf this thread used last (any pool's: it is only a hint), or `usize::MAX`.
    static HINT: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// Spreads threads over the shelves for their first hint.
#[cfg(not(loom))]
static NEXT_HINT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Under loom every thread starts at shelf 0: a real thread-local would carry state from
/// one model run into the next, and loom needs every run to be reproducible.
#[cfg(loom)]
fn hint(_: usize) -> usize {
    0
}

#[cfg(loom)]
fn set_hint(_: usize) {}

#[cfg(not(loom))]
#[inline]
fn hint(n: usize) -> usize {
    let h = HINT.with(Cell::get);
    if h < n {
        return h;
    }
    if h != usize::MAX {
        // A hint from a pool with more shelves (the division is off the common path).
        return h % n;
    }
    // Relaxed: a counter handing out starting points, ordering nothing.
    let h = NEXT_HINT.fetch_add(1, Ordering::Relaxed);
    HINT.with(|c| c.set(h));
    h % n
}

#[cfg(not(loom))]
#[inline]
fn set_hint(k: usize) {
    HINT.with(|c| c.set(k));
}

/// What the lane needs to know of a connection: when it expires and when it was born, in
/// nanoseconds since the lane's epoch.
pub(crate) trait Stamped {
    fn expires_ns(&self) -> u64;
    fn born_ns(&self) -> u64;
}

pub(crate) struct Lane<T> {
    shelves: Box<[CachePadded<Shelf<T>>]>,
    gets: Gets,
    /// Invariant 3: whether returns may be shelved. Written only under the pool's lock.
    gate: CachePadded<AtomicBool>,
    /// Read-mostly copies of the state's clock and eviction time (invariant 5), written only
    /// under the pool's lock.
    tick: AtomicU64,
    evict_before: AtomicU64,
    /// Time zero of the nanosecond stamps.
    epoch: Instant,
}

impl<T: Stamped> Lane<T> {
    /// A lane of `shelves` shelves (none: the lane is never used).
    pub(crate) fn new(shelves: usize, epoch: Instant) -> Self {
        Lane {
            shelves: (0..shelves)
                .map(|_| CachePadded::new(Shelf::new()))
                .collect(),
            gets: Gets::new(),
            gate: CachePadded::new(AtomicBool::new(false)),
            tick: AtomicU64::new(0),
            evict_before: AtomicU64::new(0),
            epoch,
        }
    }

    /// Nanoseconds from the epoch to `at`.
    pub(crate) fn stamp(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Open or close the gate (call with the pool's lock held).
    pub(crate) fn set_gate(&self, open: bool) {
        // Relaxed read: only lock holders write it, and we hold the lock.
        if self.gate.load(Ordering::Relaxed) != open {
            // SeqCst: the store half of invariant 4's Dekker pattern.
            self.gate.store(open, Ordering::SeqCst);
        }
    }

    /// Copy the state's clock (call with the pool's lock held).
    pub(crate) fn set_tick(&self, tick: Instant) {
        // Relaxed: a clock for a bound that is one check interval coarse anyway.
        self.tick.store(self.stamp(tick), Ordering::Relaxed);
    }

    /// Copy the state's eviction time (call with the pool's lock held, before emptying the
    /// shelves).
    pub(crate) fn set_evict_before(&self, at: Instant) {
        // Release: pairs with the Acquire in `usable`, so a caller that takes a connection
        // shelved before the eviction sees the new time (invariant 5).
        self.evict_before.store(self.stamp(at), Ordering::Release);
    }

    /// Whether a connection may stay in circulation (invariant 5).
    #[inline]
    fn usable(&self, item: &T) -> bool {
        // Acquire: see `set_evict_before`.
        self.usable_after(item, self.evict_before.load(Ordering::Acquire))
    }

    /// [`usable`](Self::usable) against the eviction time `evict_before`.
    #[inline]
    fn usable_after(&self, item: &T, evict_before: u64) -> bool {
        // Relaxed tick: see `set_tick`.
        item.expires_ns() > self.tick.load(Ordering::Relaxed) && item.born_ns() >= evict_before
    }

    /// Take a connection off a shelf, starting with this thread's; `None`: the gate is closed
    /// or no shelf has one. `Err`: one that must not be used any more (give it to the slow
    /// path, which closes it).
    #[inline]
    pub(crate) fn take(&self) -> Option<Result<Box<T>, Box<T>>> {
        self.take_counted(true)
    }

    /// How many shelves look full (their hints; one may say so over a connection being
    /// taken).
    pub(crate) fn shelved(&self) -> usize {
        // Relaxed: a hint for a heuristic (the resetter's), not a hand-off.
        self.shelves
            .iter()
            .filter(|shelf| shelf.full.load(Ordering::Relaxed))
            .count()
    }

    /// Whether the pool has shelves at all (LIFO reuse).
    pub(crate) fn in_use(&self) -> bool {
        !self.shelves.is_empty()
    }

    /// [`take`](Self::take) for a get already counted, retried for a few microseconds while
    /// spinning and then yielding the CPU (a holder that was preempted gets to run and put
    /// its connection back). Not under loom, whose models must stay finite.
    pub(crate) fn look_out(&self) -> Option<Result<Box<T>, Box<T>>> {
        if cfg!(loom) {
            return None;
        }
        let backoff = crossbeam::utils::Backoff::new();
        while !backoff.is_completed() {
            backoff.snooze();
            if let Some(took) = self.take_counted(false) {
                return Some(took);
            }
        }
        None
    }

    #[inline]
    fn take_counted(&self, count: bool) -> Option<Result<Box<T>, Box<T>>> {
        let n = self.shelves.len();
        // Relaxed: a closed gate only sends us to the slow path; an open one that is already
        // stale is the race invariant 4 settles on the returner's side.
        if n == 0 || !self.gate.load(Ordering::Relaxed) {
            return None;
        }
        let start = hint(n);
        for k in (start..n).chain(0..start) {
            let shelf = &self.shelves[k];
            if !shelf.looks_full() {
                continue;
            }
            // The hint may be stale, or another caller took it since the look: then on to
            // the next shelf. Either way the shelf is empty or its hint set again after.
            if let Some(item) = shelf.take() {
                if count {
                    self.gets.add_one();
                }
                set_hint(k);
                return Some(if self.usable(&item) {
                    Ok(item)
                } else {
                    Err(item)
                });
            }
        }
        None
    }

    /// Shelve a returned connection on this thread's shelf (or the next free one). What
    /// could not be shelved goes to `back`, for the slow path (nothing, in the common case).
    #[inline]
    pub(crate) fn put(&self, mut item: Box<T>, mut back: impl FnMut(Box<T>)) {
        let n = self.shelves.len();
        // Acquire: see `set_evict_before`. An eviction after this read is caught by the fence
        // and second read below.
        let evict_before = self.evict_before.load(Ordering::Acquire);
        // Relaxed: a stale open gate is caught by the fence and second read below.
        if n == 0 || !self.gate.load(Ordering::Relaxed) || !self.usable_after(&item, evict_before) {
            return back(item);
        }
        let start = hint(n);
        let mut shelved = false;
        // What is left in our hands: nothing, or a connection no free shelf took.
        let carry = 'shelve: {
            for k in (start..n).chain(0..start) {
                let shelf = &self.shelves[k];
                if shelf.looks_full() {
                    continue;
                }
                shelved = true;
                // The hint may be stale and the shelf full: then carry its connection on
                // instead (each stays owned by exactly one party, invariant 2).
                match shelf.swap_in(item) {
                    None => {
                        set_hint(k);
                        break 'shelve None;
                    }
                    Some(other) => item = other,
                }
            }
            Some(item)
        };
        if shelved {
            // SeqCst fence, then the gate and the eviction time: the load half of invariants
            // 4 and 5 (an eviction stores its time, then fences and empties the shelves, so
            // either it takes what this put shelved or this put sees its time).
            fence(Ordering::SeqCst);
            let evicted = self.evict_before.load(Ordering::Relaxed) != evict_before;
            if !self.gate.load(Ordering::Relaxed) || evicted {
                // The gate closed, or an eviction came, meanwhile: take everything back (what
                // others shelved too; whoever closed the gate or evicted may be emptying the
                // shelves as well, and each cell goes to one of us). The slow path closes
                // what was opened before the eviction.
                self.drain().into_iter().chain(carry).for_each(back);
                return;
            }
        }
        if let Some(item) = carry {
            back(item);
        }
    }

    /// Empty every shelf (after closing the gate: the other half of invariant 4, with a
    /// `SeqCst` fence first), for the slow path to take them in.
    pub(crate) fn drain(&self) -> Vec<Box<T>> {
        fence(Ordering::SeqCst);
        let mut out = Vec::new();
        for shelf in self.shelves.iter() {
            // Every cell, whatever its hint says (cleared first, as by any take).
            out.extend(shelf.take());
        }
        out
    }

    /// Checkouts served from the shelves so far.
    pub(crate) fn gets(&self) -> u64 {
        self.gets.sum()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::time::Duration;

    struct Item {
        id: u32,
        born: u64,
        expires: u64,
    }

    impl Stamped for Item {
        fn expires_ns(&self) -> u64 {
            self.expires
        }
        fn born_ns(&self) -> u64 {
            self.born
        }
    }

    fn item(id: u32) -> Box<Item> {
        Box::new(Item {
            id,
            born: 10,
            expires: u64::MAX,
        })
    }

    fn open_lane(shelves: usize) -> Lane<Item> {
        let lane = Lane::new(shelves, Instant::now());
        lane.set_gate(true);
        lane
    }

    /// Put, and the ids of what came back.
    fn put(lane: &Lane<Item>, item: Box<Item>) -> Vec<u32> {
        let mut back = Vec::new();
        lane.put(item, |i| back.push(i.id));
        back
    }

    fn taken(lane: &Lane<Item>) -> Option<u32> {
        lane.take().map(|took| took.map_or_else(|i| i.id, |i| i.id))
    }

    #[test]
    fn a_returned_item_is_shelved_and_taken_back_counted() {
        let lane = open_lane(2);
        assert!(put(&lane, item(1)).is_empty());
        assert_eq!(taken(&lane), Some(1));
        assert_eq!(taken(&lane), None);
        assert_eq!(lane.gets(), 1);
    }

    #[test]
    fn a_closed_gate_shelves_nothing_and_hands_out_nothing() {
        let lane = open_lane(2);
        assert!(put(&lane, item(1)).is_empty());
        lane.set_gate(false);
        assert_eq!(taken(&lane), None);
        assert_eq!(put(&lane, item(2)), [2]);
        assert_eq!(lane.drain().iter().map(|i| i.id).collect::<Vec<_>>(), [1]);
    }

    #[test]
    fn full_shelves_send_the_rest_back_and_each_item_has_one_owner() {
        let lane = open_lane(2);
        assert!(put(&lane, item(1)).is_empty());
        assert!(put(&lane, item(2)).is_empty());
        assert_eq!(put(&lane, item(3)), [3]);
        let mut ids: Vec<u32> = lane.drain().iter().map(|i| i.id).collect();
        ids.sort_unstable();
        assert_eq!(ids, [1, 2]);
    }

    #[test]
    fn a_shelf_looks_full_while_it_holds_a_connection() {
        let lane = open_lane(1);
        let shelf = &lane.shelves[0];
        assert!(!shelf.looks_full());
        assert!(shelf.swap_in(item(1)).is_none());
        assert!(shelf.looks_full());
        // Onto a full shelf (a put that saw a stale hint): what it held comes back.
        assert_eq!(shelf.swap_in(item(2)).map(|i| i.id), Some(1));
        assert!(shelf.looks_full());
        assert_eq!(shelf.take().map(|i| i.id), Some(2));
        assert!(!shelf.looks_full());
        assert!(shelf.take().is_none());
        assert!(put(&lane, item(3)).is_empty(), "the shelf is usable again");
        assert_eq!(taken(&lane), Some(3));
    }

    #[test]
    fn the_second_of_two_callers_that_saw_a_shelf_full_takes_what_was_shelved_meanwhile() {
        // Issue 16, in sequence: two callers saw the hint set; the first took the connection,
        // another was shelved, then the second caller's take ran. Its clear comes before its
        // swap, so it takes the new connection instead of hiding it (every interleaving is
        // modelled in `tests/loom.rs`).
        let lane = open_lane(1);
        let shelf = &lane.shelves[0];
        assert!(put(&lane, item(1)).is_empty());
        // Both callers look and see it.
        assert!(shelf.looks_full());
        assert_eq!(shelf.take().map(|i| i.id), Some(1));
        assert!(put(&lane, item(2)).is_empty());
        assert_eq!(shelf.take().map(|i| i.id), Some(2));
        assert!(!shelf.looks_full());
        assert!(put(&lane, item(3)).is_empty());
        assert!(shelf.looks_full(), "the hint shows what is shelved");
        assert_eq!(taken(&lane), Some(3));
    }

    #[test]
    fn a_stale_full_hint_on_an_empty_shelf_is_cleared_by_a_take() {
        // The race a taker and a returner can leave behind: the hint says full, the cell is
        // empty. Left so, returners would skip the shelf for good.
        let lane = open_lane(1);
        lane.shelves[0].full.store(true, Ordering::Relaxed);
        assert_eq!(taken(&lane), None);
        assert!(!lane.shelves[0].looks_full());
        assert!(put(&lane, item(1)).is_empty(), "the shelf is usable again");
        assert_eq!(taken(&lane), Some(1));
    }

    #[test]
    fn a_connection_left_on_a_shelf_is_dropped_with_the_lane() {
        struct Counted {
            /// A count on `alive` while this exists.
            _alive: std::rc::Rc<()>,
        }
        impl Stamped for Counted {
            fn expires_ns(&self) -> u64 {
                u64::MAX
            }
            fn born_ns(&self) -> u64 {
                0
            }
        }
        let alive = std::rc::Rc::new(());
        let lane = Lane::new(2, Instant::now());
        lane.set_gate(true);
        let counted = Counted {
            _alive: alive.clone(),
        };
        lane.put(Box::new(counted), |_| panic!("shelved"));
        assert_eq!(std::rc::Rc::strong_count(&alive), 2);
        drop(lane);
        assert_eq!(std::rc::Rc::strong_count(&alive), 1);
    }

    #[test]
    fn expired_or_evicted_items_are_not_handed_out() {
        let lane = open_lane(2);
        let epoch = lane.epoch;
        assert!(put(&lane, item(1)).is_empty());
        // Evicted after it was shelved: it comes off the shelf as unusable.
        lane.set_evict_before(epoch + Duration::from_nanos(11));
        assert!(matches!(lane.take(), Some(Err(_))));
        // And is not shelved again.
        assert_eq!(put(&lane, item(2)), [2]);
        let old = Box::new(Item {
            id: 3,
            born: 20,
            expires: 50,
        });
        lane.set_tick(epoch + Duration::from_nanos(60));
        assert_eq!(put(&lane, old), [3], "past its lifetime");
    }
}
