//! The web_tables example, served on a free port and asked over real HTTP: in process (its
//! app module) against SQLite and PostgreSQL, and as the built example binary stopped with
//! Ctrl-C (SIGINT).

#![cfg(feature = "sqlite")]

#[path = "../examples/web_tables/app.rs"]
mod app;
mod common;

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

/// Serve `url` in process; the base URL and the running server.
fn start(url: &str, pool: Pool<nimue::BoxConnector>) -> (String, app::Running) {
    let server = tiny_http::Server::http("127.0.0.1:0").expect("a free port");
    let port = server.server_addr().to_ip().expect("an IP address").port();
    let running = app::serve(server, app::App::new(pool, url), 2);
    (format!("http://127.0.0.1:{port}"), running)
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

#[cfg(feature = "postgres")]
#[test]
fn lists_postgres_tables() {
    let Some(url) = common::server_env("NIMUE_TEST_POSTGRES_URL") else {
        return;
    };
    let mut conn = nimue::any::connector(&url).unwrap().connect().unwrap();
    conn.execute("CREATE TABLE IF NOT EXISTS nimue_web_listed (id int)", &[])
        .unwrap();
    conn.commit().unwrap();
    let pool = pool(&url);
    let (base, running) = start(&url, pool);
    let (status, body) = request(&client(), "GET", &format!("{base}/"));
    assert_eq!(status, 200, "{body}");
    let tables: Vec<&str> = body["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(tables.contains(&"nimue_web_listed"), "{tables:?}");
    running.shutdown_handle().trigger();
    running.join();
}

/// The example binary itself: the main job a newcomer runs. `cargo test` builds examples next
/// to the test binaries.
#[test]
fn example_binary_serves_the_demo_database_and_stops_on_ctrl_c() {
    let test_exe = std::env::current_exe().unwrap();
    let examples = test_exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples");
    let binary = examples.join("web_tables");
    assert!(binary.exists(), "cargo test builds {}", binary.display());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(&binary)
        .args(["--bind", &format!("127.0.0.1:{port}"), "--max", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a start line").unwrap();
    assert!(first.contains("serving"), "{first}");

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
