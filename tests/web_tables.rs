//! The web_tables main job (the `examples/web_tables` package), served on a free port and
//! asked over real HTTP: in process (its app module) against SQLite, PostgreSQL, MariaDB and
//! both through ODBC, and as the built binary stopped with Ctrl-C (SIGINT).

#![cfg(feature = "sqlite")]

// The binary's start-up helpers (`demo_database`) are not used here.
#[allow(dead_code)]
#[path = "../examples/web_tables/src/app.rs"]
mod app;
mod common;
#[path = "../examples/web_tables/src/http.rs"]
mod http;

use nimue::{Connect, Connection, Pool};
use serde_json::Value as Json;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

/// An HTTP client that returns 4xx/5xx responses instead of failing on them.
fn client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn request(agent: &ureq::Agent, method: &str, url: &str) -> (u16, Json) {
    let mut response = match method {
        "GET" => agent.get(url).call(),
        "POST" => agent.post(url).send_empty(),
        _ => unreachable!(),
    }
    .expect("the server answers");
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().expect("a body");
    (status, serde_json::from_str(&body).expect("a JSON body"))
}

/// Serve `url` in process with `options`; the base URL and the running server.
fn start_with(
    url: &str,
    pool: Pool<nimue::BoxConnector>,
    options: http::Options,
) -> (String, http::Running) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let running = http::serve(listener, app::App::new(pool, url), options).expect("serving");
    (format!("http://{}", running.local_addr()), running)
}

/// Serve `url` in process: 2 workers, a queue of 8.
fn start(url: &str, pool: Pool<nimue::BoxConnector>) -> (String, http::Running) {
    let options = http::Options {
        workers: 2,
        queue: 8,
        ..http::Options::default()
    };
    start_with(url, pool, options)
}

fn pool(url: &str) -> Pool<nimue::BoxConnector> {
    Pool::builder(nimue::any::connector(url).unwrap())
        .min_idle(1)
        .max_size(3)
        .connection_timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

#[test]
fn lists_sqlite_tables_and_pool_health() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("web.db").display());
    let mut conn = nimue::any::connector(&url).unwrap().connect().unwrap();
    conn.execute("CREATE TABLE zebra (id INTEGER)", &[])
        .unwrap();
    conn.execute("CREATE TABLE aardvark (id INTEGER)", &[])
        .unwrap();
    conn.commit().unwrap();

    let pool = pool(&url);
    let (base, running) = start(&url, pool.clone());
    let agent = client();
    let (status, body) = request(&agent, "GET", &format!("{base}/"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, serde_json::json!({ "tables": ["aardvark", "zebra"] }));

    let (status, body) = request(&agent, "GET", &format!("{base}/health"));
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["pool"]["max_size"], 3);
    assert_eq!(
        body["pool"]["in_use"], 0,
        "the request's connection went back"
    );
    assert!(body["pool"]["total"].as_u64().unwrap() >= 1);
    assert!(body["pool"]["gets"].as_u64().unwrap() >= 1);

    let (status, body) = request(&agent, "GET", &format!("{base}/nope"));
    assert_eq!(status, 404);
    assert!(body["error"].as_str().unwrap().contains("/nope"));
    let (status, _) = request(&agent, "POST", &format!("{base}/"));
    assert_eq!(status, 405);

    running.shutdown_handle().trigger();
    running.join();
    assert!(pool.is_closed(), "stopping the server closes the pool");
    assert_eq!(pool.state().total, 0);
}

/// A request with its status, `Retry-After` header and JSON body.
fn request_full(agent: &ureq::Agent, method: &str, url: &str) -> (u16, Option<String>, String) {
    let mut response = match method {
        "GET" => agent.get(url).call(),
        "HEAD" => agent.head(url).call(),
        _ => unreachable!(),
    }
    .expect("the server answers");
    let retry = response
        .headers()
        .get("Retry-After")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.body_mut().read_to_string().unwrap_or_default();
    (response.status().as_u16(), retry, body)
}

