//! Reusable, configurable and safe AWS CodeDeploy PreTraffic/PostTraffic hooks for Lambda.
//!
//! A hook receives a CodeDeploy lifecycle event, finds out what is being deployed, runs
//! the checks of the current phase concurrently under the Lambda deadline, and reports
//! `Succeeded` or `Failed` **exactly once**, whatever goes wrong in between.
//!
//! The pieces, one module per concern:
//! - [`event`]: the lifecycle event and its ids;
//! - [`deployment`]: what is deployed (function, alias, versions, phase) and how it is discovered;
//! - [`check`]: the [`Check`] trait, the built-in kinds and the measurement loop;
//! - [`expect`]: JMESPath conditions over a measurement;
//! - [`config`]: raw text to a validated [`Config`], with field paths in every error;
//! - [`report`]: the [`Reporter`] trait, CodeDeploy reporting and its retry;
//! - [`hook`]: one invocation, from event to exactly one report;
//! - [`summary`]: what is logged and printed.
//!
//! Write a check of your own by implementing [`Check`] and adding it to a [`Hook`] with
//! [`Hook::with_check`]; see the README for a complete example.

pub mod aws;
pub mod check;
pub mod cli;
pub mod clock;
pub mod config;
pub mod deployment;
pub mod duration;
pub mod event;
pub mod expect;
pub mod hook;
pub mod lambda;
pub mod report;
pub mod summary;
pub mod template;

/// The README's Rust example, compiled and run as a doctest so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

pub use check::{Check, CheckContext, CheckSpec, MeasureError, Timing};
pub use config::{Config, ConfigError};
pub use deployment::{Deployment, Phase};
pub use event::HookEvent;
pub use hook::Hook;
pub use report::{Reporter, Status};
