//! Helpers shared by the test binaries.

#![allow(dead_code)]

/// The value of the environment variable naming a test server, or `None` (with a printed
/// line) when it is unset locally. Under `CI=true` an unset variable fails the test: every
/// database of the matrix must really run in CI.
pub fn server_env(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => Some(value),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{var} is not set and CI=true: scripts/test.sh must start this database")
        }
        _ => {
            eprintln!("SKIP: {var} is not set; run scripts/test.sh to start the server");
            None
        }
    }
}

/// Poll `done` until it holds; a generous deadline only stops a hang (never a timing check).
pub fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "gave up waiting until {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
