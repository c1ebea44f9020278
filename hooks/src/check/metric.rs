//! `metric`: one CloudWatch metric over a window, through `GetMetricData`.
//!
//! Measurement: `{value, datapoints: [{timestamp, value}]}`. `value` aggregates the
//! window's datapoints the way `stat` does (`Sum`/`SampleCount`: sum; `Average`: mean of
//! the period values; `Minimum`: min; `Maximum` and percentiles such as `p99`: max, the
//! conservative choice). With no datapoints `value` is `null`: a comparison with null is
//! false in JMESPath, so `` value <= `0` `` fails on no data; write
//! `` value == null || value <= `0` `` where no data means healthy (an `Errors` metric of a
//! version nobody called yet). `expect` is required.

use super::kind::{BuildContext, BuildError, Kind, Section};
use super::{Check, CheckContext, MeasureError};
use crate::diag::Errors;
use crate::duration::Duration as ConfigDuration;
use crate::error::EffectError;
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A CloudWatch statistic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Stat {
    /// `Sum`.
    Sum,
    /// `Average`.
    Average,
    /// `Minimum`.
    Minimum,
    /// `Maximum`.
    Maximum,
    /// `SampleCount`.
    SampleCount,
    /// `pNN`: a percentile from 0 to 100.
    Percentile(f64),
}

const STATS: &str = "Sum, Average, Minimum, Maximum, SampleCount";

impl fmt::Display for Stat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sum => f.write_str("Sum"),
            Self::Average => f.write_str("Average"),
            Self::Minimum => f.write_str("Minimum"),
            Self::Maximum => f.write_str("Maximum"),
            Self::SampleCount => f.write_str("SampleCount"),
            Self::Percentile(p) => write!(f, "p{p}"),
        }
    }
}

impl std::str::FromStr for Stat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "Sum" => Self::Sum,
            "Average" => Self::Average,
            "Minimum" => Self::Minimum,
            "Maximum" => Self::Maximum,
            "SampleCount" => Self::SampleCount,
            other => match other.strip_prefix('p').and_then(|n| n.parse::<f64>().ok()) {
                Some(p) if (0.0..=100.0).contains(&p) => Self::Percentile(p),
                _ => {
                    return Err(format!(
                        "`{other}` is not a statistic; use {STATS} or a percentile such as p99"
                    ))
                }
            },
        })
    }
}

impl<'de> Deserialize<'de> for Stat {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl Stat {
    /// Aggregates period values over the window as the statistic does: `Sum` and
    /// `SampleCount` add, `Average` takes the mean, `Minimum` the least, `Maximum` and
    /// percentiles the greatest (the conservative choice for a gate).
    pub(crate) fn aggregate(self, values: &[f64]) -> Option<f64> {
        if values.is_empty() {
            return None;
        }
        let sum: f64 = values.iter().sum();
        Some(match self {
            Self::Sum | Self::SampleCount => sum,
            Self::Average => sum / values.len() as f64,
            Self::Minimum => values.iter().copied().fold(f64::INFINITY, f64::min),
            Self::Maximum | Self::Percentile(_) => {
                values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
            }
        })
    }
}

/// The most periods a window may hold (a day of minutes).
const MAX_PERIODS: u64 = 1440;

/// A metric query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MetricQuery {
    /// Namespace, e.g. `AWS/Lambda`.
    pub(crate) namespace: String,
    /// Metric name, e.g. `Errors`.
    pub(crate) name: String,
    /// Statistic.
    pub(crate) stat: Stat,
    /// Period of each datapoint.
    pub(crate) period: Duration,
    /// How far back from now.
    pub(crate) window: Duration,
    /// Dimensions.
    pub(crate) dimensions: BTreeMap<String, String>,
}

/// CloudWatch `GetMetricData`, behind a trait so tests can fake it.
#[async_trait]
pub(crate) trait MetricSource: Send + Sync {
    /// `(timestamp as epoch seconds, value)` for each period with data in the window.
    async fn datapoints(&self, query: &MetricQuery) -> Result<Vec<(i64, f64)>, EffectError>;
}

/// The `metric` kind: its section.
pub(crate) struct Metric(MetricQuery);

impl Kind for Metric {
    const NAME: &'static str = "metric";

