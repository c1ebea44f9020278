//! `make bench`: what a hook costs, measured in one run on this machine, as ratios.
//!
//! 1. Cold start: spawn the release `traffic-hook` under the Runtime API host and time the
//!    first PreTraffic event (process start, config, SDK clients, discovery, one invoke
//!    check, report), against the same event on the warm process.
//! 2. Overhead: a warm event's time against the time its one check measured itself.
//! 3. Load accuracy: a `load` check at 200 req/s for 2 s against a loopback endpoint,
//!    achieved rate against requested.
//!
//! Usage: `bench PATH/TO/release/traffic-hook [ROUNDS]`.

use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use traffic_hooks_testkit::{FakeAws, FakeHttp, Outcome, Route, RuntimeHost};

#[tokio::main]
async fn main() -> ExitCode {
    match bench().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn bench() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let binary: PathBuf = args
        .next()
        .ok_or("usage: bench PATH/TO/traffic-hook [ROUNDS]")?
        .into();
    let rounds: usize = args
        .next()
        .map(|r| r.parse().map_err(|e| format!("ROUNDS: {e}")))
        .transpose()?
        .unwrap_or(10);
    let aws = FakeAws::with_scenario();
    let aws_server = aws.start().await.map_err(|e| e.to_string())?;
    let http = FakeHttp::new();
    http.route("/ok", Route::new(200, json!({ "ok": true })));
    let http_server = http.start().await.map_err(|e| e.to_string())?;
    let endpoint = aws_server.url();

    let smoke = "checks: [ { name: smoke, invoke: { qualifier: target } } ]";
    let (mut cold, mut warm, mut check_ms) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let started = Instant::now();
        let mut host = RuntimeHost::start(
            &binary,
            &[
                ("TRAFFIC_HOOK_CONFIG", smoke),
                ("AWS_ENDPOINT_URL", &endpoint),
            ],
        )
        .await
        .map_err(|e| e.to_string())?;
        for (n, times) in [(0, &mut cold), (1, &mut warm)] {
            let ev = json!({ "DeploymentId": "d-PRETRAFFIC1", "LifecycleEventHookExecutionId": format!("bench-{round}-{n}") });
            let t = if n == 0 { started } else { Instant::now() };
            match host
                .invoke(ev, Duration::from_secs(30))
                .await
                .map_err(|e| e.to_string())?
            {
                Outcome::Response(v) if v["status"] == "Succeeded" => {}
                other => return Err(format!("unexpected answer: {other:?}")),
            }
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        if let Some(c) = host.records("check").last() {
            check_ms.push(c["elapsed_ms"].as_f64().unwrap_or(0.0));
        }
    }
    let (cold, warm, check) = (median(cold), median(warm), median(check_ms));
    println!(
        "traffic-hook bench: {} rounds, medians, binary {}",
        rounds,
        binary.display()
    );
    println!("  cold start, first event end to end   {cold:8.1} ms");
    println!(
        "  warm event end to end                {warm:8.1} ms   cold/warm = {:.1}x",
        cold / warm.max(0.001)
    );
    println!(
        "  the check's own measurement          {check:8.1} ms   warm/check = {:.1}x",
        warm / check.max(0.001)
    );

    let load = format!("checks: [ {{ name: load, load: {{ http: {{ url: '{}/ok' }}, rate: 200, duration: 2s }} }} ]", http_server.url());
    let mut host = RuntimeHost::start(
        &binary,
        &[
            ("TRAFFIC_HOOK_CONFIG", &load),
            ("AWS_ENDPOINT_URL", &endpoint),
        ],
    )
    .await
    .map_err(|e| e.to_string())?;
    let ev =
        json!({ "DeploymentId": "d-PRETRAFFIC1", "LifecycleEventHookExecutionId": "bench-load" });
    host.invoke(ev, Duration::from_secs(30))
        .await
        .map_err(|e| e.to_string())?;
    let hits = http.hits("/ok");
    let line = host.records("check").last().cloned().unwrap_or_default();
    let detail = line["measurements"].as_str().unwrap_or_default().to_owned();
    println!(
        "  load: 200 req/s for 2 s requested, {hits} requests served   served/requested = {:.3}",
        hits as f64 / 400.0
    );
    println!(
        "  load check: {} ({detail})",
        line["status"].as_str().unwrap_or("?")
    );
    Ok(())
}
