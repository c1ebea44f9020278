//! Long bakes by continuation (docs/configuration.md, "Bakes longer than an
//! invocation"), through the real binary with short deadlines: the testkit's fake
//! Lambda runs the hook's own function as real processes for its continuations.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};
use traffic_hooks_testkit::{event, FakeAws, FakeHttp, Outcome, Route, RuntimeHost, Server};

const BIN: &str = env!("CARGO_BIN_EXE_traffic-hook");
/// The hook's own function, as the Runtime API host names it.
const SELF: &str = "CodeDeployHook_testkit";

struct World {
    aws: FakeAws,
    _aws_server: Server,
    _http_server: Server,
    env: Vec<(String, String)>,
}

impl World {
    async fn new(config: &str) -> Self {
        let aws = FakeAws::with_scenario();
        aws.complete_events_on_report();
        let aws_server = aws.start().await.unwrap();
        let http = FakeHttp::new();
        http.route("/ok", Route::new(200, json!({ "ok": true })));
        http.route("/down", Route::new(503, json!({ "ok": false })));
        let http_server = http.start().await.unwrap();
        let env = vec![
            ("TRAFFIC_HOOK_CONFIG".to_owned(), config.to_owned()),
            ("AWS_ENDPOINT_URL".to_owned(), aws_server.url()),
            ("HTTP".to_owned(), http_server.url()),
        ];
        Self {
            aws,
            _aws_server: aws_server,
            _http_server: http_server,
            env,
        }
    }

