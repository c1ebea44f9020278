//! Reusable, configurable and safe AWS CodeDeploy PreTraffic/PostTraffic hooks for Lambda.
//!
//! A hook receives a CodeDeploy lifecycle event, finds out what is being deployed, runs
//! the checks of the current phase concurrently under the Lambda deadline, and reports
//! `Succeeded` or `Failed` **exactly once**, whatever goes wrong in between.
//!
//! The `traffic-hook` binary is this library with its built-in kinds of check
//! (`invoke`, `http`, `compare`, `alarms`, `metric`, `load`), driven by a check file.
//! To add a kind of your own, write a hook binary of your own:
//!
//! 1. implement [`Check`]: take one measurement and return it as JSON;
//! 2. implement [`Kind`] for the type its config section reads into: its name, how the
//!    section is read ([`Section::deserialize`] for a serde type, [`Section::fields`] to
//!    report every problem at once), and how the check is built;
//! 3. call [`main`] with the built-in [`Kinds`] plus yours. Your binary gets Lambda mode,
//!    `validate` and `run`, and its YAML uses your kind like a built-in one, with
//!    `name`, `phase`, `expect`, `count`, `interval`, `timeout`, `dry_run` and the rest.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use traffic_hooks::{async_trait, BuildContext, BuildError, Check, CheckContext, Errors, Kind, MeasureError, Section};
//! # #[derive(serde::Deserialize)] struct NoFreeze { flag: String }
//! # struct NoFreezeCheck;
//! # #[async_trait] impl Check for NoFreezeCheck {
//! #     async fn measure(&self, _: &CheckContext) -> Result<serde_json::Value, MeasureError> { Ok(serde_json::json!({})) } }
//! # impl Kind for NoFreeze {
//! #     const NAME: &'static str = "no-freeze";
//! #     fn parse(s: &Section<'_>, e: &mut Errors) -> Option<Self> { s.deserialize(e) }
//! #     fn build(self, _: &BuildContext<'_>) -> Result<Arc<dyn Check>, BuildError> { Ok(Arc::new(NoFreezeCheck)) } }
//! fn main() -> std::process::ExitCode {
//!     traffic_hooks::main(traffic_hooks::Kinds::builtin().with::<NoFreeze>())
//! }
//! ```
//!
//! `examples/custom-check` in the repository is a complete crate, tested through the
//! testkit; the README walks through it.

// Without `aws` only the pure core is built, for the fuzz targets: much of the crate
// has no caller then.
#![cfg_attr(not(feature = "aws"), allow(dead_code, unused_imports))]

#[cfg(feature = "aws")]
mod aws;
#[cfg(feature = "aws")]
mod awsjson;
mod bounded;
mod check;
mod check_runtime;
#[cfg(feature = "aws")]
mod cli;
mod config;
mod continuation;
mod deployment;
mod diag;
mod duration;
mod error;
mod event;
mod expect;
mod hook;
#[cfg(feature = "aws")]
mod lambda;
mod measurement;
#[cfg(feature = "aws")]
mod net;
mod ops;
mod redact;
mod report;
#[cfg(feature = "aws")]
mod sdk;
mod size;
mod summary;
mod template;
mod wire;

/// The README's Rust example, compiled and run as a doctest so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

pub use async_trait::async_trait;
pub use check::kind::{BuildContext, BuildError, Kind, Kinds, Section};
pub use check::{Check, CheckContext, MeasureError, Timing};
pub use deployment::{Deployment, Facts, Phase};
pub use diag::{Errors, FieldError, Fields};
pub use duration::Duration;
pub use error::{chain as error_chain, EffectError};

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

/// Runs a hook binary with `kinds`: as a Lambda function when `AWS_LAMBDA_RUNTIME_API`
/// is set and no command is given, else the command on the command line (`validate`,
/// `run`, `--help`). `traffic-hook` is `main(Kinds::builtin())`.
#[cfg(feature = "aws")]
pub fn main(kinds: Kinds) -> std::process::ExitCode {
    // One thread for the hook and the built-in checks: each wake-up of their I/O is
    // one context switch, not a hand-off from a worker to the thread that blocks on
    // the handler (a warm invocation's overhead ~0.2 ms less, no worker threads to
    // start; docs/performance.md). A user's kinds run on a runtime of their own
    // (`check_runtime`), so one that blocks cannot stop the deadline.
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(cli::main(kinds)),
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod testing;
