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
    let config = read("fixtures/demo-config.yaml")?;
    let aws = FakeAws::with_scenario();
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
    for (title, ev) in runs {
        println!("== {title}");
        // Log lines of earlier runs stay in the host's log: show only this run's.
        let before = host.records("check").len();
        if let Outcome::Error(e) = host
            .invoke(ev, Duration::from_secs(30))
            .await
            .map_err(|e| e.to_string())?
        {
            println!("   invocation error: {e}");
        }
        let field = |v: &Value, k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        for c in &host.records("check")[before..] {
            let line = format!(
                "   {:<11} {:<6} {:<8} {}",
                field(c, "check"),
                field(c, "kind"),
                field(c, "status"),
                field(c, "reason")
            );
            println!("{}", line.trim_end());
        }
        if let Some(v) = host.records("verdict").last() {
            println!(
                "   verdict: {} ({}); phase {}; report {}",
                field(v, "status"),
                field(v, "reason"),
                field(v, "phase"),
                field(v, "report")
            );
        }
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
