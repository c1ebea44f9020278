//! The custom check in memory, and its hook binary run as Lambda runs it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use async_trait::async_trait;
use custom_check::{spec, ConfigurationSource};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;
use traffic_hooks_testkit::{event, FakeAws, Outcome, RuntimeHost};

struct Fixed(Value);

#[async_trait]
impl ConfigurationSource for Fixed {
    async fn configuration(&self, _: &str, _: &str) -> Result<Value, String> {
        Ok(self.0.clone())
    }
}

#[test]
fn the_policy_compiles_and_runs_before_traffic() {
    let s = spec(Fixed(json!({})));
    assert_eq!(s.phase, Some(traffic_hooks::Phase::Pre));
    assert_eq!(s.check.kind(), "configuration");
}

fn scenario(version_config: Value) -> FakeAws {
    let fake = FakeAws::new();
    let mut scenario = traffic_hooks_testkit::scenario();
    scenario["functions"]["demo-fn"]["versions"]["2"]["configuration"] = version_config;
    fake.load_scenario(&scenario).unwrap();
    fake
}

async fn verdict(fake: &FakeAws) -> Value {
    let server = fake.start().await.unwrap();
    let url = server.url();
    let env = [
        (
            "TRAFFIC_HOOK_CONFIG",
            "checks: [ { name: smoke, invoke: {} } ]",
        ),
        ("AWS_ENDPOINT_URL", url.as_str()),
    ];
    let mut host = RuntimeHost::start(Path::new(env!("CARGO_BIN_EXE_custom-check-hook")), &env)
        .await
        .unwrap();
    match host
        .invoke(event("pre-traffic.json"), Duration::from_secs(20))
        .await
        .unwrap()
    {
        Outcome::Response(v) => v,
        Outcome::Error(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn a_compliant_version_passes_beside_the_config_checks() {
    let fake = scenario(json!({"Timeout": 10, "Architectures": ["arm64"], "State": "Active"}));
    let out = verdict(&fake).await;
    assert_eq!(out["status"], "Succeeded", "{out:#}");
    let names: Vec<&str> = out["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["smoke", "configuration-policy"]);
    assert_eq!(fake.reports()[0].status, "Succeeded");
}

#[tokio::test]
async fn an_x86_version_with_a_long_timeout_fails_the_deployment() {
    let fake = scenario(json!({"Timeout": 900, "Architectures": ["x86_64"], "State": "Active"}));
    let out = verdict(&fake).await;
    assert_eq!(out["status"], "Failed");
    let reason = out["reason"].as_str().unwrap();
    assert!(
        reason.contains("configuration-policy") && reason.contains("architectures[0] == 'arm64'"),
        "{reason}"
    );
    assert_eq!(fake.reports()[0].status, "Failed");
}
