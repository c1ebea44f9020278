//! CloudWatch alarm evaluation, as its documentation describes it, from the same
//! metrics the hooks query.
//!
//! At each evaluation the alarm looks at its last `EvaluationPeriods` complete periods
//! (aligned to the period). A period with data breaches when its statistic compares
//! true with the threshold. A period without data counts as `TreatMissingData` says:
//! `notBreaching` as good, `breaching` as bad, `ignore` and `missing` not at all. The
//! alarm is `ALARM` when at least `DatapointsToAlarm` (default: all the evaluation
//! periods) breach, `OK` otherwise; with no period counted it is `INSUFFICIENT_DATA`
//! (`missing`) or keeps its state (`ignore`).
//!
//! Not modelled: CloudWatch's look-back past the evaluation range for `missing`, and its
//! evaluation delay; both are documented in docs/simulator.md.

use crate::{FakeAlarm, MetricStore};

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `GreaterThanThreshold`.
    Greater,
    /// `GreaterThanOrEqualToThreshold`.
    GreaterOrEqual,
    /// `LessThanThreshold`.
    Less,
    /// `LessThanOrEqualToThreshold`.
    LessOrEqual,
}

impl Comparison {
    /// The operator CloudWatch calls `name`, if the simulator knows it.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "GreaterThanThreshold" => Self::Greater,
            "GreaterThanOrEqualToThreshold" => Self::GreaterOrEqual,
            "LessThanThreshold" => Self::Less,
            "LessThanOrEqualToThreshold" => Self::LessOrEqual,
            _ => return None,
        })
    }

    fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Self::Greater => value > threshold,
            Self::GreaterOrEqual => value >= threshold,
            Self::Less => value < threshold,
            Self::LessOrEqual => value <= threshold,
        }
    }

    fn words(self) -> &'static str {
        match self {
            Self::Greater => "greater than",
            Self::GreaterOrEqual => "greater than or equal to",
            Self::Less => "less than",
            Self::LessOrEqual => "less than or equal to",
        }
    }
}

/// An evaluation's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: &'static str,
    /// Why, in CloudWatch's words.
    pub reason: String,
}

/// Evaluates `alarm` at epoch second `now` against `metrics`.
pub fn evaluate(alarm: &FakeAlarm, metrics: &MetricStore, now: i64) -> Evaluation {
    let period = i64::from(alarm.period.max(1));
    let n = i64::from(alarm.evaluation_periods.max(1));
    let end = now.div_euclid(period) * period;
    let start = end - n * period;
    let points = metrics.datapoints(&alarm.metric_key(), start, end, period, &alarm.statistic);
    let cmp = Comparison::parse(&alarm.comparison).unwrap_or(Comparison::Greater);
    let needed = alarm
        .datapoints_to_alarm
        .unwrap_or(alarm.evaluation_periods)
        .max(1) as usize;
    let (mut counted, mut breaching) = (0usize, 0usize);
    let mut shown = Vec::new();
    for k in 0..n {
        let t = start + k * period;
        match points.iter().find(|(pt, _)| *pt == t) {
            Some((_, v)) => {
                counted += 1;
                if cmp.holds(*v, alarm.threshold) {
                    breaching += 1;
                }
                shown.push(format!("{v}"));
            }
            None => match alarm.treat_missing_data.as_str() {
                "breaching" => {
                    counted += 1;
                    breaching += 1;
                    shown.push("missing (breaching)".to_owned());
                }
                "notBreaching" => {
                    counted += 1;
                    shown.push("missing (not breaching)".to_owned());
                }
                _ => {}
            },
        }
    }
    let datapoints = format!("[{}]", shown.join(", "));
    if counted == 0 {
        return if alarm.treat_missing_data == "ignore" {
            Evaluation {
                state: state_name(&alarm.state),
                reason: "no datapoints: state kept (TreatMissingData ignore)".to_owned(),
            }
        } else {
            Evaluation {
                state: "INSUFFICIENT_DATA",
                reason: format!("Insufficient Data: no datapoints in the last {n} period(s)"),
            }
        };
    }
    if breaching >= needed {
        Evaluation {
            state: "ALARM",
            reason: format!(
                "Threshold Crossed: {breaching} out of the last {n} datapoints {datapoints} {} {} the threshold ({})",
                if breaching == 1 { "was" } else { "were" },
                cmp.words(),
                alarm.threshold
            ),
        }
    } else {
        Evaluation {
            state: "OK",
            reason: format!(
                "Threshold Crossed: {breaching} out of the last {n} datapoints {datapoints} {} {} the threshold ({}), fewer than the {needed} needed",
                if breaching == 1 { "was" } else { "were" },
                cmp.words(),
                alarm.threshold
            ),
        }
    }
}

