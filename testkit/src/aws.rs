//! Fake CodeDeploy, Lambda and CloudWatch on one loopback port.
//!
//! CodeDeploy speaks awsJson1.1: `POST /` with `X-Amz-Target: CodeDeploy_20141006.<Op>`.
//! Lambda speaks restJson1: `Invoke` (`POST /2015-03-31/functions/<name>/invocations`),
//! `GetFunctionConfiguration`, and for pruning `ListVersionsByFunction`, `ListAliases`
//! and `DeleteFunction` of a version (checked against boto3 in `conformance.py`).
//! CloudWatch speaks Smithy RPC v2 CBOR (see [`cloudwatch`]).
//! `GET /_testkit/calls` returns what was called, for scripts outside Rust.

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

mod cloudwatch;
mod served;

pub use served::Delivery;

pub use cloudwatch::{FakeAlarm, MetricKey, MetricStore, Stats};

/// A Lambda deployment CodeDeploy knows about.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FakeDeployment {
    /// The deployment id.
    pub id: String,
    /// Application name.
    #[serde(default = "app")]
    pub application: String,
    /// Function being deployed.
    pub function: String,
    /// Alias shifting traffic.
    pub alias: String,
    /// Version serving now.
    pub current_version: String,
    /// Version being deployed.
    pub target_version: String,
    /// The lifecycle event in progress: `BeforeAllowTraffic` or `AfterAllowTraffic`.
    #[serde(default)]
    pub lifecycle_event: Option<String>,
    /// Whether `ListDeploymentTargets` lists the target (false: discovery must fall back
    /// to the AppSpec).
    #[serde(default = "yes")]
    pub has_target: bool,
    /// Hooks named in the AppSpec: lifecycle event name → hook function.
    #[serde(default)]
    pub hooks: BTreeMap<String, String>,
    /// The target version's share of traffic; default: 1 after `AllowTraffic`, else 0.
    #[serde(default)]
    pub target_weight: Option<f64>,
    /// Who created it: `user` (default), `codeDeployRollback`, `CloudFormationRollback`, ...
    #[serde(default)]
    pub creator: Option<String>,
}

fn app() -> String {
    "traffic-hooks-demo".to_owned()
}

fn yes() -> bool {
    true
}

impl FakeDeployment {
    /// A deployment of `function:alias` from `current` to `target` in `lifecycle_event`.
    pub fn new(
        id: &str,
        function: &str,
        alias: &str,
        current: &str,
        target: &str,
        lifecycle_event: &str,
    ) -> Self {
        Self {
            id: id.to_owned(),
            application: app(),
            function: function.to_owned(),
            alias: alias.to_owned(),
            current_version: current.to_owned(),
            target_version: target.to_owned(),
            lifecycle_event: Some(lifecycle_event.to_owned()),
            has_target: true,
            hooks: BTreeMap::new(),
            target_weight: None,
            creator: None,
        }
    }

    fn appspec(&self) -> String {
        let hooks: Vec<Value> = self
            .hooks
            .iter()
            .map(|(event, function)| {
                Value::Object(
                    [(event.clone(), Value::String(function.clone()))]
                        .into_iter()
                        .collect(),
                )
            })
            .collect();
        json!({
            "version": 0.0,
            "Resources": [{ "fn": { "Type": "AWS::Lambda::Function", "Properties": {
                "Name": self.function, "Alias": self.alias,
                "CurrentVersion": self.current_version, "TargetVersion": self.target_version } } }],
            "Hooks": hooks,
        })
        .to_string()
    }
}

/// How a function version answers `Invoke`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct VersionBehaviour {
    /// The response payload; `null` with `echo` unset answers `{"version": V, "input": payload}`.
    #[serde(default)]
    pub payload: Value,
    /// `X-Amz-Function-Error` to set (`Unhandled`).
    #[serde(default)]
    pub function_error: Option<String>,
    /// Wait this long before answering.
    #[serde(default)]
    pub delay_ms: u64,
    /// Fields of `GetFunctionConfiguration` (`Timeout`, `Architectures`, ...) over the defaults.
    #[serde(default)]
    pub configuration: Value,
    /// Instead of `payload`: a JSON string of about this many bytes.
    #[serde(default)]
    pub payload_bytes: Option<usize>,
    /// The share of invocations that fail (`Unhandled`), spread evenly and
    /// deterministically: with 0.25, every fourth.
    #[serde(default)]
    pub error_rate: f64,
    /// Instead of `payload`: an API Gateway proxy answer that echoes the event,
    /// `{statusCode: 200, body: "{\"ok\":true,\"version\":V,\"echo\":EVENT}"}`, as the
    /// demo function answers.
    #[serde(default)]
    pub proxy_echo: bool,
}

