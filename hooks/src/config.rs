//! The check file: raw text → validated [`Config`], in two stages.
//!
//! Stage one reads YAML (or JSON, a subset) into a JSON tree, refusing duplicate keys.
//! Stage two walks it section by section and check by check, each kind validating
//! its own section, so one run of `traffic-hook validate` reports every error it can
//! find, each with its field path (`checks[1].http.url: ...`), instead of stopping at
//! the first.

use crate::check::kind::{CHECK_FIELDS, TIMING_FIELDS};
use crate::check::{BuildContext, CheckSpec, DynKind, Effects, Functions, Kinds, Section, Timing};
use crate::deployment::{Deployment, Facts, Phase};
use crate::diag::{self, join, json_type, Errors, FieldError};
use crate::duration::Duration as ConfigDuration;
use crate::expect::Expect;
use crate::template::{self, Vars};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub(crate) mod per_function;
pub(crate) mod source;
mod strict;

pub(crate) use source::{ConfigSource, ParameterStore};

/// Every problem found in a config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) struct ConfigError {
    /// The problems, in document order.
    pub(crate) errors: Vec<FieldError>,
    /// Where the config came from, when it is worth saying (an SSM parameter chosen per
    /// function).
    pub(crate) origin: Option<String>,
}

impl ConfigError {
    /// A config error with these problems.
    pub(crate) fn new(errors: Vec<FieldError>) -> Self {
        Self {
            errors,
            origin: None,
        }
    }

    /// A config error with a single problem.
    pub(crate) fn single(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(vec![FieldError {
            path: path.into(),
            message: message.into(),
        }])
    }

