//! `invoke`: call a version of the deployed function and judge its answer.
//!
//! Measurement: `{payload, function_error, executed_version, latency_ms}`; `payload` is
//! the parsed JSON answer (a string when it is not JSON). Default expect:
//! `function_error == null`.

use super::http::max_body;
use super::kind::{BuildContext, BuildError, Kind, Section};
use super::{millis, Check, CheckContext, MeasureError};
use crate::deployment::Deployment;
use crate::diag::{Errors, Text};
use crate::error::EffectError;
use crate::size::ByteSize;
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::time::Instant;

/// What one Lambda `Invoke` returned.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct InvokeOutput {
    /// The response payload's bytes.
    pub(crate) payload: Vec<u8>,
    /// `X-Amz-Function-Error` (`Unhandled`, `Handled`) when the function failed.
    pub(crate) function_error: Option<String>,
    /// `X-Amz-Executed-Version`: the version that ran.
    pub(crate) executed_version: Option<String>,
}

/// Lambda's `Invoke`, behind a trait so tests can fake it.
#[async_trait]
pub(crate) trait LambdaInvoker: Send + Sync {
    /// Invokes `function` at `qualifier` (a version or alias) with `payload`.
    async fn invoke(
        &self,
        function: &str,
        qualifier: &str,
        payload: Vec<u8>,
    ) -> Result<InvokeOutput, EffectError>;

    /// Invokes `function` (at `qualifier`, if given) asynchronously
    /// (`InvocationType: Event`): the hook's continuation of itself. Lambda queues the
    /// event; `Ok` means it was accepted.
    async fn invoke_event(
        &self,
        _function: &str,
        _qualifier: Option<&str>,
        _payload: Vec<u8>,
    ) -> Result<(), EffectError> {
        Err(EffectError::new(
            "Invoke",
            "asynchronous invocations are not available here",
        ))
    }
}

/// Which version to call: `target` (default), `current`, `alias`, or a version or
/// alias by name (`7`, `live`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum Qualifier {
    /// The version being deployed.
    #[default]
    Target,
    /// The version serving now.
    Current,
    /// The alias whose traffic shifts.
    Alias,
    /// A version or alias by name.
    Named(String),
}

impl<'de> Deserialize<'de> for Qualifier {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Text(text) = Text::deserialize(d)?;
        Ok(match text.trim() {
            "" => {
                return Err(serde::de::Error::custom(
                    "must not be empty; use target, current, alias or a version",
                ))
            }
            "target" => Self::Target,
            "current" => Self::Current,
            "alias" => Self::Alias,
            other => Self::Named(other.to_owned()),
        })
    }
}

impl Qualifier {
    /// The version or alias name this qualifier means for `deployment`.
    pub(crate) fn resolve(&self, deployment: &Deployment) -> Result<String, BuildError> {
        let f = &deployment.facts;
        let (value, word, what) = match self {
            Self::Named(name) => return Ok(name.clone()),
            Self::Target => (&f.target_version, "target", "target version"),
            Self::Current => (&f.current_version, "current", "current version"),
            Self::Alias => (&f.alias, "alias", "alias"),
        };
        value.clone().ok_or_else(|| {
            BuildError::new(format!("qualifier `{word}` needs the {what}, which is unknown (not discovered, and not in the config's `target:`)"))
        })
    }
}

/// The function a check calls: its own `function`, else the deployed one.
pub(crate) fn resolve_function(
    function: Option<String>,
    deployment: &Deployment,
) -> Result<String, BuildError> {
    function.or_else(|| deployment.facts.function.clone()).ok_or_else(|| {
        BuildError::new("the function is unknown (not discovered, not in `target:`, no `function:` in the check)")
    })
}

/// The `invoke` kind: its section.
pub(crate) struct Invoke {
    function: Option<String>,
    qualifier: Qualifier,
    payload: Value,
    max_body: ByteSize,
}

impl Kind for Invoke {
    const NAME: &'static str = "invoke";

    fn parse(section: &Section<'_>, errors: &mut Errors) -> Option<Self> {
        let mut f = section.fields(&["function", "qualifier", "payload", "max_body"], errors);
        let function = f.optional::<String>("function");
        let qualifier = f.optional::<Qualifier>("qualifier").unwrap_or_default();
        let payload = f.raw("payload").cloned().unwrap_or_else(|| json!({}));
        let max_body = max_body(&mut f);
        f.ok().then_some(Self {
            function,
            qualifier,
            payload,
            max_body,
        })
    }

    fn default_expect(&self) -> Option<&'static str> {
        Some("function_error == null")
    }

    fn build(self, cx: &BuildContext<'_>) -> Result<Arc<dyn Check>, BuildError> {
        Ok(Arc::new(InvokeCheck {
            invoker: cx.effects.lambda.clone(),
            function: resolve_function(self.function, cx.deployment)?,
            qualifier: self.qualifier.resolve(cx.deployment)?,
            payload: self.payload.to_string().into_bytes(),
            max_body: self.max_body.bytes(),
        }))
    }
}

/// Invokes one function version with one payload.
struct InvokeCheck {
    invoker: Arc<dyn LambdaInvoker>,
    function: String,
    qualifier: String,
    payload: Vec<u8>,
    max_body: usize,
}

/// Refuses a payload larger than `max_body`, saying both sizes.
pub(crate) fn bounded_payload(out: &InvokeOutput, max_body: usize) -> Result<(), String> {
    crate::bounded::payload(out.payload.len(), max_body)
}

/// Turns what Lambda returned into the measurement document.
pub(crate) fn measurement(out: InvokeOutput, latency: std::time::Duration) -> Value {
    let payload = serde_json::from_slice::<Value>(&out.payload)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&out.payload).into_owned()));
    json!({
        "payload": payload,
        "function_error": out.function_error,
        "executed_version": out.executed_version,
        "latency_ms": millis(latency),
    })
}

#[async_trait]
impl Check for InvokeCheck {
    async fn measure(&self, _: &CheckContext) -> Result<Value, MeasureError> {
        let started = Instant::now();
        let out = self
            .invoker
            .invoke(&self.function, &self.qualifier, self.payload.clone())
            .await
            .map_err(|e| {
                MeasureError::new(format!(
                    "invoking {}:{}: {}",
                    self.function, self.qualifier, e.message
                ))
            })?;
        bounded_payload(&out, self.max_body).map_err(|e| {
            MeasureError::new(format!(
                "invoking {}:{}: {e}",
                self.function, self.qualifier
            ))
        })?;
        Ok(measurement(out, started.elapsed()))
    }
}
