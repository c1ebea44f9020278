use super::*;
use crate::check::Kinds;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, &Kinds::builtin())
}

fn errors(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(_) => Vec::new(),
        Err(e) => e.errors.iter().map(|e| e.to_string()).collect(),
    }
}

/// Each of `expected` starts one of `errs`, and there are no others.
fn exactly(errs: &[String], expected: &[&str]) {
    for want in expected {
        assert!(
            errs.iter().any(|e| e.starts_with(want)),
            "missing `{want}` in {errs:#?}"
        );
    }
    assert_eq!(errs.len(), expected.len(), "{errs:#?}");
}

#[test]
fn the_contract_example_is_valid() {
    let text = include_str!("../../tests/fixtures/contract-core.yaml");
    let config = parse(text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.report_reserve, Duration::from_secs(5));
    assert_eq!(config.checks.len(), 2);
    let health = &config.checks[1];
    assert_eq!(health.kind.name(), "http");
    assert_eq!(health.timing.count, 3);
    assert_eq!(health.timing.interval, Duration::from_secs(2));
    assert_eq!(health.timing.timeout, Duration::from_secs(5));
    assert_eq!(config.checks[0].phase, Some(Phase::Pre));
    assert_eq!(config.target.target_version.as_deref(), Some("2"));
}

#[test]
fn defaults_apply_to_every_check() {
    let c = parse("defaults: { timeout: 3s, count: 2 }\nchecks: [ { name: a, invoke: {} } ]")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.checks[0].timing.timeout, Duration::from_secs(3));
    assert_eq!(c.checks[0].timing.count, 2);
}

#[test]
fn reports_every_error_at_once_with_field_paths() {
    let errs = errors(
        r#"
report_reserve: 5
colour: blue
checks:
  - name: a
    invoke: {}
    timeout: soon
    expect: "status =="
  - name: a
    http: { url: "not a url", method: get }
  - name: c
    http: { url: "https://x/{{aliass}}" }
  - name: d
  - name: e
    invoke: {}
    http: { url: "https://x" }
"#,
    );
    let expected = [
        "colour: unknown field",
        "report_reserve: `5` has no unit",
        "checks[0].timeout: `soon` is not a duration",
        "checks[0].expect: `status ==` is not a valid JMESPath expression",
        "checks[1].http.url: `not a url` is not an absolute URL",
        "checks[1].http.method: `get` is not an HTTP method",
        "checks[1].name: duplicate name `a` (also checks[0])",
        "checks[2].http.url: unknown variable `{{aliass}}`",
        "checks[3]: no check kind",
        "checks[4]: one kind per check, found invoke and http",
    ];
    exactly(&errs, &expected);
}

#[test]
fn unknown_fields_inside_a_kind_are_errors() {
    let errs = errors("checks: [ { name: a, http: { url: 'https://x', methd: GET } } ]");
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with("checks[0].http.methd: unknown field; did you mean `method`?"),
        "{errs:?}"
    );
}

#[test]
fn empty_and_non_mapping_documents_say_what_is_expected() {
    assert!(errors("")[0].contains("expected a mapping with `checks:`"));
    assert!(errors("checks: []")[0].starts_with("checks: empty"));
    assert!(errors("checks: [ 1 ]")[0].starts_with("checks[0]: expected a mapping"));
    assert!(errors("{ checks: [")[0].starts_with("(config): not valid YAML"));
}

#[test]
fn type_errors_name_the_type_but_never_quote_the_value() {
    let errs = errors(
        "checks: [ { name: a, http: { url: 'https://x', headers: { x-api-key: 12345678 } } } ]",
    );
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with(
            "checks[0].http.headers.x-api-key: invalid type: integer, expected a string"
        ),
        "{errs:?}"
    );
    assert!(!errs[0].contains("12345678"), "{errs:?}");
}

#[test]
fn report_reserve_below_one_second_is_refused() {
    let errs = errors("report_reserve: 200ms\nchecks: [ { name: a, invoke: {} } ]");
    assert!(
        errs[0].starts_with("report_reserve: must be at least 1s"),
        "{errs:?}"
    );
}

#[test]
fn variables_inside_jmespath_literals_validate() {
    let c = parse("checks: [ { name: a, invoke: {}, expect: \"payload.code == `{{env.CODE}}` && executed_version == '{{target_version}}'\" } ]");
    assert!(c.is_ok(), "{c:?}");
}

