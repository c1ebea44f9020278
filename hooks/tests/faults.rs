//! The fault matrix of docs/reliability.md, one test per row, each through the real
//! binary run as Lambda runs it. Every row ends in exactly one report before the
//! deadline (or an invocation error where the event lacks its ids), with the verdict
//! in the log, and the hook's peak resident memory under 64 MB.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};
use traffic_hooks_testkit::{
    event, FakeAws, FakeHttp, Fault, Outcome, Route, RuntimeHost, SelfSignedTls, Server,
};

const BIN: &str = env!("CARGO_BIN_EXE_traffic-hook");

/// The most a hook may hold in memory: half of the smallest Lambda.
const MAX_RSS: u64 = 64 * 1024 * 1024;

/// Fakes for one row.
struct Row {
    aws: FakeAws,
    aws_server: Server,
    http: FakeHttp,
    http_server: Server,
}

impl Row {
    async fn new() -> Self {
        let aws = FakeAws::with_scenario();
        let aws_server = aws.start().await.unwrap();
        let http = FakeHttp::new();
        let http_server = http.start().await.unwrap();
        Self {
            aws,
            aws_server,
            http,
            http_server,
        }
    }

    /// The hook with `config` inline; `{{env.HTTP}}` is the fake HTTP base URL.
    async fn hook(&self, config: &str) -> RuntimeHost {
        self.hook_env(&[("TRAFFIC_HOOK_CONFIG", config)]).await
    }

    async fn hook_env(&self, env: &[(&str, &str)]) -> RuntimeHost {
        let endpoint = self.aws_server.url();
        let http = self.http_server.url();
        let mut all = vec![
            ("AWS_ENDPOINT_URL", endpoint.as_str()),
            ("HTTP", http.as_str()),
        ];
        all.extend_from_slice(env);
        RuntimeHost::start(Path::new(BIN), &all).await.unwrap()
    }

    fn statuses(&self) -> Vec<String> {
        self.aws.reports().into_iter().map(|r| r.status).collect()
    }
}

/// Sends `ev` with `budget` to go; checks it was answered before the deadline.
async fn invoke(hook: &mut RuntimeHost, ev: Value, budget: Duration) -> Outcome {
    let started = Instant::now();
    let out = hook.invoke(ev, budget).await.unwrap();
    assert!(
        started.elapsed() < budget,
        "answered after the deadline: {:?}",
        started.elapsed()
    );
    out
}

fn response(out: Outcome) -> Value {
    match out {
        Outcome::Response(v) => v,
        Outcome::Error(e) => panic!("expected a response, got an invocation error: {e}"),
    }
}

fn error(out: Outcome) -> Value {
    match out {
        Outcome::Error(e) => e,
        Outcome::Response(v) => panic!("expected an invocation error, got {v:#}"),
    }
}

/// The row's common ending: exactly one report of `status`, the verdict logged with
/// `reason_has` in its reason, and memory within bounds.
fn ends_in_one_report(row: &Row, hook: &RuntimeHost, status: &str, reason_has: &str) {
    assert_eq!(row.statuses(), [status], "exactly one report");
    let verdicts = hook.records("verdict");
    assert_eq!(verdicts.len(), 1, "the verdict is logged once");
    let reason = verdicts[0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(reason_has),
        "{reason_has:?} not in {reason:?}"
    );
    within_memory(hook);
}

fn within_memory(hook: &RuntimeHost) {
    let rss = hook.peak_rss().expect("the hook is running");
    eprintln!("peak RSS: {:.1} MiB", rss as f64 / 1048576.0);
    assert!(rss < MAX_RSS, "peak RSS {rss} bytes");
}

fn pre() -> Value {
    event("pre-traffic.json")
}

const SECS_20: Duration = Duration::from_secs(20);

const SMOKE: &str = "checks: [ { name: smoke, invoke: {} } ]";

// CodeDeploy ------------------------------------------------------------------------

