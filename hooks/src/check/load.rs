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

/// The `load` kind: its section.
pub(crate) struct Load {
    request: HttpRequest,
    rate: f64,
    duration: Duration,
}

impl Kind for Load {
    const NAME: &'static str = "load";

    fn parse(section: &Section<'_>, errors: &mut Errors) -> Option<Self> {
        let http_path = format!("{}.http", section.path);
        let (http, rate, duration, ok) = {
            let mut f = section.fields(&["http", "rate", "duration"], errors);
            let http = f.required::<Value>("http");
            let rate = f.required::<f64>("rate");
            if rate.is_some_and(|r| !(r > 0.0 && r <= MAX_RATE)) {
                f.error(
                    "rate",
                    format!("must be more than 0 and at most {MAX_RATE} requests per second"),
                );
            }
            let duration = f
                .required::<ConfigDuration>("duration")
                .map(ConfigDuration::get);
            if duration.is_some_and(|d| d.is_zero()) {
                f.error("duration", "must be more than 0s");
            }
            (http, rate, duration, f.ok())
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
        })
    }

    fn default_expect(&self) -> Option<&'static str> {
        Some("errors == `0`")
    }

    fn build(self, cx: &BuildContext<'_>) -> Result<Arc<dyn Check>, BuildError> {
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
        }))
    }
}

/// Sends `rate` requests per second for `duration`.
struct LoadCheck {
    sender: Arc<dyn HttpSender>,
    request: Arc<HttpRequest>,
    rate: f64,
    duration: Duration,
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
        self.duration + configured
    }

    async fn measure(&self, ctx: &CheckContext) -> Result<Value, MeasureError> {
        let total = (self.rate * self.duration.as_secs_f64()).round().max(1.0) as u64;
        let plan = Arc::new(Plan {
            start: Instant::now(),
            gap: 1e9 / self.rate,
            total,
            timeout: self.request.timeout,
            next: AtomicU64::new(0),
            done: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            connections: AtomicUsize::new(0),
            last_sent: AtomicU64::new(0),
            // Microseconds, 1 µs to 10 min, 3 significant digits.
            latencies: Mutex::new(
                Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)
                    .map_err(|e| MeasureError::new(e.to_string()))?,
            ),
        });
        let open = || self.sender.clone().connect(self.request.clone());
        // The first connection's failure (no credentials to sign with) is the measurement's.
        let first = open().await.map_err(|e| MeasureError::new(e.message))?;
        let (more, mut wanted) = mpsc::channel(1);
        // Dropped with the measurement (a deadline), the set stops every connection.
        let mut running = JoinSet::new();
        running.spawn(connection(plan.clone(), first, more.clone()));
        let initial = ((self.rate * CONNECTIONS_PER_RATE).ceil() as usize + 1).min(MAX_CONNECTIONS);
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
                _ = progress.tick() => ctx.progress(&plan.line()),
            }
            plan.connections.fetch_max(running.len(), Ordering::Relaxed);
        }
        // The rate held: requests over the time they went out in (the last one's
        // share of it included), so an on-schedule run gives exactly `rate`.
        let sending = plan.last_sent.load(Ordering::Relaxed) as f64 + plan.gap;
        let errors = plan.errors.load(Ordering::Relaxed);
        let latencies = plan
            .latencies
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let q =
            |quantile: f64| millis(Duration::from_micros(latencies.value_at_quantile(quantile)));
        Ok(json!({
            "requests": total,
            "errors": errors,
            "error_rate": errors as f64 / total as f64,
            "rps": total as f64 / (sending / 1e9),
            "connections": plan.connections.load(Ordering::Relaxed).max(initial),
            "latency_ms": { "p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "max": millis(Duration::from_micros(latencies.max())) },
        }))
    }
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
        }
    }

    async fn measure(check: LoadCheck) -> Value {
        let ctx = CheckContext::new(Deployment::default(), "load");
        check.measure(&ctx).await.unwrap()
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