#[test]
fn more_than_100_alarm_names_is_an_error() {
    let names: Vec<String> = (0..101).map(|i| format!("a{i}")).collect();
    let errs = errors(&format!(
        "checks: [ {{ name: a, alarms: {{ names: [{}] }} }} ]",
        names.join(", ")
    ));
    assert!(
        errs[0].starts_with("checks[0].alarms.names: 101 names"),
        "{errs:?}"
    );
}

#[test]
fn json_configs_work_too() {
    let c = parse(r#"{"checks": [{"name": "a", "invoke": {"qualifier": 7}}]}"#);
    assert!(c.is_ok(), "{c:?}");
}

#[test]
fn count_zero_and_bad_phase_are_errors() {
    let errs = errors("checks: [ { name: a, invoke: {}, count: 0, phase: during } ]");
    assert!(
        errs.iter()
            .any(|e| e.starts_with("checks[0].count: must be at least 1")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.starts_with("checks[0].phase: `during` is not a phase")),
        "{errs:?}"
    );
}

// The recipes' `expect` conditions against sample answers of the APIs they query.

use crate::expect::Expect;
use serde_json::{json, Value};

fn expect_of(recipe: &str, check: &str) -> Expect {
    let path = format!(
        "{}/../examples/configs/{recipe}",
        env!("CARGO_MANIFEST_DIR")
    );
    let config = parse(&std::fs::read_to_string(path).unwrap()).unwrap();
    let c = config.checks.iter().find(|c| c.name == check).unwrap();
    Expect::compile(&c.expect).unwrap()
}

fn passes(e: &Expect, measurement: Value) -> bool {
    e.first_unmet(&measurement).unwrap().is_none()
}

#[test]
fn prometheus_recipe_passes_under_one_percent_and_fails_on_no_data() {
    let e = expect_of("prometheus.yaml", "error-ratio");
    let answer = |v: &str| json!({"status": 200, "body": {"status": "success", "data": {"result": [{"value": [1.7e9, v]}]}}});
    assert!(passes(&e, answer("0.002")));
    assert!(!passes(&e, answer("0.05")));
    assert!(!passes(
        &e,
        json!({"status": 200, "body": {"status": "success", "data": {"result": []}}})
    ));
}

#[test]
fn datadog_recipe_passes_without_series_and_fails_on_any_error() {
    let e = expect_of("datadog.yaml", "datadog-errors");
    assert!(passes(
        &e,
        json!({"status": 200, "body": {"status": "ok", "series": []}})
    ));
    let series = |v: f64| json!({"status": 200, "body": {"status": "ok", "series": [{"pointlist": [[1.0, 0.0], [2.0, v]]}]}});
    assert!(passes(&e, series(0.0)));
    assert!(!passes(&e, series(2.0)));
}

#[test]
fn apigateway_recipe_judges_load_by_error_rate_and_p99() {
    let e = expect_of("apigateway-stage.yaml", "stage-load");
    let load = |rate: f64, p99: f64| json!({"error_rate": rate, "latency_ms": {"p99": p99}});
    assert!(passes(&e, load(0.0, 120.0)));
    assert!(!passes(&e, load(0.02, 120.0)));
    assert!(!passes(&e, load(0.0, 900.0)));
}

#[test]
fn until_is_a_common_field_checked_like_expect() {
    let errs = errors(
        r#"
checks:
  - name: a
    http: { url: "https://x" }
    until: "status =="
  - name: b
    approval: { ssm: "" }
  - name: c
    approval: { url: "not a url" }
"#,
    );
    let expected = [
        "checks[0].until: `status ==` is not a valid JMESPath expression",
        "checks[1].approval.ssm: must not be empty",
        "checks[2].approval.url: `not a url` is not an absolute URL",
    ];
    exactly(&errs, &expected);
}

#[test]
fn a_gate_without_count_waits_until_it_holds_and_is_no_timing_problem() {
    let c = parse(
        "checks: [ { name: gate, approval: {} }, { name: bake, http: { url: 'https://x' }, until: 'status == `200`', count: 4 } ]",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let deployment = Deployment::placeholder();
    let built: Vec<_> = c
        .build_checks(&deployment, &BTreeMap::new(), &Effects::inert())
        .into_iter()
        .map(|b| b.unwrap_or_else(|e| panic!("{}", e.reason)))
        .collect();
    assert!(built[0].waits_until_it_holds());
    assert_eq!(
        built[0].until.as_ref().map(|u| u.describe()).as_deref(),
        Some("`state != 'pending'`")
    );
    assert!(!built[1].waits_until_it_holds());
    assert_eq!(built[1].timing.count, 4);
    assert!(c.timing_problems(Duration::from_secs(60)).is_empty());
}
