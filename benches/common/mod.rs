//! What the benchmarks share: the description of the machine and build they ran on.
#![allow(dead_code)] // each benchmark uses some of it

use std::process::Command;

/// CPU model, cores, kernel, rustc.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into());
    let rustc = Command::new(std::env::var("RUSTC").unwrap_or("rustc".into()))
        .arg("-V")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!("{cpu}, {cores} cores, Linux {kernel}, {rustc}")
}

/// What kind of build a result comes from, for its header.
pub fn build_kind() -> &'static str {
    if cfg!(debug_assertions) {
        "a debug build (numbers not representative)"
    } else {
        "a release build"
    }
}
