//! The command line of every hook binary: raw flags (clap), then the modes.
//!
//! With no command and `AWS_LAMBDA_RUNTIME_API` set, the binary runs as a Lambda;
//! `validate` checks a config, `run` runs checks from a terminal without reporting.
//! Private: a binary reaches it through [`crate::main`], so clap stays out of the
//! library's public API.

use crate::check::Kinds;
use crate::config::{source, Config, ConfigError, ConfigSource};
use crate::deployment::{Deployment, Facts, Phase};
use crate::hook::{Stop, Verifier};
use crate::summary::StderrProgress;
use clap::{Parser, Subcommand, ValueEnum};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Reusable, configurable CodeDeploy PreTraffic/PostTraffic hooks for Lambda.
///
/// Without a command and with AWS_LAMBDA_RUNTIME_API set, runs as a Lambda function.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// What to do; none runs as a Lambda function.
    #[command(subcommand)]
    command: Option<Command>,
}

/// The terminal commands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Check a config and print every error with its field path (exit 0 valid, 2 invalid).
    Validate {
        /// The config file; default: TRAFFIC_HOOK_CONFIG, TRAFFIC_HOOK_CONFIG_FILE or TRAFFIC_HOOK_CONFIG_SSM.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The hook function's Lambda timeout: also fail when a phase's checks cannot
        /// finish within it (less report_reserve) at their worst case, e.g. `60s`.
        #[arg(long, value_parser = parse_duration)]
        timeout: Option<std::time::Duration>,
        /// With TRAFFIC_HOOK_CONFIG_SSM naming a parameter per function
        /// (`/traffic-hooks/{{function}}`): the function whose parameter to check.
        #[arg(long)]
        function: Option<String>,
        /// With a parameter per function and alias: the alias.
        #[arg(long)]
        alias: Option<String>,
    },
    /// Run the checks from a terminal and print a summary (exit 0 all pass, 1 otherwise).
    /// Nothing is reported to CodeDeploy.
    Run(RunArgs),
    /// Approve a deployment waiting at an `approval` gate: sets its SSM parameter
    /// (exit 0 set, 1 when SSM refused, 2 for a bad deployment id).
    Approve(DecideArgs),
    /// Reject a deployment waiting at an `approval` gate: the gate fails at once with
    /// the reason given.
    Reject(DecideArgs),
}

/// Flags of `approve` and `reject`.
#[derive(Debug, clap::Args)]
struct DecideArgs {
    /// The deployment (`d-XXXXXXXXX`).
    deployment_id: String,
    /// Why: shown in the hook's verdict.
    #[arg(long)]
    reason: Option<String>,
    /// Who decides; default: $USER.
    #[arg(long)]
    by: Option<String>,
    /// The parameter, when the check names its own (`approval.ssm`); default:
    /// /traffic-hooks/approvals/DEPLOYMENT_ID.
    #[arg(long)]
    parameter: Option<String>,
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    crate::duration::parse(text)
}

/// Flags of `run`.
#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The config file.
    #[arg(long)]
    config: PathBuf,
    /// The function under test (overrides the config's target.function).
    #[arg(long)]
    function: Option<String>,
    /// The alias (overrides target.alias).
    #[arg(long)]
    alias: Option<String>,
    /// The version serving now (overrides target.current_version).
    #[arg(long)]
    current_version: Option<String>,
    /// The version being deployed (overrides target.target_version).
    #[arg(long)]
    target_version: Option<String>,
    /// Run only this phase's checks; default: every check.
    #[arg(long, value_enum)]
    phase: Option<PhaseArg>,
}

/// `--phase` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum PhaseArg {
    /// PreTraffic (BeforeAllowTraffic).
    Pre,
    /// PostTraffic (AfterAllowTraffic).
    Post,
}

/// Exit code of `validate` for an invalid config, and of usage errors.
const EXIT_INVALID: u8 = 2;

/// Parses the command line and runs the mode it names.
pub(crate) async fn main(kinds: Kinds) -> ExitCode {
    let cli = Cli::parse();
    let env: BTreeMap<String, String> = std::env::vars().collect();
    match cli.command {
        Some(Command::Validate {
            config,
            timeout,
            function,
            alias,
        }) => {
            terminal_tracing();
            let target = Facts {
                function,
                alias,
                ..Facts::default()
            };
            validate(config, timeout, target, &env, &kinds).await
        }
        Some(Command::Run(args)) => {
            terminal_tracing();
            run(args, env, &kinds).await
        }
        Some(Command::Approve(args)) => {
            terminal_tracing();
            decide(args, "approved", &env).await
        }
        Some(Command::Reject(args)) => {
            terminal_tracing();
            decide(args, "rejected", &env).await
        }
        None if env.contains_key("AWS_LAMBDA_RUNTIME_API") => {
            crate::lambda::init_logs();
            match crate::lambda::serve(env, kinds).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "runtime stopped");
                    ExitCode::FAILURE
                }
            }
        }
        None => {
            let me = std::env::args()
                .next()
                .unwrap_or_else(|| "traffic-hook".into());
            eprintln!("{me}: no command, and AWS_LAMBDA_RUNTIME_API is not set (not in Lambda).\nTry `{me} --help`.");
            ExitCode::from(EXIT_INVALID)
        }
    }
}

