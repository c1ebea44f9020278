//! Notifications: after the report, say how a lifecycle event ended, by webhook
//! (JSON with a Slack-compatible `text`) and/or SNS. Within the time left, retried
//! once; a failed notification is logged and never changes the report, which has
//! already been made.

use super::effects::Publisher;
use super::{Notify, NOTIFY_TIMEOUT};
use crate::check::{HttpRequest, HttpSender};
use crate::summary::{CheckStatus, Verdict};
use crate::template::{render, Vars};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use tokio::time::{Duration, Instant};

/// The notification's JSON: the deployment, the verdict, each check's result, and a
/// one-line `text` that Slack (and its look-alikes) shows as is.
pub(crate) fn message(verdict: &Verdict) -> Value {
    let d = &verdict.deployment;
    let f = &d.facts;
    let phase = f.phase.map(|p| p.to_string());
    let hook = match phase.as_deref() {
        Some("pre") => "PreTraffic",
        Some("post") => "PostTraffic",
        _ => "traffic",
    };
    let function = f.function.as_deref().unwrap_or("(unknown function)");
    let versions = match (&f.current_version, &f.target_version) {
        (Some(c), Some(t)) => format!(" {c} → {t}"),
        _ => String::new(),
    };
    let alias = f
        .alias
        .as_deref()
        .map(|a| format!(":{a}"))
        .unwrap_or_default();
    let checks: Vec<Value> = verdict
        .checks
        .iter()
        .filter(|c| c.status != CheckStatus::Skipped)
        .map(|c| {
            json!({ "name": c.name, "kind": c.kind, "status": c.status.as_str(),
                "reason": c.reason.as_deref().unwrap_or("") })
        })
        .collect();
    let text = format!(
        "traffic-hooks: {hook} hook {} for {function}{alias}{versions} ({}): {}",
        verdict.status.as_str(),
        d.deployment_id.as_deref().unwrap_or("no deployment id"),
        verdict.reason
    );
    json!({
        "text": text,
        "deployment_id": d.deployment_id,
        "function": f.function,
        "alias": f.alias,
        "current_version": f.current_version,
        "target_version": f.target_version,
        "phase": phase,
        "verdict": verdict.status.as_str(),
        "reason": verdict.reason,
        "checks": checks,
    })
}

/// Sends the notifications `notify` asks for about `verdict`, each tried at most
/// twice and never past `deadline`; one log record per channel says how it went.
/// The webhook's URL and headers may hold `{{variables}}` (`env` for `{{env.NAME}}`).
pub(crate) async fn send(
    notify: &Notify,
    verdict: &Verdict,
    http: &dyn HttpSender,
    sns: Option<&dyn Publisher>,
    env: &BTreeMap<String, String>,
    deadline: Instant,
) -> Vec<Value> {
    if !notify.on.contains(&verdict.status) {
        return Vec::new();
    }
    let body = message(verdict);
    let webhook = async {
        let mut req = match rendered(notify.webhook.as_ref()?, verdict, env) {
            Ok(req) => req,
            Err(e) => {
                let to = crate::check::http::redacted_url(&notify.webhook.as_ref()?.url);
                return Some(record("webhook", &to, Err(e)));
            }
        };
        req.headers
            .entry("content-type".to_owned())
            .or_insert_with(|| "application/json".to_owned());
        req.body = Some(body.to_string().into_bytes());
        let outcome = twice(deadline, || async {
            match http.send(&req).await {
                Ok(reply) if (200..300).contains(&reply.status) => Ok(()),
                Ok(reply) => Err(format!("answered {}", reply.status)),
                Err(e) => Err(e.to_string()),
            }
        })
        .await;
        Some(record(
            "webhook",
            &crate::check::http::redacted_url(&req.url),
            outcome,
        ))
    };
    let topic = async {
        let arn = notify.sns_topic.as_deref()?;
        let outcome = match sns {
            None => Err("SNS is not available in this hook".to_owned()),
            Some(sns) => {
                let subject = format!(
                    "traffic-hooks: {} {}",
                    verdict.deployment.facts.function.as_deref().unwrap_or(""),
                    verdict.status.as_str()
                );
                let text = body.to_string();
                twice(deadline, || async {
                    sns.publish(arn, &subject, &text)
                        .await
                        .map_err(|e| e.to_string())
                })
                .await
            }
        };
        Some(record("sns", arn, outcome))
    };
    let (a, b) = tokio::join!(webhook, topic);
    a.into_iter().chain(b).collect()
}

