//! The `configuration` kind: its check in memory, and its hook binary's three modes
//! (`validate`, `run`, Lambda) through the one entry point, against the testkit's fakes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use custom_check::{ConfigurationCheck, ConfigurationSource};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;
use traffic_hooks::{async_trait, Check, CheckContext, Deployment, MeasureError};
use traffic_hooks_testkit::{event, FakeAws, Outcome, RuntimeHost};

const BIN: &str = env!("CARGO_BIN_EXE_custom-check-hook");
const CHAOS: &str = env!("CARGO_BIN_EXE_chaos-hook");

fn policy() -> String {
    format!("{}/policy.yaml", env!("CARGO_MANIFEST_DIR"))
}

struct Fixed(Value);

#[async_trait]
impl ConfigurationSource for Fixed {
    async fn configuration(&self, _: &str, _: &str) -> Result<Value, MeasureError> {
        Ok(self.0.clone())
    }
}

#[tokio::test]
async fn the_check_measures_what_its_source_reads() {
    let check = ConfigurationCheck::new(Arc::new(Fixed(json!({"state": "Active"}))), "f", "2");
    let ctx = CheckContext::new(Deployment::default(), "configuration-policy");
    assert_eq!(
        check.measure(&ctx).await.unwrap(),
        json!({"state": "Active"})
    );
}

fn hook(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_clear()
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testkit")
        .env("AWS_SECRET_ACCESS_KEY", "testkit");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn validate_knows_the_kind_and_names_mistakes_in_its_section() {
    let out = hook(&["validate", "--config", &policy()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "checks: [ { name: p, configuration: { qualifer: target }, count: 0 } ]\n",
    )
    .unwrap();
    let out = hook(&["validate", "--config", bad.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("checks[0].configuration.qualifer: unknown field; did you mean `qualifier`?"),
        "{err}"
    );
    assert!(err.contains("checks[0].count: must be at least 1"), "{err}");
}

fn scenario(version_config: Value) -> FakeAws {
    let fake = FakeAws::new();
    let mut scenario = traffic_hooks_testkit::scenario();
    scenario["functions"]["demo-fn"]["versions"]["2"]["configuration"] = version_config;
    fake.load_scenario(&scenario).unwrap();
    fake
}

#[tokio::test(flavor = "multi_thread")]
async fn run_prints_the_policy_check_beside_the_builtins() {
    let fake = scenario(json!({"Timeout": 10, "Architectures": ["arm64"], "State": "Active"}));
    let server = fake.start().await.unwrap();
    let url = server.url();
    let args = [
        "run",
        "--config",
        &policy(),
        "--function",
        "demo-fn",
        "--current-version",
        "1",
        "--target-version",
        "2",
        "--phase",
        "pre",
    ];
    let out = tokio::task::block_in_place(|| hook(&args, &[("AWS_ENDPOINT_URL", &url)]));
    let table = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{table}{}", text(&out.stderr));
    assert!(
        table.contains("configuration-policy  configuration  PASSED"),
        "{table}"
    );
    assert!(table.contains("smoke"), "{table}");
}

/// Starts `bin` in Lambda mode with `config`, against the fake AWS at `url`.
async fn lambda(bin: &str, config: &str, url: &str) -> RuntimeHost {
    let env = [("TRAFFIC_HOOK_CONFIG", config), ("AWS_ENDPOINT_URL", url)];
    RuntimeHost::start(Path::new(bin), &env).await.unwrap()
}

/// Sends the PreTraffic event with `budget` to go; the hook's response.
async fn pre_traffic(host: &mut RuntimeHost, budget: Duration) -> Value {
    match host
        .invoke(event("pre-traffic.json"), budget)
        .await
        .unwrap()
    {
        Outcome::Response(v) => v,
        Outcome::Error(e) => panic!("an invocation error: {e}"),
    }
}

/// The statuses reported to the fake CodeDeploy, in order.
fn statuses(fake: &FakeAws) -> Vec<String> {
    fake.reports().into_iter().map(|r| r.status).collect()
}

async fn verdict(fake: &FakeAws) -> Value {
    let server = fake.start().await.unwrap();
    let config = std::fs::read_to_string(policy()).unwrap();
    let mut host = lambda(BIN, &config, &server.url()).await;
    pre_traffic(&mut host, Duration::from_secs(20)).await
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
    assert_eq!(names, ["configuration-policy", "smoke"]);
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

#[tokio::test]
async fn a_version_that_does_not_exist_is_a_measurement_error_naming_the_code() {
    let fake = scenario(json!({}));
    let server = fake.start().await.unwrap();
    let config = "checks: [ { name: p, configuration: { qualifier: '99' } } ]";
    let mut host = lambda(BIN, config, &server.url()).await;
    let out = pre_traffic(&mut host, Duration::from_secs(20)).await;
    let reason = out["reason"].as_str().unwrap();
    assert!(reason.contains("ResourceNotFoundException"), "{reason}");
}

/// A row of the fault matrix (docs/reliability.md): a kind of a user's own that panics
/// fails its check with the panic's message; the others still run, and the one report
/// is `Failed`.
#[tokio::test]
async fn a_panic_in_a_custom_check_fails_it_and_the_hook_still_reports_once() {
    let fake = scenario(json!({}));
    let server = fake.start().await.unwrap();
    let config = "checks: [ { name: smoke, invoke: {} }, { name: buggy, chaos: { panic: 'index out of bounds' } } ]";
    let mut host = lambda(CHAOS, config, &server.url()).await;
    let out = pre_traffic(&mut host, Duration::from_secs(10)).await;
    assert_eq!(out["status"], "Failed");
    assert_eq!(out["checks"][0]["status"], "passed", "{out:#}");
    assert_eq!(
        out["checks"][1]["reason"], "panicked: index out of bounds",
        "{out:#}"
    );
    assert_eq!(statuses(&fake), ["Failed"]);
    assert_eq!(host.records("verdict").len(), 1, "the verdict is logged");
    let rss = host.peak_rss().unwrap_or(0);
    assert!(rss < 64 << 20, "peak RSS {rss} bytes");
    // The process survives its check's panic and serves the next event.
    let again = host
        .invoke(event("pre-traffic.json"), Duration::from_secs(10))
        .await
        .unwrap();
    assert!(matches!(again, Outcome::Response(_)), "{again:?}");
}

/// A row of the fault matrix: a check of a user's own that blocks its thread (against
/// `Check`'s rule) still gets `Failed` reported at the check deadline, once: a user's
/// kinds run on a runtime apart from the hook's thread.
#[tokio::test]
async fn a_custom_check_that_blocks_its_thread_still_gets_failed_reported_in_time() {
    let fake = scenario(json!({}));
    let server = fake.start().await.unwrap();
    let config = "report_reserve: 2s\nchecks: [ { name: stuck, chaos: { block_ms: 60000 } } ]";
    let mut host = lambda(CHAOS, config, &server.url()).await;
    let began = std::time::Instant::now();
    let out = pre_traffic(&mut host, Duration::from_secs(5)).await;
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "answered after the deadline"
    );
    assert_eq!(out["status"], "Failed", "{out:#}");
    let reason = out["checks"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("deadline"), "{reason}");
    assert_eq!(statuses(&fake), ["Failed"]);
}
