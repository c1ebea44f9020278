//! `{{variable}}` substitution in config strings.
//!
//! Known variables: `function`, `alias`, `current_version`, `target_version`,
//! `deployment_id` and `env.NAME`. An unknown name is a config error that `validate`
//! finds; a known name whose value is unknown at run time fails the check that uses it.

use crate::deployment::Deployment;
use serde_json::Value;
use std::collections::BTreeMap;

/// The variable names besides `env.NAME`.
pub(crate) const NAMES: [&str; 5] = [
    "function",
    "alias",
    "current_version",
    "target_version",
    "deployment_id",
];

/// Values for the variables.
#[derive(Debug, Clone)]
pub(crate) struct Vars {
    values: BTreeMap<&'static str, String>,
    env: BTreeMap<String, String>,
    /// When set, every known name renders as this (used to validate without a deployment).
    placeholder: Option<String>,
    /// The instant `{{now}}` stands for.
    now: std::time::SystemTime,
}

impl Default for Vars {
    fn default() -> Self {
        Self {
            values: BTreeMap::new(),
            env: BTreeMap::new(),
            placeholder: None,
            now: std::time::SystemTime::now(),
        }
    }
}

impl Vars {
    /// The values a deployment gives, plus an environment for `{{env.NAME}}`.
    pub(crate) fn new(deployment: &Deployment, env: BTreeMap<String, String>) -> Self {
        let f = &deployment.facts;
        let values = [
            ("function", f.function.clone()),
            ("alias", f.alias.clone()),
            ("current_version", f.current_version.clone()),
            ("target_version", f.target_version.clone()),
            ("deployment_id", deployment.deployment_id.clone()),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?)))
        .collect();
        Self {
            values,
            env,
            ..Self::default()
        }
    }

    /// Values for validating `expect`: `0` is valid inside JMESPath backticks (a JSON
    /// number) and quotes alike, where a word would not be.
    pub(crate) fn expect_placeholders() -> Self {
        Self {
            placeholder: Some("0".to_owned()),
            ..Self::default()
        }
    }

    /// Values that let validation render every known name without a deployment.
    pub(crate) fn placeholders() -> Self {
        Self {
            placeholder: Some("placeholder".to_owned()),
            ..Self::default()
        }
    }

    fn lookup(&self, name: &str) -> Result<String, String> {
        if let Some(offset) = name.strip_prefix("now") {
            return self.now(name, offset);
        }
        let known =
            NAMES.contains(&name) || name.strip_prefix("env.").is_some_and(|n| !n.is_empty());
        if !known {
            return Err(format!(
                "unknown variable `{{{{{name}}}}}`; known: {}, {{{{env.NAME}}}}, {{{{now}}}}, {{{{now-5m}}}}",
                NAMES.map(|n| format!("{{{{{n}}}}}")).join(", ")
            ));
        }
        if let Some(p) = &self.placeholder {
            return Ok(p.clone());
        }
        if let Some(env_name) = name.strip_prefix("env.") {
            return self.env.get(env_name).cloned().ok_or_else(|| {
                format!("`{{{{{name}}}}}`: environment variable {env_name} is not set")
            });
        }
        self.values.get(name).cloned().ok_or_else(|| {
            format!("`{{{{{name}}}}}` is unknown for this deployment (not discovered, and not in the config's `target:`)")
        })
    }
}

impl Vars {
    /// `{{now}}` / `{{now-5m}}`: epoch seconds, now or that long ago.
    fn now(&self, name: &str, offset: &str) -> Result<String, String> {
        let offset = match offset.trim() {
            "" => std::time::Duration::ZERO,
            o => {
                let d = o.strip_prefix('-').ok_or_else(|| {
                    format!("unknown variable `{{{{{name}}}}}`; did you mean `{{{{now-5m}}}}`?")
                })?;
                crate::duration::parse(d).map_err(|e| format!("`{{{{{name}}}}}`: {e}"))?
            }
        };
        if let Some(p) = &self.placeholder {
            return Ok(p.clone());
        }
        let at = self
            .now
            .checked_sub(offset)
            .unwrap_or(std::time::UNIX_EPOCH);
        Ok(at
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
            .to_string())
    }

    /// Fixes "now" (tests).
    #[cfg(test)]
    pub(crate) fn at(mut self, now: std::time::SystemTime) -> Self {
        self.now = now;
        self
    }
}

