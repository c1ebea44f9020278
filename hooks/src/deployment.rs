//! What is being deployed, and how a hook finds out.
//!
//! A CodeDeploy event carries only two ids. The function, alias, versions and phase
//! come from, in order: the deployment target (`ListDeploymentTargets` +
//! `GetDeploymentTarget`), the AppSpec (`GetDeployment` + `GetApplicationRevision`),
//! then the config's `target:` section. The first source that knows a fact wins; where
//! a later source disagrees, the deployment carries a note that the summary shows.

use crate::error::EffectError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The phase of a traffic shift a hook runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// `BeforeAllowTraffic`: the new version is published, no traffic has shifted yet.
    Pre,
    /// `AfterAllowTraffic`: all traffic has shifted to the new version.
    Post,
}

impl Phase {
    /// The phase a CodeDeploy lifecycle event name stands for.
    pub(crate) fn from_lifecycle_event(name: &str) -> Option<Self> {
        match name {
            "BeforeAllowTraffic" => Some(Self::Pre),
            "AfterAllowTraffic" => Some(Self::Post),
            _ => None,
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pre => "pre",
            Self::Post => "post",
        })
    }
}

/// Facts about a deployment from one source; any of them may be unknown.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Facts {
    /// The function being deployed.
    pub function: Option<String>,
    /// The alias whose traffic shifts.
    pub alias: Option<String>,
    /// The version serving the alias before the deployment.
    pub current_version: Option<String>,
    /// The version being deployed.
    pub target_version: Option<String>,
    /// The share of traffic the target version has now (0.0 to 1.0).
    pub target_weight: Option<f64>,
    /// The phase this hook runs in.
    pub phase: Option<Phase>,
}

impl Facts {
    pub(crate) fn is_complete(&self) -> bool {
        self.function.is_some()
            && self.alias.is_some()
            && self.current_version.is_some()
            && self.target_version.is_some()
            && self.phase.is_some()
    }
}

/// What a hook knows about the deployment it verifies, merged from all sources.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Deployment {
    /// The deployment id (absent in terminal runs).
    pub deployment_id: Option<String>,
    /// The merged facts.
    #[serde(flatten)]
    pub facts: Facts,
    /// Which sources contributed, in order.
    pub sources: Vec<String>,
    /// Disagreements between sources and discovery failures, for the summary.
    pub notes: Vec<String>,
}

impl Deployment {
    /// Stand-in values for every fact: checks can be built (not run) without a deployment.
    pub(crate) fn placeholder() -> Self {
        let p = || Some("placeholder".to_owned());
        Self {
            deployment_id: p(),
            facts: Facts {
                function: p(),
                alias: p(),
                current_version: p(),
                target_version: p(),
                target_weight: None,
                phase: None,
            },
            ..Self::default()
        }
    }

    /// Builds a deployment from facts given directly (a terminal run or a test).
    pub(crate) fn from_facts(deployment_id: Option<String>, facts: Facts, source: &str) -> Self {
        let mut d = Self {
            deployment_id,
            ..Self::default()
        };
        d.merge(source, facts);
        d
    }

    /// Adds a source: fills what is unknown, notes where it disagrees with what is known.
    pub(crate) fn merge(&mut self, source: &str, facts: Facts) {
        let mut used = false;
        let mut notes = Vec::new();
        let mut take =
            |name: &str, have: &mut Option<String>, new: Option<String>| match (have.as_ref(), new)
            {
                (None, Some(v)) => {
                    *have = Some(v);
                    used = true;
                }
                (Some(old), Some(v)) if *old != v => notes.push(format!(
                    "{source} says {name} is `{v}`, an earlier source said `{old}` (kept)"
                )),
                _ => {}
            };
        take("function", &mut self.facts.function, facts.function);
        take("alias", &mut self.facts.alias, facts.alias);
        take(
            "current_version",
            &mut self.facts.current_version,
            facts.current_version,
        );
        take(
            "target_version",
            &mut self.facts.target_version,
            facts.target_version,
        );
        if self.facts.target_weight.is_none() && facts.target_weight.is_some() {
            self.facts.target_weight = facts.target_weight;
        }
        match (self.facts.phase, facts.phase) {
            (None, Some(p)) => {
                self.facts.phase = Some(p);
                used = true;
            }
            (Some(old), Some(p)) if old != p => {
                notes.push(format!(
                    "{source} says the phase is {p}, an earlier source said {old} (kept)"
                ));
            }
            _ => {}
        }
        if used {
            self.sources.push(source.to_owned());
        }
        self.notes.extend(notes);
    }
}

