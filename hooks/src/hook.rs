//! One hook invocation: event → discovery → checks → exactly one report.
//!
//! Whatever goes wrong before the report (a bad config, a failed discovery, a check
//! that hangs or panics) still ends in a report of `Failed` with a reason. Only an
//! event without its ids cannot be reported: that invocation returns an error.

use crate::bounded::Measurements;
use crate::check::{
    phase_matches, records_snapshot, run_check, CheckSpec, Effects, Records, Resume,
};
use crate::check_runtime::CheckRuntime;
use crate::config::per_function::PerFunction;
use crate::config::{
    Config, ConfigError, ParameterStore, DEFAULT_REPORT_RESERVE, MIN_REPORT_RESERVE,
};
use crate::continuation::State;
use crate::deployment::{discover, Deployment, DeploymentSource, Facts};
use crate::event::{EventError, HookEvent};
use crate::ops::effects::OpsEffects;
use crate::ops::{Operations, Rollbacks, ROLLBACK_CREATORS};
use crate::report::{self, ReportOutcome, Reporter, Status};
use crate::summary::{CheckOutcome, CheckStatus, Handoff, NoProgress, Progress, Verdict};
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
    /// A load worker could not run its share.
    #[error("load worker: {0}")]
    Worker(String),
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
            HookError::Worker(_) => "traffic_hook::WorkerFailed",
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
    /// Where the checks of a user's kinds run.
    pub(crate) checks: CheckRuntime,
}

impl Verifier {
    /// A verifier with an empty environment.
    pub(crate) fn new(effects: Effects) -> Self {
        Self {
            effects,
            env: BTreeMap::new(),
            checks: CheckRuntime::same(),
        }
    }

    /// Runs the checks of the deployment's phase concurrently; checks still running
    /// when `stop` comes are abandoned and fail with its reason.
    pub(crate) async fn verify(
        &self,
        config: &Config,
        deployment: Deployment,
        stop: &Stop,
        progress: Arc<dyn Progress>,
    ) -> Verdict {
        match self
            .verify_with(config, deployment, stop, progress, None, None)
            .await
        {
            Checked::Done(verdict) => verdict,
            // Without a pause budget no check pauses.
            Checked::Paused {
                deployment, judged, ..
            } => Verdict::judge(
                deployment,
                judged,
                config.dry_run,
                config.no_checks == crate::config::NoChecks::Fail,
            ),
        }
    }

