//! Long bakes by continuation: what one invocation hands the next.
//!
//! A Lambda invocation lives at most 15 minutes; CodeDeploy waits up to an hour for a
//! hook's report. When a phase's checks still run at an invocation's deadline, the hook
//! saves their progress here, invokes its own function asynchronously with the event
//! plus [`FIELD`], and reports nothing; the next invocation resumes each check where it
//! stopped, until every check is judged or `max_duration` (from the first invocation)
//! runs out. Exactly one invocation of the chain reports.
//!
//! The state is input like any event: it is read with limits, and a state that cannot
//! be read fails the deployment with the reason. It carries no secrets: measurement
//! values are dropped (they are never logged), texts are the redacted ones the logs
//! show.

use crate::bounded::{Measurements, SavedMeasurements};
use crate::deployment::{Deployment, Phase, SavedDeployment};
use crate::summary::{CheckOutcome, CheckStatus};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The event field that carries the state.
pub(crate) const FIELD: &str = "traffic_hook_continuation";

/// The largest state sent: Lambda takes 256 KB of async payload, and the event itself
/// rides along.
pub(crate) const MAX_STATE: usize = 200 * 1024;

/// The state format's version; a state of another is refused.
const VERSION: u32 = 1;

/// What one invocation hands the next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct State {
    /// The format's version.
    pub(crate) v: u32,
    /// Which continuation this is: 1 for the first invocation's successor.
    pub(crate) seq: u32,
    /// When the first invocation of the chain began (ms since the epoch).
    pub(crate) started_at_ms: u64,
    /// What is being deployed, as the first invocation found it.
    pub(crate) deployment: SavedDeployment,
    /// Each check that ran: judged already, or where it stopped.
    pub(crate) checks: Vec<SavedCheck>,
}

/// One check's progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SavedCheck {
    /// Its name (checks are matched by name).
    pub(crate) name: String,
    /// `passed`, `failed` or `skipped` once judged; `None` while it runs.
    pub(crate) status: Option<String>,
    /// Why, once judged.
    #[serde(default)]
    pub(crate) reason: Option<String>,
    /// Time spent measuring in earlier invocations.
    pub(crate) elapsed_ms: f64,
    /// Its measurements so far.
    pub(crate) measurements: SavedMeasurements,
}

/// Why a state cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the continuation state {0}")]
pub(crate) struct StateError(String);

impl State {
    /// Reads the state an event carries.
    pub(crate) fn read(value: &Value) -> Result<Self, StateError> {
        let state: Self = serde_json::from_value(value.clone())
            .map_err(|e| StateError(format!("is unreadable: {e}")))?;
        if state.v != VERSION {
            return Err(StateError(format!(
                "is of version {}; this hook reads version {VERSION}",
                state.v
            )));
        }
        if state.checks.len() > crate::config::MAX_CHECKS {
            return Err(StateError(format!(
                "has {} checks; a config has at most {}",
                state.checks.len(),
                crate::config::MAX_CHECKS
            )));
        }
        Ok(state)
    }

    /// The deployment it carries.
    pub(crate) fn deployment(&self, deployment_id: &str) -> Deployment {
        self.deployment.deployment(deployment_id)
    }

    /// When the chain's first invocation began.
    pub(crate) fn started_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.started_at_ms)
    }

    /// The state for the next invocation: `deployment`, the checks already judged and
    /// those still running, made to fit [`MAX_STATE`] (records are forgotten, oldest
    /// first, never the counts); `Err` when even that is too large.
    pub(crate) fn next(
        seq: u32,
        started_at: SystemTime,
        deployment: &Deployment,
        judged: &[CheckOutcome],
        running: &[CheckOutcome],
    ) -> Result<(Self, usize), StateError> {
        let mut state = Self {
            v: VERSION,
            seq,
            started_at_ms: started_at
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            deployment: SavedDeployment::of(deployment),
            checks: judged
                .iter()
                .map(|o| SavedCheck {
                    name: o.name.clone(),
                    status: Some(o.status.as_str().to_owned()),
                    reason: o.reason.clone(),
                    elapsed_ms: o.elapsed.as_secs_f64() * 1000.0,
                    measurements: o.measurements.save(),
                })
                .chain(running.iter().map(|o| SavedCheck {
                    name: o.name.clone(),
                    status: None,
                    reason: None,
                    elapsed_ms: o.elapsed.as_secs_f64() * 1000.0,
                    measurements: o.measurements.save(),
                }))
                .collect(),
        };
        let size = |s: &Self| serde_json::to_vec(s).map_or(usize::MAX, |b| b.len());
        let mut bytes = size(&state);
        if bytes > MAX_STATE {
            for c in &mut state.checks {
                c.measurements.keep_last_only();
            }
            bytes = size(&state);
        }
        if bytes > MAX_STATE {
            return Err(StateError(format!(
                "would be {} even with one record per check, more than the {} an async invocation can carry",
                crate::size::human(bytes as u64),
                crate::size::human(MAX_STATE as u64)
            )));
        }
        Ok((state, bytes))
    }

    /// The check called `name`, if the state has it.
    pub(crate) fn check(&self, name: &str) -> Option<&SavedCheck> {
        self.checks.iter().find(|c| c.name == name)
    }
}

