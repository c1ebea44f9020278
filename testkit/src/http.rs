//! Fake HTTP endpoints for `http` checks: each path answers with a scripted status,
//! body and delay, and counts its hits.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// What a path answers.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Status code.
    #[serde(default = "ok")]
    pub status: u16,
    /// Body (JSON; a string is sent as text).
    #[serde(default)]
    pub body: Value,
    /// Wait this long before answering.
    #[serde(default)]
    pub delay_ms: u64,
}

fn ok() -> u16 {
    200
}

impl Route {
    /// A route answering `status` with `body` at once.
    pub fn new(status: u16, body: Value) -> Self {
        Self {
            status,
            body,
            delay_ms: 0,
        }
    }
}

#[derive(Default)]
struct Inner {
    routes: HashMap<String, Route>,
    hits: HashMap<String, u32>,
    /// Request headers seen, per path (tests check that headers were sent).
    headers: HashMap<String, Vec<(String, String)>>,
}

/// Scripted HTTP endpoints. Unknown paths answer 404.
#[derive(Clone, Default)]
pub struct FakeHttp {
    inner: Arc<Mutex<Inner>>,
}

impl FakeHttp {
    /// No routes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets what `path` answers.
    pub fn route(&self, path: &str, route: Route) -> &Self {
        self.lock().routes.insert(path.to_owned(), route);
        self
    }

    /// How often `path` was requested.
    pub fn hits(&self, path: &str) -> u32 {
        self.lock().hits.get(path).copied().unwrap_or(0)
    }

    /// The headers of the last request to `path`.
    pub fn last_headers(&self, path: &str) -> Vec<(String, String)> {
        self.lock().headers.get(path).cloned().unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The router, to serve with [`crate::Server::start`].
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .fallback(answer)
            .with_state(self.clone())
    }

    /// Starts serving.
    pub async fn start(&self) -> std::io::Result<crate::Server> {
        crate::Server::start(self.router()).await
    }
}

async fn answer(State(fake): State<FakeHttp>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let route = {
        let mut inner = fake.lock();
        *inner.hits.entry(path.clone()).or_default() += 1;
        let headers = req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        inner.headers.insert(path.clone(), headers);
        inner.routes.get(&path).cloned()
    };
    let Some(route) = route else {
        return (StatusCode::NOT_FOUND, format!("no route for {path}")).into_response();
    };
    tokio::time::sleep(Duration::from_millis(route.delay_ms)).await;
    let status = StatusCode::from_u16(route.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match route.body {
        Value::String(s) => (status, s).into_response(),
        other => (status, axum::Json(other)).into_response(),
    }
}