#[tokio::test]
async fn codedeploy_throttling_a_report_is_retried_until_accepted() {
    let row = Row::new().await;
    let put = Some("PutLifecycleEventHookExecutionStatus");
    row.aws.fail_next(put, Fault::Throttle, 2);
    let mut hook = row.hook(SMOKE).await;
    let out = response(invoke(&mut hook, pre(), SECS_20).await);
    assert_eq!(out["report"], "accepted after 3 attempt(s)");
    ends_in_one_report(&row, &hook, "Succeeded", "1 of 1 checks passed");
}

#[tokio::test]
async fn codedeploy_5xx_on_a_report_is_retried_until_accepted() {
    let row = Row::new().await;
    let put = Some("PutLifecycleEventHookExecutionStatus");
    row.aws.fail_next(put, Fault::ServerError, 2);
    let mut hook = row.hook(SMOKE).await;
    let out = response(invoke(&mut hook, pre(), SECS_20).await);
    assert_eq!(out["report"], "accepted after 3 attempt(s)");
    ends_in_one_report(&row, &hook, "Succeeded", "1 of 1 checks passed");
}

#[tokio::test]
async fn codedeploy_resetting_the_connection_is_retried_until_accepted() {
    let row = Row::new().await;
    let put = Some("PutLifecycleEventHookExecutionStatus");
    row.aws.fail_next(put, Fault::Reset, 1);
    let mut hook = row.hook(SMOKE).await;
    let out = response(invoke(&mut hook, pre(), SECS_20).await);
    assert_eq!(out["report"], "accepted after 2 attempt(s)");
    ends_in_one_report(&row, &hook, "Succeeded", "1 of 1 checks passed");
}

#[tokio::test]
async fn codedeploy_stalling_a_report_is_abandoned_after_3s_and_retried() {
    let row = Row::new().await;
    let put = Some("PutLifecycleEventHookExecutionStatus");
    row.aws.fail_next(put, Fault::Stall, 1);
    let mut hook = row.hook(SMOKE).await;
    let out = response(invoke(&mut hook, pre(), SECS_20).await);
    assert_eq!(out["report"], "accepted after 2 attempt(s)");
    ends_in_one_report(&row, &hook, "Succeeded", "1 of 1 checks passed");
}

#[tokio::test]
async fn codedeploy_stalling_every_report_ends_the_invocation_before_the_deadline() {
    let row = Row::new().await;
    let put = Some("PutLifecycleEventHookExecutionStatus");
    row.aws.fail_next(put, Fault::Stall, 100);
    let mut hook = row
        .hook("report_reserve: 1s\nchecks: [ { name: smoke, invoke: {} } ]")
        .await;
    let out = error(invoke(&mut hook, pre(), Duration::from_secs(8)).await);
    assert_eq!(out["errorType"], "traffic_hook::NotReported", "{out:#}");
    assert!(row.statuses().is_empty(), "nothing was accepted");
    assert_eq!(
        hook.records("verdict").len(),
        1,
        "the verdict is still logged"
    );
    within_memory(&hook);
}

#[tokio::test]
async fn codedeploy_already_completed_counts_as_reported() {
    let row = Row::new().await;
    let put = Some("PutLifecycleEventHookExecutionStatus");
    row.aws.fail_next(put, Fault::AlreadyCompleted, 1);
    let mut hook = row.hook(SMOKE).await;
    let out = response(invoke(&mut hook, pre(), SECS_20).await);
    assert!(out["report"]
        .as_str()
        .unwrap()
        .starts_with("already completed"));
    assert_eq!(
        row.aws
            .calls_of("PutLifecycleEventHookExecutionStatus")
            .len(),
        1
    );
    assert_eq!(hook.records("verdict").len(), 1);
    within_memory(&hook);
}

