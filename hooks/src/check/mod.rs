//! The [`Check`] trait, the measurement loop, and the built-in kinds.
//!
//! A check takes **measurements**; each is a JSON document that the check's
//! [`Expect`] conditions judge. A measurement that could not be taken at all (a
//! timeout, a transport error) is an *error*, not a failure, as in Argo Rollouts'
//! analysis: `failure_limit` tolerates failures, `consecutive_error_limit` errors.
//!
//! Each built-in kind is one file with its section, validation, construction and
//! measurement, and one line in [`BUILTIN`].

pub(crate) mod alarms;
pub(crate) mod approval;
pub(crate) mod compare;
pub(crate) mod http;
pub(crate) mod invoke;
pub(crate) mod kind;
pub(crate) mod load;
pub(crate) mod metric;

use crate::bounded::Measurements;
use crate::deployment::{Deployment, Phase};
use crate::error::EffectError;
use crate::expect::Expect;
use crate::measurement::{MeasurementRecord, MeasurementResult};
use crate::redact::Redactor;
use crate::summary::{CheckOutcome, CheckStatus, NoProgress, Progress};
use async_trait::async_trait;
#[cfg(feature = "aws")]
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
#[cfg(feature = "aws")]
use aws_smithy_runtime_api::client::result::SdkError;
#[cfg(feature = "aws")]
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde_json::Value;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

pub(crate) use alarms::AlarmSource;
pub(crate) use approval::ApprovalStore;
#[cfg(feature = "aws")]
pub(crate) use http::Method;
pub(crate) use http::{HttpReply, HttpRequest, HttpSender, Repeater};
pub(crate) use invoke::{InvokeOutput, LambdaInvoker};
pub(crate) use kind::{BuildContext, DynKind, Kinds, Section};
pub(crate) use metric::{MetricQuery, MetricSource};

/// The built-in kinds, in the order the docs list them. Adding a kind is one file and
/// one line here.
pub(crate) fn builtin(kinds: Kinds) -> Kinds {
    kinds
        .with::<invoke::Invoke>()
        .with::<http::Http>()
        .with::<compare::Compare>()
        .with::<alarms::Alarms>()
        .with::<metric::Metric>()
        .with::<load::Load>()
        .with::<approval::Approval>()
}

/// The outside effects built-in checks use, each behind a trait so tests can fake it.
#[derive(Clone)]
pub(crate) struct Effects {
    /// Lambda `Invoke`.
    pub(crate) lambda: Arc<dyn LambdaInvoker>,
    /// HTTP requests.
    pub(crate) http: Arc<dyn HttpSender>,
    /// CloudWatch `DescribeAlarms`.
    pub(crate) alarms: Arc<dyn AlarmSource>,
    /// CloudWatch `GetMetricData`.
    pub(crate) metrics: Arc<dyn MetricSource>,
    /// SSM parameters holding approvals.
    pub(crate) approvals: Arc<dyn ApprovalStore>,
    /// The hook's own function and version, in Lambda: `load.workers` invokes it.
    pub(crate) own_function: Option<(String, Option<String>)>,
    /// The shared AWS SDK config and clients, for kinds that build clients of their own.
    #[cfg(feature = "aws")]
    pub(crate) aws: Option<Arc<crate::sdk::Aws>>,
    /// Values kinds make once per process (their SDK clients).
    pub(crate) shared: kind::Shared,
}

impl Effects {
    /// Effects that fail every call: for building checks without running them
    /// (`validate --timeout` works out worst cases this way).
    pub(crate) fn inert() -> Self {
        let inert = Arc::new(Inert);
        Self {
            lambda: inert.clone(),
            http: inert.clone(),
            alarms: inert.clone(),
            metrics: inert.clone(),
            approvals: inert,
            own_function: None,
            #[cfg(feature = "aws")]
            aws: None,
            shared: kind::Shared::default(),
        }
    }
}

struct Inert;

#[async_trait]
impl LambdaInvoker for Inert {
    async fn invoke(&self, _: &str, _: &str, _: Vec<u8>) -> Result<InvokeOutput, EffectError> {
        Err(EffectError::new("Invoke", "not available here"))
    }
}

