//! Check kinds and their registry: a kind is one type, listed once.
//!
//! A [`Kind`] names the key a check uses in the config (`http`, `invoke`, your own
//! `no-freeze`), reads and validates that section into itself, and builds the
//! [`Check`] that measures. The config loader, `validate`, the summary and the docs
//! all learn about kinds from [`Kinds`], so a new kind is one file and one line,
//! built-in or yours.

use super::{Check, Effects, Timing};
use crate::deployment::Deployment;
use crate::diag::{Errors, Fields};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, PoisonError};

/// A kind's section of one check.
#[derive(Debug, Clone, Copy)]
pub struct Section<'a> {
    /// The section with its `{{variables}}` rendered: placeholders while validating,
    /// the deployment's values while building.
    pub value: &'a Value,
    /// The section as written (to tell a URL that is one `{{variable}}`, say).
    pub raw: &'a Value,
    /// Its field path, e.g. `checks[2].http`.
    pub path: &'a str,
}

impl<'a> Section<'a> {
    /// Walks the rendered section field by field; keys outside `known` are reported.
    /// Every field's problem is reported, not only the first.
    pub fn fields(&self, known: &[&str], errors: &'a mut Errors) -> Fields<'a> {
        Fields::new(self.value, self.path, known, errors)
    }

    /// Reads the rendered section as a serde type (an empty section reads as `{}`);
    /// a failure is recorded with its path. Serde stops at the first problem; use
    /// [`Section::fields`] to report them all.
    pub fn deserialize<T: DeserializeOwned>(&self, errors: &mut Errors) -> Option<T> {
        if self.value.is_null() {
            errors.de(&Value::Object(Default::default()), self.path)
        } else {
            errors.de(self.value, self.path)
        }
    }
}

/// Why a configured check cannot be built for this deployment (a variable without a
/// value, an unknown version). The check fails on its own; the others still run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BuildError(String);

impl BuildError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// What building a check can use besides its section.
pub struct BuildContext<'a> {
    /// What is being deployed.
    pub deployment: &'a Deployment,
    /// The check's repetitions and limits (`timeout` is the per-measurement limit).
    pub timing: Timing,
    pub(crate) effects: &'a Effects,
}

#[cfg(feature = "aws")]
impl BuildContext<'_> {
    /// The hook's shared AWS SDK config. `None` where checks are built without AWS
    /// (`validate --timeout`).
    pub fn sdk_config(&self) -> Option<&aws_config::SdkConfig> {
        self.effects.aws.as_ref().and_then(|aws| aws.loaded())
    }

    /// A value made once per hook process from the shared AWS SDK config and reused
    /// by every later invocation: an SDK client, typically
    /// (`cx.shared(aws_sdk_lambda::Client::new)`). One value per type.
    pub fn shared<T: Clone + Send + Sync + 'static>(
        &self,
        make: impl FnOnce(&aws_config::SdkConfig) -> T,
    ) -> Result<T, BuildError> {
        let mut cache = self
            .effects
            .shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(v) = cache
            .get(&TypeId::of::<T>())
            .and_then(|v| v.downcast_ref::<T>())
        {
            return Ok(v.clone());
        }
        let sdk = self.sdk_config().ok_or_else(|| {
            BuildError::new("no AWS config here (checks are only being validated)")
        })?;
        let value = make(sdk);
        cache.insert(TypeId::of::<T>(), Box::new(value.clone()));
        Ok(value)
    }
}

/// Values made once per hook process, by type (see [`BuildContext::shared`]).
pub(crate) type Shared = Arc<Mutex<HashMap<TypeId, Box<dyn Any + Send + Sync>>>>;