/// A deployment's facts and notes as JSON: what a continuation and a load worker are
/// sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SavedDeployment {
    pub(crate) function: Option<String>,
    pub(crate) alias: Option<String>,
    pub(crate) current_version: Option<String>,
    pub(crate) target_version: Option<String>,
    pub(crate) target_weight: Option<f64>,
    /// `pre` or `post`.
    pub(crate) phase: Option<String>,
    #[serde(default)]
    pub(crate) notes: Vec<String>,
    #[serde(default)]
    pub(crate) sources: Vec<String>,
}

impl SavedDeployment {
    /// What `deployment` says.
    pub(crate) fn of(deployment: &Deployment) -> Self {
        let f = &deployment.facts;
        Self {
            function: f.function.clone(),
            alias: f.alias.clone(),
            current_version: f.current_version.clone(),
            target_version: f.target_version.clone(),
            target_weight: f.target_weight,
            phase: f.phase.map(|p| p.to_string()),
            notes: deployment.notes.clone(),
            sources: deployment.sources.clone(),
        }
    }

    /// The deployment it holds.
    pub(crate) fn deployment(&self, deployment_id: &str) -> Deployment {
        let facts = Facts {
            function: self.function.clone(),
            alias: self.alias.clone(),
            current_version: self.current_version.clone(),
            target_version: self.target_version.clone(),
            target_weight: self.target_weight,
            phase: self.phase.as_deref().and_then(|p| match p {
                "pre" => Some(Phase::Pre),
                "post" => Some(Phase::Post),
                _ => None,
            }),
        };
        let mut deployment = Deployment::from_facts(
            (!deployment_id.is_empty()).then(|| deployment_id.to_owned()),
            facts,
            "continuation",
        );
        deployment.notes = self.notes.clone();
        if !self.sources.is_empty() {
            deployment.sources = self.sources.clone();
        }
        deployment
    }
}

/// The CodeDeploy read calls discovery needs, behind a trait so tests can fake them.
#[async_trait]
pub(crate) trait DeploymentSource: Send + Sync {
    /// Facts from `ListDeploymentTargets` + `GetDeploymentTarget`.
    async fn target_facts(&self, deployment_id: &str) -> Result<Facts, EffectError>;
    /// The AppSpec text from `GetDeployment` (+ `GetApplicationRevision` when the
    /// deployment does not carry it inline).
    async fn appspec(&self, deployment_id: &str) -> Result<String, EffectError>;

    /// Who created the deployment (`GetDeployment`'s `creator`): `user`, `autoscaling`,
    /// `codeDeployRollback`, `CloudFormationRollback`, ...
    async fn creator(&self, _deployment_id: &str) -> Result<String, EffectError> {
        Err(EffectError::new("GetDeployment", "not available here"))
    }
}

/// Finds out what `deployment_id` deploys, falling back source by source.
///
/// `own_function` is this hook's `AWS_LAMBDA_FUNCTION_NAME`, used to tell the phase
/// from the AppSpec's `Hooks`. `config_target` is the config's `target:` section.
/// Never fails: what stays unknown is unknown, and the notes say why.
pub(crate) async fn discover(
    source: &dyn DeploymentSource,
    deployment_id: &str,
    own_function: Option<&str>,
    config_target: &Facts,
) -> Deployment {
    let mut deployment = Deployment {
        deployment_id: Some(deployment_id.to_owned()),
        ..Deployment::default()
    };
    match source.target_facts(deployment_id).await {
        Ok(facts) => deployment.merge("deployment target", facts),
        Err(e) => deployment
            .notes
            .push(format!("deployment target unavailable: {e}")),
    }
    if !deployment.facts.is_complete() {
        match source.appspec(deployment_id).await {
            Ok(text) => match appspec_facts(&text, own_function) {
                Ok(facts) => deployment.merge("appspec", facts),
                Err(e) => deployment.notes.push(format!("appspec unreadable: {e}")),
            },
            Err(e) => deployment.notes.push(format!("appspec unavailable: {e}")),
        }
    }
    deployment.merge("config target", config_target.clone());
    if deployment.facts.phase.is_none() {
        deployment
            .notes
            .push("phase unknown: running the checks of every phase".to_owned());
    }
    deployment
}