#[async_trait]
impl HttpSender for Inert {
    async fn send(&self, _: &HttpRequest) -> Result<HttpReply, EffectError> {
        Err(EffectError::new("HTTP", "not available here"))
    }
}

#[async_trait]
impl AlarmSource for Inert {
    async fn alarms(
        &self,
        _: &[String],
        _: Option<&str>,
    ) -> Result<Vec<(String, String)>, EffectError> {
        Err(EffectError::new("DescribeAlarms", "not available here"))
    }
}

#[async_trait]
impl ApprovalStore for Inert {
    async fn read(&self, _: &str) -> Result<Option<String>, EffectError> {
        Err(EffectError::new("GetParameter", "not available here"))
    }

    async fn write(&self, _: &str, _: &str) -> Result<(), EffectError> {
        Err(EffectError::new("PutParameter", "not available here"))
    }
}

#[async_trait]
impl MetricSource for Inert {
    async fn datapoints(&self, _: &MetricQuery) -> Result<Vec<(i64, f64)>, EffectError> {
        Err(EffectError::new("GetMetricData", "not available here"))
    }
}

/// What a check can see while measuring.
#[derive(Clone)]
pub struct CheckContext {
    /// The deployment being verified.
    pub deployment: Arc<Deployment>,
    /// The check's name.
    pub check: String,
    /// Which measurement this is, from 1.
    pub measurement: u32,
    progress: Arc<dyn Progress>,
}

impl std::fmt::Debug for CheckContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckContext")
            .field("deployment", &self.deployment)
            .field("check", &self.check)
            .field("measurement", &self.measurement)
            .finish_non_exhaustive()
    }
}

impl CheckContext {
    /// The context of the first measurement of `check` for `deployment` (tests of a
    /// check call [`Check::measure`] with it directly).
    pub fn new(deployment: Deployment, check: &str) -> Self {
        Self {
            deployment: Arc::new(deployment),
            check: check.to_owned(),
            measurement: 1,
            progress: Arc::new(NoProgress),
        }
    }

    /// Says how a long measurement is going (a load test's rate so far, say): shown
    /// by terminal runs, logged at debug level in Lambda. About once a second is plenty.
    pub fn progress(&self, line: &str) {
        self.progress.update(&self.check, line);
    }
}

/// A measurement that could not be taken: an error, not a failure.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct MeasureError(String);

