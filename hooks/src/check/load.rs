//! `load`: send HTTP requests at a fixed rate for a duration and measure the answers.
//!
//! Open loop, as wrk2 does it: request `n` is due at `start + n / rate` whether or not
//! earlier ones answered, and its latency runs from when it was due (or, when it had
//! to wait for the timer, from when the timer let it go), so a stalled target shows
//! as latency, not as a lower rate (coordinated omission corrected). A few
//! connections (one per 1,000 requests/s, more while requests fall behind, at most
//! [`MAX_CONNECTIONS`]) each carry one request at a time: that bounds requests in
//! flight and memory. A request more than `timeout` late is not sent and counts as an
//! error, so the measurement ends within `duration + timeout`.
//!
//! Measurement: `{requests, errors, error_rate, rps, connections, latency_ms: {p50,
//! p90, p99, max}}`, latencies in an HDR histogram. An error is a transport failure, a
//! timeout, a status outside 2xx/3xx, or a request not sent in time. Bodies are
//! drained, never kept. Default expect: `` errors == `0` ``.

use super::http::{parse_request, FIELDS as HTTP_FIELDS};
use super::kind::{BuildContext, BuildError, Kind, Section};
use super::{millis, Check, CheckContext, HttpRequest, HttpSender, MeasureError, Repeater};
use crate::diag::{Errors, Fields};
use crate::duration::Duration as ConfigDuration;
use async_trait::async_trait;
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// The most connections, hence requests in flight, one load check opens.
pub(crate) const MAX_CONNECTIONS: usize = 256;

/// The highest `rate` a check may ask for, in requests per second.
pub(crate) const MAX_RATE: f64 = 20_000.0;

/// Connections to start with, per request per second: enough for requests that take
/// a millisecond (the timer's resolution) to go out on time.
const CONNECTIONS_PER_RATE: f64 = 1.0 / 1000.0;

/// A request due this long ago when its connection was free asks for another one.
const BEHIND: Duration = Duration::from_millis(2);

/// Latencies a connection gathers before adding them to the shared histogram.
const BATCH: usize = 128;

/// The most worker invocations one `load` check may spread over.
pub(crate) const MAX_WORKERS: u32 = 100;

/// The event field of a worker invocation.
pub(crate) const WORKER_FIELD: &str = "traffic_hook_worker";

/// How long before the shared start the workers are invoked: time for Lambda to start
/// them (a cold start) so they begin together.
const WORKER_LEAD: Duration = Duration::from_secs(1);

/// The `load` kind: its section.
pub(crate) struct Load {
    request: HttpRequest,
    rate: f64,
    duration: Duration,
    workers: u32,
    /// The section as written (`{{variables}}` unrendered): what a worker is sent.
    raw: Value,
}

impl Kind for Load {
    const NAME: &'static str = "load";

    fn parse(section: &Section<'_>, errors: &mut Errors) -> Option<Self> {
        let http_path = format!("{}.http", section.path);
        let (http, rate, duration, workers, ok) = {
            let mut f = section.fields(&["http", "rate", "duration", "workers"], errors);
            let http = f.required::<Value>("http");
            let rate = f.required::<f64>("rate");
            let workers = f.optional::<u32>("workers").unwrap_or(1);
            if !(1..=MAX_WORKERS).contains(&workers) {
                f.error("workers", format!("must be 1 to {MAX_WORKERS}"));
            }
            let max = MAX_RATE * f64::from(workers.clamp(1, MAX_WORKERS));
            if rate.is_some_and(|r| !(r > 0.0 && r <= max)) {
                let why = if workers > 1 {
                    format!("must be more than 0 and at most {MAX_RATE} requests per second per worker ({max} with {workers} workers)")
                } else {
                    format!("must be more than 0 and at most {MAX_RATE} requests per second (more with `workers`)")
                };
                f.error("rate", why);
            }
            let duration = f
                .required::<ConfigDuration>("duration")
                .map(ConfigDuration::get);
            if duration.is_some_and(|d| d.is_zero()) {
                f.error("duration", "must be more than 0s");
            }
            (http, rate, duration, workers, f.ok())
        };
        let raw_http = section.raw.get("http").cloned().unwrap_or(Value::Null);
        let request = http.as_ref().and_then(|http| {
            parse_request(
                Fields::new(http, &http_path, &HTTP_FIELDS, errors),
                &raw_http,
            )
        });
        if !ok {
            return None;
        }
        Some(Self {
            request: request?,
            rate: rate?,
            duration: duration?,
            workers,
            raw: section.raw.clone(),
        })
    }

