//! The hook driven in memory: fakes behind its traits, no network, no processes.
//! Timed tests run on tokio's paused clock.

use super::*;
use crate::check::kind::{BuildContext, BuildError, Kind, Section};
use crate::check::{Check, CheckContext, Kinds, MeasureError};
use crate::deployment::{Facts, Phase};
use crate::diag::Errors;
use crate::event::HookEvent;
use crate::report::{ReportError, Status};
use crate::summary::{CheckStatus, MeasurementResult};
use crate::testing::{effects, event, facts, Reports, Source};
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Mutex;

fn deadline(secs: u64) -> SystemTime {
    SystemTime::now() + Duration::from_secs(secs)
}

/// `panics: {}`: a kind whose measurement panics.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Panics {}

struct PanicsCheck;

#[async_trait]
impl Check for PanicsCheck {
    async fn measure(&self, _: &CheckContext) -> Result<Value, MeasureError> {
        panic!("the check blew up");
    }
}

impl Kind for Panics {
    const NAME: &'static str = "panics";
    fn parse(section: &Section<'_>, errors: &mut Errors) -> Option<Self> {
        section.deserialize(errors)
    }
    fn default_expect(&self) -> Option<&'static str> {
        Some("`true`")
    }
    fn build(self, _: &BuildContext<'_>) -> Result<Arc<dyn Check>, BuildError> {
        Ok(Arc::new(PanicsCheck))
    }
}

/// `hangs: {}`: a kind whose measurement never ends.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Hangs {}

struct HangsCheck;

#[async_trait]
impl Check for HangsCheck {
    async fn measure(&self, _: &CheckContext) -> Result<Value, MeasureError> {
        std::future::pending().await
    }
}

impl Kind for Hangs {
    const NAME: &'static str = "hangs";
    fn parse(section: &Section<'_>, errors: &mut Errors) -> Option<Self> {
        section.deserialize(errors)
    }
    fn default_expect(&self) -> Option<&'static str> {
        Some("`true`")
    }
    fn build(self, _: &BuildContext<'_>) -> Result<Arc<dyn Check>, BuildError> {
        Ok(Arc::new(HangsCheck))
    }
}

/// `target: { prefix: v }`: a kind that measures the deployment's target version.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Target {
    prefix: String,
}

struct TargetCheck(String);

#[async_trait]
impl Check for TargetCheck {
    async fn measure(&self, ctx: &CheckContext) -> Result<Value, MeasureError> {
        let target = ctx
            .deployment
            .facts
            .target_version
            .clone()
            .unwrap_or_default();
        Ok(json!({ "target": format!("{}{target}", self.0) }))
    }
}

impl Kind for Target {
    const NAME: &'static str = "target";
    fn parse(section: &Section<'_>, errors: &mut Errors) -> Option<Self> {
        section.deserialize(errors)
    }
    fn build(self, _: &BuildContext<'_>) -> Result<Arc<dyn Check>, BuildError> {
        Ok(Arc::new(TargetCheck(self.prefix)))
    }
}

fn kinds() -> Kinds {
    Kinds::builtin()
        .with::<Panics>()
        .with::<Hangs>()
        .with::<Target>()
}

fn hook(config: &str, phase: Option<Phase>, reports: Arc<Reports>) -> Hook {
    Hook::new(
        Config::parse(config, &kinds()),
        Arc::new(Source(Some(facts(phase)))),
        reports,
        effects(),
    )
}

#[tokio::test]
async fn a_panicking_check_fails_with_its_message_and_the_others_still_run() {
    let reports = Arc::new(Reports::default());
    let hook = hook(
        "checks: [ { name: smoke, invoke: {} }, { name: boom, panics: {} } ]",
        Some(Phase::Pre),
        reports.clone(),
    );
    let verdict = hook.handle(&event(), deadline(10)).await.unwrap();
    assert_eq!(verdict.status, Status::Failed);
    assert_eq!(verdict.checks[0].name, "smoke");
    assert!(verdict.checks[0].reason.is_none(), "smoke passed");
    assert_eq!(
        verdict.checks[1].reason.as_deref(),
        Some("panicked: the check blew up")
    );
    assert_eq!(reports.statuses(), [Status::Failed]);
}