/// A function with versions and aliases.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct FakeFunction {
    /// Version → behaviour.
    pub versions: BTreeMap<String, VersionBehaviour>,
    /// Alias → version.
    #[serde(default)]
    pub aliases: BTreeMap<String, String>,
    /// Alias → an additional version and its share of the alias' invocations
    /// (`RoutingConfig`), as during a traffic shift. Calls are spread evenly and
    /// deterministically: with 0.1, every tenth goes to the additional version.
    #[serde(default)]
    pub routing: BTreeMap<String, (String, f64)>,
}

/// A fault to inject into the next matching calls (a CodeDeploy operation, or `Invoke`).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// 400 `ThrottlingException` (for `Invoke`: 429 `TooManyRequestsException`).
    Throttle,
    /// 500 `InternalFailure` (for `Invoke`: 500 `ServiceException`).
    ServerError,
    /// 400 `LifecycleEventAlreadyCompletedException`.
    AlreadyCompleted,
    /// 400 `DeploymentDoesNotExistException`.
    UnknownDeployment,
    /// 400 `InvalidLifecycleEventHookExecutionIdException`.
    InvalidExecutionId,
    /// A 200 whose body breaks off: the connection is reset mid-answer.
    Reset,
    /// No answer at all, ever.
    Stall,
    /// For `Invoke`: the function fails (`200`, `X-Amz-Function-Error: Unhandled`),
    /// which no client retries. For CodeDeploy: as `ServerError`.
    FunctionError,
}

/// One recorded CodeDeploy call.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Call {
    /// The operation, e.g. `GetDeploymentTarget`.
    pub operation: String,
    /// The request body.
    pub body: Value,
    /// The HTTP status answered.
    pub status: u16,
}

/// One accepted `PutLifecycleEventHookExecutionStatus`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Report {
    /// Deployment id.
    pub deployment_id: String,
    /// Hook execution id.
    pub execution_id: String,
    /// `Succeeded` or `Failed`.
    pub status: String,
}

/// One recorded Lambda invocation.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Invocation {
    /// Function name as sent.
    pub function: String,
    /// Qualifier as sent.
    pub qualifier: Option<String>,
    /// The version that answered.
    pub version: Option<String>,
    /// The payload.
    pub payload: Value,
}

#[derive(Default)]
pub(crate) struct Inner {
    deployments: HashMap<String, FakeDeployment>,
    functions: HashMap<String, FakeFunction>,
    faults: VecDeque<(Option<String>, Fault)>,
    calls: Vec<Call>,
    reports: Vec<Report>,
    completed: HashSet<String>,
    invocations: Vec<Invocation>,
    /// Invocations so far per `function:version`, for `error_rate`.
    invoked: HashMap<String, u64>,
    alarms: BTreeMap<String, FakeAlarm>,
    metrics: MetricStore,
    cloudwatch_calls: Vec<String>,
    /// Lambda calls other than `Invoke`: `ListVersionsByFunction NAME`, ...
    lambda_calls: Vec<String>,
    /// "Now" for metric queries, when a simulation runs its own clock.
    clock: Option<Arc<dyn Fn() -> SystemTime + Send + Sync>>,
    /// Functions run for real, by name.
    served: HashMap<String, Arc<served::Served>>,
    /// With [`FakeAws::complete_events_on_report`]: deployment → the status reported
    /// for its current lifecycle event.
    event_status: Option<HashMap<String, String>>,
}

/// Fake CodeDeploy + Lambda. Clone it freely: clones share state.
#[derive(Clone, Default)]
pub struct FakeAws {
    inner: Arc<Mutex<Inner>>,
}

/// A scenario file: deployments and functions to load (see `testkit/fixtures/`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    #[serde(default)]
    deployments: Vec<FakeDeployment>,
    #[serde(default)]
    functions: BTreeMap<String, FakeFunction>,
}

impl FakeAws {
    /// Knows nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A fake loaded with the default [`crate::scenario`].
    pub fn with_scenario() -> Self {
        let fake = Self::new();
        if let Err(e) = fake.load_scenario(&crate::scenario()) {
            panic!("testkit/fixtures/scenario.json: {e}");
        }
        fake
    }

