//! What a hook logs and prints: one JSON line per check, one for the verdict, and a
//! table for terminal runs.
//!
//! Measurement values are not logged whole: a response can carry tokens or be large.
//! Failure reasons show an excerpt with `headers` redacted.

use crate::deployment::{Deployment, Phase};
use crate::report::Status;
use serde::Serialize;
use serde_json::Value;
use std::fmt::Write as _;
use std::time::Duration;

/// Longest measurement excerpt in a reason.
const EXCERPT_CHARS: usize = 300;

/// How one measurement turned out.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "result", rename_all = "lowercase")]
pub(crate) enum MeasurementResult {
    /// Every condition held.
    Passed {
        /// The measurement.
        value: Value,
    },
    /// A condition did not hold.
    Failed {
        /// The first condition that did not hold.
        condition: String,
        /// The measurement.
        value: Value,
    },
    /// The measurement could not be taken.
    Error(String),
}

/// One measurement of a check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct MeasurementRecord {
    /// Its number, from 1.
    pub(crate) n: u32,
    /// How long it took.
    pub(crate) elapsed_ms: u64,
    /// Its result.
    #[serde(flatten)]
    pub(crate) result: MeasurementResult,
}

impl MeasurementRecord {
    pub(crate) fn new(n: u32, elapsed: Duration, result: MeasurementResult) -> Self {
        Self {
            n,
            elapsed_ms: elapsed.as_millis() as u64,
            result,
        }
    }

    /// One line that says what happened, fit for a reason.
    pub(crate) fn brief(&self) -> String {
        match &self.result {
            MeasurementResult::Passed { .. } => format!("measurement {}: passed", self.n),
            MeasurementResult::Failed { condition, value } => {
                format!(
                    "measurement {}: expect `{condition}` not met by {}",
                    self.n,
                    excerpt(value)
                )
            }
            MeasurementResult::Error(e) => format!("measurement {}: error: {e}", self.n),
        }
    }
}

