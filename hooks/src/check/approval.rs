//! `approval`: a manual gate. Reads an SSM parameter (by default
//! `/traffic-hooks/approvals/<deployment id>`, set by `traffic-hook approve|reject`) or
//! an HTTP endpoint, and measures `{state, by, at, reason, source}` with `state` one of
//! `pending`, `approved`, `rejected`.
//!
//! Its defaults make it a gate: `until: state != 'pending'` keeps it measuring every
//! `interval` while nobody has decided (with continuations, up to `max_duration`), and
//! `expect: state == 'approved'` judges the decision, so a rejection fails at once
//! with the rejecter's reason.

use super::http::{parse_request, HttpRequest, HttpSender};
use super::kind::{BuildContext, BuildError, Kind, Section};
use super::{Check, CheckContext, MeasureError};
use crate::diag::Errors;
use crate::error::EffectError;
use async_trait::async_trait;
use serde_json::{json, Value};
use std::sync::Arc;

/// Where approvals are kept when a check names no parameter: one per deployment.
pub(crate) const DEFAULT_PREFIX: &str = "/traffic-hooks/approvals/";

/// The most of an approval document read over HTTP.
const MAX_APPROVAL_BODY: usize = 64 * 1024;

/// The SSM parameters approvals are kept in, behind a trait so tests can fake it.
#[async_trait]
pub(crate) trait ApprovalStore: Send + Sync {
    /// The parameter's value; `None` when it does not exist (nobody decided yet).
    async fn read(&self, name: &str) -> Result<Option<String>, EffectError>;

    /// Sets the parameter to `value` (a decision from the command line).
    async fn write(&self, name: &str, value: &str) -> Result<(), EffectError>;
}

/// A decision, as the parameter (or the endpoint) holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decision {
    /// `approved` or `rejected`.
    pub(crate) state: &'static str,
    /// Who decided.
    pub(crate) by: String,
    /// When (RFC 3339).
    pub(crate) at: String,
    /// Why, as given.
    pub(crate) reason: Option<String>,
}

impl Decision {
    /// The parameter's value: a JSON document that [`read_state`] reads back.
    pub(crate) fn to_value(&self) -> String {
        json!({
            "state": self.state,
            "by": self.by,
            "at": self.at,
            "reason": self.reason,
        })
        .to_string()
    }
}

/// The parameter that holds the approval of `deployment_id`.
pub(crate) fn default_parameter(deployment_id: &str) -> String {
    format!("{DEFAULT_PREFIX}{deployment_id}")
}

/// Reads an approval document: JSON with `state` (and `by`, `at`, `reason`), or the
/// bare word `approved`, `rejected` or `pending`. Anything else is an error that names
/// what was found.
pub(crate) fn read_state(text: &str) -> Result<Value, String> {
    let word = |s: &str| match s.trim().to_ascii_lowercase().as_str() {
        "approved" => Ok("approved"),
        "rejected" => Ok("rejected"),
        "pending" => Ok("pending"),
        other => Err(format!(
            "state `{}` is not pending, approved or rejected",
            other.chars().take(40).collect::<String>()
        )),
    };
    let doc: Value = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Value::Object(map),
        Ok(Value::String(s)) => json!({ "state": s }),
        _ => json!({ "state": text }),
    };
    let state = doc
        .get("state")
        .and_then(Value::as_str)
        .ok_or("the approval has no `state`")?;
    let text_of = |key: &str| doc.get(key).and_then(Value::as_str).map(str::to_owned);
    Ok(json!({
        "state": word(state)?,
        "by": text_of("by"),
        "at": text_of("at"),
        "reason": text_of("reason"),
    }))
}

/// Where an approval is read.
#[derive(Debug, Clone)]
enum Source {
    /// An SSM parameter; `None`: the deployment's default parameter.
    Ssm(Option<String>),
    /// An HTTP endpoint answering an approval document (404: pending).
    Http(Box<HttpRequest>),
}

/// The `approval` kind: its section, `{}` (the default parameter), `{ssm: NAME}`, or
/// `{url, headers, sigv4}`.
pub(crate) struct Approval(Source);

impl Kind for Approval {
    const NAME: &'static str = "approval";