#[tokio::test]
async fn codedeploy_unknown_deployment_is_an_invocation_error_naming_the_refusal() {
    let row = Row::new().await;
    let mut hook = row.hook(SMOKE).await;
    let ev = json!({"DeploymentId": "d-NOSUCHTHING", "LifecycleEventHookExecutionId": "x"});
    let out = error(invoke(&mut hook, ev, SECS_20).await);
    assert!(
        out["errorMessage"]
            .as_str()
            .unwrap()
            .contains("DeploymentDoesNotExistException"),
        "{out:#}"
    );
    assert_eq!(
        row.aws
            .calls_of("PutLifecycleEventHookExecutionStatus")
            .len(),
        1,
        "not retried"
    );
    assert_eq!(hook.records("verdict").len(), 1);
    within_memory(&hook);
}

#[tokio::test]
async fn codedeploy_invalid_execution_id_is_an_invocation_error_naming_the_refusal() {
    let row = Row::new().await;
    let put = Some("PutLifecycleEventHookExecutionStatus");
    row.aws.fail_next(put, Fault::InvalidExecutionId, 1);
    let mut hook = row.hook(SMOKE).await;
    let out = error(invoke(&mut hook, pre(), SECS_20).await);
    assert!(
        out["errorMessage"]
            .as_str()
            .unwrap()
            .contains("InvalidLifecycleEventHookExecutionIdException"),
        "{out:#}"
    );
    assert_eq!(
        row.aws
            .calls_of("PutLifecycleEventHookExecutionStatus")
            .len(),
        1,
        "not retried"
    );
    within_memory(&hook);
}

#[tokio::test]
async fn codedeploy_discovery_failing_falls_back_to_the_appspec_and_says_so() {
    let row = Row::new().await;
    row.aws
        .fail_next(Some("ListDeploymentTargets"), Fault::ServerError, 5);
    let mut hook = row.hook(SMOKE).await;
    response(invoke(&mut hook, pre(), SECS_20).await);
    ends_in_one_report(&row, &hook, "Succeeded", "1 of 1 checks passed");
    let notes = hook.records("verdict")[0]["notes"].to_string();
    assert!(
        notes.contains("ListDeploymentTargets: InternalFailure"),
        "{notes}"
    );
}

#[tokio::test]
async fn codedeploy_discovery_stalling_is_cut_off_and_the_verdict_still_reported() {
    let row = Row::new().await;
    row.aws
        .fail_next(Some("ListDeploymentTargets"), Fault::Stall, 1);
    let mut hook = row
        .hook("report_reserve: 2s\nchecks: [ { name: smoke, invoke: {} } ]")
        .await;
    response(invoke(&mut hook, pre(), Duration::from_secs(5)).await);
    ends_in_one_report(&row, &hook, "Failed", "the function is unknown");
}

// Lambda ----------------------------------------------------------------------------

#[tokio::test]
async fn lambda_invoke_throttled_is_a_measurement_error_named_by_its_code() {
    let row = Row::new().await;
    row.aws.fail_next(Some("Invoke"), Fault::Throttle, 10);
    let mut hook = row.hook(SMOKE).await;
    response(invoke(&mut hook, pre(), SECS_20).await);
    ends_in_one_report(
        &row,
        &hook,
        "Failed",
        "TooManyRequestsException: Rate exceeded",
    );
}

#[tokio::test]
async fn lambda_function_error_fails_the_check() {
    let row = Row::new().await;
    let mut hook = row.hook(SMOKE).await;
    let ev = json!({"DeploymentId": "d-BADVERSION3", "LifecycleEventHookExecutionId": "e3"});
    response(invoke(&mut hook, ev, SECS_20).await);
    ends_in_one_report(&row, &hook, "Failed", "function_error = \"Unhandled\"");
}

#[tokio::test]
async fn lambda_invoke_slower_than_the_timeout_is_a_measurement_error() {
    let row = Row::new().await;
    let mut scenario = traffic_hooks_testkit::scenario();
    scenario["functions"]["demo-fn"]["versions"]["2"]["delay_ms"] = json!(5000);
    row.aws.load_scenario(&scenario).unwrap();
    let mut hook = row
        .hook("checks: [ { name: smoke, invoke: {}, timeout: 500ms } ]")
        .await;
    response(invoke(&mut hook, pre(), SECS_20).await);
    ends_in_one_report(&row, &hook, "Failed", "timed out after 500ms");
}

