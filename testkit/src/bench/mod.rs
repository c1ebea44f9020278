//! `make bench`: what a hook costs, measured in one run on this machine, each figure
//! beside a reference measured in the same run, against the goals of
//! `docs/performance.md`.
//!
//! - `load` CPU per request and held rate against wrk and hey (see [`load`]);
//! - cold start to the first Runtime API poll against a bare `lambda_runtime` hello
//!   world (see [`start`]);
//! - stripped binary sizes;
//! - peak RSS over 200 warm PreTraffic invocations, and during a 20,000 requests/s
//!   `load`;
//! - the time a warm invocation adds to checks that take 2 ms.

pub mod load;
pub mod procs;
pub mod start;

use crate::{FakeAws, FakeHttp, Outcome, Route, RuntimeHost};
use procs::{median, Pinning};
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What to measure and how long.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `traffic-hook` binary.
    pub hook: PathBuf,
    /// The bare `lambda_runtime` hello world, same profile.
    pub hello: PathBuf,
    /// Other builds of the hook whose size to report (the arm64 one).
    pub others: Vec<PathBuf>,
    /// Rates to compare `load` at.
    pub rates: Vec<u32>,
    /// Seconds of each load run.
    pub seconds: u64,
    /// Load runs per client and rate.
    pub rounds: usize,
    /// Cold starts of each binary.
    pub starts: usize,
    /// Warm invocations for RSS and overhead.
    pub invocations: usize,
    /// A quick pass that checks the harness, not the goals (debug builds in CI).
    pub smoke: bool,
}

/// One line of the report: a figure, its reference, and the goal it is held to.
#[derive(Debug, Clone)]
pub struct Figure {
    /// What was measured.
    pub what: String,
    /// The figure, with its unit.
    pub value: String,
    /// The reference measured beside it, and the ratio.
    pub against: String,
    /// The goal, and whether it was met (`None`: no goal, or not judged).
    pub goal: Option<(String, bool)>,
}

fn figure(
    what: impl Into<String>,
    value: impl Into<String>,
    against: impl Into<String>,
    goal: Option<(String, bool)>,
) -> Figure {
    Figure {
        what: what.into(),
        value: value.into(),
        against: against.into(),
        goal,
    }
}

/// A config like a real PreTraffic hook's, for the cold start: parsed before the first
/// poll, so its cost belongs in the figure.
const COLD_CONFIG: &str = r#"
report_reserve: 5s
defaults: { timeout: 10s }
checks:
  - name: smoke
    phase: pre
    invoke: { qualifier: target, payload: { rawPath: /health } }
    expect: [ "function_error == null", "payload.statusCode == `200`" ]
  - name: health
    phase: post
    http: { url: "https://api.example.com/{{alias}}/health" }
    count: 3
    interval: 2s
"#;

