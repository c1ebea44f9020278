//! Distributed load (docs/configuration.md, `load.workers`), through the real binary:
//! the testkit's fake Lambda runs the hook's own function as real processes, each
//! worker drives its share against the fake HTTP server, and the merged counts are
//! checked against the requests the server counted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;
use traffic_hooks_testkit::{event, FakeAws, FakeHttp, Fault, Outcome, Route, RuntimeHost};

const BIN: &str = env!("CARGO_BIN_EXE_traffic-hook");
const SELF: &str = "CodeDeployHook_testkit";

async fn spread(config_expect: &str, fault: bool) -> (Value, u64, RuntimeHost, FakeAws) {
    let aws = FakeAws::with_scenario();
    let aws_server = aws.start().await.unwrap();
    let http = FakeHttp::new();
    http.route("/ok", Route::new(200, json!({ "ok": true })));
    let http_server = http.start().await.unwrap();
    let config = format!(
        "checks: [ {{ name: spread, phase: pre, load: {{ http: {{ url: '{{{{env.HTTP}}}}/ok' }}, rate: 200, duration: 2s, workers: 4 }}, timeout: 2s, expect: \"{config_expect}\" }} ]"
    );
    let (aws_url, http_url) = (aws_server.url(), http_server.url());
    let env = [
        ("TRAFFIC_HOOK_CONFIG", config.as_str()),
        ("AWS_ENDPOINT_URL", aws_url.as_str()),
        ("HTTP", http_url.as_str()),
    ];
    aws.serve_function(SELF, Path::new(BIN), &env, Duration::from_secs(20), 4);
    if fault {
        aws.fail_next(Some("Invoke"), Fault::FunctionError, 1);
    }
    let mut hook = RuntimeHost::start(Path::new(BIN), &env).await.unwrap();
    let out = match hook
        .invoke(event("pre-traffic.json"), Duration::from_secs(30))
        .await
        .unwrap()
    {
        Outcome::Response(v) => v,
        Outcome::Error(e) => panic!("an invocation error: {e}"),
    };
    let served = http.hits("/ok") as u64;
    drop((aws_server, http_server));
    (out, served, hook, aws)
}

#[tokio::test(flavor = "multi_thread")]
async fn four_load_workers_merge_to_the_server_counted_total() {
    let (out, served, _hook, aws) = spread(
        "requests == `400` && errors == `0` && workers == `4` && length(worker_rps) == `4` && min(worker_rps) > `45` && rps > `180` && latency_ms.p99 > `0`",
        false,
    )
    .await;
    assert_eq!(out["status"], "Succeeded", "{out:#}");
    assert_eq!(
        served, 400,
        "the server counted every request the workers merged"
    );
    assert_eq!(aws.served_processes(SELF), 4, "four worker processes");
    let workers = aws
        .invocations()
        .into_iter()
        .filter(|i| i.function == SELF)
        .collect::<Vec<_>>();
    assert_eq!(workers.len(), 4);
    let shares: Vec<f64> = workers
        .iter()
        .map(|w| {
            w.payload["traffic_hook_worker"]["load"]["rate"]
                .as_f64()
                .unwrap()
        })
        .collect();
    assert_eq!(shares, [50.0; 4], "the rate split evenly");
    let starts: Vec<u64> = workers
        .iter()
        .map(|w| {
            w.payload["traffic_hook_worker"]["start_at_ms"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert!(starts.windows(2).all(|w| w[0] == w[1]), "one shared start");
    assert!(
        !workers[0].payload.to_string().contains("127.0.0.1"),
        "workers get the section as written, rendered on their side"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_workers_share_counts_as_errors() {
    let (out, served, hook, _aws) = spread("errors == `0`", true).await;
    assert_eq!(out["status"], "Failed", "{out:#}");
    assert_eq!(served, 300, "three workers ran");
    let check = &hook.records_soon("check", 1, Duration::from_secs(2)).await[0];
    let reason = check["reason"].as_str().unwrap();
    assert!(reason.contains("errors = 100"), "{reason}");
}
