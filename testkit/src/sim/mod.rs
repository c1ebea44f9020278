//! `traffic-sim`: one CodeDeploy deployment of one function of a SAM template, on
//! loopback, with the real hook binaries. See docs/simulator.md.
//!
//! The pieces: [`template`] reads what is deployed, [`schedule`] how traffic shifts,
//! [`alarm`] how CloudWatch judges, [`scenario`] how the versions behave; this module
//! runs the deployment, and [`output`] shows it.

pub mod alarm;
pub mod output;
pub mod scenario;
pub mod schedule;
pub mod template;

use crate::{
    FakeAws, FakeDeployment, FakeFunction, MetricKey, Outcome as HostOutcome, RuntimeHost, Server,
    Stats, VersionBehaviour,
};
use scenario::Scenario;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use template::{HookFunction, Plan};
use tokio::time::Instant;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Options {
    /// The template's text.
    pub template: String,
    /// Where it came from, for messages.
    pub template_path: String,
    /// The function's logical id.
    pub function: String,
    /// The version serving now.
    pub from: String,
    /// The version being deployed.
    pub to: String,
    /// How versions behave and the client traffic.
    pub scenario: Scenario,
    /// Parameter overrides.
    pub parameters: BTreeMap<String, String>,
    /// Simulated time runs this many times faster for traffic shifting and alarms.
    pub speed: f64,
    /// Run every hook with this binary instead of its `Metadata.BuildProperties.Binary`.
    pub hook_bin: Option<PathBuf>,
    /// Where hook binaries are found by name.
    pub bin_dir: PathBuf,
}

/// Why a simulation could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The template cannot be simulated.
    #[error("{path}: {error}")]
    Template {
        /// The template file.
        path: String,
        /// The problem and its place in the template.
        error: template::TemplateError,
    },
    /// A hook binary is missing or would not start.
    #[error("{0}")]
    Hook(String),
    /// Starting a fake failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// One thing that happened, at `t` simulated seconds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Event {
    /// Simulated seconds since the deployment was created.
    pub t: f64,
    /// The deployment it belongs to.
    pub deployment_id: String,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// A deployment began.
    DeploymentCreated {
        /// The function's simulated name.
        function: String,
        /// The alias.
        alias: String,
        /// Version serving.
        from: String,
        /// Version deployed.
        to: String,
        /// The deployment config's name.
        config: String,
        /// `user` or `codeDeployRollback`.
        creator: String,
    },
    /// A lifecycle event changed status.
    LifecycleEvent {
        /// `BeforeAllowTraffic`, `AllowTraffic` or `AfterAllowTraffic`.
        name: String,
        /// `InProgress`, `Succeeded`, `Failed`, `Skipped`.
        status: String,
    },
    /// A hook was invoked.
    HookInvoked {
        /// `pre` or `post`.
        phase: String,
        /// Its function.
        function: String,
        /// 1 for the first invocation, more for Lambda's async retries.
        attempt: u32,
    },
    /// A hook's checks went on in a new invocation of its function (a continuation:
    /// the bake is longer than one invocation).
    HookContinued {
        /// `pre` or `post`.
        phase: String,
        /// Its function.
        function: String,
        /// 1 for the first continuation.
        continuation: u32,
    },
    /// A hook reported (or was given up on).
    HookReported {
        /// `pre` or `post`.
        phase: String,
        /// `Succeeded` or `Failed`.
        status: String,
        /// Why.
        reason: String,
    },
    /// The alias' weights changed.
    WeightsShifted {
        /// Version → share, summing to 1.
        weights: BTreeMap<String, f64>,
    },
    /// An alarm changed state.
    AlarmState {
        /// Its name.
        alarm: String,
        /// `OK`, `ALARM`, `INSUFFICIENT_DATA`.
        state: String,
        /// CloudWatch's reason.
        reason: String,
    },
    /// An alarm stopped the deployment.
    DeploymentStopped {
        /// Why.
        reason: String,
    },
    /// A rollback deployment was created.
    RollbackStarted {
        /// Its id.
        rollback_deployment_id: String,
    },
    /// The deployment ended.
    DeploymentFinished {
        /// `Succeeded`, `Failed` or `Stopped`.
        status: String,
        /// Why.
        reason: String,
    },
}

