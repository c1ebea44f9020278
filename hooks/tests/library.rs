//! The library driven in memory: fakes behind its traits, no network, no processes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use async_trait::async_trait;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use traffic_hooks::check::{
    AlarmSource, Effects, HttpRequest, HttpResponse, HttpSender, InvokeOutput, LambdaInvoker,
    MetricQuery, MetricSource,
};
use traffic_hooks::deployment::{DeploymentSource, DiscoveryError, Facts};
use traffic_hooks::report::ReportError;
use traffic_hooks::{
    Check, CheckContext, CheckSpec, Config, Hook, HookEvent, MeasureError, Phase, Reporter, Status,
};

/// A deployment source that knows one deployment, or nothing.
struct Source(Option<Facts>);

#[async_trait]
impl DeploymentSource for Source {
    async fn target_facts(&self, _: &str) -> Result<Facts, DiscoveryError> {
        self.0.clone().ok_or(DiscoveryError {
            operation: "GetDeploymentTarget",
            message: "unknown".into(),
        })
    }
    async fn appspec(&self, _: &str) -> Result<String, DiscoveryError> {
        Err(DiscoveryError {
            operation: "GetDeployment",
            message: "unknown".into(),
        })
    }
}

/// Records reports.
#[derive(Default)]
struct Reports(Mutex<Vec<Status>>);

#[async_trait]
impl Reporter for Reports {
    async fn put_status(&self, _: &HookEvent, status: Status) -> Result<(), ReportError> {
        self.0.lock().unwrap().push(status);
        Ok(())
    }
}

/// Version 1 and 2 answer alike but for `requestId`; version 3 answers `ok: false`.
struct Lambda;

#[async_trait]
impl LambdaInvoker for Lambda {
    async fn invoke(&self, _: &str, qualifier: &str, _: Vec<u8>) -> Result<InvokeOutput, String> {
        let payload = json!({ "ok": qualifier != "3", "requestId": format!("req-{qualifier}") });
        Ok(InvokeOutput {
            payload: payload.to_string().into_bytes(),
            function_error: None,
            executed_version: Some(qualifier.into()),
        })
    }
}

/// Alarms `a-ok` (OK), `a-nodata` (INSUFFICIENT_DATA) and `a-firing` (ALARM).
struct Alarms;

#[async_trait]
impl AlarmSource for Alarms {
    async fn alarms(
        &self,
        names: &[String],
        prefix: Option<&str>,
    ) -> Result<Vec<(String, String)>, String> {
        let all = [
            ("a-ok", "OK"),
            ("a-nodata", "INSUFFICIENT_DATA"),
            ("a-firing", "ALARM"),
        ];
        Ok(all
            .iter()
            .filter(|(n, _)| {
                names.iter().any(|x| x == n) || prefix.is_some_and(|p| n.starts_with(p))
            })
            .map(|(n, s)| (n.to_string(), s.to_string()))
            .collect())
    }
}

/// `Errors` has datapoints 1 and 2; anything else has none.
struct Metrics;

#[async_trait]
impl MetricSource for Metrics {
    async fn datapoints(&self, q: &MetricQuery) -> Result<Vec<(i64, f64)>, String> {
        Ok(if q.name == "Errors" {
            vec![(120, 2.0), (60, 1.0)]
        } else {
            vec![]
        })
    }
}

struct Http;

#[async_trait]
impl HttpSender for Http {
    async fn send(&self, _: HttpRequest) -> Result<HttpResponse, String> {
        Ok(HttpResponse {
            status: 200,
            headers: Default::default(),
            body: b"{}".to_vec(),
        })
    }
}

fn effects() -> Effects {
    Effects {
        lambda: Arc::new(Lambda),
        http: Arc::new(Http),
        alarms: Arc::new(Alarms),
        metrics: Arc::new(Metrics),
    }
}

fn facts(phase: Option<Phase>) -> Facts {
    Facts {
        function: Some("fn".into()),
        alias: Some("live".into()),
        current_version: Some("1".into()),
        target_version: Some("2".into()),
        target_weight: Some(0.0),
        phase,
    }
}

fn event() -> Value {
    json!({"DeploymentId": "d-1", "LifecycleEventHookExecutionId": "e-1"})
}

fn deadline(secs: u64) -> SystemTime {
    SystemTime::now() + Duration::from_secs(secs)
}

struct Panics;

