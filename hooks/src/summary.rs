//! What a hook logs and prints: one JSON line per check, one for the verdict, and a
//! table for terminal runs.
//!
//! Measurement values are not logged whole: a response can carry tokens or be large.
//! A failure's reason shows the values its condition looked at; secret header values
//! and `{{env.*}}`-filled values are `<redacted>`. The summary lines are written as JSON
//! objects (measurements an array, not a string), so Logs Insights can query them.

pub(crate) use crate::bounded::Measurements;
use crate::deployment::{Deployment, Phase};
pub(crate) use crate::measurement::{Counts, MeasurementRecord, MeasurementResult};
use crate::report::Status;
use serde::Serialize;
use serde_json::Value;
use std::fmt::Write as _;
use std::time::Duration;

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
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq)]
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
    /// What it measured (the kept records, and the counts of all).
    pub(crate) measurements: Measurements,
    /// How long it ran.
    pub(crate) elapsed: Duration,
    /// It cannot fail the deployment.
    pub(crate) dry_run: bool,
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
            measurements: Measurements::default(),
            elapsed: Duration::ZERO,
            dry_run: false,
        }
    }

    /// Whether it stops the deployment.
    pub(crate) fn blocks(&self) -> bool {
        self.status == CheckStatus::Failed && !self.dry_run
    }

    /// Counts of passed, failed and errored measurements.
    pub(crate) fn counts(&self) -> Counts {
        self.measurements.counts()
    }
}

/// The verdict of one hook run.
#[derive(Debug, Clone, PartialEq)]
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
    /// Set when this invocation ends without a report on purpose: the checks go on in
    /// a continuation, or the event was one this hook already handles.
    pub(crate) handoff: Option<Handoff>,
}

/// Why an invocation ends without a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Handoff {
    /// The checks go on in continuation `seq` (an async invocation of this function).
    Continued {
        /// Which continuation.
        seq: u32,
    },
    /// The event needs nothing from this invocation (a duplicated continuation, or a
    /// lifecycle event another invocation has reported).
    Ignored(String),
}

