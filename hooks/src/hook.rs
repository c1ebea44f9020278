//! One hook invocation: event → discovery → checks → exactly one report.
//!
//! Whatever goes wrong before the report (a bad config, a failed discovery, a check
//! that hangs or panics) still ends in a report of `Failed` with a reason. Only an
//! event without its ids cannot be reported: that invocation returns an error.

use crate::check::{phase_matches, records_snapshot, run_check, CheckSpec, Effects, Records};
use crate::config::per_function::PerFunction;
use crate::config::{
    Config, ConfigError, ParameterStore, DEFAULT_REPORT_RESERVE, MIN_REPORT_RESERVE,
};
use crate::deployment::{discover, Deployment, DeploymentSource, Facts};
use crate::event::{EventError, HookEvent};
use crate::ops::effects::OpsEffects;
use crate::ops::{Operations, Rollbacks, ROLLBACK_CREATORS};
use crate::report::{self, ReportOutcome, Reporter, Status};
use crate::summary::{CheckOutcome, CheckStatus, NoProgress, Progress, Verdict};
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;
use tokio::sync::{watch, Notify};
use tokio::time::{Duration, Instant};

/// Kept back from the Lambda deadline for the runtime to post the response after the
/// last report attempt.
const RESPONSE_MARGIN: Duration = Duration::from_millis(250);

/// The budget used when the event arrives with its deadline already past. Lambda never
/// sends such a deadline; local emulators do (cargo-lambda's sends a constant 600000 ms
/// since 1970). Without this, every check would be abandoned at once.
pub(crate) const UNUSABLE_DEADLINE_BUDGET: Duration = Duration::from_secs(60);

/// Why an invocation ends in an error instead of a verdict.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HookError {
    /// The event lacks its ids, so no status can be reported.
    #[error(transparent)]
    Event(#[from] EventError),
    /// The verdict could not be reported; Lambda's retry of the async invocation may
    /// deliver the event again.
    #[error("verdict {status} could not be reported to CodeDeploy: {error}")]
    NotReported {
        /// The verdict.
        status: &'static str,
        /// The last report error.
        error: String,
    },
}

#[cfg(feature = "aws")]
impl From<HookError> for lambda_runtime::Diagnostic {
    fn from(e: HookError) -> Self {
        let error_type = match e {
            HookError::Event(_) => "traffic_hook::InvalidEvent",
            HookError::NotReported { .. } => "traffic_hook::NotReported",
        };
        Self {
            error_type: error_type.to_owned(),
            error_message: e.to_string(),
        }
    }
}

/// Runs checks for a deployment: the part of a hook that terminal runs share.
#[derive(Clone)]
pub(crate) struct Verifier {
    /// Effects for the built-in checks.
    pub(crate) effects: Effects,
    /// Values for `{{env.NAME}}`.
    pub(crate) env: BTreeMap<String, String>,
}

impl Verifier {
    /// A verifier with an empty environment.
    pub(crate) fn new(effects: Effects) -> Self {
        Self {
            effects,
            env: BTreeMap::new(),
        }
    }