    fn default_expect(&self) -> Option<&'static str> {
        Some("errors == `0`")
    }

    fn build(self, cx: &BuildContext<'_>) -> Result<Arc<dyn Check>, BuildError> {
        let fanout = if self.workers > 1 {
            let Some((function, qualifier)) = cx.effects.own_function.clone() else {
                return Err(BuildError::new(
                    "workers: the load is spread over invocations of the hook's own function, which only a hook running in Lambda has",
                ));
            };
            Some(Fanout {
                invoker: cx.effects.lambda.clone(),
                function,
                qualifier,
                raw: self.raw,
                deployment: cx.deployment.clone(),
                timeout: cx.timing.timeout,
            })
        } else {
            None
        };
        Ok(Arc::new(LoadCheck {
            sender: cx.effects.http.clone(),
            request: Arc::new(HttpRequest {
                timeout: cx.timing.timeout,
                // Bodies are drained, never kept: memory stays flat at any rate.
                keep_body: false,
                ..self.request
            }),
            rate: self.rate,
            duration: self.duration,
            workers: self.workers,
            fanout,
        }))
    }
}

/// Sends `rate` requests per second for `duration`, here or over `workers`.
struct LoadCheck {
    sender: Arc<dyn HttpSender>,
    request: Arc<HttpRequest>,
    rate: f64,
    duration: Duration,
    workers: u32,
    fanout: Option<Fanout>,
}

/// What spreading a load over worker invocations takes.
struct Fanout {
    invoker: Arc<dyn super::LambdaInvoker>,
    function: String,
    qualifier: Option<String>,
    raw: Value,
    deployment: crate::deployment::Deployment,
    timeout: Duration,
}

/// The schedule and what the connections found, shared by them.
struct Plan {
    start: Instant,
    /// Nanoseconds between requests.
    gap: f64,
    total: u64,
    timeout: Duration,
    /// The next request to claim.
    next: AtomicU64,
    done: AtomicU64,
    errors: AtomicU64,
    connections: AtomicUsize,
    /// When the last request went out, in nanoseconds from `start`.
    last_sent: AtomicU64,
    latencies: Mutex<Histogram<u64>>,
}

impl Plan {
    fn due(&self, n: u64) -> Instant {
        self.start + Duration::from_nanos((n as f64 * self.gap) as u64)
    }

    fn record(&self, batch: &mut Vec<u64>) {
        let mut h = self
            .latencies
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for micros in batch.drain(..) {
            h.saturating_record(micros.max(1));
        }
    }

    /// `1000 sent (200/s), 0 errors, p99 3.2 ms`.
    fn line(&self) -> String {
        let sent = self.done.load(Ordering::Relaxed);
        let p99 = self
            .latencies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .value_at_quantile(0.99);
        format!(
            "{sent} sent ({:.0}/s), {} errors, p99 {:.1} ms",
            sent as f64 / self.start.elapsed().as_secs_f64().max(f64::EPSILON),
            self.errors.load(Ordering::Relaxed),
            p99 as f64 / 1000.0
        )
    }
}

