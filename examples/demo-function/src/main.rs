//! The sample function that `template.yaml` deploys behind `AutoPublishAlias: live`.
//!
//! It answers in the API Gateway (HTTP API) proxy shape: `rawPath: /health` gives
//! `{"statusCode": 200, "body": "{\"ok\":true,...}"}`; any other event is echoed back.
//! `DEMO_FAIL=1` in its environment makes every call fail, to watch a deployment roll back.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

/// The version Lambda runs (`AWS_LAMBDA_FUNCTION_VERSION`), shown in answers.
fn version() -> String {
    std::env::var("AWS_LAMBDA_FUNCTION_VERSION").unwrap_or_else(|_| "$LATEST".to_owned())
}

/// Answers one event.
fn answer(event: &Value, fail: bool) -> Result<Value, Error> {
    if fail {
        return Err("DEMO_FAIL is set: this version fails on purpose".into());
    }
    let path = event
        .get("rawPath")
        .or_else(|| event.get("path"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let body = match path {
        "/health" => json!({ "ok": true, "version": version() }),
        _ => json!({ "echo": event, "version": version() }),
    };
    Ok(
        json!({ "statusCode": 200, "headers": { "content-type": "application/json" }, "body": body.to_string() }),
    )
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let fail = std::env::var("DEMO_FAIL").is_ok_and(|v| v == "1");
    lambda_runtime::run(service_fn(move |ev: LambdaEvent<Value>| async move {
        answer(&ev.payload, fail)
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_answers_ok() {
        let out = answer(&json!({"rawPath": "/health"}), false).unwrap_or_default();
        assert_eq!(out["statusCode"], 200);
        let body: Value =
            serde_json::from_str(out["body"].as_str().unwrap_or_default()).unwrap_or_default();
        assert_eq!(body["ok"], true);
    }

    #[test]
    fn other_paths_echo_and_demo_fail_fails() {
        let out = answer(&json!({"rawPath": "/x", "n": 1}), false).unwrap_or_default();
        assert!(out["body"]
            .as_str()
            .unwrap_or_default()
            .contains(r#""n":1"#));
        assert!(answer(&json!({}), true).is_err());
    }
}
