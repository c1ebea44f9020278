//! Gates (docs/configuration.md, "Gates: until and approval"), through the real binary:
//! `traffic-hook approve|reject` writes the decision to moto's SSM, and a hook in
//! Lambda mode waits at an `approval` gate until it is decided.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use std::path::Path;
use std::process::Output;
use std::time::Duration;
use traffic_hooks_testkit::{event, FakeAws, Moto, Outcome, RuntimeHost, Server};

const BIN: &str = env!("CARGO_BIN_EXE_traffic-hook");
const BUDGET: Duration = Duration::from_secs(30);
const GATE: &str = "checks: [ { name: release-manager, phase: pre, approval: {}, interval: 1s } ]";

/// The fakes: CodeDeploy and Lambda from the testkit, SSM from moto.
struct World {
    aws: FakeAws,
    aws_server: Server,
    moto: Moto,
}

impl World {
    async fn new() -> Self {
        let aws = FakeAws::with_scenario();
        let aws_server = aws.start().await.unwrap();
        let moto = Moto::start().await.unwrap();
        Self {
            aws,
            aws_server,
            moto,
        }
    }

    async fn hook(&self, config: &str) -> RuntimeHost {
        RuntimeHost::start(
            Path::new(BIN),
            &[
                ("TRAFFIC_HOOK_CONFIG", config),
                ("AWS_ENDPOINT_URL", self.aws_server.url().as_str()),
                ("AWS_ENDPOINT_URL_SSM", self.moto.url()),
            ],
        )
        .await
        .unwrap()
    }