/// Client traffic of one simulated minute, for the HTML timeline.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Minute {
    /// Its start, simulated seconds.
    pub t: f64,
    /// Version → (invocations, errors).
    pub versions: BTreeMap<String, (u64, u64)>,
}

/// How a simulation ended.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The deployment's final status.
    pub status: String,
    /// Everything that happened.
    pub events: Vec<Event>,
    /// Traffic per simulated minute.
    pub minutes: Vec<Minute>,
    /// The alarms watched.
    pub alarms: Vec<String>,
    /// What was simulated, for the page's title.
    pub title: String,
}

/// Runs a simulation; `on_event` sees each event as it happens.
pub async fn run(
    options: Options,
    on_event: impl FnMut(&Event) + Send,
) -> Result<Outcome, SimError> {
    let doc = template::read(&options.template).map_err(|error| SimError::Template {
        path: options.template_path.clone(),
        error,
    })?;
    let plan = template::plan(&doc, &options.function, &options.parameters, &options.to).map_err(
        |error| SimError::Template {
            path: options.template_path.clone(),
            error,
        },
    )?;
    let mut sim = Sim::start(options, plan, Box::new(on_event)).await?;
    sim.deploy().await
}

/// A hook function's process.
struct HookProcess {
    host: Arc<tokio::sync::Mutex<RuntimeHost>>,
    spec: HookFunction,
}

/// How waiting for something ended.
enum Waited {
    Done,
    Alarm(String),
}

/// The simulated clock: epoch seconds at the start plus simulated seconds since.
#[derive(Clone)]
struct Clock {
    start: i64,
    sim: Arc<Mutex<f64>>,
}

impl Clock {
    fn now(&self) -> f64 {
        *self.sim.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set(&self, t: f64) {
        *self.sim.lock().unwrap_or_else(PoisonError::into_inner) = t;
    }

    fn wall(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs_f64(self.start as f64 + self.now())
    }
}

struct Sim<'f> {
    options: Options,
    plan: Plan,
    fake: FakeAws,
    server: Server,
    clock: Clock,
    on_event: Box<dyn FnMut(&Event) + Send + 'f>,
    events: Vec<Event>,
    /// The target version's share now (of the deployment in progress).
    weights: BTreeMap<String, f64>,
    /// Per version: calls and errors emitted so far, and the calls owed (fractional).
    traffic: BTreeMap<String, (u64, u64, f64)>,
    /// The last whole simulated second whose traffic and alarms were processed.
    processed: i64,
    minutes: Vec<Minute>,
    hooks: BTreeMap<&'static str, HookProcess>,
    deployments: u32,
    /// The deployment in progress (alarm events belong to it).
    current: String,
}

impl<'f> Sim<'f> {
    async fn start(
        options: Options,
        plan: Plan,
        on_event: Box<dyn FnMut(&Event) + Send + 'f>,
    ) -> Result<Self, SimError> {
        let fake = FakeAws::new();
        let server = fake.start().await?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let clock = Clock {
            // Aligned to the minute, so alarm periods begin with the deployment.
            start: now / 60 * 60,
            sim: Arc::new(Mutex::new(0.0)),
        };
        let wall = clock.clone();
        fake.set_clock(move || wall.wall());
        for a in &plan.alarms {
            fake.alarm(a.clone());
        }
        let mut function = FakeFunction::default();
        for v in [&options.from, &options.to] {
            let s = options.scenario.version(v);
            function.versions.insert(
                v.clone(),
                VersionBehaviour {
                    payload: s.payload.clone().unwrap_or(Value::Null),
                    proxy_echo: s.payload.is_none(),
                    error_rate: s.error_rate,
                    delay_ms: s.latency_ms,
                    ..VersionBehaviour::default()
                },
            );
        }
        function
            .aliases
            .insert(plan.alias.clone(), options.from.clone());
        fake.function(&plan.function, function);
        let mut sim = Self {
            weights: BTreeMap::from([(options.from.clone(), 1.0)]),
            traffic: BTreeMap::new(),
            options,
            plan,
            fake,
            server,
            clock,
            on_event,
            events: Vec::new(),
            processed: 0,
            minutes: Vec::new(),
            hooks: BTreeMap::new(),
            deployments: 0,
            current: String::new(),
        };
        for (phase, spec) in [
            ("pre", sim.plan.pre.clone()),
            ("post", sim.plan.post.clone()),
        ] {
            if let Some(spec) = spec {
                let host = sim.start_hook(&spec).await?;
                sim.hooks.insert(phase, HookProcess { host, spec });
            }
        }
        Ok(sim)
    }

