//! `alarms`: CloudWatch alarms by `names` and/or `prefix`; fails while any is in `ALARM`.
//!
//! Measurement: `{alarms: [{name, state}]}`. Default expect: none in `ALARM`; with
//! `insufficient_data: fail`, every alarm must be `OK`. With `count`/`interval` the
//! check becomes a bake: the alarms are watched for that long.

use super::{Check, CheckContext, Effects, MeasureError};
use crate::config::{de, FieldError};
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// CloudWatch `DescribeAlarms`, behind a trait so tests can fake it.
#[async_trait]
pub trait AlarmSource: Send + Sync {
    /// `(name, state)` of the metric and composite alarms named in `names` or starting
    /// with `prefix`.
    async fn alarms(
        &self,
        names: &[String],
        prefix: Option<&str>,
    ) -> Result<Vec<(String, String)>, String>;
}

/// What `INSUFFICIENT_DATA` means for the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum InsufficientData {
    /// Not a failure (default): a new version's alarms often have no data yet.
    #[default]
    Ok,
    /// A failure: every alarm must be `OK`.
    Fail,
}

/// The `alarms:` section of a check.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AlarmsSpec {
    #[serde(default)]
    pub names: Vec<String>,
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub insufficient_data: InsufficientData,
}

pub(crate) fn validate(rendered: &Value, path: &str) -> Vec<FieldError> {
    match de::<AlarmsSpec>(rendered, path) {
        Err(e) => vec![e],
        Ok(s) if s.names.is_empty() && s.prefix.as_deref().is_none_or(str::is_empty) => {
            vec![FieldError {
                path: path.to_owned(),
                message: "name the alarms: set `names`, `prefix`, or both".into(),
            }]
        }
        Ok(s) if s.names.len() > 100 => vec![FieldError {
            path: format!("{path}.names"),
            message: format!(
                "{} names; DescribeAlarms takes at most 100: use `prefix`",
                s.names.len()
            ),
        }],
        Ok(_) => Vec::new(),
    }
}

pub(crate) fn build(spec: &Value, path: &str, effects: &Effects) -> Result<Arc<dyn Check>, String> {
    let spec: AlarmsSpec = de(spec, path).map_err(|e| e.to_string())?;
    Ok(Arc::new(AlarmsCheck {
        source: effects.alarms.clone(),
        spec,
    }))
}

/// Reads alarm states.
pub struct AlarmsCheck {
    source: Arc<dyn AlarmSource>,
    spec: AlarmsSpec,
}

#[async_trait]
impl Check for AlarmsCheck {
    fn kind(&self) -> &'static str {
        "alarms"
    }

    fn default_expect(&self) -> Option<&'static str> {
        Some(match self.spec.insufficient_data {
            InsufficientData::Ok => "length(alarms[?state == 'ALARM']) == `0`",
            InsufficientData::Fail => "length(alarms[?state != 'OK']) == `0`",
        })
    }

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
            return Err(MeasureError(format!(
                "no such alarm: {}",
                missing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if found.is_empty() {
            return Err(MeasureError(format!(
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
                    .map_err(|e| MeasureError(format!("DescribeAlarms: {e}")))?,
            );
        }
        if let Some(prefix) = self.spec.prefix.as_deref().filter(|p| !p.is_empty()) {
            for a in self
                .source
                .alarms(&[], Some(prefix))
                .await
                .map_err(|e| MeasureError(format!("DescribeAlarms: {e}")))?
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
