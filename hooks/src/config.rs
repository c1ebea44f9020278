//! The check file: raw text → validated [`Config`], in two stages.
//!
//! Stage one reads YAML (or JSON, a subset) into a JSON tree. Stage two walks it
//! section by section and check by check, so one run of `traffic-hook validate`
//! reports every error it can find, each with its field path
//! (`checks[1].http.url: ...`), instead of stopping at the first.

use crate::check::{self, CheckSpec, Effects, Timing};
use crate::deployment::{Deployment, Facts, Phase};
use crate::expect::Expect;
use crate::template::{self, Vars};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

pub mod source;

pub use source::{ConfigSource, ParameterStore};

/// One problem in a config, at a field path such as `checks[1].http.url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Where: a dotted path with `[i]` for list items; `(config)` for the whole document.
    pub path: String,
    /// What is wrong and, where it helps, how to fix it.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem found in a config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The problems, in document order.
    pub errors: Vec<FieldError>,
}

impl ConfigError {
    /// A config error with a single problem.
    pub fn single(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            errors: vec![FieldError {
                path: path.into(),
                message: message.into(),
            }],
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        write!(
            f,
            "invalid config ({n} error{}): ",
            if n == 1 { "" } else { "s" }
        )?;
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// A validated config.
#[derive(Debug, Clone)]
pub struct Config {
    /// Stop checking this long before the Lambda deadline, to leave time to report.
    pub report_reserve: Duration,
    /// Run and log everything, but report `Succeeded`.
    pub dry_run: bool,
    /// Facts about the deployment for when it cannot tell (terminal runs).
    pub target: Facts,
    /// The checks, in file order.
    pub checks: Vec<CheckConfig>,
}

/// The least `report_reserve` a config may set.
pub const MIN_REPORT_RESERVE: Duration = Duration::from_secs(1);

/// The `report_reserve` when the config does not set one (or cannot be read).
pub const DEFAULT_REPORT_RESERVE: Duration = Duration::from_secs(5);

impl Default for Config {
    fn default() -> Self {
        Self {
            report_reserve: DEFAULT_REPORT_RESERVE,
            dry_run: false,
            target: Facts::default(),
            checks: Vec::new(),
        }
    }
}

/// One validated check, still holding `{{variables}}`: they are rendered per deployment.
#[derive(Debug, Clone)]
pub struct CheckConfig {
    /// Unique name.
    pub name: String,
    /// Phase it runs in; `None` for any.
    pub phase: Option<Phase>,
    /// Repetitions and limits.
    pub timing: Timing,
    /// `expect` conditions as written (may hold `{{variables}}`); empty for the default.
    pub expect: Vec<String>,
    /// Cannot fail the deployment.
    pub dry_run: bool,
    /// The kind's name (`invoke`, `http`, ...).
    pub kind: &'static str,
    /// The kind's section as written.
    pub spec: Value,
}

/// A configured check that cannot run for this deployment (a variable without a value,
/// say). It fails on its own; the other checks still run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError {
    /// The check's name.
    pub name: String,
    /// Its kind.
    pub kind: &'static str,
    /// Its phase.
    pub phase: Option<Phase>,
    /// It cannot fail the deployment, even when it cannot run.
    pub dry_run: bool,
    /// Why it cannot run.
    pub reason: String,
}

/// The check kinds a config can name, in the order the docs list them.
pub const KINDS: [&str; 6] = ["invoke", "http", "compare", "alarms", "metric", "load"];

const TOP_KEYS: [&str; 5] = ["report_reserve", "dry_run", "defaults", "target", "checks"];
const TIMING_KEYS: [&str; 6] = [
    "timeout",
    "count",
    "interval",
    "initial_delay",
    "failure_limit",
    "consecutive_error_limit",
];
const CHECK_KEYS: [&str; 4] = ["name", "phase", "expect", "dry_run"];

/// Collects errors while walking the document.
#[derive(Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            path: path.into(),
            message: message.into(),
        });
    }

    /// Deserializes `v` into `T`, recording a failure with its full path.
    fn de<T: DeserializeOwned>(&mut self, v: &Value, path: &str) -> Option<T> {
        de(v, path).map_err(|e| self.0.push(e)).ok()
    }

    fn unknown_keys(&mut self, map: &Map<String, Value>, path: &str, known: &[&[&str]]) {
        for key in map.keys() {
            if !known.iter().any(|k| k.contains(&key.as_str())) {
                let expected: Vec<&str> = known.iter().flat_map(|k| k.iter().copied()).collect();
                self.push(
                    join(path, key),
                    format!("unknown field; expected one of: {}", expected.join(", ")),
                );
            }
        }
    }

    fn duration(&mut self, v: Option<&Value>, path: &str) -> Option<Duration> {
        match v? {
            Value::String(s) => crate::duration::parse(s)
                .map_err(|e| self.push(path, e))
                .ok(),
            Value::Number(n) => {
                self.push(
                    path,
                    format!("`{n}` has no unit; write e.g. `{n}s` or `{n}ms`"),
                );
                None
            }
            other => {
                self.push(
                    path,
                    format!(
                        "expected a duration such as `10s`, got {}",
                        crate::event::json_type(other)
                    ),
                );
                None
            }
        }
    }

    fn uint(&mut self, v: Option<&Value>, path: &str) -> Option<u32> {
        self.de::<u32>(v?, path)
    }
}