/// The database stalls (its one connection held): `/` gets 503 with `Retry-After` within
/// the app's wait, a request the full queue cannot take gets it at once, and `/health`
/// answers meanwhile, with the numbers of the stall.
#[test]
fn a_stalled_database_gets_fast_503s_and_health_still_answers() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("web.db").display());
    let pool = Pool::builder(nimue::any::connector(&url).unwrap())
        .min_idle(1)
        .max_size(1)
        .connection_timeout(Duration::from_millis(1500))
        .build()
        .unwrap();
    let held = pool.get().unwrap();
    // One worker, a queue of one.
    let options = http::Options {
        workers: 1,
        queue: 1,
        ..http::Options::default()
    };
    let (base, running) = start_with(&url, pool.clone(), options);
    let agent = client();
    let health = |agent: &ureq::Agent| request(agent, "GET", &format!("{base}/health")).1;

    // The worker waits for the held connection; the next request waits in the queue.
    let waits = {
        let (agent, url) = (agent.clone(), format!("{base}/"));
        std::thread::spawn(move || request_full(&agent, "GET", &url))
    };
    common::eventually("the worker waits for a connection", || {
        pool.state().waiting == 1
    });
    let queued = {
        let (agent, url) = (agent.clone(), format!("{base}/"));
        std::thread::spawn(move || request_full(&agent, "GET", &url))
    };
    common::eventually("a request is queued", || {
        health(&agent)["http"]["queued"] == 1
    });

    // The queue is full: refused at once, told when to come back.
    let (status, retry, body) = request_full(&agent, "GET", &format!("{base}/"));
    assert_eq!(status, 503, "{body}");
    assert_eq!(retry.as_deref(), Some("1"));
    assert!(body.contains("busy"), "{body}");
    // Health answers while every worker is stuck, and says so.
    let body = health(&agent);
    assert_eq!(body["pool"]["waiting"], 1, "{body}");
    assert_eq!(body["http"]["queued"], 1, "{body}");
    assert_eq!(body["http"]["refused"], 1, "{body}");

    // The waiting request gives up with the pool's timeout: a 503 to retry, not a hang.
    let (status, retry, body) = waits.join().unwrap();
    assert_eq!(status, 503, "{body}");
    assert_eq!(retry.as_deref(), Some("1"));
    assert!(body.contains("Timeout"), "{body}");
    drop(held);
    let (status, _, body) = queued.join().unwrap();
    assert!(status == 200 || status == 503, "{status} {body}");
    let (status, _, body) = request_full(&agent, "GET", &format!("{base}/"));
    assert_eq!(status, 200, "the database is back: {body}");
    running.shutdown_handle().trigger();
    running.join();
}

#[test]
fn head_works_and_a_long_path_is_not_echoed_whole() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("web.db").display());
    let (base, running) = start(&url, pool(&url));
    let agent = client();
    let (status, _, body) = request_full(&agent, "HEAD", &format!("{base}/"));
    assert_eq!((status, body.as_str()), (200, ""));
    let (status, _, _) = request_full(&agent, "HEAD", &format!("{base}/health"));
    assert_eq!(status, 200);
    let long = "x".repeat(20_000);
    let (status, body) = request(&agent, "GET", &format!("{base}/{long}"));
    assert_eq!(status, 404);
    let error = body["error"].as_str().unwrap();
    assert!(error.len() < 200, "{} bytes", error.len());
    assert!(error.starts_with("no such page: /xxx"), "{error}");
    running.shutdown_handle().trigger();
    running.join();
}

/// HTTP connections the server has open, besides the one asking (`/health`'s gauge, asked on
/// a connection of its own that is closed right after).
fn other_connections(base: &str) -> u64 {
    let (status, body) = request(&client(), "GET", &format!("{base}/health"));
    assert_eq!(status, 200, "{body}");
    body["http"]["connections"].as_u64().expect("a count") - 1
}

