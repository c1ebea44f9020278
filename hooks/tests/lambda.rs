//! The real `traffic-hook` binary, run as Lambda runs it (through the testkit's Runtime
//! API host), against the fake CodeDeploy and Lambda on loopback.

// Helpers outside #[test] functions unwrap too: a panic is a failed test with a line number.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};
use traffic_hooks_testkit::{
    event, FakeAws, FakeDeployment, FakeHttp, Fault, Outcome, Route, RuntimeHost, Server,
};

const BIN: &str = env!("CARGO_BIN_EXE_traffic-hook");

/// Fakes for one test: AWS (CodeDeploy + Lambda) and HTTP endpoints.
struct World {
    aws: FakeAws,
    aws_server: Server,
    http: FakeHttp,
    http_server: Server,
}

impl World {
    async fn new() -> Self {
        let aws = FakeAws::with_scenario();
        let aws_server = aws.start().await.unwrap();
        let http = FakeHttp::new();
        http.route("/live/health", Route::new(200, json!({"ok": true})));
        let http_server = http.start().await.unwrap();
        Self {
            aws,
            aws_server,
            http,
            http_server,
        }
    }

    /// Starts the hook with `config` (inline YAML); `{{env.HTTP}}` is the fake HTTP base URL.
    async fn hook(&self, config: &str) -> RuntimeHost {
        let endpoint = self.aws_server.url();
        let http = self.http_server.url();
        RuntimeHost::start(
            Path::new(BIN),
            &[
                ("TRAFFIC_HOOK_CONFIG", config),
                ("AWS_ENDPOINT_URL", &endpoint),
                ("HTTP", &http),
            ],
        )
        .await
        .unwrap()
    }

    fn statuses(&self) -> Vec<String> {
        self.aws.reports().into_iter().map(|r| r.status).collect()
    }
}

/// Sends the PreTraffic fixture event with 20 s to go and returns the hook's response.
async fn pre_traffic(hook: &mut RuntimeHost) -> Value {
    response(
        hook.invoke(event("pre-traffic.json"), Duration::from_secs(20))
            .await
            .unwrap(),
    )
}

fn response(outcome: Outcome) -> Value {
    match outcome {
        Outcome::Response(v) => v,
        Outcome::Error(e) => panic!("expected a response, got an invocation error: {e}"),
    }
}

const SMOKE: &str = r#"
checks:
  - name: smoke
    invoke: { qualifier: target, payload: { path: /health } }
    expect: "function_error == null && payload.statusCode == `200`"
  - name: health
    http: { url: "{{env.HTTP}}/{{alias}}/health" }
    expect: "status == `200` && body.ok"
"#;

#[tokio::test]
async fn reports_succeeded_when_every_check_passes() {
    let world = World::new().await;
    let mut hook = world.hook(SMOKE).await;
    let out = pre_traffic(&mut hook).await;
    assert_eq!(out["status"], "Succeeded", "{out:#}");
    assert_eq!(world.statuses(), ["Succeeded"]);
    let inv = world.aws.invocations();
    assert_eq!(inv.len(), 1);
    assert_eq!(
        inv[0].qualifier.as_deref(),
        Some("2"),
        "the target version is invoked"
    );
    assert_eq!(inv[0].payload, json!({"path": "/health"}));
    assert_eq!(
        world.http.hits("/live/health"),
        1,
        "{{alias}} is rendered into the URL"
    );
    let verdicts = hook.records("verdict");
    assert_eq!(verdicts.len(), 1);
    assert_eq!(verdicts[0]["status"], "Succeeded");
    assert_eq!(verdicts[0]["phase"], "pre");
    assert_eq!(hook.records("check").len(), 2, "one summary line per check");
}

#[tokio::test]
async fn reports_failed_when_the_new_version_returns_a_function_error() {
    let world = World::new().await;
    let mut hook = world
        .hook("checks: [ { name: smoke, invoke: { qualifier: target } } ]")
        .await;
    let ev = json!({"DeploymentId": "d-BADVERSION3", "LifecycleEventHookExecutionId": "exec-bad"});
    let out = response(hook.invoke(ev, Duration::from_secs(20)).await.unwrap());
    assert_eq!(out["status"], "Failed");
    let reason = out["reason"].as_str().unwrap();
    assert!(
        reason.contains("smoke")
            && reason.contains("function_error == null")
            && reason.contains("Unhandled"),
        "{reason}"
    );
    assert_eq!(world.statuses(), ["Failed"]);
}

