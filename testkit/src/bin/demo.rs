//! `make demo`: two deployment verifications by the real `traffic-hook` binary, run as
//! Lambda runs it, against the testkit's fake CodeDeploy, Lambda and HTTP endpoints.
//! Version 2 is healthy and passes; version 3 throws and fails.
//!
//! Usage: `demo PATH/TO/traffic-hook`.

use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use traffic_hooks_testkit::{event, testkit_dir, FakeAws, FakeHttp, Outcome, Route, RuntimeHost};

#[tokio::main]
async fn main() -> ExitCode {
    match demo().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("demo: the verdicts were not the expected ones (Succeeded, then Failed)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("demo: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn demo() -> Result<bool, String> {
    let binary: PathBuf = std::env::args()
        .nth(1)
        .ok_or("usage: demo PATH/TO/traffic-hook")?
        .into();
    let read = |rel: &str| {
        std::fs::read_to_string(testkit_dir().join(rel)).map_err(|e| format!("{rel}: {e}"))
    };
    let scenario: Value =
        serde_json::from_str(&read("fixtures/scenario.json")?).map_err(|e| e.to_string())?;
    let config = read("fixtures/demo-config.yaml")?;
    let aws = FakeAws::new();
    aws.load_scenario(&scenario)?;
    let aws_server = aws.start().await.map_err(|e| e.to_string())?;
    let http = FakeHttp::new();
    http.route("/live/health", Route::new(200, json!({ "ok": true })));
    let http_server = http.start().await.map_err(|e| e.to_string())?;
    let (endpoint, health) = (aws_server.url(), http_server.url());
    let env = [
        ("TRAFFIC_HOOK_CONFIG", config.as_str()),
        ("AWS_ENDPOINT_URL", &endpoint),
        ("HEALTH_URL", &health),
    ];
    let mut host = RuntimeHost::start(&binary, &env)
        .await
        .map_err(|e| format!("starting {}: {e}", binary.display()))?;

    println!("traffic-hook demo: CodeDeploy, Lambda and HTTP are fakes on {endpoint} and {health}");
    println!("checks: testkit/fixtures/demo-config.yaml\n");
    let runs = [
        (
            "PreTraffic hook, demo-fn:live from version 1 to 2 (healthy)",
            event("pre-traffic.json"),
        ),
        (
            "PreTraffic hook, demo-fn:live from version 2 to 3 (throws TypeError)",
            json!({ "DeploymentId": "d-BADVERSION3", "LifecycleEventHookExecutionId": "demo-exec-bad" }),
        ),
    ];
    let mut seen = 0;
    for (title, ev) in runs {
        println!("== {title}");
        match host
            .invoke(ev, Duration::from_secs(30))
            .await
            .map_err(|e| e.to_string())?
        {
            Outcome::Response(_) => {}
            Outcome::Error(e) => println!("   invocation error: {e}"),
        }
        let checks = host.records("check");
        let verdicts = host.records("verdict");
        for c in &checks[seen_checks(seen, &host)..] {
            let s = |k: &str| {
                c.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let line = format!(
                "   {:<11} {:<6} {:<8} {}",
                s("check"),
                s("kind"),
                s("status"),
                s("reason")
            );
            println!("{}", line.trim_end());
        }
        if let Some(v) = verdicts.get(seen) {
            let s = |k: &str| {
                v.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            println!(
                "   verdict: {} ({}); phase {}; report {}",
                s("status"),
                s("reason"),
                s("phase"),
                s("report")
            );
        }
        seen += 1;
        println!();
    }
    let reports = aws.reports();
    println!("CodeDeploy received:");
    for r in &reports {
        println!(
            "   PutLifecycleEventHookExecutionStatus {} {}",
            r.deployment_id, r.status
        );
    }
    let statuses: Vec<&str> = reports.iter().map(|r| r.status.as_str()).collect();
    Ok(statuses == ["Succeeded", "Failed"])
}

/// How many check lines belong to the first `runs` verdicts.
fn seen_checks(runs: usize, host: &RuntimeHost) -> usize {
    // Check lines are logged before their verdict line; count those before verdict `runs`.
    let mut verdicts = 0;
    let mut checks = 0;
    for line in host.logs() {
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        match v.get("record").and_then(Value::as_str) {
            Some("verdict") => {
                verdicts += 1;
                if verdicts == runs + 1 {
                    break;
                }
            }
            Some("check") if verdicts < runs => checks += 1,
            _ => {}
        }
    }
    checks
}