/// A client that opens a connection and sends half a request, or nothing, is disconnected
/// after the read timeout: slow clients cannot hold the server's connections.
#[test]
fn a_client_that_sends_nothing_is_disconnected() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("web.db").display());
    let options = http::Options {
        read_timeout: Duration::from_millis(300),
        write_timeout: Duration::from_secs(3600),
        ..http::Options::default()
    };
    let (base, running) = start_with(&url, pool(&url), options);
    let addr = running.local_addr();
    let mut half = std::net::TcpStream::connect(addr).unwrap();
    half.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .unwrap();
    let silent = std::net::TcpStream::connect(addr).unwrap();
    for mut stream in [half, silent] {
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut got = Vec::new();
        // The server ends the connection (EOF, or a reset after a 408) well before 30 s.
        match stream.read_to_end(&mut got) {
            Ok(_) => {}
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
        }
        let text = String::from_utf8_lossy(&got);
        assert!(
            got.is_empty() || text.starts_with("HTTP/1.1 408"),
            "no answer but a timeout: {text}"
        );
    }
    common::eventually("the server forgot both connections", || {
        other_connections(&base) == 0
    });
    // Clients that do send are served as before.
    let (status, _) = request(&client(), "GET", &format!("{base}/"));
    assert_eq!(status, 200);
    running.shutdown_handle().trigger();
    running.join();
}

/// A client that sends requests but never reads the answers is disconnected after the write
/// timeout once its buffers are full (the read timeout is an hour here, so only the write
/// timeout can end it).
#[test]
fn a_client_that_reads_nothing_is_disconnected() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("web.db").display());
    let options = http::Options {
        read_timeout: Duration::from_secs(3600),
        write_timeout: Duration::from_millis(300),
        ..http::Options::default()
    };
    let (base, running) = start_with(&url, pool(&url), options);
    // A small receive buffer, so the answers pile up on the server's side soon.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&running.local_addr().into()).unwrap();
    let mut stream: std::net::TcpStream = socket.into();
    stream
        .set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let request = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    // Pipelined requests until the server stops taking them (bounded in count).
    let mut sent = 0;
    while sent < 200_000 && stream.write_all(request).is_ok() {
        sent += 1;
    }
    assert!(
        sent < 200_000,
        "the server stopped reading once its writes were stuck"
    );
    common::eventually("the server dropped the client that reads nothing", || {
        other_connections(&base) == 0
    });
    drop(stream);
    running.shutdown_handle().trigger();
    running.join();
}

#[test]
fn database_errors_are_json_with_a_status_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    // A path under a missing directory: SQLite cannot open it.
    let url = format!("sqlite:{}", dir.path().join("missing/dir/web.db").display());
    let pool = Pool::builder(nimue::any::connector(&url).unwrap())
        .min_idle(0)
        .max_size(2)
        .connection_timeout(Duration::from_millis(300))
        .build_lazy()
        .unwrap();
    let (base, running) = start(&url, pool.clone());
    let agent = client();
    for _ in 0..3 {
        let (status, body) = request(&agent, "GET", &format!("{base}/"));
        assert_eq!(status, 503, "{body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains("unable to open"), "names the cause: {error}");
    }
    let (status, body) = request(&agent, "GET", &format!("{base}/health"));
    assert_eq!(status, 200);
    assert_eq!(body["pool"]["in_use"], 0, "no slot leaked by the failures");
    running.shutdown_handle().trigger();
    running.join();
}