/// Reads function, alias, versions and (by matching `own_function` against `Hooks`)
/// the phase from an AppSpec in YAML or JSON.
pub(crate) fn appspec_facts(text: &str, own_function: Option<&str>) -> Result<Facts, String> {
    let doc: serde_json::Value = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
    let mut facts = Facts::default();
    let lambda = doc
        .get("Resources")
        .and_then(|r| r.as_array())
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.as_object())
        .flat_map(|entry| entry.values())
        .find(|res| res.get("Type").and_then(|t| t.as_str()) == Some("AWS::Lambda::Function"))
        .ok_or("no AWS::Lambda::Function in Resources")?;
    let prop = |name: &str| {
        lambda
            .get("Properties")
            .and_then(|p| p.get(name))
            .and_then(|v| match v {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
    };
    facts.function = prop("Name");
    facts.alias = prop("Alias");
    facts.current_version = prop("CurrentVersion");
    facts.target_version = prop("TargetVersion");
    if let Some(own) = own_function {
        let phases: Vec<Phase> = doc
            .get("Hooks")
            .and_then(|h| h.as_array())
            .into_iter()
            .flatten()
            .filter_map(|h| h.as_object())
            .flatten()
            .filter(|(_, f)| {
                f.as_str()
                    .is_some_and(|f| function_name(f) == function_name(own))
            })
            .filter_map(|(event, _)| Phase::from_lifecycle_event(event))
            .collect();
        // One function registered for both phases cannot tell them apart this way.
        if let [phase] = phases.as_slice() {
            facts.phase = Some(*phase);
        }
    }
    Ok(facts)
}

/// The bare function name of a name, partial ARN or full ARN (qualifier dropped).
pub(crate) fn function_name(name_or_arn: &str) -> &str {
    match name_or_arn.split(':').collect::<Vec<_>>().as_slice() {
        ["arn", _, "lambda", _, _, "function", name, ..] => name,
        [_, "function", name, ..] => name,
        [name, ..] => name,
        [] => name_or_arn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APPSPEC: &str = r#"
version: 0.0
Resources:
  - demo:
      Type: AWS::Lambda::Function
      Properties: { Name: demo-fn, Alias: live, CurrentVersion: "1", TargetVersion: 2 }
Hooks:
  - BeforeAllowTraffic: arn:aws:lambda:us-east-1:123456789012:function:CodeDeployHook_pre
  - AfterAllowTraffic: CodeDeployHook_post
"#;

    #[test]
    fn appspec_gives_function_alias_versions_and_phase() {
        let facts = appspec_facts(APPSPEC, Some("CodeDeployHook_pre")).unwrap_or_default();
        assert_eq!(facts.function.as_deref(), Some("demo-fn"));
        assert_eq!(facts.alias.as_deref(), Some("live"));
        assert_eq!(facts.current_version.as_deref(), Some("1"));
        assert_eq!(facts.target_version.as_deref(), Some("2"));
        assert_eq!(facts.phase, Some(Phase::Pre));
        let post = appspec_facts(APPSPEC, Some("CodeDeployHook_post")).unwrap_or_default();
        assert_eq!(post.phase, Some(Phase::Post));
        assert_eq!(
            appspec_facts(APPSPEC, Some("other"))
                .unwrap_or_default()
                .phase,
            None
        );
    }

    #[test]
    fn merge_keeps_first_and_notes_disagreement() {
        let mut d = Deployment::default();
        d.merge(
            "a",
            Facts {
                alias: Some("live".into()),
                ..Facts::default()
            },
        );
        d.merge(
            "b",
            Facts {
                alias: Some("prod".into()),
                function: Some("f".into()),
                ..Facts::default()
            },
        );
        assert_eq!(d.facts.alias.as_deref(), Some("live"));
        assert_eq!(d.facts.function.as_deref(), Some("f"));
        assert_eq!(d.sources, vec!["a", "b"]);
        assert_eq!(d.notes.len(), 1, "{:?}", d.notes);
        assert!(d.notes[0].contains("prod"));
    }

    #[test]
    fn function_name_strips_arns_and_qualifiers() {
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:1:function:f:live"),
            "f"
        );
        assert_eq!(function_name("1:function:f"), "f");
        assert_eq!(function_name("f"), "f");
    }
}
