//! The `traffic-sim` command: bad templates are errors that name their place (exit 2),
//! a stopped deployment exits 1, and its JSON lines and HTML page hold what the
//! contract says. (Deployments with hooks run through the real hook binary in
//! `hooks/tests/sim.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::process::{Command, Output};
use traffic_hooks_testkit::testkit_dir;

fn sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_traffic-sim"))
        .args(args)
        .output()
        .unwrap()
}

fn fixture(name: &str) -> String {
    testkit_dir()
        .join("fixtures/sim")
        .join(name)
        .display()
        .to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn bad_templates_are_refused_naming_the_place() {
    for (file, function, says) in [
        ("bad/no-deployment-preference.yaml", "Api", "Resources.Api.Properties.DeploymentPreference: missing"),
        ("bad/unknown-config.yaml", "Api", "Resources.Api.Properties.DeploymentPreference.Type: `Canary7Percent3Minutes` is not a deployment config"),
        ("bad/hook-not-in-template.yaml", "Api", "Resources.Api.Properties.DeploymentPreference.Hooks.PreTraffic: hook `CodeDeployHook_shared-pre` is not a function of the template"),
        ("no-hooks.yaml", "Nope", "Resources.Nope: no such resource; the template's functions: Api"),
    ] {
        let out = sim(&["--template", &fixture(file), "--function", function]);
        assert_eq!(out.status.code(), Some(2), "{file}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{file}: {}", stderr(&out));
        assert!(stderr(&out).contains(file), "the file is named: {}", stderr(&out));
    }
    let out = sim(&[
        "--template",
        &fixture("no-hooks.yaml"),
        "--function",
        "Api",
        "--parameter",
        "Config=Sideways",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("Resources.Api.Properties.DeploymentPreference.Type: `Sideways`"),
        "{}",
        stderr(&out)
    );
    let out = sim(&[
        "--template",
        &fixture("no-hooks.yaml"),
        "--function",
        "Api",
        "--parameter",
        "Colour=red",
    ]);
    assert!(
        stderr(&out).contains("--parameter Colour: the template declares no such parameter"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn json_lines_follow_the_contract_and_the_page_is_self_contained() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("timeline.html");
    let out = sim(&[
        "--template",
        &fixture("no-hooks.yaml"),
        "--function",
        "Api",
        "--speed",
        "2000",
        "--json",
        "--html",
        page.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let events: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let known = [
        "deployment_created",
        "lifecycle_event",
        "hook_invoked",
        "hook_reported",
        "weights_shifted",
        "alarm_state",
        "deployment_stopped",
        "rollback_started",
        "deployment_finished",
    ];
    for e in &events {
        assert!(e["t"].is_number() && e["deployment_id"].is_string(), "{e}");
        let kind = e["event"].as_str().unwrap();
        assert!(known.contains(&kind), "{kind}");
        match kind {
            "weights_shifted" => {
                let sum: f64 = e["weights"]
                    .as_object()
                    .unwrap()
                    .values()
                    .map(|w| w.as_f64().unwrap())
                    .sum();
                assert!((sum - 1.0).abs() < 1e-9, "{e}");
            }
            "alarm_state" => assert!(e["alarm"].is_string() && e["state"].is_string(), "{e}"),
            "lifecycle_event" => assert!(e["name"].is_string() && e["status"].is_string(), "{e}"),
            _ => {}
        }
    }
    let weights = events
        .iter()
        .filter(|e| e["event"] == "weights_shifted")
        .count();
    assert_eq!(weights, 10, "Linear10PercentEvery1Minute shifts ten times");
    let last = events
        .iter()
        .rev()
        .find(|e| e["event"] == "deployment_finished")
        .unwrap();
    assert_eq!(last["status"], "Succeeded");
    let times: Vec<f64> = events.iter().map(|e| e["t"].as_f64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "in time order");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("<svg") && html.contains("api-errors") && html.contains("alias weights"));
    for fetched in ["<script", "src=", "href=", "@import"] {
        assert!(!html.contains(fetched), "{fetched}");
    }
}

#[test]
fn an_alarm_stops_the_deployment_and_the_exit_code_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("scenario.yaml");
    std::fs::write(
        &scenario,
        "rate: 50\nversions: { \"2\": { error_rate: 0.5 } }\n",
    )
    .unwrap();
    let out = sim(&[
        "--template",
        &fixture("no-hooks.yaml"),
        "--function",
        "Api",
        "--scenario",
        scenario.to_str().unwrap(),
        "--speed",
        "2000",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("alarm api-errors: ALARM"), "{text}");
    assert!(
        text.contains("deployment stopped: alarm api-errors is in ALARM"),
        "{text}"
    );
    assert!(text.contains("rollback started"), "{text}");
    assert!(
        text.contains("weights: version 1 100%"),
        "the rollback puts the alias back: {text}"
    );
}