#[tokio::test]
async fn a_kind_of_our_own_is_configured_like_a_builtin() {
    let reports = Arc::new(Reports::default());
    let config = r#"
checks:
  - { name: smoke, invoke: {} }
  - { name: ours, phase: pre, target: { prefix: v }, expect: "target == 'v2'", count: 2, interval: 1ms }
"#;
    let verdict = hook(config, Some(Phase::Pre), reports.clone())
        .handle(&event(), deadline(10))
        .await
        .unwrap();
    assert_eq!(verdict.status, Status::Succeeded, "{}", verdict.reason);
    assert_eq!(verdict.checks[1].kind, "target");
    assert_eq!(verdict.checks[1].counts().taken(), 2);
    let missing_expect = Config::parse("checks: [ { name: t, target: { prefix: v } } ]", &kinds());
    assert_eq!(
        missing_expect.unwrap_err().errors[0].to_string(),
        "checks[0].expect: required for target checks"
    );
    let typo = Config::parse(
        "checks: [ { name: t, target: { prefx: v }, expect: '`true`' } ]",
        &kinds(),
    );
    assert!(typo.unwrap_err().errors[0]
        .to_string()
        .starts_with("checks[0].target.prefx: unknown field `prefx`"),);
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
        verdict.checks.iter().all(|c| c.counts().taken() == 1),
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
    assert_eq!(reports.statuses(), [Status::Succeeded]);
}

#[tokio::test(start_paused = true)]
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
    assert_eq!(reports.statuses(), [Status::Failed]);
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
    assert_eq!(reports.statuses(), [Status::Succeeded]);
}

#[tokio::test(start_paused = true)]
async fn a_check_that_cannot_finish_in_time_is_noted_at_the_start() {
    let reports = Arc::new(Reports::default());
    let config =
        "report_reserve: 2s\nchecks: [ { name: slow, invoke: {}, count: 10, interval: 5s } ]";
    let verdict = hook(config, Some(Phase::Pre), reports)
        .handle(&event(), deadline(30))
        .await
        .unwrap();
    assert!(
        verdict
            .deployment
            .notes
            .iter()
            .any(|n| n.starts_with("check `slow` may take up to 2m25s at worst")),
        "{:?}",
        verdict.deployment.notes
    );
}