/// One connection: claims the next request, waits until it is due, sends it.
async fn connection(plan: Arc<Plan>, mut conn: Box<dyn Repeater>, more: mpsc::Sender<()>) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut timer = std::pin::pin!(tokio::time::sleep_until(plan.start));
    loop {
        let n = plan.next.fetch_add(1, Ordering::Relaxed);
        if n >= plan.total {
            break;
        }
        let due = plan.due(n);
        let now = Instant::now();
        let began = if due > now {
            timer.as_mut().reset(due);
            timer.as_mut().await;
            // The timer's resolution is a millisecond: its lateness is not the target's.
            Instant::now()
        } else {
            let behind = now - due;
            if behind > plan.timeout {
                plan.errors.fetch_add(1, Ordering::Relaxed);
                plan.done.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if behind > BEHIND {
                // A full channel means one is being opened already.
                let _ = more.try_send(());
            }
            due
        };
        let sent = (began - plan.start).as_nanos() as u64;
        plan.last_sent.fetch_max(sent, Ordering::Relaxed);
        let answered = tokio::time::timeout(plan.timeout, conn.repeat()).await;
        if !matches!(answered, Ok(Ok(status)) if (200..400).contains(&status)) {
            plan.errors.fetch_add(1, Ordering::Relaxed);
        }
        batch.push(began.elapsed().as_micros() as u64);
        plan.done.fetch_add(1, Ordering::Relaxed);
        if batch.len() == BATCH {
            plan.record(&mut batch);
        }
    }
    plan.record(&mut batch);
}

#[async_trait]
impl Check for LoadCheck {
    fn measurement_timeout(&self, configured: Duration) -> Duration {
        // Workers start a moment ahead of the shared start, and may start cold.
        let start = if self.fanout.is_some() {
            WORKER_LEAD * 3
        } else {
            Duration::ZERO
        };
        self.duration + configured + start
    }

    async fn measure(&self, ctx: &CheckContext) -> Result<Value, MeasureError> {
        if let Some(fanout) = &self.fanout {
            return fanout.measure(self.rate, self.duration, self.workers).await;
        }
        let run = drive(
            self.sender.clone(),
            self.request.clone(),
            self.rate,
            self.duration,
            Instant::now(),
            Some(ctx),
        )
        .await?;
        Ok(run.measurement())
    }
}

/// What one run of a load found.
pub(crate) struct Run {
    requests: u64,
    errors: u64,
    /// Seconds the requests went out in.
    sending: f64,
    connections: usize,
    /// Latencies in microseconds.
    latencies: Histogram<u64>,
}

/// The histogram latencies go in: microseconds, 1 µs to 10 min, 3 significant digits.
fn histogram() -> Result<Histogram<u64>, MeasureError> {
    Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)
        .map_err(|e| MeasureError::new(e.to_string()))
}

impl Run {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.sending.max(f64::EPSILON)
    }

    /// The measurement: `{requests, errors, error_rate, rps, connections, latency_ms}`.
    fn measurement(&self) -> Value {
        let l = &self.latencies;
        let q = |quantile: f64| millis(Duration::from_micros(l.value_at_quantile(quantile)));
        json!({
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": self.errors as f64 / self.requests.max(1) as f64,
            "rps": self.rps(),
            "connections": self.connections,
            "latency_ms": { "p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "max": millis(Duration::from_micros(l.max())) },
        })
    }

    /// What a worker answers: its counts and its histogram, compact: the recorded
    /// buckets as `[value, count]` pairs, values delta-encoded.
    fn to_worker_answer(&self) -> Value {
        let mut buckets = Vec::new();
        let mut last = 0u64;
        for v in self.latencies.iter_recorded() {
            let value = v.value_iterated_to();
            buckets.push(json!([value - last, v.count_at_value()]));
            last = value;
        }
        json!({
            "requests": self.requests,
            "errors": self.errors,
            "sending_s": self.sending,
            "connections": self.connections,
            "latency_us": buckets,
        })
    }

    /// A worker's answer read back.
    fn from_worker_answer(v: &Value) -> Result<Self, String> {
        let n = |k: &str| v.get(k).and_then(Value::as_u64).ok_or(format!("no `{k}`"));
        let (requests, errors, connections) = (n("requests")?, n("errors")?, n("connections")?);
        let mut latencies = histogram().map_err(|e| e.message().to_owned())?;
        let mut at = 0u64;
        for pair in v
            .get("latency_us")
            .and_then(Value::as_array)
            .ok_or("no `latency_us`")?
        {
            let (delta, count) = match pair.as_array().map(Vec::as_slice) {
                Some([d, c]) => (d.as_u64(), c.as_u64()),
                _ => (None, None),
            };
            let (Some(delta), Some(count)) = (delta, count) else {
                return Err("a latency bucket is not [value, count]".to_owned());
            };
            at = at.saturating_add(delta);
            latencies
                .record_n(at.clamp(1, 600_000_000), count)
                .map_err(|e| e.to_string())?;
        }
        Ok(Self {
            requests,
            errors,
            sending: v.get("sending_s").and_then(Value::as_f64).unwrap_or(0.0),
            connections: connections as usize,
            latencies,
        })
    }
}