impl MeasureError {
    /// An error with this message (one line; line breaks are folded).
    pub fn new(message: impl Into<String>) -> Self {
        Self(crate::error::one_line(&message.into()))
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl From<EffectError> for MeasureError {
    fn from(e: EffectError) -> Self {
        Self(e.to_string())
    }
}

#[cfg(feature = "aws")]
/// Any AWS SDK error reads as `Code: message` (a service error) or its chain of
/// causes (a transport error), never as the SDK's debug dump; so `?` works on SDK calls
/// inside [`Check::measure`].
impl<E> From<SdkError<E, HttpResponse>> for MeasureError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
{
    fn from(e: SdkError<E, HttpResponse>) -> Self {
        Self(crate::error::describe_sdk(&e).0)
    }
}

/// The measuring part of a check. Implement it (and a [`Kind`](crate::Kind) that
/// builds it) to add your own kind of check.
///
/// `measure` takes one measurement and returns it as JSON; the runner applies the
/// timeout, the repetitions and the `expect` conditions. Implementations should not
/// retry or sleep on their own: `count`, `interval` and the limits do that, and the
/// runner abandons a measurement at its timeout. Never block the thread (no
/// `std::thread::sleep`, no blocking I/O, no long computation; use
/// `tokio::task::spawn_blocking`). In Lambda a user's kinds run on a runtime apart from
/// the hook's thread, so a blocked thread cannot stop the deadline, but it holds one of
/// that runtime's workers and slows the other checks of users' kinds.
#[async_trait]
pub trait Check: Send + Sync + 'static {
    /// The limit for one measurement, given the configured `timeout`. Kinds whose
    /// measurement lasts on purpose (a load test) add their own duration.
    fn measurement_timeout(&self, configured: Duration) -> Duration {
        configured
    }

    /// Takes one measurement.
    async fn measure(&self, ctx: &CheckContext) -> Result<Value, MeasureError>;

    /// What a failed measurement's reason adds to the condition that was not met
    /// (an approval's rejecter and reason, say). None by default.
    fn failure_detail(&self, _value: &Value) -> Option<String> {
        None
    }
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

impl Timing {
    /// The longest the measurement loop can take when every measurement runs to
    /// `limit`: the initial delay, `count` measurements and the intervals between them.
    pub(crate) fn worst_case(&self, limit: Duration) -> Duration {
        let n = self.count.max(1);
        self.initial_delay + limit * n + self.interval * (n - 1)
    }
}

/// Which functions a check is for: shell-style globs over the deployed function's name
/// (`orders-*`, `billing-api`). A check without them is for every function.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Functions(Vec<glob::Pattern>);

impl Functions {
    /// Compiles `globs`, each error naming its index.
    pub(crate) fn new(globs: &[String]) -> Result<Self, (usize, String)> {
        globs
            .iter()
            .enumerate()
            .map(|(i, g)| {
                if g.trim().is_empty() {
                    return Err((i, "must not be empty".to_owned()));
                }
                glob::Pattern::new(g).map_err(|e| (i, format!("`{g}` is not a glob: {}", e.msg)))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Whether `function` (a name, or an ARN whose name is taken) is one of them.
    pub(crate) fn matches(&self, function: &str) -> bool {
        let name = crate::deployment::function_name(function);
        self.0.iter().any(|p| p.matches(name))
    }
}

impl std::fmt::Display for Functions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let globs: Vec<&str> = self.0.iter().map(glob::Pattern::as_str).collect();
        f.write_str(&globs.join(", "))
    }
}

/// The `count` of a check with `until` and no `count` of its own: it measures until
/// `until` holds, bounded by the time it has.
pub(crate) const UNTIL_HOLDS: u32 = u32::MAX;

/// A check ready to run: what it measures, when it runs and how it is judged.
#[derive(Clone)]
pub(crate) struct CheckSpec {
    /// Unique name.
    pub(crate) name: String,
    /// The kind's name.
    pub(crate) kind: &'static str,
    /// The phase it runs in; `None` runs in every phase.
    pub(crate) phase: Option<Phase>,
    /// Repetitions and limits.
    pub(crate) timing: Timing,
    /// Conditions on each measurement.
    pub(crate) expect: Expect,
    /// Measure until this holds, then judge that measurement with `expect`.
    pub(crate) until: Option<Expect>,
    /// When set, the check runs and is reported but cannot fail the deployment.
    pub(crate) dry_run: bool,
    /// The measuring part.
    pub(crate) check: Arc<dyn Check>,
    /// Scrubs the values its config filled from `{{env.*}}` out of what is shown.
    pub(crate) redactor: Redactor,
    /// The functions it is for; `None`: every function.
    pub(crate) functions: Option<Functions>,
    /// Its kind is a user's: it runs apart from the hook's thread (`check_runtime`).
    pub(crate) user_kind: bool,
}

impl std::fmt::Debug for CheckSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckSpec")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("phase", &self.phase)
            .field("timing", &self.timing)
            .field("expect", &self.expect)
            .field("until", &self.until)
            .field("dry_run", &self.dry_run)
            .finish()
    }
}

impl CheckSpec {
    /// Whether it runs in `phase` (`None`: the phase is unknown, so every check runs).
    pub(crate) fn runs_in(&self, phase: Option<Phase>) -> bool {
        phase_matches(self.phase, phase)
    }

    /// Whether it is for `function` (`None`: unknown, so it runs: more checking is the
    /// safe side).
    pub(crate) fn is_for(&self, function: Option<&str>) -> bool {
        match (&self.functions, function) {
            (Some(globs), Some(f)) => globs.matches(f),
            _ => true,
        }
    }

    /// Whether it waits for its `until` with no `count` to bound it: a gate.
    pub(crate) fn waits_until_it_holds(&self) -> bool {
        self.until.is_some() && self.timing.count == UNTIL_HOLDS
    }

