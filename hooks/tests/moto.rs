//! CloudWatch alarms and metrics and SSM configs against moto's server, with the real
//! AWS SDK for Rust (CloudWatch through the testkit's CBOR bridge: moto does not speak
//! the SDK's Smithy RPC v2 CBOR protocol, see `testkit/moto/cloudwatch_cbor_bridge.py`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_config::BehaviorVersion;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StateValue};
use aws_sdk_ssm::types::ParameterType;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, SystemTime};
use traffic_hooks_testkit::{event, FakeAws, Moto, Outcome, RuntimeHost};

const BIN: &str = env!("CARGO_BIN_EXE_traffic-hook");

async fn sdk(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_cloudwatch::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .endpoint_url(endpoint)
        .load()
        .await
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
