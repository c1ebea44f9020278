//! The fake CloudWatch: `DescribeAlarms` and `GetMetricData` in the AWS SDK for Rust's
//! own wire protocol, Smithy RPC v2 CBOR (`POST
//! /service/GraniteServiceVersion20100801/operation/<Op>`), answered from alarms and
//! metrics the test (or the simulator) puts in.
//!
//! Shapes follow botocore's model of CloudWatch; `testkit/tests/conformance.py` checks
//! them with botocore's own CBOR client, and `testkit/tests/cloudwatch.rs` with the
//! Rust SDK's.

use super::{FakeAws, Inner};
use crate::cbor::{self, Cbor};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

/// Statistics of the samples in one second (or one period) of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Sum of the samples.
    pub sum: f64,
    /// Number of samples.
    pub count: f64,
    /// Least sample.
    pub min: f64,
    /// Greatest sample.
    pub max: f64,
}

impl Stats {
    /// `n` samples that all have `value`.
    pub fn repeated(value: f64, n: f64) -> Self {
        Self {
            sum: value * n,
            count: n,
            min: value,
            max: value,
        }
    }

    /// `n` samples of 0 or 1, `ones` of them 1 (an `Errors` metric).
    pub fn ones_of(ones: f64, n: f64) -> Self {
        Self {
            sum: ones,
            count: n,
            min: if ones >= n { 1.0 } else { 0.0 },
            max: if ones > 0.0 { 1.0 } else { 0.0 },
        }
    }

    fn merge(&mut self, o: &Stats) {
        self.sum += o.sum;
        self.count += o.count;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
    }

    /// The value of a CloudWatch statistic. Percentiles are not kept: `pNN` answers
    /// the maximum, the conservative bound of any percentile.
    pub fn value(&self, stat: &str) -> Option<f64> {
        if self.count <= 0.0 {
            return None;
        }
        Some(match stat {
            "Sum" => self.sum,
            "SampleCount" => self.count,
            "Average" => self.sum / self.count,
            "Minimum" => self.min,
            "Maximum" => self.max,
            p if p.starts_with('p') => self.max,
            _ => return None,
        })
    }
}

/// A metric: namespace, name and exactly these dimensions (CloudWatch matches the
/// whole set).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MetricKey {
    /// `AWS/Lambda`.
    pub namespace: String,
    /// `Errors`.
    pub name: String,
    /// Dimension names and values.
    pub dimensions: BTreeMap<String, String>,
}

/// Metrics by the second.
#[derive(Debug, Clone, Default)]
pub struct MetricStore {
    series: HashMap<MetricKey, BTreeMap<i64, Stats>>,
}

impl MetricStore {
    /// Adds samples at epoch second `t`.
    pub fn put(&mut self, key: MetricKey, t: i64, stats: Stats) {
        let second = self
            .series
            .entry(key)
            .or_default()
            .entry(t)
            .or_insert(Stats {
                sum: 0.0,
                count: 0.0,
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
            });
        second.merge(&stats);
    }

    /// One value of `stat` per `period` seconds with data in `[start, end)`, periods
    /// aligned to the epoch as CloudWatch aligns them, oldest first.
    pub fn datapoints(
        &self,
        key: &MetricKey,
        start: i64,
        end: i64,
        period: i64,
        stat: &str,
    ) -> Vec<(i64, f64)> {
        let Some(series) = self.series.get(key) else {
            return Vec::new();
        };
        let period = period.max(1);
        let mut buckets: BTreeMap<i64, Stats> = BTreeMap::new();
        for (t, s) in series.range(start..end) {
            let bucket = t.div_euclid(period) * period;
            buckets
                .entry(bucket)
                .and_modify(|b| b.merge(s))
                .or_insert(*s);
        }
        buckets
            .into_iter()
            .filter_map(|(t, s)| s.value(stat).map(|v| (t, v)))
            .collect()
    }
}