#[async_trait]
impl Check for Panics {
    fn kind(&self) -> &'static str {
        "panics"
    }
    fn default_expect(&self) -> Option<&'static str> {
        Some("`true`")
    }
    async fn measure(&self, _: &CheckContext) -> Result<Value, MeasureError> {
        panic!("the check blew up");
    }
}

/// A custom check: passes when the deployment's target version is `2`.
struct TargetIsTwo;

#[async_trait]
impl Check for TargetIsTwo {
    fn kind(&self) -> &'static str {
        "custom"
    }
    async fn measure(&self, ctx: &CheckContext) -> Result<Value, MeasureError> {
        Ok(json!({ "target": ctx.deployment.facts.target_version }))
    }
}

fn hook(config: &str, phase: Option<Phase>, reports: Arc<Reports>) -> Hook {
    Hook::new(
        Config::parse(config),
        Arc::new(Source(Some(facts(phase)))),
        reports,
        effects(),
    )
}

#[tokio::test]
async fn a_panicking_check_fails_with_its_message_and_the_others_still_run() {
    let reports = Arc::new(Reports::default());
    let hook = hook(
        "checks: [ { name: smoke, invoke: {} } ]",
        Some(Phase::Pre),
        reports.clone(),
    )
    .with_check(CheckSpec::new("boom", Panics).unwrap());
    let verdict = hook.handle(&event(), deadline(10)).await.unwrap();
    assert_eq!(verdict.status, Status::Failed);
    assert_eq!(verdict.checks[0].name, "smoke");
    assert!(verdict.checks[0].reason.is_none(), "smoke passed");
    assert_eq!(
        verdict.checks[1].reason.as_deref(),
        Some("panicked: the check blew up")
    );
    assert_eq!(*reports.0.lock().unwrap(), [Status::Failed]);
}

#[tokio::test]
async fn custom_checks_see_the_deployment_and_use_their_expect() {
    let reports = Arc::new(Reports::default());
    let without = CheckSpec::new("custom", TargetIsTwo);
    assert!(without
        .unwrap_err()
        .to_string()
        .contains("`expect` is required for custom checks"));
    let spec = CheckSpec::expecting("custom", TargetIsTwo, &["target == '2'"]).unwrap();
    let hook = hook(
        "checks: [ { name: smoke, invoke: {} } ]",
        Some(Phase::Pre),
        reports.clone(),
    )
    .with_check(spec);
    let verdict = hook.handle(&event(), deadline(10)).await.unwrap();
    assert_eq!(verdict.status, Status::Succeeded, "{}", verdict.reason);
    assert_eq!(verdict.checks.len(), 2);
}

#[tokio::test]
async fn unknown_phase_runs_every_check_and_says_so() {
    let reports = Arc::new(Reports::default());
    let config =
        "checks: [ { name: a, phase: pre, invoke: {} }, { name: b, phase: post, invoke: {} } ]";
    let verdict = hook(config, None, reports)
        .handle(&event(), deadline(10))
        .await
        .unwrap();
    assert!(
        verdict.checks.iter().all(|c| c.measurements.len() == 1),
        "{:?}",
        verdict.checks
    );
    assert!(
        verdict
            .deployment
            .notes
            .iter()
            .any(|n| n.contains("phase unknown")),
        "{:?}",
        verdict.deployment.notes
    );
}

#[tokio::test]
async fn dry_run_reports_succeeded_and_says_it_would_have_failed() {
    let reports = Arc::new(Reports::default());
    let config =
        "dry_run: true\nchecks: [ { name: a, invoke: {}, expect: \"payload.ok == `false`\" } ]";
    let verdict = hook(config, Some(Phase::Pre), reports.clone())
        .handle(&event(), deadline(10))
        .await
        .unwrap();
    assert_eq!(verdict.status, Status::Succeeded);
    assert!(
        verdict
            .reason
            .starts_with("dry run, would have failed: 1 of 1 checks failed"),
        "{}",
        verdict.reason
    );
    assert_eq!(*reports.0.lock().unwrap(), [Status::Succeeded]);
}

#[tokio::test]
async fn a_deadline_shorter_than_the_reserve_still_reports() {
    let reports = Arc::new(Reports::default());
    let verdict = hook(
        "checks: [ { name: a, invoke: {} } ]",
        Some(Phase::Pre),
        reports.clone(),
    )
    .handle(&event(), deadline(2))
    .await
    .unwrap();
    assert_eq!(verdict.status, Status::Failed);
    assert!(
        verdict.checks[0]
            .reason
            .as_deref()
            .unwrap_or_default()
            .starts_with("deadline"),
        "{:?}",
        verdict.checks[0]
    );
    assert_eq!(*reports.0.lock().unwrap(), [Status::Failed]);
}