    /// Runs the checks of the deployment's phase concurrently; checks still running
    /// when `stop` comes are abandoned and fail with its reason.
    pub(crate) async fn verify(
        &self,
        config: &Config,
        mut deployment: Deployment,
        stop: &Stop,
        progress: Arc<dyn Progress>,
    ) -> Verdict {
        let deadline = stop.deadline;
        let phase = deployment.facts.phase;
        #[cfg(feature = "aws")]
        if config.needs_sdk_to_build() {
            if let Some(aws) = &self.effects.aws {
                aws.sdk().await;
            }
        }
        let built = config.build_checks(&deployment, &self.env, &self.effects);
        if let Some(deadline) = deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            let function = deployment.facts.function.as_deref();
            let running = built
                .iter()
                .flatten()
                .filter(|s| s.runs_in(phase) && s.is_for(function));
            for note in timing_notes(running, left) {
                tracing::warn!(%note, "a check may not finish before the deadline");
                deployment.notes.push(note);
            }
        }
        let deployment = Arc::new(deployment);
        let mut outcomes: Vec<Option<CheckOutcome>> = Vec::new();
        let mut to_run = Vec::new();
        let function = deployment.facts.function.clone();
        let not_for = |globs: &Option<crate::check::Functions>| -> Option<String> {
            let (globs, f) = (globs.as_ref()?, function.as_deref()?);
            (!globs.matches(f)).then(|| format!("for functions {globs}, not {f}"))
        };
        for b in built {
            match b {
                Ok(spec) if not_for(&spec.functions).is_some() || !spec.runs_in(phase) => {
                    // The function's globs first: a check for other functions says so
                    // whatever its phase.
                    let why = not_for(&spec.functions).unwrap_or_else(|| {
                        let p = spec.phase.map(|p| p.to_string()).unwrap_or_default();
                        format!("runs in phase {p}")
                    });
                    outcomes.push(Some(CheckOutcome::not_run(
                        &spec.name,
                        spec.kind,
                        spec.phase,
                        CheckStatus::Skipped,
                        why,
                    )));
                }
                Ok(spec) => {
                    to_run.push((outcomes.len(), spec));
                    outcomes.push(None);
                }
                Err(e) => {
                    let status = if phase_matches(e.phase, phase) && not_for(&e.functions).is_none()
                    {
                        CheckStatus::Failed
                    } else {
                        CheckStatus::Skipped
                    };
                    let reason = format!("cannot run: {}", e.reason);
                    let mut outcome =
                        CheckOutcome::not_run(&e.name, e.kind, e.phase, status, reason);
                    outcome.dry_run = e.dry_run;
                    outcomes.push(Some(outcome));
                }
            }
        }
        for (slot, outcome) in run_checks(to_run, deployment.clone(), stop, progress).await {
            outcomes[slot] = Some(outcome);
        }
        let deployment = Arc::unwrap_or_clone(deployment);
        Verdict::judge(
            deployment,
            outcomes.into_iter().flatten().collect(),
            config.dry_run,
            config.no_checks == crate::config::NoChecks::Fail,
        )
    }
}

/// A note for each check whose worst case is longer than the `left` before the
/// deadline: the same arithmetic as `validate --timeout`, against this invocation.
fn timing_notes<'a>(specs: impl Iterator<Item = &'a CheckSpec>, left: Duration) -> Vec<String> {
    specs
        .filter(|spec| spec.worst_case() > left)
        .map(|spec| {
            format!(
                "check `{}` may take up to {} at worst, more than the {} left before report_reserve: it will be cut off at the deadline if it needs that long",
                spec.name,
                crate::duration::format(spec.worst_case()),
                crate::duration::format(left)
            )
        })
        .collect()
}

/// When checks must stop: at the deadline, or at once when the process is told to
/// stop (SIGTERM).
#[derive(Clone, Default)]
pub(crate) struct Stop {
    /// Stop checking then (`None`: no deadline, a terminal run).
    pub(crate) deadline: Option<Instant>,
    /// Turns `true` when the process must stop.
    pub(crate) interrupted: Option<watch::Receiver<bool>>,
}