#[tokio::test]
async fn lambda_6_mb_payload_is_refused_with_its_size() {
    let row = Row::new().await;
    let mut scenario = traffic_hooks_testkit::scenario();
    scenario["functions"]["demo-fn"]["versions"]["2"]["payload_bytes"] = json!(6_000_000);
    row.aws.load_scenario(&scenario).unwrap();
    let mut hook = row.hook(SMOKE).await;
    response(invoke(&mut hook, pre(), SECS_20).await);
    ends_in_one_report(
        &row,
        &hook,
        "Failed",
        "the payload is 5.7 MiB, larger than max_body 1.0 MiB",
    );
}

// HTTP ------------------------------------------------------------------------------

async fn http_row(route: Option<Route>, config: &str) -> (Row, RuntimeHost) {
    let row = Row::new().await;
    if let Some(route) = route {
        row.http.route("/x", route);
    }
    let mut hook = row.hook(config).await;
    response(invoke(&mut hook, pre(), SECS_20).await);
    (row, hook)
}

const HTTP_X: &str = "checks: [ { name: web, http: { url: '{{env.HTTP}}/x' }, timeout: 2s } ]";

#[tokio::test]
async fn http_connection_refused_names_the_cause() {
    let (row, hook) = http_row(
        None,
        "checks: [ { name: web, http: { url: 'http://127.0.0.1:9/x' } } ]",
    )
    .await;
    ends_in_one_report(&row, &hook, "Failed", "Connection refused");
}

#[tokio::test]
async fn http_dns_failure_names_the_cause() {
    // A label over 63 characters: the resolver refuses it without asking the network.
    let host = format!("{}.invalid", "a".repeat(64));
    let config = format!("checks: [ {{ name: web, http: {{ url: 'http://{host}/x' }} }} ]");
    let (row, hook) = http_row(None, &config).await;
    ends_in_one_report(&row, &hook, "Failed", "dns error");
}

#[tokio::test]
async fn http_self_signed_tls_is_refused() {
    let tls = SelfSignedTls::start().await.unwrap();
    let config = format!(
        "checks: [ {{ name: web, http: {{ url: '{}/x' }} }} ]",
        tls.url()
    );
    let (row, hook) = http_row(None, &config).await;
    ends_in_one_report(&row, &hook, "Failed", "invalid peer certificate");
}

#[tokio::test]
async fn http_slow_drip_hits_the_timeout() {
    let drip = Route {
        drip_ms: 300,
        ..Route::new(200, json!({"ok": true, "padding": "xxxxxxxxxxxxxxxxxxxx"}))
    };
    let (row, hook) = http_row(Some(drip), HTTP_X).await;
    ends_in_one_report(&row, &hook, "Failed", "timed out");
}

#[tokio::test]
async fn http_huge_body_is_refused_at_max_body_and_memory_stays_flat() {
    let huge = Route {
        body_bytes: Some(50 * 1024 * 1024),
        ..Route::new(200, Value::Null)
    };
    let (row, hook) = http_row(Some(huge), HTTP_X).await;
    ends_in_one_report(
        &row,
        &hook,
        "Failed",
        "the body is larger than max_body 1.0 MiB",
    );
}

#[tokio::test]
async fn http_huge_body_without_a_length_is_cut_off_while_streaming() {
    let huge = Route {
        body_bytes: Some(50 * 1024 * 1024),
        ..Route::new(200, Value::Null)
    };
    // The fake streams without content-length: the cap is met while reading.
    let (row, hook) = http_row(
        Some(huge),
        "checks: [ { name: web, http: { url: '{{env.HTTP}}/x', max_body: 2MiB }, timeout: 5s } ]",
    )
    .await;
    ends_in_one_report(&row, &hook, "Failed", "larger than max_body 2.0 MiB");
}

