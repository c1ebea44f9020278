//! Operating deployments (docs/operations.md), through the real binary in Lambda mode:
//! EMF metrics lines checked against the specification's schema, notifications to a
//! webhook on loopback and to SNS in moto's server, the skip switch in moto's SSM, the
//! rollback fast pass, and pruning against the fake Lambda.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;
use traffic_hooks_testkit::{
    event, testkit_dir, venv_python, FakeAws, FakeDeployment, FakeFunction, FakeHttp, Moto,
    Outcome, Route, RuntimeHost, Server, VersionBehaviour,
};

const BIN: &str = env!("CARGO_BIN_EXE_traffic-hook");
const BUDGET: Duration = Duration::from_secs(20);

/// The fakes one test needs.
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
        http.route("/ok", Route::new(200, json!({ "ok": true })));
        http.route("/down", Route::new(503, json!({ "ok": false })));
        http.route("/hook", Route::new(200, json!({ "ok": true })));
        let http_server = http.start().await.unwrap();
        Self {
            aws,
            aws_server,
            http,
            http_server,
        }
    }

    /// The hook with `config`; `{{env.HTTP}}` is the fake HTTP server; `extra` env.
    async fn hook(&self, config: &str, extra: &[(&str, &str)]) -> RuntimeHost {
        let (aws, http) = (self.aws_server.url(), self.http_server.url());
        let mut env = vec![
            ("TRAFFIC_HOOK_CONFIG", config),
            ("AWS_ENDPOINT_URL", aws.as_str()),
            ("HTTP", http.as_str()),
        ];
        env.extend_from_slice(extra);
        RuntimeHost::start(Path::new(BIN), &env).await.unwrap()
    }

    fn statuses(&self) -> Vec<String> {
        self.aws.reports().into_iter().map(|r| r.status).collect()
    }
}

async fn run(hook: &mut RuntimeHost, ev: Value) -> Value {
    match hook.invoke(ev, BUDGET).await.unwrap() {
        Outcome::Response(v) => v,
        Outcome::Error(e) => panic!("an invocation error: {e}"),
    }
}

fn pre() -> Value {
    event("pre-traffic.json")
}

fn post() -> Value {
    event("post-traffic.json")
}

async fn sdk(endpoint: &str) -> aws_config::SdkConfig {
    traffic_hooks_testkit::sdk_config(endpoint).await
}

const PASS_AND_FAIL: &str = "checks: [ { name: up, phase: pre, http: { url: '{{env.HTTP}}/ok' } }, { name: down, phase: pre, http: { url: '{{env.HTTP}}/down' } } ]";

// Metrics ---------------------------------------------------------------------------

fn emf_lines(hook: &RuntimeHost) -> Vec<Value> {
    hook.records("metrics")
        .into_iter()
        .filter(|r| r.get("_aws").is_some())
        .collect()
}