    /// Loads deployments and functions from a scenario JSON document.
    pub fn load_scenario(&self, scenario: &Value) -> Result<&Self, String> {
        let s: Scenario =
            serde_json::from_value(scenario.clone()).map_err(|e| format!("scenario: {e}"))?;
        for d in s.deployments {
            self.deployment(d);
        }
        for (name, f) in s.functions {
            self.function(&name, f);
        }
        Ok(self)
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds (or replaces) a deployment.
    pub fn deployment(&self, d: FakeDeployment) -> &Self {
        self.lock().deployments.insert(d.id.clone(), d);
        self
    }

    /// Adds (or replaces) a function.
    pub fn function(&self, name: &str, f: FakeFunction) -> &Self {
        self.lock().functions.insert(name.to_owned(), f);
        self
    }

    /// Makes the next `n` calls of `operation` (a CodeDeploy operation or `Invoke`; any
    /// CodeDeploy operation when `None`) fail with `fault`.
    pub fn fail_next(&self, operation: Option<&str>, fault: Fault, n: usize) -> &Self {
        let mut inner = self.lock();
        for _ in 0..n {
            inner
                .faults
                .push_back((operation.map(str::to_owned), fault));
        }
        self
    }

    /// Every CodeDeploy call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// The CodeDeploy calls of one operation.
    pub fn calls_of(&self, operation: &str) -> Vec<Call> {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.operation == operation)
            .cloned()
            .collect()
    }

    /// Accepted status reports.
    pub fn reports(&self) -> Vec<Report> {
        self.lock().reports.clone()
    }

    /// Lambda invocations so far.
    pub fn invocations(&self) -> Vec<Invocation> {
        self.lock().invocations.clone()
    }

    /// The function `name`, as it stands.
    pub fn get_function(&self, name: &str) -> Option<FakeFunction> {
        self.lock().functions.get(name).cloned()
    }

    /// The deployment `id`, as it stands.
    pub fn get_deployment(&self, id: &str) -> Option<FakeDeployment> {
        self.lock().deployments.get(id).cloned()
    }

    /// Adds (or replaces) an alarm.
    pub fn alarm(&self, alarm: FakeAlarm) -> &Self {
        self.lock().alarms.insert(alarm.name.clone(), alarm);
        self
    }

    /// Sets an alarm's state, as `SetAlarmState` or an evaluation would.
    pub fn set_alarm_state(&self, name: &str, state: &str, reason: &str, at: SystemTime) {
        if let Some(a) = self.lock().alarms.get_mut(name) {
            a.state = state.to_owned();
            a.reason = reason.to_owned();
            a.updated = at
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
        }
    }

    /// Every alarm, as it stands.
    pub fn alarms(&self) -> Vec<FakeAlarm> {
        self.lock().alarms.values().cloned().collect()
    }

    /// Adds samples of a metric at epoch second `t`.
    pub fn put_metric(&self, key: MetricKey, t: i64, stats: Stats) {
        self.lock().metrics.put(key, t, stats);
    }

    /// Reads the metrics (to evaluate alarms from the same data the hooks query).
    pub fn with_metrics<T>(&self, read: impl FnOnce(&MetricStore) -> T) -> T {
        read(&self.lock().metrics)
    }

    /// Makes metric queries that end "now" end at `now()` instead of the wall clock.
    pub fn set_clock(&self, now: impl Fn() -> SystemTime + Send + Sync + 'static) {
        self.lock().clock = Some(Arc::new(now));
    }

    /// The CloudWatch operations called so far.
    pub fn cloudwatch_calls(&self) -> Vec<String> {
        self.lock().cloudwatch_calls.clone()
    }

    /// Lambda calls other than `Invoke`, in order: `ListVersionsByFunction NAME`,
    /// `ListAliases NAME`, `DeleteFunction NAME:VERSION`.
    pub fn lambda_calls(&self) -> Vec<String> {
        self.lock().lambda_calls.clone()
    }

    /// The router, to serve with [`crate::Server::start`].
    /// Runs the function `name` for real: each `Invoke` of it goes to a process of
    /// `binary` (with `env`) through a Runtime API host, invoked with `deadline`; at
    /// most `processes` run at once. This is how the hook's own function
    /// (`CodeDeployHook_testkit` in a [`crate::RuntimeHost`]) is served for its
    /// continuations and load workers.
    pub fn serve_function(
        &self,
        name: &str,
        binary: &std::path::Path,
        env: &[(&str, &str)],
        deadline: Duration,
        processes: usize,
    ) -> &Self {
        let served = served::Served::new(
            binary.to_path_buf(),
            env.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            deadline,
            processes,
        );
        self.lock().served.insert(name.to_owned(), Arc::new(served));
        self
    }

    /// Makes an accepted report end the deployment's current lifecycle event, as in
    /// CodeDeploy: `GetDeploymentTarget` then shows it `Succeeded` or `Failed`, no
    /// longer `InProgress`. Off by default, so a test may send one deployment's event
    /// again and again under new execution ids.
    pub fn complete_events_on_report(&self) -> &Self {
        self.lock().event_status.get_or_insert_with(HashMap::new);
        self
    }

