//! axum_tables' routes: web_tables' answers (its `app.rs`) from async handlers.
//!
//! `GET /` waits for a connection as a task (`get_async`, in the pool's own queue, blocking
//! no thread), then awaits its query (`AsyncApp::tables_async`). So the runtime's threads only
//! ever do HTTP: `/health` answers at once however many requests wait for the database, even
//! on a one-thread runtime.

use crate::app::{error_json, status_of, AsyncApp as App, RETRY_AFTER_SECS};
use axum::extract::State;
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::Arc;

/// The routes of `app`: `/` (the tables), `/health` (the pool's state), JSON errors for the
/// rest.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(tables).fallback(other))
        .route("/health", get(health).fallback(other))
        .fallback(other)
        .with_state(app)
}

/// `GET /`: `{"tables": [...]}`, or the error with its status (503 with `Retry-After` when
/// the pool or the database is unavailable).
async fn tables(State(app): State<Arc<App>>) -> Response {
    match app.tables_async().await {
        Ok(body) => json_response(200, body),
        Err(e) => json_response(status_of(&e), error_json(&e)),
    }
}

/// `GET /health`: numbers only, never a connection.
async fn health(State(app): State<Arc<App>>) -> Json<Value> {
    Json(app.health())
}

/// A wrong method or an unknown page: web_tables' JSON answer.
async fn other(State(app): State<Arc<App>>, method: Method, uri: Uri) -> Response {
    let (status, body) = app
        .answer_at_once(method.as_str(), uri.path())
        .unwrap_or_else(|| (405, json!({ "error": "method not allowed" })));
    json_response(status, body)
}

fn json_response(status: u16, body: Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, Json(body)).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        let retry = HeaderValue::from_static(RETRY_AFTER_SECS);
        response.headers_mut().insert(header::RETRY_AFTER, retry);
    }
    response
}
