//! `make bench`: what a hook costs, each figure beside a reference measured in the
//! same run (see `traffic_hooks_testkit::bench` and docs/performance.md).

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use traffic_hooks_testkit::bench::{render, run, Options};

/// Measures the release hook against wrk, hey and a bare lambda_runtime hello world.
#[derive(Parser)]
struct Args {
    /// The traffic-hook binary to measure.
    #[arg(long)]
    hook: PathBuf,
    /// The bare lambda_runtime hello world, built with the same profile.
    #[arg(long)]
    hello: PathBuf,
    /// Another build of the hook whose size to report (arm64).
    #[arg(long)]
    size_of: Vec<PathBuf>,
    /// Rates to compare `load` at, requests per second.
    #[arg(long, value_delimiter = ',', default_value = "10000,20000")]
    rates: Vec<u32>,
    /// Seconds of each load run.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Load runs per client and rate (the median is reported).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Cold starts of each binary (the median is reported).
    #[arg(long, default_value_t = 40)]
    starts: usize,
    /// Warm invocations for the RSS and overhead figures.
    #[arg(long, default_value_t = 200)]
    invocations: usize,
    /// A short pass that checks the harness works; goals are not judged.
    #[arg(long)]
    smoke: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let a = Args::parse();
    let opts = Options {
        hook: a.hook,
        hello: a.hello,
        others: a.size_of,
        rates: a.rates,
        seconds: a.seconds,
        rounds: a.rounds,
        starts: a.starts,
        invocations: a.invocations,
        smoke: a.smoke,
    };
    match run(&opts).await {
        Ok(figures) => {
            let (table, met) = render(&figures);
            print!("{table}");
            if opts.smoke || met {
                ExitCode::SUCCESS
            } else {
                eprintln!("bench: a goal was missed");
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}
