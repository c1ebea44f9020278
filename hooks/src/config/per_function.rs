//! One hook for many functions: a config per function, from the SSM parameter that
//! `TRAFFIC_HOOK_CONFIG_SSM` names with `{{function}}` (and `{{alias}}`) in it, chosen per
//! event after discovery and cached per parameter for `TRAFFIC_HOOK_CONFIG_TTL`.
//!
//! A missing or invalid parameter fails only the events of its functions, with a
//! reason that names it; other functions' events are untouched.

use super::{Config, ConfigError, ParameterStore};
use crate::check::Kinds;
use crate::deployment::{function_name, Deployment};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// The variable that names the cache's lifetime.
pub(crate) const ENV_TTL: &str = "TRAFFIC_HOOK_CONFIG_TTL";

/// How long a parameter read is reused when `TRAFFIC_HOOK_CONFIG_TTL` is not set.
pub(crate) const DEFAULT_TTL: Duration = Duration::from_secs(60);

/// How many parameters' configs are kept (a fleet of hundreds stays bounded).
const CACHED: usize = 256;

/// Whether a parameter name is chosen per function.
pub(crate) fn is_per_function(name: &str) -> bool {
    name.contains("{{")
}

/// A parameter's config and when it was read.
type Cached = (Instant, Arc<Result<Config, ConfigError>>);

/// Configs read per function.
pub(crate) struct PerFunction {
    template: String,
    store: Arc<dyn ParameterStore>,
    kinds: Kinds,
    ttl: Duration,
    cache: Mutex<HashMap<String, Cached>>,
}

impl PerFunction {
    /// Configs from parameters named by `template`; only `{{function}}` and `{{alias}}`
    /// may appear in it.
    pub(crate) fn new(
        template: &str,
        store: Arc<dyn ParameterStore>,
        kinds: Kinds,
        ttl: Duration,
    ) -> Result<Self, ConfigError> {
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            let after = &rest[start + 2..];
            let end = after.find("}}").ok_or_else(|| {
                ConfigError::single(super::source::ENV_SSM, "`{{` without closing `}}`")
            })?;
            let name = after[..end].trim();
            if !matches!(name, "function" | "alias") {
                return Err(ConfigError::single(
                    super::source::ENV_SSM,
                    format!("`{{{{{name}}}}}` cannot choose a parameter: use {{{{function}}}} or {{{{alias}}}}"),
                ));
            }
            rest = &after[end + 2..];
        }
        Ok(Self {
            template: template.to_owned(),
            store,
            kinds,
            ttl,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The parameter for `deployment`'s function and alias.
    pub(crate) fn parameter(&self, deployment: &Deployment) -> Result<String, ConfigError> {
        let f = &deployment.facts;
        let mut out = String::new();
        let mut rest = self.template.as_str();
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find("}}").unwrap_or(after.len());
            let (value, what) = match after[..end].trim() {
                "alias" => (f.alias.as_deref(), "alias"),
                _ => (f.function.as_deref().map(function_name), "function"),
            };
            let value = value.ok_or_else(|| {
                ConfigError::single(
                    super::source::ENV_SSM,
                    format!("cannot choose the config parameter `{}`: the deployment's {what} is unknown", self.template),
                )
            })?;
            out.push_str(value);
            rest = after.get(end + 2..).unwrap_or_default();
        }
        out.push_str(rest);
        Ok(out)
    }

    /// The config in parameter `name`: from the cache while fresh, else read, within
    /// `within`.
    pub(crate) async fn config(
        &self,
        name: &str,
        within: Duration,
    ) -> Arc<Result<Config, ConfigError>> {
        if let Some((at, config)) = self.cached(name) {
            if at.elapsed() < self.ttl {
                return config;
            }
        }
        let read = tokio::time::timeout(within, self.store.get(name)).await;
        let text = match read {
            // A read that failed is not cached: the next event reads again, so a
            // parameter created (or a throttle passed) takes effect at once.
            Err(_) => {
                return Arc::new(Err(ConfigError::single(
                    super::source::ENV_SSM,
                    format!(
                        "cannot read parameter {name}: no answer within {}",
                        crate::duration::format(within)
                    ),
                )))
            }
            Ok(Err(e)) => {
                return Arc::new(Err(ConfigError::single(
                    super::source::ENV_SSM,
                    format!("cannot read parameter {name}: {}", e.message),
                )))
            }
            Ok(Ok(text)) => text,
        };
        // What was read is cached, valid or not: its text is what the TTL refreshes.
        let config = Arc::new(
            Config::parse(&text, &self.kinds)
                .map_err(|e| e.with_origin(format!("parameter {name}"))),
        );
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= CACHED && !cache.contains_key(name) {
            // Forget the oldest: a fleet larger than the cache reads a little more often.
            if let Some(oldest) = cache
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone())
            {
                cache.remove(&oldest);
            }
        }
        cache.insert(name.to_owned(), (Instant::now(), config.clone()));
        config
    }

    fn cached(&self, name: &str) -> Option<Cached> {
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }
}