    /// `traffic-hook <args>` from a terminal, against moto's SSM.
    async fn cli(&self, args: &[&str]) -> Output {
        tokio::process::Command::new(BIN)
            .args(args)
            .env_clear()
            .env("AWS_ENDPOINT_URL_SSM", self.moto.url())
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("USER", "ci")
            .output()
            .await
            .unwrap()
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

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_gate_fails_at_once_with_the_reason_given() {
    let world = World::new().await;
    let out = world
        .cli(&[
            "reject",
            "d-PRETRAFFIC1",
            "--reason",
            "error budget spent",
            "--by",
            "ana",
        ])
        .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(
            "d-PRETRAFFIC1: rejected by ana (SSM parameter /traffic-hooks/approvals/d-PRETRAFFIC1)"
        ),
        "{}",
        text(&out)
    );

    let mut hook = world.hook(GATE).await;
    let started = std::time::Instant::now();
    let verdict = run(&mut hook, event("pre-traffic.json")).await;
    assert_eq!(verdict["status"], "Failed");
    let reason = verdict["checks"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("expect `state == 'approved'` not met: state = \"rejected\"")
            && reason.contains("rejected by ana at 20")
            && reason.ends_with(": error budget spent)"),
        "{reason}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a rejection fails at once, not after waiting"
    );
    assert_eq!(world.statuses(), ["Failed"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approval_that_arrives_mid_wait_opens_the_gate() {
    let world = World::new().await;
    let mut hook = world.hook(GATE).await;
    let waiting = tokio::spawn(async move {
        let verdict = run(&mut hook, event("pre-traffic.json")).await;
        (verdict, hook)
    });
    // Let the gate measure `pending` a few times first.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let out = world
        .cli(&[
            "approve",
            "d-PRETRAFFIC1",
            "--reason",
            "canary metrics look fine",
        ])
        .await;
    assert!(out.status.success(), "{}", text(&out));
    let (verdict, hook) = waiting.await.unwrap();
    assert_eq!(verdict["status"], "Succeeded", "{verdict:#}");
    assert_eq!(world.statuses(), ["Succeeded"]);
    let check = &hook.records_soon("check", 1, Duration::from_secs(2)).await[0];
    assert!(
        check["waiting"].as_u64().unwrap() >= 2,
        "measured pending before the approval: {check:#}"
    );
    assert_eq!(check["passed"], 1);
    let waited = check["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["result"] == "waiting")
        .unwrap()
        .clone();
    assert_eq!(waited["condition"], "state != 'pending'");
    assert_eq!(waited["looked_at"], "state = \"pending\"");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_until_that_never_holds_fails_when_its_count_runs_out() {
    let world = World::new().await;
    let config = "checks: [ { name: gate, phase: pre, approval: {}, interval: 100ms, count: 3 } ]";
    let mut hook = world.hook(config).await;
    let verdict = run(&mut hook, event("pre-traffic.json")).await;
    assert_eq!(verdict["status"], "Failed");
    assert_eq!(
        verdict["checks"][0]["reason"],
        json!("until `state != 'pending'` did not hold in 3 measurements; last: measurement 3: waiting, until `state != 'pending'` not yet: state = \"pending\"")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn approve_refuses_a_deployment_id_that_is_not_one() {
    let world = World::new().await;
    let out = world.cli(&["approve", "d-1/../../prod"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("deployment id `d-1/../../prod`"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gate_on_an_http_endpoint_reads_the_same_decisions() {
    let world = World::new().await;
    let http = traffic_hooks_testkit::FakeHttp::new();
    http.route(
        "/approvals/d-PRETRAFFIC1",
        traffic_hooks_testkit::Route::new(
            200,
            json!({ "state": "rejected", "by": "change-board", "reason": "freeze until Monday" }),
        ),
    );
    let server = http.start().await.unwrap();
    let config = format!(
        "checks: [ {{ name: board, phase: pre, approval: {{ url: '{}/approvals/{{{{deployment_id}}}}' }}, interval: 1s }} ]",
        server.url()
    );
    let mut hook = world.hook(&config).await;
    let verdict = run(&mut hook, event("pre-traffic.json")).await;
    assert_eq!(verdict["status"], "Failed");
    let reason = verdict["checks"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("rejected by change-board: freeze until Monday"),
        "{reason}"
    );
    assert_eq!(http.hits("/approvals/d-PRETRAFFIC1"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gate_waits_across_continuations_until_approved() {
    let world = World::new().await;
    // Each invocation may run 5 s: the gate outlives the first and goes on in
    // continuations, which the fake Lambda runs as more processes of the binary.
    let config = "report_reserve: 1s\nchecks: [ { name: release-manager, phase: pre, approval: {}, interval: 500ms, timeout: 3s, consecutive_error_limit: 3 } ]";
    let env = [
        ("TRAFFIC_HOOK_CONFIG", config.to_owned()),
        ("AWS_ENDPOINT_URL", world.aws_server.url()),
        ("AWS_ENDPOINT_URL_SSM", world.moto.url().to_owned()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    world.aws.complete_events_on_report();
    world.aws.serve_function(
        "CodeDeployHook_testkit",
        Path::new(BIN),
        &env,
        Duration::from_secs(5),
        2,
    );
    let mut hook = RuntimeHost::start(Path::new(BIN), &env).await.unwrap();
    let first = match hook
        .invoke(event("pre-traffic.json"), Duration::from_secs(5))
        .await
        .unwrap()
    {
        Outcome::Response(v) => v,
        Outcome::Error(e) => panic!("{e}"),
    };
    assert_eq!(first["status"], "Continued", "{first:#}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(world.statuses().is_empty(), "still waiting");
    let continued = || {
        world
            .aws
            .invocations()
            .iter()
            .filter(|i| i.function == "CodeDeployHook_testkit")
            .count()
    };
    assert!(continued() >= 1, "a continuation is waiting");
    let out = world.cli(&["approve", "d-PRETRAFFIC1"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let started = std::time::Instant::now();
    while world.statuses().is_empty() && started.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(world.statuses(), ["Succeeded"]);
    // The verdict's lines may trail the report: wait for them.
    let mut checks = Vec::new();
    for _ in 0..300 {
        checks = world.aws.served_records("CodeDeployHook_testkit", "check");
        if !checks.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let check = checks.into_iter().last().unwrap();
    assert_eq!(check["passed"], 1, "{check:#}");
    assert!(
        check["waiting"].as_u64().unwrap() >= 4,
        "pending across invocations: {check:#}"
    );
}
