//! Lambda mode: JSON logs, the config and SDK clients loaded once, then serve events.
//!
//! Every hook binary reaches [`serve`] through [`crate::main`], with its kinds.

use crate::check::Kinds;
use crate::config::per_function::{self, PerFunction};
use crate::config::{source, ConfigSource};
use crate::hook::{Configs, HookError, CONFIG_READ_TIMEOUT};
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// JSON logs, one object per line, fit for CloudWatch Logs Insights; `RUST_LOG`
/// overrides the default level `info`.
pub(crate) fn init_logs() {
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_ansi(false)
        .finish()
        .with(log_filter("info"))
        .init();
}

/// `RUST_LOG` as targets and levels (`info`, `warn,traffic_hooks=debug`), else
/// `default`. Targets, not regular expressions: that is all a hook's logs need, and
/// the regex engine behind `EnvFilter` is a quarter of a megabyte of binary.
pub(crate) fn log_filter(default: &str) -> tracing_subscriber::filter::Targets {
    let parse = |s: &str| s.parse::<tracing_subscriber::filter::Targets>().ok();
    std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| parse(&v))
        .or_else(|| parse(default))
        .unwrap_or_default()
}

/// Loads the config and SDK clients once and serves lifecycle events until the runtime
/// stops. A bad config does not stop the runtime: every event is then answered with
/// `Failed` and the config error.
pub(crate) async fn serve(
    env: BTreeMap<String, String>,
    kinds: Kinds,
) -> Result<(), lambda_runtime::Error> {
    // Nothing AWS is loaded here unless the config itself is in SSM: the SDK config
    // and clients are made when the first event needs them.
    let aws = crate::aws::Aws::new(crate::aws::Chain::Lambda);
    let ssm = crate::aws::Ssm(aws.clone());
    let configs: Configs = match ConfigSource::from_env(|k| env.get(k).cloned()) {
        // One config per function: read per event, once the function is known.
        Some(ConfigSource::Ssm(name)) if per_function::is_per_function(&name) => {
            tracing::info!(parameter = %name, "a config per function");
            match per_function::ttl(env.get(per_function::ENV_TTL).map(String::as_str))
                .and_then(|ttl| PerFunction::new(&name, Arc::new(ssm), kinds, ttl))
            {
                Ok(p) => Configs::PerFunction(p),
                Err(e) => Configs::One(Err(e)),
            }
        }
        Some(src) => Configs::One(load(&src, &ssm, &kinds).await),
        None => Configs::One(Err(source::missing())),
    };
    if let Configs::One(Err(e)) = &configs {
        tracing::error!(error = %e, "config invalid: every event will be reported Failed");
    }
    let hook = crate::aws::hook(&aws, configs)
        .with_own_function(env.get("AWS_LAMBDA_FUNCTION_NAME").cloned())
        .with_own_version(env.get("AWS_LAMBDA_FUNCTION_VERSION").cloned())
        .with_env(env)
        .with_check_runtime(crate::check_runtime::CheckRuntime::separate());
    let hook = Arc::new(hook);
    tokio::spawn(stop_on_sigterm(hook.clone()));
    lambda_runtime::run(service_fn(move |ev: LambdaEvent<Value>| {
        let hook = hook.clone();
        async move {
            if let Some(spec) = ev.payload.get(crate::check::load::WORKER_FIELD) {
                return hook.work(spec).await;
            }
            let verdict = hook.handle(&ev.payload, ev.context.deadline()).await?;
            Ok::<Value, HookError>(verdict.response())
        }
    }))
    .await
}

/// Reads the one config, bounded: a stalled read must not keep the runtime from
/// answering events.
async fn load(
    src: &ConfigSource,
    ssm: &crate::aws::Ssm,
    kinds: &Kinds,
) -> Result<crate::config::Config, crate::config::ConfigError> {
    tracing::info!(source = %src.describe(), "loading config");
    match tokio::time::timeout(CONFIG_READ_TIMEOUT, src.load(Some(ssm), kinds)).await {
        Ok(loaded) => loaded,
        Err(_) => Err(crate::config::ConfigError::single(
            src.describe(),
            format!(
                "no answer within {}",
                crate::duration::format(CONFIG_READ_TIMEOUT)
            ),
        )),
    }
}

/// On SIGTERM (the sandbox is shutting down): stop the checks in flight, let their
/// verdict be reported, then exit. An idle process exits at once.
async fn stop_on_sigterm(hook: Arc<crate::hook::Hook>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        tracing::warn!("cannot listen for SIGTERM");
        return;
    };
    term.recv().await;
    tracing::warn!("SIGTERM: stopping the checks in flight, reporting, then exiting");
    hook.interrupt();
    hook.wait_idle(std::time::Duration::from_secs(5)).await;
    // Leave the runtime a moment to post the response of the last invocation.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    std::process::exit(0);
}
