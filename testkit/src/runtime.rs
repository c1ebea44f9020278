//! A Lambda Runtime API host: runs a hook binary as a child process and feeds it
//! events with deadlines, the way the Lambda service does.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path as FsPath;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The function returned this response.
    Response(Value),
    /// The function reported an invocation error (`errorType`, `errorMessage`).
    Error(Value),
}

/// Why an invocation did not end.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// No answer before the timeout (the real service would kill the sandbox).
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The child process is gone.
    #[error("the function process is not running")]
    Gone,
    /// Starting the host or the child failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

struct Pending {
    id: String,
    event: Bytes,
    deadline_ms: u64,
}

struct HostState {
    next: tokio::sync::Mutex<mpsc::Receiver<Pending>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
}

/// A running Runtime API with its child process. Dropping it kills the child.
pub struct RuntimeHost {
    _server: crate::Server,
    state: Arc<HostState>,
    queue: mpsc::Sender<Pending>,
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
    counter: AtomicU64,
}

impl RuntimeHost {
    /// Starts the Runtime API and `binary` with a clean environment: the Lambda
    /// variables, a fake region and credentials, IMDS off, plus `env`.
    pub async fn start(binary: &FsPath, env: &[(&str, &str)]) -> Result<Self, HostError> {
        let (queue, rx) = mpsc::channel(16);
        let state = Arc::new(HostState {
            next: tokio::sync::Mutex::new(rx),
            waiting: Mutex::new(HashMap::new()),
        });
        let router = axum::Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(state.clone());
        let server = crate::Server::start(router).await?;
        let mut cmd = Command::new(binary);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", server.addr().to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "CodeDeployHook_testkit")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "testkit")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                "/aws/lambda/CodeDeployHook_testkit",
            )
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testkit")
            .env("AWS_SECRET_ACCESS_KEY", "testkit")
            .env("AWS_EC2_METADATA_DISABLED", "true");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn()?;
        let logs = Arc::new(Mutex::new(Vec::new()));
        let echo = std::env::var_os("TESTKIT_ECHO").is_some();
        if let Some(out) = child.stdout.take() {
            tokio::spawn(collect(BufReader::new(out), logs.clone(), echo));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(collect(BufReader::new(err), logs.clone(), echo));
        }
        Ok(Self {
            _server: server,
            state,
            queue,
            child,
            logs,
            counter: AtomicU64::new(0),
        })
    }

    /// Sends `event` with a deadline `budget` from now and waits for the answer, up to
    /// `budget` plus one second of grace.
    pub async fn invoke(&mut self, event: Value, budget: Duration) -> Result<Outcome, HostError> {
        self.invoke_raw(event.to_string().into_bytes(), budget)
            .await
    }

    /// Like [`RuntimeHost::invoke`], with an event of any bytes (not JSON, say).
    pub async fn invoke_raw(
        &mut self,
        event: Vec<u8>,
        budget: Duration,
    ) -> Result<Outcome, HostError> {
        if self.child.try_wait()?.is_some() {
            return Err(HostError::Gone);
        }
        let id = format!("req-{}", self.counter.fetch_add(1, Ordering::SeqCst) + 1);
        let deadline = SystemTime::now() + budget;
        let deadline_ms = deadline
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let (tx, rx) = oneshot::channel();
        self.state
            .waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.clone(), tx);
        self.queue
            .send(Pending {
                id,
                event: Bytes::from(event),
                deadline_ms,
            })
            .await
            .map_err(|_| HostError::Gone)?;
        let wait = budget + Duration::from_secs(1);
        match tokio::time::timeout(wait, rx).await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(_)) => Err(HostError::Gone),
            Err(_) => Err(HostError::Timeout(wait)),
        }
    }

    /// The child's process id, to signal it.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The child's peak resident memory so far (`VmHWM`), in bytes; `None` once it
    /// has exited or where `/proc` does not tell.
    pub fn peak_rss(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb * 1024)
    }

    /// Waits up to `within` for the child to exit; its exit code, if it did.
    pub async fn exited(&mut self, within: Duration) -> Option<i32> {
        tokio::time::timeout(within, self.child.wait())
            .await
            .ok()?
            .ok()
            .map(|s| s.code().unwrap_or(-1))
    }

    /// The child's log lines as they arrive, shared (kept after the host is dropped).
    pub(crate) fn log_lines(&self) -> Arc<Mutex<Vec<String>>> {
        self.logs.clone()
    }

    /// Every line the child printed so far (stdout and stderr).
    pub fn logs(&self) -> Vec<String> {
        self.logs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// [`RuntimeHost::records`] once at least `n` are there, waiting up to `within`: the
    /// child's output is read apart from its answers, so a line may trail the answer.
    pub async fn records_soon(&self, kind: &str, n: usize, within: Duration) -> Vec<Value> {
        let until = tokio::time::Instant::now() + within;
        loop {
            let found = self.records(kind);
            if found.len() >= n || tokio::time::Instant::now() >= until {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The JSON log lines whose `record` field is `kind` (`check` or `verdict`).
    pub fn records(&self, kind: &str) -> Vec<Value> {
        self.logs()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v.get("record").and_then(Value::as_str) == Some(kind))
            .collect()
    }
}

async fn collect<R: tokio::io::AsyncRead + Unpin>(
    reader: BufReader<R>,
    logs: Arc<Mutex<Vec<String>>>,
    echo: bool,
) {
    let mut lines = reader.lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if echo {
            eprintln!("[hook] {line}");
        }
        logs.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line);
    }
}

async fn next(State(state): State<Arc<HostState>>) -> Response {
    let pending = state.next.lock().await.recv().await;
    let Some(p) = pending else {
        return StatusCode::GONE.into_response();
    };
    let mut resp = p.event.into_response();
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    };
    set("lambda-runtime-aws-request-id", p.id);
    set("lambda-runtime-deadline-ms", p.deadline_ms.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:CodeDeployHook_testkit".into(),
    );
    set(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000;Sampled=0".into(),
    );
    resp
}

fn finish(state: &HostState, id: &str, outcome: Outcome) -> Response {
    let waiter = state
        .waiting
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(id);
    match waiter {
        Some(tx) => {
            let _ = tx.send(outcome);
            (
                StatusCode::ACCEPTED,
                axum::Json(serde_json::json!({"status": "OK"})),
            )
                .into_response()
        }
        None => (
            StatusCode::BAD_REQUEST,
            format!("unknown or finished request {id}"),
        )
            .into_response(),
    }
}

fn body_json(body: &Bytes) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

async fn respond(
    State(state): State<Arc<HostState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    finish(&state, &id, Outcome::Response(body_json(&body)))
}

async fn fail(
    State(state): State<Arc<HostState>>,
    Path(id): Path<String>,
    _h: HeaderMap,
    body: Bytes,
) -> Response {
    finish(&state, &id, Outcome::Error(body_json(&body)))
}

async fn init_error(body: Bytes) -> Response {
    tracing::error!(body = %String::from_utf8_lossy(&body), "function init error");
    (StatusCode::ACCEPTED, "").into_response()
}