#[tokio::test]
async fn http_invalid_json_body_is_judged_as_text() {
    let (row, hook) = http_row(
        Some(Route::new(200, json!("{\"ok\": tru"))),
        "checks: [ { name: web, http: { url: '{{env.HTTP}}/x' }, expect: 'body.ok' } ]",
    )
    .await;
    ends_in_one_report(&row, &hook, "Failed", "body.ok = null");
}

#[tokio::test]
async fn http_redirect_loop_ends_in_an_error() {
    let redirect = Route {
        headers: [("location".to_owned(), "/x".to_owned())].into(),
        ..Route::new(302, json!(""))
    };
    let (row, hook) = http_row(Some(redirect), HTTP_X).await;
    ends_in_one_report(&row, &hook, "Failed", "too many redirects");
}

#[tokio::test]
async fn http_non_utf8_body_is_read_lossily() {
    let binary = Route {
        raw_body: Some(vec![0xff, 0xfe, 0x00, 0x80]),
        ..Route::new(200, Value::Null)
    };
    let (row, hook) = http_row(
        Some(binary),
        "checks: [ { name: web, http: { url: '{{env.HTTP}}/x' }, expect: \"body == 'ok'\" } ]",
    )
    .await;
    ends_in_one_report(
        &row,
        &hook,
        "Failed",
        "body = \"\u{fffd}\u{fffd}\\u0000\u{fffd}\"",
    );
}

// CloudWatch and SSM ----------------------------------------------------------------

const DESCRIBE_ALARMS: &str = "/service/GraniteServiceVersion20100801/operation/DescribeAlarms";

async fn cloudwatch_row(route: Route, config: &str) -> (Row, RuntimeHost) {
    let row = Row::new().await;
    row.http.route(DESCRIBE_ALARMS, route);
    let cloudwatch = row.http_server.url();
    let mut hook = row
        .hook_env(&[
            ("TRAFFIC_HOOK_CONFIG", config),
            ("AWS_ENDPOINT_URL_CLOUDWATCH", &cloudwatch),
        ])
        .await;
    response(invoke(&mut hook, pre(), SECS_20).await);
    (row, hook)
}

#[tokio::test]
async fn cloudwatch_errors_are_measurement_errors() {
    let (row, hook) = cloudwatch_row(
        Route::new(500, json!("")),
        "checks: [ { name: alarms, alarms: { prefix: demo- } } ]",
    )
    .await;
    ends_in_one_report(
        &row,
        &hook,
        "Failed",
        "measurement 1: error: DescribeAlarms",
    );
}

#[tokio::test]
async fn cloudwatch_not_answering_hits_the_timeout() {
    let stall = Route {
        delay_ms: 60_000,
        ..Route::new(200, json!(""))
    };
    let (row, hook) = cloudwatch_row(
        stall,
        "checks: [ { name: alarms, alarms: { prefix: demo- }, timeout: 1s } ]",
    )
    .await;
    ends_in_one_report(&row, &hook, "Failed", "timed out after 1s");
}

async fn ssm_row(route: Route) -> (Row, RuntimeHost, Duration) {
    let row = Row::new().await;
    row.http.route("/", route);
    let ssm = row.http_server.url();
    let mut hook = row
        .hook_env(&[
            ("TRAFFIC_HOOK_CONFIG_SSM", "/traffic-hooks/demo"),
            ("AWS_ENDPOINT_URL_SSM", &ssm),
        ])
        .await;
    let started = Instant::now();
    response(invoke(&mut hook, pre(), Duration::from_secs(30)).await);
    (row, hook, started.elapsed())
}

#[tokio::test]
async fn ssm_errors_reading_the_config_report_failed_naming_the_parameter() {
    let (row, hook, _) = ssm_row(Route::new(500, json!({"__type": "InternalServerError"}))).await;
    ends_in_one_report(
        &row,
        &hook,
        "Failed",
        "cannot read parameter /traffic-hooks/demo",
    );
}