/// The webhook request with its `{{variables}}` filled for this deployment.
fn rendered(
    req: &HttpRequest,
    verdict: &Verdict,
    env: &BTreeMap<String, String>,
) -> Result<HttpRequest, String> {
    let vars = Vars::new(&verdict.deployment, env.clone());
    let mut req = req.clone();
    req.url = render(&req.url, &vars).map_err(|e| format!("url: {e}"))?;
    for (name, value) in &mut req.headers {
        *value = render(value, &vars).map_err(|e| format!("headers.{name}: {e}"))?;
    }
    Ok(req)
}

/// Tries `attempt` once, and again if it failed and there is time; each try bounded by
/// [`NOTIFY_TIMEOUT`] and by `deadline`.
async fn twice<F, Fut>(deadline: Instant, attempt: F) -> Result<u32, String>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let mut last = String::new();
    for n in 1..=2u32 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "no time left before the deadline{}",
                if last.is_empty() {
                    String::new()
                } else {
                    format!(" (after: {last})")
                }
            ));
        }
        match tokio::time::timeout(left.min(NOTIFY_TIMEOUT), attempt()).await {
            Ok(Ok(())) => return Ok(n),
            Ok(Err(e)) => last = e,
            Err(_) => {
                last = format!(
                    "no answer within {}",
                    crate::duration::format(left.min(NOTIFY_TIMEOUT))
                )
            }
        }
        if n == 1 {
            // A moment before the retry, unless the deadline is nearer.
            let pause = Duration::from_millis(200);
            if deadline.saturating_duration_since(Instant::now()) > pause {
                tokio::time::sleep(pause).await;
            }
        }
    }
    Err(last)
}

fn record(channel: &str, to: &str, outcome: Result<u32, String>) -> Value {
    match outcome {
        Ok(attempts) => {
            tracing::info!(channel, to, attempts, "notification sent");
            json!({ "channel": channel, "to": to, "sent": true, "attempts": attempts })
        }
        Err(error) => {
            tracing::warn!(channel, to, %error, "notification failed (the report stands)");
            json!({ "channel": channel, "to": to, "sent": false, "error": error })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployment::{Deployment, Facts, Phase};
    use crate::report::Status;
    use crate::summary::CheckOutcome;

    fn failed() -> Verdict {
        let deployment = Deployment {
            deployment_id: Some("d-1".into()),
            facts: Facts {
                function: Some("orders".into()),
                alias: Some("live".into()),
                current_version: Some("3".into()),
                target_version: Some("4".into()),
                phase: Some(Phase::Post),
                ..Facts::default()
            },
            ..Deployment::default()
        };
        let check = CheckOutcome::not_run(
            "health",
            "http",
            None,
            CheckStatus::Failed,
            "answered 503".into(),
        );
        let mut v = Verdict::judge(deployment, vec![check], false, false);
        v.status = Status::Failed;
        v
    }

    #[test]
    fn the_message_names_the_deployment_the_verdict_and_each_check() {
        let m = message(&failed());
        assert_eq!(m["verdict"], "Failed");
        assert_eq!(m["function"], "orders");
        assert_eq!(m["target_version"], "4");
        assert_eq!(m["phase"], "post");
        assert_eq!(m["checks"][0]["name"], "health");
        assert_eq!(m["checks"][0]["reason"], "answered 503");
        let text = m["text"].as_str().unwrap();
        assert!(
            text.starts_with(
                "traffic-hooks: PostTraffic hook Failed for orders:live 3 → 4 (d-1): "
            ),
            "{text}"
        );
    }
}
