//! CloudWatch Embedded Metric Format (EMF): one log line per check and one per
//! verdict, from which CloudWatch Logs extracts metrics, so dashboards and alarms on
//! hook results cost no API call.
//!
//! Dimensions stay low-cardinality: `Function` and `Phase` (and `Check` on check
//! lines). The deployment id, status and reason ride along as properties, searchable
//! in Logs Insights but never a dimension (one metric per deployment would be both
//! useless and billed).

use crate::summary::{CheckStatus, Verdict};
use serde_json::{json, Map, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The namespace when `metrics.namespace` is not set.
pub(crate) const DEFAULT_NAMESPACE: &str = "TrafficHooks";

/// The EMF lines for a verdict: one per check that ran (or failed without running),
/// then the verdict's. `elapsed`: the invocation's time so far.
pub(crate) fn lines(
    verdict: &Verdict,
    namespace: &str,
    elapsed: Duration,
    now: SystemTime,
) -> Vec<Value> {
    let timestamp = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let facts = &verdict.deployment.facts;
    let function = facts.function.as_deref().unwrap_or("unknown");
    let phase = facts
        .phase
        .map_or_else(|| "unknown".to_owned(), |p| p.to_string());
    let deployment_id = verdict.deployment.deployment_id.as_deref().unwrap_or("");
    let mut out = Vec::new();
    for c in verdict
        .checks
        .iter()
        .filter(|c| c.status != CheckStatus::Skipped)
    {
        let counts = c.counts();
        let failed = u8::from(c.status == CheckStatus::Failed);
        let mut line = document(
            namespace,
            timestamp,
            &["Function", "Phase", "Check"],
            &[
                ("CheckPassed", "Count"),
                ("CheckFailed", "Count"),
                ("CheckDuration", "Milliseconds"),
                ("Measurements", "Count"),
                ("MeasurementsFailed", "Count"),
            ],
        );
        line.extend([
            ("Function".into(), function.into()),
            ("Phase".into(), phase.clone().into()),
            ("Check".into(), c.name.clone().into()),
            ("CheckPassed".into(), (1 - failed).into()),
            ("CheckFailed".into(), failed.into()),
            ("CheckDuration".into(), millis(c.elapsed).into()),
            ("Measurements".into(), counts.taken().into()),
            (
                "MeasurementsFailed".into(),
                (counts.failed + counts.errors).into(),
            ),
            ("record".into(), "metrics".into()),
            ("kind".into(), c.kind.clone().into()),
            ("status".into(), c.status.as_str().into()),
            ("deployment_id".into(), deployment_id.into()),
            ("dry_run".into(), c.dry_run.into()),
        ]);
        out.push(Value::Object(line));
    }
    let failed = u8::from(verdict.status == crate::report::Status::Failed);
    let checks_failed = verdict
        .checks
        .iter()
        .filter(|c| c.status == CheckStatus::Failed)
        .count();
    let checks_run = verdict
        .checks
        .iter()
        .filter(|c| c.status != CheckStatus::Skipped)
        .count();
    let mut line = document(
        namespace,
        timestamp,
        &["Function", "Phase"],
        &[
            ("VerdictSucceeded", "Count"),
            ("VerdictFailed", "Count"),
            ("HookDuration", "Milliseconds"),
            ("ChecksRun", "Count"),
            ("ChecksFailed", "Count"),
        ],
    );
    line.extend([
        ("Function".into(), function.into()),
        ("Phase".into(), phase.into()),
        ("VerdictSucceeded".into(), (1 - failed).into()),
        ("VerdictFailed".into(), failed.into()),
        ("HookDuration".into(), millis(elapsed).into()),
        ("ChecksRun".into(), checks_run.into()),
        ("ChecksFailed".into(), checks_failed.into()),
        ("record".into(), "metrics".into()),
        ("status".into(), verdict.status.as_str().into()),
        ("reason".into(), verdict.reason.clone().into()),
        ("deployment_id".into(), deployment_id.into()),
    ]);
    out.push(Value::Object(line));
    out
}

/// The `_aws` metadata of one document: one metric directive with one dimension set.
fn document(
    namespace: &str,
    timestamp: u64,
    dimensions: &[&str],
    metrics: &[(&str, &str)],
) -> Map<String, Value> {
    let metrics: Vec<Value> = metrics
        .iter()
        .map(|(name, unit)| json!({ "Name": name, "Unit": unit }))
        .collect();
    let mut map = Map::new();
    map.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [dimensions],
                "Metrics": metrics,
            }],
        }),
    );
    map
}

fn millis(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployment::{Deployment, Facts, Phase};
    use crate::report::Status;
    use crate::summary::CheckOutcome;

    fn verdict(status: Status, checks: Vec<CheckOutcome>) -> Verdict {
        let deployment = Deployment {
            deployment_id: Some("d-1".into()),
            facts: Facts {
                function: Some("orders".into()),
                phase: Some(Phase::Pre),
                ..Facts::default()
            },
            ..Deployment::default()
        };
        let mut v = Verdict::judge(deployment, checks, false, false);
        v.status = status;
        v
    }

    fn outcome(name: &str, status: CheckStatus) -> CheckOutcome {
        let mut o = CheckOutcome::not_run(name, "http", None, status, String::new());
        o.elapsed = Duration::from_micros(3_250);
        o
    }

    #[test]
    fn one_line_per_check_that_ran_and_one_for_the_verdict() {
        let v = verdict(
            Status::Failed,
            vec![
                outcome("a", CheckStatus::Passed),
                outcome("b", CheckStatus::Failed),
                outcome("c", CheckStatus::Skipped),
            ],
        );
        let lines = lines(&v, "TrafficHooks", Duration::from_millis(12), UNIX_EPOCH);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["Check"], "a");
        assert_eq!(lines[0]["CheckPassed"], 1);
        assert_eq!(lines[1]["CheckFailed"], 1);
        assert_eq!(lines[1]["CheckDuration"], 3.25);
        let last = &lines[2];
        assert_eq!(last["VerdictFailed"], 1);
        assert_eq!(last["ChecksRun"], 2);
        assert_eq!(last["ChecksFailed"], 1);
        assert_eq!(last["HookDuration"], 12.0);
    }

    #[test]
    fn the_deployment_id_is_a_property_never_a_dimension() {
        let v = verdict(Status::Succeeded, vec![outcome("a", CheckStatus::Passed)]);
        for line in lines(&v, "Ops", Duration::ZERO, SystemTime::now()) {
            let directive = &line["_aws"]["CloudWatchMetrics"][0];
            assert_eq!(directive["Namespace"], "Ops");
            let dims = directive["Dimensions"][0].as_array().unwrap();
            assert!(!dims.iter().any(|d| d == "deployment_id"));
            // Every dimension and metric named in the directive is a member of the line.
            for d in dims {
                assert!(line.get(d.as_str().unwrap()).is_some(), "{d}");
            }
            for m in directive["Metrics"].as_array().unwrap() {
                assert!(line[m["Name"].as_str().unwrap()].is_number(), "{m}");
            }
            assert_eq!(line["deployment_id"], "d-1");
        }
    }
}
