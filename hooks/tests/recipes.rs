//! The recipes' `expect` conditions against sample answers of the APIs they query.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use traffic_hooks::expect::Expect;
use traffic_hooks::Config;

fn expect_of(recipe: &str, check: &str) -> Expect {
    let path = format!(
        "{}/../examples/configs/{recipe}",
        env!("CARGO_MANIFEST_DIR")
    );
    let config = Config::parse(&std::fs::read_to_string(path).unwrap()).unwrap();
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