impl Verdict {
    /// Judges the outcomes: `Failed` when any non-dry-run check failed, or when none
    /// applied and `fail_when_none` (`no_checks: fail`).
    pub(crate) fn judge(
        deployment: Deployment,
        checks: Vec<CheckOutcome>,
        dry_run: bool,
        fail_when_none: bool,
    ) -> Self {
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
        let status = if ran == 0 {
            reason = no_checks_reason(&deployment);
            if fail_when_none {
                reason.push_str(" (no_checks: fail)");
                Status::Failed
            } else {
                status
            }
        } else {
            status
        };
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
            handoff: None,
        }
    }

    /// A `Succeeded` verdict reached without running checks (a rollback's fast pass,
    /// the skip switch).
    pub(crate) fn passed_early(deployment: Deployment, reason: String) -> Self {
        Self {
            status: Status::Succeeded,
            ..Self::failed_early(deployment, reason)
        }
    }

    /// A `Failed` verdict reached before any check ran (a bad config, say).
    pub(crate) fn failed_early(deployment: Deployment, reason: String) -> Self {
        Self {
            status: Status::Failed,
            reason,
            deployment,
            checks: Vec::new(),
            dry_run: false,
            report: None,
            handoff: None,
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
        let (status, reason) = match &self.handoff {
            None => (serde_json::json!(self.status), self.reason.clone()),
            Some(Handoff::Continued { seq }) => (
                "Continued".into(),
                format!("the checks go on in continuation {seq}; nothing reported yet"),
            ),
            Some(Handoff::Ignored(why)) => ("Ignored".into(), why.clone()),
        };
        serde_json::json!({
            "status": status,
            "reason": reason,
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
            let counts = c.counts();
            let measurements: Vec<Value> = c
                .measurements
                .records()
                .map(MeasurementRecord::logged)
                .collect();
            emit(serde_json::json!({
                "message": format!("check {}", c.status.as_str()),
                "record": "check",
                "deployment_id": deployment_id,
                "check": c.name,
                "kind": c.kind,
                "status": c.status.as_str(),
                "reason": c.reason.as_deref().unwrap_or(""),
                "passed": counts.passed,
                "failed": counts.failed,
                "errors": counts.errors,
                "waiting": counts.waiting,
                "measurements_not_kept": c.measurements.dropped(),
                // To the microsecond: dashboards and `make bench` subtract it from
                // the invocation's time.
                "elapsed_ms": (c.elapsed.as_micros() as f64) / 1000.0,
                "dry_run": c.dry_run,
                "measurements": measurements,
            }));
        }
        let f = &self.deployment.facts;
        emit(serde_json::json!({
            "message": format!("verdict {}", self.status.as_str()),
            "record": "verdict",
            "deployment_id": deployment_id,
            "status": self.status.as_str(),
            "reason": self.reason,
            "phase": phase,
            "function": f.function.as_deref().unwrap_or(""),
            "alias": f.alias.as_deref().unwrap_or(""),
            "current_version": f.current_version.as_deref().unwrap_or(""),
            "target_version": f.target_version.as_deref().unwrap_or(""),
            "sources": self.deployment.sources,
            "notes": self.deployment.notes,
            "dry_run": self.dry_run,
            "report": self.report.as_deref().unwrap_or("not reported"),
        }));
    }

    /// A table for a terminal.
    pub(crate) fn table(&self) -> String {
        let rows: Vec<[String; 6]> = self
            .checks
            .iter()
            .map(|c| {
                let n = c.counts();
                let status = if c.dry_run && c.status == CheckStatus::Failed {
                    "FAILED (dry run)".to_owned()
                } else {
                    c.status.as_str().to_uppercase()
                };
                [
                    c.name.clone(),
                    c.kind.clone(),
                    status,
                    format!("{}/{}/{}", n.passed, n.failed, n.errors),
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
        // A terminal run reports nothing: under a global dry run the line says what
        // the checks found (and so does the exit code), and what a hook would report.
        let blocked = self.checks.iter().any(CheckOutcome::blocks);
        let line = if self.dry_run && blocked {
            format!(
                "verdict: FAILED ({}; as a hook under dry_run it would report SUCCEEDED)",
                self.reason
                    .trim_start_matches("dry run, would have failed: ")
            )
        } else {
            format!(
                "verdict: {} ({})",
                self.status.as_str().to_uppercase(),
                self.reason
            )
        };
        let _ = writeln!(out, "{line}");
        out
    }
}

/// The reason when no check applies: it names the function and the phase, so a hook
/// that checks nothing never passes silently.
pub(crate) fn no_checks_reason(deployment: &Deployment) -> String {
    format!(
        "no checks for function {} in phase {}",
        deployment.facts.function.as_deref().unwrap_or("(unknown)"),
        deployment
            .facts
            .phase
            .map(|p| p.to_string())
            .unwrap_or_else(|| "(unknown)".to_owned())
    )
}

/// Writes one summary record as a JSON line on standard output (CloudWatch Logs in
/// Lambda), with the same `timestamp`, `level` and `target` as the other log lines.
pub(crate) fn emit(mut record: Value) {
    if let Value::Object(map) = &mut record {
        map.insert(
            "timestamp".into(),
            rfc3339(std::time::SystemTime::now()).into(),
        );
        map.insert("level".into(), "INFO".into());
        map.insert("target".into(), "traffic_hook::summary".into());
    }
    println!("{record}");
}

/// `2026-11-26T10:07:13.123456Z`.
pub(crate) fn rfc3339(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        d.subsec_micros()
    )
}

/// Told about each measurement as it is taken, and about waits and long measurements
/// (terminal runs show progress).
pub(crate) trait Progress: Send + Sync {
    /// A measurement of `check` was taken.
    fn measured(&self, check: &str, record: &MeasurementRecord);

    /// `check` waits `how_long` before `what`.
    fn waiting(&self, _check: &str, _what: &str, _how_long: Duration) {}

    /// A long measurement of `check` says how it is going.
    fn update(&self, _check: &str, _line: &str) {}
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
            MeasurementResult::Waiting { .. } => "WAIT",
            MeasurementResult::Error(_) => "ERR ",
        };
        eprintln!(
            "{mark} {check} #{} ({}ms) {}",
            record.n,
            record.elapsed_ms,
            record.brief()
        );
    }

    fn waiting(&self, check: &str, what: &str, how_long: Duration) {
        if !how_long.is_zero() {
            eprintln!(
                "...  {check}: waiting {} before {what}",
                crate::duration::format(how_long)
            );
        }
    }

    fn update(&self, check: &str, line: &str) {
        eprintln!("...  {check}: {line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339() {
        let t = std::time::UNIX_EPOCH + Duration::from_micros(1_795_000_000_123_456);
        assert_eq!(rfc3339(t), "2026-11-18T11:06:40.123456Z");
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
            false,
        );
        assert_eq!(v.status, Status::Succeeded);
        assert!(v.reason.contains("1 dry-run checks failed"), "{}", v.reason);
        let v = Verdict::judge(
            Deployment::default(),
            vec![outcome("b", CheckStatus::Failed, false)],
            true,
            false,
        );
        assert_eq!(v.status, Status::Succeeded);
        assert!(
            v.reason.starts_with("dry run, would have failed"),
            "{}",
            v.reason
        );
    }
}
