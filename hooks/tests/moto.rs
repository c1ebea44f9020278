//! CloudWatch alarms and metrics and SSM configs against moto's server, with the real
//! AWS SDK for Rust (CloudWatch through the testkit's CBOR bridge: moto does not speak
//! the SDK's Smithy RPC v2 CBOR protocol, see `testkit/moto/cloudwatch_cbor_bridge.py`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StateValue};
use aws_sdk_ssm::types::ParameterType;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, SystemTime};
use traffic_hooks_testkit::{event, FakeAws, Moto, Outcome, RuntimeHost};

const BIN: &str = env!("CARGO_BIN_EXE_traffic-hook");

async fn sdk(endpoint: &str) -> aws_config::SdkConfig {
    traffic_hooks_testkit::sdk_config(endpoint).await
}

/// moto with three alarms (OK, ALARM, INSUFFICIENT_DATA) and two `Errors` datapoints
/// (2 and 3) for `demo-fn`, all written through the Rust SDK.
async fn moto_with_alarms_and_metrics() -> (Moto, aws_sdk_cloudwatch::Client) {
    let moto = Moto::start().await.unwrap();
    let cw = aws_sdk_cloudwatch::Client::new(&sdk(moto.cloudwatch_url()).await);
    for (name, metric) in [
        ("demo-fn-ok", "Errors"),
        ("demo-fn-firing", "Errors"),
        ("demo-fn-quiet", "NeverReported"),
    ] {
        cw.put_metric_alarm()
            .alarm_name(name)
            .namespace("TrafficHooks/Test")
            .metric_name(metric)
            .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
            .period(60)
            .evaluation_periods(1)
            .threshold(0.0)
            .comparison_operator(
                aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold,
            )
            .send()
            .await
            .unwrap();
    }
    // moto starts every alarm in OK (AWS starts them in INSUFFICIENT_DATA): set all three.
    let states = [
        ("demo-fn-ok", StateValue::Ok),
        ("demo-fn-firing", StateValue::Alarm),
        ("demo-fn-quiet", StateValue::InsufficientData),
    ];
    for (name, state) in states {
        cw.set_alarm_state()
            .alarm_name(name)
            .state_value(state)
            .state_reason("test")
            .send()
            .await
            .unwrap();
    }
    let now = SystemTime::now() - Duration::from_secs(30);
    for value in [2.0, 3.0] {
        let datum = MetricDatum::builder()
            .metric_name("Errors")
            .dimensions(
                Dimension::builder()
                    .name("FunctionName")
                    .value("demo-fn")
                    .build(),
            )
            .timestamp(aws_sdk_cloudwatch::primitives::DateTime::from(now))
            .value(value)
            .build();
        cw.put_metric_data()
            .namespace("TrafficHooks/Test")
            .metric_data(datum)
            .send()
            .await
            .unwrap();
    }
    (moto, cw)
}

fn run(config: &str, moto: &Moto) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checks.yaml");
    std::fs::write(&path, config).unwrap();
    std::process::Command::new(BIN)
        .args([
            "run",
            "--config",
            path.to_str().unwrap(),
            "--function",
            "demo-fn",
            "--phase",
            "post",
        ])
        .env_clear()
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL_CLOUDWATCH", moto.cloudwatch_url())
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn alarms_and_metric_checks_run_from_the_terminal_against_moto() {
    let (moto, _cw) = moto_with_alarms_and_metrics().await;
    let passing = r#"
checks:
  - { name: quiet, alarms: { names: [demo-fn-ok, demo-fn-quiet] } }
  - name: errors
    metric: { namespace: TrafficHooks/Test, name: Errors, stat: Sum, period: 60s, window: 10m,
              dimensions: { FunctionName: "{{function}}" } }
    expect: "value == `5`"
"#;
    let out = tokio::task::block_in_place(|| run(passing, &moto));
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{table}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let failing = r#"
checks:
  - { name: all, alarms: { prefix: demo-fn- } }
  - { name: strict, alarms: { names: [demo-fn-quiet], insufficient_data: fail } }
  - { name: errors, metric: { namespace: TrafficHooks/Test, name: Errors, dimensions: { FunctionName: demo-fn } }, expect: "value <= `0`" }
"#;
    let out = tokio::task::block_in_place(|| run(failing, &moto));
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{table}");
    assert!(table.contains("3 of 3 checks failed"), "{table}");
    assert!(
        table.contains("demo-fn-firing") && table.contains("ALARM"),
        "{table}"
    );
}