/// `TRAFFIC_HOOK_CONFIG_TTL` read as a duration.
pub(crate) fn ttl(value: Option<&str>) -> Result<Duration, ConfigError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(DEFAULT_TTL),
        Some(v) => crate::duration::parse(v).map_err(|e| ConfigError::single(ENV_TTL, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployment::Facts;
    use crate::error::EffectError;
    use async_trait::async_trait;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// `/hooks/orders-api` holds a config; anything else is missing. Counts reads.
    #[derive(Default)]
    struct Store(AtomicU32);

    #[async_trait]
    impl ParameterStore for Store {
        async fn get(&self, name: &str) -> Result<String, EffectError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            match name {
                "/hooks/orders-api" => Ok("checks: [ { name: a, invoke: {} } ]".into()),
                "/hooks/broken" => Ok("checks: [ { name: a } ]".into()),
                _ => Err(EffectError::new(
                    "GetParameter",
                    "ParameterNotFound: no such parameter",
                )),
            }
        }
    }

    fn deployment(function: &str) -> Deployment {
        Deployment::from_facts(
            None,
            Facts {
                function: Some(format!("arn:aws:lambda:us-east-1:1:function:{function}")),
                alias: Some("live".into()),
                ..Facts::default()
            },
            "test",
        )
    }

    fn per_function(store: Arc<Store>, ttl: Duration) -> PerFunction {
        PerFunction::new("/hooks/{{function}}", store, Kinds::builtin(), ttl).unwrap()
    }

    #[test]
    fn the_parameter_is_named_by_the_function_and_alias() {
        let p = PerFunction::new(
            "/x/{{ function }}/{{alias}}",
            Arc::new(Store::default()),
            Kinds::builtin(),
            DEFAULT_TTL,
        )
        .unwrap();
        assert_eq!(
            p.parameter(&deployment("orders-api")).unwrap(),
            "/x/orders-api/live"
        );
        let unknown = p.parameter(&Deployment::default()).unwrap_err();
        assert!(
            unknown
                .to_string()
                .contains("the deployment's function is unknown"),
            "{unknown}"
        );
        let bad = PerFunction::new(
            "/x/{{env.A}}",
            Arc::new(Store::default()),
            Kinds::builtin(),
            DEFAULT_TTL,
        )
        .err()
        .unwrap();
        assert!(
            bad.to_string().contains("use {{function}} or {{alias}}"),
            "{bad}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn configs_are_cached_for_the_ttl_then_read_again() {
        let store = Arc::new(Store::default());
        let p = per_function(store.clone(), Duration::from_secs(60));
        let within = Duration::from_secs(10);
        assert!(p.config("/hooks/orders-api", within).await.is_ok());
        tokio::time::advance(Duration::from_secs(59)).await;
        assert!(p.config("/hooks/orders-api", within).await.is_ok());
        assert_eq!(store.0.load(Ordering::SeqCst), 1, "cached");
        tokio::time::advance(Duration::from_secs(2)).await;
        p.config("/hooks/orders-api", within).await;
        assert_eq!(
            store.0.load(Ordering::SeqCst),
            2,
            "read again after the TTL"
        );
    }

    #[tokio::test]
    async fn a_missing_or_invalid_parameter_is_named_in_the_error() {
        let p = per_function(Arc::new(Store::default()), DEFAULT_TTL);
        let missing = p.config("/hooks/nope", Duration::from_secs(1)).await;
        let e = missing.as_ref().as_ref().unwrap_err().to_string();
        assert!(
            e.contains("cannot read parameter /hooks/nope: ParameterNotFound"),
            "{e}"
        );
        let broken = p.config("/hooks/broken", Duration::from_secs(1)).await;
        let e = broken.as_ref().as_ref().unwrap_err().to_string();
        assert!(
            e.starts_with("invalid config in parameter /hooks/broken (1 error)"),
            "{e}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_parameter_that_could_not_be_read_is_read_again_on_the_next_event() {
        let store = Arc::new(Store::default());
        let p = per_function(store.clone(), Duration::from_secs(60));
        let within = Duration::from_secs(1);
        assert!(p.config("/hooks/nope", within).await.is_err());
        assert!(p.config("/hooks/nope", within).await.is_err());
        assert_eq!(store.0.load(Ordering::SeqCst), 2, "not cached");
        // An invalid config was read: it is cached like a valid one.
        assert!(p.config("/hooks/broken", within).await.is_err());
        assert!(p.config("/hooks/broken", within).await.is_err());
        assert_eq!(store.0.load(Ordering::SeqCst), 3, "cached");
    }

    #[test]
    fn the_ttl_is_a_duration() {
        assert_eq!(ttl(None).unwrap(), DEFAULT_TTL);
        assert_eq!(ttl(Some("5s")).unwrap(), Duration::from_secs(5));
        assert!(ttl(Some("5"))
            .unwrap_err()
            .to_string()
            .contains("TRAFFIC_HOOK_CONFIG_TTL: `5` has no unit"));
    }
}
