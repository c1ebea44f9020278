//! The [`Check`] trait, the measurement loop, and the built-in kinds.
//!
//! A check takes **measurements**; each is a JSON document that the check's
//! [`Expect`] conditions judge. A measurement that could not be taken at all (a
//! timeout, a transport error) is an *error*, not a failure, as in Argo Rollouts'
//! analysis: `failure_limit` tolerates failures, `consecutive_error_limit` errors.

pub mod alarms;
pub mod compare;
pub mod http;
pub mod invoke;
pub mod load;
pub mod metric;

use crate::deployment::{Deployment, Phase};
use crate::expect::Expect;
use crate::summary::{CheckOutcome, CheckStatus, MeasurementRecord, MeasurementResult, Progress};
use async_trait::async_trait;
use serde_json::Value;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub use alarms::AlarmSource;
pub use http::{HttpRequest, HttpResponse, HttpSender, ReqwestSender};
pub use invoke::{InvokeOutput, LambdaInvoker};
pub use metric::{MetricQuery, MetricSource};

use crate::config::FieldError;

/// The outside effects built-in checks use, each behind a trait so tests can fake it.
#[derive(Clone)]
pub struct Effects {
    /// Lambda `Invoke`.
    pub lambda: Arc<dyn LambdaInvoker>,
    /// HTTP requests.
    pub http: Arc<dyn HttpSender>,
    /// CloudWatch `DescribeAlarms`.
    pub alarms: Arc<dyn AlarmSource>,
    /// CloudWatch `GetMetricData`.
    pub metrics: Arc<dyn MetricSource>,
}

/// Validates a kind's section: `raw` as written, `rendered` with placeholder values
/// for its variables (so URLs and the like can be checked).
pub(crate) fn validate_kind(
    kind: &str,
    raw: &Value,
    rendered: &Value,
    path: &str,
) -> Vec<FieldError> {
    match kind {
        "invoke" => invoke::validate(rendered, path),
        "http" => http::validate(raw, rendered, path),
        "compare" => compare::validate(rendered, path),
        "alarms" => alarms::validate(rendered, path),
        "metric" => metric::validate(rendered, path),
        "load" => load::validate(raw, rendered, path),
        other => vec![FieldError {
            path: path.to_owned(),
            message: format!("unknown kind `{other}`"),
        }],
    }
}

/// Whether a kind has a default `expect`.
pub(crate) fn has_default_expect(kind: &str) -> bool {
    kind != "metric"
}

/// Makes the measuring part of a configured check from its rendered section.
pub(crate) fn build_kind(
    kind: &str,
    spec: &Value,
    path: &str,
    deployment: &Deployment,
    timing: Timing,
    effects: &Effects,
) -> Result<Arc<dyn Check>, String> {
    match kind {
        "invoke" => invoke::build(spec, path, deployment, effects),
        "http" => http::build(spec, path, timing, effects),
        "compare" => compare::build(spec, path, deployment, effects),
        "alarms" => alarms::build(spec, path, effects),
        "metric" => metric::build(spec, path, effects),
        "load" => load::build(spec, path, timing, effects),
        other => Err(format!("unknown kind `{other}`")),
    }
}

/// What a check can see while measuring.
#[derive(Debug, Clone)]
pub struct CheckContext {
    /// The deployment being verified.
    pub deployment: Arc<Deployment>,
    /// The check's name.
    pub check: String,
    /// Which measurement this is, from 1.
    pub measurement: u32,
}

/// A measurement that could not be taken.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct MeasureError(pub String);