/// A CloudWatch metric alarm: its definition and its state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FakeAlarm {
    /// `AlarmName`.
    pub name: String,
    /// `Namespace`.
    pub namespace: String,
    /// `MetricName`.
    pub metric: String,
    /// `Dimensions`.
    pub dimensions: BTreeMap<String, String>,
    /// `Statistic` (`Sum`, `Average`, ...) or `ExtendedStatistic` (`p99`).
    pub statistic: String,
    /// `Period`, seconds.
    pub period: u32,
    /// `EvaluationPeriods`.
    pub evaluation_periods: u32,
    /// `DatapointsToAlarm` (default: all of `EvaluationPeriods`).
    pub datapoints_to_alarm: Option<u32>,
    /// `Threshold`.
    pub threshold: f64,
    /// `ComparisonOperator`.
    pub comparison: String,
    /// `TreatMissingData`: `missing`, `notBreaching`, `breaching` or `ignore`.
    pub treat_missing_data: String,
    /// `StateValue`: `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: String,
    /// `StateReason`.
    pub reason: String,
    /// When the state last changed, epoch seconds.
    pub updated: f64,
}

impl FakeAlarm {
    /// The key of the metric it watches.
    pub fn metric_key(&self) -> MetricKey {
        MetricKey {
            namespace: self.namespace.clone(),
            name: self.metric.clone(),
            dimensions: self.dimensions.clone(),
        }
    }

    fn shape(&self) -> Cbor {
        let dims = self
            .dimensions
            .iter()
            .map(|(k, v)| Cbor::map([("Name", Cbor::text(k)), ("Value", Cbor::text(v))]))
            .collect();
        let stat = if self.statistic.starts_with('p') {
            ("ExtendedStatistic", Cbor::text(&self.statistic))
        } else {
            ("Statistic", Cbor::text(&self.statistic))
        };
        Cbor::map([
            ("AlarmName", Cbor::text(&self.name)),
            (
                "AlarmArn",
                Cbor::text(format!(
                    "arn:aws:cloudwatch:us-east-1:123456789012:alarm:{}",
                    self.name
                )),
            ),
            ("ActionsEnabled", Cbor::Bool(true)),
            ("StateValue", Cbor::text(&self.state)),
            ("StateReason", Cbor::text(&self.reason)),
            ("StateUpdatedTimestamp", Cbor::Timestamp(self.updated)),
            ("MetricName", Cbor::text(&self.metric)),
            ("Namespace", Cbor::text(&self.namespace)),
            stat,
            ("Dimensions", Cbor::Array(dims)),
            ("Period", Cbor::Int(i64::from(self.period))),
            (
                "EvaluationPeriods",
                Cbor::Int(i64::from(self.evaluation_periods)),
            ),
            (
                "DatapointsToAlarm",
                Cbor::Int(i64::from(
                    self.datapoints_to_alarm.unwrap_or(self.evaluation_periods),
                )),
            ),
            ("Threshold", Cbor::Float(self.threshold)),
            ("ComparisonOperator", Cbor::text(&self.comparison)),
            ("TreatMissingData", Cbor::text(&self.treat_missing_data)),
        ])
    }
}