    fn served(&self, name: &str) -> Option<Arc<served::Served>> {
        self.lock().served.get(name).cloned()
    }

    /// Holds the asynchronous invocations of served function `name` instead of
    /// delivering them (`true`), for a test to deliver itself ([`FakeAws::take_held`]).
    pub fn hold_async(&self, name: &str, hold: bool) {
        if let Some(s) = self.served(name) {
            s.set_hold(hold);
        }
    }

    /// The asynchronous invocations held for `name`, in order, emptied.
    pub fn take_held(&self, name: &str) -> Vec<Value> {
        self.served(name).map(|s| s.take_held()).unwrap_or_default()
    }

    /// Delivers each of the next `n` asynchronous invocations of `name` twice, one
    /// after the other to the same process, as Lambda may deliver an event twice.
    pub fn duplicate_next_async(&self, name: &str, n: usize) {
        if let Some(s) = self.served(name) {
            s.duplicate_next(n);
        }
    }

    /// How the delivered asynchronous invocations of `name` ended, in order.
    pub fn deliveries(&self, name: &str) -> Vec<Delivery> {
        self.served(name)
            .map(|s| s.deliveries())
            .unwrap_or_default()
    }

    /// How many processes served `name` so far.
    pub fn served_processes(&self, name: &str) -> usize {
        self.served(name).map_or(0, |s| s.processes())
    }

    /// The JSON log lines of every process serving `name` whose `record` is `kind`.
    pub fn served_records(&self, name: &str, kind: &str) -> Vec<Value> {
        self.served(name)
            .map(|s| s.records(kind))
            .unwrap_or_default()
    }

    /// The router of the fake's endpoints.
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .route("/", post(codedeploy))
            .route("/2015-03-31/functions/{name}/invocations", post(invoke))
            .route(
                "/2015-03-31/functions/{name}/configuration",
                get(configuration),
            )
            .route("/2015-03-31/functions/{name}/versions", get(list_versions))
            .route("/2015-03-31/functions/{name}/aliases", get(list_aliases))
            .route(
                "/2015-03-31/functions/{name}",
                axum::routing::delete(delete_function),
            )
            .route(
                "/service/GraniteServiceVersion20100801/operation/{op}",
                post(cloudwatch::handle),
            )
            .route("/_testkit/calls", get(recorded))
            .with_state(self.clone())
    }

    /// Starts serving.
    pub async fn start(&self) -> std::io::Result<crate::Server> {
        crate::Server::start(self.router()).await
    }
}

fn aws_error(status: StatusCode, code: &str, message: &str) -> Response {
    let mut resp = (
        status,
        axum::Json(json!({ "__type": code, "message": message })),
    )
        .into_response();
    resp.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    if let Ok(v) = HeaderValue::from_str(code) {
        resp.headers_mut().insert("x-amzn-errortype", v);
    }
    resp
}

fn aws_ok(body: Value) -> Response {
    let mut resp = (StatusCode::OK, axum::Json(body)).into_response();
    resp.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    resp
}

fn fault_response(f: Fault) -> Response {
    match f {
        Fault::Throttle => aws_error(
            StatusCode::BAD_REQUEST,
            "ThrottlingException",
            "Rate exceeded",
        ),
        Fault::ServerError | Fault::FunctionError => aws_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            "injected 500",
        ),
        Fault::AlreadyCompleted => aws_error(
            StatusCode::BAD_REQUEST,
            "LifecycleEventAlreadyCompletedException",
            "already completed",
        ),
        Fault::UnknownDeployment => aws_error(
            StatusCode::BAD_REQUEST,
            "DeploymentDoesNotExistException",
            "no such deployment",
        ),
        Fault::InvalidExecutionId => aws_error(
            StatusCode::BAD_REQUEST,
            "InvalidLifecycleEventHookExecutionIdException",
            "the lifecycle event hook execution id is not valid",
        ),
        Fault::Reset => {
            let broken = futures_util::stream::iter([
                Ok(Bytes::from_static(b"{\"lifecycleEv")),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "injected reset",
                )),
            ]);
            (StatusCode::OK, Body::from_stream(broken)).into_response()
        }
        // Answered before it is reached: see `take_fault`.
        Fault::Stall => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// Takes the first queued fault for `operation`; a stall never returns.
