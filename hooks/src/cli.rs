//! The `traffic-hook` command line: raw flags, then the two terminal commands.
//!
//! With no arguments and `AWS_LAMBDA_RUNTIME_API` set, the binary runs as a Lambda;
//! `validate` checks a config, `run` runs checks from a terminal without reporting.

use crate::config::{source, Config, ConfigError, ConfigSource};
use crate::deployment::{Deployment, Facts, Phase};
use crate::hook::Verifier;
use crate::summary::StderrProgress;
use clap::{Parser, Subcommand, ValueEnum};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Reusable, configurable CodeDeploy PreTraffic/PostTraffic hooks for Lambda.
///
/// Without a command and with AWS_LAMBDA_RUNTIME_API set, runs as a Lambda function.
#[derive(Debug, Parser)]
#[command(name = "traffic-hook", version)]
pub struct Cli {
    /// What to do; none runs as a Lambda function.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The terminal commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a config and print every error with its field path (exit 0 valid, 2 invalid).
    Validate {
        /// The config file; default: TRAFFIC_HOOK_CONFIG, TRAFFIC_HOOK_CONFIG_FILE or TRAFFIC_HOOK_CONFIG_SSM.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Run the checks from a terminal and print a summary (exit 0 all pass, 1 otherwise).
    /// Nothing is reported to CodeDeploy.
    Run(RunArgs),
}

/// Flags of `traffic-hook run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The config file.
    #[arg(long)]
    pub config: PathBuf,
    /// The function under test (overrides the config's target.function).
    #[arg(long)]
    pub function: Option<String>,
    /// The alias (overrides target.alias).
    #[arg(long)]
    pub alias: Option<String>,
    /// The version serving now (overrides target.current_version).
    #[arg(long)]
    pub current_version: Option<String>,
    /// The version being deployed (overrides target.target_version).
    #[arg(long)]
    pub target_version: Option<String>,
    /// Run only this phase's checks; default: every check.
    #[arg(long, value_enum)]
    pub phase: Option<PhaseArg>,
}

/// `--phase` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PhaseArg {
    /// PreTraffic (BeforeAllowTraffic).
    Pre,
    /// PostTraffic (AfterAllowTraffic).
    Post,
}

/// Exit code of `validate` for an invalid config, and of usage errors.
pub const EXIT_INVALID: u8 = 2;

/// A file named with `--config` is not `TRAFFIC_HOOK_CONFIG_FILE`: say `--config`.
fn named_by_flag(mut e: ConfigError) -> ConfigError {
    for err in &mut e.errors {
        if err.path == source::ENV_FILE {
            err.path = "--config".to_owned();
        }
    }
    e
}

fn print_errors(origin: &str, e: &ConfigError) {
    eprintln!("{origin}: invalid config, {} error(s):", e.errors.len());
    for err in &e.errors {
        eprintln!("  {err}");
    }
}

/// `traffic-hook validate`.
pub async fn validate(config: Option<PathBuf>, env: &BTreeMap<String, String>) -> ExitCode {
    let from_flag = config.is_some();
    let source = match config {
        Some(path) => ConfigSource::File(path),
        None => match ConfigSource::from_env(|k| env.get(k).cloned()) {
            Some(s) => s,
            None => {
                print_errors("(environment)", &source::missing());
                return ExitCode::from(EXIT_INVALID);
            }
        },
    };
    let origin = match &source {
        ConfigSource::File(p) => p.display().to_string(),
        other => other.describe(),
    };
    let ssm = match &source {
        ConfigSource::Ssm(_) => Some(crate::aws::Ssm(aws_sdk_ssm::Client::new(
            &crate::aws::sdk_config_local().await,
        ))),
        _ => None,
    };
    match source
        .load(
            ssm.as_ref()
                .map(|s| s as &dyn crate::config::ParameterStore),
        )
        .await
    {
        Ok(c) => {
            println!("{origin}: valid, {} check(s)", c.checks.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            let e = if from_flag { named_by_flag(e) } else { e };
            print_errors(&origin, &e);
            ExitCode::from(EXIT_INVALID)
        }
    }
}

/// `traffic-hook run`.
pub async fn run(args: RunArgs, env: BTreeMap<String, String>) -> ExitCode {
    let config = match ConfigSource::File(args.config.clone()).load(None).await {
        Ok(c) => c,
        Err(e) => {
            // The contract: `run` exits 0 when all checks pass and 1 otherwise; an
            // unusable config is one of the "otherwise" (only `validate` uses 2).
            print_errors(&args.config.display().to_string(), &named_by_flag(e));
            return ExitCode::FAILURE;
        }
    };
    let sdk = crate::aws::sdk_config_local().await;
    let effects = match crate::aws::effects(&sdk) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let verifier = Verifier {
        env,
        ..Verifier::new(effects)
    };
    let verdict = verifier
        .verify(
            &config,
            deployment(&args, &config),
            None,
            Arc::new(StderrProgress),
        )
        .await;
    print!("{}", verdict.table());
    // A terminal run reports nothing, so a global `dry_run` does not soften its exit
    // code: 0 only when no check blocks. Per-check dry runs still never block.
    if verdict.checks.iter().any(|c| c.blocks()) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The deployment a terminal run verifies: flags first, then the config's `target:`.
fn deployment(args: &RunArgs, config: &Config) -> Deployment {
    let flags = Facts {
        function: args.function.clone(),
        alias: args.alias.clone(),
        current_version: args.current_version.clone(),
        target_version: args.target_version.clone(),
        target_weight: None,
        phase: args.phase.map(|p| match p {
            PhaseArg::Pre => Phase::Pre,
            PhaseArg::Post => Phase::Post,
        }),
    };
    let mut d = Deployment::from_facts(None, flags, "command line");
    d.merge("config target", config.target.clone());
    if d.facts.phase.is_none() {
        d.notes
            .push("no --phase: running the checks of every phase".to_owned());
    }
    d
}
