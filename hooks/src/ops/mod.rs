//! Operating deployments: what a hook does besides its checks. Metrics lines (EMF),
//! notifications after the report, the emergency skip switch, the fast pass for
//! rollbacks, and pruning old versions.
//!
//! Each top-level section (`metrics`, `notify`, `skip`, `rollbacks`, `prune`) reads
//! and validates itself here, pushing every problem with its path; the effects they
//! need sit behind the small traits of [`effects`].

pub(crate) mod effects;
pub(crate) mod metrics;
pub(crate) mod notify;
pub(crate) mod prune;

use crate::check::http::{parse_request, HttpRequest};
use crate::diag::{Errors, Fields};
use crate::report::Status;
use serde::Deserialize;
use serde_json::{Map, Value};

/// The top-level keys this module reads.
pub(crate) const KEYS: [&str; 5] = ["metrics", "notify", "skip", "rollbacks", "prune"];

/// What a hook does besides its checks.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Operations {
    /// The EMF namespace; `None` turns metrics off (`metrics: false`).
    pub(crate) metrics: Option<String>,
    /// Notifications after the report (boxed: a webhook request is large, and most
    /// configs have none).
    pub(crate) notify: Option<Box<Notify>>,
    /// The emergency switch: an SSM parameter read per event.
    pub(crate) skip: Option<String>,
    /// What to do for a deployment a rollback created.
    pub(crate) rollbacks: Rollbacks,
    /// Delete old versions after a successful PostTraffic report.
    pub(crate) prune: Option<Prune>,
}

impl Default for Operations {
    fn default() -> Self {
        Self {
            metrics: Some(metrics::DEFAULT_NAMESPACE.to_owned()),
            notify: None,
            skip: None,
            rollbacks: Rollbacks::Pass,
            prune: None,
        }
    }
}

/// `rollbacks: pass | verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Rollbacks {
    /// Report `Succeeded` at once: a failing check never blocks the way back.
    #[default]
    Pass,
    /// Run the checks as for any deployment.
    Verify,
}

/// The creators CodeDeploy gives a deployment that rolls another back.
pub(crate) const ROLLBACK_CREATORS: [&str; 2] = ["codeDeployRollback", "CloudFormationRollback"];

/// `notify:`: where to say how a lifecycle event ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Notify {
    /// A webhook (Slack-compatible JSON), with its headers.
    pub(crate) webhook: Option<HttpRequest>,
    /// An SNS topic to publish to.
    pub(crate) sns_topic: Option<String>,
    /// The verdicts to notify about (default: `failed`).
    pub(crate) on: Vec<Status>,
}

/// `prune:`: keep the newest `keep` versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Prune {
    /// Versions to keep, newest first (aliased ones are kept whatever this says).
    pub(crate) keep: u32,
}

/// The most versions one run deletes.
pub(crate) const MAX_DELETIONS: usize = 20;

/// The most `prune.keep` may say.
const MAX_KEEP: u32 = 1000;

/// How long a notification may take, each attempt.
pub(crate) const NOTIFY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Reads the operations sections of a config's top level.
pub(crate) fn parse(top: &Map<String, Value>, errs: &mut Errors) -> Operations {
    let mut ops = Operations::default();
    if let Some(v) = top.get("metrics") {
        ops.metrics = parse_metrics(v, errs);
    }
    if let Some(v) = top.get("notify") {
        ops.notify = parse_notify(v, errs);
    }
    if let Some(v) = top.get("skip") {
        let mut f = Fields::new(v, "skip", &["ssm"], errs);
        ops.skip = f.required::<String>("ssm").filter(|name| {
            let ok = !name.trim().is_empty();
            if !ok {
                f.error("ssm", "must name an SSM parameter");
            }
            ok
        });
    }
    if let Some(v) = top.get("rollbacks") {
        ops.rollbacks = errs.de(v, "rollbacks").unwrap_or_default();
    }
    if let Some(v) = top.get("prune") {
        let mut f = Fields::new(v, "prune", &["keep"], errs);
        if let Some(keep) = f.required::<u32>("keep") {
            // `keep: 0` is off, so a template can switch pruning with a parameter.
            if keep > MAX_KEEP {
                f.error("keep", format!("must be at most {MAX_KEEP} versions"));
            } else if keep > 0 {
                ops.prune = Some(Prune { keep });
            }
        }
    }
    ops
}