    /// The longest its measurement loop can take.
    pub(crate) fn worst_case(&self) -> Duration {
        self.timing
            .worst_case(self.check.measurement_timeout(self.timing.timeout))
    }
}

/// Whether a check for `mine` runs in `now` (either `None` matches everything).
pub(crate) fn phase_matches(mine: Option<Phase>, now: Option<Phase>) -> bool {
    match (mine, now) {
        (Some(mine), Some(now)) => mine == now,
        _ => true,
    }
}

/// Measurements taken so far, shared with the runner so a check abandoned at the
/// deadline still shows what it measured.
pub(crate) type Records = Arc<Mutex<Measurements>>;

pub(crate) fn records_snapshot(records: &Records) -> Measurements {
    records
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// Where a check resumes in a continuation: the wait before its next measurement and
/// the time it spent measuring in earlier invocations. The default starts afresh.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Resume {
    /// Wait this long before the first measurement of this invocation (instead of
    /// `initial_delay` or `interval`).
    pub(crate) wait: Option<Duration>,
    /// Time spent in earlier invocations.
    pub(crate) elapsed: Duration,
}

/// Runs one check's measurement loop to its end: `count` measurements, or fewer when a
/// limit is exceeded. `records` may hold the measurements of earlier invocations (a
/// continuation): the loop goes on from the next one, with their counts.
pub(crate) async fn run_check(
    spec: CheckSpec,
    deployment: Arc<Deployment>,
    records: Records,
    progress: Arc<dyn Progress>,
    resume: Resume,
) -> CheckOutcome {
    let started = Instant::now();
    let t = spec.timing;
    let (mut failures, mut errors_in_a_row, mut passes, mut taken) = {
        let m = records.lock().unwrap_or_else(PoisonError::into_inner);
        let c = m.counts();
        (c.failed, m.errors_in_a_row(), c.passed, c.taken())
    };
    let mut verdict: Option<String> = None;
    let count = t.count.max(1);
    let first = taken.saturating_add(1);
    let mut wait = match resume.wait {
        Some(w) => w,
        None if first == 1 => t.initial_delay,
        None => t.interval,
    };
    for n in first..=count {
        // tokio's timer rounds a sleep up to its next millisecond tick, even a sleep of
        // zero: without a wait, measure at once.
        if !wait.is_zero() {
            let what = if n == 1 {
                "the first measurement (initial_delay)".to_owned()
            } else {
                format!("measurement {n} of {} (interval)", count_shown(count))
            };
            progress.waiting(&spec.name, &what, wait);
            tokio::time::sleep(wait).await;
        }
        wait = t.interval;
        let ctx = CheckContext {
            deployment: deployment.clone(),
            check: spec.name.clone(),
            measurement: n,
            progress: progress.clone(),
        };
        let began = Instant::now();
        let limit = spec.check.measurement_timeout(t.timeout);
        let result = match tokio::time::timeout(limit, spec.check.measure(&ctx)).await {
            Err(_) => MeasurementResult::Error(format!(
                "timed out after {}",
                crate::duration::format(limit)
            )),
            Ok(Err(e)) => MeasurementResult::Error(e.0),
            Ok(Ok(value)) => judge(&spec, value),
        };
        taken += 1;
        // A measurement judged after `until` held ends the check, pass or fail.
        let until_held = spec.until.is_some()
            && matches!(
                result,
                MeasurementResult::Passed { .. } | MeasurementResult::Failed { .. }
            );
        let detail = match &result {
            MeasurementResult::Failed { value, .. } => spec.check.failure_detail(value),
            _ => None,
        };
        let record = MeasurementRecord::new(n, began.elapsed(), result, &spec.redactor);
        match &record.result {
            MeasurementResult::Passed { .. } => {
                passes += 1;
                errors_in_a_row = 0;
            }
            MeasurementResult::Failed { .. } => {
                failures += 1;
                errors_in_a_row = 0;
            }
            MeasurementResult::Waiting { .. } => errors_in_a_row = 0,
            MeasurementResult::Error(_) => errors_in_a_row += 1,
        }
        progress.measured(&spec.name, &record);
        let mut brief = record.brief();
        if let Some(detail) = detail {
            brief = format!("{brief} ({})", spec.redactor.scrub(&detail));
        }
        records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(record);
        if until_held {
            if failures > 0 {
                verdict = Some(brief);
            }
            break;
        }
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
    let last = || {
        records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last()
            .map(MeasurementRecord::brief)
            .unwrap_or_default()
    };
    if verdict.is_none() && passes + failures == 0 {
        verdict = Some(match &spec.until {
            Some(until) => format!(
                "until {} did not hold in {taken} measurements; last: {}",
                until.describe(),
                last()
            ),
            None => format!(
                "none of {taken} measurements could be taken; last: {}",
                last()
            ),
        });
    }
    CheckOutcome {
        name: spec.name.clone(),
        kind: spec.kind.to_owned(),
        phase: spec.phase,
        status: if verdict.is_some() {
            CheckStatus::Failed
        } else {
            CheckStatus::Passed
        },
        reason: verdict,
        measurements: records_snapshot(&records),
        elapsed: resume.elapsed + started.elapsed(),
        dry_run: spec.dry_run,
    }
}

/// A count as shown: `until it holds` for a gate's.
fn count_shown(count: u32) -> String {
    if count == UNTIL_HOLDS {
        "until it holds".to_owned()
    } else {
        count.to_string()
    }
}

/// How one measurement turned out: waiting while `until` does not hold, then judged
/// by `expect`.
fn judge(spec: &CheckSpec, value: Value) -> MeasurementResult {
    if let Some(until) = &spec.until {
        match until.first_unmet(&value) {
            Ok(None) => {}
            Ok(Some(unmet)) => {
                return MeasurementResult::Waiting {
                    condition: unmet.condition,
                    looked_at: unmet.looked_at,
                    value,
                }
            }
            Err(e) => {
                return MeasurementResult::Error(format!("until could not be evaluated: {e}"))
            }
        }
    }
    match spec.expect.first_unmet(&value) {
        Ok(None) => MeasurementResult::Passed { value },
        Ok(Some(unmet)) => MeasurementResult::Failed {
            condition: unmet.condition,
            looked_at: unmet.looked_at,
            value,
        },
        Err(e) => MeasurementResult::Error(format!("expect could not be evaluated: {e}")),
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
        async fn measure(&self, _: &CheckContext) -> Result<Value, MeasureError> {
            let i = self.calls.fetch_add(1, Ordering::SeqCst) as usize;
            match self.script.get(i).copied().unwrap_or(Ok(200)) {
                Ok(s) => Ok(json!({ "status": s })),
                Err(e) => Err(MeasureError::new(e)),
            }
        }
    }

    pub(crate) fn spec(name: &str, check: impl Check, expect: &str, timing: Timing) -> CheckSpec {
        CheckSpec {
            name: name.to_owned(),
            kind: "scripted",
            phase: None,
            timing,
            expect: Expect::compile(&[expect]).unwrap_or_else(|e| panic!("{e}")),
            until: None,
            dry_run: false,
            check: Arc::new(check),
            redactor: Redactor::default(),
            functions: None,
            user_kind: false,
        }
    }

    async fn run(script: Vec<Result<u16, &'static str>>, timing: Timing) -> CheckOutcome {
        let check = Scripted {
            script,
            calls: AtomicU32::new(0),
        };
        run_check(
            spec("s", check, "status == `200`", timing),
            Arc::default(),
            Records::default(),
            Arc::new(NoProgress),
            Resume::default(),
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
        assert_eq!(o.counts().taken(), 3);
    }

    #[tokio::test]
    async fn first_failure_fails_without_failure_limit_and_stops() {
        let o = run(vec![Ok(200), Ok(503), Ok(200)], timing(3, 0, 0)).await;
        assert_eq!(o.status, CheckStatus::Failed);
        assert_eq!(o.counts().taken(), 2);
        let reason = o.reason.unwrap_or_default();
        assert!(
            reason.contains("expect `status == `200`` not met: status = 503"),
            "{reason}"
        );
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
            Some("none of 2 measurements could be taken; last: measurement 2: error: b")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn intervals_and_the_initial_delay_pass_on_the_clock() {
        let t = Timing {
            count: 3,
            interval: Duration::from_secs(30),
            initial_delay: Duration::from_secs(60),
            ..Timing::default()
        };
        let started = Instant::now();
        let o = run(vec![], t).await;
        assert_eq!(o.counts().taken(), 3);
        assert_eq!(started.elapsed(), Duration::from_secs(120));
        assert_eq!(t.worst_case(t.timeout), Duration::from_secs(150));
    }

    /// Answers `{state}` from a script, one per measurement; then the last again.
    struct States(Vec<Result<&'static str, &'static str>>, AtomicU32);

    #[async_trait]
    impl Check for States {
        async fn measure(&self, _: &CheckContext) -> Result<Value, MeasureError> {
            let i = self.1.fetch_add(1, Ordering::SeqCst) as usize;
            match self.0[i.min(self.0.len() - 1)] {
                Ok(s) => Ok(json!({ "state": s })),
                Err(e) => Err(MeasureError::new(e)),
            }
        }
    }

    async fn gate(
        script: Vec<Result<&'static str, &'static str>>,
        count: u32,
        consecutive_error_limit: u32,
    ) -> CheckOutcome {
        let mut s = spec(
            "gate",
            States(script, AtomicU32::new(0)),
            "state == 'approved'",
            Timing {
                count,
                interval: Duration::from_secs(10),
                consecutive_error_limit,
                ..Timing::default()
            },
        );
        s.until = Some(Expect::compile(&["state != 'pending'"]).unwrap());
        run_check(
            s,
            Arc::default(),
            Records::default(),
            Arc::new(NoProgress),
            Resume::default(),
        )
        .await
    }

    #[tokio::test(start_paused = true)]
    async fn until_keeps_measuring_every_interval_then_judges_the_measurement_that_held() {
        let started = Instant::now();
        let o = gate(
            vec![Ok("pending"), Ok("pending"), Ok("approved")],
            UNTIL_HOLDS,
            0,
        )
        .await;
        assert_eq!(o.status, CheckStatus::Passed, "{:?}", o.reason);
        let n = o.counts();
        assert_eq!((n.waiting, n.passed, n.failed), (2, 1, 0));
        assert_eq!(started.elapsed(), Duration::from_secs(20));
    }

    #[tokio::test(start_paused = true)]
    async fn a_judged_measurement_that_fails_after_until_held_fails_at_once() {
        let o = gate(
            vec![Ok("pending"), Ok("rejected"), Ok("approved")],
            UNTIL_HOLDS,
            0,
        )
        .await;
        assert_eq!(o.status, CheckStatus::Failed);
        assert_eq!(o.counts().taken(), 2, "no measurement after the judged one");
        assert_eq!(
            o.reason.as_deref(),
            Some("measurement 2: expect `state == 'approved'` not met: state = \"rejected\"")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn until_that_never_holds_fails_when_count_runs_out() {
        let o = gate(vec![Ok("pending")], 3, 0).await;
        assert_eq!(o.status, CheckStatus::Failed);
        assert_eq!(
            o.reason.as_deref(),
            Some("until `state != 'pending'` did not hold in 3 measurements; last: measurement 3: waiting, until `state != 'pending'` not yet: state = \"pending\"")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn errors_while_waiting_count_against_consecutive_error_limit() {
        let o = gate(
            vec![
                Ok("pending"),
                Err("ssm down"),
                Ok("pending"),
                Err("x"),
                Err("y"),
            ],
            UNTIL_HOLDS,
            1,
        )
        .await;
        assert_eq!(o.status, CheckStatus::Failed);
        assert!(o
            .reason
            .unwrap_or_default()
            .starts_with("2 measurement errors in a row"),);
    }

    #[test]
    fn sdk_and_effect_errors_become_one_line_measure_errors() {
        let e: MeasureError =
            EffectError::new("Invoke", "ResourceNotFoundException:\nno such function").into();
        assert_eq!(
            e.message(),
            "Invoke: ResourceNotFoundException: no such function"
        );
    }
}