    fn parse(section: &Section<'_>, errors: &mut Errors) -> Option<Self> {
        let mut f = section.fields(
            &[
                "namespace",
                "name",
                "stat",
                "period",
                "window",
                "dimensions",
            ],
            errors,
        );
        let namespace = f.required::<String>("namespace");
        let name = f.required::<String>("name");
        let stat = f.optional::<Stat>("stat").unwrap_or(Stat::Sum);
        let period = f
            .optional::<ConfigDuration>("period")
            .map(ConfigDuration::get);
        let window = f
            .optional::<ConfigDuration>("window")
            .map(ConfigDuration::get);
        let dimensions = f
            .optional::<BTreeMap<String, String>>("dimensions")
            .unwrap_or_default();
        let both_read = f.raw("period").is_none_or(|_| period.is_some())
            && f.raw("window").is_none_or(|_| window.is_some());
        let period = period.unwrap_or(Duration::from_secs(60));
        let window = window.unwrap_or(Duration::from_secs(300));
        // CloudWatch accepts 1, 5, 10, 30 s (high resolution) or multiples of 60 s.
        let s = period.as_secs();
        if period.subsec_nanos() != 0 || !(matches!(s, 1 | 5 | 10 | 30) || (s > 0 && s % 60 == 0)) {
            f.error("period", "must be 1s, 5s, 10s, 30s or a multiple of 60s");
        }
        if both_read && window < period {
            f.error("window", "must be at least one period");
        }
        let periods = window.as_secs() / period.as_secs().max(1);
        if both_read && periods > MAX_PERIODS {
            f.error(
                "window",
                format!("holds {periods} periods; at most {MAX_PERIODS} (make `period` longer)"),
            );
        }
        if !f.ok() {
            return None;
        }
        Some(Self(MetricQuery {
            namespace: namespace?,
            name: name?,
            stat,
            period,
            window,
            dimensions,
        }))
    }

    fn build(self, cx: &BuildContext<'_>) -> Result<Arc<dyn Check>, BuildError> {
        Ok(Arc::new(MetricCheck {
            source: cx.effects.metrics.clone(),
            query: self.0,
        }))
    }
}

/// Reads one metric.
struct MetricCheck {
    source: Arc<dyn MetricSource>,
    query: MetricQuery,
}

#[async_trait]
impl Check for MetricCheck {
    async fn measure(&self, _: &CheckContext) -> Result<Value, MeasureError> {
        let mut points = self.source.datapoints(&self.query).await?;
        points.sort_by_key(|(t, _)| *t);
        let values: Vec<f64> = points.iter().map(|(_, v)| *v).collect();
        let datapoints: Vec<Value> = points
            .iter()
            .map(|(t, v)| json!({ "timestamp": t, "value": v }))
            .collect();
        Ok(json!({ "value": self.query.stat.aggregate(&values), "datapoints": datapoints }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregates_like_the_statistic() {
        let v = [1.0, 4.0, 2.0];
        assert_eq!(Stat::Sum.aggregate(&v), Some(7.0));
        assert_eq!(Stat::Average.aggregate(&v), Some(7.0 / 3.0));
        assert_eq!(Stat::Minimum.aggregate(&v), Some(1.0));
        assert_eq!(Stat::Maximum.aggregate(&v), Some(4.0));
        assert_eq!(Stat::Percentile(99.0).aggregate(&v), Some(4.0));
        assert_eq!(Stat::Sum.aggregate(&[]), None);
    }

    fn errors(section: Value) -> Vec<String> {
        let mut errors = Errors::default();
        Metric::parse(
            &Section {
                value: &section,
                raw: &section,
                path: "m",
            },
            &mut errors,
        );
        errors.into_vec().iter().map(|e| e.path.clone()).collect()
    }

    #[test]
    fn validates_stat_period_and_window_all_at_once() {
        let paths = errors(
            json!({"namespace": "AWS/Lambda", "name": "Errors", "stat": "Median", "period": "45s", "window": "30s"}),
        );
        assert_eq!(paths, ["m.stat", "m.period", "m.window"]);
        assert!(
            errors(json!({"namespace": "AWS/Lambda", "name": "Duration", "stat": "p99.9"}))
                .is_empty()
        );
        assert_eq!(
            "p99.9".parse::<Stat>().map(|s| s.to_string()),
            Ok("p99.9".to_owned())
        );
    }
}