    /// Says where the config came from.
    pub(crate) fn with_origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        let origin = self
            .origin
            .as_deref()
            .map(|o| format!(" in {o}"))
            .unwrap_or_default();
        write!(
            f,
            "invalid config{origin} ({n} error{}): ",
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
#[derive(Clone)]
pub(crate) struct Config {
    /// Stop checking this long before the Lambda deadline, to leave time to report.
    pub(crate) report_reserve: Duration,
    /// Run and log everything, but report `Succeeded`.
    pub(crate) dry_run: bool,
    /// Facts about the deployment for when it cannot tell (terminal runs).
    pub(crate) target: Facts,
    /// The verdict when no check applies.
    pub(crate) no_checks: NoChecks,
    /// The checks, in file order.
    pub(crate) checks: Vec<CheckConfig>,
    /// Metrics, notifications, the skip switch, rollbacks and pruning.
    pub(crate) ops: crate::ops::Operations,
    /// The longest a phase's checks may take across continuations, from the first
    /// invocation.
    pub(crate) max_duration: Duration,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("report_reserve", &self.report_reserve)
            .field("dry_run", &self.dry_run)
            .field(
                "checks",
                &self.checks.iter().map(|c| &c.name).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// The most checks a config may hold.
pub(crate) const MAX_CHECKS: usize = 200;

/// The `max_duration` of a config that sets none.
pub(crate) const DEFAULT_MAX_DURATION: Duration = Duration::from_secs(55 * 60);

/// The most `max_duration` may be: CodeDeploy fails a hook that has not reported after
/// an hour, and the last invocation needs time to report.
pub(crate) const MAX_MAX_DURATION: Duration = Duration::from_secs(59 * 60);

/// The least `report_reserve` a config may set.
pub(crate) const MIN_REPORT_RESERVE: Duration = Duration::from_secs(1);

/// The most `report_reserve` a config may set.
pub(crate) const MAX_REPORT_RESERVE: Duration = Duration::from_secs(300);

/// The `report_reserve` when the config does not set one (or cannot be read).
pub(crate) const DEFAULT_REPORT_RESERVE: Duration = Duration::from_secs(5);

/// The least and most a `timeout` or `interval` may be.
const TIMING_BOUNDS: (Duration, Duration) = (Duration::from_millis(1), Duration::from_secs(900));

impl Default for Config {
    fn default() -> Self {
        Self {
            report_reserve: DEFAULT_REPORT_RESERVE,
            dry_run: false,
            target: Facts::default(),
            no_checks: NoChecks::default(),
            checks: Vec::new(),
            ops: crate::ops::Operations::default(),
            max_duration: DEFAULT_MAX_DURATION,
        }
    }
}

/// One validated check, still holding `{{variables}}`: they are rendered per deployment.
#[derive(Clone)]
pub(crate) struct CheckConfig {
    /// Unique name.
    pub(crate) name: String,
    /// Where it is in the file (`checks[2]`).
    pub(crate) path: String,
    /// Phase it runs in; `None` for any.
    pub(crate) phase: Option<Phase>,
    /// Repetitions and limits.
    pub(crate) timing: Timing,
    /// `expect` conditions as written (may hold `{{variables}}`); empty for the default.
    pub(crate) expect: Vec<String>,
    /// `until` as written; `None` for the kind's default.
    pub(crate) until: Option<String>,
    /// Whether `count` was set (on the check or in `defaults`): a check with `until`
    /// and no `count` measures until it holds, bounded only by the time it has.
    pub(crate) count_set: bool,
    /// Cannot fail the deployment.
    pub(crate) dry_run: bool,
    /// The functions it is for (`functions:` globs); `None`: every function.
    pub(crate) functions: Option<Functions>,
    /// Its kind.
    pub(crate) kind: Arc<dyn DynKind>,
    /// Its kind is a user's, which may need the AWS SDK config when it is built, and
    /// runs apart from the hook's thread.
    pub(crate) user_kind: bool,
    /// The kind's section as written.
    pub(crate) spec: Value,
}

/// A configured check that cannot run for this deployment (a variable without a value,
/// say). It fails on its own; the other checks still run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CheckBuildError {
    /// The check's name.
    pub(crate) name: String,
    /// Its kind.
    pub(crate) kind: &'static str,
    /// Its phase.
    pub(crate) phase: Option<Phase>,
    /// It cannot fail the deployment, even when it cannot run.
    pub(crate) dry_run: bool,
    /// The functions it is for.
    pub(crate) functions: Option<Functions>,
    /// Why it cannot run.
    pub(crate) reason: String,
}

const TOP_KEYS: [&str; 7] = [
    "report_reserve",
    "max_duration",
    "dry_run",
    "defaults",
    "target",
    "checks",
    "no_checks",
];

/// The verdict when no check applies to a function and phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum NoChecks {
    /// Report `Succeeded` (the reason says nothing was checked).
    #[default]
    Succeed,
    /// Report `Failed`: every function must be checked.
    Fail,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    #[serde(default)]
    function: Option<String>,
    #[serde(default)]
    alias: Option<String>,
    #[serde(default, deserialize_with = "diag::string_or_number")]
    current_version: Option<String>,
    #[serde(default, deserialize_with = "diag::string_or_number")]
    target_version: Option<String>,
}

/// `pre`, `post` or `any`.
struct PhaseField(Option<Phase>);

impl<'de> Deserialize<'de> for PhaseField {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self(match String::deserialize(d)?.as_str() {
            "pre" => Some(Phase::Pre),
            "post" => Some(Phase::Post),
            "any" => None,
            other => {
                return Err(serde::de::Error::custom(format!(
                    "`{other}` is not a phase; use pre, post or any"
                )))
            }
        }))
    }
}

impl Config {
    /// Parses and validates a config in YAML or JSON, with checks of `kinds`.
    pub(crate) fn parse(text: &str, kinds: &Kinds) -> Result<Self, ConfigError> {
        let doc = strict::read(text).map_err(|e| ConfigError::new(vec![e]))?;
        Self::from_value(&doc, kinds)
    }