/// A measurement as a short string, with header values redacted.
pub(crate) fn excerpt(value: &Value) -> String {
    let mut v = value.clone();
    if let Some(Value::Object(headers)) = v.get_mut("headers") {
        for h in headers.values_mut() {
            *h = Value::String("<redacted>".to_owned());
        }
    }
    let text = v.to_string();
    if text.chars().count() > EXCERPT_CHARS {
        let cut: String = text.chars().take(EXCERPT_CHARS).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum CheckStatus {
    /// It passed.
    Passed,
    /// It failed (or errored, or was abandoned at the deadline).
    Failed,
    /// It belongs to another phase and did not run.
    Skipped,
}

impl CheckStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct CheckOutcome {
    /// The check's name.
    pub(crate) name: String,
    /// Its kind.
    pub(crate) kind: String,
    /// The phase it is for (`None`: any).
    pub(crate) phase: Option<Phase>,
    /// How it ended.
    pub(crate) status: CheckStatus,
    /// Why it failed or was skipped.
    pub(crate) reason: Option<String>,
    /// What it measured.
    pub(crate) measurements: Vec<MeasurementRecord>,
    /// How long it ran.
    #[serde(serialize_with = "ser_ms", rename = "elapsed_ms")]
    pub(crate) elapsed: Duration,
    /// It cannot fail the deployment.
    pub(crate) dry_run: bool,
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

impl CheckOutcome {
    /// An outcome for a check that never ran.
    pub(crate) fn not_run(
        name: &str,
        kind: &str,
        phase: Option<Phase>,
        status: CheckStatus,
        reason: String,
    ) -> Self {
        Self {
            name: name.to_owned(),
            kind: kind.to_owned(),
            phase,
            status,
            reason: Some(reason),
            measurements: Vec::new(),
            elapsed: Duration::ZERO,
            dry_run: false,
        }
    }

    /// Whether it stops the deployment.
    pub(crate) fn blocks(&self) -> bool {
        self.status == CheckStatus::Failed && !self.dry_run
    }

    /// Counts of (passed, failed, errored) measurements.
    pub(crate) fn counts(&self) -> (usize, usize, usize) {
        self.measurements
            .iter()
            .fold((0, 0, 0), |(p, f, e), m| match m.result {
                MeasurementResult::Passed { .. } => (p + 1, f, e),
                MeasurementResult::Failed { .. } => (p, f + 1, e),
                MeasurementResult::Error(_) => (p, f, e + 1),
            })
    }
}

/// The verdict of one hook run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Verdict {
    /// What is (or would be) reported.
    pub(crate) status: Status,
    /// Why, in one line.
    pub(crate) reason: String,
    /// What was verified.
    pub(crate) deployment: Deployment,
    /// Each check's result, in config order.
    pub(crate) checks: Vec<CheckOutcome>,
    /// Global dry run: `status` is `Succeeded` whatever the checks said.
    pub(crate) dry_run: bool,
    /// How the report went (`accepted`, `already completed`, ...); `None` when nothing
    /// was reported (terminal runs).
    pub(crate) report: Option<String>,
}

impl Verdict {
    /// Judges the outcomes: `Failed` when any non-dry-run check failed.
    pub(crate) fn judge(deployment: Deployment, checks: Vec<CheckOutcome>, dry_run: bool) -> Self {
        let blocking: Vec<&CheckOutcome> = checks.iter().filter(|c| c.blocks()).collect();
        let ran = checks
            .iter()
            .filter(|c| c.status != CheckStatus::Skipped)
            .count();
        let (status, mut reason) = if blocking.is_empty() {
            (Status::Succeeded, format!("{ran} of {ran} checks passed"))
        } else {
            let list = blocking
                .iter()
                .map(|c| format!("{}: {}", c.name, c.reason.as_deref().unwrap_or("failed")))
                .collect::<Vec<_>>()
                .join("; ");
            (
                Status::Failed,
                format!("{} of {ran} checks failed: {list}", blocking.len()),
            )
        };
        let soft = checks
            .iter()
            .filter(|c| c.status == CheckStatus::Failed && c.dry_run)
            .count();
        if soft > 0 {
            let _ = write!(reason, " ({soft} dry-run checks failed without blocking)");
        }
        if ran == 0 {
            reason = "no checks for this phase".to_owned();
        }
        let status = if dry_run && status == Status::Failed {
            reason = format!("dry run, would have failed: {reason}");
            Status::Succeeded
        } else {
            status
        };
        Self {
            status,
            reason,
            deployment,
            checks,
            dry_run,
            report: None,
        }
    }

    /// A verdict reached without running checks (bad config, for one).
    pub(crate) fn failed_early(deployment: Deployment, reason: String) -> Self {
        Self {
            status: Status::Failed,
            reason,
            deployment,
            checks: Vec::new(),
            dry_run: false,
            report: None,
        }
    }

    /// The invocation's response: verdict and one line per check, without measurement
    /// values (they may be large or hold secrets; the log has the details).
    pub(crate) fn response(&self) -> Value {
        let checks: Vec<Value> = self
            .checks
            .iter()
            .map(|c| serde_json::json!({ "name": c.name, "status": c.status, "reason": c.reason }))
            .collect();
        serde_json::json!({
            "status": self.status,
            "reason": self.reason,
            "report": self.report,
            "deployment_id": self.deployment.deployment_id,
            "phase": self.deployment.facts.phase,
            "checks": checks,
        })
    }

    /// Logs one JSON line per check and one for the verdict.
    pub(crate) fn log(&self) {
        let deployment_id = self.deployment.deployment_id.as_deref().unwrap_or("");
        let phase = self
            .deployment
            .facts
            .phase
            .map(|p| p.to_string())
            .unwrap_or_else(|| "unknown".into());
        for c in &self.checks {
            let (passed, failed, errors) = c.counts();
            let measurements: Vec<String> = c
                .measurements
                .iter()
                .map(MeasurementRecord::brief)
                .collect();
            tracing::info!(
                target: "traffic_hook::summary",
                record = "check",
                deployment_id,
                check = %c.name,
                kind = %c.kind,
                status = c.status.as_str(),
                reason = c.reason.as_deref().unwrap_or(""),
                passed,
                failed,
                errors,
                elapsed_ms = c.elapsed.as_millis() as u64,
                dry_run = c.dry_run,
                measurements = %serde_json::Value::from(measurements),
                "check {}", c.status.as_str()
            );
        }
        let f = &self.deployment.facts;
        tracing::info!(
            target: "traffic_hook::summary",
            record = "verdict",
            deployment_id,
            status = self.status.as_str(),
            reason = %self.reason,
            phase,
            function = f.function.as_deref().unwrap_or(""),
            alias = f.alias.as_deref().unwrap_or(""),
            current_version = f.current_version.as_deref().unwrap_or(""),
            target_version = f.target_version.as_deref().unwrap_or(""),
            sources = %self.deployment.sources.join(", "),
            notes = %self.deployment.notes.join("; "),
            dry_run = self.dry_run,
            report = self.report.as_deref().unwrap_or("not reported"),
            "verdict {}", self.status.as_str()
        );
    }

    /// A table for a terminal.
    pub(crate) fn table(&self) -> String {
        let rows: Vec<[String; 6]> = self
            .checks
            .iter()
            .map(|c| {
                let (p, f, e) = c.counts();
                let status = if c.dry_run && c.status == CheckStatus::Failed {
                    "FAILED (dry run)".to_owned()
                } else {
                    c.status.as_str().to_uppercase()
                };
                [
                    c.name.clone(),
                    c.kind.clone(),
                    status,
                    format!("{p}/{f}/{e}"),
                    crate::duration::format(Duration::from_millis(c.elapsed.as_millis() as u64)),
                    c.reason.clone().unwrap_or_default(),
                ]
            })
            .collect();
        let header =
            ["CHECK", "KIND", "STATUS", "PASS/FAIL/ERR", "TIME", "REASON"].map(str::to_owned);
        let mut widths = header.clone().map(|h| h.chars().count());
        for r in &rows {
            for (w, cell) in widths.iter_mut().zip(r) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for r in std::iter::once(&header).chain(&rows) {
            let line: Vec<String> = r
                .iter()
                .zip(widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            let _ = writeln!(out, "{}", line.join("  ").trim_end());
        }
        for note in &self.deployment.notes {
            let _ = writeln!(out, "note: {note}");
        }
        let _ = writeln!(
            out,
            "verdict: {} ({})",
            self.status.as_str().to_uppercase(),
            self.reason
        );
        out
    }
}

/// Told about each measurement as it is taken (terminal runs show progress).
pub(crate) trait Progress: Send + Sync {
    /// A measurement of `check` was taken.
    fn measured(&self, check: &str, record: &MeasurementRecord);
}

/// Shows nothing; measurements are still logged at debug level.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct NoProgress;

impl Progress for NoProgress {
    fn measured(&self, check: &str, record: &MeasurementRecord) {
        tracing::debug!(check, measurement = record.n, detail = %record.brief(), "measured");
    }
}

/// Prints one line per measurement to standard error.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct StderrProgress;

impl Progress for StderrProgress {
    fn measured(&self, check: &str, record: &MeasurementRecord) {
        let mark = match record.result {
            MeasurementResult::Passed { .. } => "ok  ",
            MeasurementResult::Failed { .. } => "FAIL",
            MeasurementResult::Error(_) => "ERR ",
        };
        eprintln!(
            "{mark} {check} #{} ({}ms) {}",
            record.n,
            record.elapsed_ms,
            record.brief()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn excerpts_redact_header_values_and_truncate() {
        let e = excerpt(
            &json!({"status": 500, "headers": {"set-cookie": "secret-token"}, "body": "oops"}),
        );
        assert!(!e.contains("secret-token"), "{e}");
        assert!(e.contains("<redacted>"), "{e}");
        let long = excerpt(&json!({"body": "x".repeat(1000)}));
        assert_eq!(long.chars().count(), EXCERPT_CHARS + 1);
    }

    fn outcome(name: &str, status: CheckStatus, dry_run: bool) -> CheckOutcome {
        let mut o = CheckOutcome::not_run(name, "http", None, status, "boom".into());
        o.dry_run = dry_run;
        o
    }

    #[test]
    fn one_blocking_failure_fails_the_verdict_and_names_it() {
        let v = Verdict::judge(
            Deployment::default(),
            vec![
                outcome("a", CheckStatus::Passed, false),
                outcome("b", CheckStatus::Failed, false),
            ],
            false,
        );
        assert_eq!(v.status, Status::Failed);
        assert_eq!(v.reason, "1 of 2 checks failed: b: boom");
    }

    #[test]
    fn dry_run_checks_and_global_dry_run_do_not_block() {
        let v = Verdict::judge(
            Deployment::default(),
            vec![outcome("b", CheckStatus::Failed, true)],
            false,
        );
        assert_eq!(v.status, Status::Succeeded);
        assert!(v.reason.contains("1 dry-run checks failed"), "{}", v.reason);
        let v = Verdict::judge(
            Deployment::default(),
            vec![outcome("b", CheckStatus::Failed, false)],
            true,
        );
        assert_eq!(v.status, Status::Succeeded);
        assert!(
            v.reason.starts_with("dry run, would have failed"),
            "{}",
            v.reason
        );
    }
}
