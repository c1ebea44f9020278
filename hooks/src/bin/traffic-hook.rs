//! `traffic-hook`: a CodeDeploy lifecycle hook Lambda, and its terminal commands.
//! All logic lives in the `traffic_hooks` library; this sets up and dispatches.

use clap::Parser;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;
use traffic_hooks::cli::{self, Cli, Command};
use traffic_hooks::config::{source, ConfigSource};

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
        None if env.contains_key("AWS_LAMBDA_RUNTIME_API") => match lambda(env).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "runtime stopped");
                ExitCode::FAILURE
            }
        },
        None => {
            eprintln!("traffic-hook: no command, and AWS_LAMBDA_RUNTIME_API is not set (not in Lambda).\nTry `traffic-hook --help`.");
            ExitCode::from(cli::EXIT_INVALID)
        }
    }
}

fn terminal_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Lambda mode: JSON logs, config and SDK clients loaded once, then serve events.
async fn lambda(env: BTreeMap<String, String>) -> Result<(), lambda_runtime::Error> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_ansi(false)
        .with_env_filter(filter)
        .init();
    let sdk = traffic_hooks::aws::sdk_config().await;
    let ssm = traffic_hooks::aws::Ssm(aws_sdk_ssm::Client::new(&sdk));
    // A bad config must not stop the runtime: every event is then answered `Failed`.
    let config = match ConfigSource::from_env(|k| env.get(k).cloned()) {
        Some(src) => {
            tracing::info!(source = %src.describe(), "loading config");
            src.load(Some(&ssm)).await
        }
        None => Err(source::missing()),
    };
    if let Err(e) = &config {
        tracing::error!(error = %e, "config invalid: every event will be reported Failed");
    }
    let hook = traffic_hooks::aws::hook(&sdk, config)?
        .with_own_function(env.get("AWS_LAMBDA_FUNCTION_NAME").cloned())
        .with_env(env);
    let hook = std::sync::Arc::new(hook);
    lambda_runtime::run(service_fn(move |ev: LambdaEvent<Value>| {
        let hook = hook.clone();
        async move {
            let verdict = hook.handle(&ev.payload, ev.context.deadline()).await?;
            Ok::<Value, traffic_hooks::hook::HookError>(verdict.response())
        }
    }))
    .await
}