fn state_name(s: &str) -> &'static str {
    match s {
        "OK" => "OK",
        "ALARM" => "ALARM",
        _ => "INSUFFICIENT_DATA",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MetricKey, Stats};

    fn alarm(
        stat: &str,
        periods: u32,
        to_alarm: Option<u32>,
        threshold: f64,
        cmp: &str,
        missing: &str,
    ) -> FakeAlarm {
        FakeAlarm {
            name: "a".into(),
            namespace: "AWS/Lambda".into(),
            metric: "Errors".into(),
            dimensions: Default::default(),
            statistic: stat.into(),
            period: 60,
            evaluation_periods: periods,
            datapoints_to_alarm: to_alarm,
            threshold,
            comparison: cmp.into(),
            treat_missing_data: missing.into(),
            state: "INSUFFICIENT_DATA".into(),
            reason: String::new(),
            updated: 0.0,
        }
    }

    /// Errors per minute: minute i gets `errors[i]` of `calls` (None: no calls at all).
    fn store(minutes: &[Option<(f64, f64)>]) -> MetricStore {
        let mut s = MetricStore::default();
        let key = MetricKey {
            namespace: "AWS/Lambda".into(),
            name: "Errors".into(),
            dimensions: Default::default(),
        };
        for (i, m) in minutes.iter().enumerate() {
            if let Some((errors, calls)) = m {
                // Spread over the minute's seconds: the first second gets them all.
                s.put(key.clone(), i as i64 * 60, Stats::ones_of(*errors, *calls));
            }
        }
        s
    }

    #[test]
    fn sum_over_one_period_alarms_on_the_first_error() {
        let a = alarm("Sum", 1, None, 0.0, "GreaterThanThreshold", "notBreaching");
        let s = store(&[Some((0.0, 10.0)), Some((2.0, 10.0))]);
        assert_eq!(evaluate(&a, &s, 60).state, "OK", "minute 0 had no error");
        let e = evaluate(&a, &s, 120);
        assert_eq!(e.state, "ALARM");
        assert_eq!(
            e.reason,
            "Threshold Crossed: 1 out of the last 1 datapoints [2] was greater than the threshold (0)"
        );
        assert_eq!(
            evaluate(&a, &s, 119).state,
            "OK",
            "minute 1 is not complete yet"
        );
    }

    #[test]
    fn m_of_n_needs_m_breaching_periods() {
        let a = alarm(
            "Average",
            3,
            Some(2),
            0.1,
            "GreaterThanOrEqualToThreshold",
            "missing",
        );
        // Error rates 0.2, 0.0, 0.1 → two of three breach (>= 0.1).
        let s = store(&[Some((2.0, 10.0)), Some((0.0, 10.0)), Some((1.0, 10.0))]);
        assert_eq!(evaluate(&a, &s, 180).state, "ALARM");
        let one = store(&[Some((2.0, 10.0)), Some((0.0, 10.0)), Some((0.0, 10.0))]);
        assert_eq!(evaluate(&a, &one, 180).state, "OK");
    }

    #[test]
    fn missing_data_is_treated_as_configured() {
        let empty = store(&[]);
        let with = |missing: &str, state: &str| {
            let mut a = alarm("Sum", 2, None, 0.0, "GreaterThanThreshold", missing);
            a.state = state.into();
            evaluate(&a, &empty, 120).state
        };
        assert_eq!(with("missing", "OK"), "INSUFFICIENT_DATA");
        assert_eq!(with("notBreaching", "ALARM"), "OK");
        assert_eq!(with("breaching", "OK"), "ALARM");
        assert_eq!(with("ignore", "ALARM"), "ALARM", "state kept");
        // One of two periods with a breaching datapoint, the other missing:
        let half = store(&[None, Some((1.0, 1.0))]);
        let a = alarm("Sum", 2, None, 0.0, "GreaterThanThreshold", "missing");
        assert_eq!(
            evaluate(&a, &half, 120).state,
            "OK",
            "needs 2 of 2; missing does not count"
        );
        let b = alarm("Sum", 2, None, 0.0, "GreaterThanThreshold", "breaching");
        assert_eq!(evaluate(&b, &half, 120).state, "ALARM");
    }

    #[test]
    fn less_than_alarms_on_low_values() {
        let a = alarm(
            "SampleCount",
            1,
            None,
            5.0,
            "LessThanThreshold",
            "breaching",
        );
        assert_eq!(evaluate(&a, &store(&[Some((0.0, 3.0))]), 60).state, "ALARM");
        assert_eq!(evaluate(&a, &store(&[Some((0.0, 9.0))]), 60).state, "OK");
    }
}
