//! `http`: send a request and judge the response.
//!
//! Measurement: `{status, headers, body, latency_ms}`; header names are lower-case,
//! `body` is parsed when it is JSON and a string otherwise. Default expect: a 2xx status.

use super::{millis, Check, CheckContext, Effects, MeasureError, Timing};
use crate::config::{de, FieldError};
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A request to send.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// Absolute URL.
    pub url: String,
    /// Header names and values. Values may be secrets: never log them.
    pub headers: BTreeMap<String, String>,
    /// The body, if any.
    pub body: Option<Vec<u8>>,
    /// Give up after this long.
    pub timeout: Duration,
    /// Sign with AWS Signature Version 4 (IAM-authorised function URLs, API Gateway).
    pub sigv4: Option<SigV4>,
}

/// What SigV4 signing needs besides credentials.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigV4 {
    /// The signing name: `lambda` for function URLs, `execute-api` for API Gateway.
    pub service: String,
    /// The region; default: the SDK's (`AWS_REGION`).
    #[serde(default)]
    pub region: Option<String>,
}

/// What came back.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Header names (lower-case) and values.
    pub headers: BTreeMap<String, String>,
    /// The body.
    pub body: Vec<u8>,
}

/// Sends HTTP requests, behind a trait so tests can fake it.
#[async_trait]
pub trait HttpSender: Send + Sync {
    /// Sends `req` and reads the whole response.
    async fn send(&self, req: HttpRequest) -> Result<HttpResponse, String>;
}

/// The reqwest (rustls) implementation, with one connection pool for all checks.
#[derive(Debug, Clone)]
pub struct ReqwestSender {
    client: reqwest::Client,
}

impl ReqwestSender {
    /// A sender with its own client.
    pub fn new() -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("traffic-hook/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("building the HTTP client: {e}"))?;
        Ok(Self { client })
    }
}

#[async_trait]
impl HttpSender for ReqwestSender {
    async fn send(&self, req: HttpRequest) -> Result<HttpResponse, String> {
        let method =
            reqwest::Method::from_bytes(req.method.as_bytes()).map_err(|e| e.to_string())?;
        let mut builder = self.client.request(method, &req.url).timeout(req.timeout);
        for (name, value) in &req.headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = req.body {
            builder = builder.body(body);
        }
        // Show the chain of causes: "error sending request" alone does not help anyone.
        let describe = |e: reqwest::Error| {
            // reqwest names the URL in its message; ours names a redacted one already.
            let e = e.without_url();
            let mut msg = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                msg.push_str(": ");
                msg.push_str(&s.to_string());
                source = s.source();
            }
            msg
        };
        let resp = builder.send().await.map_err(describe)?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = resp.bytes().await.map_err(describe)?.to_vec();
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

/// A URL fit for messages: no user, password or query string (they may hold tokens).
pub(crate) fn redacted_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let had_query = u.query().is_some();
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            if had_query {
                format!("{u}?…")
            } else {
                u.to_string()
            }
        }
        Err(_) => "(unparsable URL)".to_owned(),
    }
}

/// Sends one request and measures the response.
pub struct HttpCheck {
    sender: Arc<dyn HttpSender>,
    request: HttpRequest,
}

impl HttpCheck {
    /// A check that sends `request` through `sender`.
    pub fn new(sender: Arc<dyn HttpSender>, request: HttpRequest) -> Self {
        Self { sender, request }
    }
}

/// Turns a response into the measurement document.
pub(crate) fn measurement(resp: HttpResponse, latency: Duration) -> Value {
    let body = serde_json::from_slice::<Value>(&resp.body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&resp.body).into_owned()));
    let headers: Map<String, Value> = resp
        .headers
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    json!({ "status": resp.status, "headers": headers, "body": body, "latency_ms": millis(latency) })
}

