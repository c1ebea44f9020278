//! `make demo`: three simulated deployments of `template.yaml`'s `DemoFunction`, each
//! run by `traffic-sim`'s engine with the real `traffic-hook` binaries as its hooks:
//! one that succeeds, one the PreTraffic hook stops, and one an alarm rolls back during
//! the canary. Each timeline is printed and drawn to `target/demo/*.html`.
//!
//! Usage: `demo [TEMPLATE]` (default `template.yaml`), from the workspace root.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use traffic_hooks_testkit::sim::{self, output, scenario::Scenario, Options};
use traffic_hooks_testkit::testkit_dir;

/// Simulated time runs this much faster than real time (hooks run in real time).
const SPEED: f64 = 60.0;

#[tokio::main]
async fn main() -> ExitCode {
    match demo().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("demo: the outcomes were not the expected ones");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("demo: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn demo() -> Result<bool, String> {
    let template_path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "template.yaml".to_owned());
    let template =
        std::fs::read_to_string(&template_path).map_err(|e| format!("{template_path}: {e}"))?;
    let bin_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(PathBuf::from))
        .ok_or("cannot tell where the binaries are")?;
    let out_dir = bin_dir.join("../demo");
    std::fs::create_dir_all(&out_dir).map_err(|e| e.to_string())?;
    let runs = [
        (
            "healthy",
            "version 2 is healthy: the canary goes through",
            "Succeeded",
        ),
        (
            "broken-new-version",
            "version 2 fails every call: the PreTraffic hook stops it before any traffic moves",
            "Failed",
        ),
        (
            "canary-errors",
            "version 2 fails one call in twenty: an alarm stops the canary and it rolls back",
            "Stopped",
        ),
    ];
    println!("traffic-hooks demo: three deployments of {template_path}'s DemoFunction, simulated on loopback");
    println!(
        "(CodeDeploy, Lambda and CloudWatch are local; the hooks are the real traffic-hook binary;"
    );
    println!(" simulated time runs {SPEED}x faster, hooks run in real time)\n");
    let mut as_expected = true;
    let mut pages = Vec::new();
    for (name, title, expected) in runs {
        println!("== {title}");
        let scenario_path = testkit_dir().join(format!("fixtures/sim/{name}.yaml"));
        let scenario = std::fs::read_to_string(&scenario_path)
            .map_err(|e| e.to_string())
            .and_then(|t| Scenario::parse(&t))
            .map_err(|e| format!("{}: {e}", scenario_path.display()))?;
        let options = Options {
            template: template.clone(),
            template_path: template_path.clone(),
            function: "DemoFunction".into(),
            from: "1".into(),
            to: "2".into(),
            scenario,
            // The template's PostTraffic alarm bake looks six times, 30 s apart; a
            // demo looks six times a second apart.
            parameters: BTreeMap::from([("PostTrafficBakeInterval".to_owned(), "1s".to_owned())]),
            speed: SPEED,
            hook_bin: None,
            bin_dir: bin_dir.clone(),
        };
        let outcome = sim::run(options, |e| println!("{}", output::line(e)))
            .await
            .map_err(|e| e.to_string())?;
        let page = out_dir.join(format!("{name}.html"));
        std::fs::write(&page, output::html(&outcome)).map_err(|e| e.to_string())?;
        let mark = if outcome.status == expected {
            "as expected"
        } else {
            "NOT as expected"
        };
        println!("   => {} ({mark})\n", outcome.status);
        as_expected &= outcome.status == expected;
        pages.push(page);
    }
    println!("Timelines drawn:");
    for p in pages {
        println!("   {}", p.canonicalize().unwrap_or(p).display());
    }
    println!("\nSimulate your own: target/debug/traffic-sim --template template.yaml --function DemoFunction --speed 60 --html timeline.html");
    Ok(as_expected)
}
