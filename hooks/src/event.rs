//! The CodeDeploy lifecycle event a hook receives.

use crate::diag::json_type;
use aws_lambda_events::event::codedeploy::CodeDeployLifecycleEvent;
use serde_json::Value;

/// The two ids of a lifecycle event: everything a hook needs to report its verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HookEvent {
    /// `DeploymentId`, e.g. `d-ABCDEF123`.
    pub(crate) deployment_id: String,
    /// `LifecycleEventHookExecutionId`, an opaque token that identifies this hook run.
    pub(crate) execution_id: String,
}

/// Why an event cannot be used. The invocation fails with this error: without both
/// ids no status can be reported.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum EventError {
    /// The event is not a JSON object.
    #[error("the event is not a CodeDeploy lifecycle event: expected a JSON object with DeploymentId and LifecycleEventHookExecutionId, got {0}")]
    NotAnObject(&'static str),
    /// A field is missing, null or empty.
    #[error("the event has no `{0}`: a CodeDeploy lifecycle event carries DeploymentId and LifecycleEventHookExecutionId")]
    Missing(&'static str),
    /// A field has the wrong type.
    #[error("the event's `{field}` must be a string, got {found}")]
    Malformed {
        /// The field's name.
        field: &'static str,
        /// The JSON type found instead.
        found: &'static str,
    },
}

const DEPLOYMENT_ID: &str = "DeploymentId";
const EXECUTION_ID: &str = "LifecycleEventHookExecutionId";

impl HookEvent {
    /// Reads the ids from a raw event, naming the field that is missing or malformed.
    pub(crate) fn parse(raw: &Value) -> Result<Self, EventError> {
        let Value::Object(map) = raw else {
            return Err(EventError::NotAnObject(json_type(raw)));
        };
        let field = |name: &'static str| -> Result<String, EventError> {
            match map.get(name) {
                None | Some(Value::Null) => Err(EventError::Missing(name)),
                Some(Value::String(s)) if s.trim().is_empty() => Err(EventError::Missing(name)),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(other) => Err(EventError::Malformed {
                    field: name,
                    found: json_type(other),
                }),
            }
        };
        // Validate by hand first for precise messages, then go through the shared type
        // so we stay in step with aws_lambda_events' definition of the event.
        field(DEPLOYMENT_ID)?;
        field(EXECUTION_ID)?;
        let ids: CodeDeployLifecycleEvent =
            serde_json::from_value(raw.clone()).map_err(|_| EventError::Malformed {
                field: DEPLOYMENT_ID,
                found: "an unreadable value",
            })?;
        Ok(Self {
            deployment_id: ids.deployment_id,
            execution_id: ids.lifecycle_event_hook_execution_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_both_ids() {
        let ev =
            HookEvent::parse(&json!({"DeploymentId": "d-1", "LifecycleEventHookExecutionId": "x"}));
        assert_eq!(
            ev,
            Ok(HookEvent {
                deployment_id: "d-1".into(),
                execution_id: "x".into()
            })
        );
    }

    #[test]
    fn names_the_missing_field() {
        let err = HookEvent::parse(&json!({"DeploymentId": "d-1"})).unwrap_err();
        assert_eq!(err, EventError::Missing("LifecycleEventHookExecutionId"));
        assert!(err.to_string().contains("LifecycleEventHookExecutionId"));
    }

    #[test]
    fn names_the_malformed_field() {
        let err =
            HookEvent::parse(&json!({"DeploymentId": 7, "LifecycleEventHookExecutionId": "x"}))
                .unwrap_err();
        assert_eq!(
            err,
            EventError::Malformed {
                field: "DeploymentId",
                found: "a number"
            }
        );
    }

    #[test]
    fn refuses_non_objects() {
        assert_eq!(
            HookEvent::parse(&json!("hi")).unwrap_err(),
            EventError::NotAnObject("a string")
        );
    }
}