/// Sends `rate` requests per second for `duration` from `start`, on as few connections
/// as keep the schedule; says how it goes to `ctx` once a second.
async fn drive(
    sender: Arc<dyn HttpSender>,
    request: Arc<HttpRequest>,
    rate: f64,
    duration: Duration,
    start: Instant,
    ctx: Option<&CheckContext>,
) -> Result<Run, MeasureError> {
    let total = (rate * duration.as_secs_f64()).round().max(1.0) as u64;
    let plan = Arc::new(Plan {
        start,
        gap: 1e9 / rate,
        total,
        timeout: request.timeout,
        next: AtomicU64::new(0),
        done: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        connections: AtomicUsize::new(0),
        last_sent: AtomicU64::new(0),
        latencies: Mutex::new(histogram()?),
    });
    let open = || sender.clone().connect(request.clone());
    // The first connection's failure (no credentials to sign with) is the measurement's.
    let first = open().await.map_err(|e| MeasureError::new(e.message))?;
    let (more, mut wanted) = mpsc::channel(1);
    // Dropped with the measurement (a deadline), the set stops every connection.
    let mut running = JoinSet::new();
    running.spawn(connection(plan.clone(), first, more.clone()));
    let initial = ((rate * CONNECTIONS_PER_RATE).ceil() as usize + 1).min(MAX_CONNECTIONS);
    for _ in 1..initial {
        if let Ok(conn) = open().await {
            running.spawn(connection(plan.clone(), conn, more.clone()));
        }
    }
    let mut progress = tokio::time::interval_at(plan.start + PROGRESS_EVERY, PROGRESS_EVERY);
    loop {
        tokio::select! {
            done = running.join_next() => match done {
                Some(Err(e)) if e.is_panic() => return Err(MeasureError::new("a load connection panicked")),
                Some(_) => {}
                None => break,
            },
            Some(()) = wanted.recv() => {
                let live = running.len();
                if live < MAX_CONNECTIONS && plan.next.load(Ordering::Relaxed) < plan.total {
                    if let Ok(conn) = open().await {
                        running.spawn(connection(plan.clone(), conn, more.clone()));
                    }
                }
                plan.connections.fetch_max(running.len(), Ordering::Relaxed);
            },
            _ = progress.tick() => {
                if let Some(ctx) = ctx {
                    ctx.progress(&plan.line());
                }
            }
        }
        plan.connections.fetch_max(running.len(), Ordering::Relaxed);
    }
    // The rate held: requests over the time they went out in (the last one's share of
    // it included), so an on-schedule run gives exactly `rate`.
    let sending = (plan.last_sent.load(Ordering::Relaxed) as f64 + plan.gap) / 1e9;
    let latencies = plan
        .latencies
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    Ok(Run {
        requests: total,
        errors: plan.errors.load(Ordering::Relaxed),
        sending,
        connections: plan.connections.load(Ordering::Relaxed).max(initial),
        latencies,
    })
}

