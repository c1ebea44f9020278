//! `traffic-hook`: a CodeDeploy lifecycle hook Lambda, and its terminal commands.
//! All logic lives in the `traffic_hooks` library; this sets up and dispatches.

use clap::Parser;
use std::collections::BTreeMap;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;
use traffic_hooks::cli::{self, Cli, Command};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let env: BTreeMap<String, String> = std::env::vars().collect();
    match cli.command {
        Some(Command::Validate { config }) => {
            terminal_tracing();
            cli::validate(config, &env).await
        }
        Some(Command::Run(args)) => {
            terminal_tracing();
            cli::run(args, env).await
        }
        None if env.contains_key("AWS_LAMBDA_RUNTIME_API") => {
            traffic_hooks::lambda::init_logs();
            match traffic_hooks::lambda::serve(env, |hook, _| hook).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "runtime stopped");
                    ExitCode::FAILURE
                }
            }
        }
        None => {
            eprintln!("traffic-hook: no command, and AWS_LAMBDA_RUNTIME_API is not set (not in Lambda).\nTry `traffic-hook --help`.");
            ExitCode::from(cli::EXIT_INVALID)
        }
    }
}

/// Human-readable warnings on standard error; `RUST_LOG` shows more.
fn terminal_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