/// A kind of check: the key it has in a check, its section read into `Self`, and the
/// measuring part it builds.
///
/// The common fields (`name`, `phase`, `expect`, `count`, `interval`, `timeout`,
/// `dry_run`, ...) are handled for every kind; a kind sees only its own section.
///
/// ```
/// use serde::Deserialize;
/// use std::sync::Arc;
/// use traffic_hooks::{async_trait, BuildContext, BuildError, Check, CheckContext, Errors, Kind, MeasureError, Section};
///
/// /// `no-freeze: { flag: checkout }`
/// #[derive(Deserialize)]
/// #[serde(deny_unknown_fields)]
/// struct NoFreeze { flag: String }
///
/// struct NoFreezeCheck { flag: String }
///
/// #[async_trait]
/// impl Check for NoFreezeCheck {
///     async fn measure(&self, _: &CheckContext) -> Result<serde_json::Value, MeasureError> {
///         Ok(serde_json::json!({ "flag": self.flag, "frozen": false }))
///     }
/// }
///
/// impl Kind for NoFreeze {
///     const NAME: &'static str = "no-freeze";
///     fn parse(section: &Section<'_>, errors: &mut Errors) -> Option<Self> {
///         section.deserialize(errors)
///     }
///     fn default_expect(&self) -> Option<&'static str> {
///         Some("frozen == `false`")
///     }
///     fn build(self, _: &BuildContext<'_>) -> Result<Arc<dyn Check>, BuildError> {
///         Ok(Arc::new(NoFreezeCheck { flag: self.flag }))
///     }
/// }
/// ```
pub trait Kind: Sized + Send + Sync + 'static {
    /// The key in a check (`http`, `no-freeze`).
    const NAME: &'static str;

    /// Reads the section, pushing every problem to `errors` with its path; `None`
    /// when it has one. [`Section::deserialize`] does it for a serde type.
    fn parse(section: &Section<'_>, errors: &mut Errors) -> Option<Self>;

    /// The `expect` used when a check gives none; `None` makes `expect` required.
    fn default_expect(&self) -> Option<&'static str> {
        None
    }

    /// The `until` used when a check gives none: a kind that waits for something
    /// (an approval) keeps measuring until it holds. `None`: judge every measurement.
    fn default_until(&self) -> Option<&'static str> {
        None
    }

    /// Builds the measuring part for this deployment.
    fn build(self, cx: &BuildContext<'_>) -> Result<Arc<dyn Check>, BuildError>;
}

/// What a kind gives a check that does not set it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Defaults {
    /// The default `expect`; `None`: the check must set one.
    pub(crate) expect: Option<&'static str>,
    /// The default `until`; `None`: none.
    pub(crate) until: Option<&'static str>,
}

/// A kind as the registry holds it.
pub(crate) trait DynKind: Send + Sync {
    /// The key in a check.
    fn name(&self) -> &'static str;

    /// Reads the section: its defaults when it is valid.
    fn validate(&self, section: &Section<'_>, errors: &mut Errors) -> Option<Defaults>;

    /// Builds the measuring part and says the defaults.
    fn build(
        &self,
        section: &Section<'_>,
        cx: &BuildContext<'_>,
    ) -> Result<(Arc<dyn Check>, Defaults), BuildError>;
}

fn defaults<K: Kind>(kind: &K) -> Defaults {
    Defaults {
        expect: kind.default_expect(),
        until: kind.default_until(),
    }
}

struct Typed<K>(PhantomData<fn() -> K>);

impl<K: Kind> DynKind for Typed<K> {
    fn name(&self) -> &'static str {
        K::NAME
    }

    fn validate(&self, section: &Section<'_>, errors: &mut Errors) -> Option<Defaults> {
        K::parse(section, errors).map(|k| defaults(&k))
    }

    fn build(
        &self,
        section: &Section<'_>,
        cx: &BuildContext<'_>,
    ) -> Result<(Arc<dyn Check>, Defaults), BuildError> {
        let mut errors = Errors::default();
        let kind =
            K::parse(section, &mut errors).ok_or_else(|| BuildError::new(errors.since(0)))?;
        let default = defaults(&kind);
        let check = kind
            .build(cx)
            .map_err(|e| BuildError::new(format!("{}: {e}", section.path)))?;
        Ok((check, default))
    }
}

/// The fields of a check that say how it measures; `defaults:` takes these too.
pub(crate) const TIMING_FIELDS: [&str; 6] = [
    "timeout",
    "count",
    "interval",
    "initial_delay",
    "failure_limit",
    "consecutive_error_limit",
];

/// The other fields every check has.
pub(crate) const CHECK_FIELDS: [&str; 6] =
    ["name", "phase", "expect", "until", "dry_run", "functions"];