#[async_trait]
impl Check for HttpCheck {
    fn kind(&self) -> &'static str {
        "http"
    }

    fn default_expect(&self) -> Option<&'static str> {
        Some("status >= `200` && status < `300`")
    }

    async fn measure(&self, _: &CheckContext) -> Result<Value, MeasureError> {
        let started = Instant::now();
        let resp = self.sender.send(self.request.clone()).await.map_err(|e| {
            MeasureError(format!(
                "{} {}: {e}",
                self.request.method,
                redacted_url(&self.request.url)
            ))
        })?;
        Ok(measurement(resp, started.elapsed()))
    }
}

/// The `http:` section of a check.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpSpec {
    pub url: String,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A string is sent as it is; anything else as JSON.
    #[serde(default)]
    pub body: Option<Value>,
    #[serde(default)]
    pub sigv4: Option<SigV4>,
}

fn check_url(url: &str) -> Result<(), String> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(()),
        Ok(u) => Err(format!(
            "`{url}`: scheme `{}` is not http or https",
            u.scheme()
        )),
        Err(e) => Err(format!("`{url}` is not an absolute URL: {e}")),
    }
}

fn check_method(method: &str) -> Result<(), String> {
    if !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(format!(
            "`{method}` is not an HTTP method; use GET, POST, PUT, ... in capitals"
        ))
    }
}

pub(crate) fn validate(raw: &Value, rendered: &Value, path: &str) -> Vec<FieldError> {
    let spec: HttpSpec = match de(rendered, path) {
        Ok(s) => s,
        Err(e) => return vec![e],
    };
    let mut errors = Vec::new();
    let mut push = |field: &str, message: String| {
        errors.push(FieldError {
            path: format!("{path}.{field}"),
            message,
        })
    };
    // A URL that is one variable (`{{env.API_URL}}`) can only be checked once rendered.
    let raw_url = raw.get("url").and_then(Value::as_str).unwrap_or_default();
    if !raw_url.trim_start().starts_with("{{") {
        if let Err(e) = check_url(&spec.url) {
            push("url", e);
        }
    }
    if let Some(m) = &spec.method {
        if let Err(e) = check_method(m) {
            push("method", e);
        }
    }
    for name in spec.headers.keys() {
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            push(
                &format!("headers.{name}"),
                "is not a valid header name".to_owned(),
            );
        }
    }
    errors
}

/// The request a validated `http:` section describes (shared with `load`).
pub(crate) fn request_from_spec(
    spec: HttpSpec,
    path: &str,
    timing: Timing,
) -> Result<HttpRequest, String> {
    check_url(&spec.url).map_err(|e| format!("{path}.url: {e}"))?;
    let method = spec.method.unwrap_or_else(|| "GET".to_owned());
    check_method(&method).map_err(|e| format!("{path}.method: {e}"))?;
    let mut headers = spec.headers;
    let body = match spec.body {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.into_bytes()),
        Some(json) => {
            if !headers
                .keys()
                .any(|k| k.eq_ignore_ascii_case("content-type"))
            {
                headers.insert("content-type".to_owned(), "application/json".to_owned());
            }
            Some(json.to_string().into_bytes())
        }
    };
    Ok(HttpRequest {
        method,
        url: spec.url,
        headers,
        body,
        timeout: timing.timeout,
        sigv4: spec.sigv4,
    })
}

pub(crate) fn build(
    spec: &Value,
    path: &str,
    timing: Timing,
    effects: &Effects,
) -> Result<Arc<dyn Check>, String> {
    let spec: HttpSpec = de(spec, path).map_err(|e| e.to_string())?;
    Ok(Arc::new(HttpCheck::new(
        effects.http.clone(),
        request_from_spec(spec, path, timing)?,
    )))
}

#[cfg(test)]
mod tests {
    use super::redacted_url;

    #[test]
    fn redacted_urls_keep_host_and_path_only() {
        assert_eq!(
            redacted_url("https://u:p@api.example.com/v1/q?api_key=s3cret"),
            "https://api.example.com/v1/q?…"
        );
        assert_eq!(redacted_url("http://127.0.0.1:9/x"), "http://127.0.0.1:9/x");
    }
}