async fn take_fault(fake: &FakeAws, operation: &str) -> Option<Fault> {
    let fault = {
        let mut inner = fake.lock();
        let at = inner.faults.iter().position(|(op, _)| match op {
            None => operation != "Invoke",
            Some(o) => o == operation,
        });
        at.and_then(|i| inner.faults.remove(i)).map(|(_, f)| f)
    };
    if fault == Some(Fault::Stall) {
        std::future::pending::<()>().await;
    }
    fault
}

async fn codedeploy(State(fake): State<FakeAws>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let operation = target
        .strip_prefix("CodeDeploy_20141006.")
        .unwrap_or(target)
        .to_owned();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let fault = take_fault(&fake, &operation).await;
    let mut inner = fake.lock();
    let response = match fault {
        Some(fault) => fault_response(fault),
        None => answer(&mut inner, &operation, &body),
    };
    inner.calls.push(Call {
        operation,
        body,
        status: response.status().as_u16(),
    });
    response
}

fn str_field<'a>(body: &'a Value, name: &str) -> &'a str {
    body.get(name).and_then(Value::as_str).unwrap_or_default()
}

fn answer(inner: &mut Inner, operation: &str, body: &Value) -> Response {
    let id = str_field(body, "deploymentId");
    let deployment = inner.deployments.get(id).cloned();
    let missing = || {
        aws_error(
            StatusCode::BAD_REQUEST,
            "DeploymentDoesNotExistException",
            &format!("deployment {id} does not exist"),
        )
    };
    match operation {
        "ListDeploymentTargets" => match deployment {
            None => missing(),
            Some(d) => {
                let ids: Vec<String> = if d.has_target {
                    vec![format!("{}:{}", d.function, d.alias)]
                } else {
                    Vec::new()
                };
                aws_ok(json!({ "targetIds": ids }))
            }
        },
        "GetDeploymentTarget" => match deployment {
            None => missing(),
            Some(d) => {
                let reported = inner
                    .event_status
                    .as_ref()
                    .and_then(|m| m.get(&d.id))
                    .cloned();
                let events: Vec<Value> =
                    ["BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic"]
                        .iter()
                        .map(|name| {
                            let status = match d.lifecycle_event.as_deref() {
                                Some(now) if now == *name => {
                                    reported.as_deref().unwrap_or("InProgress")
                                }
                                Some("AfterAllowTraffic") => "Succeeded",
                                Some("AllowTraffic") if *name == "BeforeAllowTraffic" => {
                                    "Succeeded"
                                }
                                _ => "Pending",
                            };
                            json!({ "lifecycleEventName": name, "status": status })
                        })
                        .collect();
                aws_ok(
                    json!({ "deploymentTarget": { "deploymentTargetType": "LambdaTarget", "lambdaTarget": {
                    "deploymentId": d.id, "targetId": str_field(body, "targetId"),
                    "targetArn": format!("arn:aws:lambda:us-east-1:123456789012:function:{}:{}", d.function, d.alias),
                    "status": "InProgress", "lifecycleEvents": events,
                    "lambdaFunctionInfo": { "functionName": d.function, "functionAlias": d.alias,
                        "currentVersion": d.current_version, "targetVersion": d.target_version,
                        "targetVersionWeight": d.target_weight.unwrap_or(if d.lifecycle_event.as_deref() == Some("AfterAllowTraffic") { 1.0 } else { 0.0 }) }
                } } }),
                )
            }
        },
        "GetDeployment" => match deployment {
            None => missing(),
            Some(d) => aws_ok(json!({ "deploymentInfo": {
                "applicationName": d.application, "deploymentGroupName": format!("{}-group", d.application),
                "deploymentId": d.id, "status": "InProgress", "computePlatform": "Lambda",
                "creator": d.creator.as_deref().unwrap_or("user"),
                // Like the service, GetDeployment names the revision without its content;
                // the fake uses the deployment id as the revision's hash.
                "revision": { "revisionType": "AppSpecContent", "appSpecContent": { "sha256": d.id } }
            } })),
        },
        "GetApplicationRevision" => {
            let app = str_field(body, "applicationName");
            let sha = body
                .pointer("/revision/appSpecContent/sha256")
                .and_then(Value::as_str)
                .unwrap_or_default();
            match inner.deployments.get(sha).filter(|d| d.application == app) {
                None => aws_error(
                    StatusCode::BAD_REQUEST,
                    "RevisionDoesNotExistException",
                    &format!("no revision {sha} in {app}"),
                ),
                Some(d) => aws_ok(json!({ "applicationName": app,
                    "revision": { "revisionType": "AppSpecContent", "appSpecContent": { "content": d.appspec(), "sha256": d.id } },
                    "revisionInfo": { "description": "fake" } })),
            }
        }
        "PutLifecycleEventHookExecutionStatus" => {
            let execution_id = str_field(body, "lifecycleEventHookExecutionId").to_owned();
            if deployment.is_none() {
                return missing();
            }
            if !inner.completed.insert(execution_id.clone()) {
                return fault_response(Fault::AlreadyCompleted);
            }
            let status = str_field(body, "status").to_owned();
            if let Some(m) = inner.event_status.as_mut() {
                m.insert(id.to_owned(), status.clone());
            }
            inner.reports.push(Report {
                deployment_id: id.to_owned(),
                execution_id: execution_id.clone(),
                status,
            });
            aws_ok(json!({ "lifecycleEventHookExecutionId": execution_id }))
        }
        other => aws_error(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            &format!("the fake does not implement {other}"),
        ),
    }
}