    async fn start_hook(
        &self,
        spec: &HookFunction,
    ) -> Result<Arc<tokio::sync::Mutex<RuntimeHost>>, SimError> {
        let bin = self
            .options
            .hook_bin
            .clone()
            .unwrap_or_else(|| self.options.bin_dir.join(&spec.binary));
        if !bin.exists() {
            return Err(SimError::Hook(format!(
                "hook {}: binary {} not found (build it with `cargo build --bins`, or give --hook-bin)",
                spec.logical_id,
                bin.display()
            )));
        }
        let endpoint = self.server.url();
        let memory = spec.memory.to_string();
        let mut env: Vec<(&str, &str)> = spec
            .environment
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        env.push(("AWS_ENDPOINT_URL", &endpoint));
        env.push(("AWS_LAMBDA_FUNCTION_NAME", &spec.name));
        env.push(("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", &memory));
        let host = RuntimeHost::start(&bin, &env)
            .await
            .map_err(|e| SimError::Hook(format!("starting {}: {e}", bin.display())))?;
        // A bake longer than the hook's timeout goes on in asynchronous invocations of
        // its own function: the fake Lambda runs them as more processes of the binary.
        self.fake
            .serve_function(&spec.name, &bin, &env, Duration::from_secs(spec.timeout), 2);
        Ok(Arc::new(tokio::sync::Mutex::new(host)))
    }

    fn emit(&mut self, deployment_id: &str, kind: EventKind) {
        let event = Event {
            t: (self.clock.now() * 10.0).round() / 10.0,
            deployment_id: deployment_id.to_owned(),
            kind,
        };
        (self.on_event)(&event);
        self.events.push(event);
    }

    /// The original deployment, then a rollback when it did not succeed.
    async fn deploy(&mut self) -> Result<Outcome, SimError> {
        let (from, to) = (self.options.from.clone(), self.options.to.clone());
        let original = self.next_id();
        let (status, _) = self
            .deployment(&original, &from, &to, "user", self.plan.config.clone())
            .await?;
        if status != "Succeeded" && self.plan.rollback && self.plan.enabled {
            let rollback = self.next_id();
            self.emit(
                &original,
                EventKind::RollbackStarted {
                    rollback_deployment_id: rollback.clone(),
                },
            );
            // CodeDeploy rolls a Lambda deployment back by shifting all traffic at once.
            let all_at_once = schedule::DeploymentConfig::named("AllAtOnce")
                .unwrap_or_else(|| self.plan.config.clone());
            self.deployment(&rollback, &to, &from, "codeDeployRollback", all_at_once)
                .await?;
        }
        // A last minute of traffic on the settled alias, for the picture.
        let end = self.clock.now() + 60.0;
        self.advance(end, self.options.speed, false).await;
        Ok(Outcome {
            status,
            events: self.events.clone(),
            minutes: self.minutes.clone(),
            alarms: self.plan.alarms.iter().map(|a| a.name.clone()).collect(),
            title: format!(
                "{} ({}): {} → {}, {}",
                self.plan.logical_id,
                self.plan.function,
                self.options.from,
                self.options.to,
                self.plan.config.name
            ),
        })
    }