impl Fanout {
    /// Invokes `workers` copies of the hook's own function at once, each with its
    /// share of `rate` and a shared start a moment ahead; merges what they answer. A
    /// worker that fails (an error, no answer, a refused invocation) counts its
    /// share as errors.
    async fn measure(
        &self,
        rate: f64,
        duration: Duration,
        workers: u32,
    ) -> Result<Value, MeasureError> {
        let share = rate / f64::from(workers);
        let start_at = std::time::SystemTime::now() + WORKER_LEAD;
        let start_ms = start_at
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut section = self.raw.clone();
        if let Value::Object(map) = &mut section {
            map.remove("workers");
            map.insert("rate".to_owned(), json!(share));
        }
        let d = &self.deployment;
        let qualifier = self.qualifier.as_deref().unwrap_or("$LATEST");
        // Each worker in its own task: they all run at once, answers kept in order.
        let tasks: Vec<_> = (0..workers)
            .map(|i| {
                let payload = json!({ WORKER_FIELD: {
                    "v": 1,
                    "worker": i + 1,
                    "of": workers,
                    "load": section,
                    "start_at_ms": start_ms,
                    "timeout_ms": self.timeout.as_millis() as u64,
                    "deployment_id": d.deployment_id,
                    "deployment": crate::deployment::SavedDeployment::of(d),
                }});
                let (invoker, function, qualifier) = (
                    self.invoker.clone(),
                    self.function.clone(),
                    qualifier.to_owned(),
                );
                tokio::spawn(async move {
                    let out = invoker
                        .invoke(&function, &qualifier, payload.to_string().into_bytes())
                        .await;
                    match out {
                        Ok(o) if o.function_error.is_none() => {
                            serde_json::from_slice::<Value>(&o.payload)
                                .map_err(|e| format!("its answer is not JSON: {e}"))
                                .and_then(|v| Run::from_worker_answer(&v))
                        }
                        Ok(o) => Err(format!(
                            "{}: {}",
                            o.function_error.unwrap_or_default(),
                            crate::measurement::excerpt(
                                &serde_json::from_slice::<Value>(&o.payload).unwrap_or(Value::Null)
                            )
                        )),
                        Err(e) => Err(e.to_string()),
                    }
                })
            })
            .collect();
        // Dropped with the measurement (a deadline), the tasks are aborted.
        let guard = AbortOnDrop(tasks.iter().map(|t| t.abort_handle()).collect());
        let mut answers = Vec::with_capacity(tasks.len());
        for t in tasks {
            answers.push(t.await.map_err(|e| e.to_string()).and_then(|r| r));
        }
        drop(guard);
        let mut merged = Run {
            requests: 0,
            errors: 0,
            sending: 0.0,
            connections: 0,
            latencies: histogram()?,
        };
        let mut per_worker = Vec::new();
        let mut failures = Vec::new();
        let share_requests = (share * duration.as_secs_f64()).round().max(1.0) as u64;
        let mut rps = 0.0;
        for (i, answer) in answers.into_iter().enumerate() {
            match answer {
                Ok(run) => {
                    rps += run.rps();
                    per_worker.push(json!(run.rps()));
                    merged.requests += run.requests;
                    merged.errors += run.errors;
                    merged.sending = merged.sending.max(run.sending);
                    merged.connections += run.connections;
                    merged
                        .latencies
                        .add(&run.latencies)
                        .map_err(|e| MeasureError::new(e.to_string()))?;
                }
                Err(e) => {
                    per_worker.push(Value::Null);
                    merged.requests += share_requests;
                    merged.errors += share_requests;
                    failures.push(json!({ "worker": i + 1, "error": e }));
                }
            }
        }
        let mut m = merged.measurement();
        m["rps"] = json!(rps);
        m["workers"] = json!(workers);
        m["worker_rps"] = Value::Array(per_worker);
        if !failures.is_empty() {
            m["worker_errors"] = Value::Array(failures);
        }
        Ok(m)
    }
}