/// Human-readable warnings on standard error; `RUST_LOG` shows more.
fn terminal_tracing() {
    use std::io::IsTerminal as _;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .finish()
        .with(crate::lambda::log_filter("warn"))
        .init();
}

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

/// `validate`.
async fn validate(
    config: Option<PathBuf>,
    timeout: Option<std::time::Duration>,
    target: Facts,
    env: &BTreeMap<String, String>,
    kinds: &Kinds,
) -> ExitCode {
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
    // A parameter per function: the function (and alias) given choose it.
    let source = match source {
        ConfigSource::Ssm(name) if crate::config::per_function::is_per_function(&name) => {
            let chosen = crate::config::per_function::PerFunction::new(
                &name,
                Arc::new(crate::aws::Ssm(crate::aws::Aws::new(
                    crate::aws::Chain::Local,
                ))),
                kinds.clone(),
                std::time::Duration::ZERO,
            )
            .and_then(|p| p.parameter(&Deployment::from_facts(None, target, "flags")));
            match chosen {
                Ok(parameter) => ConfigSource::Ssm(parameter),
                Err(e) => {
                    print_errors(&format!("{} (give --function)", source::ENV_SSM), &e);
                    return ExitCode::from(EXIT_INVALID);
                }
            }
        }
        other => other,
    };
    let origin = match &source {
        ConfigSource::File(p) => p.display().to_string(),
        other => other.describe(),
    };
    let ssm = match &source {
        ConfigSource::Ssm(_) => Some(crate::aws::Ssm(crate::aws::Aws::new(
            crate::aws::Chain::Local,
        ))),
        _ => None,
    };
    let loaded = source
        .load(
            ssm.as_ref()
                .map(|s| s as &dyn crate::config::ParameterStore),
            kinds,
        )
        .await;
    let problems = match (&loaded, timeout) {
        (Ok(c), Some(t)) => c.timing_problems(t),
        _ => Vec::new(),
    };
    match loaded {
        Ok(c) if problems.is_empty() => {
            let within = timeout
                .map(|t| format!(", all within a {} timeout", crate::duration::format(t)))
                .unwrap_or_default();
            println!("{origin}: valid, {} check(s){within}", c.checks.len());
            ExitCode::SUCCESS
        }
        Ok(_) => {
            print_errors(&origin, &ConfigError::new(problems));
            ExitCode::from(EXIT_INVALID)
        }
        Err(e) => {
            let e = if from_flag { named_by_flag(e) } else { e };
            print_errors(&origin, &e);
            ExitCode::from(EXIT_INVALID)
        }
    }
}

/// `approve` and `reject`: writes the decision where `approval` checks read it.
async fn decide(args: DecideArgs, state: &'static str, env: &BTreeMap<String, String>) -> ExitCode {
    use crate::check::approval::{default_parameter, Decision};
    use crate::check::ApprovalStore as _;
    let id = args.deployment_id.trim();
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if id.is_empty() || !id.chars().all(valid) {
        eprintln!(
            "error: deployment id `{}`: expected letters, digits, `-`, `_` or `.` (like d-ABCDEF123)",
            args.deployment_id.escape_debug()
        );
        return ExitCode::from(EXIT_INVALID);
    }
    let name = args.parameter.unwrap_or_else(|| default_parameter(id));
    let decision = Decision {
        state,
        by: args
            .by
            .or_else(|| env.get("USER").cloned())
            .unwrap_or_else(|| "unknown".to_owned()),
        at: aws_smithy_types::DateTime::from(std::time::SystemTime::now())
            .fmt(aws_smithy_types::date_time::Format::DateTime)
            .unwrap_or_default(),
        reason: args.reason,
    };
    let store = crate::aws::Ssm(crate::aws::Aws::new(crate::aws::Chain::Local));
    match store.write(&name, &decision.to_value()).await {
        Ok(()) => {
            println!("{id}: {state} by {} (SSM parameter {name})", decision.by);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {id} not {state}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `run`.
async fn run(args: RunArgs, env: BTreeMap<String, String>, kinds: &Kinds) -> ExitCode {
    let config = match ConfigSource::File(args.config.clone())
        .load(None, kinds)
        .await
    {
        Ok(c) => c,
        Err(e) => {
            // The contract: `run` exits 0 when all checks pass and 1 otherwise; an
            // unusable config is one of the "otherwise" (only `validate` uses 2).
            print_errors(&args.config.display().to_string(), &named_by_flag(e));
            return ExitCode::FAILURE;
        }
    };
    // AWS is reached only if a check needs it: HTTP checks run without a region.
    let effects = crate::aws::effects(&crate::aws::Aws::new(crate::aws::Chain::Local));
    let verifier = Verifier {
        env,
        ..Verifier::new(effects)
    };
    let verdict = verifier
        .verify(
            &config,
            deployment(&args, &config),
            &Stop::default(),
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
