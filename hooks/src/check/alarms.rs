//! `alarms`: CloudWatch alarms by `names` and/or `prefix`; fails while any is in `ALARM`.
//!
//! Measurement: `{alarms: [{name, state}]}`. Default expect: none in `ALARM`; with
//! `insufficient_data: fail`, every alarm must be `OK`. With `count`/`interval` the
//! check becomes a bake: the alarms are watched for that long.

use super::kind::{BuildContext, BuildError, Kind, Section};
use super::{Check, CheckContext, MeasureError};
use crate::diag::Errors;
use crate::error::EffectError;
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// CloudWatch `DescribeAlarms`, behind a trait so tests can fake it.
#[async_trait]
pub(crate) trait AlarmSource: Send + Sync {
    /// `(name, state)` of the metric and composite alarms named in `names` or starting
    /// with `prefix`.
    async fn alarms(
        &self,
        names: &[String],
        prefix: Option<&str>,
    ) -> Result<Vec<(String, String)>, EffectError>;
}

/// What `INSUFFICIENT_DATA` means for the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub(crate) enum InsufficientData {
    /// Not a failure (default): a new version's alarms often have no data yet.
    #[default]
    Ok,
    /// A failure: every alarm must be `OK`.
    Fail,
}

impl InsufficientData {
    fn expect(self) -> &'static str {
        match self {
            Self::Ok => "length(alarms[?state == 'ALARM']) == `0`",
            Self::Fail => "length(alarms[?state != 'OK']) == `0`",
        }
    }
}

/// DescribeAlarms takes at most 100 names.
const MAX_NAMES: usize = 100;

/// The `alarms` kind: its section.
pub(crate) struct Alarms {
    names: Vec<String>,
    prefix: Option<String>,
    insufficient_data: InsufficientData,
}

impl Kind for Alarms {
    const NAME: &'static str = "alarms";

    fn parse(section: &Section<'_>, errors: &mut Errors) -> Option<Self> {
        let mut f = section.fields(&["names", "prefix", "insufficient_data"], errors);
        let names = f.optional::<Vec<String>>("names").unwrap_or_default();
        let prefix = f.optional::<String>("prefix").filter(|p| !p.is_empty());
        let insufficient_data = f
            .optional::<InsufficientData>("insufficient_data")
            .unwrap_or_default();
        if names.is_empty() && prefix.is_none() && f.ok() {
            f.error_here("name the alarms: set `names`, `prefix`, or both");
        }
        if names.len() > MAX_NAMES {
            f.error(
                "names",
                format!(
                    "{} names; DescribeAlarms takes at most {MAX_NAMES}: use `prefix`",
                    names.len()
                ),
            );
        }
        f.ok().then_some(Self {
            names,
            prefix,
            insufficient_data,
        })
    }

    fn default_expect(&self) -> Option<&'static str> {
        Some(self.insufficient_data.expect())
    }

    fn build(self, cx: &BuildContext<'_>) -> Result<Arc<dyn Check>, BuildError> {
        Ok(Arc::new(AlarmsCheck {
            source: cx.effects.alarms.clone(),
            spec: self,
        }))
    }
}

/// Reads alarm states.
struct AlarmsCheck {
    source: Arc<dyn AlarmSource>,
    spec: Alarms,
}

#[async_trait]
impl Check for AlarmsCheck {
    async fn measure(&self, _: &CheckContext) -> Result<Value, MeasureError> {
        let found = self.spec_alarms().await?;
        // A named alarm that does not exist is an error, not a pass: a typo must not
        // turn the check into a stub that always succeeds.
        let missing: Vec<&String> = self
            .spec
            .names
            .iter()
            .filter(|n| !found.iter().any(|(f, _)| f == *n))
            .collect();
        if !missing.is_empty() {
            return Err(MeasureError::new(format!(
                "no such alarm: {}",
                missing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if found.is_empty() {
            return Err(MeasureError::new(format!(
                "no alarm starts with `{}`",
                self.spec.prefix.as_deref().unwrap_or_default()
            )));
        }
        let alarms: Vec<Value> = found
            .into_iter()
            .map(|(name, state)| json!({ "name": name, "state": state }))
            .collect();
        Ok(json!({ "alarms": alarms }))
    }
}

impl AlarmsCheck {
    async fn spec_alarms(&self) -> Result<Vec<(String, String)>, MeasureError> {
        let mut all = Vec::new();
        if !self.spec.names.is_empty() {
            all.extend(
                self.source
                    .alarms(&self.spec.names, None)
                    .await
                    .map_err(MeasureError::from)?,
            );
        }
        if let Some(prefix) = self.spec.prefix.as_deref() {
            for a in self
                .source
                .alarms(&[], Some(prefix))
                .await
                .map_err(MeasureError::from)?
            {
                if !all.iter().any(|(n, _)| *n == a.0) {
                    all.push(a);
                }
            }
        }
        all.sort();
        Ok(all)
    }
}