    fn next_id(&mut self) -> String {
        self.deployments += 1;
        format!("d-SIM{:06}", self.deployments)
    }

    /// One deployment from `from` to `to`: its status and reason.
    async fn deployment(
        &mut self,
        id: &str,
        from: &str,
        to: &str,
        creator: &str,
        config: schedule::DeploymentConfig,
    ) -> Result<(String, String), SimError> {
        let id = id.to_owned();
        self.current = id.clone();
        let mut d = FakeDeployment::new(
            &id,
            &self.plan.function,
            &self.plan.alias,
            from,
            to,
            "Start",
        );
        d.creator = Some(creator.to_owned());
        d.target_weight = Some(0.0);
        for (event, phase) in [("BeforeAllowTraffic", "pre"), ("AfterAllowTraffic", "post")] {
            if let Some(h) = self.hooks.get(phase) {
                d.hooks.insert(event.to_owned(), h.spec.name.clone());
            }
        }
        self.fake.deployment(d.clone());
        self.emit(
            &id,
            EventKind::DeploymentCreated {
                function: self.plan.function.clone(),
                alias: self.plan.alias.clone(),
                from: from.to_owned(),
                to: to.to_owned(),
                config: config.name.clone(),
                creator: creator.to_owned(),
            },
        );
        if self.deployments == 1 {
            for a in self.fake.alarms() {
                self.emit(
                    &id,
                    EventKind::AlarmState {
                        alarm: a.name.clone(),
                        state: a.state.clone(),
                        reason: a.reason.clone(),
                    },
                );
            }
        }
        // Alarms are watched over a deployment, not over its rollback: the alarm that
        // stopped it is still in ALARM while the rollback undoes the cause.
        let watch = self.plan.enabled && creator == "user";
        let result = self
            .lifecycle(&id, &mut d, from, to, &config, watch)
            .await?;
        let (status, reason) = match result {
            Ok(()) => (
                "Succeeded".to_owned(),
                "all lifecycle events succeeded".to_owned(),
            ),
            Err((status, reason)) => (status, reason),
        };
        self.emit(
            &id,
            EventKind::DeploymentFinished {
                status: status.clone(),
                reason: reason.clone(),
            },
        );
        Ok((status, reason))
    }

    /// The lifecycle events in order; `Err((status, reason))` when the deployment fails
    /// or is stopped.
    async fn lifecycle(
        &mut self,
        id: &str,
        d: &mut FakeDeployment,
        from: &str,
        to: &str,
        config: &schedule::DeploymentConfig,
        watch: bool,
    ) -> Result<Result<(), (String, String)>, SimError> {
        let speed = self.options.speed;
        // BeforeAllowTraffic.
        self.set_event(id, d, "BeforeAllowTraffic", "InProgress");
        match self.hook(id, d, "pre", watch).await? {
            Ok(()) => self.set_event(id, d, "BeforeAllowTraffic", "Succeeded"),
            Err(failure) => {
                self.set_event(id, d, "BeforeAllowTraffic", "Failed");
                return Ok(Err(failure));
            }
        }
        // AllowTraffic: the config's steps.
        self.set_event(id, d, "AllowTraffic", "InProgress");
        let started = self.clock.now();
        for (at, share) in config.steps() {
            if let Waited::Alarm(a) = self.advance(started + at as f64, speed, watch).await {
                return Ok(Err(self.stopped(id, d, "AllowTraffic", &a)));
            }
            self.shift(id, d, from, to, share);
        }
        self.set_event(id, d, "AllowTraffic", "Succeeded");
        // AfterAllowTraffic.
        self.set_event(id, d, "AfterAllowTraffic", "InProgress");
        match self.hook(id, d, "post", watch).await? {
            Ok(()) => self.set_event(id, d, "AfterAllowTraffic", "Succeeded"),
            Err(failure) => {
                self.set_event(id, d, "AfterAllowTraffic", "Failed");
                return Ok(Err(failure));
            }
        }
        Ok(Ok(()))
    }

