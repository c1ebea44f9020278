//! Whole deployments of `template.yaml` (and a user's template) simulated by the
//! testkit's `traffic-sim` engine, with this crate's real `traffic-hook` binary as the
//! hooks: what CodeDeploy would do, seen as CodeDeploy would see it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use traffic_hooks_testkit::sim::{self, scenario::Scenario, EventKind, Options, Outcome};
use traffic_hooks_testkit::testkit_dir;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

fn scenario(name: &str) -> Scenario {
    let path = testkit_dir().join(format!("fixtures/sim/{name}.yaml"));
    Scenario::parse(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn simulate(
    template: &str,
    function: &str,
    scenario: Scenario,
    parameters: &[(&str, &str)],
) -> Outcome {
    let options = Options {
        template: std::fs::read_to_string(repo(template)).unwrap(),
        template_path: template.into(),
        function: function.into(),
        from: "1".into(),
        to: "2".into(),
        scenario,
        parameters: parameters
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        speed: 120.0,
        hook_bin: Some(PathBuf::from(env!("CARGO_BIN_EXE_traffic-hook"))),
        bin_dir: PathBuf::new(),
    };
    sim::run(options, |_| {}).await.unwrap()
}

/// The events of one deployment, as `(event, detail)` pairs.
fn story(o: &Outcome, deployment: &str) -> Vec<(String, String)> {
    o.events
        .iter()
        .filter(|e| e.deployment_id == deployment)
        .map(|e| {
            let v = serde_json::to_value(e).unwrap();
            let name = v["event"].as_str().unwrap().to_owned();
            let detail = match &e.kind {
                EventKind::LifecycleEvent { name, status } => format!("{name} {status}"),
                EventKind::HookReported { phase, status, .. } => format!("{phase} {status}"),
                EventKind::WeightsShifted { weights } => format!("{weights:?}"),
                EventKind::AlarmState { alarm, state, .. } => format!("{alarm} {state}"),
                EventKind::DeploymentFinished { status, .. } => status.clone(),
                EventKind::DeploymentCreated {
                    creator, from, to, ..
                } => format!("{creator} {from}->{to}"),
                _ => String::new(),
            };
            (name, detail)
        })
        .collect()
}

/// The reason of the first hook report.
fn first_hook_reason(o: &Outcome) -> String {
    o.events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::HookReported { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .unwrap()
}

fn has(story: &[(String, String)], event: &str, detail: &str) -> bool {
    story.iter().any(|(e, d)| e == event && d == detail)
}

const BAKE: [(&str, &str); 1] = [("PostTrafficBakeInterval", "1s")];

#[tokio::test]
async fn a_healthy_version_goes_through_the_canary_and_succeeds() {
    let o = simulate("template.yaml", "DemoFunction", scenario("healthy"), &BAKE).await;
    assert_eq!(o.status, "Succeeded");
    let s = story(&o, "d-SIM000001");
    let order: Vec<&str> = s
        .iter()
        .filter(|(e, _)| e == "lifecycle_event")
        .map(|(_, d)| d.as_str())
        .collect();
    assert_eq!(
        order,
        [
            "BeforeAllowTraffic InProgress",
            "BeforeAllowTraffic Succeeded",
            "AllowTraffic InProgress",
            "AllowTraffic Succeeded",
            "AfterAllowTraffic InProgress",
            "AfterAllowTraffic Succeeded",
        ]
    );
    let weights: Vec<&str> = s
        .iter()
        .filter(|(e, _)| e == "weights_shifted")
        .map(|(_, d)| d.as_str())
        .collect();
    assert_eq!(weights, [r#"{"1": 0.9, "2": 0.1}"#, r#"{"2": 1.0}"#]);
    assert!(
        has(&s, "hook_reported", "pre Succeeded") && has(&s, "hook_reported", "post Succeeded")
    );
    assert!(!o
        .events
        .iter()
        .any(|e| matches!(e.kind, EventKind::RollbackStarted { .. })));
    let shifted = o
        .events
        .iter()
        .find(|e| matches!(&e.kind, EventKind::WeightsShifted { weights } if weights.len() == 1))
        .unwrap();
    assert!(
        (300.0..305.0).contains(&shifted.t),
        "the canary lasts five minutes: {}",
        shifted.t
    );
}

#[tokio::test]
async fn a_broken_version_is_stopped_by_the_pretraffic_hook_before_traffic_moves() {
    let o = simulate(
        "template.yaml",
        "DemoFunction",
        scenario("broken-new-version"),
        &BAKE,
    )
    .await;
    assert_eq!(o.status, "Failed");
    let s = story(&o, "d-SIM000001");
    assert!(has(&s, "hook_reported", "pre Failed"), "{s:?}");
    assert!(
        !s.iter().any(|(e, _)| e == "weights_shifted"),
        "the alias never moves: {s:?}"
    );
    assert!(has(&s, "deployment_finished", "Failed"));
    let reason = first_hook_reason(&o);
    assert!(
        reason.contains("smoke") && reason.contains("function_error = \"Unhandled\""),
        "{reason}"
    );
    let rollback = story(&o, "d-SIM000002");
    assert!(
        has(&rollback, "deployment_created", "codeDeployRollback 2->1"),
        "{rollback:?}"
    );
}

#[tokio::test]
async fn an_alarm_during_the_canary_stops_the_deployment_and_it_rolls_back() {
    let o = simulate(
        "template.yaml",
        "DemoFunction",
        scenario("canary-errors"),
        &BAKE,
    )
    .await;
    assert_eq!(o.status, "Stopped");
    let s = story(&o, "d-SIM000001");
    assert!(has(&s, "hook_reported", "pre Succeeded"), "{s:?}");
    assert!(has(&s, "weights_shifted", r#"{"1": 0.9, "2": 0.1}"#));
    assert!(
        has(&s, "alarm_state", "sim-NewVersionErrorsAlarm ALARM"),
        "{s:?}"
    );
    assert!(s.iter().any(|(e, _)| e == "deployment_stopped"));
    assert!(s.iter().any(|(e, _)| e == "rollback_started"));
    let stopped = o
        .events
        .iter()
        .find(|e| matches!(e.kind, EventKind::DeploymentStopped { .. }))
        .unwrap();
    assert_eq!(
        stopped.t, 60.0,
        "at the first evaluation of the one-minute period"
    );
    let rollback = story(&o, "d-SIM000002");
    assert!(has(
        &rollback,
        "deployment_created",
        "codeDeployRollback 2->1"
    ));
    assert!(
        has(&rollback, "weights_shifted", r#"{"1": 1.0}"#),
        "the alias is put back: {rollback:?}"
    );
    // The rollback's hooks pass at once (`rollbacks: pass`, the default): the fast
    // pass is in its timeline, with its reason.
    let fast: Vec<String> = o
        .events
        .iter()
        .filter(|e| e.deployment_id == "d-SIM000002")
        .filter_map(|e| match &e.kind {
            EventKind::HookReported { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect();
    assert!(
        !fast.is_empty()
            && fast
                .iter()
                .all(|r| r.contains("rollback deployment (creator codeDeployRollback)")),
        "{fast:?}"
    );
    // The hooks saw the rollback as a rollback: GetDeployment names its creator.
    let json: Vec<Value> = o
        .events
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect();
    assert!(json.iter().all(|e| e["deployment_id"]
        .as_str()
        .is_some_and(|d| d.starts_with("d-SIM"))));
}

#[tokio::test]
async fn a_custom_linear_config_and_a_duration_alarm_from_a_users_template() {
    let o = simulate(
        "testkit/fixtures/sim/custom-linear.yaml",
        "Orders",
        scenario("slow-new-version"),
        &[],
    )
    .await;
    assert_eq!(o.status, "Stopped");
    let s = story(&o, "d-SIM000001");
    assert!(
        has(&s, "weights_shifted", r#"{"1": 0.75, "2": 0.25}"#),
        "{s:?}"
    );
    assert!(has(&s, "alarm_state", "sim-SlowNewVersion ALARM"), "{s:?}");
    let reason = o
        .events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::AlarmState { state, reason, .. } if state == "ALARM" => Some(reason.clone()),
            _ => None,
        })
        .unwrap();
    assert!(
        reason.contains("[150]") && reason.contains("greater than the threshold (100)"),
        "{reason}"
    );
    let healthy = simulate(
        "testkit/fixtures/sim/custom-linear.yaml",
        "Orders",
        scenario("healthy"),
        &[],
    )
    .await;
    assert_eq!(healthy.status, "Succeeded");
    let steps: Vec<String> = story(&healthy, "d-SIM000001")
        .into_iter()
        .filter(|(e, _)| e == "weights_shifted")
        .map(|(_, d)| d)
        .collect();
    assert_eq!(steps.len(), 4, "25% a minute: {steps:?}");
    let no_alarm = simulate(
        "testkit/fixtures/sim/custom-linear.yaml",
        "Orders",
        scenario("slow-new-version"),
        &[("LatencyLimitMs", "0")],
    )
    .await;
    assert_eq!(no_alarm.status, "Succeeded", "Fn::If left the alarm out");
}

#[tokio::test]
async fn a_post_traffic_bake_longer_than_its_hook_timeout_goes_on_in_continuations() {
    let o = simulate(
        "testkit/fixtures/sim/long-bake.yaml",
        "Orders",
        scenario("healthy"),
        &[],
    )
    .await;
    assert_eq!(o.status, "Succeeded", "{:?}", story(&o, "d-SIM000001"));
    let s = story(&o, "d-SIM000001");
    assert!(has(&s, "hook_reported", "post Succeeded"), "{s:?}");
    let continuations = o
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::HookContinued { .. }))
        .count();
    assert!(continuations >= 2, "a 10 s bake in 4 s invocations: {s:?}");
    let reports = o
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::HookReported { .. }))
        .count();
    assert_eq!(reports, 1, "one report across the chain");
    let reason = first_hook_reason(&o);
    assert_eq!(reason, "1 of 1 checks passed");
}
