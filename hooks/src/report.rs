//! Reporting the verdict to CodeDeploy: exactly one accepted report per event.

use crate::event::HookEvent;
use async_trait::async_trait;
use serde::Serialize;
use std::time::Duration;
use tokio::time::Instant;

/// The status a hook reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) enum Status {
    /// Go on with the deployment.
    Succeeded,
    /// Stop it and roll back.
    Failed,
}

impl Status {
    /// The wire name CodeDeploy expects.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
        }
    }
}

/// Why one report attempt was not accepted.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub(crate) enum ReportError {
    /// The lifecycle event already has a status: nothing more to do.
    #[error("already completed: {0}")]
    AlreadyCompleted(String),
    /// Throttling, a 5xx, a timeout or a connection error: worth another attempt.
    #[error("{0}")]
    Retryable(String),
    /// Anything else (bad ids, access denied): another attempt would fail the same way.
    #[error("{0}")]
    Fatal(String),
}

/// Puts a lifecycle event hook status, one attempt per call.
#[async_trait]
pub(crate) trait Reporter: Send + Sync {
    /// One `PutLifecycleEventHookExecutionStatus` call.
    async fn put_status(&self, event: &HookEvent, status: Status) -> Result<(), ReportError>;
}

/// How reporting ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReportOutcome {
    /// CodeDeploy accepted the status.
    Accepted {
        /// Attempts made, 1 when the first was accepted.
        attempts: u32,
    },
    /// The event already had a status (a retried invocation, or another writer).
    AlreadyCompleted {
        /// Attempts made.
        attempts: u32,
    },
    /// No attempt was accepted before the deadline, or an attempt failed for good.
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// The last error.
        error: String,
    },
}

impl ReportOutcome {
    /// A short description for the summary.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Accepted { attempts } => format!("accepted after {attempts} attempt(s)"),
            Self::AlreadyCompleted { attempts } => {
                format!("already completed (attempt {attempts})")
            }
            Self::GaveUp { attempts, error } => {
                format!("not accepted after {attempts} attempt(s): {error}")
            }
        }
    }
}

/// The longest one report attempt may take before it is abandoned and retried: a
/// stalled connection must not use up the whole reporting budget.
pub(crate) const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);

/// Backoff before attempt `n + 1`: 100 ms doubling to at most 2 s.
fn backoff(n: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << n.min(5))).min(Duration::from_secs(2))
}

/// Reports `status` until it is accepted, retrying retryable errors with backoff, and
/// never past `deadline`.
pub(crate) async fn report(
    reporter: &dyn Reporter,
    event: &HookEvent,
    status: Status,
    deadline: Instant,
) -> ReportOutcome {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let attempt_started = Instant::now();
        let attempt_deadline = deadline.min(Instant::now() + ATTEMPT_TIMEOUT);
        let error = match tokio::time::timeout_at(
            attempt_deadline,
            reporter.put_status(event, status),
        )
        .await
        {
            Ok(Ok(())) => {
                tracing::info!(attempts, status = status.as_str(), "status reported");
                return ReportOutcome::Accepted { attempts };
            }
            Ok(Err(ReportError::AlreadyCompleted(msg))) => {
                tracing::warn!(attempts, message = %msg, "lifecycle event already completed; not reporting again");
                return ReportOutcome::AlreadyCompleted { attempts };
            }
            Ok(Err(ReportError::Fatal(error))) => {
                tracing::error!(attempts, %error, "report refused; not retrying");
                return ReportOutcome::GaveUp { attempts, error };
            }
            Ok(Err(ReportError::Retryable(error))) => error,
            Err(_) => format!(
                "no answer within {}",
                crate::duration::format(attempt_deadline - attempt_started)
            ),
        };
        let wait = backoff(attempts - 1);
        if Instant::now() + wait >= deadline {
            tracing::error!(attempts, %error, "report not accepted before the deadline");
            return ReportOutcome::GaveUp { attempts, error };
        }
        tracing::warn!(attempts, %error, retry_in_ms = wait.as_millis() as u64, "report not accepted; retrying");
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Script(Mutex<Vec<Result<(), ReportError>>>);

    #[async_trait]
    impl Reporter for Script {
        async fn put_status(&self, _: &HookEvent, _: Status) -> Result<(), ReportError> {
            let mut s = self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if s.is_empty() {
                Ok(())
            } else {
                s.remove(0)
            }
        }
    }

    fn event() -> HookEvent {
        HookEvent {
            deployment_id: "d".into(),
            execution_id: "e".into(),
        }
    }

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(30)
    }

    #[tokio::test(start_paused = true)]
    async fn retries_throttling_and_5xx_until_accepted() {
        let r = Script(Mutex::new(vec![
            Err(ReportError::Retryable("throttled".into())),
            Err(ReportError::Retryable("503".into())),
        ]));
        assert_eq!(
            report(&r, &event(), Status::Failed, far()).await,
            ReportOutcome::Accepted { attempts: 3 }
        );
    }

    #[tokio::test]
    async fn already_completed_is_done_without_retry() {
        let r = Script(Mutex::new(vec![Err(ReportError::AlreadyCompleted(
            "x".into(),
        ))]));
        assert_eq!(
            report(&r, &event(), Status::Failed, far()).await,
            ReportOutcome::AlreadyCompleted { attempts: 1 }
        );
    }

    #[tokio::test]
    async fn fatal_errors_are_not_retried() {
        let r = Script(Mutex::new(vec![Err(ReportError::Fatal(
            "AccessDenied".into(),
        ))]));
        assert!(matches!(
            report(&r, &event(), Status::Failed, far()).await,
            ReportOutcome::GaveUp { attempts: 1, .. }
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_at_the_deadline() {
        let r = Script(Mutex::new(vec![
            Err(ReportError::Retryable("503".into()));
            100
        ]));
        let deadline = Instant::now() + Duration::from_millis(800);
        let out = report(&r, &event(), Status::Failed, deadline).await;
        // 100 + 200 + 400 ms of backoff fit; the next 800 ms would pass the deadline.
        assert_eq!(
            out,
            ReportOutcome::GaveUp {
                attempts: 4,
                error: "503".into()
            }
        );
        assert!(Instant::now() <= deadline);
    }

    /// Never answers.
    struct Stalls;

    #[async_trait]
    impl Reporter for Stalls {
        async fn put_status(&self, _: &HookEvent, _: Status) -> Result<(), ReportError> {
            std::future::pending().await
        }
    }

    #[tokio::test(start_paused = true)]
    async fn stalled_attempts_are_cut_at_3s_and_the_last_at_the_deadline() {
        let started = Instant::now();
        let deadline = started + Duration::from_secs(10);
        let out = report(&Stalls, &event(), Status::Succeeded, deadline).await;
        // 0–3 s, 3.1–6.1 s, 6.3–9.3 s, 9.7–10 s; the next backoff would pass the deadline.
        assert_eq!(
            out,
            ReportOutcome::GaveUp {
                attempts: 4,
                error: "no answer within 300ms".into()
            }
        );
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }

    #[test]
    fn statuses_have_codedeploys_names() {
        assert_eq!(Status::Succeeded.as_str(), "Succeeded");
        assert_eq!(Status::Failed.as_str(), "Failed");
    }

    #[test]
    fn backoff_doubles_from_100ms_to_at_most_2s() {
        let waits: Vec<u128> = (0..7).map(|n| backoff(n).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 2000, 2000]);
    }
}