#[tokio::test]
async fn ssm_not_answering_is_bounded_and_reports_failed() {
    let stall = Route {
        delay_ms: 120_000,
        ..Route::new(200, json!({}))
    };
    let (row, hook, took) = ssm_row(stall).await;
    ends_in_one_report(&row, &hook, "Failed", "no answer within 10s");
    assert!(took < Duration::from_secs(20), "{took:?}");
}

// The process -----------------------------------------------------------------------

#[tokio::test]
async fn sigterm_during_checks_reports_failed_then_exits() {
    let row = Row::new().await;
    row.http.route(
        "/hang",
        Route {
            delay_ms: 60_000,
            ..Route::new(200, json!({}))
        },
    );
    let mut hook = row
        .hook("checks: [ { name: hangs, http: { url: '{{env.HTTP}}/hang' }, timeout: 1m } ]")
        .await;
    let pid = hook.pid().unwrap();
    let kill = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(800)).await;
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
    });
    let started = Instant::now();
    let out = response(invoke(&mut hook, pre(), SECS_20).await);
    kill.await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        out["checks"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("interrupted: the hook was told to stop (SIGTERM)"),
        "{out:#}"
    );
    assert_eq!(row.statuses(), ["Failed"]);
    assert_eq!(
        hook.exited(Duration::from_secs(5)).await,
        Some(0),
        "it exits"
    );
}

#[tokio::test]
async fn a_check_that_hangs_is_abandoned_at_the_deadline() {
    let row = Row::new().await;
    row.http.route(
        "/hang",
        Route {
            delay_ms: 60_000,
            ..Route::new(200, json!({}))
        },
    );
    let mut hook = row
        .hook("report_reserve: 1s\nchecks: [ { name: hangs, http: { url: '{{env.HTTP}}/hang' }, timeout: 2m } ]")
        .await;
    response(invoke(&mut hook, pre(), Duration::from_secs(4)).await);
    ends_in_one_report(&row, &hook, "Failed", "deadline: still running");
}

#[tokio::test]
async fn three_thousand_measurements_keep_memory_bounded() {
    let row = Row::new().await;
    row.http.route("/x", Route::new(200, json!({"ok": true})));
    let mut hook = row
        .hook("checks: [ { name: many, http: { url: '{{env.HTTP}}/x' }, count: 3000, interval: 1ms } ]")
        .await;
    let out = response(invoke(&mut hook, pre(), Duration::from_secs(90)).await);
    assert_eq!(out["status"], "Succeeded", "{out:#}");
    ends_in_one_report(&row, &hook, "Succeeded", "1 of 1 checks passed");
    let check = &hook.records("check")[0];
    assert_eq!(check["passed"], 3000);
    assert_eq!(
        check["measurements"].as_array().unwrap().len(),
        20,
        "the last 20 kept"
    );
}

#[tokio::test]
async fn a_load_check_at_20000_requests_per_second_keeps_memory_bounded() {
    let row = Row::new().await;
    row.http.route("/x", Route::new(200, json!({"ok": true})));
    let mut hook = row
        .hook("checks: [ { name: load, load: { http: { url: '{{env.HTTP}}/x' }, rate: 20000, duration: 3s }, expect: 'requests > `0`' } ]")
        .await;
    response(invoke(&mut hook, pre(), SECS_20).await);
    ends_in_one_report(&row, &hook, "Succeeded", "1 of 1 checks passed");
}

// The config ------------------------------------------------------------------------

#[tokio::test]
async fn config_yaml_alias_bomb_is_refused_at_once() {
    let bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\ni: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]\nchecks: [*i]\n";
    let row = Row::new().await;
    let mut hook = row.hook(bomb).await;
    response(invoke(&mut hook, pre(), SECS_20).await);
    ends_in_one_report(&row, &hook, "Failed", "not valid YAML or JSON");
}

async fn config_file_row(contents: &[u8], reason_has: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checks.yaml");
    std::fs::write(&path, contents).unwrap();
    let row = Row::new().await;
    let mut hook = row
        .hook_env(&[("TRAFFIC_HOOK_CONFIG_FILE", path.to_str().unwrap())])
        .await;
    response(invoke(&mut hook, pre(), SECS_20).await);
    ends_in_one_report(&row, &hook, "Failed", reason_has);
}