impl SavedCheck {
    /// The outcome of a check judged in an earlier invocation; `None` while it runs.
    pub(crate) fn outcome(
        &self,
        kind: &'static str,
        phase: Option<Phase>,
        dry_run: bool,
    ) -> Option<CheckOutcome> {
        let status = match self.status.as_deref()? {
            "passed" => CheckStatus::Passed,
            "skipped" => CheckStatus::Skipped,
            _ => CheckStatus::Failed,
        };
        let mut o = CheckOutcome::not_run(&self.name, kind, phase, status, String::new());
        o.reason = self.reason.clone();
        o.measurements = Measurements::restore(self.measurements.clone());
        o.elapsed = self.elapsed();
        o.dry_run = dry_run;
        Some(o)
    }

    /// Time spent measuring in earlier invocations.
    pub(crate) fn elapsed(&self) -> Duration {
        Duration::from_secs_f64((self.elapsed_ms / 1000.0).clamp(0.0, 24.0 * 3600.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paused(name: &str, measurements: Measurements, elapsed: Duration) -> CheckOutcome {
        let mut o = CheckOutcome::not_run(name, "http", None, CheckStatus::Skipped, String::new());
        o.measurements = measurements;
        o.elapsed = elapsed;
        o
    }

    fn deployment() -> Deployment {
        Deployment::from_facts(
            Some("d-1".into()),
            crate::testing::facts(Some(Phase::Post)),
            "deployment target",
        )
    }

    #[test]
    fn a_state_round_trips_through_its_json() {
        let started = UNIX_EPOCH + Duration::from_millis(1_795_000_000_123);
        let (state, bytes) = State::next(
            2,
            started,
            &deployment(),
            &[],
            &[paused(
                "bake",
                Measurements::default(),
                Duration::from_millis(1500),
            )],
        )
        .unwrap();
        assert!(bytes < 1024, "{bytes}");
        let json = serde_json::to_value(&state).unwrap();
        let back = State::read(&json).unwrap();
        assert_eq!(back, state);
        assert_eq!(back.started_at(), started);
        let d = back.deployment("d-1");
        assert_eq!(d.facts.phase, Some(Phase::Post));
        assert_eq!(d.facts.target_version.as_deref(), Some("2"));
        assert_eq!(
            back.check("bake").unwrap().elapsed(),
            Duration::from_millis(1500)
        );
        assert!(back.check("bake").unwrap().status.is_none());
    }

    #[test]
    fn a_state_too_large_for_one_async_payload_keeps_counts_and_the_last_records() {
        use crate::measurement::{MeasurementRecord, MeasurementResult};
        let redactor = crate::redact::Redactor::default();
        let long = "x".repeat(5000);
        let running: Vec<_> = (0..40)
            .map(|i| {
                let mut m = Measurements::default();
                for n in 1..=100 {
                    m.push(MeasurementRecord::new(
                        n,
                        Duration::from_millis(3),
                        MeasurementResult::Error(format!("{long} {n}")),
                        &redactor,
                    ));
                }
                paused(&format!("check-{i}"), m, Duration::from_secs(1))
            })
            .collect();
        let (state, bytes) = State::next(3, UNIX_EPOCH, &deployment(), &[], &running).unwrap();
        assert!(bytes <= MAX_STATE, "{bytes}");
        let back = Measurements::restore(state.check("check-0").unwrap().measurements.clone());
        assert_eq!(back.counts().errors, 100, "counts are whole");
        assert_eq!(back.records().count(), 1, "one record kept");
        assert_eq!(back.last().map(|r| r.n), Some(100));
        assert_eq!(back.errors_in_a_row(), 100);
        // Texts are cut to 1 KB in the state.
        let text = serde_json::to_string(&state).unwrap();
        assert!(!text.contains(&"x".repeat(1100)));

        // 200 checks each with a kilobyte error cannot fit even then.
        let huge: Vec<_> = (0..200)
            .map(|i| {
                let mut m = Measurements::default();
                m.push(MeasurementRecord::new(
                    1,
                    Duration::ZERO,
                    MeasurementResult::Error(long.clone()),
                    &redactor,
                ));
                paused(&format!("{i}-{long}"), m, Duration::ZERO)
            })
            .collect();
        let e = State::next(1, UNIX_EPOCH, &deployment(), &[], &huge).unwrap_err();
        assert!(e.to_string().contains("more than the 200.0 KiB"), "{e}");
    }

    #[test]
    fn a_state_of_another_version_or_shape_is_refused_with_the_reason() {
        let e = State::read(&serde_json::json!({"v": 2, "seq": 1, "started_at_ms": 0, "deployment": {}, "checks": []})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the continuation state is of version 2; this hook reads version 1"
        );
        let e = State::read(&serde_json::json!("nonsense")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("the continuation state is unreadable"),
            "{e}"
        );
    }
}