#[derive(Deserialize)]
struct InvokeQuery {
    #[serde(rename = "Qualifier")]
    qualifier: Option<String>,
}

async fn invoke(
    State(fake): State<FakeAws>,
    Path(name): Path<String>,
    Query(q): Query<InvokeQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let payload: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    match take_fault(&fake, "Invoke").await {
        Some(Fault::Throttle) => {
            return lambda_error(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequestsException",
                "Rate exceeded",
            )
        }
        Some(Fault::ServerError) => {
            return lambda_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ServiceException",
                "injected 500",
            )
        }
        Some(Fault::FunctionError) => {
            let mut resp = (
                StatusCode::OK,
                axum::Json(json!({ "errorType": "InjectedError", "errorMessage": "injected function error" })),
            )
                .into_response();
            resp.headers_mut().insert(
                "x-amz-function-error",
                HeaderValue::from_static("Unhandled"),
            );
            return resp;
        }
        Some(other) => return fault_response(other),
        None => {}
    }
    // Accept names, partial and full ARNs, with or without a qualifier suffix.
    let bare = match name.split(':').collect::<Vec<_>>().as_slice() {
        ["arn", _, "lambda", _, _, "function", n, ..] => (*n).to_owned(),
        [n, ..] => (*n).to_owned(),
        [] => name.clone(),
    };
    let asynchronous = headers
        .get("x-amz-invocation-type")
        .and_then(|v| v.to_str().ok())
        == Some("Event");
    if let Some(served) = fake.served(&bare) {
        fake.lock().invocations.push(Invocation {
            function: name.clone(),
            qualifier: q.qualifier.clone(),
            version: Some("$LATEST".to_owned()),
            payload: payload.clone(),
        });
        return invoke_served(served, asynchronous, payload, body.len()).await;
    }
    let (version, behaviour, fails) = {
        let mut inner = fake.lock();
        let function = inner.functions.get(&bare).cloned();
        let qualifier = q.qualifier.clone().unwrap_or_else(|| "$LATEST".to_owned());
        let routed = function
            .as_ref()
            .and_then(|f| f.routing.get(&qualifier).cloned());
        let alias_calls = inner
            .invoked
            .entry(format!("{bare}@{qualifier}"))
            .or_default();
        *alias_calls += 1;
        let n = *alias_calls as f64;
        let version = function.as_ref().map(|f| match &routed {
            Some((extra, w)) if (n * w).floor() > ((n - 1.0) * w).floor() => extra.clone(),
            _ => f
                .aliases
                .get(&qualifier)
                .cloned()
                .unwrap_or(qualifier.clone()),
        });
        let behaviour = function
            .zip(version.clone())
            .and_then(|(f, v)| f.versions.get(&v).cloned());
        // Deterministic errors: the n-th call fails when n × rate passes a whole number.
        let fails = match (&behaviour, &version) {
            (Some(b), Some(v)) if b.error_rate > 0.0 => {
                let n = inner.invoked.entry(format!("{bare}:{v}")).or_default();
                *n += 1;
                let rate = b.error_rate.min(1.0);
                (*n as f64 * rate).floor() > ((*n - 1) as f64 * rate).floor()
            }
            _ => false,
        };
        inner.invocations.push(Invocation {
            function: name.clone(),
            qualifier: q.qualifier,
            version: version.clone(),
            payload: payload.clone(),
        });
        (version, behaviour, fails)
    };
    let Some(b) = behaviour else {
        return function_not_found(format!(
            "Function not found: {name}:{}",
            version.unwrap_or_default()
        ));
    };
    // An asynchronous invocation is queued: Lambda answers 202 at once, with no payload.
    if asynchronous {
        if body.len() > served::MAX_ASYNC_PAYLOAD {
            return lambda_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestTooLargeException",
                &format!(
                    "{} byte payload is too large for the Event invocation type (limit {} bytes)",
                    body.len(),
                    served::MAX_ASYNC_PAYLOAD
                ),
            );
        }
        return StatusCode::ACCEPTED.into_response();
    }
    tokio::time::sleep(Duration::from_millis(b.delay_ms)).await;
    let version = version.unwrap_or_default();
    let answer = match b.payload_bytes {
        _ if fails => {
            json!({ "errorMessage": format!("simulated failure of version {version}"), "errorType": "SimulatedError" })
        }
        Some(n) => Value::String("x".repeat(n.saturating_sub(2))),
        None if b.proxy_echo => json!({
            "statusCode": 200,
            "headers": { "content-type": "application/json" },
            "body": json!({ "ok": true, "version": version, "echo": payload }).to_string(),
        }),
        None if b.payload.is_null() => json!({ "version": version, "input": payload }),
        None => b.payload,
    };
    let mut resp = (StatusCode::OK, axum::Json(answer)).into_response();
    if let Ok(v) = HeaderValue::from_str(&version) {
        resp.headers_mut().insert("x-amz-executed-version", v);
    }
    let function_error = if fails {
        Some("Unhandled")
    } else {
        b.function_error.as_deref()
    };
    if let Some(err) = function_error.and_then(|e| HeaderValue::from_str(e).ok()) {
        resp.headers_mut().insert("x-amz-function-error", err);
    }
    resp
}

