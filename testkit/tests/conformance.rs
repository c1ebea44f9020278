//! boto3 (the official AWS SDK for Python) against the fakes: their wire format is
//! checked by a client we did not write, with AWS's own service models.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use traffic_hooks_testkit::{
    testkit_dir, venv_python, FakeAlarm, FakeAws, FakeFunction, MetricKey, Stats, VersionBehaviour,
};

/// The project virtualenv's Python (made by `make venv`).
fn python() -> PathBuf {
    let path = venv_python();
    assert!(
        path.exists(),
        "{} is missing: run `make venv` (make test does) to install boto3",
        path.display()
    );
    path
}

/// An `Errors` alarm in `ALARM` for `demo-fn`, and errors 1 and 2 in the last minutes.
fn with_alarm_and_metrics(aws: &FakeAws) {
    let dims = [("FunctionName".to_owned(), "demo-fn".to_owned())];
    aws.alarm(FakeAlarm {
        name: "demo-fn-errors".into(),
        namespace: "AWS/Lambda".into(),
        metric: "Errors".into(),
        dimensions: dims.clone().into(),
        statistic: "Sum".into(),
        period: 60,
        evaluation_periods: 1,
        datapoints_to_alarm: None,
        threshold: 0.0,
        comparison: "GreaterThanThreshold".into(),
        treat_missing_data: "notBreaching".into(),
        state: "ALARM".into(),
        reason: "Threshold Crossed".into(),
        updated: 1_700_000_000.0,
    });
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs() as i64;
    let key = MetricKey {
        namespace: "AWS/Lambda".into(),
        name: "Errors".into(),
        dimensions: dims.into(),
    };
    aws.put_metric(key.clone(), now - 200, Stats::ones_of(1.0, 10.0));
    aws.put_metric(key, now - 30, Stats::ones_of(2.0, 10.0));
}

/// `prune-fn`: versions 1 to 5, `live` on 4 with 10% routed to 5.
fn with_versions(aws: &FakeAws) {
    let versions = (1..=5)
        .map(|n| (n.to_string(), VersionBehaviour::default()))
        .collect();
    aws.function(
        "prune-fn",
        FakeFunction {
            versions,
            aliases: [("live".to_owned(), "4".to_owned())].into(),
            routing: [("live".to_owned(), ("5".to_owned(), 0.1))].into(),
        },
    );
}

#[tokio::test]
async fn boto3_accepts_the_fakes() {
    let aws = FakeAws::with_scenario();
    with_alarm_and_metrics(&aws);
    with_versions(&aws);
    let server = aws.start().await.unwrap();
    let script = testkit_dir().join("tests/conformance.py");
    let url = server.url();
    let out = tokio::process::Command::new(python())
        .arg(script)
        .arg(url)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "boto3 conformance failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("13 passed, 0 failed"), "{stdout}");
    assert_eq!(
        aws.lambda_calls()
            .iter()
            .filter(|c| c.starts_with("DeleteFunction"))
            .count(),
        2,
        "both deletions reached the fake"
    );
    assert_eq!(aws.reports().len(), 1, "boto3's report was recorded once");
}
