//! Where the config text comes from: `TRAFFIC_HOOK_CONFIG` (inline),
//! `TRAFFIC_HOOK_CONFIG_FILE` (a path) or `TRAFFIC_HOOK_CONFIG_SSM` (a parameter), first found.

use super::ConfigError;
use crate::check::Kinds;
use crate::error::EffectError;
use async_trait::async_trait;
use std::path::PathBuf;

/// Inline config text.
pub(crate) const ENV_INLINE: &str = "TRAFFIC_HOOK_CONFIG";
/// Path of a config file.
pub(crate) const ENV_FILE: &str = "TRAFFIC_HOOK_CONFIG_FILE";
/// Name of an SSM parameter holding the config.
pub(crate) const ENV_SSM: &str = "TRAFFIC_HOOK_CONFIG_SSM";

/// Reads SSM parameters, behind a trait so tests can fake it.
#[async_trait]
pub(crate) trait ParameterStore: Send + Sync {
    /// The value of `name`, SecureStrings decrypted.
    async fn get(&self, name: &str) -> Result<String, EffectError>;

    /// The value of `name` with its version and last-modified time, where the store
    /// tells them (the skip switch logs them).
    async fn parameter(&self, name: &str) -> Result<Parameter, EffectError> {
        Ok(Parameter {
            value: self.get(name).await?,
            version: None,
            last_modified: None,
        })
    }
}

/// A parameter's value and what the store says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parameter {
    /// Its value.
    pub(crate) value: String,
    /// Its version.
    pub(crate) version: Option<i64>,
    /// When it was last modified (RFC 3339).
    pub(crate) last_modified: Option<String>,
}

/// A place a config can be read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConfigSource {
    /// The text itself.
    Inline(String),
    /// A file.
    File(PathBuf),
    /// An SSM parameter name.
    Ssm(String),
}

impl ConfigSource {
    /// The first source set in the environment, read through `lookup` (so tests need
    /// no `set_var`). Empty values count as unset.
    pub(crate) fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let get = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
        get(ENV_INLINE)
            .map(Self::Inline)
            .or_else(|| get(ENV_FILE).map(|p| Self::File(PathBuf::from(p))))
            .or_else(|| get(ENV_SSM).map(Self::Ssm))
    }

    /// Where the text comes from, for messages (never the text itself: it may hold secrets).
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Inline(_) => ENV_INLINE.to_owned(),
            Self::File(p) => format!("{ENV_FILE}={}", p.display()),
            Self::Ssm(name) => format!("{ENV_SSM}={name}"),
        }
    }

    /// Reads the text. `ssm` is needed only for [`ConfigSource::Ssm`].
    pub(crate) async fn read(
        &self,
        ssm: Option<&dyn ParameterStore>,
    ) -> Result<String, ConfigError> {
        match self {
            Self::Inline(text) => Ok(text.clone()),
            Self::File(path) => read_file(path).await.map_err(|e| {
                ConfigError::single(ENV_FILE, format!("cannot read {}: {e}", path.display()))
            }),
            Self::Ssm(name) => match ssm {
                None => Err(ConfigError::single(ENV_SSM, "no SSM client available")),
                Some(store) => store.get(name).await.map_err(|e| {
                    ConfigError::single(
                        ENV_SSM,
                        format!("cannot read parameter {name}: {}", e.message),
                    )
                }),
            },
        }
    }

    /// Reads and validates.
    pub(crate) async fn load(
        &self,
        ssm: Option<&dyn ParameterStore>,
        kinds: &Kinds,
    ) -> Result<super::Config, ConfigError> {
        super::Config::parse(&self.read(ssm).await?, kinds)
    }
}

/// Reads a config file of at most [`MAX_CONFIG_BYTES`](super::strict::MAX_CONFIG_BYTES).
async fn read_file(path: &std::path::Path) -> Result<String, String> {
    let bytes = crate::bounded::read_file(path, super::strict::MAX_CONFIG_BYTES).await?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "it is not UTF-8 text (invalid byte at offset {}): a binary file?",
            e.utf8_error().valid_up_to()
        )
    })
}

/// The error for an environment with no config source.
pub(crate) fn missing() -> ConfigError {
    ConfigError::single(
        "(environment)",
        format!("no config: set {ENV_INLINE} (YAML or JSON), {ENV_FILE} (a path) or {ENV_SSM} (an SSM parameter name)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn first_set_source_wins_and_empty_counts_as_unset() {
        let env = HashMap::from([(ENV_INLINE, ""), (ENV_FILE, "/c.yaml"), (ENV_SSM, "/p")]);
        let src = ConfigSource::from_env(|k| env.get(k).map(|v| v.to_string()));
        assert_eq!(src, Some(ConfigSource::File("/c.yaml".into())));
        assert_eq!(ConfigSource::from_env(|_| None), None);
    }

    #[tokio::test]
    async fn unreadable_file_names_the_variable_and_path() {
        let err = ConfigSource::File("/nonexistent/x.yaml".into())
            .load(None, &Kinds::builtin())
            .await
            .unwrap_err();
        assert_eq!(err.errors[0].path, ENV_FILE);
        assert!(err.errors[0].message.contains("/nonexistent/x.yaml"));
    }
}
