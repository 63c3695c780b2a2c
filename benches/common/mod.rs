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

/// This process's peak resident set size (`VmHWM` in `/proc/self/status`), in kB.
pub fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .expect("VmHWM in /proc/self/status");
    line.trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .expect("VmHWM in kB")
}

/// The result line a child measurement printed after its tag: `name=value` pairs.
pub struct ChildLine(String);

impl ChildLine {
    /// The value of `name`.
    pub fn field(&self, name: &str) -> f64 {
        self.0
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {}", self.0))
    }
}

/// Run this benchmark's executable again with `args` (one measurement in a process of its
/// own, so its peak RSS is its own) and return the line it printed after `tag`.
pub fn child_result(args: &[&str], tag: &str) -> ChildLine {
    let exe = std::env::current_exe().expect("this benchmark's executable");
    let output = Command::new(exe)
        .args(args)
        .output()
        .expect("run the child process");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child {args:?} failed ({}): {stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(tag))
        .unwrap_or_else(|| panic!("no {tag} line from the child {args:?}: {stdout}"));
    ChildLine(line.to_owned())
}