impl Stop {
    /// Waits for the stop, and says why it came.
    async fn reached(&self) -> &'static str {
        let deadline = async {
            match self.deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        let interrupted = async {
            match &self.interrupted {
                Some(rx) => {
                    if rx.clone().wait_for(|stop| *stop).await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = deadline => "deadline: still running when the hook had to report",
            () = interrupted => "interrupted: the hook was told to stop (SIGTERM) while it ran",
        }
    }
}

/// Runs checks concurrently, each in its own task so a panic stays in its check.
async fn run_checks(
    specs: Vec<(usize, CheckSpec)>,
    deployment: Arc<Deployment>,
    stop: &Stop,
    progress: Arc<dyn Progress>,
) -> Vec<(usize, CheckOutcome)> {
    let started = Instant::now();
    let running: Vec<_> = specs
        .into_iter()
        .map(|(slot, spec)| {
            let records = Records::default();
            let meta = (spec.name.clone(), spec.kind, spec.phase, spec.dry_run);
            let task = tokio::spawn(run_check(
                spec,
                deployment.clone(),
                records.clone(),
                progress.clone(),
            ));
            (slot, meta, records, task)
        })
        .collect();
    let mut outcomes = Vec::with_capacity(running.len());
    // All tasks run already; awaiting them one by one under one stop is enough.
    for (slot, (name, kind, phase, dry_run), records, mut task) in running {
        // Biased: a check that has finished counts, even when the stop came too.
        let joined = tokio::select! {
            biased;
            joined = &mut task => Ok(joined),
            why = stop.reached() => Err(why),
        };
        let failed = |reason: String| {
            let mut o = CheckOutcome::not_run(&name, kind, phase, CheckStatus::Failed, reason);
            o.measurements = records_snapshot(&records);
            o.elapsed = started.elapsed();
            o.dry_run = dry_run;
            o
        };
        let outcome = match joined {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(e)) => match e.try_into_panic() {
                Ok(payload) => failed(format!("panicked: {}", panic_message(payload))),
                Err(e) => failed(format!("task ended: {e}")),
            },
            Err(why) => {
                task.abort();
                let n = records_snapshot(&records).counts().taken();
                failed(format!("{why} ({n} measurement(s) taken)"))
            }
        };
        outcomes.push((slot, outcome));
    }
    outcomes
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

/// How many reported events a hook remembers, to answer a duplicate delivery.
const REMEMBERED: usize = 64;

/// The longest a config read (an SSM parameter) may take.
pub(crate) const CONFIG_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a hook's config comes from.
pub(crate) enum Configs {
    /// One config for every event (or the error that every event reports).
    One(Result<Config, ConfigError>),
    /// A config per function, read per event.
    PerFunction(PerFunction),
}

impl From<Result<Config, ConfigError>> for Configs {
    fn from(c: Result<Config, ConfigError>) -> Self {
        Self::One(c)
    }
}

/// A CodeDeploy lifecycle hook: checks from a config, reported exactly once.
pub(crate) struct Hook {
    configs: Configs,
    source: Arc<dyn DeploymentSource>,
    reporter: Arc<dyn Reporter>,
    verifier: Verifier,
    own_function: Option<String>,
    /// Events this process reported: `(execution id, status, reason)`, latest last.
    reported: Mutex<VecDeque<(String, Status, String)>>,
    /// Set once the process must stop (SIGTERM).
    interrupt: watch::Sender<bool>,
    /// Invocations being handled.
    in_flight: AtomicUsize,
    /// Told when the last invocation in flight ends.
    idle: Notify,
    /// The effects of operations (SNS, Lambda versions).
    ops: OpsEffects,
    /// SSM, for the skip switch.
    parameters: Option<Arc<dyn ParameterStore>>,
}

impl Hook {
    /// A hook. An `Err` config is kept: every event is then answered with `Failed` and
    /// the config error, so a deployment stops at once instead of hanging.
    pub(crate) fn new(
        configs: impl Into<Configs>,
        source: Arc<dyn DeploymentSource>,
        reporter: Arc<dyn Reporter>,
        effects: Effects,
    ) -> Self {
        Self {
            configs: configs.into(),
            source,
            reporter,
            verifier: Verifier::new(effects),
            own_function: None,
            reported: Mutex::new(VecDeque::new()),
            interrupt: watch::Sender::new(false),
            in_flight: AtomicUsize::new(0),
            idle: Notify::new(),
            ops: OpsEffects::default(),
            parameters: None,
        }
    }

    /// The effects operations use: SNS for `notify`, Lambda versions for `prune`, and
    /// SSM (`parameters`) for the `skip` switch.
    pub(crate) fn with_ops(
        mut self,
        ops: OpsEffects,
        parameters: Option<Arc<dyn ParameterStore>>,
    ) -> Self {
        self.ops = ops;
        self.parameters = parameters;
        self
    }

    /// Stops the checks in flight (they fail `interrupted`); their verdict is still
    /// reported. Events that arrive later are handled as usual.
    pub(crate) fn interrupt(&self) {
        self.interrupt.send_replace(true);
    }

    /// Waits until no invocation is in flight, or `within` has passed.
    pub(crate) async fn wait_idle(&self, within: Duration) {
        let idle = async {
            loop {
                let notified = self.idle.notified();
                if self.in_flight.load(Ordering::SeqCst) == 0 {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(within, idle).await;
    }

    /// This hook's function name (`AWS_LAMBDA_FUNCTION_NAME`), to tell the phase from
    /// the AppSpec's `Hooks`.
    pub(crate) fn with_own_function(mut self, name: Option<String>) -> Self {
        self.own_function = name;
        self
    }

    /// The environment `{{env.NAME}}` reads.
    pub(crate) fn with_env(mut self, env: BTreeMap<String, String>) -> Self {
        self.verifier.env = env;
        self
    }

    /// Handles one lifecycle event that must be answered by the wall-clock `deadline`.
    pub(crate) async fn handle(
        &self,
        raw_event: &Value,
        deadline: SystemTime,
    ) -> Result<Verdict, HookError> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let handled = self.handle_event(raw_event, deadline).await;
        if self.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
        handled
    }

    /// The verdict this process already reported for `execution_id`, if any.
    fn already_reported(&self, execution_id: &str) -> Option<(Status, String)> {
        self.reported
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|(id, _, _)| id == execution_id)
            .map(|(_, status, reason)| (*status, reason.clone()))
    }

    fn remember(&self, execution_id: &str, verdict: &Verdict) {
        let mut reported = self.reported.lock().unwrap_or_else(PoisonError::into_inner);
        reported.push_back((
            execution_id.to_owned(),
            verdict.status,
            verdict.reason.clone(),
        ));
        if reported.len() > REMEMBERED {
            reported.pop_front();
        }
    }

    async fn handle_event(
        &self,
        raw_event: &Value,
        deadline: SystemTime,
    ) -> Result<Verdict, HookError> {
        let event = HookEvent::parse(raw_event)
            .inspect_err(|e| tracing::error!(error = %e, "unusable event"))?;
        let unknown = Deployment {
            deployment_id: Some(event.deployment_id.clone()),
            ..Deployment::default()
        };
        // Lambda may deliver an async event twice: the second gets the first's answer,
        // without running the checks again or reporting twice.
        if let Some((status, reason)) = self.already_reported(&event.execution_id) {
            tracing::warn!(deployment_id = %event.deployment_id, "duplicate delivery of an event this process already reported; not running the checks again");
            let mut verdict = Verdict::failed_early(unknown, reason);
            verdict.status = status;
            verdict.report =
                Some("already reported by this process (duplicate delivery)".to_owned());
            return Ok(verdict);
        }
        let now = Instant::now();
        // Lambda deadlines are wall-clock instants; from here on the monotonic clock
        // (tokio's, so tests can pause it) measures everything.
        let mut remaining = deadline
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        if remaining.is_zero() {
            tracing::warn!(
                budget_ms = UNUSABLE_DEADLINE_BUDGET.as_millis() as u64,
                "the invocation deadline had passed before the event arrived (a local emulator?); using a fixed budget"
            );
            remaining = UNUSABLE_DEADLINE_BUDGET;
        }
        let report_deadline = now + remaining.saturating_sub(RESPONSE_MARGIN);
        // A config built in code may hold any reserve: never leave reporting less than
        // MIN_REPORT_RESERVE, or a hanging check could eat the report's time.
        let check_deadline = |reserve: Duration| {
            now + remaining.saturating_sub(reserve.max(MIN_REPORT_RESERVE + RESPONSE_MARGIN))
        };
        tracing::info!(deployment_id = %event.deployment_id, remaining_ms = remaining.as_millis() as u64, "lifecycle event received");
        let stop_at = |deadline| Stop {
            deadline: Some(deadline),
            interrupted: Some(self.interrupt.subscribe()),
        };
        // The config is known now, or (one config per function) once discovery has
        // told the function: until then the default reserve bounds discovery.
        let (known, target) = match &self.configs {
            Configs::One(Ok(c)) => (Some(Ok(c.clone())), c.target.clone()),
            Configs::One(Err(e)) => (Some(Err(e.clone())), Facts::default()),
            Configs::PerFunction(_) => (None, Facts::default()),
        };
        let reserve = match &known {
            Some(Ok(c)) => c.report_reserve,
            _ => DEFAULT_REPORT_RESERVE,
        };
        // The operations of the config, once known, for after the report.
        let mut ops: Option<Operations> = None;
        let mut verdict = if let Some(Err(e)) = &known {
            Verdict::failed_early(unknown, e.to_string())
        } else {
            let stop = stop_at(check_deadline(reserve));
            // With the config known, who created the deployment is asked beside
            // discovery, so the rollback fast pass costs no extra round trip.
            let ask_creator = matches!(&known, Some(Ok(c)) if c.ops.rollbacks == Rollbacks::Pass);
            let found = tokio::select! {
                biased;
                d = async {
                    tokio::join!(
                        discover(
                            &*self.source,
                            &event.deployment_id,
                            self.own_function.as_deref(),
                            &target,
                        ),
                        async {
                            if ask_creator {
                                Some(self.source.creator(&event.deployment_id).await)
                            } else {
                                None
                            }
                        }
                    )
                } => Ok(d),
                why = stop.reached() => Err(why),
            };
            let (found, mut creator) = match found {
                Ok((d, c)) => (Ok(d), c),
                Err(why) => (Err(why), None),
            };
            let deployment = found.unwrap_or_else(|why| {
                let mut d = unknown.clone();
                d.merge("config target", target.clone());
                d.notes.push(format!("discovery did not finish: {why}"));
                d
            });
            let config = match (known, &self.configs) {
                (Some(c), _) => c,
                (None, Configs::PerFunction(p)) => {
                    let left = check_deadline(reserve).saturating_duration_since(Instant::now());
                    match p.parameter(&deployment) {
                        Ok(name) => {
                            tracing::info!(parameter = %name, "config of this function");
                            let read = p.config(&name, left.min(CONFIG_READ_TIMEOUT)).await;
                            Result::clone(&read)
                        }
                        Err(e) => Err(e),
                    }
                }
                (None, Configs::One(c)) => c.clone(),
            };
            match config {
                Err(e) => Verdict::failed_early(deployment, e.to_string()),
                Ok(config) => {
                    let stop = stop_at(check_deadline(config.report_reserve));
                    if creator.is_none() && config.ops.rollbacks == Rollbacks::Pass {
                        creator = tokio::select! {
                            biased;
                            c = self.source.creator(&event.deployment_id) => Some(c),
                            _ = stop.reached() => None,
                        };
                    }
                    let verdict = match self
                        .before_checks(&config, &deployment, creator, &stop)
                        .await
                    {
                        Some(reason) => Verdict::passed_early(deployment, reason),
                        None => {
                            self.verifier
                                .verify(&config, deployment, &stop, Arc::new(NoProgress))
                                .await
                        }
                    };
                    ops = Some(config.ops);
                    verdict
                }
            }
        };
        let outcome =
            report::report(&*self.reporter, &event, verdict.status, report_deadline).await;
        verdict.report = Some(outcome.describe());
        if !matches!(outcome, ReportOutcome::GaveUp { .. }) {
            self.remember(&event.execution_id, &verdict);
        }
        verdict.log();
        // Without a config (it could not be read or is invalid) the defaults still
        // emit the verdict's metrics, so an alarm on failed verdicts sees it.
        let ops = ops.unwrap_or_default();
        self.after_report(&ops, &verdict, &outcome, now, report_deadline)
            .await;
        match outcome {
            ReportOutcome::GaveUp { error, .. } => Err(HookError::NotReported {
                status: verdict.status.as_str(),
                error,
            }),
            _ => Ok(verdict),
        }
    }
}

impl Hook {
    /// What may settle an event before its checks run: the rollback fast pass and the
    /// skip switch. `Some(reason)` reports `Succeeded` with that reason.
    async fn before_checks(
        &self,
        config: &Config,
        deployment: &Deployment,
        creator: Option<Result<String, crate::error::EffectError>>,
        stop: &Stop,
    ) -> Option<String> {
        if config.ops.rollbacks == Rollbacks::Pass {
            match creator {
                Some(Ok(c)) if ROLLBACK_CREATORS.contains(&c.as_str()) => {
                    tracing::warn!(creator = %c, "a rollback deployment: passed without checks (rollbacks: pass)");
                    return Some(format!(
                        "rollback deployment (creator {c}): passed without checks (rollbacks: pass)"
                    ));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "who created the deployment is unknown; running the checks")
                }
                None => {}
            }
        }
        let name = config.ops.skip.as_deref()?;
        let Some(store) = &self.parameters else {
            tracing::warn!(
                parameter = name,
                "the skip switch cannot be read here (no SSM); running the checks"
            );
            return None;
        };
        // The deadline is `stop`'s; the read's own bound is the config reads' one.
        let read = tokio::select! {
            biased;
            r = tokio::time::timeout(CONFIG_READ_TIMEOUT, store.parameter(name)) => r.ok(),
            _ = stop.reached() => None,
        };
        match read {
            Some(Ok(p)) => {
                let last_modified = p.last_modified.as_deref().unwrap_or("unknown");
                if crate::ops::skips(&p.value, deployment.facts.function.as_deref()) {
                    tracing::warn!(
                        parameter = name,
                        version = p.version,
                        last_modified,
                        "skip switch on: every check skipped"
                    );
                    return Some(format!("skipped by {name}"));
                }
                tracing::info!(
                    parameter = name,
                    version = p.version,
                    last_modified,
                    "skip switch read: off for this function"
                );
                None
            }
            Some(Err(e)) => {
                tracing::info!(parameter = name, error = %e, "skip switch not set (or unreadable); running the checks");
                None
            }
            None => {
                tracing::warn!(
                    parameter = name,
                    "skip switch not read in time; running the checks"
                );
                None
            }
        }
    }

    /// After the report: metrics lines, notifications and pruning, within the time
    /// left before `deadline`. Nothing here changes or delays the report.
    async fn after_report(
        &self,
        ops: &Operations,
        verdict: &Verdict,
        outcome: &ReportOutcome,
        started: Instant,
        deadline: Instant,
    ) {
        if let Some(namespace) = &ops.metrics {
            for line in
                crate::ops::metrics::lines(verdict, namespace, started.elapsed(), SystemTime::now())
            {
                crate::summary::emit(line);
            }
        }
        let notify = async {
            let n = ops.notify.as_ref()?;
            let sns = self.ops.sns.as_deref();
            Some(
                crate::ops::notify::send(
                    n,
                    verdict,
                    &*self.verifier.effects.http,
                    sns,
                    &self.verifier.env,
                    deadline,
                )
                .await,
            )
        };
        let prune = async {
            let p = ops.prune?;
            let accepted = matches!(outcome, ReportOutcome::Accepted { .. });
            if verdict.status != Status::Succeeded
                || verdict.deployment.facts.phase != Some(crate::deployment::Phase::Post)
                || !accepted
            {
                return None;
            }
            let function = verdict.deployment.facts.function.clone()?;
            let Some(versions) = &self.ops.versions else {
                tracing::warn!("prune: Lambda is not available here");
                return None;
            };
            let left = deadline.saturating_duration_since(Instant::now());
            Some(
                match tokio::time::timeout(
                    left,
                    crate::ops::prune::prune(&**versions, &function, p),
                )
                .await
                {
                    Ok(record) => record,
                    Err(_) => {
                        serde_json::json!({ "function": function, "error": "no time left before the deadline" })
                    }
                },
            )
        };
        let (sent, pruned) = tokio::join!(notify, prune);
        if let Some(sent) = sent.filter(|s| !s.is_empty()) {
            crate::summary::emit(serde_json::json!({
                "message": "notifications", "record": "notify",
                "deployment_id": verdict.deployment.deployment_id, "sent": sent,
            }));
        }
        if let Some(pruned) = pruned {
            crate::summary::emit(serde_json::json!({
                "message": "pruned old versions", "record": "prune",
                "deployment_id": verdict.deployment.deployment_id, "prune": pruned,
            }));
        }
    }
}

#[cfg(test)]
mod tests;