    /// [`Verifier::verify`], resuming the checks `resume` carries (a continuation),
    /// and with a `pause` budget: at a deadline `stop`, a check whose measurement fits
    /// in that budget pauses (to go on in a continuation) instead of failing.
    pub(crate) async fn verify_with(
        &self,
        config: &Config,
        mut deployment: Deployment,
        stop: &Stop,
        progress: Arc<dyn Progress>,
        resume: Option<&crate::continuation::State>,
        pause: Option<Duration>,
    ) -> Checked {
        let deadline = stop.deadline;
        let phase = deployment.facts.phase;
        #[cfg(feature = "aws")]
        if config.needs_sdk_to_build() {
            if let Some(aws) = &self.effects.aws {
                aws.sdk().await;
            }
        }
        let built = config.build_checks(&deployment, &self.env, &self.effects);
        if let (Some(deadline), None) = (deadline, pause) {
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
                    let saved = resume.and_then(|r| r.check(&spec.name));
                    if let Some(o) =
                        saved.and_then(|c| c.outcome(spec.kind, spec.phase, spec.dry_run))
                    {
                        outcomes.push(Some(o));
                        continue;
                    }
                    let (records, from) = match (saved, resume) {
                        (Some(c), Some(r)) => resumed(&spec, c, r.started_at()),
                        _ => (Records::default(), Resume::default()),
                    };
                    to_run.push((outcomes.len(), spec, records, from));
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
        let mut running = Vec::new();
        for (slot, ran) in run_checks(
            self.checks,
            to_run,
            deployment.clone(),
            stop,
            progress,
            pause,
        )
        .await
        {
            match ran {
                Ran::Judged(outcome) => outcomes[slot] = Some(outcome),
                Ran::Paused(outcome) => running.push(outcome),
            }
        }
        let deployment = Arc::unwrap_or_clone(deployment);
        let mut judged: Vec<CheckOutcome> = outcomes.into_iter().flatten().collect();
        // A failed check already decides the verdict: the rest need not bake on.
        if let Some(failed) = judged.iter().find(|c| c.blocks()).map(|c| c.name.clone()) {
            for mut o in running.drain(..) {
                o.reason = Some(format!(
                    "stopped at the deadline: check `{failed}` had failed, so the bake did not go on"
                ));
                judged.push(o);
            }
        }
        if !running.is_empty() {
            return Checked::Paused {
                deployment,
                judged,
                running,
            };
        }
        Checked::Done(Verdict::judge(
            deployment,
            judged,
            config.dry_run,
            config.no_checks == crate::config::NoChecks::Fail,
        ))
    }
}

/// How checking ended in one invocation.
pub(crate) enum Checked {
    /// Every check is judged.
    Done(Verdict),
    /// Some checks paused at the deadline, to go on in a continuation.
    Paused {
        /// What is being deployed.
        deployment: Deployment,
        /// The checks judged (or skipped) so far.
        judged: Vec<CheckOutcome>,
        /// The paused ones (`skipped` for now), with their measurements and time spent.
        running: Vec<CheckOutcome>,
    },
}

/// The records and resume point of a check a continuation carries: its next
/// measurement is due an `interval` after the last began (or `initial_delay` after
/// the chain began, when none was taken).
fn resumed(
    spec: &CheckSpec,
    saved: &crate::continuation::SavedCheck,
    chain_started: SystemTime,
) -> (Records, Resume) {
    let measurements = Measurements::restore(saved.measurements.clone());
    let due = match measurements.last_began() {
        Some(at) => at + spec.timing.interval,
        None => chain_started + spec.timing.initial_delay,
    };
    let wait = due
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    // Every check of a chain began with it: its time is the chain's, handoffs included.
    let elapsed = SystemTime::now()
        .duration_since(chain_started)
        .unwrap_or_else(|_| saved.elapsed());
    (
        Arc::new(Mutex::new(measurements)),
        Resume {
            wait: Some(wait),
            elapsed,
        },
    )
}

/// A note for each check whose worst case is longer than the `left` before the
/// deadline: the same arithmetic as `validate --timeout`, against this invocation.
fn timing_notes<'a>(specs: impl Iterator<Item = &'a CheckSpec>, left: Duration) -> Vec<String> {
    specs
        .filter(|spec| !spec.waits_until_it_holds() && spec.worst_case() > left)
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
    /// Why the deadline stops checks, when it is not the invocation's (a bake's
    /// `max_duration`).
    pub(crate) why: Option<&'static str>,
}

impl Stop {
    /// Whether the process was told to stop.
    fn is_interrupted(&self) -> bool {
        self.interrupted.as_ref().is_some_and(|rx| *rx.borrow())
    }

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
            () = deadline => self.why.unwrap_or("deadline: still running when the hook had to report"),
            () = interrupted => "interrupted: the hook was told to stop (SIGTERM) while it ran",
        }
    }
}

/// How a check left [`run_checks`].
enum Ran {
    /// Judged, or failed at the stop.
    Judged(CheckOutcome),
    /// Paused at the deadline (`skipped` for now), with its measurements and time spent.
    Paused(CheckOutcome),
}