#[tokio::test]
async fn every_metrics_line_is_valid_embedded_metric_format() {
    let world = World::new().await;
    let mut hook = world.hook(PASS_AND_FAIL, &[]).await;
    let out = run(&mut hook, pre()).await;
    assert_eq!(out["status"], "Failed");
    let lines = emf_lines(&hook);
    assert_eq!(lines.len(), 3, "one per check and one for the verdict");
    let by_check: Vec<(&str, u64)> = lines[..2]
        .iter()
        .map(|l| {
            (
                l["Check"].as_str().unwrap(),
                l["CheckFailed"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(by_check, [("up", 0), ("down", 1)]);
    let verdict = &lines[2];
    assert_eq!(verdict["VerdictFailed"], 1);
    assert_eq!(verdict["Function"], "demo-fn");
    assert_eq!(verdict["Phase"], "pre");
    assert_eq!(verdict["deployment_id"], "d-PRETRAFFIC1");
    assert_eq!(
        verdict["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "TrafficHooks"
    );

    // The specification's schema and the rules it cannot say, by a validator we did
    // not write (Python's jsonschema).
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let mut child = std::process::Command::new(venv_python())
        .arg(testkit_dir().join("../tests/emf_lines.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let done = child.wait_with_output().unwrap();
    assert!(
        done.status.success(),
        "{}{}",
        String::from_utf8_lossy(&done.stdout),
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(String::from_utf8_lossy(&done.stdout).contains("3 EMF lines, 0 problems"));
}

#[tokio::test]
async fn an_invalid_config_still_counts_a_failed_verdict_in_the_default_namespace() {
    let world = World::new().await;
    let mut hook = world
        .hook("checks: [ { name: a, invoke: {}, bogus: 1 } ]", &[])
        .await;
    assert_eq!(run(&mut hook, pre()).await["status"], "Failed");
    let lines = emf_lines(&hook);
    assert_eq!(lines.len(), 1, "the verdict's line only: {lines:?}");
    assert_eq!(lines[0]["VerdictFailed"], 1);
    assert_eq!(
        lines[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "TrafficHooks"
    );
}

#[tokio::test]
async fn metrics_false_prints_no_metrics_and_a_namespace_can_be_set() {
    let world = World::new().await;
    let off = format!("metrics: false\n{PASS_AND_FAIL}");
    let mut hook = world.hook(&off, &[]).await;
    run(&mut hook, pre()).await;
    assert!(emf_lines(&hook).is_empty());

    let named = format!("metrics: {{ namespace: Team/Deploys }}\n{PASS_AND_FAIL}");
    let mut hook = world.hook(&named, &[]).await;
    run(&mut hook, pre()).await;
    let lines = emf_lines(&hook);
    assert!(lines
        .iter()
        .all(|l| l["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Team/Deploys"));
}

// Notifications ---------------------------------------------------------------------

#[tokio::test]
async fn a_failed_verdict_is_posted_to_the_webhook_after_the_report() {
    let world = World::new().await;
    let config = format!(
        "notify: {{ webhook: {{ url: '{{{{env.HTTP}}}}/hook', headers: {{ x-api-key: '{{{{env.HOOK_KEY}}}}' }} }} }}\n{PASS_AND_FAIL}"
    );
    let mut hook = world.hook(&config, &[("HOOK_KEY", "sekrit-key")]).await;
    let out = run(&mut hook, pre()).await;
    assert_eq!(out["status"], "Failed");
    assert_eq!(world.statuses(), ["Failed"], "reported once");
    let bodies = world.http.bodies("/hook");
    assert_eq!(bodies.len(), 1, "sent once");
    let m: Value = serde_json::from_slice(&bodies[0]).unwrap();
    assert_eq!(m["verdict"], "Failed");
    assert_eq!(m["deployment_id"], "d-PRETRAFFIC1");
    assert_eq!(m["function"], "demo-fn");
    assert_eq!(m["phase"], "pre");
    assert_eq!(m["checks"][1]["name"], "down");
    assert_eq!(m["checks"][1]["status"], "failed");
    let text = m["text"].as_str().unwrap();
    assert!(
        text.starts_with("traffic-hooks: PreTraffic hook Failed for demo-fn:live 1 → 2"),
        "{text}"
    );
    let headers = world.http.last_headers("/hook");
    assert!(headers.contains(&("x-api-key".to_owned(), "sekrit-key".to_owned())));
    assert!(headers.contains(&("content-type".to_owned(), "application/json".to_owned())));
    let sent = &hook.records("notify")[0]["sent"][0];
    assert_eq!(sent["sent"], true, "{sent}");
    assert!(hook.logs().iter().all(|l| !l.contains("sekrit-key")));
}

#[tokio::test]
async fn a_webhook_that_fails_is_retried_once_and_never_changes_the_report() {
    let world = World::new().await;
    world.http.route("/hook", Route::new(500, json!({})));
    let config = "notify: { webhook: { url: '{{env.HTTP}}/hook' }, on: [failed, succeeded] }\nchecks: [ { name: up, http: { url: '{{env.HTTP}}/ok' } } ]";
    let mut hook = world.hook(config, &[]).await;
    let out = run(&mut hook, pre()).await;
    assert_eq!(out["status"], "Succeeded");
    assert_eq!(world.statuses(), ["Succeeded"]);
    assert_eq!(world.http.hits("/hook"), 2, "tried twice");
    let sent = &hook.records("notify")[0]["sent"][0];
    assert_eq!(sent["sent"], false);
    assert!(
        sent["error"].as_str().unwrap().contains("answered 500"),
        "{sent}"
    );
}

#[tokio::test]
async fn a_webhook_that_never_answers_cannot_hold_the_invocation_past_its_deadline() {
    let world = World::new().await;
    world.http.route(
        "/hook",
        Route {
            delay_ms: 120_000,
            ..Route::new(200, json!({}))
        },
    );
    let config = "report_reserve: 1s\nnotify: { webhook: { url: '{{env.HTTP}}/hook' }, on: [succeeded] }\nchecks: [ { name: up, http: { url: '{{env.HTTP}}/ok' } } ]";
    let mut hook = world.hook(config, &[]).await;
    let budget = Duration::from_secs(7);
    let started = std::time::Instant::now();
    let out = match hook.invoke(pre(), budget).await.unwrap() {
        Outcome::Response(v) => v,
        Outcome::Error(e) => panic!("{e}"),
    };
    assert!(started.elapsed() < budget, "{:?}", started.elapsed());
    assert_eq!(out["status"], "Succeeded");
    assert_eq!(world.statuses(), ["Succeeded"], "reported before notifying");
    let sent = &hook.records("notify")[0]["sent"][0];
    assert_eq!(sent["sent"], false, "{sent}");
}

#[tokio::test]
async fn a_succeeded_verdict_is_not_sent_unless_asked() {
    let world = World::new().await;
    let config = "notify: { webhook: { url: '{{env.HTTP}}/hook' } }\nchecks: [ { name: up, http: { url: '{{env.HTTP}}/ok' } } ]";
    let mut hook = world.hook(config, &[]).await;
    assert_eq!(run(&mut hook, pre()).await["status"], "Succeeded");
    assert_eq!(world.http.hits("/hook"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_verdict_is_published_to_sns_in_moto() {
    let moto = Moto::start().await.unwrap();
    let world = World::new().await;
    let sns = aws_sdk_sns::Client::new(&sdk(moto.url()).await);
    let topic = sns
        .create_topic()
        .name("deployments")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    // moto delivers to an HTTP subscription at once: the fake HTTP server receives
    // what SNS would deliver.
    world.http.route("/sns", Route::new(200, json!({})));
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("http")
        .endpoint(format!("{}/sns", world.http_server.url()))
        .send()
        .await
        .unwrap();
    let config = format!("notify: {{ sns: {{ topic_arn: '{topic}' }} }}\n{PASS_AND_FAIL}");
    let mut hook = world
        .hook(&config, &[("AWS_ENDPOINT_URL_SNS", moto.url())])
        .await;
    assert_eq!(run(&mut hook, pre()).await["status"], "Failed");
    let delivered: Vec<Value> = world
        .http
        .bodies("/sns")
        .iter()
        .filter_map(|b| serde_json::from_slice(b).ok())
        .filter(|v: &Value| v["Type"] == "Notification")
        .collect();
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(delivered[0]["Subject"], "traffic-hooks: demo-fn Failed");
    let message: Value = serde_json::from_str(delivered[0]["Message"].as_str().unwrap()).unwrap();
    assert_eq!(message["verdict"], "Failed");
    assert_eq!(message["checks"][1]["name"], "down");
    assert_eq!(world.statuses(), ["Failed"]);
}

// The skip switch -------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn the_skip_switch_in_ssm_skips_every_check_or_the_functions_it_lists() {
    let moto = Moto::start().await.unwrap();
    let ssm = aws_sdk_ssm::Client::new(&sdk(moto.url()).await);
    let put = |value: &'static str| {
        let ssm = ssm.clone();
        async move {
            ssm.put_parameter()
                .name("/traffic-hooks/skip")
                .value(value)
                .r#type(aws_sdk_ssm::types::ParameterType::String)
                .overwrite(true)
                .send()
                .await
                .unwrap();
        }
    };
    let world = World::new().await;
    let config = format!("skip: {{ ssm: /traffic-hooks/skip }}\n{PASS_AND_FAIL}");
    let mut hook = world
        .hook(&config, &[("AWS_ENDPOINT_URL_SSM", moto.url())])
        .await;

    // No parameter yet: the checks run (and one fails).
    assert_eq!(run(&mut hook, pre()).await["status"], "Failed");
    assert_eq!(world.http.hits("/down"), 1);

    put("true").await;
    let mut ev = pre();
    ev["LifecycleEventHookExecutionId"] = json!("skip-2");
    let out = run(&mut hook, ev).await;
    assert_eq!(out["status"], "Succeeded");
    assert_eq!(out["reason"], "skipped by /traffic-hooks/skip");
    assert_eq!(world.http.hits("/down"), 1, "no check ran");
    let read = hook
        .logs()
        .into_iter()
        .filter(|l| l.contains("skip switch on"))
        .collect::<Vec<_>>();
    assert_eq!(read.len(), 1);
    assert!(
        read[0].contains("\"version\":1") && read[0].contains("last_modified"),
        "{}",
        read[0]
    );

    put("payments, demo-fn").await;
    let mut ev = pre();
    ev["LifecycleEventHookExecutionId"] = json!("skip-3");
    assert_eq!(run(&mut hook, ev).await["status"], "Succeeded");

    put("payments").await;
    let mut ev = pre();
    ev["LifecycleEventHookExecutionId"] = json!("skip-4");
    assert_eq!(run(&mut hook, ev).await["status"], "Failed", "not listed");
    assert_eq!(
        world.statuses(),
        ["Failed", "Succeeded", "Succeeded", "Failed"]
    );
}

// Rollbacks -------------------------------------------------------------------------

fn rollback_deployment(aws: &FakeAws, creator: &str) -> Value {
    let mut d = FakeDeployment::new(
        "d-ROLLBACK01",
        "demo-fn",
        "live",
        "2",
        "1",
        "BeforeAllowTraffic",
    );
    d.creator = Some(creator.to_owned());
    aws.deployment(d);
    json!({ "DeploymentId": "d-ROLLBACK01", "LifecycleEventHookExecutionId": format!("rb-{creator}") })
}

#[tokio::test]
async fn a_rollback_deployment_passes_at_once_by_default() {
    let world = World::new().await;
    let mut hook = world.hook(PASS_AND_FAIL, &[]).await;
    for creator in ["codeDeployRollback", "CloudFormationRollback"] {
        let out = run(&mut hook, rollback_deployment(&world.aws, creator)).await;
        assert_eq!(out["status"], "Succeeded");
        let reason = out["reason"].as_str().unwrap();
        assert!(
            reason.contains(&format!("rollback deployment (creator {creator})")),
            "{reason}"
        );
    }
    assert_eq!(world.http.hits("/down"), 0, "no check ran");
    assert_eq!(world.statuses(), ["Succeeded", "Succeeded"]);
}

#[tokio::test]
async fn rollbacks_verify_runs_the_checks_of_a_rollback() {
    let world = World::new().await;
    let config = format!("rollbacks: verify\n{PASS_AND_FAIL}");
    let mut hook = world.hook(&config, &[]).await;
    let out = run(
        &mut hook,
        rollback_deployment(&world.aws, "codeDeployRollback"),
    )
    .await;
    assert_eq!(out["status"], "Failed");
    assert_eq!(world.http.hits("/down"), 1);
    assert!(
        world.aws.calls_of("GetDeployment").is_empty(),
        "verify does not ask who created it"
    );
}

#[tokio::test]
async fn a_deployment_by_a_user_runs_its_checks() {
    let world = World::new().await;
    let mut hook = world.hook(PASS_AND_FAIL, &[]).await;
    assert_eq!(run(&mut hook, pre()).await["status"], "Failed");
    assert_eq!(world.aws.calls_of("GetDeployment").len(), 1);
}

// Pruning ---------------------------------------------------------------------------

fn with_versions(aws: &FakeAws, n: u32) {
    let versions = (1..=n)
        .map(|v| (v.to_string(), VersionBehaviour::default()))
        .collect();
    aws.function(
        "demo-fn",
        FakeFunction {
            versions,
            aliases: [
                ("live".to_owned(), "2".to_owned()),
                ("old".to_owned(), "1".to_owned()),
            ]
            .into(),
            routing: [("live".to_owned(), ("3".to_owned(), 0.1))].into(),
        },
    );
}

fn deletions(aws: &FakeAws) -> Vec<String> {
    aws.lambda_calls()
        .into_iter()
        .filter_map(|c| c.strip_prefix("DeleteFunction demo-fn:").map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_succeeded_post_traffic_report_prunes_old_unaliased_versions() {
    let world = World::new().await;
    with_versions(&world.aws, 30);
    let config = "prune: { keep: 3 }\nchecks: [ { name: up, phase: post, http: { url: '{{env.HTTP}}/ok' } } ]";
    let mut hook = world.hook(config, &[]).await;
    assert_eq!(run(&mut hook, post()).await["status"], "Succeeded");
    // Versions 28-30 are the newest; 1 and 2 are aliased, 3 is live's weighted one;
    // at most 20 a run, oldest first.
    let expected: Vec<String> = (4..=23).map(|v| v.to_string()).collect();
    assert_eq!(deletions(&world.aws), expected);
    let record = &hook.records("prune")[0]["prune"];
    assert_eq!(record["deleted"].as_array().unwrap().len(), 20);
    assert_eq!(record["kept_for_aliases"], json!(["1", "2", "3"]));
    let left: Vec<String> = world
        .aws
        .get_function("demo-fn")
        .unwrap()
        .versions
        .into_keys()
        .collect();
    for kept in ["1", "2", "3", "24", "27", "28", "29", "30"] {
        assert!(left.contains(&kept.to_owned()), "{kept} kept");
    }
}

#[tokio::test]
async fn nothing_is_pruned_before_traffic_nor_after_a_failure() {
    let world = World::new().await;
    with_versions(&world.aws, 10);
    let config = "prune: { keep: 1 }\nchecks: [ { name: up, http: { url: '{{env.HTTP}}/ok' } }, { name: late, phase: post, http: { url: '{{env.HTTP}}/down' } } ]";
    let mut hook = world.hook(config, &[]).await;
    assert_eq!(run(&mut hook, pre()).await["status"], "Succeeded");
    assert_eq!(run(&mut hook, post()).await["status"], "Failed");
    assert!(deletions(&world.aws).is_empty());
    assert!(world.aws.lambda_calls().is_empty(), "not even listed");
}