/// The values `{{env.NAME}}` fills in anywhere in `value` (keys included): secrets,
/// for all the summary knows, so they are scrubbed from what is shown.
pub(crate) fn env_values(value: &Value, vars: &Vars) -> Vec<String> {
    let mut out = Vec::new();
    let mut texts = Vec::new();
    collect_strings(value, &mut texts);
    for text in texts {
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else { break };
            if let Some(name) = after[..end].trim().strip_prefix("env.") {
                if let Some(v) = vars.env.get(name) {
                    out.push(v.clone());
                }
            }
            rest = &after[end + 2..];
        }
    }
    out
}

fn collect_strings<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(map) => {
            for (k, v) in map {
                out.push(k);
                collect_strings(v, out);
            }
        }
        _ => {}
    }
}

/// Replaces every `{{ name }}` in `text`.
pub(crate) fn render(text: &str, vars: &Vars) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("`{{{{` without closing `}}}}` in `{text}`"))?;
        out.push_str(&vars.lookup(after[..end].trim())?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Renders every string (keys included) inside a JSON value; errors carry the
/// JSON path below `path`.
pub(crate) fn render_value(
    value: &Value,
    vars: &Vars,
    path: &str,
) -> Result<Value, (String, String)> {
    Ok(match value {
        Value::String(s) => Value::String(render(s, vars).map_err(|e| (path.to_owned(), e))?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| render_value(v, vars, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let child = format!("{path}.{k}");
                    let key = render(k, vars).map_err(|e| (child.clone(), e))?;
                    Ok::<_, (String, String)>((key, render_value(v, vars, &child)?))
                })
                .collect::<Result<_, _>>()?,
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployment::Facts;
    use serde_json::json;

    fn vars() -> Vars {
        let d = Deployment::from_facts(
            Some("d-1".into()),
            Facts {
                function: Some("fn".into()),
                alias: Some("live".into()),
                ..Facts::default()
            },
            "test",
        );
        Vars::new(
            &d,
            BTreeMap::from([("STAGE".to_owned(), "prod".to_owned())]),
        )
    }

    #[test]
    fn replaces_known_variables_with_or_without_spaces() {
        assert_eq!(
            render(
                "https://x/{{alias}}/{{ function }}?d={{deployment_id}}&s={{env.STAGE}}",
                &vars()
            )
            .ok(),
            Some("https://x/live/fn?d=d-1&s=prod".to_owned())
        );
    }

    #[test]
    fn unknown_variable_is_an_error_even_with_placeholders() {
        let err = render("{{aliass}}", &Vars::placeholders()).unwrap_err();
        assert!(err.contains("unknown variable `{{aliass}}`"), "{err}");
    }

    #[test]
    fn missing_values_name_the_variable() {
        assert!(render("{{target_version}}", &vars())
            .unwrap_err()
            .contains("{{target_version}}"));
        assert!(render("{{env.NOPE}}", &vars())
            .unwrap_err()
            .contains("NOPE is not set"));
        assert!(render("{{alias", &vars()).is_err());
    }

    #[test]
    fn now_and_now_minus_a_duration_are_epoch_seconds() {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        let v = vars().at(at);
        assert_eq!(
            render("from={{now-5m}}&to={{ now }}", &v).ok(),
            Some("from=999700&to=1000000".to_owned())
        );
        assert!(render("{{now+5m}}", &v)
            .unwrap_err()
            .contains("did you mean"));
        assert!(render("{{now-5x}}", &Vars::placeholders())
            .unwrap_err()
            .contains("not a duration"));
    }

    #[test]
    fn an_absurd_now_offset_is_an_error_not_a_panic() {
        // Found by fuzzing the template renderer.
        let err = render("{{now-77777777777777777777777777777m}}", &vars()).unwrap_err();
        assert!(err.contains("too long"), "{err}");
    }

    #[test]
    fn renders_inside_json_and_reports_the_path() {
        let v = render_value(&json!({"a": ["{{alias}}", 1]}), &vars(), "payload").ok();
        assert_eq!(v, Some(json!({"a": ["live", 1]})));
        let (path, _) = render_value(&json!({"a": [1, "{{x}}"]}), &vars(), "payload").unwrap_err();
        assert_eq!(path, "payload.a[1]");
    }
}