#[tokio::test]
async fn a_deadline_already_past_on_arrival_falls_back_to_a_fixed_budget() {
    let reports = Arc::new(Reports::default());
    let long_ago = SystemTime::UNIX_EPOCH + Duration::from_millis(600_000);
    let verdict = hook(
        "checks: [ { name: a, invoke: {} } ]",
        Some(Phase::Pre),
        reports.clone(),
    )
    .handle(&event(), long_ago)
    .await
    .unwrap();
    assert_eq!(verdict.status, Status::Succeeded, "{}", verdict.reason);
    assert_eq!(*reports.0.lock().unwrap(), [Status::Succeeded]);
}

async fn verdict(config: &str, facts: Facts) -> traffic_hooks::summary::Verdict {
    let reports = Arc::new(Reports::default());
    Hook::new(
        Config::parse(config),
        Arc::new(Source(Some(facts))),
        reports,
        effects(),
    )
    .handle(&event(), deadline(20))
    .await
    .unwrap()
}

#[tokio::test]
async fn compare_passes_when_only_ignored_fields_differ() {
    let v = verdict(
        "checks: [ { name: c, compare: { payloads: [ {x: 1} ], ignore: [ /requestId ] } } ]",
        facts(Some(Phase::Pre)),
    )
    .await;
    assert_eq!(v.status, Status::Succeeded, "{}", v.reason);
}

