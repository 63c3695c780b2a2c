//! Helpers shared by the test binaries.

#![allow(dead_code)]

pub mod relay;

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

/// A one-thread tokio runtime with I/O and timers, for a test's async part.
pub fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
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

/// Send `signal` (e.g. `-STOP`, `-CONT`) to process `pid` (a server's, on this machine: the
/// tests run as root in CI).
pub fn signal(signal: &str, pid: &str) {
    let done = std::process::Command::new("kill")
        .args([signal, pid])
        .status()
        .unwrap();
    assert!(
        done.success(),
        "kill {signal} {pid} (the tests run as root in CI)"
    );
}

/// Servers that a project script starts in a temp dir of their own (`scripts/pg-pair`,
/// `scripts/partition`): `SCRIPT start DIR ARGS...` prints `KEY=value` lines, `SCRIPT CMD
/// DIR` acts on the servers, and `SCRIPT stop DIR` stops them when this is dropped (after a
/// failed start too).
pub struct ScriptServers {
    script: std::path::PathBuf,
    dir: tempfile::TempDir,
    out: String,
}

impl ScriptServers {
    pub fn start(script: &str, args: &[&str]) -> ScriptServers {
        let mut servers = ScriptServers {
            script: std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("scripts")
                .join(script),
            dir: tempfile::Builder::new()
                .prefix(&format!("nimue-{script}."))
                .tempdir_in("/tmp")
                .unwrap(),
            out: String::new(),
        };
        let out = std::process::Command::new(&servers.script)
            .arg("start")
            .arg(servers.dir.path())
            .args(args)
            .output()
            .unwrap();
        servers.out = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "scripts/{script} start: {}{}",
            servers.out,
            String::from_utf8_lossy(&out.stderr)
        );
        servers
    }

    /// The value of `KEY=value` in what `start` printed.
    pub fn value(&self, key: &str) -> &str {
        self.out
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("no {key}= in {}", self.out))
    }

    /// `SCRIPT command DIR`, which must succeed.
    pub fn run(&self, command: &str) {
        let done = std::process::Command::new(&self.script)
            .arg(command)
            .arg(self.dir.path())
            .status()
            .unwrap();
        assert!(done.success(), "{} {command}", self.script.display());
    }
}

impl Drop for ScriptServers {
    fn drop(&mut self) {
        let _ = std::process::Command::new(&self.script)
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}
