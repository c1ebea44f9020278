//! `traffic-hook validate` and `traffic-hook run` from a terminal.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use std::process::{Command, Output};
use traffic_hooks_testkit::{FakeHttp, Route};

const BIN: &str = env!("CARGO_BIN_EXE_traffic-hook");

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn traffic_hook(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn validate_accepts_a_valid_file() {
    let out = traffic_hook(
        &["validate", "--config", &fixture("contract-core.yaml")],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("valid, 2 check(s)"));
}

#[test]
fn validate_names_every_error_with_its_field_path_and_exits_2() {
    let out = traffic_hook(&["validate", "--config", &fixture("invalid.yaml")], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    for want in [
        "report_reserve: `5` has no unit",
        "checks[0].expect: `function_error ==` is not a valid JMESPath expression",
        "checks[1].http.url: `ftp://example.com/health`: scheme `ftp` is not http or https",
        "checks[1].interval: `every two seconds` is not a duration",
        "checks[2].http.url: unknown variable `{{stage}}`",
        "checks[2].name: duplicate name `smoke` (also checks[0])",
    ] {
        assert!(err.contains(want), "missing `{want}` in:\n{err}");
    }
    assert!(err.contains("6 error(s)"), "{err}");
}

#[test]
fn validate_names_every_mistake_in_the_operations_sections() {
    let out = traffic_hook(
        &["validate", "--config", &fixture("operations-invalid.yaml")],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    for want in [
        "metrics.namespace: `AWS/Lambda` is not a CloudWatch namespace",
        "notify.webhook.url: `hooks.example.com/deploys` has no scheme; did you mean `https://hooks.example.com/deploys`?",
        "notify.sns.topic_arn: `deployments` is not a topic ARN",
        "notify.on[1]: `maybe` is not a verdict; use failed or succeeded",
        "skip.parameter: unknown field",
        "skip.ssm: missing",
        "rollbacks: unknown variant `always`",
        "prune.keep: must be at most 1000 versions",
    ] {
        assert!(err.contains(want), "missing `{want}` in:\n{err}");
    }
}

#[test]
fn validate_names_the_flag_when_the_file_is_missing() {
    let out = traffic_hook(&["validate", "--config", "/nonexistent/checks.yaml"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--config: cannot read /nonexistent/checks.yaml"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn validate_reads_the_config_from_the_environment() {
    let out = traffic_hook(
        &["validate"],
        &[("TRAFFIC_HOOK_CONFIG", "checks: [ { name: a, invoke: {} } ]")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = traffic_hook(
        &["validate"],
        &[("TRAFFIC_HOOK_CONFIG_FILE", "/nonexistent.yaml")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("TRAFFIC_HOOK_CONFIG_FILE: cannot read /nonexistent.yaml"),
        "{}",
        text(&out.stderr)
    );
    let out = traffic_hook(&["validate"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no config: set TRAFFIC_HOOK_CONFIG"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn without_a_command_outside_lambda_it_explains_itself() {
    let out = traffic_hook(&[], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("AWS_LAMBDA_RUNTIME_API is not set"));
}

async fn run_against(status: u16) -> Output {
    let http = FakeHttp::new();
    http.route(
        "/v7/health",
        Route::new(status, json!({"ok": status == 200})),
    );
    let server = http.start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("checks.yaml");
    std::fs::write(
        &config,
        "checks:\n  - { name: health, phase: post, http: { url: '{{env.BASE}}/{{target_version}}/health' }, count: 2, interval: 10ms }\n  - { name: other, phase: pre, http: { url: '{{env.BASE}}/nowhere' } }\n",
    )
    .unwrap();
    let base = server.url();
    let config = config.to_str().unwrap().to_owned();
    tokio::task::spawn_blocking(move || {
        let args = [
            "run",
            "--config",
            &config,
            "--target-version",
            "v7",
            "--phase",
            "post",
        ];
        traffic_hook(&args, &[("BASE", &base), ("AWS_REGION", "us-east-1")])
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn run_prints_a_table_and_exits_0_when_all_pass() {
    let out = run_against(200).await;
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains("CHECK") && stdout.contains("health") && stdout.contains("PASSED"),
        "{stdout}"
    );
    assert!(
        stdout.contains("SKIPPED"),
        "the pre check is skipped in --phase post: {stdout}"
    );
    assert!(stdout.contains("verdict: SUCCEEDED"), "{stdout}");
    let progress = text(&out.stderr);
    assert_eq!(
        progress.matches("health #").count(),
        2,
        "one progress line per measurement: {progress}"
    );
}

#[tokio::test]
async fn run_exits_1_when_a_check_fails() {
    let out = run_against(500).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAILED") && stdout.contains("verdict: FAILED"),
        "{stdout}"
    );
}

#[test]
fn every_recipe_in_examples_configs_is_valid() {
    let dir = format!("{}/../examples/configs", env!("CARGO_MANIFEST_DIR"));
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let out = traffic_hook(&["validate", "--config", path.to_str().unwrap()], &[]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            path.display(),
            text(&out.stderr)
        );
        seen += 1;
    }
    assert!(seen >= 4, "the recipes are in {dir}");
}

#[test]
fn run_with_an_invalid_config_exits_1_and_names_the_errors() {
    let out = traffic_hook(&["run", "--config", &fixture("invalid.yaml")], &[]);
    assert_eq!(out.status.code(), Some(1), "run exits 0 or 1, never 2");
    assert!(
        text(&out.stderr).contains("checks[2].name: duplicate name `smoke`"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn run_exits_1_on_failures_even_under_a_global_dry_run() {
    let http = FakeHttp::new();
    http.route("/down", Route::new(503, json!({})));
    let server = http.start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("checks.yaml");
    std::fs::write(
        &config,
        "dry_run: true\nchecks: [ { name: down, http: { url: '{{env.BASE}}/down' } } ]\n",
    )
    .unwrap();
    let (config, base) = (config.to_str().unwrap().to_owned(), server.url());
    let out = tokio::task::spawn_blocking(move || {
        traffic_hook(&["run", "--config", &config], &[("BASE", &base)])
    })
    .await
    .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    // The verdict line, the reason and the exit code say the same thing.
    assert!(
        stdout.contains("verdict: FAILED (1 of 1 checks failed: down:")
            && stdout.contains("as a hook under dry_run it would report SUCCEEDED"),
        "{stdout}"
    );
}

/// `validate`'s whole output for a file of mistakes, compared with the snapshot in
/// `tests/snapshots/` (review a change with `cargo insta review`, or by hand).
#[test]
fn validate_names_every_strict_config_mistake_with_a_hint() {
    let out = traffic_hook(&["validate", "--config", &fixture("strict.yaml")], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr).replace(&fixture(""), "tests/fixtures/");
    insta::assert_snapshot!(err);
}

#[test]
fn validate_refuses_a_duplicate_key_naming_it() {
    let out = traffic_hook(
        &["validate", "--config", &fixture("duplicate-key.yaml")],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("checks[0].timeout: duplicate key"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn validate_says_when_a_tab_indents_a_line() {
    let out = traffic_hook(
        &["validate", "--config", &fixture("tab-indented.yaml")],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("line 3 is indented with a tab"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn validate_with_a_timeout_names_the_check_that_cannot_finish_in_time() {
    let long_bake = fixture("long-bake.yaml");
    let out = traffic_hook(
        &["validate", "--config", &long_bake, "--timeout", "60s"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("checks[1]: `bake` (phase post) may take up to 2m20s")
            && err.contains("more than the 55s a 1m timeout leaves after report_reserve 5s"),
        "{err}"
    );
    assert!(!err.contains("smoke") && !err.contains("`load`"), "{err}");
    let out = traffic_hook(
        &["validate", "--config", &long_bake, "--timeout", "5m"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("all within a 5m timeout"));
    let out = traffic_hook(
        &["validate", "--config", &long_bake, "--timeout", "60"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("`60` has no unit"),
        "{}",
        text(&out.stderr)
    );
}

async fn run_config(config: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let http = FakeHttp::new();
    http.route("/ok", Route::new(200, json!({"ok": true})));
    let server = http.start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checks.yaml");
    std::fs::write(&path, config).unwrap();
    let path = path.to_str().unwrap().to_owned();
    let base = server.url();
    let mut all_args = vec!["run".to_owned(), "--config".to_owned(), path];
    all_args.extend(args.iter().map(|a| a.to_string()));
    let mut all_env: Vec<(String, String)> = vec![("BASE".into(), base)];
    all_env.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = all_args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = all_env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        traffic_hook(&args, &env)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn run_of_http_checks_needs_no_aws_and_prints_no_warnings_or_colour() {
    // No region, no credentials, no home: nothing AWS is reached, so nothing warns.
    let out = run_config(
        "checks: [ { name: web, http: { url: '{{env.BASE}}/ok' } } ]",
        &[],
        &[("HOME", "/nonexistent")],
    )
    .await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        !stderr.contains("WARN") && !stderr.contains("aws_config"),
        "{stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "no ANSI colour when stderr is not a terminal: {stderr:?}"
    );
}

#[tokio::test]
async fn run_shows_what_it_waits_for_and_how_a_load_check_is_going() {
    let config = r#"
checks:
  - { name: web, http: { url: '{{env.BASE}}/ok' }, initial_delay: 200ms, count: 2, interval: 100ms }
  - { name: load, load: { http: { url: '{{env.BASE}}/ok' }, rate: 50, duration: 2500ms } }
"#;
    let out = run_config(config, &[], &[]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("web: waiting 200ms before the first measurement (initial_delay)")
            && stderr.contains("web: waiting 100ms before measurement 2 of 2 (interval)"),
        "{stderr}"
    );
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("load: ") && l.contains(" sent ("))
        .collect();
    assert!(lines.len() >= 2, "a line at least once a second: {stderr}");
    assert!(lines[0].contains("0 errors, p99 "), "{}", lines[0]);
}

#[tokio::test]
async fn run_with_no_checks_for_the_phase_says_so_plainly() {
    let out = run_config(
        "checks: [ { name: web, phase: pre, http: { url: '{{env.BASE}}/ok' } } ]",
        &["--function", "orders-api", "--phase", "post"],
        &[],
    )
    .await;
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("verdict: SUCCEEDED (no checks for function orders-api in phase post)"),
        "{stdout}"
    );
}
