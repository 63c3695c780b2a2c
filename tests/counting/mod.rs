//! A counting global allocator for the test binaries that include this module: the peak of
//! live heap bytes over a stretch of work, to check a bound on memory (not a speed); and the
//! scan the streaming tests measure with it.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;

/// Live heap bytes now, and the most since the last [`reset_peak`].
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting (statistics only: Relaxed).
struct Counting;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged to the system allocator.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Relaxed) + layout.size();
            PEAK.fetch_max(live, Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The tests share the counters: one at a time.
pub static SERIAL: Mutex<()> = Mutex::new(());

pub fn reset_peak() -> usize {
    let live = LIVE.load(Relaxed);
    PEAK.store(live, Relaxed);
    live
}

/// The most live heap bytes above `before` (from [`reset_peak`]) since then.
pub fn peak_since(before: usize) -> usize {
    PEAK.load(Relaxed).saturating_sub(before)
}

/// The rows the streaming tests scan, and the width of their text.
pub const ROWS: i64 = 200_000;
pub const TEXT: usize = 100;

/// Run `sql` (rows `(id, body)`: ids 1..=ROWS in order, each body the id zero-padded to TEXT
/// characters) on `cur` and read it through `fetchmany(1000)`, checking every row, that
/// `rowcount` is unknown until the end and then ROWS. Returns the peak of live heap bytes
/// while it ran (execute included).
pub fn scan(cur: &mut impl nimue::Cursor, sql: &str, what: &str) -> usize {
    let before = reset_peak();
    cur.execute(sql, &[]).unwrap();
    assert_eq!(
        cur.rowcount(),
        -1,
        "{what}: a long result is not counted before its end"
    );
    assert_eq!(cur.description().map(<[_]>::len), Some(2), "{what}");
    let (mut seen, mut expected) = (0i64, 1i64);
    loop {
        let batch = cur.fetchmany(1000).unwrap();
        if batch.is_empty() {
            break;
        }
        if seen + (batch.len() as i64) < ROWS {
            assert_eq!(
                cur.rowcount(),
                -1,
                "{what}: not counted before its end ({seen} read)"
            );
        }
        for row in batch {
            assert_eq!(row.get::<i64>(0).unwrap(), expected, "{what}: in order");
            assert_eq!(
                row.get::<String>(1).unwrap(),
                format!("{expected:0TEXT$}"),
                "{what}"
            );
            expected += 1;
            seen += 1;
        }
    }
    let peak = peak_since(before);
    assert_eq!(seen, ROWS, "{what}");
    assert_eq!(
        cur.rowcount(),
        ROWS,
        "{what}: counted once the last row was fetched"
    );
    peak
}