/// `Invoke` of a function run for real: `202` for an accepted asynchronous event, the
/// function's answer for a synchronous one, with Lambda's limits and errors.
async fn invoke_served(
    served: Arc<served::Served>,
    asynchronous: bool,
    payload: Value,
    size: usize,
) -> Response {
    let limit = if asynchronous {
        served::MAX_ASYNC_PAYLOAD
    } else {
        served::MAX_SYNC_PAYLOAD
    };
    if size > limit {
        return lambda_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestTooLargeException",
            &format!(
                "{size} byte payload is too large for the invocation type (limit {limit} bytes)"
            ),
        );
    }
    if asynchronous {
        served.accept(payload);
        return StatusCode::ACCEPTED.into_response();
    }
    let (answer, function_error) = match served.invoke(payload).await {
        Ok(crate::runtime::Outcome::Response(v)) => (v, None),
        Ok(crate::runtime::Outcome::Error(e)) => (e, Some("Unhandled")),
        Err(served::InvokeFailure::Busy(e)) => {
            return lambda_error(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequestsException",
                &e,
            )
        }
        Err(served::InvokeFailure::TimedOut(e)) => (
            json!({ "errorType": "Sandbox.Timedout", "errorMessage": e }),
            Some("Unhandled"),
        ),
        Err(served::InvokeFailure::Died(e)) => (
            json!({ "errorType": "Runtime.ExitError", "errorMessage": e }),
            Some("Unhandled"),
        ),
    };
    let mut resp = (StatusCode::OK, axum::Json(answer)).into_response();
    resp.headers_mut().insert(
        "x-amz-executed-version",
        HeaderValue::from_static("$LATEST"),
    );
    if let Some(e) = function_error {
        resp.headers_mut()
            .insert("x-amz-function-error", HeaderValue::from_static(e));
    }
    resp
}

async fn configuration(
    State(fake): State<FakeAws>,
    Path(name): Path<String>,
    Query(q): Query<InvokeQuery>,
) -> Response {
    let qualifier = q.qualifier.unwrap_or_else(|| "$LATEST".to_owned());
    let found = {
        let inner = fake.lock();
        inner.functions.get(&name).and_then(|f| {
            let version = f
                .aliases
                .get(&qualifier)
                .cloned()
                .unwrap_or(qualifier.clone());
            f.versions
                .get(&version)
                .map(|b| (version, b.configuration.clone()))
        })
    };
    let Some((version, overrides)) = found else {
        return function_not_found(format!("Function not found: {name}:{qualifier}"));
    };
    let mut config = json!({
        "FunctionName": name, "Version": version, "Runtime": "provided.al2023", "MemorySize": 128,
        "Timeout": 3, "Architectures": ["arm64"], "State": "Active", "Handler": "bootstrap",
    });
    if let (Some(base), Value::Object(over)) = (config.as_object_mut(), overrides) {
        base.extend(over);
    }
    axum::Json(config).into_response()
}

#[derive(Deserialize)]
struct PageQuery {
    #[serde(rename = "Marker")]
    marker: Option<String>,
    #[serde(rename = "MaxItems")]
    max_items: Option<usize>,
}

