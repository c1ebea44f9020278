//! `traffic-sim`: simulates one CodeDeploy deployment of one function of a SAM template
//! on loopback, with the real hook binaries (see docs/simulator.md). Exit 0 when the
//! deployment succeeded, 1 otherwise, 2 on bad input.

use clap::Parser;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use traffic_hooks_testkit::sim::{self, output, scenario::Scenario, Options, SimError};

/// Simulates a CodeDeploy deployment of a SAM template's function, hooks and alarms
/// included, before AWS does it.
#[derive(Debug, Parser)]
#[command(name = "traffic-sim", version)]
struct Args {
    /// The SAM template.
    #[arg(long, default_value = "template.yaml")]
    template: PathBuf,
    /// The function's logical id in the template.
    #[arg(long)]
    function: String,
    /// The version serving now.
    #[arg(long, default_value = "1")]
    from: String,
    /// The version being deployed.
    #[arg(long, default_value = "2")]
    to: String,
    /// How each version behaves and the client traffic (JSON or YAML).
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// A template parameter: Key=Value (repeat for more).
    #[arg(long = "parameter", value_name = "KEY=VALUE")]
    parameters: Vec<String>,
    /// Simulated time runs N times faster for traffic shifting and alarms (hooks run
    /// in real time).
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// One JSON object per line instead of the readable timeline.
    #[arg(long)]
    json: bool,
    /// Also write a self-contained HTML page with the timeline drawn.
    #[arg(long)]
    html: Option<PathBuf>,
    /// Run every hook with this binary (default: each hook's
    /// Metadata.BuildProperties.Binary from the directory of traffic-sim).
    #[arg(long)]
    hook_bin: Option<PathBuf>,
}

fn bad_input(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("traffic-sim: {message}");
    ExitCode::from(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let template = match std::fs::read_to_string(&args.template) {
        Ok(t) => t,
        Err(e) => return bad_input(format!("{}: {e}", args.template.display())),
    };
    let scenario = match &args.scenario {
        None => Scenario::default(),
        Some(path) => match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| Scenario::parse(&t))
        {
            Ok(s) => s,
            Err(e) => return bad_input(format!("{}: {e}", path.display())),
        },
    };
    let mut parameters = BTreeMap::new();
    for p in &args.parameters {
        let Some((k, v)) = p.split_once('=') else {
            return bad_input(format!("--parameter {p}: write KEY=VALUE"));
        };
        parameters.insert(k.to_owned(), v.to_owned());
    }
    if !(args.speed > 0.0 && args.speed <= 10_000.0) {
        return bad_input("--speed: more than 0 and at most 10000");
    }
    let bin_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(PathBuf::from))
        .unwrap_or_default();
    let options = Options {
        template,
        template_path: args.template.display().to_string(),
        function: args.function.clone(),
        from: args.from.clone(),
        to: args.to.clone(),
        scenario,
        parameters,
        speed: args.speed,
        hook_bin: args.hook_bin.clone(),
        bin_dir,
    };
    let json = args.json;
    let outcome = sim::run(options, |e| {
        let text = if json {
            output::json_line(e)
        } else {
            output::line(e)
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    })
    .await;
    let outcome = match outcome {
        Ok(o) => o,
        Err(e @ SimError::Template { .. }) => return bad_input(e),
        Err(e @ SimError::Hook(_)) => return bad_input(e),
        Err(e) => {
            eprintln!("traffic-sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(path) = &args.html {
        if let Err(e) = std::fs::write(path, output::html(&outcome)) {
            eprintln!("traffic-sim: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        if !json {
            println!("timeline: {}", path.display());
        }
    }
    if outcome.status == "Succeeded" {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
