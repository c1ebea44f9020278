//! The real `traffic-hook` binary, run as Lambda runs it (through the testkit's Runtime
//! API host), against the fake CodeDeploy and Lambda on loopback.

// Helpers outside #[test] functions unwrap too: a panic is a failed test with a line number.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};
use traffic_hooks_testkit::{
    event, FakeAws, FakeDeployment, FakeHttp, Outcome, Route, RuntimeHost, Server,
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
    let elapsed: Vec<f64> = hook
        .records("check")
        .iter()
        .map(|c| c["elapsed_ms"].as_f64().unwrap())
        .collect();
    assert!(
        elapsed.len() == 3 && elapsed.iter().all(|ms| *ms >= 1500.0),
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
async fn secrets_are_redacted_by_name_and_origin_and_the_rest_is_shown() {
    let world = World::new().await;
    world.http.route(
        "/h",
        Route {
            headers: [
                ("x-auth-token".to_owned(), "resp-sekrit-999".to_owned()),
                ("cache-control".to_owned(), "no-store".to_owned()),
            ]
            .into(),
            ..Route::new(200, json!({}))
        },
    );
    let config = r#"
checks:
  - name: headers
    http: { url: "{{env.HTTP}}/h" }
    expect: "headers.\"x-auth-token\" == 'nope' || headers.\"cache-control\" == 'nope'"
  - name: echoed
    invoke: { function: echo-fn, payload: { token: "{{env.API_TOKEN}}" } }
    expect: "payload.input == `{}`"
"#;
    let endpoint = world.aws_server.url();
    let http = world.http_server.url();
    let env = [
        ("TRAFFIC_HOOK_CONFIG", config),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("HTTP", http.as_str()),
        ("API_TOKEN", "env-sekrit-42"),
    ];
    let mut hook = RuntimeHost::start(Path::new(BIN), &env).await.unwrap();
    let out = pre_traffic(&mut hook).await;
    let reasons = out["checks"].to_string();
    assert!(
        reasons.contains(
            r#"headers.\"x-auth-token\" = <redacted>, headers.\"cache-control\" = \"no-store\""#
        ),
        "{reasons}"
    );
    assert!(
        reasons.contains(r#"payload.input = {\"token\":\"<redacted>\"}"#),
        "{reasons}"
    );
    let logs = hook.logs().join("\n");
    for secret in ["resp-sekrit-999", "env-sekrit-42"] {
        assert!(!logs.contains(secret), "{secret} reached the logs");
        assert!(
            !out.to_string().contains(secret),
            "{secret} reached the response"
        );
    }
}

#[tokio::test]
async fn compare_and_expect_look_inside_json_carried_as_a_string() {
    let world = World::new().await;
    let mut scenario = traffic_hooks_testkit::scenario();
    for (v, id) in [("1", "req-a"), ("2", "req-b")] {
        scenario["functions"]["demo-fn"]["versions"][v]["payload"] = json!({
            "statusCode": 200,
            "body": json!({"ok": true, "items": [1, 2], "requestId": id}).to_string(),
        });
    }
    world.aws.load_scenario(&scenario).unwrap();
    let config = r#"
checks:
  - { name: same, compare: { payloads: [ {rawPath: /items} ], ignore: [ /body/requestId ] } }
  - { name: differs, compare: { payloads: [ {rawPath: /items} ] } }
  - { name: items, invoke: {}, expect: "length(from_json(payload.body).items) == `2`" }
"#;
    let mut hook = world.hook(config).await;
    let out = pre_traffic(&mut hook).await;
    let status = |i: usize| out["checks"][i]["status"].as_str().unwrap().to_owned();
    assert_eq!(
        [status(0), status(1), status(2)],
        ["passed", "failed", "passed"],
        "{out:#}"
    );
    assert!(
        out["checks"][1]["reason"]
            .as_str()
            .unwrap()
            .contains(r#""pointer":"/body/requestId""#),
        "{out:#}"
    );
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