/// Aborts the tasks it holds when dropped.
struct AbortOnDrop(Vec<tokio::task::AbortHandle>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// Runs a worker's share of a load (an invocation with [`WORKER_FIELD`]): renders its
/// section with this process's variables, waits for the shared start, and answers
/// its counts and histogram.
pub(crate) async fn work(
    spec: &Value,
    effects: &super::Effects,
    env: &std::collections::BTreeMap<String, String>,
) -> Result<Value, String> {
    let start_ms = spec
        .get("start_at_ms")
        .and_then(Value::as_u64)
        .ok_or("a worker needs `start_at_ms`")?;
    let raw = spec
        .get("load")
        .ok_or("a worker needs its `load` section")?;
    let deployment_id = spec.get("deployment_id").and_then(Value::as_str);
    let deployment = match spec.get("deployment") {
        Some(d) => serde_json::from_value::<crate::deployment::SavedDeployment>(d.clone())
            .map_err(|e| format!("`deployment`: {e}"))?
            .deployment(deployment_id.unwrap_or_default()),
        None => crate::deployment::Deployment::default(),
    };
    let timeout = Duration::from_millis(
        spec.get("timeout_ms")
            .and_then(Value::as_u64)
            .unwrap_or(10_000),
    );
    let vars = crate::template::Vars::new(&deployment, env.clone());
    let rendered =
        crate::template::render_value(raw, &vars, "load").map_err(|(p, e)| format!("{p}: {e}"))?;
    let mut errors = Errors::default();
    let section = Section {
        value: &rendered,
        raw,
        path: "load",
    };
    let load = Load::parse(&section, &mut errors).ok_or_else(|| errors.since(0))?;
    let start = std::time::UNIX_EPOCH + Duration::from_millis(start_ms);
    let wait = start
        .duration_since(std::time::SystemTime::now())
        .unwrap_or(Duration::ZERO);
    if wait > WORKER_LEAD * 10 {
        return Err(format!(
            "the shared start is {} away: clocks disagree",
            crate::duration::format(wait)
        ));
    }
    let request = Arc::new(HttpRequest {
        timeout,
        keep_body: false,
        ..load.request
    });
    let run = drive(
        effects.http.clone(),
        request,
        load.rate,
        load.duration,
        Instant::now() + wait,
        None,
    )
    .await
    .map_err(|e| e.message().to_owned())?;
    Ok(run.to_worker_answer())
}

/// How often a load test says how it is going.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{HttpReply, Method};
    use crate::deployment::Deployment;
    use crate::error::EffectError;

    /// Answers after `slow`, or, for requests sent inside `stall`, not before its end.
    struct Scripted {
        slow: Duration,
        stall: Option<(Duration, Duration)>,
        start: Instant,
    }

    #[async_trait]
    impl HttpSender for Scripted {
        async fn send(&self, _: &HttpRequest) -> Result<HttpReply, EffectError> {
            let at = self.start.elapsed();
            match self.stall {
                Some((from, to)) if at >= from && at < to => {
                    tokio::time::sleep_until(self.start + to).await;
                }
                _ => tokio::time::sleep(self.slow).await,
            }
            Ok(HttpReply {
                status: 200,
                headers: Default::default(),
                body: Vec::new(),
            })
        }
    }

    fn check(sender: Scripted, rate: f64, duration: Duration, timeout: Duration) -> LoadCheck {
        LoadCheck {
            sender: Arc::new(sender),
            request: Arc::new(HttpRequest {
                method: Method::default(),
                url: "http://127.0.0.1:9/".to_owned(),
                headers: Default::default(),
                body: None,
                timeout,
                sigv4: None,
                max_body: 1024,
                keep_body: false,
            }),
            rate,
            duration,
            workers: 1,
            fanout: None,
        }
    }

    async fn measure(check: LoadCheck) -> Value {
        let ctx = CheckContext::new(Deployment::default(), "load");
        check.measure(&ctx).await.unwrap()
    }

    #[test]
    fn a_workers_answer_round_trips_its_counts_and_histogram() {
        let mut latencies = histogram().unwrap();
        for v in [100, 250, 250, 10_000, 3_000_000] {
            latencies.record(v).unwrap();
        }
        let run = Run {
            requests: 5,
            errors: 1,
            sending: 0.5,
            connections: 2,
            latencies,
        };
        let answer = run.to_worker_answer();
        let back = Run::from_worker_answer(&answer).unwrap();
        assert_eq!((back.requests, back.errors, back.connections), (5, 1, 2));
        assert_eq!(back.latencies.len(), 5);
        for q in [0.0, 0.5, 0.9, 0.99, 1.0] {
            assert_eq!(
                back.latencies.value_at_quantile(q),
                run.latencies.value_at_quantile(q),
                "quantile {q}"
            );
        }
        assert!(answer.to_string().len() < 200, "compact: {answer}");
        assert_eq!(
            Run::from_worker_answer(&json!({ "requests": 1 })).err(),
            Some("no `errors`".to_owned())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn holds_the_rate_when_answers_are_slow_by_opening_connections() {
        let slow = Scripted {
            slow: Duration::from_millis(20),
            stall: None,
            start: Instant::now(),
        };
        let m = measure(check(
            slow,
            1000.0,
            Duration::from_secs(1),
            Duration::from_secs(1),
        ))
        .await;
        assert_eq!(
            (m["requests"].as_u64(), m["errors"].as_u64()),
            (Some(1000), Some(0)),
            "{m}"
        );
        let rps = m["rps"].as_f64().unwrap();
        assert!((rps - 1000.0).abs() <= 10.0, "within 1%: {m}");
        let connections = m["connections"].as_u64().unwrap();
        assert!(
            (20..=MAX_CONNECTIONS as u64).contains(&connections),
            "about rate x latency: {m}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_stall_shows_as_latency_from_when_requests_were_due() {
        // The target freezes from 0.5 s to 1 s: requests due then wait for its end.
        let stall = Scripted {
            slow: Duration::from_millis(1),
            stall: Some((Duration::from_millis(500), Duration::from_millis(1000))),
            start: Instant::now(),
        };
        let m = measure(check(
            stall,
            100.0,
            Duration::from_secs(2),
            Duration::from_secs(2),
        ))
        .await;
        assert_eq!(
            (m["requests"].as_u64(), m["errors"].as_u64()),
            (Some(200), Some(0)),
            "{m}"
        );
        let p90 = m["latency_ms"]["p90"].as_f64().unwrap();
        let max = m["latency_ms"]["max"].as_f64().unwrap();
        // A quarter of the requests were due in the stall, waiting up to 500 ms for it
        // to end; a closed loop would have sent them later and seen ~1 ms.
        assert!(p90 >= 200.0 && max >= 490.0, "{m}");
        assert!(
            m["latency_ms"]["p50"].as_f64().unwrap() < 5.0,
            "the rest stay fast: {m}"
        );
        assert!(
            (m["rps"].as_f64().unwrap() - 100.0).abs() <= 1.0,
            "the rate is held: {m}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_target_that_never_answers_is_bounded_in_connections_and_time() {
        let never = Scripted {
            slow: Duration::from_secs(3600),
            stall: None,
            start: Instant::now(),
        };
        let began = Instant::now();
        let m = measure(check(
            never,
            20_000.0,
            Duration::from_secs(1),
            Duration::from_millis(500),
        ))
        .await;
        assert_eq!(
            m["connections"].as_u64(),
            Some(MAX_CONNECTIONS as u64),
            "{m}"
        );
        assert_eq!(
            m["errors"].as_u64(),
            Some(20_000),
            "every request timed out or was never sent: {m}"
        );
        assert!(
            began.elapsed() <= Duration::from_millis(1600),
            "duration + timeout: {:?}",
            began.elapsed()
        );
    }
}
