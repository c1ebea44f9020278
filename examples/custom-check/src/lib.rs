//! A kind of check of our own, `configuration`: before traffic shifts, the target
//! version's Lambda configuration must meet a policy (arm64, a timeout no longer than
//! the API's, `Active` state). Its YAML reads like any built-in kind:
//!
//! ```yaml
//! - name: configuration-policy
//!   phase: pre
//!   configuration: { qualifier: target }
//!   expect: [ "architectures[0] == 'arm64'", "timeout <= `29`" ]
//! ```
//!
//! It shows the three steps of a kind of your own:
//!
//! 1. put the outside effect behind a small trait ([`ConfigurationSource`]) so tests fake it;
//! 2. implement [`Check`]: take one measurement, return it as JSON;
//! 3. implement [`Kind`] for the type the config section reads into, and register it
//!    in a thin `main` (`src/main.rs`):
//!    `traffic_hooks::main(Kinds::builtin().with::<Configuration>())`.

use serde_json::{json, Value};
use std::sync::Arc;
use traffic_hooks::{
    async_trait, BuildContext, BuildError, Check, CheckContext, Errors, Kind, MeasureError, Section,
};

/// Reads a version's configuration (`GetFunctionConfiguration`).
#[async_trait]
pub trait ConfigurationSource: Send + Sync + 'static {
    /// The configuration of `function` at `qualifier`, as
    /// `{memory_size, timeout, runtime, architectures, state}`.
    async fn configuration(&self, function: &str, qualifier: &str) -> Result<Value, MeasureError>;
}

/// The AWS SDK implementation.
pub struct LambdaConfiguration(pub aws_sdk_lambda::Client);

#[async_trait]
impl ConfigurationSource for LambdaConfiguration {
    async fn configuration(&self, function: &str, qualifier: &str) -> Result<Value, MeasureError> {
        // An SDK error becomes a measurement error reading `Code: message`.
        let c = self
            .0
            .get_function_configuration()
            .function_name(function)
            .qualifier(qualifier)
            .send()
            .await?;
        Ok(json!({
            "memory_size": c.memory_size(),
            "timeout": c.timeout(),
            "runtime": c.runtime().map(|r| r.as_str()),
            "architectures": c.architectures().iter().map(|a| a.as_str()).collect::<Vec<_>>(),
            "state": c.state().map(|s| s.as_str()),
        }))
    }
}

/// Measures one version's configuration.
pub struct ConfigurationCheck {
    source: Arc<dyn ConfigurationSource>,
    function: String,
    qualifier: String,
}

impl ConfigurationCheck {
    /// A check reading `function:qualifier` through `source`.
    pub fn new(source: Arc<dyn ConfigurationSource>, function: &str, qualifier: &str) -> Self {
        Self {
            source,
            function: function.to_owned(),
            qualifier: qualifier.to_owned(),
        }
    }
}

#[async_trait]
impl Check for ConfigurationCheck {
    async fn measure(&self, _: &CheckContext) -> Result<Value, MeasureError> {
        self.source
            .configuration(&self.function, &self.qualifier)
            .await
    }
}

/// The `configuration` kind: `configuration: { qualifier: target | current | VERSION }`.
pub struct Configuration {
    qualifier: String,
}

impl Kind for Configuration {
    const NAME: &'static str = "configuration";

    fn parse(section: &Section<'_>, errors: &mut Errors) -> Option<Self> {
        // Field by field, so every mistake in the section is reported with its path.
        let mut f = section.fields(&["qualifier"], errors);
        let qualifier = f
            .optional::<String>("qualifier")
            .unwrap_or_else(|| "target".to_owned());
        if qualifier.trim().is_empty() {
            f.error(
                "qualifier",
                "must not be empty; use target, current or a version",
            );
        }
        f.ok().then_some(Self { qualifier })
    }

    fn default_expect(&self) -> Option<&'static str> {
        Some("state == 'Active'")
    }

    fn build(self, cx: &BuildContext<'_>) -> Result<Arc<dyn Check>, BuildError> {
        let facts = &cx.deployment.facts;
        let version = match self.qualifier.as_str() {
            "target" => facts.target_version.clone(),
            "current" => facts.current_version.clone(),
            other => Some(other.to_owned()),
        }
        .ok_or_else(|| BuildError::new(format!("the {} version is unknown", self.qualifier)))?;
        let function = facts
            .function
            .clone()
            .ok_or_else(|| BuildError::new("the deployed function is unknown"))?;
        // One client per process, made from the hook's AWS config on first use.
        let client = cx.shared(aws_sdk_lambda::Client::new)?;
        Ok(Arc::new(ConfigurationCheck::new(
            Arc::new(LambdaConfiguration(client)),
            &function,
            &version,
        )))
    }
}