#[tokio::test]
async fn compare_fails_naming_the_first_difference() {
    let v = verdict(
        "checks: [ { name: c, compare: { payloads: [ {x: 1}, {x: 2} ] } } ]",
        facts(Some(Phase::Pre)),
    )
    .await;
    assert_eq!(v.status, Status::Failed);
    let reason = v.checks[0].reason.clone().unwrap();
    assert!(
        reason.contains(r#""pointer":"/requestId""#)
            && reason.contains(r#""current":"req-1""#)
            && reason.contains(r#""target":"req-2""#),
        "{reason}"
    );
    assert!(
        reason.contains(r#""difference_count":2"#),
        "one difference per payload: {reason}"
    );
}

#[tokio::test]
async fn alarms_fail_while_one_is_in_alarm_and_insufficient_data_is_ok_by_default() {
    let v = verdict(
        "checks: [ { name: a, alarms: { names: [a-ok, a-nodata] } } ]",
        facts(Some(Phase::Post)),
    )
    .await;
    assert_eq!(v.status, Status::Succeeded, "{}", v.reason);
    let v = verdict(
        "checks: [ { name: a, alarms: { prefix: a- } } ]",
        facts(Some(Phase::Post)),
    )
    .await;
    assert_eq!(v.status, Status::Failed);
    assert!(v.reason.contains("a-firing"), "{}", v.reason);
    let v = verdict(
        "checks: [ { name: a, alarms: { names: [a-nodata], insufficient_data: fail } } ]",
        facts(Some(Phase::Post)),
    )
    .await;
    assert_eq!(v.status, Status::Failed, "{}", v.reason);
}

#[tokio::test]
async fn a_named_alarm_that_does_not_exist_fails_the_check() {
    let v = verdict(
        "checks: [ { name: a, alarms: { names: [a-ok, a-typo] } } ]",
        facts(Some(Phase::Post)),
    )
    .await;
    assert_eq!(v.status, Status::Failed);
    assert!(v.reason.contains("no such alarm: a-typo"), "{}", v.reason);
}

#[tokio::test]
async fn alarms_with_count_bake_for_the_whole_window() {
    let v = verdict(
        "checks: [ { name: bake, alarms: { names: [a-ok] }, count: 3, interval: 50ms } ]",
        facts(Some(Phase::Post)),
    )
    .await;
    assert_eq!(v.status, Status::Succeeded);
    assert_eq!(v.checks[0].measurements.len(), 3);
}

#[tokio::test]
async fn metric_value_aggregates_the_window_and_null_means_no_data() {
    let config = r#"
checks:
  - { name: errors, metric: { namespace: AWS/Lambda, name: Errors, dimensions: { FunctionName: "{{function}}" } }, expect: "value == `3`" }
  - { name: throttles, metric: { namespace: AWS/Lambda, name: Throttles }, expect: "value == null || value <= `0`" }
  - { name: strict, metric: { namespace: AWS/Lambda, name: Throttles }, expect: "value <= `0`" }
"#;
    let v = verdict(config, facts(Some(Phase::Post))).await;
    let statuses: Vec<_> = v.checks.iter().map(|c| c.status).collect();
    use traffic_hooks::summary::CheckStatus::{Failed, Passed};
    assert_eq!(statuses, [Passed, Passed, Failed], "{}", v.reason);
}

#[tokio::test]
async fn load_measures_requests_and_latency_percentiles() {
    let config = "checks: [ { name: load, load: { http: { url: 'https://x/' }, rate: 100, duration: 300ms } } ]";
    let v = verdict(config, facts(Some(Phase::Post))).await;
    assert_eq!(v.status, Status::Succeeded, "{}", v.reason);
    let traffic_hooks::summary::MeasurementResult::Passed { value } =
        &v.checks[0].measurements[0].result
    else {
        panic!("{:?}", v.checks[0]);
    };
    assert_eq!(value["requests"], 30);
    assert_eq!(value["errors"], 0);
    assert!(value["latency_ms"]["p99"].as_f64().is_some(), "{value}");
}

#[tokio::test]
async fn a_load_check_may_run_longer_than_its_per_request_timeout() {
    let config = "checks: [ { name: load, load: { http: { url: 'https://x/' }, rate: 20, duration: 1s }, timeout: 300ms } ]";
    let v = verdict(config, facts(Some(Phase::Post))).await;
    assert_eq!(v.status, Status::Succeeded, "{}", v.reason);
}

#[tokio::test]
async fn a_dry_run_check_that_cannot_be_built_does_not_block() {
    let config =
        "checks: [ { name: needs-env, dry_run: true, http: { url: '{{env.NOT_SET}}/x' } } ]";
    let v = verdict(config, facts(Some(Phase::Pre))).await;
    assert_eq!(v.status, Status::Succeeded, "{}", v.reason);
    assert!(
        v.checks[0].dry_run
            && v.checks[0]
                .reason
                .as_deref()
                .unwrap_or_default()
                .contains("NOT_SET")
    );
}

/// Never answers.
struct Hangs;

#[async_trait]
impl Check for Hangs {
    fn kind(&self) -> &'static str {
        "hangs"
    }
    fn default_expect(&self) -> Option<&'static str> {
        Some("`true`")
    }
    async fn measure(&self, _: &CheckContext) -> Result<Value, MeasureError> {
        std::future::pending().await
    }
}

#[tokio::test]
async fn a_config_built_in_code_with_no_reserve_still_leaves_time_to_report() {
    let reports = Arc::new(Reports::default());
    let config = Config {
        report_reserve: Duration::ZERO,
        ..Config::default()
    };
    let timing = traffic_hooks::Timing {
        timeout: Duration::from_secs(60),
        ..traffic_hooks::Timing::default()
    };
    let hook = Hook::new(
        Ok(config),
        Arc::new(Source(Some(facts(Some(Phase::Pre))))),
        reports.clone(),
        effects(),
    )
    .with_check(CheckSpec::new("hangs", Hangs).unwrap().with_timing(timing));
    let started = std::time::Instant::now();
    let verdict = hook.handle(&event(), deadline(3)).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(verdict.status, Status::Failed);
    assert_eq!(*reports.0.lock().unwrap(), [Status::Failed]);
}

/// The first attempt stalls forever; later ones are accepted.
#[derive(Default)]
struct StallsOnce(Mutex<u32>);

#[async_trait]
impl Reporter for StallsOnce {
    async fn put_status(&self, _: &HookEvent, _: Status) -> Result<(), ReportError> {
        let first = {
            let mut n = self.0.lock().unwrap();
            *n += 1;
            *n == 1
        };
        if first {
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_stalled_report_attempt_is_abandoned_and_retried() {
    let reporter = Arc::new(StallsOnce::default());
    let hook = Hook::new(
        Config::parse("checks: [ { name: a, invoke: {} } ]"),
        Arc::new(Source(Some(facts(Some(Phase::Pre))))),
        reporter.clone(),
        effects(),
    );
    let verdict = hook.handle(&event(), deadline(20)).await.unwrap();
    assert_eq!(
        verdict.report.as_deref(),
        Some("accepted after 2 attempt(s)")
    );
    assert_eq!(*reporter.0.lock().unwrap(), 2);
}