/// Runs checks concurrently, each in its own task so a panic stays in its check. At
/// the stop, a check still running fails with its reason; with a `pause` budget and
/// the stop a deadline (not SIGTERM), it pauses instead if one measurement fits in the
/// budget (one that does not could never finish in a continuation either).
async fn run_checks(
    checks: CheckRuntime,
    specs: Vec<(usize, CheckSpec, Records, Resume)>,
    deployment: Arc<Deployment>,
    stop: &Stop,
    progress: Arc<dyn Progress>,
    pause: Option<Duration>,
) -> Vec<(usize, Ran)> {
    let started = Instant::now();
    let running: Vec<_> = specs
        .into_iter()
        .map(|(slot, spec, records, resume)| {
            let limit = spec.check.measurement_timeout(spec.timing.timeout);
            let meta = (spec.name.clone(), spec.kind, spec.phase, spec.dry_run);
            let task = checks.spawn(
                spec.user_kind,
                run_check(
                    spec,
                    deployment.clone(),
                    records.clone(),
                    progress.clone(),
                    resume,
                ),
            );
            (slot, meta, records, task, limit, resume.elapsed)
        })
        .collect();
    let mut outcomes = Vec::with_capacity(running.len());
    // All tasks run already; awaiting them one by one under one stop is enough.
    for (slot, (name, kind, phase, dry_run), records, mut task, limit, before) in running {
        // Biased: a check that has finished counts, even when the stop came too.
        let joined = tokio::select! {
            biased;
            joined = &mut task => Ok(joined),
            why = stop.reached() => Err(why),
        };
        let failed = |reason: String| {
            let mut o = CheckOutcome::not_run(&name, kind, phase, CheckStatus::Failed, reason);
            o.measurements = records_snapshot(&records);
            o.elapsed = before + started.elapsed();
            o.dry_run = dry_run;
            o
        };
        let outcome = match joined {
            Ok(Ok(outcome)) => Ran::Judged(outcome),
            Ok(Err(e)) => Ran::Judged(match e.try_into_panic() {
                Ok(payload) => failed(format!("panicked: {}", panic_message(payload))),
                Err(e) => failed(format!("task ended: {e}")),
            }),
            Err(why) => {
                task.abort();
                let n = records_snapshot(&records).counts().taken();
                match pause.filter(|_| !stop.is_interrupted()) {
                    Some(budget) if limit <= budget => {
                        let mut o = failed("paused at the deadline".to_owned());
                        o.status = CheckStatus::Skipped;
                        Ran::Paused(o)
                    }
                    Some(budget) => Ran::Judged(failed(format!(
                        "{why} ({n} measurement(s) taken); one measurement may take up to {}, more than the {} an invocation has, so it cannot go on in a continuation",
                        crate::duration::format(limit),
                        crate::duration::format(budget)
                    ))),
                    None => Ran::Judged(failed(format!("{why} ({n} measurement(s) taken)"))),
                }
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
    /// Continuations this process ran: `(execution id, seq)`, latest last.
    continued: Mutex<VecDeque<(String, u32)>>,
    /// This function's version (`AWS_LAMBDA_FUNCTION_VERSION`), for continuations.
    own_version: Option<String>,
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
            continued: Mutex::new(VecDeque::new()),
            own_version: None,
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
    /// the AppSpec's `Hooks` and to continue a long bake in a new invocation.
    pub(crate) fn with_own_function(mut self, name: Option<String>) -> Self {
        self.own_function = name;
        self.share_own_function();
        self
    }

    /// Lets `load.workers` invoke this function (and version).
    fn share_own_function(&mut self) {
        self.verifier.effects.own_function = self
            .own_function
            .clone()
            .map(|f| (f, self.own_version.clone()));
    }

    /// This hook's version (`AWS_LAMBDA_FUNCTION_VERSION`): continuations run the same
    /// code. `$LATEST` or none invokes the unqualified function.
    pub(crate) fn with_own_version(mut self, version: Option<String>) -> Self {
        self.own_version = version.filter(|v| v != "$LATEST");
        self.share_own_function();
        self
    }

    /// Runs a load worker's share (an invocation with `traffic_hook_worker`): its
    /// answer, or why it could not run.
    pub(crate) async fn work(&self, spec: &Value) -> Result<Value, HookError> {
        crate::check::load::work(spec, &self.verifier.effects, &self.verifier.env)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "load worker failed");
                HookError::Worker(e)
            })
    }

    /// The environment `{{env.NAME}}` reads.
    pub(crate) fn with_env(mut self, env: BTreeMap<String, String>) -> Self {
        self.verifier.env = env;
        self
    }

    /// Runs the checks of a user's kinds there (by default on the caller's runtime).
    pub(crate) fn with_check_runtime(mut self, checks: CheckRuntime) -> Self {
        self.verifier.checks = checks;
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
        let started = SystemTime::now();
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
            why: None,
        };
        // A continuation carries an earlier invocation's progress: the chain's start,
        // the deployment as discovered then, and each check's measurements.
        let (resume, unreadable) = match raw_event.get(crate::continuation::FIELD) {
            None => (None, None),
            Some(v) => match State::read(v) {
                Ok(state) => (Some(state), None),
                Err(e) => (None, Some(e)),
            },
        };
        if let Some(state) = &resume {
            if !self.first_delivery(&event.execution_id, state.seq) {
                tracing::warn!(deployment_id = %event.deployment_id, continuation = state.seq, "duplicate delivery of a continuation this process already ran; ignored");
                return Ok(ignored(
                    unknown,
                    "a duplicate delivery of a continuation this process already ran",
                ));
            }
            tracing::info!(deployment_id = %event.deployment_id, continuation = state.seq, "a continuation of the checks");
        }
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
        let mut verdict = if let Some(e) = unreadable {
            Verdict::failed_early(unknown, e.to_string())
        } else if let Some(Err(e)) = &known {
            Verdict::failed_early(unknown, e.to_string())
        } else {
            let stop = stop_at(check_deadline(reserve));
            let (deployment, mut creator) = match &resume {
                Some(state) => {
                    let d = state.deployment(&event.deployment_id);
                    if let Some(why) = self.completed_elsewhere(&event, &d, &stop).await {
                        return Ok(ignored(d, &why));
                    }
                    (d, None)
                }
                None => {
                    self.discover(&event, &known, &target, &unknown, &stop)
                        .await
                }
            };
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
                    let chain_started = resume.as_ref().map_or(started, State::started_at);
                    let (stop, pause) = self.bounds(
                        &config,
                        chain_started,
                        now,
                        check_deadline(config.report_reserve),
                        stop_at,
                    );
                    if resume.is_none()
                        && creator.is_none()
                        && config.ops.rollbacks == Rollbacks::Pass
                    {
                        creator = tokio::select! {
                            biased;
                            c = self.source.creator(&event.deployment_id) => Some(c),
                            _ = stop.reached() => None,
                        };
                    }
                    // A continuation's first invocation settled the fast pass and the
                    // skip switch already.
                    let early = match resume {
                        None => {
                            self.before_checks(&config, &deployment, creator, &stop)
                                .await
                        }
                        Some(_) => None,
                    };
                    let verdict = match early {
                        Some(reason) => Verdict::passed_early(deployment, reason),
                        None => match self
                            .verifier
                            .verify_with(
                                &config,
                                deployment,
                                &stop,
                                Arc::new(NoProgress),
                                resume.as_ref(),
                                pause,
                            )
                            .await
                        {
                            Checked::Done(verdict) => verdict,
                            Checked::Paused {
                                deployment,
                                judged,
                                running,
                            } => {
                                let seq = resume.as_ref().map_or(1, |s| s.seq + 1);
                                let left =
                                    report_deadline.saturating_duration_since(Instant::now());
                                match self
                                    .continue_in(
                                        raw_event,
                                        seq,
                                        chain_started,
                                        &deployment,
                                        &judged,
                                        running,
                                        left / 2,
                                    )
                                    .await
                                {
                                    Ok(verdict) => return Ok(verdict),
                                    Err(failed) => Verdict::judge(
                                        deployment,
                                        judged.into_iter().chain(failed).collect(),
                                        config.dry_run,
                                        config.no_checks == crate::config::NoChecks::Fail,
                                    ),
                                }
                            }
                        },
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

/// The verdict of an invocation that reports nothing on purpose.
fn ignored(deployment: Deployment, why: &str) -> Verdict {
    let mut v = Verdict::failed_early(deployment, why.to_owned());
    v.handoff = Some(Handoff::Ignored(why.to_owned()));
    v
}

/// How many invocations of one chain Lambda allows before it stops them as a
/// recursive loop, unless the function's `RecursiveLoop` is `Allow`.
const RECURSION_LIMIT: u32 = 16;

/// Why checks stop when a continuation's `max_duration` runs out.
const MAX_DURATION_REACHED: &str =
    "max_duration: still running when the bake's max_duration ran out";

impl Hook {
    /// Discovery (and who created the deployment, beside it, for the rollback fast
    /// pass), bounded by `stop`; what is not found in time is noted.
    async fn discover(
        &self,
        event: &HookEvent,
        known: &Option<Result<Config, ConfigError>>,
        target: &Facts,
        unknown: &Deployment,
        stop: &Stop,
    ) -> (
        Deployment,
        Option<Result<String, crate::error::EffectError>>,
    ) {
        // With the config known, who created the deployment is asked beside
        // discovery, so the rollback fast pass costs no extra round trip.
        let ask_creator = matches!(known, Some(Ok(c)) if c.ops.rollbacks == Rollbacks::Pass);
        let found = tokio::select! {
            biased;
            d = async {
                tokio::join!(
                    discover(
                        &*self.source,
                        &event.deployment_id,
                        self.own_function.as_deref(),
                        target,
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
        match found {
            Ok((d, creator)) => (d, creator),
            Err(why) => {
                let mut d = unknown.clone();
                d.merge("config target", target.clone());
                d.notes.push(format!("discovery did not finish: {why}"));
                (d, None)
            }
        }
    }

    /// Whether this continuation's delivery is the first this process sees (Lambda
    /// may deliver an async event twice).
    fn first_delivery(&self, execution_id: &str, seq: u32) -> bool {
        let mut seen = self
            .continued
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if seen.iter().any(|(id, n)| id == execution_id && *n == seq) {
            return false;
        }
        seen.push_back((execution_id.to_owned(), seq));
        if seen.len() > REMEMBERED {
            seen.pop_front();
        }
        true
    }

    /// Why a continuation has nothing to do: the lifecycle event it checks is no
    /// longer in progress (another invocation of the chain, a duplicate in another
    /// sandbox, has reported it). `None` when it is, or when CodeDeploy cannot say in
    /// time (the report would then find the event completed, which counts as done).
    async fn completed_elsewhere(
        &self,
        event: &HookEvent,
        deployment: &Deployment,
        stop: &Stop,
    ) -> Option<String> {
        let facts = tokio::select! {
            biased;
            f = self.source.target_facts(&event.deployment_id) => f.ok()?,
            _ = stop.reached() => return None,
        };
        (facts.phase != deployment.facts.phase).then(|| {
            tracing::warn!(deployment_id = %event.deployment_id, "the lifecycle event is no longer in progress: a continuation ends without a report");
            "the lifecycle event is no longer in progress: another invocation has reported it"
                .to_owned()
        })
    }

    /// When this invocation's checks stop, and whether they may pause to go on in a
    /// continuation (`Some(budget)`: an invocation's time for checks). The bake's
    /// `max_duration`, counted from the chain's first invocation, is a hard stop.
    fn bounds(
        &self,
        config: &Config,
        chain_started: SystemTime,
        now: Instant,
        invocation_stop: Instant,
        stop_at: impl Fn(Instant) -> Stop,
    ) -> (Stop, Option<Duration>) {
        let spent = SystemTime::now()
            .duration_since(chain_started)
            .unwrap_or(Duration::ZERO);
        let bake_end = now + config.max_duration.saturating_sub(spent);
        if bake_end <= invocation_stop {
            let mut stop = stop_at(bake_end);
            stop.why = Some(MAX_DURATION_REACHED);
            return (stop, None);
        }
        let pause = self
            .own_function
            .is_some()
            .then(|| invocation_stop.saturating_duration_since(now));
        (stop_at(invocation_stop), pause)
    }

    /// Hands the paused checks to a new asynchronous invocation of this function: the
    /// event plus the state. `Ok` is this invocation's answer (nothing is reported);
    /// `Err` holds the paused checks failed with the reason, for the report.
    #[allow(clippy::too_many_arguments)]
    async fn continue_in(
        &self,
        raw_event: &Value,
        seq: u32,
        chain_started: SystemTime,
        deployment: &Deployment,
        judged: &[CheckOutcome],
        running: Vec<CheckOutcome>,
        within: Duration,
    ) -> Result<Verdict, Vec<CheckOutcome>> {
        let names: Vec<String> = running.iter().map(|o| o.name.clone()).collect();
        let fail = |running: &[CheckOutcome], why: String| {
            tracing::error!(error = %why, "the checks cannot go on in a continuation");
            running
                .iter()
                .map(|o| CheckOutcome {
                    status: CheckStatus::Failed,
                    reason: Some(format!(
                        "still running at the deadline, and the checks could not go on in a continuation: {why}"
                    )),
                    ..o.clone()
                })
                .collect::<Vec<_>>()
        };
        let (state, bytes) = match State::next(seq, chain_started, deployment, judged, &running) {
            Ok(s) => s,
            Err(e) => return Err(fail(&running, e.to_string())),
        };
        let Some(function) = self.own_function.as_deref() else {
            return Err(fail(
                &running,
                "the hook's own function is unknown".to_owned(),
            ));
        };
        let mut payload = raw_event.clone();
        match (&mut payload, serde_json::to_value(&state)) {
            (Value::Object(map), Ok(v)) => {
                map.insert(crate::continuation::FIELD.to_owned(), v);
            }
            _ => return Err(fail(&running, "the event is not a JSON object".to_owned())),
        }
        let body = serde_json::to_vec(&payload).unwrap_or_default();
        let invoked = tokio::time::timeout(
            within,
            self.verifier
                .effects
                .lambda
                .invoke_event(function, self.own_version.as_deref(), body),
        )
        .await;
        match invoked {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(fail(&running, e.to_string())),
            Err(_) => {
                return Err(fail(
                    &running,
                    format!(
                        "Invoke: no answer within {}",
                        crate::duration::format(within)
                    ),
                ))
            }
        }
        if seq == RECURSION_LIMIT {
            tracing::warn!(
                continuation = seq,
                "Lambda stops a function invoked in a chain more than 16 times unless its RecursiveLoop setting is Allow (the templates set it): if the chain ends here, set it on this function"
            );
        }
        crate::summary::emit(serde_json::json!({
            "message": format!("the checks go on in continuation {seq}"),
            "record": "continuation",
            "deployment_id": deployment.deployment_id,
            "phase": deployment.facts.phase,
            "continuation": seq,
            "running": names,
            "judged": judged.iter().map(|c| serde_json::json!({"check": c.name, "status": c.status.as_str()})).collect::<Vec<_>>(),
            "state_bytes": bytes,
        }));
        let mut verdict = Verdict::judge(deployment.clone(), judged.to_vec(), false, false);
        verdict.handoff = Some(Handoff::Continued { seq });
        Ok(verdict)
    }

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