/// `base.key`, or `key` at the top.
fn join(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_owned()
    } else {
        format!("{base}.{key}")
    }
}

/// Deserializes with the path of the failing field appended to `base`.
pub(crate) fn de<T: DeserializeOwned>(v: &Value, base: &str) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let inner = e.path().to_string();
        let path = match inner.as_str() {
            "." => base.to_owned(),
            p if p.starts_with('[') => format!("{base}{p}"),
            p => join(base, p),
        };
        FieldError {
            path,
            message: without_value(&e.into_inner().to_string()),
        }
    })
}

/// serde's "invalid type: string \"s3cr3t\", expected ..." quotes the value it refused;
/// a config from an SSM SecureString may hold secrets, so keep the type and drop the value.
fn without_value(message: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            if let Some((found, expected)) = rest.split_once(", expected") {
                let kind = found.split(['`', '"']).next().unwrap_or(found).trim();
                return format!("{prefix}{kind}, expected{expected}");
            }
        }
    }
    message.to_owned()
}

/// A string, or a number read as its text (`target_version: 2`).
pub(crate) fn string_or_number<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        S(String),
        N(serde_json::Number),
    }
    Ok(Option::<Text>::deserialize(d)?.map(|t| match t {
        Text::S(s) => s,
        Text::N(n) => n.to_string(),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    #[serde(default)]
    function: Option<String>,
    #[serde(default)]
    alias: Option<String>,
    #[serde(default, deserialize_with = "string_or_number")]
    current_version: Option<String>,
    #[serde(default, deserialize_with = "string_or_number")]
    target_version: Option<String>,
}

impl Config {
    /// Parses and validates a config in YAML or JSON.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let doc: Value = serde_yaml_ng::from_str(text)
            .map_err(|e| ConfigError::single("(config)", format!("not valid YAML or JSON: {e}")))?;
        Self::from_value(&doc)
    }

    /// Validates a config already read into a JSON tree.
    pub fn from_value(doc: &Value) -> Result<Self, ConfigError> {
        let mut errs = Errors::default();
        let Value::Object(top) = doc else {
            let found = if doc.is_null() {
                "an empty document".to_owned()
            } else {
                crate::event::json_type(doc).to_owned()
            };
            return Err(ConfigError::single(
                "(config)",
                format!("expected a mapping with `checks:`, got {found}"),
            ));
        };
        errs.unknown_keys(top, "", &[&TOP_KEYS]);
        let mut config = Config::default();
        if let Some(d) = errs.duration(top.get("report_reserve"), "report_reserve") {
            if d < MIN_REPORT_RESERVE {
                errs.push(
                    "report_reserve",
                    "must be at least 1s: reporting (and retrying the report) needs time",
                );
            }
            config.report_reserve = d;
        }
        if let Some(v) = top.get("dry_run") {
            config.dry_run = errs.de(v, "dry_run").unwrap_or(false);
        }
        let mut defaults = Timing::default();
        if let Some(v) = top.get("defaults") {
            match v.as_object() {
                Some(map) => {
                    errs.unknown_keys(map, "defaults", &[&TIMING_KEYS]);
                    defaults = timing(map, "defaults", Timing::default(), &mut errs);
                }
                None => errs.push(
                    "defaults",
                    "expected a mapping of timeout, count, interval, ...",
                ),
            }
        }
        if let Some(v) = top.get("target") {
            if let Some(t) = errs.de::<RawTarget>(v, "target") {
                config.target = Facts {
                    function: t.function,
                    alias: t.alias,
                    current_version: t.current_version,
                    target_version: t.target_version,
                    ..Facts::default()
                };
            }
        }
        match top.get("checks") {
            None => errs.push("checks", "missing: a config needs at least one check"),
            Some(Value::Array(items)) if items.is_empty() => {
                errs.push("checks", "empty: a config needs at least one check")
            }
            Some(Value::Array(items)) => {
                let mut seen: BTreeMap<String, usize> = BTreeMap::new();
                for (i, item) in items.iter().enumerate() {
                    let path = format!("checks[{i}]");
                    if let Some(c) = check(item, &path, defaults, &mut errs) {
                        if let Some(first) = seen.insert(c.name.clone(), i) {
                            errs.push(
                                format!("{path}.name"),
                                format!("duplicate name `{}` (also checks[{first}])", c.name),
                            );
                        }
                        config.checks.push(c);
                    }
                }
            }
            Some(other) => errs.push(
                "checks",
                format!(
                    "expected a list of checks, got {}",
                    crate::event::json_type(other)
                ),
            ),
        }
        if errs.0.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError { errors: errs.0 })
        }
    }

    /// Builds the checks for `deployment`, rendering `{{variables}}`. A check that
    /// cannot be built (a variable without a value, say) comes back as `Err` with
    /// its name and reason, so it fails on its own without hiding the others.
    pub fn build_checks(
        &self,
        deployment: &Deployment,
        env: &BTreeMap<String, String>,
        effects: &Effects,
    ) -> Vec<Result<CheckSpec, BuildError>> {
        let vars = Vars::new(deployment, env.clone());
        self.checks
            .iter()
            .map(|c| {
                c.build(deployment, &vars, effects)
                    .map_err(|reason| BuildError {
                        name: c.name.clone(),
                        kind: c.kind,
                        phase: c.phase,
                        dry_run: c.dry_run,
                        reason,
                    })
            })
            .collect()
    }
}