#[tokio::test]
async fn config_of_10_mb_is_refused_without_reading_it_whole() {
    let mut big = b"checks: [ { name: a, invoke: {} } ]\n#".to_vec();
    big.resize(10 * 1024 * 1024, b'x');
    config_file_row(&big, "larger than 1.0 MiB").await;
}

#[tokio::test]
async fn config_that_is_binary_is_refused() {
    config_file_row(
        &[0x7f, b'E', b'L', b'F', 0xff, 0x00, 0x01],
        "not UTF-8 text",
    )
    .await;
}

#[tokio::test]
async fn config_with_10000_checks_is_refused() {
    let checks: Vec<String> = (0..10_000)
        .map(|i| format!("{{name: c{i}, invoke: {{}}}}"))
        .collect();
    let text = format!("checks: [{}]\n", checks.join(", "));
    config_file_row(text.as_bytes(), "10000 checks; at most 200").await;
}

// Events ----------------------------------------------------------------------------

async fn bad_event(raw: &[u8], says: &str) {
    let row = Row::new().await;
    let mut hook = row.hook(SMOKE).await;
    let started = Instant::now();
    let out = error(hook.invoke_raw(raw.to_vec(), SECS_20).await.unwrap());
    assert!(started.elapsed() < SECS_20);
    let message = out["errorMessage"].as_str().unwrap_or_default();
    assert!(message.contains(says), "{says:?} not in {out:#}");
    assert!(row.statuses().is_empty(), "nothing can be reported");
    // The runtime goes on: the next event is served.
    response(invoke(&mut hook, pre(), SECS_20).await);
    assert_eq!(row.statuses(), ["Succeeded"]);
    within_memory(&hook);
}

#[tokio::test]
async fn event_empty_is_an_invocation_error_and_the_next_is_served() {
    bad_event(b"{}", "DeploymentId").await;
}

#[tokio::test]
async fn event_not_json_is_an_invocation_error_and_the_next_is_served() {
    bad_event(b"\x00not json", "").await;
}

#[tokio::test]
async fn event_missing_its_execution_id_is_an_invocation_error_naming_it() {
    bad_event(
        br#"{"DeploymentId": "d-PRETRAFFIC1"}"#,
        "LifecycleEventHookExecutionId",
    )
    .await;
}

#[tokio::test]
async fn event_with_extra_fields_is_handled_as_usual() {
    let row = Row::new().await;
    let mut hook = row.hook(SMOKE).await;
    let mut ev = pre();
    ev["traffic_hook_unknown"] = json!({"x": 1});
    ev["Version"] = json!("2026-01-01");
    response(invoke(&mut hook, ev, SECS_20).await);
    ends_in_one_report(&row, &hook, "Succeeded", "1 of 1 checks passed");
}

#[tokio::test]
async fn event_delivered_twice_is_reported_once() {
    let row = Row::new().await;
    let mut hook = row.hook(SMOKE).await;
    response(invoke(&mut hook, pre(), SECS_20).await);
    let again = response(invoke(&mut hook, pre(), SECS_20).await);
    assert_eq!(again["status"], "Succeeded");
    assert_eq!(
        again["report"],
        "already reported by this process (duplicate delivery)"
    );
    ends_in_one_report(&row, &hook, "Succeeded", "1 of 1 checks passed");
}

#[tokio::test]
async fn event_delivered_twice_to_two_processes_is_reported_once() {
    let row = Row::new().await;
    let mut first = row.hook(SMOKE).await;
    let mut second = row.hook(SMOKE).await;
    response(invoke(&mut first, pre(), SECS_20).await);
    let again = response(invoke(&mut second, pre(), SECS_20).await);
    assert!(
        again["report"]
            .as_str()
            .unwrap()
            .starts_with("already completed"),
        "{again:#}"
    );
    assert_eq!(row.statuses(), ["Succeeded"]);
    within_memory(&second);
}