async fn verdict(config: &str, facts: Facts) -> crate::summary::Verdict {
    let reports = Arc::new(Reports::default());
    Hook::new(
        Config::parse(config, &kinds()),
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
        reason.contains("length(differences) = 2"),
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

#[tokio::test(start_paused = true)]
async fn alarms_with_count_bake_for_the_whole_window() {
    let started = Instant::now();
    let v = verdict(
        "checks: [ { name: bake, alarms: { names: [a-ok] }, count: 3, interval: 5s } ]",
        facts(Some(Phase::Post)),
    )
    .await;
    assert_eq!(v.status, Status::Succeeded);
    assert_eq!(v.checks[0].counts().taken(), 3);
    assert!(started.elapsed() >= Duration::from_secs(10));
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
    use CheckStatus::{Failed, Passed};
    assert_eq!(statuses, [Passed, Passed, Failed], "{}", v.reason);
}

#[tokio::test(start_paused = true)]
async fn load_measures_requests_and_latency_percentiles() {
    let config = "checks: [ { name: load, load: { http: { url: 'https://x/' }, rate: 100, duration: 300ms } } ]";
    let v = verdict(config, facts(Some(Phase::Post))).await;
    assert_eq!(v.status, Status::Succeeded, "{}", v.reason);
    let first = v.checks[0]
        .measurements
        .records()
        .next()
        .map(|r| r.result.clone());
    let Some(MeasurementResult::Passed { value }) = &first else {
        panic!("{:?}", v.checks[0]);
    };
    assert_eq!(value["requests"], 30);
    assert_eq!(value["errors"], 0);
    assert!(value["latency_ms"]["p99"].as_f64().is_some(), "{value}");
}

#[tokio::test(start_paused = true)]
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

#[tokio::test(start_paused = true)]
async fn a_config_built_in_code_with_no_reserve_still_leaves_time_to_report() {
    let reports = Arc::new(Reports::default());
    let mut config = Config::parse(
        "checks: [ { name: hangs, hangs: {}, timeout: 60s } ]",
        &kinds(),
    )
    .unwrap();
    config.report_reserve = Duration::ZERO;
    let hook = Hook::new(
        Ok(config),
        Arc::new(Source(Some(facts(Some(Phase::Pre))))),
        reports.clone(),
        effects(),
    );
    let started = Instant::now();
    let verdict = hook.handle(&event(), deadline(3)).await.unwrap();
    // The floor: checks stop MIN_REPORT_RESERVE + RESPONSE_MARGIN before the deadline.
    let reserve = MIN_REPORT_RESERVE + RESPONSE_MARGIN;
    assert!(
        started.elapsed() <= Duration::from_secs(3) - reserve + Duration::from_millis(50),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(verdict.status, Status::Failed);
    assert_eq!(reports.statuses(), [Status::Failed]);
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

#[tokio::test(start_paused = true)]
async fn a_stalled_report_attempt_is_abandoned_and_retried() {
    let reporter = Arc::new(StallsOnce::default());
    let hook = Hook::new(
        Config::parse("checks: [ { name: a, invoke: {} } ]", &kinds()),
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

fn spec_taking(name: &str, timeout: Duration) -> CheckSpec {
    CheckSpec {
        name: name.to_owned(),
        kind: "hangs",
        phase: None,
        functions: None,
        timing: crate::check::Timing {
            timeout,
            ..crate::check::Timing::default()
        },
        expect: crate::expect::Expect::compile(&["`true`"]).unwrap(),
        until: None,
        dry_run: false,
        check: Arc::new(HangsCheck),
        redactor: crate::redact::Redactor::default(),
        user_kind: false,
    }
}

#[test]
fn a_check_is_noted_only_when_its_worst_case_is_longer_than_the_time_left() {
    let fits = spec_taking("fits", Duration::from_secs(10));
    let long = spec_taking("long", Duration::from_millis(10_001));
    let notes = timing_notes([&fits, &long].into_iter(), Duration::from_secs(10));
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].starts_with("check `long` may take up to 10.0s at worst, more than the 10s left"),
        "{notes:?}"
    );
}

#[test]
fn invocation_errors_carry_their_type_and_message() {
    let d = lambda_runtime::Diagnostic::from(HookError::Event(crate::event::EventError::Missing(
        "DeploymentId",
    )));
    assert_eq!(d.error_type, "traffic_hook::InvalidEvent");
    assert!(
        d.error_message.contains("DeploymentId"),
        "{}",
        d.error_message
    );
    let d = lambda_runtime::Diagnostic::from(HookError::NotReported {
        status: "Failed",
        error: "AccessDenied".into(),
    });
    assert_eq!(d.error_type, "traffic_hook::NotReported");
    assert_eq!(
        d.error_message,
        "verdict Failed could not be reported to CodeDeploy: AccessDenied"
    );
}

#[tokio::test(start_paused = true)]
async fn interrupting_stops_the_checks_in_flight_and_they_are_still_reported() {
    let reports = Arc::new(Reports::default());
    let hook = Arc::new(hook(
        "checks: [ { name: hangs, hangs: {}, timeout: 5m } ]",
        Some(Phase::Pre),
        reports.clone(),
    ));
    let started = Instant::now();
    let running = {
        let hook = hook.clone();
        tokio::spawn(async move { hook.handle(&event(), deadline(600)).await })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    hook.interrupt();
    hook.wait_idle(Duration::from_secs(60)).await;
    assert!(running.is_finished(), "waited until the invocation ended");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let verdict = running.await.unwrap().unwrap();
    assert!(
        verdict.checks[0]
            .reason
            .as_deref()
            .unwrap_or_default()
            .starts_with("interrupted: the hook was told to stop (SIGTERM) while it ran"),
        "{:?}",
        verdict.checks[0]
    );
    assert_eq!(reports.statuses(), [Status::Failed]);
}

#[tokio::test(start_paused = true)]
async fn waiting_for_idle_returns_at_once_when_nothing_is_in_flight() {
    let hook = hook(SMOKE, Some(Phase::Pre), Arc::default());
    let started = Instant::now();
    hook.wait_idle(Duration::from_secs(60)).await;
    assert_eq!(started.elapsed(), Duration::ZERO);
}

const SMOKE: &str = "checks: [ { name: smoke, invoke: {} } ]";

fn event_n(n: usize) -> Value {
    json!({"DeploymentId": "d-1", "LifecycleEventHookExecutionId": format!("e-{n}")})
}

#[tokio::test]
async fn a_duplicate_delivery_gets_the_first_answer_without_a_second_report() {
    let reports = Arc::new(Reports::default());
    let hook = hook(
        "checks: [ { name: a, invoke: {}, expect: \"payload.ok == `false`\" } ]",
        Some(Phase::Pre),
        reports.clone(),
    );
    let first = hook.handle(&event(), deadline(10)).await.unwrap();
    let again = hook.handle(&event(), deadline(10)).await.unwrap();
    assert_eq!(again.status, Status::Failed);
    assert_eq!(again.reason, first.reason);
    assert_eq!(
        again.report.as_deref(),
        Some("already reported by this process (duplicate delivery)")
    );
    assert_eq!(reports.statuses(), [Status::Failed]);
}

#[tokio::test]
async fn the_last_64_events_are_remembered_and_older_ones_forgotten() {
    let reports = Arc::new(Reports::default());
    let hook = hook(SMOKE, Some(Phase::Pre), reports.clone());
    for n in 0..64 {
        hook.handle(&event_n(n), deadline(10)).await.unwrap();
    }
    hook.handle(&event_n(0), deadline(10)).await.unwrap();
    assert_eq!(
        reports.statuses().len(),
        64,
        "the first is still remembered"
    );
    hook.handle(&event_n(64), deadline(10)).await.unwrap();
    hook.handle(&event_n(0), deadline(10)).await.unwrap();
    assert_eq!(
        reports.statuses().len(),
        66,
        "the first was forgotten and rerun"
    );
}

#[tokio::test]
async fn an_early_failure_names_the_deployment() {
    let reports = Arc::new(Reports::default());
    let verdict = hook("checks: []", Some(Phase::Pre), reports.clone())
        .handle(&event(), deadline(10))
        .await
        .unwrap();
    assert_eq!(verdict.deployment.deployment_id.as_deref(), Some("d-1"));
    assert!(
        verdict.reason.starts_with("invalid config"),
        "{}",
        verdict.reason
    );
    assert_eq!(reports.statuses(), [Status::Failed]);
}

/// Refuses every report.
struct Refuses;

#[async_trait]
impl Reporter for Refuses {
    async fn put_status(&self, _: &HookEvent, _: Status) -> Result<(), ReportError> {
        Err(ReportError::Fatal("AccessDeniedException: no".into()))
    }
}

#[tokio::test]
async fn a_refused_report_is_an_invocation_error() {
    let hook = Hook::new(
        Config::parse(SMOKE, &kinds()),
        Arc::new(Source(Some(facts(Some(Phase::Pre))))),
        Arc::new(Refuses),
        effects(),
    );
    let err = hook.handle(&event(), deadline(10)).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "verdict Succeeded could not be reported to CodeDeploy: AccessDeniedException: no"
    );
}

#[tokio::test]
async fn a_check_of_another_phase_is_skipped_and_says_so() {
    let verdict = hook(
        "checks: [ { name: later, phase: post, invoke: {} }, { name: now, phase: pre, invoke: {} } ]",
        Some(Phase::Pre),
        Arc::default(),
    )
    .handle(&event(), deadline(10))
    .await
    .unwrap();
    assert_eq!(verdict.checks[0].status, CheckStatus::Skipped);
    assert_eq!(
        verdict.checks[0].reason.as_deref(),
        Some("runs in phase post")
    );
    assert_eq!(verdict.checks[0].counts().taken(), 0);
    assert_eq!(verdict.checks[1].status, CheckStatus::Passed);
}