impl MeasureError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// A verification step. Implement it to add your own kind of check.
///
/// `measure` takes one measurement and returns it as JSON; the runner applies the
/// timeout, the repetitions and the [`Expect`] conditions. Implementations should not
/// retry or sleep on their own: `count`, `interval` and the limits do that, and the
/// runner abandons a measurement at its timeout. Never block the thread (no
/// `std::thread::sleep`, no blocking I/O; use `tokio::task::spawn_blocking`): on a
/// one-vCPU Lambda a blocked thread can keep the deadline timer from firing.
#[async_trait]
pub trait Check: Send + Sync + 'static {
    /// A short name for the kind (`invoke`, `http`, ...), shown in summaries.
    fn kind(&self) -> &'static str;

    /// The conditions used when the config gives none. `None` means a config must
    /// give `expect`.
    fn default_expect(&self) -> Option<&'static str> {
        None
    }

    /// The limit for one measurement, given the configured `timeout`. Kinds whose
    /// measurement lasts on purpose (a load test) add their own duration.
    fn measurement_timeout(&self, configured: Duration) -> Duration {
        configured
    }

    /// Takes one measurement.
    async fn measure(&self, ctx: &CheckContext) -> Result<Value, MeasureError>;
}

/// How often and how patiently a check measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Number of measurements.
    pub count: u32,
    /// Pause between measurements.
    pub interval: Duration,
    /// Pause before the first measurement.
    pub initial_delay: Duration,
    /// Limit for one measurement; a measurement that takes longer is an error.
    pub timeout: Duration,
    /// Failed measurements tolerated; one more fails the check.
    pub failure_limit: u32,
    /// Consecutive measurement errors tolerated; one more fails the check.
    pub consecutive_error_limit: u32,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            count: 1,
            interval: Duration::from_secs(5),
            initial_delay: Duration::ZERO,
            timeout: Duration::from_secs(10),
            failure_limit: 0,
            consecutive_error_limit: 0,
        }
    }
}

/// A check ready to run: what it measures, when it runs and how it is judged.
#[derive(Clone)]
pub struct CheckSpec {
    /// Unique name.
    pub name: String,
    /// The phase it runs in; `None` runs in every phase.
    pub phase: Option<Phase>,
    /// Repetitions and limits.
    pub timing: Timing,
    /// Conditions on each measurement.
    pub expect: Expect,
    /// When set, the check runs and is reported but cannot fail the deployment.
    pub dry_run: bool,
    /// The measuring part.
    pub check: Arc<dyn Check>,
}

impl std::fmt::Debug for CheckSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckSpec")
            .field("name", &self.name)
            .field("kind", &self.check.kind())
            .field("phase", &self.phase)
            .field("timing", &self.timing)
            .field("expect", &self.expect)
            .field("dry_run", &self.dry_run)
            .finish()
    }
}

