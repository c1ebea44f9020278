//! Where checks run. In Lambda the hook's own path (the Runtime API,
//! discovery, the deadline, the report) and the built-in checks run on one thread,
//! each wake-up one context switch (docs/performance.md). A kind of a user's own may
//! break [`Check`](crate::Check)'s rule and block its thread: its checks run on a
//! runtime of their own, so that they cannot stop the deadline or the report.

use std::future::Future;
use std::sync::OnceLock;
use tokio::runtime::{Builder, Runtime};
use tokio::task::JoinHandle;

/// Where [`CheckRuntime::spawn`] runs the checks of users' kinds.
#[derive(Clone, Copy)]
pub(crate) struct CheckRuntime(Option<&'static OnceLock<Option<Runtime>>>);

impl CheckRuntime {
    /// Checks run on the caller's runtime (tests, whose clock may be paused, and
    /// terminal runs).
    pub(crate) fn same() -> Self {
        Self(None)
    }

    /// Checks run on a multi-threaded runtime of their own, started with the first
    /// check (nothing is started before the first event needs it). It lives as long
    /// as the process: a runtime may not be dropped from async code, where the hook
    /// would drop it.
    pub(crate) fn separate() -> Self {
        Self(Some(Box::leak(Box::new(OnceLock::new()))))
    }

    /// Spawns `check`: a user's kind where checks of users' kinds run, a built-in
    /// kind (they never block) beside the caller, with no hand-off between threads.
    /// Should the separate runtime fail to start (no threads left), the check runs on
    /// the caller's, and that is logged once.
    pub(crate) fn spawn<F>(&self, user_kind: bool, check: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let Some(cell) = self.0.filter(|_| user_kind) else {
            return tokio::spawn(check);
        };
        let runtime = cell.get_or_init(|| {
            Builder::new_multi_thread()
                .enable_all()
                .thread_name("traffic-hook-checks")
                .build()
                .inspect_err(|e| {
                    tracing::warn!(error = %e, "cannot start the checks' runtime; checks run beside the hook");
                })
                .ok()
        });
        match runtime {
            Some(rt) => rt.spawn(check),
            None => tokio::spawn(check),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(flavor = "current_thread")]
    async fn a_check_that_blocks_its_thread_does_not_stop_the_caller_when_separate() {
        let checks = CheckRuntime::separate();
        let blocked = checks.spawn(true, async {
            std::thread::sleep(Duration::from_millis(300));
        });
        let other = checks.spawn(true, async { 7 });
        // The caller's own timer fires while the check blocks a thread of its own.
        let waited = tokio::time::timeout(Duration::from_millis(50), blocked).await;
        assert!(waited.is_err(), "the blocked check is still running");
        assert_eq!(other.await.unwrap(), 7, "other checks run beside it");
    }

    /// The thread `checks` runs a check on.
    async fn thread_of(checks: CheckRuntime, user_kind: bool) -> std::thread::ThreadId {
        checks
            .spawn(user_kind, async { std::thread::current().id() })
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_builtin_kind_runs_on_the_callers_thread_even_when_users_run_apart() {
        let caller = std::thread::current().id();
        assert_eq!(thread_of(CheckRuntime::separate(), false).await, caller);
        assert_ne!(thread_of(CheckRuntime::separate(), true).await, caller);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_same_runtime_runs_checks_on_the_callers_thread() {
        let caller = std::thread::current().id();
        assert_eq!(thread_of(CheckRuntime::same(), true).await, caller);
    }
}