/// The kinds a config may use: the built-ins, plus yours.
///
/// ```
/// # use traffic_hooks::Kinds;
/// let kinds = Kinds::builtin();
/// assert_eq!(kinds.names().collect::<Vec<_>>(), ["invoke", "http", "compare", "alarms", "metric", "load", "approval"]);
/// ```
#[derive(Clone)]
pub struct Kinds {
    list: Vec<Arc<dyn DynKind>>,
    /// How many of `list`, from the start, are built-in: they need nothing of AWS to
    /// be built (their effects reach AWS at the first call), where users' kinds may
    /// use [`BuildContext::sdk_config`].
    builtin: usize,
}

impl fmt::Debug for Kinds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl Default for Kinds {
    fn default() -> Self {
        Self::builtin()
    }
}

impl Kinds {
    /// The built-in kinds: `invoke`, `http`, `compare`, `alarms`, `metric`, `load`,
    /// `approval`.
    pub fn builtin() -> Self {
        let kinds = super::builtin(Self {
            list: Vec::new(),
            builtin: 0,
        });
        Self {
            builtin: kinds.list.len(),
            ..kinds
        }
    }

    /// Adds the kind `K`.
    ///
    /// # Panics
    ///
    /// When its name is already taken by a kind or a common field (`name`, `count`, ...),
    /// or is empty: a mistake in the hook's own code, found at start-up.
    pub fn with<K: Kind>(mut self) -> Self {
        let name = K::NAME;
        assert!(
            !name.is_empty() && !CHECK_FIELDS.contains(&name) && !TIMING_FIELDS.contains(&name),
            "kind name `{name}` is empty or a common check field"
        );
        assert!(
            self.get(name).is_none(),
            "kind `{name}` is registered twice"
        );
        self.list.push(Arc::new(Typed::<K>(PhantomData)));
        self
    }

    /// The kinds' names, in registration order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.list.iter().map(|k| k.name())
    }

    /// The kind called `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&Arc<dyn DynKind>> {
        self.list.iter().find(|k| k.name() == name)
    }

    /// Whether `name` is one of the built-in kinds.
    pub(crate) fn is_builtin(&self, name: &str) -> bool {
        self.list[..self.builtin].iter().any(|k| k.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Http;

    impl Kind for Http {
        const NAME: &'static str = "http";
        fn parse(_: &Section<'_>, _: &mut Errors) -> Option<Self> {
            Some(Self)
        }
        fn build(self, _: &BuildContext<'_>) -> Result<Arc<dyn Check>, BuildError> {
            Err(BuildError::new("never built"))
        }
    }

    struct Count;

    impl Kind for Count {
        const NAME: &'static str = "count";
        fn parse(_: &Section<'_>, _: &mut Errors) -> Option<Self> {
            Some(Self)
        }
        fn build(self, _: &BuildContext<'_>) -> Result<Arc<dyn Check>, BuildError> {
            Err(BuildError::new("never built"))
        }
    }

    #[test]
    #[should_panic(expected = "registered twice")]
    fn a_name_cannot_be_registered_twice() {
        let _ = Kinds::builtin().with::<Http>();
    }

    #[test]
    #[should_panic(expected = "common check field")]
    fn a_kind_cannot_take_a_common_field_name() {
        let _ = Kinds::builtin().with::<Count>();
    }

    #[cfg(feature = "aws")]
    #[test]
    fn shared_values_are_made_once_per_type() {
        let aws = crate::sdk::Aws::new(crate::sdk::Chain::Local);
        aws.preload(aws_config::SdkConfig::builder().build());
        let effects = Effects {
            aws: Some(aws),
            ..Effects::inert()
        };
        let deployment = Deployment::default();
        let cx = BuildContext {
            deployment: &deployment,
            timing: Timing::default(),
            effects: &effects,
        };
        let made = std::sync::atomic::AtomicU32::new(0);
        for _ in 0..3 {
            let v: Arc<u8> = cx
                .shared(|_| {
                    made.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    Arc::new(7)
                })
                .unwrap();
            assert_eq!(*v, 7);
        }
        assert_eq!(made.into_inner(), 1);
        let none = BuildContext {
            effects: &Effects::inert(),
            ..cx
        };
        assert!(none.shared(|_| 1u32).is_err());
    }
}
