//! `metric`: one CloudWatch metric over a window, through `GetMetricData`.
//!
//! Measurement: `{value, datapoints: [{timestamp, value}]}`. `value` aggregates the
//! window's datapoints the way `stat` does (`Sum`/`SampleCount`: sum; `Average`: mean of
//! the period values; `Minimum`: min; `Maximum` and percentiles such as `p99`: max, the
//! conservative choice). With no datapoints `value` is `null`: a comparison with null is
//! false in JMESPath, so `` value <= `0` `` fails on no data; write
//! `` value == null || value <= `0` `` where no data means healthy (an `Errors` metric of a
//! version nobody called yet). `expect` is required.

use super::{Check, CheckContext, Effects, MeasureError};
use crate::config::{de, FieldError};
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// A metric query.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricQuery {
    /// Namespace, e.g. `AWS/Lambda`.
    pub namespace: String,
    /// Metric name, e.g. `Errors`.
    pub name: String,
    /// Statistic: `Sum`, `Average`, `Minimum`, `Maximum`, `SampleCount` or `pNN`.
    pub stat: String,
    /// Period of each datapoint.
    pub period: Duration,
    /// How far back from now.
    pub window: Duration,
    /// Dimensions.
    pub dimensions: BTreeMap<String, String>,
}

/// CloudWatch `GetMetricData`, behind a trait so tests can fake it.
#[async_trait]
pub trait MetricSource: Send + Sync {
    /// `(timestamp as epoch seconds, value)` for each period with data in the window.
    async fn datapoints(&self, query: &MetricQuery) -> Result<Vec<(i64, f64)>, String>;
}

/// The `metric:` section of a check.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MetricSpec {
    pub namespace: String,
    pub name: String,
    #[serde(default = "sum")]
    pub stat: String,
    #[serde(default = "one_minute")]
    pub period: String,
    #[serde(default = "five_minutes")]
    pub window: String,
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
}

fn sum() -> String {
    "Sum".to_owned()
}
fn one_minute() -> String {
    "60s".to_owned()
}
fn five_minutes() -> String {
    "5m".to_owned()
}

const STATS: [&str; 5] = ["Sum", "Average", "Minimum", "Maximum", "SampleCount"];

fn valid_stat(stat: &str) -> bool {
    STATS.contains(&stat)
        || stat
            .strip_prefix('p')
            .and_then(|n| n.parse::<f64>().ok())
            .is_some_and(|n| (0.0..=100.0).contains(&n))
}

fn query(spec: MetricSpec, path: &str) -> Result<MetricQuery, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut duration = |field: &str, text: &str| match crate::duration::parse(text) {
        Ok(d) => Some(d),
        Err(message) => {
            errors.push(FieldError {
                path: format!("{path}.{field}"),
                message,
            });
            None
        }
    };
    let period = duration("period", &spec.period);
    let window = duration("window", &spec.window);
    if !valid_stat(&spec.stat) {
        errors.push(FieldError {
            path: format!("{path}.stat"),
            message: format!(
                "`{}` is not a statistic; use {} or a percentile such as p99",
                spec.stat,
                STATS.join(", ")
            ),
        });
    }
    if let Some(p) = period {
        // CloudWatch accepts 1, 5, 10, 30 s (high resolution) or multiples of 60 s.
        let s = p.as_secs();
        if p.subsec_nanos() != 0 || !(matches!(s, 1 | 5 | 10 | 30) || (s > 0 && s % 60 == 0)) {
            errors.push(FieldError {
                path: format!("{path}.period"),
                message: "must be 1s, 5s, 10s, 30s or a multiple of 60s".into(),
            });
        }
    }
    if let (Some(p), Some(w)) = (period, window) {
        if w < p {
            errors.push(FieldError {
                path: format!("{path}.window"),
                message: "must be at least one period".into(),
            });
        }
    }
    match (period, window) {
        (Some(period), Some(window)) if errors.is_empty() => Ok(MetricQuery {
            namespace: spec.namespace,
            name: spec.name,
            stat: spec.stat,
            period,
            window,
            dimensions: spec.dimensions,
        }),
        _ => Err(errors),
    }
}

pub(crate) fn validate(rendered: &Value, path: &str) -> Vec<FieldError> {
    match de::<MetricSpec>(rendered, path) {
        Err(e) => vec![e],
        Ok(spec) => query(spec, path).err().unwrap_or_default(),
    }
}

pub(crate) fn build(spec: &Value, path: &str, effects: &Effects) -> Result<Arc<dyn Check>, String> {
    let spec: MetricSpec = de(spec, path).map_err(|e| e.to_string())?;
    let query = query(spec, path).map_err(|e| {
        e.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    Ok(Arc::new(MetricCheck {
        source: effects.metrics.clone(),
        query,
    }))
}

/// Reads one metric.
pub struct MetricCheck {
    source: Arc<dyn MetricSource>,
    query: MetricQuery,
}

/// Aggregates period values over the window as `stat` does.
pub(crate) fn aggregate(stat: &str, values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let sum: f64 = values.iter().sum();
    Some(match stat {
        "Sum" | "SampleCount" => sum,
        "Average" => sum / values.len() as f64,
        "Minimum" => values.iter().copied().fold(f64::INFINITY, f64::min),
        _ => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    })
}

#[async_trait]
impl Check for MetricCheck {
    fn kind(&self) -> &'static str {
        "metric"
    }

    async fn measure(&self, _: &CheckContext) -> Result<Value, MeasureError> {
        let mut points = self
            .source
            .datapoints(&self.query)
            .await
            .map_err(|e| MeasureError(format!("GetMetricData: {e}")))?;
        points.sort_by_key(|(t, _)| *t);
        let values: Vec<f64> = points.iter().map(|(_, v)| *v).collect();
        let datapoints: Vec<Value> = points
            .iter()
            .map(|(t, v)| json!({ "timestamp": t, "value": v }))
            .collect();
        Ok(json!({ "value": aggregate(&self.query.stat, &values), "datapoints": datapoints }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregates_like_the_statistic() {
        let v = [1.0, 4.0, 2.0];
        assert_eq!(aggregate("Sum", &v), Some(7.0));
        assert_eq!(aggregate("Average", &v), Some(7.0 / 3.0));
        assert_eq!(aggregate("Minimum", &v), Some(1.0));
        assert_eq!(aggregate("Maximum", &v), Some(4.0));
        assert_eq!(aggregate("p99", &v), Some(4.0));
        assert_eq!(aggregate("Sum", &[]), None);
    }

    #[test]
    fn validates_stat_period_and_window() {
        let errs = validate(
            &json!({"namespace": "AWS/Lambda", "name": "Errors", "stat": "Median", "period": "45s", "window": "30s"}),
            "m",
        );
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["m.stat", "m.period", "m.window"], "{errs:?}");
        assert!(validate(
            &json!({"namespace": "AWS/Lambda", "name": "Duration", "stat": "p99.9"}),
            "m"
        )
        .is_empty());
    }
}