    fn stopped(
        &mut self,
        id: &str,
        d: &mut FakeDeployment,
        event: &str,
        alarm: &str,
    ) -> (String, String) {
        let reason = format!("alarm {alarm} is in ALARM");
        self.emit(
            id,
            EventKind::DeploymentStopped {
                reason: reason.clone(),
            },
        );
        self.set_event(id, d, event, "Failed");
        ("Stopped".to_owned(), reason)
    }

    fn set_event(&mut self, id: &str, d: &mut FakeDeployment, name: &str, status: &str) {
        if status == "InProgress" {
            d.lifecycle_event = Some(name.to_owned());
            self.fake.deployment(d.clone());
        }
        self.emit(
            id,
            EventKind::LifecycleEvent {
                name: name.to_owned(),
                status: status.to_owned(),
            },
        );
    }

    /// Moves `share` of the alias to `to`.
    fn shift(&mut self, id: &str, d: &mut FakeDeployment, from: &str, to: &str, share: f64) {
        self.weights = if share >= 1.0 {
            BTreeMap::from([(to.to_owned(), 1.0)])
        } else {
            BTreeMap::from([(from.to_owned(), 1.0 - share), (to.to_owned(), share)])
        };
        d.target_weight = Some(share);
        self.fake.deployment(d.clone());
        let plan_fn = self.plan.function.clone();
        let alias = self.plan.alias.clone();
        if let Some(mut f) = self.fake.get_function(&plan_fn) {
            if share >= 1.0 {
                f.aliases.insert(alias.clone(), to.to_owned());
                f.routing.remove(&alias);
            } else {
                f.aliases.insert(alias.clone(), from.to_owned());
                f.routing.insert(alias, (to.to_owned(), share));
            }
            self.fake.function(&plan_fn, f);
        }
        self.emit(
            id,
            EventKind::WeightsShifted {
                weights: self.weights.clone(),
            },
        );
    }

    /// Runs the hook of `phase`, if any: `Err((Failed, reason))` when it reports
    /// `Failed`, stays silent past CodeDeploy's hour, or an alarm stops the deployment.
    async fn hook(
        &mut self,
        id: &str,
        d: &mut FakeDeployment,
        phase: &'static str,
        watch: bool,
    ) -> Result<Result<(), (String, String)>, SimError> {
        let Some((host, spec)) = self
            .hooks
            .get(phase)
            .map(|h| (h.host.clone(), h.spec.clone()))
        else {
            return Ok(Ok(()));
        };
        let event_name = if phase == "pre" {
            "BeforeAllowTraffic"
        } else {
            "AfterAllowTraffic"
        };
        let execution = format!("{id}-{phase}-execution");
        let invoked_at = self.clock.now();
        let payload = json!({"DeploymentId": id, "LifecycleEventHookExecutionId": execution});
        let mut continued = false;
        let continuations_before = self.continuations(&spec.name);
        // CodeDeploy invokes hooks asynchronously: Lambda retries a failed invocation
        // twice, a minute and then two minutes later.
        for attempt in 1..=3u32 {
            self.emit(
                id,
                EventKind::HookInvoked {
                    phase: phase.to_owned(),
                    function: spec.name.clone(),
                    attempt,
                },
            );
            let budget = Duration::from_secs(spec.timeout);
            let ev = payload.clone();
            let running = {
                let host = host.clone();
                tokio::spawn(async move { host.lock().await.invoke(ev, budget).await })
            };
            // Hooks run in real time.
            let mut running = running;
            let outcome = loop {
                let step = self.clock.now() + 0.1;
                if let Waited::Alarm(a) = self.advance(step, 1.0, watch).await {
                    running.abort();
                    return Ok(Err(self.stopped(id, d, event_name, &a)));
                }
                if running.is_finished() {
                    break (&mut running).await.ok();
                }
            };
            if let Some(r) = self.report_of(&execution) {
                return Ok(self.reported(id, phase, r));
            }
            continued = matches!(
                &outcome,
                Some(Ok(HostOutcome::Response(v))) if v["status"] == "Continued"
            );
            let errored = matches!(
                outcome,
                Some(Ok(HostOutcome::Error(_))) | Some(Err(_)) | None
            );
            if !errored || attempt == 3 {
                break;
            }
            let retry_at = self.clock.now() + 60.0 * f64::from(attempt);
            if let Waited::Alarm(a) = self.advance(retry_at, self.options.speed, watch).await {
                return Ok(Err(self.stopped(id, d, event_name, &a)));
            }
        }
        // Silent: CodeDeploy waits an hour for the report. Continuations run in real
        // time, so while the hook goes on in them the clock does too.
        let limit = invoked_at + 3600.0;
        let mut seen = continuations_before;
        loop {
            let now_seen = self.continuations(&spec.name);
            while seen < now_seen {
                seen += 1;
                self.emit(
                    id,
                    EventKind::HookContinued {
                        phase: phase.to_owned(),
                        function: spec.name.clone(),
                        continuation: (seen - continuations_before) as u32,
                    },
                );
            }
            if let Some(r) = self.report_of(&execution) {
                return Ok(self.reported(id, phase, r));
            }
            if continued && self.clock.now() < limit {
                let step = (self.clock.now() + 0.1).min(limit);
                if let Waited::Alarm(a) = self.advance(step, 1.0, watch).await {
                    return Ok(Err(self.stopped(id, d, event_name, &a)));
                }
                continue;
            }
            if self.clock.now() >= limit {
                let reason = format!(
                    "the {phase}-traffic hook {} did not report within CodeDeploy's hour",
                    spec.name
                );
                self.emit(
                    id,
                    EventKind::HookReported {
                        phase: phase.to_owned(),
                        status: "Failed".to_owned(),
                        reason: reason.clone(),
                    },
                );
                return Ok(Err(("Failed".to_owned(), reason)));
            }
            let step = (self.clock.now() + 60.0).min(limit);
            if let Waited::Alarm(a) = self.advance(step, self.options.speed, watch).await {
                return Ok(Err(self.stopped(id, d, event_name, &a)));
            }
        }
    }