/// Starts the hook in Lambda mode with its config in SSM parameter `name`.
async fn hook_with_ssm_config(moto: &Moto, aws: &str, name: &str) -> RuntimeHost {
    let env = [
        ("TRAFFIC_HOOK_CONFIG_SSM", name),
        ("AWS_ENDPOINT_URL", aws),
        ("AWS_ENDPOINT_URL_SSM", moto.url()),
        ("AWS_ENDPOINT_URL_CLOUDWATCH", moto.cloudwatch_url()),
    ];
    RuntimeHost::start(Path::new(BIN), &env).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hook_reads_its_config_from_an_ssm_securestring() {
    let (moto, _cw) = moto_with_alarms_and_metrics().await;
    let ssm = aws_sdk_ssm::Client::new(&sdk(moto.url()).await);
    let config = "checks: [ { name: bake, phase: post, alarms: { names: [demo-fn-ok] }, count: 2, interval: 100ms } ]\n\
                  # token: sekrit-ssm-value\n";
    ssm.put_parameter()
        .name("/traffic-hooks/demo")
        .value(config)
        .r#type(ParameterType::SecureString)
        .send()
        .await
        .unwrap();

    let fake = FakeAws::with_scenario();
    let aws = fake.start().await.unwrap();
    let mut hook = hook_with_ssm_config(&moto, &aws.url(), "/traffic-hooks/demo").await;
    let out = hook
        .invoke(event("post-traffic.json"), Duration::from_secs(20))
        .await
        .unwrap();
    let Outcome::Response(out) = out else {
        panic!("{out:?}")
    };
    assert_eq!(out["status"], "Succeeded", "{out:#}");
    assert_eq!(fake.reports().len(), 1);
    assert!(
        hook.logs().iter().all(|l| !l.contains("sekrit-ssm-value")),
        "the SSM value is never logged"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_ssm_parameter_is_a_config_error_reported_as_failed() {
    let moto = Moto::start().await.unwrap();
    let fake = FakeAws::with_scenario();
    let aws = fake.start().await.unwrap();
    let mut hook = hook_with_ssm_config(&moto, &aws.url(), "/traffic-hooks/missing").await;
    let out = hook
        .invoke(event("pre-traffic.json"), Duration::from_secs(20))
        .await
        .unwrap();
    let Outcome::Response(out) = out else {
        panic!("{out:?}")
    };
    assert_eq!(out["status"], "Failed");
    let reason = out["reason"].as_str().unwrap();
    assert!(
        reason.contains("TRAFFIC_HOOK_CONFIG_SSM")
            && reason.contains("/traffic-hooks/missing")
            && reason.contains("ParameterNotFound"),
        "{reason}"
    );
    assert_eq!(
        fake.reports()
            .iter()
            .map(|r| r.status.as_str())
            .collect::<Vec<_>>(),
        ["Failed"]
    );
}

/// The hook with a config per function, `/traffic-hooks/{{function}}` in moto's SSM.
async fn fleet_hook(moto: &Moto, aws: &str, ttl: &str) -> RuntimeHost {
    let env = [
        ("TRAFFIC_HOOK_CONFIG_SSM", "/traffic-hooks/{{function}}"),
        ("TRAFFIC_HOOK_CONFIG_TTL", ttl),
        ("AWS_ENDPOINT_URL", aws),
        ("AWS_ENDPOINT_URL_SSM", moto.url()),
    ];
    RuntimeHost::start(Path::new(BIN), &env).await.unwrap()
}

async fn put(ssm: &aws_sdk_ssm::Client, name: &str, value: &str) {
    ssm.put_parameter()
        .name(name)
        .value(value)
        .r#type(ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .unwrap();
}

fn pre_event(execution: &str) -> serde_json::Value {
    serde_json::json!({"DeploymentId": "d-PRETRAFFIC1", "LifecycleEventHookExecutionId": execution})
}

async fn respond(hook: &mut RuntimeHost, ev: serde_json::Value) -> serde_json::Value {
    match hook.invoke(ev, Duration::from_secs(20)).await.unwrap() {
        Outcome::Response(v) => v,
        Outcome::Error(e) => panic!("{e}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_function_reads_its_own_config_and_a_missing_one_fails_only_its_events_until_created()
{
    let moto = Moto::start().await.unwrap();
    let ssm = aws_sdk_ssm::Client::new(&sdk(moto.url()).await);
    put(
        &ssm,
        "/traffic-hooks/demo-fn",
        "checks: [ { name: demo-smoke, invoke: {} } ]",
    )
    .await;
    let fake = FakeAws::with_scenario();
    let aws = fake.start().await.unwrap();
    let mut hook = fleet_hook(&moto, &aws.url(), "60s").await;
    let demo = respond(&mut hook, pre_event("demo-1")).await;
    assert_eq!(demo["status"], "Succeeded", "{demo:#}");
    assert_eq!(demo["checks"][0]["name"], "demo-smoke");
    let echo = respond(
        &mut hook,
        serde_json::json!({"DeploymentId": "d-ECHOFN00001", "LifecycleEventHookExecutionId": "echo-1"}),
    )
    .await;
    assert_eq!(echo["status"], "Failed");
    let reason = echo["reason"].as_str().unwrap();
    assert!(
        reason.contains("cannot read parameter /traffic-hooks/echo-fn")
            && reason.contains("ParameterNotFound"),
        "{reason}"
    );
    let again = respond(&mut hook, pre_event("demo-2")).await;
    assert_eq!(
        again["status"], "Succeeded",
        "the other function is unaffected: {again:#}"
    );
    put(
        &ssm,
        "/traffic-hooks/echo-fn",
        "checks: [ { name: echo-smoke, invoke: {} } ]",
    )
    .await;
    let created = respond(
        &mut hook,
        serde_json::json!({"DeploymentId": "d-ECHOFN00001", "LifecycleEventHookExecutionId": "echo-3"}),
    )
    .await;
    assert_eq!(
        created["status"], "Succeeded",
        "a failed read is not cached: {created:#}"
    );
    assert_eq!(created["checks"][0]["name"], "echo-smoke");
    put(
        &ssm,
        "/traffic-hooks/echo-fn",
        "checks: [ { name: a, bogus: {} } ]",
    )
    .await;
    let mut fresh = fleet_hook(&moto, &aws.url(), "60s").await;
    let invalid = respond(
        &mut fresh,
        serde_json::json!({"DeploymentId": "d-ECHOFN00001", "LifecycleEventHookExecutionId": "echo-2"}),
    )
    .await;
    let reason = invalid["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("invalid config in parameter /traffic-hooks/echo-fn"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_functions_config_is_cached_for_the_ttl_then_read_again() {
    let moto = Moto::start().await.unwrap();
    let ssm = aws_sdk_ssm::Client::new(&sdk(moto.url()).await);
    put(
        &ssm,
        "/traffic-hooks/demo-fn",
        "checks: [ { name: passes, invoke: {} } ]",
    )
    .await;
    let fake = FakeAws::with_scenario();
    let aws = fake.start().await.unwrap();
    let mut hook = fleet_hook(&moto, &aws.url(), "2s").await;
    assert_eq!(
        respond(&mut hook, pre_event("ttl-1")).await["status"],
        "Succeeded"
    );
    put(
        &ssm,
        "/traffic-hooks/demo-fn",
        "checks: [ { name: fails, invoke: {}, expect: 'function_error != null' } ]",
    )
    .await;
    let cached = respond(&mut hook, pre_event("ttl-2")).await;
    assert_eq!(
        cached["checks"][0]["name"], "passes",
        "within the TTL: {cached:#}"
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let reread = respond(&mut hook, pre_event("ttl-3")).await;
    assert_eq!(
        reread["checks"][0]["name"], "fails",
        "after the TTL: {reread:#}"
    );
    assert_eq!(reread["status"], "Failed");
}

/// `traffic-hook validate` with `TRAFFIC_HOOK_CONFIG_SSM=/traffic-hooks/{{function}}`.
fn validate_per_function(moto: &Moto, args: &[&str]) -> Output {
    std::process::Command::new(BIN)
        .arg("validate")
        .args(args)
        .env_clear()
        .env("TRAFFIC_HOOK_CONFIG_SSM", "/traffic-hooks/{{function}}")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL_SSM", moto.url())
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn validate_checks_the_parameter_of_the_function_given() {
    let moto = Moto::start().await.unwrap();
    let ssm = aws_sdk_ssm::Client::new(&sdk(moto.url()).await);
    put(
        &ssm,
        "/traffic-hooks/orders-api",
        "checks: [ { name: a, invoke: {} } ]",
    )
    .await;
    put(
        &ssm,
        "/traffic-hooks/billing-api",
        "checks: [ { name: a, invok: {} } ]",
    )
    .await;
    // Exit code and everything printed.
    let validate = |args: &[&str]| {
        let o = tokio::task::block_in_place(|| validate_per_function(&moto, args));
        let text = String::from_utf8_lossy(&o.stdout) + String::from_utf8_lossy(&o.stderr);
        (o.status.code(), text.into_owned())
    };

    let (code, text) = validate(&["--function", "orders-api"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("/traffic-hooks/orders-api"), "{text}");

    let (code, text) = validate(&["--function", "billing-api"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("/traffic-hooks/billing-api") && text.contains("checks[0]"),
        "{text}"
    );

    let (code, text) = validate(&["--function", "search-api"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("/traffic-hooks/search-api"), "{text}");

    let (code, text) = validate(&[]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("give --function"), "{text}");
}