/// Runs everything and returns the report's lines.
pub async fn run(opts: &Options) -> Result<Vec<Figure>, String> {
    let judge = !opts.smoke;
    let mut figures = Vec::new();
    let pinning = Pinning::detect();

    // Sizes.
    for path in std::iter::once(&opts.hook).chain(&opts.others) {
        let bytes = std::fs::metadata(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .len();
        let mb = bytes as f64 / 1e6;
        figures.push(figure(
            format!("size of {}", path.display()),
            format!("{mb:.2} MB"),
            "",
            judge.then(|| ("<= 10 MB".to_owned(), mb <= 10.0)),
        ));
    }
    let hello_mb = std::fs::metadata(&opts.hello)
        .map_err(|e| e.to_string())?
        .len() as f64
        / 1e6;
    figures.push(figure(
        "size of the bare hello world",
        format!("{hello_mb:.2} MB"),
        "reference",
        None,
    ));

    // Cold start (blocking: timed with no runtime in the way).
    let (hook, hello, starts) = (opts.hook.clone(), opts.hello.clone(), opts.starts);
    let (ours, bare) =
        tokio::task::spawn_blocking(move || start::compare(&hook, COLD_CONFIG, &hello, starts))
            .await
            .map_err(|e| e.to_string())??;
    let ratio = ours / bare.max(f64::EPSILON);
    figures.push(figure(
        format!("cold start to the first poll (median of {})", opts.starts),
        format!("{ours:.2} ms"),
        format!("hello world {bare:.2} ms, ratio {ratio:.2}"),
        judge.then(|| ("ratio <= 1.5".to_owned(), ratio <= 1.5)),
    ));

    // Warm invocations: RSS and overhead.
    figures.extend(invocations(opts, judge).await?);

    // Load against wrk and hey, then the memory of a load at the top rate.
    let (hook, rates, seconds, rounds) = (
        opts.hook.clone(),
        opts.rates.clone(),
        opts.seconds,
        opts.rounds,
    );
    let runs = tokio::task::spawn_blocking(move || {
        let clients = load::Clients::new(&hook)?;
        load::compare(&clients, &pinning, &rates, seconds, rounds)
    })
    .await
    .map_err(|e| e.to_string())??;
    for &rate in &opts.rates {
        let Some((cpu, held, served, _)) = load::summary(&runs, "traffic-hook load", rate) else {
            continue;
        };
        let planned = u64::from(rate) * opts.seconds;
        let held = held.unwrap_or(0.0);
        let held_ok = (held - f64::from(rate)).abs() <= f64::from(rate) * 0.01
            && served as f64 >= planned as f64 * 0.99;
        figures.push(figure(
            format!("load at {rate}/s: rate held (at nginx)"),
            format!("{held:.0}/s, {served} of {planned} served"),
            "",
            judge.then(|| ("within 1%".to_owned(), held_ok)),
        ));
        for (reference, limit) in [("wrk", 1.25), ("hey", 0.67)] {
            match load::summary(&runs, reference, rate) {
                Some((theirs, _, _, seen)) => {
                    let ratio = cpu / theirs.max(f64::EPSILON);
                    figures.push(figure(
                        format!("load at {rate}/s: CPU per request"),
                        format!("{cpu:.1} us"),
                        format!("{reference} {theirs:.1} us at {seen:.0}/s, ratio {ratio:.2}"),
                        judge.then(|| (format!("ratio <= {limit}"), ratio <= limit)),
                    ));
                }
                None => figures.push(figure(
                    format!("load at {rate}/s: CPU per request"),
                    format!("{cpu:.1} us"),
                    format!("{reference} not installed (make bench-tools)"),
                    judge.then(|| (format!("ratio <= {limit}"), false)),
                )),
            }
        }
    }
    figures.push(load_memory(opts, &pinning, judge).await?);
    figures.push(figure("pinning", pinning.describe(), "", None));
    Ok(figures)
}

/// Peak RSS over warm PreTraffic invocations, and what a warm invocation adds to
/// checks that take about 2 ms.
async fn invocations(opts: &Options, judge: bool) -> Result<Vec<Figure>, String> {
    let aws = FakeAws::with_scenario();
    let aws_server = aws.start().await.map_err(|e| e.to_string())?;
    let http = FakeHttp::new();
    http.route(
        "/slow",
        Route {
            delay_ms: 2,
            ..Route::new(200, json!({ "ok": true }))
        },
    );
    let http_server = http.start().await.map_err(|e| e.to_string())?;
    let endpoint = aws_server.url();
    let invoke = |prefix: &str, n: usize| json!({ "DeploymentId": "d-PRETRAFFIC1", "LifecycleEventHookExecutionId": format!("{prefix}-{n}") });

    let smoke = "checks: [ { name: smoke, phase: pre, invoke: { qualifier: target } } ]";
    let mut host = RuntimeHost::start(
        &opts.hook,
        &[
            ("TRAFFIC_HOOK_CONFIG", smoke),
            ("AWS_ENDPOINT_URL", &endpoint),
        ],
    )
    .await
    .map_err(|e| e.to_string())?;
    for n in 0..=opts.invocations {
        succeeded(host.invoke(invoke("rss", n), Duration::from_secs(30)).await)?;
    }
    let rss = host.peak_rss().unwrap_or(0) as f64 / (1 << 20) as f64;
    drop(host);

    let slow = format!(
        "checks: [ {{ name: slow, phase: pre, http: {{ url: '{}/slow' }} }} ]",
        http_server.url()
    );
    let mut host = RuntimeHost::start(
        &opts.hook,
        &[
            ("TRAFFIC_HOOK_CONFIG", &slow),
            ("AWS_ENDPOINT_URL", &endpoint),
        ],
    )
    .await
    .map_err(|e| e.to_string())?;
    succeeded(
        host.invoke(invoke("overhead", 0), Duration::from_secs(30))
            .await,
    )?;
    let (mut overheads, mut checks) = (Vec::new(), Vec::new());
    for n in 1..=opts.invocations {
        let began = Instant::now();
        succeeded(
            host.invoke(invoke("overhead", n), Duration::from_secs(30))
                .await,
        )?;
        let total = began.elapsed().as_secs_f64() * 1000.0;
        let check = host
            .records("check")
            .last()
            .and_then(|c| c["elapsed_ms"].as_f64())
            .ok_or("no check record in the hook's log")?;
        overheads.push(total - check);
        checks.push(check);
    }
    let (overhead, check) = (median(overheads), median(checks));
    drop(host);

    // The floor: the same round trip through the Runtime API host for a function that
    // does nothing (the hello world echoes its event).
    let mut hello = RuntimeHost::start(&opts.hello, &[])
        .await
        .map_err(|e| e.to_string())?;
    let mut trips = Vec::new();
    for n in 0..=opts.invocations {
        let began = Instant::now();
        match hello
            .invoke(invoke("hello", n), Duration::from_secs(30))
            .await
        {
            Ok(Outcome::Response(_)) => {}
            other => return Err(format!("the hello world did not answer: {other:?}")),
        }
        if n > 0 {
            trips.push(began.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let floor = median(trips);
    Ok(vec![
        figure(
            format!(
                "peak RSS over {} warm PreTraffic invocations",
                opts.invocations
            ),
            format!("{rss:.1} MiB"),
            "",
            judge.then(|| ("<= 32 MiB".to_owned(), rss <= 32.0)),
        ),
        figure(
            "a warm invocation beyond its checks (median)",
            format!("{overhead:.2} ms"),
            format!("checks took {check:.2} ms; a hello world's round trip {floor:.2} ms"),
            judge.then(|| ("<= 1 ms".to_owned(), overhead <= 1.0)),
        ),
    ])
}

/// Peak RSS of the hook in Lambda mode during a `load` at the highest rate.
async fn load_memory(opts: &Options, pinning: &Pinning, judge: bool) -> Result<Figure, String> {
    let rate = opts.rates.iter().copied().max().unwrap_or(1000);
    let server = procs::Nginx::start(pinning)?;
    let aws = FakeAws::with_scenario();
    let aws_server = aws.start().await.map_err(|e| e.to_string())?;
    let config = format!(
        "checks: [ {{ name: load, phase: pre, timeout: 5s, load: {{ http: {{ url: '{}' }}, rate: {rate}, duration: {}s }} }} ]",
        server.url(),
        opts.seconds
    );
    let mut host = RuntimeHost::start(
        &opts.hook,
        &[
            ("TRAFFIC_HOOK_CONFIG", &config),
            ("AWS_ENDPOINT_URL", &aws_server.url()),
        ],
    )
    .await
    .map_err(|e| e.to_string())?;
    let ev =
        json!({ "DeploymentId": "d-PRETRAFFIC1", "LifecycleEventHookExecutionId": "bench-load" });
    succeeded(
        host.invoke(ev, Duration::from_secs(opts.seconds + 60))
            .await,
    )?;
    let rss = host.peak_rss().unwrap_or(0) as f64 / (1 << 20) as f64;
    Ok(figure(
        format!("peak RSS during a load at {rate}/s"),
        format!("{rss:.1} MiB"),
        "",
        judge.then(|| ("<= 64 MiB".to_owned(), rss <= 64.0)),
    ))
}

fn succeeded(outcome: Result<Outcome, crate::HostError>) -> Result<(), String> {
    match outcome.map_err(|e| e.to_string())? {
        Outcome::Response(v) if v["status"] == "Succeeded" => Ok(()),
        other => Err(format!("the hook did not succeed: {other:?}")),
    }
}

/// The report as a table, and whether every judged goal was met.
pub fn render(figures: &[Figure]) -> (String, bool) {
    let width = figures.iter().map(|f| f.what.len()).max().unwrap_or(0);
    let mut out = String::new();
    let mut all = true;
    for f in figures {
        let goal = match &f.goal {
            Some((goal, met)) => {
                all &= met;
                format!("  [{}] {goal}", if *met { "ok" } else { "MISSED" })
            }
            None => String::new(),
        };
        let against = if f.against.is_empty() {
            String::new()
        } else {
            format!("  ({})", f.against)
        };
        out.push_str(&format!(
            "{:<width$}  {:>12}{against}{goal}\n",
            f.what, f.value
        ));
    }
    (out, all)
}