/// Create `table` through `url` and ask the app served from `url` for the table list: it
/// must contain `table`.
fn assert_lists(url: &str, table: &str) {
    let mut conn = nimue::any::connector(url).unwrap().connect().unwrap();
    conn.execute(&format!("DROP TABLE IF EXISTS {table}"), &[])
        .unwrap();
    conn.execute(&format!("CREATE TABLE {table} (id int)"), &[])
        .unwrap();
    conn.commit().unwrap();
    let pool = pool(url);
    let (base, running) = start(url, pool);
    let agent = client();
    // Twice: the second request uses the query the first one chose.
    for _ in 0..2 {
        let (status, body) = request(&agent, "GET", &format!("{base}/"));
        assert_eq!(status, 200, "{body}");
        let tables: Vec<&str> = body["tables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert!(tables.contains(&table), "{tables:?}");
    }
    running.shutdown_handle().trigger();
    running.join();
    conn.execute(&format!("DROP TABLE {table}"), &[]).unwrap();
    conn.commit().unwrap();
}

#[cfg(feature = "postgres")]
#[test]
fn lists_postgres_tables() {
    let Some(url) = common::server_env("NIMUE_TEST_POSTGRES_URL") else {
        return;
    };
    assert_lists(&url, "nimue_web_listed");
}

#[cfg(feature = "mysql")]
#[test]
fn lists_mariadb_tables() {
    let Some(url) = common::server_env("NIMUE_TEST_MYSQL_URL") else {
        return;
    };
    assert_lists(&url, "nimue_web_listed_my");
}

/// Through ODBC the URL does not say which database is behind the driver: the app finds the
/// query that works on it.
#[cfg(feature = "odbc")]
#[test]
fn lists_tables_through_odbc() {
    let Some(postgres) = common::server_env("NIMUE_TEST_ODBC_POSTGRES") else {
        return;
    };
    assert_lists(&format!("odbc:{postgres}"), "nimue_web_listed_odbc");
    let Some(sqlite) = common::server_env("NIMUE_TEST_ODBC_SQLITE") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let driver = sqlite.split(';').next().expect("Driver=... first");
    let sqlite = format!(
        "odbc:{driver};Database={};",
        dir.path().join("web.db").display()
    );
    assert_lists(&sqlite, "nimue_web_listed_odbc");
}

/// Builds the web_tables binary (its own package) with this test's database features and
/// returns its path: what a newcomer runs, built by the cargo that runs this test (its build
/// lock is free by now).
fn example_binary() -> std::path::PathBuf {
    let features: Vec<&str> = [
        ("postgres", cfg!(feature = "postgres")),
        ("postgres-tls", cfg!(feature = "postgres-tls")),
        ("mysql", cfg!(feature = "mysql")),
        ("mysql-tls", cfg!(feature = "mysql-tls")),
        ("odbc", cfg!(feature = "odbc")),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect();
    let status = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--quiet", "-p", "web_tables"])
        .args(["--features", &features.join(",")])
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo build -p web_tables: {status}");
    // target/<profile>/deps/<this test> -> target/<profile>/web_tables
    let test_exe = std::env::current_exe().unwrap();
    let profile_dir = test_exe.parent().unwrap().parent().unwrap();
    let binary = profile_dir.join("web_tables");
    assert!(binary.exists(), "built {}", binary.display());
    binary
}

/// The port in the start line `web_tables: serving … on http://127.0.0.1:PORT/`.
fn served_port(line: &str) -> u16 {
    let address = line
        .rsplit_once("http://")
        .and_then(|(_, rest)| rest.strip_suffix('/'))
        .unwrap_or_else(|| panic!("a start line: {line}"));
    let port: u16 = address.rsplit_once(':').unwrap().1.parse().unwrap();
    assert_ne!(port, 0, "{line}");
    port
}

/// The URL (with its password) comes from `DATABASE_URL`, so it need not be on the command
/// line; `--help` describes the program.
#[test]
fn example_binary_takes_the_url_from_the_environment() {
    let binary = example_binary();
    let help = Command::new(&binary).arg("--help").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(help.contains("Serve the tables of a database"), "{help}");
    assert!(help.contains("DATABASE_URL"), "{help}");

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("env.db").display());
    let mut conn = nimue::any::connector(&url).unwrap().connect().unwrap();
    conn.execute("CREATE TABLE from_the_environment (id INTEGER)", &[])
        .unwrap();
    conn.commit().unwrap();
    let mut child = Command::new(&binary)
        .args(["--bind", "127.0.0.1:0"])
        .env("DATABASE_URL", &url)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let port = served_port(&lines.next().expect("a start line").unwrap());
    let (status, body) = request(&client(), "GET", &format!("http://127.0.0.1:{port}/"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tables"], serde_json::json!(["from_the_environment"]));
    let _ = child.kill();
    let _ = child.wait();
}

/// The example binary itself: the main job a newcomer runs.
#[test]
fn example_binary_serves_the_demo_database_and_stops_on_ctrl_c() {
    let binary = example_binary();
    let mut child = Command::new(&binary)
        .args(["--bind", "127.0.0.1:0", "--max", "2"])
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a start line").unwrap();
    // The port really bound, not the 0 asked for.
    let port = served_port(&first);

    let (status, body) = request(&client(), "GET", &format!("http://127.0.0.1:{port}/"));
    assert_eq!(status, 200, "{body}");
    let tables = body["tables"].as_array().unwrap();
    assert!(
        tables.iter().any(|t| t == "authors"),
        "the demo database: {body}"
    );

    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "Ctrl-C is a clean exit: {exit}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l.contains("pool closed")), "{rest:?}");
}