    fn env(&self) -> Vec<(&str, &str)> {
        self.env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    /// Serves the hook's own function for its continuations, each invocation with
    /// `deadline`.
    fn serve_self(&self, deadline: Duration) {
        self.aws
            .serve_function(SELF, Path::new(BIN), &self.env(), deadline, 2);
    }

    async fn hook(&self) -> RuntimeHost {
        RuntimeHost::start(Path::new(BIN), &self.env())
            .await
            .unwrap()
    }

    /// How many times the hook invoked itself (its continuations).
    fn continuations(&self) -> usize {
        self.aws
            .invocations()
            .iter()
            .filter(|i| i.function == SELF)
            .count()
    }

    /// The `PutLifecycleEventHookExecutionStatus` calls CodeDeploy received.
    fn puts(&self) -> usize {
        self.aws
            .calls_of("PutLifecycleEventHookExecutionStatus")
            .len()
    }

    fn statuses(&self) -> Vec<String> {
        self.aws.reports().into_iter().map(|r| r.status).collect()
    }

    /// Waits up to `within` for a report.
    async fn first_report(&self, within: Duration) -> Vec<String> {
        let start = Instant::now();
        while self.aws.reports().is_empty() && start.elapsed() < within {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.statuses()
    }
}

async fn run(hook: &mut RuntimeHost, ev: Value, deadline: Duration) -> Value {
    match hook.invoke(ev, deadline).await.unwrap() {
        Outcome::Response(v) => v,
        Outcome::Error(e) => panic!("an invocation error: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_12s_bake_under_a_5s_deadline_completes_through_continuations_with_one_report() {
    let config = "report_reserve: 1s\nchecks: [ { name: bake, phase: pre, http: { url: '{{env.HTTP}}/ok' }, count: 13, interval: 1s, timeout: 2s } ]";
    let world = World::new(config).await;
    let deadline = Duration::from_secs(5);
    world.serve_self(deadline);
    let mut hook = world.hook().await;
    let started = Instant::now();
    let first = run(&mut hook, event("pre-traffic.json"), deadline).await;
    assert_eq!(first["status"], "Continued", "{first:#}");
    assert_eq!(
        world.statuses(),
        Vec::<String>::new(),
        "nothing reported yet"
    );
    let continued = hook
        .records_soon("continuation", 1, Duration::from_secs(2))
        .await;
    assert_eq!(continued.len(), 1);
    assert_eq!(continued[0]["running"], json!(["bake"]));
    assert!(continued[0]["state_bytes"].as_u64().unwrap() < 200 * 1024);

    assert_eq!(
        world.first_report(Duration::from_secs(40)).await,
        ["Succeeded"]
    );
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(12), "the bake took {took:?}");
    // One report, ever: give any stray continuation time to (wrongly) report again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(world.statuses(), ["Succeeded"]);
    assert_eq!(world.puts(), 1);
    let continuations = world.continuations();
    assert!(continuations >= 2, "{continuations} continuations");
    // The last invocation judged the check from every measurement of the chain.
    let verdicts = world.aws.served_records(SELF, "verdict");
    assert_eq!(verdicts.len(), 1, "one verdict across the chain");
    assert_eq!(verdicts[0]["status"], "Succeeded");
    let check = world
        .aws
        .served_records(SELF, "check")
        .into_iter()
        .last()
        .unwrap();
    assert_eq!(check["passed"], 13, "{check:#}");
    assert_eq!(check["status"], "passed");
    assert!(
        check["elapsed_ms"].as_f64().unwrap() >= 12_000.0,
        "{check:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_duplicated_continuation_reports_nothing_twice() {
    let config = "report_reserve: 1s\nchecks: [ { name: bake, phase: pre, http: { url: '{{env.HTTP}}/ok' }, count: 5, interval: 1s, timeout: 1s } ]";
    let world = World::new(config).await;
    let deadline = Duration::from_secs(3);
    world.serve_self(deadline);
    world.aws.hold_async(SELF, true);
    let mut hook = world.hook().await;
    assert_eq!(
        run(&mut hook, event("pre-traffic.json"), deadline).await["status"],
        "Continued"
    );
    // Deliver each held continuation by hand, each twice in a row to the same
    // process, as Lambda may: the second delivery is ignored.
    let mut last = Value::Null;
    let mut ignored = 0;
    for _ in 0..10 {
        let held = world.aws.take_held(SELF);
        let Some(payload) = held.into_iter().next() else {
            break;
        };
        last = payload.clone();
        let out = run(&mut hook, payload.clone(), deadline).await;
        let again = run(&mut hook, payload, deadline).await;
        // A continuation seen before is ignored; the one that reported is answered
        // from the process's memory of its report.
        assert!(
            again["status"] == "Ignored"
                || again["report"] == "already reported by this process (duplicate delivery)",
            "{again:#}"
        );
        ignored += 1;
        if out["status"] != "Continued" {
            assert_eq!(out["status"], "Succeeded", "{out:#}");
            break;
        }
    }
    assert!(ignored >= 1);
    assert_eq!(world.statuses(), ["Succeeded"]);
    // A copy delivered later to another sandbox finds the lifecycle event ended.
    let mut other = world.hook().await;
    let late = run(&mut other, last, deadline).await;
    assert_eq!(late["status"], "Ignored", "{late:#}");
    assert!(late["reason"]
        .as_str()
        .unwrap()
        .contains("no longer in progress"));
    assert_eq!(world.statuses(), ["Succeeded"]);
    assert_eq!(world.puts(), 1, "reported exactly once");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_continuation_that_cannot_be_started_reports_failed_at_once() {
    // The fake Lambda does not know the hook's own function: Invoke is refused.
    let config = "report_reserve: 1s\nchecks: [ { name: bake, phase: pre, http: { url: '{{env.HTTP}}/ok' }, count: 20, interval: 1s, timeout: 1s } ]";
    let world = World::new(config).await;
    let mut hook = world.hook().await;
    let out = run(&mut hook, event("pre-traffic.json"), Duration::from_secs(3)).await;
    assert_eq!(out["status"], "Failed", "{out:#}");
    let reason = out["checks"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("could not go on in a continuation")
            && reason.contains("ResourceNotFoundException"),
        "{reason}"
    );
    assert_eq!(world.statuses(), ["Failed"]);
    let check = &hook.records_soon("check", 1, Duration::from_secs(2)).await[0];
    assert!(
        check["passed"].as_u64().unwrap() >= 1,
        "what was measured is kept: {check:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bake_fails_when_max_duration_runs_out() {
    let config = "report_reserve: 1s\nmax_duration: 2s\nchecks: [ { name: bake, phase: pre, http: { url: '{{env.HTTP}}/ok' }, count: 20, interval: 500ms, timeout: 1s } ]";
    let world = World::new(config).await;
    world.serve_self(Duration::from_secs(5));
    let mut hook = world.hook().await;
    let out = run(&mut hook, event("pre-traffic.json"), Duration::from_secs(5)).await;
    assert_eq!(out["status"], "Failed", "{out:#}");
    assert!(out["checks"][0]["reason"]
        .as_str()
        .unwrap()
        .starts_with("max_duration: still running when the bake's max_duration ran out"));
    assert_eq!(world.statuses(), ["Failed"]);
    assert_eq!(world.continuations(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_measurement_longer_than_an_invocation_fails_instead_of_continuing_forever() {
    let config = "report_reserve: 1s\nchecks: [ { name: soak, phase: pre, load: { http: { url: '{{env.HTTP}}/ok' }, rate: 10, duration: 10s } } ]";
    let world = World::new(config).await;
    world.serve_self(Duration::from_secs(3));
    let mut hook = world.hook().await;
    let out = run(&mut hook, event("pre-traffic.json"), Duration::from_secs(3)).await;
    assert_eq!(out["status"], "Failed", "{out:#}");
    let reason = out["checks"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("cannot go on in a continuation"),
        "{reason}"
    );
    assert_eq!(world.continuations(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bake_does_not_go_on_once_another_check_has_failed() {
    let config = "report_reserve: 1s\nchecks: [ { name: down, phase: pre, http: { url: '{{env.HTTP}}/down' } }, { name: bake, phase: pre, http: { url: '{{env.HTTP}}/ok' }, count: 20, interval: 1s, timeout: 1s } ]";
    let world = World::new(config).await;
    world.serve_self(Duration::from_secs(3));
    let mut hook = world.hook().await;
    let out = run(&mut hook, event("pre-traffic.json"), Duration::from_secs(3)).await;
    assert_eq!(out["status"], "Failed", "{out:#}");
    assert_eq!(
        world.statuses(),
        ["Failed"],
        "reported at the first deadline"
    );
    let bake = &out["checks"][1];
    assert_eq!(bake["status"], "skipped", "{out:#}");
    assert!(bake["reason"]
        .as_str()
        .unwrap()
        .contains("check `down` had failed, so the bake did not go on"));
    assert_eq!(world.continuations(), 0, "no continuation");
}
