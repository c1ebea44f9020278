//! Fake HTTP endpoints for `http` checks: each path answers with a scripted status,
//! headers, body and delay, and counts its hits. Bodies can misbehave on purpose:
//! huge (streamed, never held in memory), dripped a byte at a time, or raw bytes.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, StreamExt};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// What a path answers.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
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
    /// Response headers besides the content type.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Instead of `body`: this many bytes of `x`, streamed in 64 KiB chunks.
    #[serde(default)]
    pub body_bytes: Option<u64>,
    /// Instead of `body`: exactly these bytes (not UTF-8, say).
    #[serde(default)]
    pub raw_body: Option<Vec<u8>>,
    /// Send the body one byte every this many milliseconds.
    #[serde(default)]
    pub drip_ms: u64,
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
            ..Self::default()
        }
    }

    /// The body as bytes, and its content type.
    fn bytes(&self) -> (Vec<u8>, &'static str) {
        match (&self.raw_body, &self.body) {
            (Some(raw), _) => (raw.clone(), "application/octet-stream"),
            (None, Value::String(s)) => (s.clone().into_bytes(), "text/plain; charset=utf-8"),
            (None, other) => (other.to_string().into_bytes(), "application/json"),
        }
    }
}

#[derive(Default)]
struct Inner {
    routes: HashMap<String, Route>,
    hits: HashMap<String, u32>,
    /// Request headers seen, per path (tests check that headers were sent).
    headers: HashMap<String, Vec<(String, String)>>,
    /// Request bodies seen, per path, in order (webhook tests read them).
    bodies: HashMap<String, Vec<Vec<u8>>>,
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

    /// The bodies of the requests to `path`, in order.
    pub fn bodies(&self, path: &str) -> Vec<Vec<u8>> {
        self.lock().bodies.get(path).cloned().unwrap_or_default()
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
    // Bodies are kept whole up to 1 MiB (tests send small ones).
    let body = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    fake.lock()
        .bodies
        .entry(path.clone())
        .or_default()
        .push(body);
    let Some(route) = route else {
        return (StatusCode::NOT_FOUND, format!("no route for {path}")).into_response();
    };
    tokio::time::sleep(Duration::from_millis(route.delay_ms)).await;
    let status = StatusCode::from_u16(route.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (content_type, body) = if let Some(n) = route.body_bytes {
        // Streamed: a 50 MB body costs the fake 64 KiB.
        let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
        let chunks = (0..n.div_ceil(chunk.len() as u64)).map(move |i| {
            let left = n - i * chunk.len() as u64;
            Ok::<_, std::io::Error>(chunk.slice(..chunk.len().min(left as usize)))
        });
        (
            "application/octet-stream",
            Body::from_stream(stream::iter(chunks)),
        )
    } else {
        let (bytes, content_type) = route.bytes();
        if route.drip_ms > 0 {
            let every = Duration::from_millis(route.drip_ms);
            let drip = stream::iter(bytes).then(move |b| async move {
                tokio::time::sleep(every).await;
                Ok::<_, std::io::Error>(Bytes::from(vec![b]))
            });
            (content_type, Body::from_stream(drip))
        } else {
            (content_type, Body::from(bytes))
        }
    };
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static(content_type));
    for (k, v) in &route.headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            h.insert(k, v);
        }
    }
    resp
}