/// Why a [`CheckSpec`] cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The check has no `expect` and its kind has no default.
    #[error("`expect` is required for {0} checks")]
    ExpectRequired(&'static str),
    /// An `expect` condition does not compile.
    #[error(transparent)]
    Expect(#[from] crate::expect::ExpectError),
}

impl CheckSpec {
    /// A check that runs in every phase with default timing and the kind's default
    /// `expect`. Fails when the kind has no default; use [`CheckSpec::with_expect`].
    pub fn new(name: impl Into<String>, check: impl Check) -> Result<Self, SpecError> {
        Self::from_arc(name.into(), Arc::new(check), None)
    }

    /// A check that runs in every phase with default timing, judged by `conditions`
    /// (JMESPath over each measurement; all must hold).
    pub fn expecting<S: AsRef<str>>(
        name: impl Into<String>,
        check: impl Check,
        conditions: &[S],
    ) -> Result<Self, SpecError> {
        let check: Arc<dyn Check> = Arc::new(check);
        let expect = Expect::compile(conditions)?;
        Ok(Self {
            name: name.into(),
            phase: None,
            timing: Timing::default(),
            expect,
            dry_run: false,
            check,
        })
    }

    pub(crate) fn from_arc(
        name: String,
        check: Arc<dyn Check>,
        expect: Option<&[String]>,
    ) -> Result<Self, SpecError> {
        let expect = match expect {
            Some(texts) if !texts.is_empty() => Expect::compile(texts)?,
            _ => Expect::compile(&[check
                .default_expect()
                .ok_or(SpecError::ExpectRequired(check.kind()))?])?,
        };
        Ok(Self {
            name,
            phase: None,
            timing: Timing::default(),
            expect,
            dry_run: false,
            check,
        })
    }

    /// Replaces the conditions.
    pub fn with_expect<S: AsRef<str>>(mut self, texts: &[S]) -> Result<Self, SpecError> {
        self.expect = Expect::compile(texts)?;
        Ok(self)
    }

    /// Runs only in `phase`.
    pub fn in_phase(mut self, phase: Phase) -> Self {
        self.phase = Some(phase);
        self
    }

    /// Sets repetitions and limits.
    pub fn with_timing(mut self, timing: Timing) -> Self {
        self.timing = timing;
        self
    }

    /// Whether it runs in `phase` (`None`: the phase is unknown, so every check runs).
    pub fn runs_in(&self, phase: Option<Phase>) -> bool {
        Self::phase_matches(self.phase, phase)
    }

    /// Whether a check for `mine` runs in `now` (either `None` matches everything).
    pub fn phase_matches(mine: Option<Phase>, now: Option<Phase>) -> bool {
        match (mine, now) {
            (Some(mine), Some(now)) => mine == now,
            _ => true,
        }
    }
}

/// Measurements taken so far, shared with the runner so a check abandoned at the
/// deadline still shows what it measured.
pub(crate) type Records = Arc<Mutex<Vec<MeasurementRecord>>>;

pub(crate) fn records_snapshot(records: &Records) -> Vec<MeasurementRecord> {
    records
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// Runs one check's measurement loop to its end: `count` measurements, or fewer when a
/// limit is exceeded.
pub(crate) async fn run_check(
    spec: CheckSpec,
    deployment: Arc<Deployment>,
    records: Records,
    progress: Arc<dyn Progress>,
) -> CheckOutcome {
    let started = Instant::now();
    let t = spec.timing;
    let (mut failures, mut errors_in_a_row, mut passes, mut taken) = (0u32, 0u32, 0u32, 0u32);
    let mut verdict: Option<String> = None;
    tokio::time::sleep(t.initial_delay).await;
    for n in 1..=t.count.max(1) {
        if n > 1 {
            tokio::time::sleep(t.interval).await;
        }
        let ctx = CheckContext {
            deployment: deployment.clone(),
            check: spec.name.clone(),
            measurement: n,
        };
        let began = Instant::now();
        let limit = spec.check.measurement_timeout(t.timeout);
        let result = match tokio::time::timeout(limit, spec.check.measure(&ctx)).await {
            Err(_) => MeasurementResult::Error(format!(
                "timed out after {}",
                crate::duration::format(limit)
            )),
            Ok(Err(e)) => MeasurementResult::Error(e.0),
            Ok(Ok(value)) => match spec.expect.first_unmet(&value) {
                Ok(None) => MeasurementResult::Passed { value },
                Ok(Some(cond)) => MeasurementResult::Failed {
                    condition: cond.to_owned(),
                    value,
                },
                Err(e) => MeasurementResult::Error(format!("expect could not be evaluated: {e}")),
            },
        };
        taken += 1;
        let record = MeasurementRecord::new(n, began.elapsed(), result);
        match &record.result {
            MeasurementResult::Passed { .. } => {
                passes += 1;
                errors_in_a_row = 0;
            }
            MeasurementResult::Failed { .. } => {
                failures += 1;
                errors_in_a_row = 0;
            }
            MeasurementResult::Error(_) => errors_in_a_row += 1,
        }
        progress.measured(&spec.name, &record);
        let brief = record.brief();
        records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(record);
        if failures > t.failure_limit {
            verdict = Some(if t.failure_limit == 0 {
                brief
            } else {
                format!(
                    "{failures} failed measurements, more than failure_limit {}; last: {brief}",
                    t.failure_limit
                )
            });
            break;
        }
        if errors_in_a_row > t.consecutive_error_limit {
            verdict = Some(if t.consecutive_error_limit == 0 {
                brief
            } else {
                format!(
                    "{errors_in_a_row} measurement errors in a row, more than consecutive_error_limit {}; last: {brief}",
                    t.consecutive_error_limit
                )
            });
            break;
        }
    }
    if verdict.is_none() && passes + failures == 0 {
        verdict = Some(format!("none of {taken} measurements could be taken"));
    }
    CheckOutcome {
        name: spec.name.clone(),
        kind: spec.check.kind().to_owned(),
        phase: spec.phase,
        status: if verdict.is_some() {
            CheckStatus::Failed
        } else {
            CheckStatus::Passed
        },
        reason: verdict,
        measurements: records_snapshot(&records),
        elapsed: started.elapsed(),
        dry_run: spec.dry_run,
    }
}

/// Milliseconds of a duration as a JSON-friendly float with µs precision.
pub(crate) fn millis(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::NoProgress;
    use serde_json::json;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Answers from a script: Ok(status) or Err, one per measurement.
    struct Scripted {
        script: Vec<Result<u16, &'static str>>,
        calls: AtomicU32,
    }

    #[async_trait]
    impl Check for Scripted {
        fn kind(&self) -> &'static str {
            "scripted"
        }
        fn default_expect(&self) -> Option<&'static str> {
            Some("status == `200`")
        }
        async fn measure(&self, _: &CheckContext) -> Result<Value, MeasureError> {
            let i = self.calls.fetch_add(1, Ordering::SeqCst) as usize;
            match self.script.get(i).copied().unwrap_or(Ok(200)) {
                Ok(s) => Ok(json!({ "status": s })),
                Err(e) => Err(MeasureError::new(e)),
            }
        }
    }

    async fn run(script: Vec<Result<u16, &'static str>>, timing: Timing) -> CheckOutcome {
        let check = Scripted {
            script,
            calls: AtomicU32::new(0),
        };
        let spec = CheckSpec::new("s", check)
            .map(|s| s.with_timing(timing))
            .unwrap_or_else(|e| panic!("{e}"));
        run_check(
            spec,
            Arc::default(),
            Records::default(),
            Arc::new(NoProgress),
        )
        .await
    }

    fn timing(count: u32, failure_limit: u32, consecutive_error_limit: u32) -> Timing {
        Timing {
            count,
            interval: Duration::ZERO,
            failure_limit,
            consecutive_error_limit,
            ..Timing::default()
        }
    }

    #[tokio::test]
    async fn count_three_takes_three_measurements() {
        let o = run(vec![], timing(3, 0, 0)).await;
        assert_eq!(o.status, CheckStatus::Passed);
        assert_eq!(o.measurements.len(), 3);
    }

    #[tokio::test]
    async fn first_failure_fails_without_failure_limit_and_stops() {
        let o = run(vec![Ok(200), Ok(503), Ok(200)], timing(3, 0, 0)).await;
        assert_eq!(o.status, CheckStatus::Failed);
        assert_eq!(o.measurements.len(), 2);
        assert!(o.reason.unwrap_or_default().contains("status == `200`"));
    }

    #[tokio::test]
    async fn failure_limit_tolerates_that_many_failures() {
        let o = run(vec![Ok(503), Ok(200), Ok(200)], timing(3, 1, 0)).await;
        assert_eq!(o.status, CheckStatus::Passed);
        let o = run(vec![Ok(503), Ok(503), Ok(200)], timing(3, 1, 0)).await;
        assert_eq!(o.status, CheckStatus::Failed);
        assert!(o
            .reason
            .unwrap_or_default()
            .contains("more than failure_limit 1"));
    }

    #[tokio::test]
    async fn errors_are_not_failures_and_have_their_own_limit() {
        let o = run(
            vec![Err("conn refused"), Ok(200), Err("conn refused"), Ok(200)],
            timing(4, 0, 1),
        )
        .await;
        assert_eq!(o.status, CheckStatus::Passed, "{:?}", o.reason);
        let o = run(vec![Ok(200), Err("a"), Err("b")], timing(3, 0, 1)).await;
        assert_eq!(o.status, CheckStatus::Failed);
        assert!(o
            .reason
            .unwrap_or_default()
            .contains("2 measurement errors in a row"));
    }

    #[tokio::test]
    async fn tolerated_errors_alone_are_no_evidence() {
        let o = run(vec![Err("a"), Err("b")], timing(2, 0, 5)).await;
        assert_eq!(o.status, CheckStatus::Failed);
        assert_eq!(
            o.reason.as_deref(),
            Some("none of 2 measurements could be taken")
        );
    }
}