    /// How many continuations of the hook `function` the fake Lambda has been asked for.
    fn continuations(&self, function: &str) -> usize {
        self.fake
            .invocations()
            .iter()
            .filter(|i| i.function == function)
            .count()
    }

    /// The accepted report of `execution` with the verdict's reason from the hook's log.
    fn report_of(&self, execution: &str) -> Option<(String, String)> {
        let report = self
            .fake
            .reports()
            .into_iter()
            .find(|r| r.execution_id == execution)?;
        Some((report.status, String::new()))
    }

    fn reported(
        &mut self,
        id: &str,
        phase: &'static str,
        (status, _): (String, String),
    ) -> Result<(), (String, String)> {
        let hook = self.hooks.get(phase);
        let mut verdicts: Vec<Value> = hook
            .and_then(|h| h.host.try_lock().ok())
            .map(|host| host.records("verdict"))
            .unwrap_or_default();
        // A bake that went on in continuations ends in one of their processes.
        if let Some(h) = hook {
            verdicts.extend(self.fake.served_records(&h.spec.name, "verdict"));
        }
        let reason = verdicts
            .iter()
            .rev()
            .find(|v| v["deployment_id"] == id)
            .and_then(|v| v["reason"].as_str().map(str::to_owned))
            .unwrap_or_default();
        self.emit(
            id,
            EventKind::HookReported {
                phase: phase.to_owned(),
                status: status.clone(),
                reason: reason.clone(),
            },
        );
        if status == "Succeeded" {
            Ok(())
        } else {
            Err((
                "Failed".to_owned(),
                format!("the {phase}-traffic hook reported Failed: {reason}"),
            ))
        }
    }

