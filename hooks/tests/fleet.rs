//! One hook for many functions, through the real binary: `functions:` globs and
//! `no_checks`. (Configs per function from SSM are in `moto.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;
use traffic_hooks_testkit::{event, FakeAws, Outcome, RuntimeHost};

const BIN: &str = env!("CARGO_BIN_EXE_traffic-hook");

async fn hook(aws: &str, config: &str) -> RuntimeHost {
    RuntimeHost::start(
        Path::new(BIN),
        &[("TRAFFIC_HOOK_CONFIG", config), ("AWS_ENDPOINT_URL", aws)],
    )
    .await
    .unwrap()
}

async fn respond(host: &mut RuntimeHost, ev: Value) -> Value {
    match host.invoke(ev, Duration::from_secs(20)).await.unwrap() {
        Outcome::Response(v) => v,
        Outcome::Error(e) => panic!("{e}"),
    }
}

fn echo_fn_event() -> Value {
    json!({"DeploymentId": "d-ECHOFN00001", "LifecycleEventHookExecutionId": "echo-exec"})
}

fn statuses(out: &Value) -> Vec<(String, String)> {
    out["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn two_functions_deployed_through_one_hook_get_different_checks() {
    let aws = FakeAws::with_scenario();
    let server = aws.start().await.unwrap();
    let config = r#"
checks:
  - { name: demo-smoke, functions: [ "demo-*" ], invoke: {} }
  - { name: echo-smoke, functions: echo-fn, invoke: {}, expect: "payload.version == '2'" }
  - { name: everyone, invoke: {} }
"#;
    let mut host = hook(&server.url(), config).await;
    let demo = respond(&mut host, event("pre-traffic.json")).await;
    assert_eq!(demo["status"], "Succeeded", "{demo:#}");
    let pairs = |v: &[(&str, &str)]| {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        statuses(&demo),
        pairs(&[
            ("demo-smoke", "passed"),
            ("echo-smoke", "skipped"),
            ("everyone", "passed")
        ])
    );
    assert_eq!(
        demo["checks"][1]["reason"],
        "for functions echo-fn, not demo-fn"
    );
    let echo = respond(&mut host, echo_fn_event()).await;
    assert_eq!(echo["status"], "Succeeded", "{echo:#}");
    assert_eq!(
        statuses(&echo),
        pairs(&[
            ("demo-smoke", "skipped"),
            ("echo-smoke", "passed"),
            ("everyone", "passed")
        ])
    );
    let invoked: Vec<String> = aws.invocations().into_iter().map(|i| i.function).collect();
    assert_eq!(
        invoked,
        ["demo-fn", "demo-fn", "echo-fn", "echo-fn"],
        "each check called its own function"
    );
    assert_eq!(aws.reports().len(), 2);
}

#[tokio::test]
async fn no_checks_for_a_function_follows_no_checks_and_names_function_and_phase() {
    let aws = FakeAws::with_scenario();
    let server = aws.start().await.unwrap();
    let only_billing = "checks: [ { name: billing, functions: [ billing-* ], invoke: {} } ]";
    let mut lenient = hook(&server.url(), only_billing).await;
    let out = respond(&mut lenient, event("pre-traffic.json")).await;
    assert_eq!(out["status"], "Succeeded");
    assert_eq!(out["reason"], "no checks for function demo-fn in phase pre");
    let strict = format!("no_checks: fail\n{only_billing}");
    let mut strict = hook(&server.url(), &strict).await;
    let out = respond(&mut strict, echo_fn_event()).await;
    assert_eq!(out["status"], "Failed");
    assert_eq!(
        out["reason"],
        "no checks for function echo-fn in phase pre (no_checks: fail)"
    );
    let statuses: Vec<String> = aws.reports().into_iter().map(|r| r.status).collect();
    assert_eq!(statuses, ["Succeeded", "Failed"]);
}
