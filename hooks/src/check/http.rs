//! `http`: send a request and judge the response.
//!
//! Measurement: `{status, headers, body, latency_ms}`; header names are lower-case,
//! `body` is parsed when it is JSON and a string otherwise. Default expect: a 2xx status.

use super::kind::{BuildContext, BuildError, Kind, Section};
use super::{millis, Check, CheckContext, MeasureError};
use crate::diag::{Errors, Fields};
use crate::error::EffectError;
use crate::size::ByteSize;
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// A request to send.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HttpRequest {
    /// `GET`, `POST`, ...
    pub(crate) method: Method,
    /// Absolute URL.
    pub(crate) url: String,
    /// Header names and values. Values may be secrets: never log them.
    pub(crate) headers: BTreeMap<String, String>,
    /// The body, if any.
    pub(crate) body: Option<Vec<u8>>,
    /// Give up after this long.
    pub(crate) timeout: Duration,
    /// Sign with AWS Signature Version 4 (IAM-authorised function URLs, API Gateway).
    pub(crate) sigv4: Option<SigV4>,
    /// The most body to read; a larger one is an error, and reading stops there.
    pub(crate) max_body: usize,
    /// Keep the body (`http`), or read and drop it (`load`).
    pub(crate) keep_body: bool,
}

/// The `max_body` when a check sets none.
pub(crate) const DEFAULT_MAX_BODY: ByteSize = ByteSize::mib(1);

/// The most `max_body` may be: Lambda's own response limit.
pub(crate) const MAX_MAX_BODY: ByteSize = ByteSize::mib(6);

/// An HTTP method: a token in capitals (`GET`, `POST`, `PURGE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Method(String);

impl Method {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// `POST`.
    pub(crate) fn post() -> Self {
        Self("POST".to_owned())
    }
}

impl Default for Method {
    fn default() -> Self {
        Self("GET".to_owned())
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Method {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Self(text))
        } else if !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphabetic()) {
            Err(serde::de::Error::custom(format!(
                "`{text}` is not an HTTP method; write it in capitals: `{}`",
                text.to_ascii_uppercase()
            )))
        } else {
            Err(serde::de::Error::custom(format!(
                "`{text}` is not an HTTP method; use GET, POST, PUT, ... in capitals"
            )))
        }
    }
}

/// What SigV4 signing needs besides credentials.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SigV4 {
    /// The signing name: `lambda` for function URLs, `execute-api` for API Gateway.
    pub(crate) service: String,
    /// The region; default: the SDK's (`AWS_REGION`).
    #[serde(default)]
    pub(crate) region: Option<String>,
}

/// What came back.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HttpReply {
    /// Status code.
    pub(crate) status: u16,
    /// Header names (lower-case) and values.
    pub(crate) headers: BTreeMap<String, String>,
    /// The body.
    pub(crate) body: Vec<u8>,
}

/// Sends HTTP requests, behind a trait so tests can fake it.
#[async_trait]
pub(crate) trait HttpSender: Send + Sync + 'static {
    /// Sends `req` and reads the whole response.
    async fn send(&self, req: &HttpRequest) -> Result<HttpReply, EffectError>;

    /// A connection for `load`, which sends `req` again and again through it: as
    /// lean as the sender can make it. By default each request goes through `send`.
    async fn connect(
        self: Arc<Self>,
        req: Arc<HttpRequest>,
    ) -> Result<Box<dyn Repeater>, EffectError> {
        Ok(Box::new(Resend { sender: self, req }))
    }
}

/// One of `load`'s connections.
#[async_trait]
pub(crate) trait Repeater: Send {
    /// Sends the request once more and reads the answer to its end (keeping nothing);
    /// the status.
    async fn repeat(&mut self) -> Result<u16, EffectError>;
}

/// A repeater that calls [`HttpSender::send`] each time.
struct Resend<S: ?Sized> {
    sender: Arc<S>,
    req: Arc<HttpRequest>,
}

#[async_trait]
impl<S: HttpSender + ?Sized> Repeater for Resend<S> {
    async fn repeat(&mut self) -> Result<u16, EffectError> {
        Ok(self.sender.send(&self.req).await?.status)
    }
}

/// Whether `name` is an HTTP token (RFC 9110): what a header name must be.
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A URL fit for messages: no user, password or query string (they may hold tokens).
pub(crate) fn redacted_url(url: &str) -> String {
    match url::Url::parse(url) {
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

/// Turns a response into the measurement document.
pub(crate) fn measurement(resp: HttpReply, latency: Duration) -> Value {
    let body = serde_json::from_slice::<Value>(&resp.body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&resp.body).into_owned()));
    let headers: Map<String, Value> = resp
        .headers
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    json!({ "status": resp.status, "headers": headers, "body": body, "latency_ms": millis(latency) })
}

/// Sends one request and measures the response.
struct HttpCheck {
    sender: Arc<dyn HttpSender>,
    request: HttpRequest,
}