fn parse_metrics(v: &Value, errs: &mut Errors) -> Option<String> {
    match v {
        Value::Bool(true) => Some(metrics::DEFAULT_NAMESPACE.to_owned()),
        Value::Bool(false) => None,
        other => {
            let mut f = Fields::new(other, "metrics", &["namespace"], errs);
            let namespace = f
                .optional::<String>("namespace")
                .unwrap_or_else(|| metrics::DEFAULT_NAMESPACE.to_owned());
            // CloudWatch's rule for namespaces: 1 to 255 of these characters, and
            // not starting with `AWS/` (reserved for AWS's own).
            let valid = !namespace.is_empty()
                && namespace.len() <= 255
                && namespace
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-_/#:".contains(c))
                && !namespace.starts_with("AWS/");
            if !valid {
                f.error(
                    "namespace",
                    format!("`{namespace}` is not a CloudWatch namespace: 1 to 255 of A-Z a-z 0-9 . - _ / # :, not starting with AWS/"),
                );
            }
            f.ok().then_some(namespace)
        }
    }
}

fn parse_notify(v: &Value, errs: &mut Errors) -> Option<Box<Notify>> {
    let mut f = Fields::new(v, "notify", &["webhook", "sns", "on"], errs);
    let webhook = f.raw("webhook").and_then(|raw| {
        let path = f.path_of("webhook");
        let fields = Fields::new(raw, &path, &["url", "headers"], f.errors_mut());
        parse_request(fields, raw).map(|mut req| {
            req.method = crate::check::http::Method::post();
            req.timeout = NOTIFY_TIMEOUT;
            req.max_body = 64 * 1024;
            req
        })
    });
    // Variables are filled per deployment; an unknown one is a mistake now.
    if let Some(req) = &webhook {
        let vars = crate::template::Vars::placeholders();
        if let Err(e) = crate::template::render(&req.url, &vars) {
            f.error("webhook.url", e);
        }
        for (name, value) in &req.headers {
            if let Err(e) = crate::template::render(value, &vars) {
                f.error(&format!("webhook.headers.{name}"), e);
            }
        }
    }
    let sns_topic = f.raw("sns").and_then(|raw| {
        let path = f.path_of("sns");
        let mut s = Fields::new(raw, &path, &["topic_arn"], f.errors_mut());
        let arn = s.required::<String>("topic_arn")?;
        if !arn.starts_with("arn:") || arn.split(':').count() < 6 {
            s.error(
                "topic_arn",
                format!("`{arn}` is not a topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"),
            );
            return None;
        }
        Some(arn)
    });
    let on = match f.optional::<Vec<String>>("on") {
        None => vec![Status::Failed],
        Some(list) => {
            let mut on = Vec::new();
            for (i, item) in list.iter().enumerate() {
                match item.as_str() {
                    "failed" => on.push(Status::Failed),
                    "succeeded" => on.push(Status::Succeeded),
                    other => f.error(
                        &format!("on[{i}]"),
                        format!("`{other}` is not a verdict; use failed or succeeded"),
                    ),
                }
            }
            if list.is_empty() {
                f.error("on", "empty: list failed, succeeded or both");
            }
            on
        }
    };
    if f.raw("webhook").is_none() && f.raw("sns").is_none() {
        f.error_here("needs `webhook`, `sns` or both");
    }
    f.ok().then(|| {
        Box::new(Notify {
            webhook,
            sns_topic,
            on,
        })
    })
}