fn timing(map: &Map<String, Value>, path: &str, base: Timing, errs: &mut Errors) -> Timing {
    let mut t = base;
    if let Some(d) = errs.duration(map.get("timeout"), &join(path, "timeout")) {
        if d.is_zero() {
            errs.push(join(path, "timeout"), "must be more than 0s");
        }
        t.timeout = d;
    }
    if let Some(d) = errs.duration(map.get("interval"), &join(path, "interval")) {
        t.interval = d;
    }
    if let Some(d) = errs.duration(map.get("initial_delay"), &join(path, "initial_delay")) {
        t.initial_delay = d;
    }
    if let Some(n) = errs.uint(map.get("count"), &join(path, "count")) {
        if n == 0 {
            errs.push(join(path, "count"), "must be at least 1");
        }
        t.count = n;
    }
    if let Some(n) = errs.uint(map.get("failure_limit"), &join(path, "failure_limit")) {
        t.failure_limit = n;
    }
    if let Some(n) = errs.uint(
        map.get("consecutive_error_limit"),
        &join(path, "consecutive_error_limit"),
    ) {
        t.consecutive_error_limit = n;
    }
    t
}

fn check(item: &Value, path: &str, defaults: Timing, errs: &mut Errors) -> Option<CheckConfig> {
    let Some(map) = item.as_object() else {
        errs.push(
            path,
            format!(
                "expected a mapping with `name` and one kind ({}), got {}",
                KINDS.join(", "),
                crate::event::json_type(item)
            ),
        );
        return None;
    };
    errs.unknown_keys(map, path, &[&CHECK_KEYS, &TIMING_KEYS, &KINDS]);
    let name = match map.get("name") {
        None => {
            errs.push(
                join(path, "name"),
                "missing: every check needs a unique name",
            );
            None
        }
        Some(v) => errs.de::<String>(v, &join(path, "name")).filter(|n| {
            let ok = !n.trim().is_empty();
            if !ok {
                errs.push(join(path, "name"), "must not be empty");
            }
            ok
        }),
    };
    let phase = match map
        .get("phase")
        .map(|v| errs.de::<String>(v, &join(path, "phase")))
    {
        None => None,
        Some(None) => None,
        Some(Some(p)) => match p.as_str() {
            "pre" => Some(Phase::Pre),
            "post" => Some(Phase::Post),
            "any" => None,
            other => {
                errs.push(
                    join(path, "phase"),
                    format!("`{other}` is not a phase; use pre, post or any"),
                );
                None
            }
        },
    };
    let dry_run = map
        .get("dry_run")
        .and_then(|v| errs.de::<bool>(v, &join(path, "dry_run")))
        .unwrap_or(false);
    let timing = timing(map, path, defaults, errs);
    let expect: Vec<String> = match map.get("expect") {
        None => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(v @ Value::Array(_)) => errs.de(v, &join(path, "expect")).unwrap_or_default(),
        Some(other) => {
            errs.push(
                join(path, "expect"),
                format!(
                    "expected a JMESPath expression or a list of them, got {}",
                    crate::event::json_type(other)
                ),
            );
            Vec::new()
        }
    };
    // Compile with placeholder values: catches bad syntax and unknown variables now.
    let expect_path = |i: usize| {
        if map.get("expect").is_some_and(Value::is_array) {
            format!("{path}.expect[{i}]")
        } else {
            format!("{path}.expect")
        }
    };
    for (i, text) in expect.iter().enumerate() {
        match template::render(text, &Vars::expect_placeholders()) {
            Err(e) => errs.push(expect_path(i), e),
            Ok(rendered) => {
                if let Err(e) = Expect::compile(&[rendered]) {
                    errs.push(expect_path(i), e.to_string());
                }
            }
        }
    }
    let kinds: Vec<&'static str> = KINDS
        .iter()
        .copied()
        .filter(|k| map.contains_key(*k))
        .collect();
    let kind = match kinds.as_slice() {
        [k] => *k,
        [] => {
            errs.push(
                path,
                format!("no check kind: set one of {}", KINDS.join(", ")),
            );
            return None;
        }
        many => {
            errs.push(
                path,
                format!("one kind per check, found {}", many.join(" and ")),
            );
            return None;
        }
    };
    let spec = map.get(kind).cloned().unwrap_or(Value::Null);
    let kind_path = join(path, kind);
    match template::render_value(&spec, &Vars::placeholders(), &kind_path) {
        Err((p, e)) => errs.push(p, e),
        Ok(rendered) => {
            for e in check::validate_kind(kind, &spec, &rendered, &kind_path) {
                errs.0.push(e);
            }
        }
    }
    if expect.is_empty() && !check::has_default_expect(kind) {
        errs.push(join(path, "expect"), format!("required for {kind} checks"));
    }
    Some(CheckConfig {
        name: name?,
        phase,
        timing,
        expect,
        dry_run,
        kind,
        spec,
    })
}

impl CheckConfig {
    /// Renders the variables and makes the runnable check.
    pub fn build(
        &self,
        deployment: &Deployment,
        vars: &Vars,
        effects: &Effects,
    ) -> Result<CheckSpec, String> {
        let path = join("", self.kind);
        let spec = template::render_value(&self.spec, vars, &path)
            .map_err(|(p, e)| format!("{p}: {e}"))?;
        let expect = self
            .expect
            .iter()
            .map(|e| template::render(e, vars))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("expect: {e}"))?;
        let check = check::build_kind(self.kind, &spec, &path, deployment, self.timing, effects)?;
        let mut built = CheckSpec::from_arc(self.name.clone(), check, Some(&expect))
            .map_err(|e| e.to_string())?;
        built.phase = self.phase;
        built.timing = self.timing;
        built.dry_run = self.dry_run;
        Ok(built)
    }
}

#[cfg(test)]
mod tests;
