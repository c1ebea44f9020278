//! `load`: send HTTP requests at a fixed rate for a duration and measure the answers.
//!
//! Open loop: requests start on schedule whether or not earlier ones answered, so a
//! slow version shows up as latency instead of as a lower request rate (the
//! coordinated-omission trap of closed-loop load). At most [`MAX_IN_FLIGHT`] requests
//! are outstanding; a request that cannot start on time counts as an error.
//!
//! Measurement: `{requests, errors, error_rate, rps, latency_ms: {p50, p90, p99, max}}`.
//! An error is a transport failure, a timeout, or a status outside 2xx/3xx. Default
//! expect: `` errors == `0` ``. The measurement may take `duration` plus the check's
//! `timeout` (each request's limit).

use super::http::{parse_request, FIELDS as HTTP_FIELDS};
use super::kind::{BuildContext, BuildError, Kind, Section};
use super::{millis, Check, CheckContext, HttpRequest, HttpSender, MeasureError};
use crate::diag::{Errors, Fields};
use crate::duration::Duration as ConfigDuration;
use async_trait::async_trait;
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// The most requests outstanding at once.
pub(crate) const MAX_IN_FLIGHT: usize = 256;

/// The highest `rate` a check may ask for, in requests per second.
pub(crate) const MAX_RATE: f64 = 10_000.0;

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

#[async_trait]
impl Check for LoadCheck {
    fn measurement_timeout(&self, configured: Duration) -> Duration {
        self.duration + configured
    }

    async fn measure(&self, ctx: &CheckContext) -> Result<Value, MeasureError> {
        let total = (self.rate * self.duration.as_secs_f64()).round().max(1.0) as u64;
        let gap = Duration::from_secs_f64(1.0 / self.rate);
        let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
        let mut running = JoinSet::new();
        // Microseconds, 1 µs to 10 min, 3 significant digits.
        let mut tally = Tally {
            latencies: Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)
                .map_err(|e| MeasureError::new(e.to_string()))?,
            errors: 0,
        };
        let started = Instant::now();
        let mut said = started;
        for n in 0..total {
            tokio::time::sleep_until(started + gap.mul_f64(n as f64)).await;
            while let Some(done) = running.try_join_next() {
                tally.add(done);
            }
            if said.elapsed() >= PROGRESS_EVERY {
                said = Instant::now();
                ctx.progress(&tally.line(n, started.elapsed()));
            }
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                tally.errors += 1;
                continue;
            };
            let (sender, request) = (self.sender.clone(), self.request.clone());
            running.spawn(async move {
                let began = Instant::now();
                let ok =
                    matches!(sender.send(&request).await, Ok(r) if (200..400).contains(&r.status));
                drop(slot);
                (ok, began.elapsed())
            });
        }
        while let Some(done) = running.join_next().await {
            tally.add(done);
        }
        let elapsed = started.elapsed().as_secs_f64().max(f64::EPSILON);
        let latencies = &tally.latencies;
        let q =
            |quantile: f64| millis(Duration::from_micros(latencies.value_at_quantile(quantile)));
        Ok(json!({
            "requests": total,
            "errors": tally.errors,
            "error_rate": tally.errors as f64 / total as f64,
            "rps": total as f64 / elapsed,
            "latency_ms": { "p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "max": millis(Duration::from_micros(latencies.max())) },
        }))
    }
}

/// How often a load test says how it is going.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// Latencies and errors so far.
struct Tally {
    latencies: Histogram<u64>,
    errors: u64,
}

impl Tally {
    fn add(&mut self, done: Result<(bool, Duration), tokio::task::JoinError>) {
        match done {
            Ok((ok, latency)) => {
                self.latencies
                    .saturating_record(latency.as_micros().max(1) as u64);
                if !ok {
                    self.errors += 1;
                }
            }
            Err(_) => self.errors += 1,
        }
    }

    /// `1000 sent (200/s), 0 errors, p99 3.2 ms`.
    fn line(&self, sent: u64, elapsed: Duration) -> String {
        format!(
            "{sent} sent ({:.0}/s), {} errors, p99 {:.1} ms",
            sent as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
            self.errors,
            self.latencies.value_at_quantile(0.99) as f64 / 1000.0
        )
    }
}