/// Reads the skip switch's value: `true` skips every function, a list (YAML or JSON,
/// or names split by commas) skips the functions it names; anything else skips none.
pub(crate) fn skips(value: &str, function: Option<&str>) -> bool {
    let value = value.trim();
    if value.eq_ignore_ascii_case("true") {
        return true;
    }
    let Some(function) = function else {
        return false;
    };
    let names: Vec<String> = match serde_yaml_ng::from_str::<Vec<String>>(value) {
        Ok(list) => list,
        Err(_) => value.split(',').map(|s| s.trim().to_owned()).collect(),
    };
    names.iter().any(|n| n == function)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ops(doc: Value) -> Result<Operations, Vec<String>> {
        let mut errs = Errors::default();
        let ops = parse(doc.as_object().unwrap(), &mut errs);
        if errs.is_empty() {
            Ok(ops)
        } else {
            Err(errs.into_vec().iter().map(ToString::to_string).collect())
        }
    }

    #[test]
    fn defaults_are_metrics_on_rollbacks_passed_and_nothing_else() {
        let o = ops(json!({})).unwrap();
        assert_eq!(o.metrics.as_deref(), Some("TrafficHooks"));
        assert_eq!(o.rollbacks, Rollbacks::Pass);
        assert!(o.notify.is_none() && o.skip.is_none() && o.prune.is_none());
    }

    #[test]
    fn every_section_reads_its_fields() {
        let o = ops(json!({
            "metrics": { "namespace": "Team/Hooks" },
            "notify": { "webhook": { "url": "https://hooks.example.com/x", "headers": { "x-token": "t" } },
                        "sns": { "topic_arn": "arn:aws:sns:us-east-1:123456789012:deploys" },
                        "on": ["failed", "succeeded"] },
            "skip": { "ssm": "/traffic-hooks/skip" },
            "rollbacks": "verify",
            "prune": { "keep": 3 }
        }))
        .unwrap();
        assert_eq!(o.metrics.as_deref(), Some("Team/Hooks"));
        let n = o.notify.unwrap();
        assert_eq!(n.on, vec![Status::Failed, Status::Succeeded]);
        assert_eq!(n.webhook.unwrap().method.as_str(), "POST");
        assert_eq!(o.skip.as_deref(), Some("/traffic-hooks/skip"));
        assert_eq!(o.rollbacks, Rollbacks::Verify);
        assert_eq!(o.prune, Some(Prune { keep: 3 }));
        assert_eq!(ops(json!({ "prune": { "keep": 0 } })).unwrap().prune, None);
        assert_eq!(ops(json!({ "metrics": false })).unwrap().metrics, None);
    }

    #[test]
    fn every_mistake_is_reported_with_its_path() {
        let errs = ops(json!({
            "metrics": { "namespace": "AWS/Lambda" },
            "notify": { "webhook": { "url": "hooks.example.com" }, "sns": { "topic_arn": "deploys" }, "on": ["broken"] },
            "skip": { "parameter": "x" },
            "rollbacks": "always",
            "prune": { "keep": 1001 }
        }))
        .unwrap_err();
        let text = errs.join("\n");
        for needle in [
            "metrics.namespace: `AWS/Lambda`",
            "notify.webhook.url: `hooks.example.com` has no scheme",
            "notify.sns.topic_arn: `deploys` is not a topic ARN",
            "notify.on[0]: `broken` is not a verdict",
            "skip.parameter",
            "skip.ssm: missing",
            "rollbacks",
            "prune.keep: must be at most 1000",
        ] {
            assert!(text.contains(needle), "{needle} in:\n{text}");
        }
    }

    #[test]
    fn an_unknown_variable_in_the_webhook_is_a_mistake_now() {
        let errs = ops(json!({ "notify": { "webhook": {
            "url": "{{env.HOOKS}}/{{stage}}", "headers": { "x-key": "{{secret}}" } } } }))
        .unwrap_err();
        let text = errs.join("\n");
        assert!(
            text.contains("notify.webhook.url: unknown variable `{{stage}}`"),
            "{text}"
        );
        assert!(
            text.contains("notify.webhook.headers.x-key: unknown variable `{{secret}}`"),
            "{text}"
        );
    }

    #[test]
    fn notify_needs_somewhere_to_send() {
        let errs = ops(json!({ "notify": { "on": ["failed"] } })).unwrap_err();
        assert!(
            errs[0].contains("needs `webhook`, `sns` or both"),
            "{errs:?}"
        );
    }

    #[test]
    fn the_switch_skips_all_on_true_and_listed_functions_otherwise() {
        assert!(skips("true", Some("orders")));
        assert!(skips(" TRUE\n", None));
        assert!(skips("orders, payments", Some("orders")));
        assert!(skips("[orders, payments]", Some("payments")));
        assert!(skips("[\"orders\"]", Some("orders")));
        assert!(!skips("false", Some("orders")));
        assert!(!skips("payments", Some("orders")));
        assert!(!skips("orders", None));
    }
}