#[async_trait]
impl Check for HttpCheck {
    async fn measure(&self, _: &CheckContext) -> Result<Value, MeasureError> {
        let started = Instant::now();
        let resp = self.sender.send(&self.request).await.map_err(|e| {
            MeasureError::new(format!(
                "{} {}: {}",
                self.request.method,
                redacted_url(&self.request.url),
                e.message
            ))
        })?;
        Ok(measurement(resp, started.elapsed()))
    }
}

/// The fields of an `http:` section (shared with `load.http`).
pub(crate) const FIELDS: [&str; 6] = ["url", "method", "headers", "body", "sigv4", "max_body"];

/// Checks a URL, with hints for the usual slips.
fn check_url(url: &str) -> Result<(), String> {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        Ok(u) if matches!(u.scheme(), "http" | "https") => Err(format!("`{url}` has no host")),
        // `localhost:8080/health` parses with the scheme `localhost`.
        Ok(u) if !url.contains("://") => Err(format!(
            "`{url}` has no scheme (`{}:` is read as one); did you mean `https://{url}`?",
            u.scheme()
        )),
        Ok(u) => Err(format!(
            "`{url}`: scheme `{}` is not http or https",
            u.scheme()
        )),
        Err(url::ParseError::RelativeUrlWithoutBase)
            if !url.contains(char::is_whitespace) && url.contains(['.', ':']) =>
        {
            Err(format!(
                "`{url}` has no scheme; did you mean `https://{}`?",
                url.trim_start_matches('/')
            ))
        }
        Err(e) => Err(format!("`{url}` is not an absolute URL: {e}")),
    }
}

/// Reads an `http:` section (or `load.http`) into a request; the check's `timeout`
/// is set when it is built.
pub(crate) fn parse_request(mut f: Fields<'_>, raw: &Value) -> Option<HttpRequest> {
    let url = f.required::<String>("url");
    // A URL that is one variable (`{{env.API_URL}}`) can only be checked once rendered.
    let raw_url = raw.get("url").and_then(Value::as_str).unwrap_or_default();
    if let Some(url) = &url {
        if !raw_url.trim_start().starts_with("{{") {
            if let Err(e) = check_url(url) {
                f.error("url", e);
            }
        }
    }
    let method = f.optional::<Method>("method").unwrap_or_default();
    let mut headers = f
        .optional::<BTreeMap<String, String>>("headers")
        .unwrap_or_default();
    for name in headers.keys() {
        if !is_token(name) {
            f.error(&format!("headers.{name}"), "is not a valid header name");
        }
    }
    let body = match f.raw("body") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone().into_bytes()),
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
    let sigv4 = f.optional::<SigV4>("sigv4");
    let max_body = max_body(&mut f);
    if !f.ok() {
        return None;
    }
    Some(HttpRequest {
        method,
        url: url?,
        headers,
        body,
        timeout: Duration::ZERO,
        sigv4,
        max_body: max_body.bytes(),
        keep_body: true,
    })
}

/// A section's `max_body`: default 1 MiB, at most 6 MiB.
pub(crate) fn max_body(f: &mut Fields<'_>) -> ByteSize {
    let size = f
        .optional::<ByteSize>("max_body")
        .unwrap_or(DEFAULT_MAX_BODY);
    if size > MAX_MAX_BODY {
        f.error(
            "max_body",
            format!("must be at most {MAX_MAX_BODY} (Lambda's response limit)"),
        );
    }
    size
}

/// The `http` kind: its section, read into the request it sends.
pub(crate) struct Http(HttpRequest);

impl Kind for Http {
    const NAME: &'static str = "http";

    fn parse(section: &Section<'_>, errors: &mut Errors) -> Option<Self> {
        parse_request(section.fields(&FIELDS, errors), section.raw).map(Self)
    }

    fn default_expect(&self) -> Option<&'static str> {
        Some("status >= `200` && status < `300`")
    }

    fn build(self, cx: &BuildContext<'_>) -> Result<Arc<dyn Check>, BuildError> {
        Ok(Arc::new(HttpCheck {
            sender: cx.effects.http.clone(),
            request: HttpRequest {
                timeout: cx.timing.timeout,
                ..self.0
            },
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::{check_url, redacted_url};

    #[test]
    fn redacted_urls_keep_host_and_path_only() {
        assert_eq!(
            redacted_url("https://u:p@api.example.com/v1/q?api_key=s3cret"),
            "https://api.example.com/v1/q?…"
        );
        assert_eq!(redacted_url("http://127.0.0.1:9/x"), "http://127.0.0.1:9/x");
    }

    #[test]
    fn a_url_without_a_scheme_suggests_https() {
        let e = check_url("api.example.com/health").unwrap_err();
        assert!(
            e.contains("did you mean `https://api.example.com/health`"),
            "{e}"
        );
        let e = check_url("localhost:8080/health").unwrap_err();
        assert!(
            e.contains("did you mean `https://localhost:8080/health`"),
            "{e}"
        );
        assert!(check_url("ftp://x/y").unwrap_err().contains("scheme `ftp`"));
        assert!(check_url("https://api.example.com/").is_ok());
    }
}