    fn parse(section: &Section<'_>, errors: &mut Errors) -> Option<Self> {
        let empty = Value::Object(Default::default());
        let section = Section {
            value: if section.value.is_null() {
                &empty
            } else {
                section.value
            },
            ..*section
        };
        let has = |key: &str| section.value.get(key).is_some_and(|v| !v.is_null());
        if has("url") {
            let f = section.fields(&["url", "headers", "sigv4", "max_body"], errors);
            return parse_request(f, section.raw).map(|mut req| {
                req.max_body = req.max_body.min(MAX_APPROVAL_BODY);
                Self(Source::Http(Box::new(req)))
            });
        }
        let mut f = section.fields(&["ssm"], errors);
        let ssm = f.optional::<String>("ssm");
        if ssm.as_deref().is_some_and(|n| n.trim().is_empty()) {
            f.error(
                "ssm",
                "must not be empty; leave it out for the default parameter",
            );
        }
        f.ok().then_some(Self(Source::Ssm(ssm)))
    }

    fn default_expect(&self) -> Option<&'static str> {
        Some("state == 'approved'")
    }

    fn default_until(&self) -> Option<&'static str> {
        Some("state != 'pending'")
    }

    fn build(self, cx: &BuildContext<'_>) -> Result<Arc<dyn Check>, BuildError> {
        Ok(Arc::new(match self.0 {
            Source::Ssm(name) => ApprovalCheck::Ssm {
                name: name.unwrap_or_else(|| {
                    default_parameter(
                        cx.deployment
                            .deployment_id
                            .as_deref()
                            .unwrap_or("d-UNKNOWN"),
                    )
                }),
                store: cx.effects.approvals.clone(),
            },
            Source::Http(mut req) => {
                req.timeout = cx.timing.timeout;
                ApprovalCheck::Http {
                    req,
                    sender: cx.effects.http.clone(),
                }
            }
        }))
    }
}

/// Reads the approval.
enum ApprovalCheck {
    Ssm {
        name: String,
        store: Arc<dyn ApprovalStore>,
    },
    Http {
        req: Box<HttpRequest>,
        sender: Arc<dyn HttpSender>,
    },
}

#[async_trait]
impl Check for ApprovalCheck {
    async fn measure(&self, _: &CheckContext) -> Result<Value, MeasureError> {
        let (found, source) = match self {
            Self::Ssm { name, store } => (store.read(name).await?, format!("ssm:{name}")),
            Self::Http { req, sender } => {
                let reply = sender.send(req).await?;
                let source = super::http::redacted_url(&req.url);
                match reply.status {
                    404 => (None, source),
                    200..=299 => (
                        Some(String::from_utf8_lossy(&reply.body).into_owned()),
                        source,
                    ),
                    s => {
                        return Err(MeasureError::new(format!(
                            "{source} answered HTTP {s}, not an approval"
                        )))
                    }
                }
            }
        };
        let mut m = match found {
            None => json!({ "state": "pending", "by": null, "at": null, "reason": null }),
            Some(text) => {
                read_state(&text).map_err(|e| MeasureError::new(format!("{source}: {e}")))?
            }
        };
        m["source"] = source.into();
        Ok(m)
    }

    fn failure_detail(&self, value: &Value) -> Option<String> {
        let field = |k: &str| value.get(k).and_then(Value::as_str);
        let state = field("state")?;
        let mut detail = format!("{state} by {}", field("by").unwrap_or("someone unnamed"));
        if let Some(at) = field("at") {
            detail.push_str(&format!(" at {at}"));
        }
        detail.push_str(&format!(
            ": {}",
            field("reason").unwrap_or("no reason given")
        ));
        Some(detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_approval_reads_from_json_or_a_bare_word() {
        let v = read_state(r#"{"state":"Rejected","by":"ana","at":"2026-11-26T10:00:00Z","reason":"error budget spent"}"#).unwrap();
        assert_eq!(
            v,
            json!({"state": "rejected", "by": "ana", "at": "2026-11-26T10:00:00Z", "reason": "error budget spent"})
        );
        assert_eq!(read_state(" approved\n").unwrap()["state"], "approved");
        assert_eq!(read_state("\"pending\"").unwrap()["state"], "pending");
        assert_eq!(
            read_state("maybe").unwrap_err(),
            "state `maybe` is not pending, approved or rejected"
        );
        assert_eq!(
            read_state(r#"{"by":"ana"}"#).unwrap_err(),
            "the approval has no `state`"
        );
    }

    #[test]
    fn a_decision_round_trips_through_its_parameter_value() {
        let d = Decision {
            state: "approved",
            by: "ana".into(),
            at: "2026-11-26T10:00:00Z".into(),
            reason: Some("looks good".into()),
        };
        assert_eq!(
            read_state(&d.to_value()).unwrap(),
            json!({"state": "approved", "by": "ana", "at": "2026-11-26T10:00:00Z", "reason": "looks good"})
        );
    }
}
