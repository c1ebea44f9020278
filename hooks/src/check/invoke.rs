//! `invoke`: call a version of the deployed function and judge its answer.
//!
//! Measurement: `{payload, function_error, executed_version, latency_ms}`; `payload` is
//! the parsed JSON answer (a string when it is not JSON). Default expect:
//! `function_error == null`.

use super::{millis, Check, CheckContext, Effects, MeasureError};
use crate::config::{de, string_or_number, FieldError};
use crate::deployment::Deployment;
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Instant;

/// What one Lambda `Invoke` returned.
#[derive(Debug, Clone, PartialEq)]
pub struct InvokeOutput {
    /// The response payload's bytes.
    pub payload: Vec<u8>,
    /// `X-Amz-Function-Error` (`Unhandled`, `Handled`) when the function failed.
    pub function_error: Option<String>,
    /// `X-Amz-Executed-Version`: the version that ran.
    pub executed_version: Option<String>,
}

/// Lambda's `Invoke`, behind a trait so tests can fake it.
#[async_trait]
pub trait LambdaInvoker: Send + Sync {
    /// Invokes `function` at `qualifier` (a version or alias) with `payload`.
    async fn invoke(
        &self,
        function: &str,
        qualifier: &str,
        payload: Vec<u8>,
    ) -> Result<InvokeOutput, String>;
}

/// Invokes one function version with one payload.
pub struct InvokeCheck {
    invoker: Arc<dyn LambdaInvoker>,
    function: String,
    qualifier: String,
    payload: Vec<u8>,
}

impl InvokeCheck {
    /// A check that invokes `function:qualifier` with `payload`.
    pub fn new(
        invoker: Arc<dyn LambdaInvoker>,
        function: String,
        qualifier: String,
        payload: &Value,
    ) -> Self {
        Self {
            invoker,
            function,
            qualifier,
            payload: payload.to_string().into_bytes(),
        }
    }
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
    fn kind(&self) -> &'static str {
        "invoke"
    }

    fn default_expect(&self) -> Option<&'static str> {
        Some("function_error == null")
    }

    async fn measure(&self, _: &CheckContext) -> Result<Value, MeasureError> {
        let started = Instant::now();
        let out = self
            .invoker
            .invoke(&self.function, &self.qualifier, self.payload.clone())
            .await
            .map_err(|e| {
                MeasureError(format!(
                    "invoking {}:{}: {e}",
                    self.function, self.qualifier
                ))
            })?;
        Ok(measurement(out, started.elapsed()))
    }
}

/// The `invoke:` section of a check.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InvokeSpec {
    /// The function; default: the deployed one.
    #[serde(default)]
    pub function: Option<String>,
    /// `target` (default), `current`, `alias`, or a version or alias name.
    #[serde(default, deserialize_with = "string_or_number")]
    pub qualifier: Option<String>,
    /// The event to send; default `{}`.
    #[serde(default)]
    pub payload: Option<Value>,
}

pub(crate) fn validate(rendered: &Value, path: &str) -> Vec<FieldError> {
    match de::<InvokeSpec>(rendered, path) {
        Err(e) => vec![e],
        Ok(spec)
            if spec
                .qualifier
                .as_deref()
                .is_some_and(|q| q.trim().is_empty()) =>
        {
            vec![FieldError {
                path: format!("{path}.qualifier"),
                message: "must not be empty; use target, current, alias or a version".into(),
            }]
        }
        Ok(_) => Vec::new(),
    }
}

/// Resolves `target` / `current` / `alias` to what the deployment says.
pub(crate) fn resolve_qualifier(
    qualifier: &str,
    deployment: &Deployment,
    path: &str,
) -> Result<String, String> {
    let f = &deployment.facts;
    let (value, what) = match qualifier {
        "target" => (&f.target_version, "target version"),
        "current" => (&f.current_version, "current version"),
        "alias" => (&f.alias, "alias"),
        explicit => return Ok(explicit.to_owned()),
    };
    value.clone().ok_or_else(|| {
        format!("{path}: qualifier `{qualifier}` needs the {what}, which is unknown (not discovered, and not in the config's `target:`)")
    })
}

/// The function a check calls: its own `function`, else the deployed one.
pub(crate) fn resolve_function(
    function: Option<String>,
    deployment: &Deployment,
    path: &str,
) -> Result<String, String> {
    function.or_else(|| deployment.facts.function.clone()).ok_or_else(|| {
        format!("{path}: the function is unknown (not discovered, not in `target:`, no `function:` in the check)")
    })
}

pub(crate) fn build(
    spec: &Value,
    path: &str,
    deployment: &Deployment,
    effects: &Effects,
) -> Result<Arc<dyn Check>, String> {
    let spec: InvokeSpec = de(spec, path).map_err(|e| e.to_string())?;
    let function = resolve_function(spec.function, deployment, path)?;
    let qualifier = resolve_qualifier(
        spec.qualifier.as_deref().unwrap_or("target"),
        deployment,
        path,
    )?;
    let payload = spec.payload.unwrap_or_else(|| json!({}));
    Ok(Arc::new(InvokeCheck::new(
        effects.lambda.clone(),
        function,
        qualifier,
        &payload,
    )))
}
