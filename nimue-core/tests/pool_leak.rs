//! `leak_threshold`: a connection held too long is reported, with where it was taken.

mod support;

use nimue_core::testing::TestConnector;
use std::sync::Mutex;
use std::thread;
use std::time::Duration;
use support::{builder, eventually};

/// Collects the pool's log lines.
struct Capture(Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target().starts_with("nimue")
    }
    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let line = format!("{} {}", record.level(), record.args());
            self.0.lock().unwrap().push(line);
        }
    }
    fn flush(&self) {}
}

static LOGS: Capture = Capture(Mutex::new(Vec::new()));

fn logged(pattern: &str) -> Vec<String> {
    let lines = LOGS.0.lock().unwrap();
    lines
        .iter()
        .filter(|l| l.contains(pattern))
        .cloned()
        .collect()
}

#[test]
fn a_connection_held_too_long_is_reported_with_where_it_was_taken() {
    log::set_logger(&LOGS).unwrap();
    log::set_max_level(log::LevelFilter::Debug);
    let connector = TestConnector::new();
    let pool = builder(&connector, 1, 2)
        .name("leaky")
        .leak_threshold(Some(Duration::from_millis(50)))
        .build()
        .unwrap();

    let line = line!() + 1;
    let held = pool.get().unwrap();
    let place = format!("{}:{line}:", file!());
    // Reported while still held, by the checker.
    assert!(
        eventually(|| !logged(&place).is_empty()),
        "{:?}",
        LOGS.0.lock().unwrap()
    );
    let warning = logged(&place).remove(0);
    assert!(warning.starts_with("WARN"), "{warning}");
    assert!(
        warning.contains("\"leaky\"") && warning.contains("possible leak"),
        "{warning}"
    );
    drop(held);
    assert!(logged("came back after").iter().any(|l| l.contains(&place)));

    // A short hold is not reported.
    let quick = pool.get().unwrap();
    drop(quick);
    thread::sleep(Duration::from_millis(200));
    assert_eq!(logged("possible leak").len(), 1);

    // Nothing in the logs shows the connector (it could hold credentials).
    assert!(LOGS
        .0
        .lock()
        .unwrap()
        .iter()
        .all(|l| !l.contains("TestConnector")));
}
