//! The async example (`examples/axum_tables`): its routes on a one-thread tokio runtime
//! over a pool of 2 connections, asked over real HTTP. With both connections held, 100
//! concurrent requests wait for the pool (as tasks in its queue) while `/health` keeps
//! answering: nothing blocks the runtime's only thread. Then all 100 are served.

#![cfg(all(feature = "sqlite", feature = "tokio"))]

#[allow(dead_code)]
#[path = "../examples/web_tables/src/app.rs"]
mod app;
mod common;
#[path = "../examples/axum_tables/src/routes.rs"]
mod routes;

use nimue::aio::BridgedConnector;
use nimue::{Connect, Connection, Pool};
use serde_json::Value as Json;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn get(agent: &ureq::Agent, url: &str) -> (u16, Json) {
    let mut response = agent.get(url).call().expect("the server answers");
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().expect("a body");
    (status, serde_json::from_str(&body).expect("a JSON body"))
}

fn client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// Serve `app` on a one-thread runtime on its own thread; its base URL, and what stops it.
fn serve(
    app: app::AsyncApp,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    std::thread::JoinHandle<()>,
) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, routes::router(Arc::new(app)))
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
    });
    (base, stop, server)
}

#[test]
fn a_hundred_requests_wait_for_two_connections_while_health_answers() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("axum.db").display());
    let mut conn = nimue::any::connector(&url).unwrap().connect().unwrap();
    conn.execute("CREATE TABLE giraffe (id INTEGER)", &[])
        .unwrap();
    conn.commit().unwrap();
    let pool = Pool::builder(BridgedConnector::new(nimue::any::connector(&url).unwrap()))
        .min_idle(2)
        .max_size(2)
        .connection_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let (base, stop, server) = serve(app::App::new(pool.clone(), &url));
    let agent = client();
    let (status, body) = get(&agent, &format!("{base}/"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tables"], serde_json::json!(["giraffe"]));

    // Both connections held: every request for `/` must wait for the pool.
    let held = (pool.get().unwrap(), pool.get().unwrap());
    let requests: Vec<_> = (0..100)
        .map(|_| {
            let (agent, url) = (agent.clone(), format!("{base}/"));
            std::thread::spawn(move || get(&agent, &url))
        })
        .collect();
    common::eventually("100 requests wait for the pool", || {
        pool.state().waiting == 100
    });
    // The runtime's one thread is free: health answers, and sees them all waiting.
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let asked = Instant::now();
        let (status, body) = get(&agent, &format!("{base}/health"));
        slowest = slowest.max(asked.elapsed());
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["pool"]["waiting"], 100, "{body}");
        assert_eq!(body["pool"]["in_use"], 2, "{body}");
    }
    eprintln!("/health with 100 requests waiting: slowest of 10 answers {slowest:?}");
    drop(held);
    for request in requests {
        let (status, body) = request.join().unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["tables"], serde_json::json!(["giraffe"]));
    }
    let st = pool.state();
    assert_eq!((st.waiting, st.timeouts, st.broken), (0, 0, 0), "{st:?}");
    stop.send(()).unwrap();
    server.join().unwrap();
    pool.close();
}

/// A request that finds no connection within the pool's timeout gets a 503 to retry, and
/// unknown pages and wrong methods get web_tables' JSON errors.
#[test]
fn a_stalled_pool_gives_503_and_errors_are_json() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("axum.db").display());
    let pool = Pool::builder(BridgedConnector::new(nimue::any::connector(&url).unwrap()))
        .min_idle(1)
        .max_size(1)
        .connection_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let (base, stop, server) = serve(app::App::new(pool.clone(), &url));
    let agent = client();
    let held = pool.get().unwrap();
    let mut response = agent.get(&format!("{base}/")).call().unwrap();
    assert_eq!(response.status().as_u16(), 503);
    let retry = response
        .headers()
        .get("Retry-After")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(retry.as_deref(), Some("1"));
    let body = response.body_mut().read_to_string().unwrap();
    assert!(body.contains("Timeout"), "{body}");
    drop(held);
    let (status, body) = get(&agent, &format!("{base}/nope"));
    assert_eq!(status, 404);
    assert!(body["error"].as_str().unwrap().contains("/nope"), "{body}");
    let mut response = agent.post(&format!("{base}/")).send_empty().unwrap();
    assert_eq!(response.status().as_u16(), 405);
    let body = response.body_mut().read_to_string().unwrap();
    assert!(body.contains("method not allowed"), "{body}");
    let (status, _) = get(&agent, &format!("{base}/"));
    assert_eq!(status, 200);
    stop.send(()).unwrap();
    server.join().unwrap();
    assert_eq!(pool.state().in_use, 0);
    pool.close();
}