    /// Advances simulated time to `to` at `rate` simulated seconds per real second:
    /// traffic and metrics for each whole second, alarm evaluations at each period.
    /// Stops early when `watch` and a deployment alarm goes into `ALARM`.
    async fn advance(&mut self, to: f64, rate: f64, watch: bool) -> Waited {
        let anchor_real = Instant::now();
        let anchor_sim = self.clock.now();
        let rate = rate.max(1e-6);
        loop {
            let next = ((self.processed + 1) as f64).min(to);
            let real = Duration::from_secs_f64(((next - anchor_sim) / rate).max(0.0));
            tokio::time::sleep_until(anchor_real + real).await;
            self.clock.set(next.max(self.clock.now()));
            while self.processed < self.clock.now().floor() as i64 {
                self.second(self.processed);
                self.processed += 1;
                if let Some(alarm) = self.evaluate_alarms() {
                    if watch {
                        return Waited::Alarm(alarm);
                    }
                }
            }
            if self.clock.now() >= to {
                return Waited::Done;
            }
        }
    }

    /// Client traffic of simulated second `s`, split by the weights, into metrics.
    fn second(&mut self, s: i64) {
        let t = self.clock.start + s;
        let minute = (s / 60) as f64 * 60.0;
        if self.minutes.last().is_none_or(|m| m.t < minute) {
            self.minutes.push(Minute {
                t: minute,
                versions: BTreeMap::new(),
            });
        }
        for (version, share) in self.weights.clone() {
            let behaviour = self.options.scenario.version(&version);
            let entry = self.traffic.entry(version.clone()).or_insert((0, 0, 0.0));
            entry.2 += self.options.scenario.rate * share;
            let calls = entry.2.floor() as u64;
            entry.2 -= calls as f64;
            entry.0 += calls;
            let errors_total = (entry.0 as f64 * behaviour.error_rate).floor() as u64;
            let errors = errors_total.saturating_sub(entry.1);
            entry.1 = errors_total;
            if let Some(m) = self.minutes.last_mut() {
                let slot = m.versions.entry(version.clone()).or_insert((0, 0));
                slot.0 += calls;
                slot.1 += errors;
            }
            if calls == 0 {
                continue;
            }
            let n = calls as f64;
            let f = &self.plan.function;
            let dims = [
                vec![("FunctionName", f.clone())],
                vec![
                    ("FunctionName", f.clone()),
                    ("Resource", format!("{f}:{}", self.plan.alias)),
                ],
                vec![
                    ("FunctionName", f.clone()),
                    ("Resource", format!("{f}:{}", self.plan.alias)),
                    ("ExecutedVersion", version.clone()),
                ],
            ];
            for d in dims {
                let dimensions: BTreeMap<String, String> =
                    d.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
                let key = |name: &str| MetricKey {
                    namespace: "AWS/Lambda".into(),
                    name: name.into(),
                    dimensions: dimensions.clone(),
                };
                self.fake
                    .put_metric(key("Invocations"), t, Stats::repeated(1.0, n));
                self.fake
                    .put_metric(key("Errors"), t, Stats::ones_of(errors as f64, n));
                self.fake.put_metric(
                    key("Duration"),
                    t,
                    Stats::repeated(behaviour.latency_ms as f64, n),
                );
            }
        }
    }

    /// Evaluates the alarms whose period ends now; the first deployment alarm in
    /// `ALARM`, if any.
    fn evaluate_alarms(&mut self) -> Option<String> {
        let now = self.clock.start + self.processed;
        let mut firing = None;
        for a in self.fake.alarms() {
            if now % i64::from(a.period.max(1)) == 0 {
                let e = self.fake.with_metrics(|m| alarm::evaluate(&a, m, now));
                if e.state != a.state {
                    self.fake
                        .set_alarm_state(&a.name, e.state, &e.reason, self.clock.wall());
                    let current = self.current.clone();
                    self.emit(
                        &current,
                        EventKind::AlarmState {
                            alarm: a.name.clone(),
                            state: e.state.to_owned(),
                            reason: e.reason,
                        },
                    );
                }
            }
        }
        for a in self.fake.alarms() {
            if a.state == "ALARM" && self.plan.alarms.iter().any(|p| p.name == a.name) {
                firing.get_or_insert(a.name.clone());
            }
        }
        firing
    }
}
