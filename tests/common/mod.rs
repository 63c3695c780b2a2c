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

/// The parts of a test server URL `scheme://user:password@host:port/db` (as scripts/test.sh
/// writes them: nothing percent-encoded), to build a driver's own configuration from.
#[derive(Debug, Clone)]
pub struct UrlParts {
    pub user: String,
    pub password: String,
    pub host: String,
    pub port: u16,
    pub db: String,
}

impl UrlParts {
    pub fn parse(url: &str) -> UrlParts {
        fn bad<T>(url: &str) -> T {
            panic!("not a scheme://user:password@host:port/db URL: {url}")
        }
        let (_, rest) = url.split_once("://").unwrap_or_else(|| bad(url));
        let (credentials, rest) = rest.rsplit_once('@').unwrap_or_else(|| bad(url));
        let (user, password) = credentials.split_once(':').unwrap_or_else(|| bad(url));
        let (address, db) = rest.split_once('/').unwrap_or_else(|| bad(url));
        let db = db.split('?').next().unwrap_or_default();
        let (host, port) = address.rsplit_once(':').unwrap_or_else(|| bad(url));
        UrlParts {
            user: user.to_owned(),
            password: password.to_owned(),
            host: host.to_owned(),
            port: port.parse().unwrap_or_else(|_| bad(url)),
            db: db.to_owned(),
        }
    }
}
