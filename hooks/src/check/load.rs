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

use super::http::{request_from_spec, HttpSpec};
use super::{millis, Check, CheckContext, Effects, HttpRequest, HttpSender, MeasureError, Timing};
use crate::config::{de, FieldError};
use async_trait::async_trait;
use hdrhistogram::Histogram;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// The most requests outstanding at once.
pub const MAX_IN_FLIGHT: usize = 512;

/// The `load:` section of a check.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoadSpec {
    pub http: Value,
    /// Requests per second.
    pub rate: f64,
    /// How long to send.
    pub duration: String,
}

pub(crate) fn validate(raw: &Value, rendered: &Value, path: &str) -> Vec<FieldError> {
    let spec: LoadSpec = match de(rendered, path) {
        Ok(s) => s,
        Err(e) => return vec![e],
    };
    let mut errors = super::http::validate(
        raw.get("http").unwrap_or(&Value::Null),
        &spec.http,
        &format!("{path}.http"),
    );
    if !(spec.rate > 0.0 && spec.rate <= 10_000.0) {
        errors.push(FieldError {
            path: format!("{path}.rate"),
            message: "must be more than 0 and at most 10000 requests per second".into(),
        });
    }
    match crate::duration::parse(&spec.duration) {
        Err(message) => errors.push(FieldError {
            path: format!("{path}.duration"),
            message,
        }),
        Ok(d) if d.is_zero() => errors.push(FieldError {
            path: format!("{path}.duration"),
            message: "must be more than 0s".into(),
        }),
        Ok(_) => {}
    }
    errors
}

pub(crate) fn build(
    spec: &Value,
    path: &str,
    timing: Timing,
    effects: &Effects,
) -> Result<Arc<dyn Check>, String> {
    let spec: LoadSpec = de(spec, path).map_err(|e| e.to_string())?;
    let http: HttpSpec = de(&spec.http, &format!("{path}.http")).map_err(|e| e.to_string())?;
    let request = request_from_spec(http, &format!("{path}.http"), timing)?;
    let duration =
        crate::duration::parse(&spec.duration).map_err(|e| format!("{path}.duration: {e}"))?;
    Ok(Arc::new(LoadCheck {
        sender: effects.http.clone(),
        request,
        rate: spec.rate,
        duration,
    }))
}

/// Sends `rate` requests per second for `duration`.
pub struct LoadCheck {
    sender: Arc<dyn HttpSender>,
    request: HttpRequest,
    rate: f64,
    duration: Duration,
}

#[async_trait]
impl Check for LoadCheck {
    fn kind(&self) -> &'static str {
        "load"
    }

    fn default_expect(&self) -> Option<&'static str> {
        Some("errors == `0`")
    }

    fn measurement_timeout(&self, configured: Duration) -> Duration {
        self.duration + configured
    }

    async fn measure(&self, _: &CheckContext) -> Result<Value, MeasureError> {
        let total = (self.rate * self.duration.as_secs_f64()).round().max(1.0) as u64;
        let gap = Duration::from_secs_f64(1.0 / self.rate);
        let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
        let mut running = JoinSet::new();
        let mut errors = 0u64;
        let started = Instant::now();
        for n in 0..total {
            tokio::time::sleep_until((started + gap.mul_f64(n as f64)).into()).await;
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                errors += 1;
                continue;
            };
            let (sender, request) = (self.sender.clone(), self.request.clone());
            running.spawn(async move {
                let began = Instant::now();
                let ok =
                    matches!(sender.send(request).await, Ok(r) if (200..400).contains(&r.status));
                drop(slot);
                (ok, began.elapsed())
            });
        }
        // Microseconds, 1 µs to 10 min, 3 significant digits.
        let mut latencies = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)
            .map_err(|e| MeasureError(e.to_string()))?;
        while let Some(done) = running.join_next().await {
            match done {
                Ok((ok, latency)) => {
                    latencies.saturating_record(latency.as_micros().max(1) as u64);
                    if !ok {
                        errors += 1;
                    }
                }
                Err(_) => errors += 1,
            }
        }
        let elapsed = started.elapsed().as_secs_f64().max(f64::EPSILON);
        let q =
            |quantile: f64| millis(Duration::from_micros(latencies.value_at_quantile(quantile)));
        Ok(json!({
            "requests": total,
            "errors": errors,
            "error_rate": errors as f64 / total as f64,
            "rps": total as f64 / elapsed,
            "latency_ms": { "p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "max": millis(Duration::from_micros(latencies.max())) },
        }))
    }
}