#[tokio::test]
async fn reports_failed_when_http_answers_5xx() {
    let world = World::new().await;
    world
        .http
        .route("/live/health", Route::new(503, json!({"ok": false})));
    let mut hook = world
        .hook("checks: [ { name: health, http: { url: '{{env.HTTP}}/live/health' } } ]")
        .await;
    let out = pre_traffic(&mut hook).await;
    assert_eq!(out["status"], "Failed");
    assert!(out["reason"].as_str().unwrap().contains("503"), "{out:#}");
    assert_eq!(world.statuses(), ["Failed"]);
}

#[tokio::test]
async fn reports_failed_before_the_deadline_when_a_check_hangs() {
    let world = World::new().await;
    world.http.route(
        "/hang",
        Route {
            delay_ms: 60_000,
            ..Route::new(200, json!({}))
        },
    );
    let config = "report_reserve: 1s\nchecks: [ { name: hangs, http: { url: '{{env.HTTP}}/hang' }, timeout: 2m } ]";
    let mut hook = world.hook(config).await;
    let budget = Duration::from_secs(4);
    let started = Instant::now();
    let out = response(
        hook.invoke(event("pre-traffic.json"), budget)
            .await
            .unwrap(),
    );
    assert!(
        started.elapsed() < budget,
        "answered after the deadline: {:?}",
        started.elapsed()
    );
    assert_eq!(out["status"], "Failed");
    assert!(
        out["checks"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("deadline"),
        "{out:#}"
    );
    assert_eq!(world.statuses(), ["Failed"]);
}

#[tokio::test]
async fn retries_a_throttled_report_and_a_5xx_report_until_accepted_once() {
    let world = World::new().await;
    world.aws.fail_next(
        Some("PutLifecycleEventHookExecutionStatus"),
        Fault::Throttle,
        1,
    );
    world.aws.fail_next(
        Some("PutLifecycleEventHookExecutionStatus"),
        Fault::ServerError,
        1,
    );
    let mut hook = world.hook(SMOKE).await;
    let out = pre_traffic(&mut hook).await;
    assert_eq!(out["status"], "Succeeded");
    let puts = world.aws.calls_of("PutLifecycleEventHookExecutionStatus");
    assert_eq!(
        puts.iter().map(|c| c.status).collect::<Vec<_>>(),
        [400, 500, 200]
    );
    assert_eq!(world.statuses(), ["Succeeded"], "accepted exactly once");
    assert!(
        out["report"].as_str().unwrap().contains("3 attempt"),
        "{out:#}"
    );
}

#[tokio::test]
async fn already_completed_counts_as_reported() {
    let world = World::new().await;
    world.aws.fail_next(
        Some("PutLifecycleEventHookExecutionStatus"),
        Fault::AlreadyCompleted,
        1,
    );
    let mut hook = world.hook(SMOKE).await;
    let out = pre_traffic(&mut hook).await;
    assert!(
        out["report"]
            .as_str()
            .unwrap()
            .starts_with("already completed"),
        "{out:#}"
    );
    assert_eq!(
        world
            .aws
            .calls_of("PutLifecycleEventHookExecutionStatus")
            .len(),
        1,
        "not retried"
    );
}

#[tokio::test]
async fn malformed_event_is_an_invocation_error_and_the_next_event_succeeds() {
    let world = World::new().await;
    let mut hook = world.hook(SMOKE).await;
    let bad = hook
        .invoke(event("missing-execution-id.json"), Duration::from_secs(20))
        .await
        .unwrap();
    let Outcome::Error(err) = bad else {
        panic!("expected an invocation error, got {bad:?}")
    };
    assert!(
        err["errorMessage"]
            .as_str()
            .unwrap()
            .contains("LifecycleEventHookExecutionId"),
        "{err:#}"
    );
    assert!(world.aws.reports().is_empty());
    let out = pre_traffic(&mut hook).await;
    assert_eq!(out["status"], "Succeeded");
    assert_eq!(world.statuses(), ["Succeeded"]);
}

#[tokio::test]
async fn invalid_config_reports_failed_within_a_second() {
    let world = World::new().await;
    let mut hook = world
        .hook("checks: [ { name: x, http: { url: 'nope' }, timeout: soon } ]")
        .await;
    let started = Instant::now();
    let out = pre_traffic(&mut hook).await;
    let took = started.elapsed();
    assert_eq!(out["status"], "Failed");
    let reason = out["reason"].as_str().unwrap();
    assert!(
        reason.contains("checks[0].http.url") && reason.contains("checks[0].timeout"),
        "{reason}"
    );
    assert_eq!(world.statuses(), ["Failed"]);
    assert!(took < Duration::from_secs(1), "took {took:?}");
}

#[tokio::test]
async fn three_slow_checks_run_concurrently() {
    let world = World::new().await;
    world.http.route(
        "/slow",
        Route {
            delay_ms: 1500,
            ..Route::new(200, json!({}))
        },
    );
    let config = r#"
checks:
  - { name: a, http: { url: "{{env.HTTP}}/slow" } }
  - { name: b, http: { url: "{{env.HTTP}}/slow" } }
  - { name: c, http: { url: "{{env.HTTP}}/slow" } }
"#;
    let mut hook = world.hook(config).await;
    let started = Instant::now();
    let out = pre_traffic(&mut hook).await;
    let took = started.elapsed();
    assert_eq!(out["status"], "Succeeded");
    assert_eq!(world.http.hits("/slow"), 3);
    let elapsed: Vec<u64> = hook
        .records("check")
        .iter()
        .map(|c| c["elapsed_ms"].as_u64().unwrap())
        .collect();
    assert!(
        elapsed.len() == 3 && elapsed.iter().all(|ms| *ms >= 1500),
        "each check took its 1.5 s: {elapsed:?}"
    );
    // One after the other would take 4.5 s.
    assert!(
        took < Duration::from_secs(3),
        "three 1.5 s checks took {took:?}"
    );
}

#[tokio::test]
async fn count_three_gives_three_measurements_and_one_report() {
    let world = World::new().await;
    let mut hook = world.hook("checks: [ { name: health, http: { url: '{{env.HTTP}}/live/health' }, count: 3, interval: 100ms } ]").await;
    let out = pre_traffic(&mut hook).await;
    assert_eq!(out["status"], "Succeeded");
    assert_eq!(world.http.hits("/live/health"), 3);
    assert_eq!(hook.records("check")[0]["passed"], 3);
    assert_eq!(
        world
            .aws
            .calls_of("PutLifecycleEventHookExecutionStatus")
            .len(),
        1
    );
}

#[tokio::test]
async fn post_phase_checks_do_not_run_before_traffic() {
    let world = World::new().await;
    let config = r#"
checks:
  - { name: pre-smoke, phase: pre, invoke: {} }
  - { name: post-health, phase: post, http: { url: "{{env.HTTP}}/live/health" } }
"#;
    let mut hook = world.hook(config).await;
    let out = pre_traffic(&mut hook).await;
    assert_eq!(out["status"], "Succeeded");
    assert_eq!(world.http.hits("/live/health"), 0);
    assert_eq!(out["checks"][1]["status"], "skipped");
    let out = response(
        hook.invoke(event("post-traffic.json"), Duration::from_secs(20))
            .await
            .unwrap(),
    );
    assert_eq!(out["phase"], "post");
    assert_eq!(world.http.hits("/live/health"), 1);
    assert_eq!(
        world.aws.invocations().len(),
        1,
        "pre-smoke ran only before traffic"
    );
}

#[tokio::test]
async fn discovery_falls_back_to_the_appspec() {
    let world = World::new().await;
    let mut d = FakeDeployment::new(
        "d-APPSPEC001",
        "demo-fn",
        "live",
        "1",
        "2",
        "BeforeAllowTraffic",
    );
    d.has_target = false;
    d.hooks
        .insert("BeforeAllowTraffic".into(), "CodeDeployHook_testkit".into());
    world.aws.deployment(d);
    let mut hook = world
        .hook("checks: [ { name: smoke, phase: pre, invoke: {} } ]")
        .await;
    let ev =
        json!({"DeploymentId": "d-APPSPEC001", "LifecycleEventHookExecutionId": "exec-appspec"});
    let out = response(hook.invoke(ev, Duration::from_secs(20)).await.unwrap());
    assert_eq!(out["status"], "Succeeded", "{out:#}");
    assert_eq!(
        out["phase"],
        "pre",
        "the phase comes from the AppSpec's Hooks: {:#}",
        hook.records("verdict")[0]
    );
    assert_eq!(world.aws.invocations()[0].qualifier.as_deref(), Some("2"));
    assert_eq!(world.aws.calls_of("GetApplicationRevision").len(), 1);
}

#[tokio::test]
async fn a_failed_target_lookup_falls_back_and_says_so() {
    let world = World::new().await;
    world
        .aws
        .fail_next(Some("ListDeploymentTargets"), Fault::ServerError, 5);
    let mut hook = world.hook("checks: [ { name: smoke, invoke: {} } ]").await;
    let out = pre_traffic(&mut hook).await;
    assert_eq!(
        out["status"], "Succeeded",
        "the AppSpec still names the versions: {out:#}"
    );
    let verdict = &hook.records("verdict")[0];
    let notes = verdict["notes"].as_str().unwrap();
    assert!(
        notes.contains("deployment target unavailable: ListDeploymentTargets: InternalFailure"),
        "{notes}"
    );
    assert!(notes.contains("phase unknown"), "{notes}");
}

#[tokio::test]
async fn unknown_deployment_is_an_invocation_error_that_names_the_refusal() {
    let world = World::new().await;
    let mut hook = world.hook("checks: [ { name: smoke, invoke: {} } ]").await;
    let ev = json!({"DeploymentId": "d-NOSUCHTHING", "LifecycleEventHookExecutionId": "exec-x"});
    let out = hook.invoke(ev, Duration::from_secs(20)).await.unwrap();
    let Outcome::Error(err) = out else {
        panic!("CodeDeploy refuses the report, so the invocation must fail: {out:?}")
    };
    assert_eq!(err["errorType"], "traffic_hook::NotReported");
    assert!(
        err["errorMessage"]
            .as_str()
            .unwrap()
            .contains("DeploymentDoesNotExistException"),
        "{err:#}"
    );
    assert_eq!(
        world
            .aws
            .calls_of("PutLifecycleEventHookExecutionStatus")
            .len(),
        1,
        "a refusal is not retried"
    );
    let check = &hook.records("check")[0];
    assert!(
        check["reason"]
            .as_str()
            .unwrap()
            .contains("the function is unknown"),
        "{check:#}"
    );
}

#[tokio::test]
async fn header_values_never_reach_the_logs() {
    let world = World::new().await;
    world
        .http
        .route("/secret", Route::new(500, json!({"ok": false})));
    let config = "checks: [ { name: s, http: { url: '{{env.HTTP}}/secret', headers: { Authorization: 'Bearer sekrit-token-123' } } } ]";
    let mut hook = world.hook(config).await;
    let out = pre_traffic(&mut hook).await;
    assert_eq!(out["status"], "Failed");
    let sent = world.http.last_headers("/secret");
    assert!(
        sent.iter()
            .any(|(k, v)| k == "authorization" && v == "Bearer sekrit-token-123"),
        "the header is sent"
    );
    assert!(
        hook.logs().iter().all(|l| !l.contains("sekrit-token-123")),
        "the header value is logged"
    );
    assert!(!out.to_string().contains("sekrit-token-123"));
}

#[tokio::test]
async fn compare_passes_when_target_and_current_answer_alike() {
    let world = World::new().await;
    let mut hook = world
        .hook("checks: [ { name: same, compare: { payloads: [ {path: /a}, {path: /b} ] } } ]")
        .await;
    let out = pre_traffic(&mut hook).await;
    assert_eq!(out["status"], "Succeeded", "{out:#}");
    let versions: Vec<Option<String>> = world
        .aws
        .invocations()
        .into_iter()
        .map(|i| i.qualifier)
        .collect();
    assert_eq!(
        versions
            .iter()
            .filter(|v| v.as_deref() == Some("1"))
            .count(),
        2,
        "current once per payload"
    );
    assert_eq!(
        versions
            .iter()
            .filter(|v| v.as_deref() == Some("2"))
            .count(),
        2,
        "target once per payload"
    );
}

#[tokio::test]
async fn compare_fails_on_a_difference_and_names_it_unless_ignored() {
    let world = World::new().await;
    let ev =
        |id: &str| json!({"DeploymentId": "d-ECHOFN00001", "LifecycleEventHookExecutionId": id});
    // echo-fn answers {"version": V, "input": payload}: only /version differs.
    let mut hook = world
        .hook("checks: [ { name: same, compare: { payloads: [ {x: 1} ] } } ]")
        .await;
    let out = response(
        hook.invoke(ev("e1"), Duration::from_secs(20))
            .await
            .unwrap(),
    );
    assert_eq!(out["status"], "Failed");
    let reason = out["reason"].as_str().unwrap();
    assert!(
        reason.contains(r#"{"current":"1","payload":0,"pointer":"/version","target":"2"}"#),
        "{reason}"
    );
    let mut hook = world
        .hook("checks: [ { name: same, compare: { payloads: [ {x: 1} ], ignore: [ /version ] } } ]")
        .await;
    let out = response(
        hook.invoke(ev("e2"), Duration::from_secs(20))
            .await
            .unwrap(),
    );
    assert_eq!(out["status"], "Succeeded", "{out:#}");
}

#[tokio::test]
async fn compare_fails_when_only_the_target_throws() {
    let world = World::new().await;
    let mut hook = world
        .hook("checks: [ { name: same, compare: { payloads: [ {} ] } } ]")
        .await;
    let ev = json!({"DeploymentId": "d-BADVERSION3", "LifecycleEventHookExecutionId": "e-bad"});
    let out = response(hook.invoke(ev, Duration::from_secs(20)).await.unwrap());
    assert_eq!(out["status"], "Failed");
    assert!(
        out["reason"]
            .as_str()
            .unwrap()
            .contains(r#""pointer":"(function_error)","target":"Unhandled""#),
        "{out:#}"
    );
}

#[tokio::test]
async fn every_variable_is_rendered_in_payloads_urls_and_expect() {
    let world = World::new().await;
    world.http.route(
        "/d-PRETRAFFIC1/demo-fn/live",
        Route::new(200, json!({"version": "2"})),
    );
    let config = r#"
checks:
  - name: vars
    invoke:
      qualifier: current
      payload: { f: "{{function}}", a: "{{alias}}", c: "{{current_version}}", t: "{{target_version}}", d: "{{deployment_id}}", e: "{{env.STAGE}}" }
    expect: "executed_version == '{{current_version}}'"
  - name: url
    http: { url: "{{env.HTTP}}/{{deployment_id}}/{{function}}/{{alias}}" }
    expect: "body.version == '{{target_version}}'"
"#;
    let endpoint = world.aws_server.url();
    let http = world.http_server.url();
    let env = [
        ("TRAFFIC_HOOK_CONFIG", config),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("HTTP", http.as_str()),
        ("STAGE", "prod"),
    ];
    let mut hook = RuntimeHost::start(Path::new(BIN), &env).await.unwrap();
    let out = pre_traffic(&mut hook).await;
    assert_eq!(out["status"], "Succeeded", "{out:#}");
    let sent = &world.aws.invocations()[0];
    assert_eq!(sent.qualifier.as_deref(), Some("1"));
    assert_eq!(
        sent.payload,
        json!({"f": "demo-fn", "a": "live", "c": "1", "t": "2", "d": "d-PRETRAFFIC1", "e": "prod"})
    );
}

#[tokio::test]
async fn a_variable_without_a_value_fails_only_its_check() {
    let world = World::new().await;
    let config = "checks: [ { name: needs-env, http: { url: '{{env.NOT_SET}}/x' } }, { name: fine, invoke: {} } ]";
    let mut hook = world.hook(config).await;
    let out = pre_traffic(&mut hook).await;
    assert_eq!(out["status"], "Failed");
    assert!(
        out["checks"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("environment variable NOT_SET is not set"),
        "{out:#}"
    );
    assert_eq!(out["checks"][1]["status"], "passed");
}

#[tokio::test]
async fn a_dry_run_check_fails_without_blocking_and_the_summary_says_so() {
    let world = World::new().await;
    world.http.route("/flaky", Route::new(500, json!({})));
    let config = "checks: [ { name: flaky, dry_run: true, http: { url: '{{env.HTTP}}/flaky' } }, { name: smoke, invoke: {} } ]";
    let mut hook = world.hook(config).await;
    let out = pre_traffic(&mut hook).await;
    assert_eq!(out["status"], "Succeeded");
    assert!(
        out["reason"]
            .as_str()
            .unwrap()
            .contains("1 dry-run checks failed without blocking"),
        "{out:#}"
    );
    let flaky = &hook.records("check")[0];
    assert_eq!(
        (flaky["status"].as_str(), flaky["dry_run"].as_bool()),
        (Some("failed"), Some(true))
    );
    assert_eq!(world.statuses(), ["Succeeded"]);
}

#[tokio::test]
async fn http_checks_can_sign_with_sigv4_for_iam_authorised_function_urls() {
    let world = World::new().await;
    world
        .http
        .route("/iam", Route::new(200, json!({"ok": true})));
    let config =
        "checks: [ { name: url, http: { url: '{{env.HTTP}}/iam', sigv4: { service: lambda } } } ]";
    let mut hook = world.hook(config).await;
    let out = pre_traffic(&mut hook).await;
    assert_eq!(out["status"], "Succeeded", "{out:#}");
    let headers = world.http.last_headers("/iam");
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let auth = get("authorization");
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=testkit/"),
        "{auth}"
    );
    assert!(
        auth.contains("/us-east-1/lambda/aws4_request")
            && auth.contains("SignedHeaders=")
            && auth.contains("Signature="),
        "{auth}"
    );
    assert!(auth.contains("host"), "the host header is signed: {auth}");
    assert_eq!(
        get("x-amz-date").len(),
        16,
        "x-amz-date: {}",
        get("x-amz-date")
    );
    let signature = auth.rsplit("Signature=").next().unwrap();
    assert!(
        hook.logs().iter().all(|l| !l.contains(signature)),
        "signatures are never logged"
    );
}
