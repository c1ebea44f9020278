//! A check of our own: before traffic shifts, the target version's Lambda
//! configuration must meet a policy (arm64, a timeout no longer than the API's,
//! `Active` state). It shows the three steps of a custom check:
//!
//! 1. put the outside effect behind a small trait ([`ConfigurationSource`]) so tests fake it;
//! 2. implement [`Check`]: take one measurement, return it as JSON;
//! 3. add it to the hook with [`traffic_hooks::Hook::with_check`] in a thin `main`.

use async_trait::async_trait;
use serde_json::{json, Value};
use std::sync::Arc;
use traffic_hooks::{Check, CheckContext, CheckSpec, MeasureError, Phase};

/// Reads a version's configuration (`GetFunctionConfiguration`).
#[async_trait]
pub trait ConfigurationSource: Send + Sync {
    /// The configuration of `function` at `qualifier`, as
    /// `{memory_size, timeout, runtime, architectures, state}`.
    async fn configuration(&self, function: &str, qualifier: &str) -> Result<Value, String>;
}

/// The AWS SDK implementation.
pub struct LambdaConfiguration(pub aws_sdk_lambda::Client);

#[async_trait]
impl ConfigurationSource for LambdaConfiguration {
    async fn configuration(&self, function: &str, qualifier: &str) -> Result<Value, String> {
        let c = self
            .0
            .get_function_configuration()
            .function_name(function)
            .qualifier(qualifier)
            .send()
            .await
            .map_err(|e| traffic_hooks::aws::describe(&e))?;
        Ok(json!({
            "memory_size": c.memory_size(),
            "timeout": c.timeout(),
            "runtime": c.runtime().map(|r| r.as_str()),
            "architectures": c.architectures().iter().map(|a| a.as_str()).collect::<Vec<_>>(),
            "state": c.state().map(|s| s.as_str()),
        }))
    }
}

/// Measures the target version's configuration.
pub struct ConfigurationCheck {
    source: Arc<dyn ConfigurationSource>,
}

impl ConfigurationCheck {
    /// A check reading through `source`.
    pub fn new(source: impl ConfigurationSource + 'static) -> Self {
        Self {
            source: Arc::new(source),
        }
    }
}

#[async_trait]
impl Check for ConfigurationCheck {
    fn kind(&self) -> &'static str {
        "configuration"
    }

    async fn measure(&self, ctx: &CheckContext) -> Result<Value, MeasureError> {
        let facts = &ctx.deployment.facts;
        let (Some(function), Some(version)) = (&facts.function, &facts.target_version) else {
            return Err(MeasureError::new(
                "the deployment's function and target version are unknown",
            ));
        };
        self.source
            .configuration(function, version)
            .await
            .map_err(MeasureError::new)
    }
}

/// The policy, in JMESPath over the measurement.
pub const POLICY: [&str; 3] = [
    "architectures[0] == 'arm64'",
    "timeout <= `29`",
    "state == 'Active'",
];

/// The check as the hook runs it: before traffic, judged by [`POLICY`].
pub fn spec(source: impl ConfigurationSource + 'static) -> CheckSpec {
    // POLICY is a constant that compiles; a test makes sure of it.
    match CheckSpec::expecting(
        "configuration-policy",
        ConfigurationCheck::new(source),
        &POLICY,
    ) {
        Ok(spec) => spec.in_phase(Phase::Pre),
        Err(e) => unreachable!("POLICY compiles: {e}"),
    }
}
