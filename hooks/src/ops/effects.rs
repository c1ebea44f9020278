//! The outside effects of operations, each a small trait with a typed error so tests
//! use fakes: SNS `Publish`, and Lambda's versions and aliases for pruning. (The skip
//! switch reads SSM through the config's `ParameterStore`, which the hook holds;
//! notifications by webhook go through [`crate::check::HttpSender`].)

use crate::error::EffectError;
use async_trait::async_trait;
use std::sync::Arc;

/// SNS `Publish`.
#[async_trait]
pub(crate) trait Publisher: Send + Sync {
    /// Publishes `message` (with `subject`) to `topic_arn`.
    async fn publish(
        &self,
        topic_arn: &str,
        subject: &str,
        message: &str,
    ) -> Result<(), EffectError>;
}

/// An alias of a function: the version it points to and, during a traffic shift, the
/// additional version that gets a share of its calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AliasInfo {
    /// Its name.
    pub(crate) name: String,
    /// The version it points to.
    pub(crate) version: String,
    /// `RoutingConfig.AdditionalVersionWeights`' versions.
    pub(crate) additional: Vec<String>,
}

/// Lambda's versions of a function: `ListVersionsByFunction`, `ListAliases`,
/// `DeleteFunction` with a qualifier.
#[async_trait]
pub(crate) trait Versions: Send + Sync {
    /// Every version of `function`, `$LATEST` included.
    async fn versions(&self, function: &str) -> Result<Vec<String>, EffectError>;
    /// Every alias of `function`.
    async fn aliases(&self, function: &str) -> Result<Vec<AliasInfo>, EffectError>;
    /// Deletes `version` of `function`.
    async fn delete(&self, function: &str, version: &str) -> Result<(), EffectError>;
}

/// The effects operations need, all optional: a hook without them skips what needs
/// them and says so in the log.
#[derive(Clone, Default)]
pub(crate) struct OpsEffects {
    /// SNS.
    pub(crate) sns: Option<Arc<dyn Publisher>>,
    /// Lambda versions.
    pub(crate) versions: Option<Arc<dyn Versions>>,
}