    /// Validates a config already read into a JSON tree.
    pub(crate) fn from_value(doc: &Value, kinds: &Kinds) -> Result<Self, ConfigError> {
        let mut errs = Errors::default();
        let Value::Object(top) = doc else {
            let found = if doc.is_null() {
                "an empty document".to_owned()
            } else {
                json_type(doc).to_owned()
            };
            return Err(ConfigError::single(
                "(config)",
                format!("expected a mapping with `checks:`, got {found}"),
            ));
        };
        diag::unknown_keys(top, "", &[&TOP_KEYS, &crate::ops::KEYS], &mut errs);
        let mut config = Config {
            ops: crate::ops::parse(top, &mut errs),
            ..Config::default()
        };
        if let Some(d) = duration(top, "", "report_reserve", &mut errs) {
            if d < MIN_REPORT_RESERVE {
                errs.push(
                    "report_reserve",
                    "must be at least 1s: reporting (and retrying the report) needs time",
                );
            } else if d > MAX_REPORT_RESERVE {
                errs.push(
                    "report_reserve",
                    "must be at most 5m: it is time kept back from the checks",
                );
            }
            config.report_reserve = d;
        }
        if let Some(d) = duration(top, "", "max_duration", &mut errs) {
            let max = MAX_MAX_DURATION;
            if d.is_zero() || d > max {
                errs.push(
                    "max_duration",
                    "must be more than 0s and at most 59m: CodeDeploy fails a hook that has not reported within an hour",
                );
            } else {
                config.max_duration = d;
            }
        }
        if let Some(v) = top.get("dry_run") {
            config.dry_run = errs.de(v, "dry_run").unwrap_or(false);
        }
        if let Some(v) = top.get("no_checks") {
            config.no_checks = errs.de(v, "no_checks").unwrap_or_default();
        }
        let mut defaults = Timing::default();
        let mut defaults_count = false;
        if let Some(v) = top.get("defaults") {
            match v.as_object() {
                Some(map) => {
                    defaults_count = map.contains_key("count");
                    diag::unknown_keys(map, "defaults", &[&TIMING_FIELDS], &mut errs);
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
            Some(Value::Array(items)) if items.len() > MAX_CHECKS => errs.push(
                "checks",
                format!(
                    "{} checks; at most {MAX_CHECKS} (they run concurrently in one small Lambda)",
                    items.len()
                ),
            ),
            Some(Value::Array(items)) => {
                let mut seen: BTreeMap<String, usize> = BTreeMap::new();
                for (i, item) in items.iter().enumerate() {
                    let path = format!("checks[{i}]");
                    if let Some(c) =
                        check(item, &path, (defaults, defaults_count), kinds, &mut errs)
                    {
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
                format!("expected a list of checks, got {}", json_type(other)),
            ),
        }
        if errs.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::new(errs.into_vec()))
        }
    }

    /// Whether building the checks may need the AWS SDK config (a user's kind).
    pub(crate) fn needs_sdk_to_build(&self) -> bool {
        self.checks.iter().any(|c| c.user_kind)
    }

    /// Builds the checks for `deployment`, rendering `{{variables}}`. A check that
    /// cannot be built (a variable without a value, say) comes back as `Err` with
    /// its name and reason, so it fails on its own without hiding the others.
    pub(crate) fn build_checks(
        &self,
        deployment: &Deployment,
        env: &BTreeMap<String, String>,
        effects: &Effects,
    ) -> Vec<Result<CheckSpec, CheckBuildError>> {
        let vars = Vars::new(deployment, env.clone());
        self.checks
            .iter()
            .map(|c| {
                c.build(deployment, &vars, effects)
                    .map_err(|reason| CheckBuildError {
                        name: c.name.clone(),
                        kind: c.kind.name(),
                        phase: c.phase,
                        dry_run: c.dry_run,
                        functions: c.functions.clone(),
                        reason,
                    })
            })
            .collect()
    }

    /// The checks that cannot finish within `timeout` (the hook function's Lambda
    /// timeout) less `report_reserve` at their worst case, one error per check, each
    /// naming the check, its phase and the arithmetic.
    pub(crate) fn timing_problems(&self, timeout: Duration) -> Vec<FieldError> {
        let budget = timeout.saturating_sub(self.report_reserve);
        let deployment = Deployment::placeholder();
        let effects = Effects::inert();
        let vars = Vars::placeholders();
        let mut problems = Vec::new();
        for c in &self.checks {
            let worst = match c.build(&deployment, &vars, &effects) {
                // A gate waits as long as it is given (continuations carry it on).
                Ok(spec) if spec.waits_until_it_holds() => continue,
                Ok(spec) => spec.worst_case(),
                Err(_) => c.timing.worst_case(c.timing.timeout),
            };
            if worst > budget {
                let phases = match c.phase {
                    Some(p) => format!("phase {p}"),
                    None => "phases pre and post".to_owned(),
                };
                problems.push(FieldError {
                    path: c.path.clone(),
                    message: format!(
                        "`{}` ({phases}) may take up to {} (initial_delay + count × timeout + intervals), more than the {} a {} timeout leaves after report_reserve {}",
                        c.name,
                        crate::duration::format(worst),
                        crate::duration::format(budget),
                        crate::duration::format(timeout),
                        crate::duration::format(self.report_reserve),
                    ),
                });
            }
        }
        problems
    }
}

/// Reads `key` of `map` as a duration, bounded where the key's meaning bounds it.
fn duration(
    map: &Map<String, Value>,
    base: &str,
    key: &str,
    errs: &mut Errors,
) -> Option<Duration> {
    let path = join(base, key);
    let d = errs.de::<ConfigDuration>(map.get(key)?, &path)?.get();
    if matches!(key, "timeout" | "interval") {
        let (min, max) = TIMING_BOUNDS;
        if d < min || d > max {
            errs.push(
                path,
                format!(
                    "must be at least {} and at most {} (a Lambda runs at most 15 minutes)",
                    crate::duration::format(min),
                    crate::duration::format(max)
                ),
            );
            return None;
        }
    }
    if key == "initial_delay" && d > TIMING_BOUNDS.1 {
        errs.push(
            path,
            "must be at most 15m (a Lambda runs at most 15 minutes)",
        );
        return None;
    }
    Some(d)
}

fn timing(map: &Map<String, Value>, path: &str, base: Timing, errs: &mut Errors) -> Timing {
    let mut t = base;
    if let Some(d) = duration(map, path, "timeout", errs) {
        t.timeout = d;
    }
    if let Some(d) = duration(map, path, "interval", errs) {
        t.interval = d;
    }
    if let Some(d) = duration(map, path, "initial_delay", errs) {
        t.initial_delay = d;
    }
    let mut count = |key: &str| -> Option<u32> { errs.de::<u32>(map.get(key)?, &join(path, key)) };
    if let Some(n) = count("count") {
        t.count = n;
    }
    if let Some(n) = count("failure_limit") {
        t.failure_limit = n;
    }
    if let Some(n) = count("consecutive_error_limit") {
        t.consecutive_error_limit = n;
    }
    if map.contains_key("count") && t.count == 0 {
        errs.push(join(path, "count"), "must be at least 1");
    }
    t
}

fn check(
    item: &Value,
    path: &str,
    (defaults, defaults_count): (Timing, bool),
    kinds: &Kinds,
    errs: &mut Errors,
) -> Option<CheckConfig> {
    let names: Vec<&'static str> = kinds.names().collect();
    let Some(map) = item.as_object() else {
        errs.push(
            path,
            format!(
                "expected a mapping with `name` and one kind ({}), got {}",
                names.join(", "),
                json_type(item)
            ),
        );
        return None;
    };
    diag::unknown_keys(map, path, &[&CHECK_FIELDS, &TIMING_FIELDS, &names], errs);
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
    let phase = map
        .get("phase")
        .and_then(|v| errs.de::<PhaseField>(v, &join(path, "phase")))
        .and_then(|p| p.0);
    let dry_run = map
        .get("dry_run")
        .and_then(|v| errs.de::<bool>(v, &join(path, "dry_run")))
        .unwrap_or(false);
    let functions = map.get("functions").and_then(|v| {
        let fpath = join(path, "functions");
        let globs: Vec<String> = match v {
            Value::String(s) => vec![s.clone()],
            other => errs.de(other, &fpath)?,
        };
        if globs.is_empty() {
            errs.push(
                &fpath,
                "empty: list the functions, or leave `functions` out for all",
            );
            return None;
        }
        Functions::new(&globs)
            .map_err(|(i, e)| errs.push(format!("{fpath}[{i}]"), e))
            .ok()
    });
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
                    json_type(other)
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
        compiles(text, &expect_path(i), errs);
    }
    let until = map
        .get("until")
        .and_then(|v| errs.de::<String>(v, &join(path, "until")));
    if let Some(text) = &until {
        compiles(text, &join(path, "until"), errs);
    }
    let present: Vec<&'static str> = names
        .iter()
        .copied()
        .filter(|k| map.contains_key(*k))
        .collect();
    let kind = match present.as_slice() {
        [k] => kinds.get(k)?.clone(),
        [] => {
            errs.push(
                path,
                format!("no check kind: set one of {}", names.join(", ")),
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
    let spec = map.get(kind.name()).cloned().unwrap_or(Value::Null);
    let kind_path = join(path, kind.name());
    match template::render_value(&spec, &Vars::placeholders(), &kind_path) {
        Err((p, e)) => errs.push(p, e),
        Ok(rendered) => {
            let section = Section {
                value: &rendered,
                raw: &spec,
                path: &kind_path,
            };
            if let Some(crate::check::kind::Defaults { expect: None, .. }) =
                kind.validate(&section, errs)
            {
                if expect.is_empty() {
                    errs.push(
                        join(path, "expect"),
                        format!("required for {} checks", kind.name()),
                    );
                }
            }
        }
    }
    Some(CheckConfig {
        functions,
        user_kind: !kinds.is_builtin(kind.name()),
        name: name?,
        path: path.to_owned(),
        phase,
        timing,
        expect,
        until,
        count_set: defaults_count || map.contains_key("count"),
        dry_run,
        kind,
        spec,
    })
}

/// Pushes an error at `path` unless `text` (an `expect` or `until` condition, maybe
/// with `{{variables}}`) compiles with placeholder values.
fn compiles(text: &str, path: &str, errs: &mut Errors) {
    match template::render(text, &Vars::expect_placeholders()) {
        Err(e) => errs.push(path, e),
        Ok(rendered) => {
            if let Err(e) = Expect::compile(&[rendered]) {
                errs.push(path, e.to_string());
            }
        }
    }
}

impl CheckConfig {
    /// Renders the variables and makes the runnable check.
    pub(crate) fn build(
        &self,
        deployment: &Deployment,
        vars: &Vars,
        effects: &Effects,
    ) -> Result<CheckSpec, String> {
        let path = self.kind.name();
        let spec =
            template::render_value(&self.spec, vars, path).map_err(|(p, e)| format!("{p}: {e}"))?;
        let cx = BuildContext {
            deployment,
            timing: self.timing,
            effects,
        };
        let section = Section {
            value: &spec,
            raw: &self.spec,
            path,
        };
        let (check, default) = self.kind.build(&section, &cx).map_err(|e| e.to_string())?;
        let expect = if self.expect.is_empty() {
            let default = default
                .expect
                .ok_or_else(|| format!("`expect` is required for {path} checks"))?;
            vec![default.to_owned()]
        } else {
            self.expect
                .iter()
                .map(|e| template::render(e, vars))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("expect: {e}"))?
        };
        let until = match (&self.until, default.until) {
            (Some(text), _) => {
                Some(template::render(text, vars).map_err(|e| format!("until: {e}"))?)
            }
            (None, d) => d.map(str::to_owned),
        };
        let until = until
            .map(|u| Expect::compile(&[u]).map_err(|e| format!("until: {e}")))
            .transpose()?;
        let mut timing = self.timing;
        if until.is_some() && !self.count_set {
            timing.count = crate::check::UNTIL_HOLDS;
        }
        let mut secrets = template::env_values(&self.spec, vars);
        for e in self.expect.iter().chain(&self.until) {
            secrets.extend(template::env_values(&Value::String(e.clone()), vars));
        }
        Ok(CheckSpec {
            functions: self.functions.clone(),
            redactor: crate::redact::Redactor::new(secrets),
            name: self.name.clone(),
            kind: self.kind.name(),
            phase: self.phase,
            timing,
            expect: Expect::compile(&expect).map_err(|e| e.to_string())?,
            until,
            dry_run: self.dry_run,
            check,
            user_kind: self.user_kind,
        })
    }
}

#[cfg(test)]
mod tests;