/// Lambda's pages: at most 50 items (or `MaxItems`), `NextMarker` the next index.
fn page(items: Vec<Value>, q: &PageQuery, key: &str) -> Response {
    let start: usize = q
        .marker
        .as_deref()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    let size = q.max_items.unwrap_or(50).clamp(1, 50);
    let end = (start + size).min(items.len());
    let mut body = json!({ key: items.get(start..end).unwrap_or_default() });
    if end < items.len() {
        body["NextMarker"] = Value::String(end.to_string());
    }
    axum::Json(body).into_response()
}

fn function_arn(name: &str, qualifier: &str) -> String {
    format!("arn:aws:lambda:us-east-1:123456789012:function:{name}:{qualifier}")
}

/// `ListVersionsByFunction`: `$LATEST` first, then the versions in number order.
async fn list_versions(
    State(fake): State<FakeAws>,
    Path(name): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    let versions = {
        let mut inner = fake.lock();
        inner
            .lambda_calls
            .push(format!("ListVersionsByFunction {name}"));
        let Some(f) = inner.functions.get(&name) else {
            return function_not_found(format!("Function not found: {name}"));
        };
        let mut numbered: Vec<&String> = f.versions.keys().filter(|v| *v != "$LATEST").collect();
        numbered.sort_by_key(|v| v.parse::<u64>().unwrap_or(u64::MAX));
        std::iter::once("$LATEST")
            .chain(numbered.into_iter().map(String::as_str))
            .map(|v| {
                json!({ "FunctionName": name, "FunctionArn": function_arn(&name, v),
                "Version": v, "Runtime": "provided.al2023", "Handler": "bootstrap" })
            })
            .collect::<Vec<_>>()
    };
    page(versions, &q, "Versions")
}

/// `ListAliases`, each with its `RoutingConfig` during a traffic shift.
async fn list_aliases(
    State(fake): State<FakeAws>,
    Path(name): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    let aliases = {
        let mut inner = fake.lock();
        inner.lambda_calls.push(format!("ListAliases {name}"));
        let Some(f) = inner.functions.get(&name) else {
            return function_not_found(format!("Function not found: {name}"));
        };
        f.aliases
            .iter()
            .map(|(alias, version)| {
                let mut a = json!({ "AliasArn": function_arn(&name, alias), "Name": alias,
                    "FunctionVersion": version, "Description": "", "RevisionId": "1" });
                if let Some((extra, w)) = f.routing.get(alias) {
                    a["RoutingConfig"] =
                        json!({ "AdditionalVersionWeights": { extra.clone(): w } });
                }
                a
            })
            .collect::<Vec<_>>()
    };
    page(aliases, &q, "Aliases")
}

/// `DeleteFunction` of one version (`Qualifier`): refused for `$LATEST`-less calls
/// (the whole function), for a version an alias uses (409, as Lambda does), and for
/// an unknown version (404).
async fn delete_function(
    State(fake): State<FakeAws>,
    Path(name): Path<String>,
    Query(q): Query<InvokeQuery>,
) -> Response {
    let mut inner = fake.lock();
    let Some(version) = q.qualifier else {
        return lambda_error(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            "the fake deletes versions only: pass a Qualifier",
        );
    };
    inner
        .lambda_calls
        .push(format!("DeleteFunction {name}:{version}"));
    let Some(f) = inner.functions.get_mut(&name) else {
        return function_not_found(format!("Function not found: {name}"));
    };
    let in_use = f.aliases.values().any(|v| *v == version)
        || f.routing.values().any(|(extra, _)| *extra == version);
    if version == "$LATEST" || in_use {
        return lambda_error(
            StatusCode::CONFLICT,
            "ResourceConflictException",
            &format!("Version {version} of {name} is in use by an alias"),
        );
    }
    if f.versions.remove(&version).is_none() {
        return function_not_found(format!("Function not found: {name}:{version}"));
    }
    StatusCode::NO_CONTENT.into_response()
}

/// Lambda's 404 for an unknown function or qualifier.
fn function_not_found(message: String) -> Response {
    lambda_error(StatusCode::NOT_FOUND, "ResourceNotFoundException", &message)
}

/// A Lambda (restJson1) error: the code in `x-amzn-errortype`, the message in the body.
fn lambda_error(status: StatusCode, code: &'static str, message: &str) -> Response {
    let mut resp = (
        status,
        axum::Json(json!({ "Type": "User", "message": message })),
    )
        .into_response();
    resp.headers_mut()
        .insert("x-amzn-errortype", HeaderValue::from_static(code));
    resp
}

async fn recorded(State(fake): State<FakeAws>) -> Response {
    let inner = fake.lock();
    axum::Json(
        json!({ "calls": inner.calls, "reports": inner.reports, "invocations": inner.invocations }),
    )
    .into_response()
}