fn epoch(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn cbor_response(status: StatusCode, body: Cbor) -> Response {
    let mut resp = (status, body.encode()).into_response();
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/cbor"));
    h.insert("smithy-protocol", HeaderValue::from_static("rpc-v2-cbor"));
    resp
}

fn cbor_error(code: &str, message: &str) -> Response {
    cbor_response(
        StatusCode::BAD_REQUEST,
        Cbor::map([
            ("__type", Cbor::text(code)),
            ("message", Cbor::text(message)),
        ]),
    )
}

/// `POST /service/GraniteServiceVersion20100801/operation/{op}`.
pub(super) async fn handle(
    State(fake): State<FakeAws>,
    Path(op): Path<String>,
    body: Bytes,
) -> Response {
    let input = match cbor::decode(&body) {
        Ok(v) => v,
        Err(e) => return cbor_error("SerializationException", &e),
    };
    let mut inner = fake.lock();
    inner.cloudwatch_calls.push(op.clone());
    match op.as_str() {
        "DescribeAlarms" => describe_alarms(&inner, &input),
        "GetMetricData" => get_metric_data(&inner, &input),
        other => cbor_error(
            "UnknownOperationException",
            &format!("the fake does not implement {other}"),
        ),
    }
}

fn describe_alarms(inner: &Inner, input: &Value) -> Response {
    let names: Vec<&str> = input
        .get("AlarmNames")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let prefix = input.get("AlarmNamePrefix").and_then(Value::as_str);
    if !names.is_empty() && prefix.is_some() {
        return cbor_error(
            "InvalidParameterCombination",
            "AlarmNames and AlarmNamePrefix cannot be used together",
        );
    }
    let metric_wanted = input
        .get("AlarmTypes")
        .and_then(Value::as_array)
        .is_none_or(|t| t.iter().any(|t| t == "MetricAlarm"));
    let alarms: Vec<Cbor> = inner
        .alarms
        .values()
        .filter(|_| metric_wanted)
        .filter(|a| names.is_empty() || names.contains(&a.name.as_str()))
        .filter(|a| prefix.is_none_or(|p| a.name.starts_with(p)))
        .map(FakeAlarm::shape)
        .collect();
    cbor_response(
        StatusCode::OK,
        Cbor::map([
            ("MetricAlarms", Cbor::Array(alarms)),
            ("CompositeAlarms", Cbor::Array(Vec::new())),
        ]),
    )
}

fn get_metric_data(inner: &Inner, input: &Value) -> Response {
    let time = |k: &str| input.get(k).and_then(Value::as_f64);
    let (Some(start), Some(end)) = (time("StartTime"), time("EndTime")) else {
        return cbor_error("ValidationError", "StartTime and EndTime are required");
    };
    // A simulation runs faster than the wall clock: a query that ends "now" means
    // the simulated now.
    let shift = inner
        .clock
        .as_ref()
        .map(|now| epoch(now()) - epoch(SystemTime::now()))
        .unwrap_or(0.0);
    let (start, end) = ((start + shift) as i64, (end + shift) as i64);
    let mut results = Vec::new();
    for q in input
        .get("MetricDataQueries")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let id = q.get("Id").and_then(Value::as_str).unwrap_or_default();
        let Some(stat) = q.get("MetricStat") else {
            return cbor_error(
                "ValidationError",
                "the fake answers MetricStat queries only (no Expression)",
            );
        };
        let metric = stat.get("Metric").cloned().unwrap_or(Value::Null);
        let field = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let key = MetricKey {
            namespace: field(&metric, "Namespace"),
            name: field(&metric, "MetricName"),
            dimensions: metric
                .get("Dimensions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|d| (field(d, "Name"), field(d, "Value")))
                .collect(),
        };
        let period = stat.get("Period").and_then(Value::as_i64).unwrap_or(60);
        let points = inner
            .metrics
            .datapoints(&key, start, end, period, &field(stat, "Stat"));
        // CloudWatch answers newest first (ScanBy TimestampDescending).
        let (times, values): (Vec<Cbor>, Vec<Cbor>) = points
            .iter()
            .rev()
            .map(|(t, v)| (Cbor::Timestamp(*t as f64 - shift), Cbor::Float(*v)))
            .unzip();
        results.push(Cbor::map([
            ("Id", Cbor::text(id)),
            ("Label", Cbor::text(&key.name)),
            ("Timestamps", Cbor::Array(times)),
            ("Values", Cbor::Array(values)),
            ("StatusCode", Cbor::text("Complete")),
        ]));
    }
    cbor_response(
        StatusCode::OK,
        Cbor::map([
            ("MetricDataResults", Cbor::Array(results)),
            ("Messages", Cbor::Array(Vec::new())),
        ]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MetricKey {
        MetricKey {
            namespace: "AWS/Lambda".into(),
            name: "Errors".into(),
            dimensions: [("FunctionName".to_owned(), "f".to_owned())].into(),
        }
    }

    #[test]
    fn datapoints_aggregate_seconds_into_aligned_periods() {
        let mut store = MetricStore::default();
        for t in 0..180 {
            store.put(
                key(),
                1_000_020 + t,
                Stats::ones_of(if t % 60 == 0 { 1.0 } else { 0.0 }, 2.0),
            );
        }
        // Periods start at multiples of 60: 1_000_020 is 1_000_020 % 60 = 0.
        let sums = store.datapoints(&key(), 1_000_020, 1_000_200, 60, "Sum");
        assert_eq!(
            sums,
            vec![(1_000_020, 1.0), (1_000_080, 1.0), (1_000_140, 1.0)]
        );
        let avg = store.datapoints(&key(), 1_000_020, 1_000_080, 60, "Average");
        assert_eq!(avg, vec![(1_000_020, 1.0 / 120.0)]);
        assert_eq!(
            store.datapoints(&key(), 1_000_020, 1_000_080, 60, "SampleCount"),
            vec![(1_000_020, 120.0)]
        );
        assert!(
            store.datapoints(&key(), 0, 10, 60, "Sum").is_empty(),
            "no data, no datapoint"
        );
    }
}
