//! Reading a SAM template: what one function's deployment is made of.
//!
//! The YAML's CloudFormation tags (`!Ref`, `!Sub`, `!GetAtt`, `!If`, ...) are read into
//! their JSON forms (`{"Ref": ...}`), then only what the simulation needs is resolved:
//! the function's `DeploymentPreference` (merged with `Globals.Function`), its alarms'
//! definitions and its hooks' functions. Parameters take their defaults unless
//! overridden; resources resolve to simulated names (stack `sim`). Anything that cannot
//! be simulated is an error that names its place in the template, never a guess.

use super::schedule::DeploymentConfig;
use crate::FakeAlarm;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

/// The simulated stack's name (`${AWS::StackName}`).
pub const STACK: &str = "sim";
const REGION: &str = "us-east-1";
const ACCOUNT: &str = "123456789012";

/// A template problem, at a path such as `Resources.Fn.Properties.DeploymentPreference.Type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// Where in the template.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for TemplateError {}

fn err(path: &str, message: impl Into<String>) -> TemplateError {
    TemplateError {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// A hook function, as the simulation runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct HookFunction {
    /// Its logical id.
    pub logical_id: String,
    /// Its simulated function name (`CodeDeployHook_sim-pre`).
    pub name: String,
    /// `Environment.Variables`, resolved.
    pub environment: BTreeMap<String, String>,
    /// `Timeout`, seconds (default 3, as Lambda's).
    pub timeout: u64,
    /// `MemorySize`, MB (default 128).
    pub memory: u64,
    /// `Metadata.BuildProperties.Binary` (default `traffic-hook`).
    pub binary: String,
}

/// Everything about one function's deployment the simulation needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The function's logical id.
    pub logical_id: String,
    /// Its simulated name.
    pub function: String,
    /// `AutoPublishAlias`.
    pub alias: String,
    /// How traffic shifts.
    pub config: DeploymentConfig,
    /// The alarms CodeDeploy watches (in `INSUFFICIENT_DATA` until evaluated).
    pub alarms: Vec<FakeAlarm>,
    /// `Hooks.PreTraffic`.
    pub pre: Option<HookFunction>,
    /// `Hooks.PostTraffic`.
    pub post: Option<HookFunction>,
    /// `DeploymentPreference.Enabled` (default true).
    pub enabled: bool,
    /// Automatic rollback on failure and on alarms (SAM turns it on).
    pub rollback: bool,
}

/// Reads the YAML (or JSON) text of a template into its JSON form.
pub fn read(text: &str) -> Result<Value, TemplateError> {
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(text)
        .map_err(|e| err("(template)", format!("not valid YAML or JSON: {e}")))?;
    to_json(yaml, "")
}

/// The JSON form of an intrinsic tag: `!Ref X` → `{"Ref": X}`, `!GetAtt A.B` →
/// `{"Fn::GetAtt": ["A", "B"]}`, `!Sub s` → `{"Fn::Sub": s}`, ...
fn to_json(v: serde_yaml_ng::Value, path: &str) -> Result<Value, TemplateError> {
    use serde_yaml_ng::Value as Y;
    Ok(match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(&n).unwrap_or(Value::Null),
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| to_json(v, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Y::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s,
                    other => serde_yaml_ng::to_string(&other)
                        .unwrap_or_default()
                        .trim()
                        .to_owned(),
                };
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                out.insert(key, to_json(v, &child)?);
            }
            Value::Object(out)
        }
        Y::Tagged(t) => {
            let tag = t.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = to_json(t.value, path)?;
            let (key, value) = match name {
                "Ref" => ("Ref".to_owned(), inner),
                "Condition" => ("Condition".to_owned(), inner),
                "GetAtt" => {
                    let value = match inner {
                        Value::String(s) => match s.split_once('.') {
                            Some((a, b)) => Value::Array(vec![a.into(), b.into()]),
                            None => {
                                return Err(err(
                                    path,
                                    format!("`!GetAtt {s}` needs Resource.Attribute"),
                                ))
                            }
                        },
                        other => other,
                    };
                    ("Fn::GetAtt".to_owned(), value)
                }
                other => (format!("Fn::{other}"), inner),
            };
            let mut m = Map::new();
            m.insert(key, value);
            Value::Object(m)
        }
    })
}

/// The predefined SAM and CodeDeploy deployment configurations' names.
fn is_intrinsic(m: &Map<String, Value>) -> Option<(&str, &Value)> {
    if m.len() != 1 {
        return None;
    }
    let (k, v) = m.iter().next()?;
    (k == "Ref" || k == "Condition" || k.starts_with("Fn::")).then_some((k.as_str(), v))
}

/// Resolves intrinsics against parameters, conditions and simulated resource names.
pub struct Resolver<'t> {
    template: &'t Value,
    params: BTreeMap<String, Value>,
    /// The version being deployed (`!GetAtt Fn.Version.Version`).
    target_version: String,
}

/// What `Fn::If` with `AWS::NoValue` leaves behind: removed from lists and maps.
const NO_VALUE: &str = "\u{0}AWS::NoValue";

impl<'t> Resolver<'t> {
    /// A resolver for `template` with `overrides` of its parameters' defaults.
    pub fn new(
        template: &'t Value,
        overrides: &BTreeMap<String, String>,
        target_version: &str,
    ) -> Result<Self, TemplateError> {
        let declared = template
            .get("Parameters")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut params = BTreeMap::new();
        for (name, decl) in &declared {
            let path = format!("Parameters.{name}");
            let value = match overrides.get(name) {
                Some(v) => {
                    let allowed = decl.get("AllowedValues").and_then(Value::as_array);
                    if let Some(allowed) = allowed {
                        if !allowed
                            .iter()
                            .any(|a| scalar(a).as_deref() == Some(v.as_str()))
                        {
                            return Err(err(
                                &path,
                                format!("`{v}` is not one of its AllowedValues"),
                            ));
                        }
                    }
                    Value::String(v.clone())
                }
                None => decl.get("Default").cloned().ok_or_else(|| {
                    err(&path, "has no Default: give it with --parameter NAME=VALUE")
                })?,
            };
            params.insert(name.clone(), value);
        }
        for name in overrides.keys() {
            if !declared.contains_key(name) {
                return Err(err(
                    "Parameters",
                    format!("--parameter {name}: the template declares no such parameter"),
                ));
            }
        }
        Ok(Self {
            template,
            params,
            target_version: target_version.to_owned(),
        })
    }

    fn resource(&self, id: &str) -> Option<&'t Value> {
        self.template.get("Resources").and_then(|r| r.get(id))
    }

    fn resource_type(&self, id: &str) -> Option<&'t str> {
        self.resource(id)?.get("Type")?.as_str()
    }

    /// The simulated name of a resource (what `!Ref` gives).
    pub fn physical_name(&self, id: &str, path: &str) -> Result<String, TemplateError> {
        let Some(res) = self.resource(id) else {
            return Err(err(
                path,
                format!("`{id}` is not a parameter or resource of the template"),
            ));
        };
        let own_name = match self.resource_type(id).unwrap_or_default() {
            "AWS::Serverless::Function" | "AWS::Lambda::Function" => "FunctionName",
            "AWS::CloudWatch::Alarm" => "AlarmName",
            "AWS::CodeDeploy::DeploymentConfig" => "DeploymentConfigName",
            _ => "",
        };
        match res.get("Properties").and_then(|p| p.get(own_name)) {
            Some(v) if !own_name.is_empty() => {
                let p = format!("Resources.{id}.Properties.{own_name}");
                self.string(v, &p)
            }
            _ => Ok(format!("{STACK}-{id}")),
        }
    }

    fn arn(&self, id: &str, path: &str) -> Result<String, TemplateError> {
        let name = self.physical_name(id, path)?;
        Ok(match self.resource_type(id).unwrap_or_default() {
            "AWS::CloudWatch::Alarm" => {
                format!("arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}")
            }
            _ => format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"),
        })
    }

    /// Resolves every intrinsic in `v`.
    pub fn resolve(&self, v: &Value, path: &str) -> Result<Value, TemplateError> {
        match v {
            Value::Array(items) => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    let r = self.resolve(item, &format!("{path}[{i}]"))?;
                    if r != Value::String(NO_VALUE.into()) {
                        out.push(r);
                    }
                }
                Ok(Value::Array(out))
            }
            Value::Object(m) => match is_intrinsic(m) {
                Some((name, arg)) => self.intrinsic(name, arg, path),
                None => {
                    let mut out = Map::new();
                    for (k, item) in m {
                        let r = self.resolve(item, &format!("{path}.{k}"))?;
                        if r != Value::String(NO_VALUE.into()) {
                            out.insert(k.clone(), r);
                        }
                    }
                    Ok(Value::Object(out))
                }
            },
            other => Ok(other.clone()),
        }
    }

    /// Resolves `v` to a string (numbers read as their text).
    pub fn string(&self, v: &Value, path: &str) -> Result<String, TemplateError> {
        let r = self.resolve(v, path)?;
        scalar(&r).ok_or_else(|| err(path, format!("expected a string, got {r}")))
    }

    fn intrinsic(&self, name: &str, arg: &Value, path: &str) -> Result<Value, TemplateError> {
        match name {
            "Ref" => {
                let target = self.string(arg, path)?;
                self.reference(&target, path).map(Value::String)
            }
            "Fn::GetAtt" => {
                let parts: Vec<String> = match self.resolve(arg, path)? {
                    Value::Array(p) => p.iter().filter_map(scalar).collect(),
                    Value::String(s) => s.splitn(2, '.').map(str::to_owned).collect(),
                    other => return Err(err(path, format!("`Fn::GetAtt` of {other}"))),
                };
                let [res, attr] = parts.as_slice() else {
                    return Err(err(path, "`Fn::GetAtt` needs [Resource, Attribute]"));
                };
                self.get_att(res, attr, path).map(Value::String)
            }
            "Fn::Sub" => self.sub(arg, path).map(Value::String),
            "Fn::If" => {
                let Some([cond, yes, no]) = arg.as_array().and_then(|a| <&[Value; 3]>::try_from(a.as_slice()).ok()) else {
                    return Err(err(path, "`Fn::If` needs [Condition, IfTrue, IfFalse]"));
                };
                let cond = self.string(cond, path)?;
                if self.condition(&cond, path)? {
                    self.resolve(yes, path)
                } else {
                    self.resolve(no, path)
                }
            }
            "Fn::Join" => {
                let Some([sep, list]) = arg.as_array().and_then(|a| <&[Value; 2]>::try_from(a.as_slice()).ok()) else {
                    return Err(err(path, "`Fn::Join` needs [Delimiter, List]"));
                };
                let sep = self.string(sep, path)?;
                let items = match self.resolve(list, path)? {
                    Value::Array(items) => items,
                    other => return Err(err(path, format!("`Fn::Join` of {other}"))),
                };
                let parts: Vec<String> = items.iter().filter_map(scalar).collect();
                Ok(Value::String(parts.join(&sep)))
            }
            "Fn::Select" => {
                let Some([index, list]) = arg.as_array().and_then(|a| <&[Value; 2]>::try_from(a.as_slice()).ok()) else {
                    return Err(err(path, "`Fn::Select` needs [Index, List]"));
                };
                let i: usize = self.string(index, path)?.parse().map_err(|_| err(path, "`Fn::Select` index is not a number"))?;
                match self.resolve(list, path)? {
                    Value::Array(items) => items.get(i).cloned().ok_or_else(|| err(path, "`Fn::Select` index out of range")),
                    other => Err(err(path, format!("`Fn::Select` of {other}"))),
                }
            }
            "Condition" => {
                let cond = self.string(arg, path)?;
                self.condition(&cond, path).map(Value::Bool)
            }
            "Fn::Equals" | "Fn::Not" | "Fn::And" | "Fn::Or" => {
                self.condition_expr(&Value::Object([(name.to_owned(), arg.clone())].into_iter().collect()), path)
                    .map(Value::Bool)
            }
            other => Err(err(
                path,
                format!("`{other}` cannot be simulated: it needs something outside this template (another stack's export, a lookup); put the value in a parameter"),
            )),
        }
    }

    fn reference(&self, target: &str, path: &str) -> Result<String, TemplateError> {
        Ok(match target {
            "AWS::StackName" => STACK.to_owned(),
            "AWS::Region" => REGION.to_owned(),
            "AWS::AccountId" => ACCOUNT.to_owned(),
            "AWS::Partition" => "aws".to_owned(),
            "AWS::URLSuffix" => "amazonaws.com".to_owned(),
            "AWS::NoValue" => NO_VALUE.to_owned(),
            t if self.params.contains_key(t) => scalar(&self.params[t]).unwrap_or_default(),
            t => match t.split_once('.') {
                // SAM: `!Ref Fn.Alias` is the alias ARN, `!Ref Fn.Version` the version ARN.
                Some((res, "Alias")) => {
                    let alias = self.alias_of(res, path)?;
                    format!("{}:{alias}", self.arn(res, path)?)
                }
                Some((res, "Version")) => {
                    format!("{}:{}", self.arn(res, path)?, self.target_version)
                }
                _ => self.physical_name(t, path)?,
            },
        })
    }

    fn alias_of(&self, id: &str, path: &str) -> Result<String, TemplateError> {
        let props = self.function_properties(id);
        match props.get("AutoPublishAlias") {
            Some(v) => self.string(v, path),
            None => Err(err(path, format!("`{id}` has no AutoPublishAlias"))),
        }
    }

    fn get_att(&self, res: &str, attr: &str, path: &str) -> Result<String, TemplateError> {
        if self.resource(res).is_none() {
            return Err(err(
                path,
                format!("`{res}` is not a resource of the template"),
            ));
        }
        match attr {
            "Arn" => self.arn(res, path),
            "Version.Version" => Ok(self.target_version.clone()),
            "Alias.Name" => self.alias_of(res, path),
            "Version" => Ok(format!("{}:{}", self.arn(res, path)?, self.target_version)),
            other => Err(err(
                path,
                format!("`Fn::GetAtt` {res}.{other} cannot be simulated"),
            )),
        }
    }

    fn sub(&self, arg: &Value, path: &str) -> Result<String, TemplateError> {
        let (text, vars) = match arg {
            Value::String(s) => (s.clone(), Map::new()),
            Value::Array(a) if a.len() == 2 => (
                self.string(&a[0], path)?,
                a[1].as_object().cloned().unwrap_or_default(),
            ),
            other => return Err(err(path, format!("`Fn::Sub` of {other}"))),
        };
        let mut out = String::new();
        let mut rest = text.as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| err(path, "`Fn::Sub`: `${` without `}`"))?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(v) = vars.get(name) {
                out.push_str(&self.string(v, path)?);
            } else if let Some((res, attr)) = name
                .split_once('.')
                .filter(|(r, _)| self.resource(r).is_some() && !name.starts_with("AWS::"))
            {
                out.push_str(&self.get_att(res, attr, path)?);
            } else {
                out.push_str(&self.reference(name, path)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn condition(&self, name: &str, path: &str) -> Result<bool, TemplateError> {
        let expr = self
            .template
            .get("Conditions")
            .and_then(|c| c.get(name))
            .ok_or_else(|| err(path, format!("no condition `{name}` in Conditions")))?;
        self.condition_expr(expr, &format!("Conditions.{name}"))
    }

    fn condition_expr(&self, expr: &Value, path: &str) -> Result<bool, TemplateError> {
        let Some((name, arg)) = expr.as_object().and_then(is_intrinsic) else {
            return Err(err(path, format!("not a condition: {expr}")));
        };
        let list = || {
            arg.as_array()
                .cloned()
                .ok_or_else(|| err(path, format!("`{name}` needs a list")))
        };
        match name {
            "Fn::Equals" => {
                let items = list()?;
                let [a, b] = items.as_slice() else {
                    return Err(err(path, "`Fn::Equals` needs two values"));
                };
                Ok(self.string(a, path)? == self.string(b, path)?)
            }
            "Fn::Not" => Ok(!self.condition_expr(list()?.first().unwrap_or(&Value::Null), path)?),
            "Fn::And" => list()?
                .iter()
                .try_fold(true, |acc, c| Ok(acc && self.condition_expr(c, path)?)),
            "Fn::Or" => list()?
                .iter()
                .try_fold(false, |acc, c| Ok(acc || self.condition_expr(c, path)?)),
            "Condition" => self.condition(&self.string(arg, path)?, path),
            other => Err(err(path, format!("`{other}` is not a condition function"))),
        }
    }

    /// A function's properties with `Globals.Function` under them (the function's own
    /// win; maps such as `Environment.Variables` merge).
    pub fn function_properties(&self, id: &str) -> Map<String, Value> {
        let globals = self
            .template
            .get("Globals")
            .and_then(|g| g.get("Function"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let own = self
            .resource(id)
            .and_then(|r| r.get("Properties"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut merged = globals;
        for (k, v) in own {
            match (merged.get_mut(&k), v) {
                (Some(Value::Object(g)), Value::Object(o)) if k != "DeploymentPreference" => {
                    deep_merge(g, o)
                }
                (_, v) => {
                    merged.insert(k, v);
                }
            }
        }
        merged
    }
}

fn deep_merge(base: &mut Map<String, Value>, over: Map<String, Value>) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(Value::Object(b)), Value::Object(o)) => deep_merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// A scalar as text.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Reads the deployment of `function` from `template`.
pub fn plan(
    template: &Value,
    function: &str,
    overrides: &BTreeMap<String, String>,
    target_version: &str,
) -> Result<Plan, TemplateError> {
    let r = Resolver::new(template, overrides, target_version)?;
    let res_path = format!("Resources.{function}");
    let Some(resource) = r.resource(function) else {
        let functions: Vec<&str> = template
            .get("Resources")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter(|(_, v)| {
                v.get("Type").and_then(Value::as_str) == Some("AWS::Serverless::Function")
            })
            .map(|(k, _)| k.as_str())
            .collect();
        return Err(err(
            &res_path,
            format!(
                "no such resource; the template's functions: {}",
                functions.join(", ")
            ),
        ));
    };
    if resource.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
        return Err(err(
            &format!("{res_path}.Type"),
            "is not AWS::Serverless::Function",
        ));
    }
    let props = r.function_properties(function);
    let props_path = format!("{res_path}.Properties");
    let pref_path = format!("{props_path}.DeploymentPreference");
    let pref = match props.get("DeploymentPreference") {
        Some(p) => r.resolve(p, &pref_path)?,
        None => {
            return Err(err(
                &pref_path,
                "missing (here and in Globals.Function): without it CodeDeploy does not shift traffic, so there is nothing to simulate",
            ))
        }
    };
    let alias = match props.get("AutoPublishAlias") {
        Some(a) => r.string(a, &format!("{props_path}.AutoPublishAlias"))?,
        None => {
            return Err(err(
                &format!("{props_path}.AutoPublishAlias"),
                "missing: SAM needs it for a DeploymentPreference",
            ))
        }
    };
    let type_path = format!("{pref_path}.Type");
    let config_name = match pref.get("Type") {
        Some(t) => scalar(t).ok_or_else(|| err(&type_path, "expected a name"))?,
        None => return Err(err(&type_path, "missing")),
    };
    let config = match DeploymentConfig::named(&config_name) {
        Some(c) => c,
        None => match custom_config(&r, template, &config_name) {
            Some(c) => c?,
            None => {
                return Err(err(
                    &type_path,
                    format!(
                        "`{config_name}` is not a deployment config: use one of {} or an AWS::CodeDeploy::DeploymentConfig of the template",
                        DeploymentConfig::PREDEFINED.join(", ")
                    ),
                ))
            }
        },
    };
    let enabled = pref
        .get("Enabled")
        .and_then(scalar)
        .is_none_or(|e| e != "false");
    let mut alarms = Vec::new();
    for (i, a) in pref
        .get("Alarms")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let p = format!("{pref_path}.Alarms[{i}]");
        let name = scalar(a).ok_or_else(|| err(&p, "expected an alarm name"))?;
        alarms.push(alarm(&r, template, &name, &p)?);
    }
    let hook = |which: &str| -> Result<Option<HookFunction>, TemplateError> {
        let p = format!("{pref_path}.Hooks.{which}");
        let Some(h) = pref.get("Hooks").and_then(|h| h.get(which)) else {
            return Ok(None);
        };
        let name = scalar(h).ok_or_else(|| err(&p, "expected a hook function"))?;
        hook_function(&r, template, &name, &p).map(Some)
    };
    Ok(Plan {
        logical_id: function.to_owned(),
        function: r.physical_name(function, &res_path)?,
        alias,
        config,
        alarms,
        pre: hook("PreTraffic")?,
        post: hook("PostTraffic")?,
        enabled,
        rollback: true,
    })
}

/// A custom config named `name`: an `AWS::CodeDeploy::DeploymentConfig` of the template.
fn custom_config(
    r: &Resolver<'_>,
    template: &Value,
    name: &str,
) -> Option<Result<DeploymentConfig, TemplateError>> {
    let resources = template.get("Resources")?.as_object()?;
    let (id, res) = resources.iter().find(|(id, res)| {
        res.get("Type").and_then(Value::as_str) == Some("AWS::CodeDeploy::DeploymentConfig")
            && r.physical_name(id, "").ok().as_deref() == Some(name)
    })?;
    let path = format!("Resources.{id}.Properties.TrafficRoutingConfig");
    let routing = res
        .get("Properties")
        .and_then(|p| p.get("TrafficRoutingConfig"))?;
    Some(
        r.resolve(routing, &path)
            .and_then(|routing| DeploymentConfig::from_routing(name, &routing, &path)),
    )
}

fn find_by_name<'t>(
    r: &Resolver<'_>,
    template: &'t Value,
    kind: &str,
    name: &str,
) -> Option<(&'t String, &'t Value)> {
    template
        .get("Resources")?
        .as_object()?
        .iter()
        .find(|(id, res)| {
            res.get("Type").and_then(Value::as_str) == Some(kind)
                && r.physical_name(id, "").ok().as_deref() == Some(name)
        })
}

fn alarm(
    r: &Resolver<'_>,
    template: &Value,
    name: &str,
    path: &str,
) -> Result<FakeAlarm, TemplateError> {
    let (id, res) = find_by_name(r, template, "AWS::CloudWatch::Alarm", name).ok_or_else(|| {
        err(path, format!("alarm `{name}` is not an AWS::CloudWatch::Alarm of the template: its definition is needed to simulate it"))
    })?;
    let p = format!("Resources.{id}.Properties");
    let props = res.get("Properties").cloned().unwrap_or(Value::Null);
    if props.get("Metrics").is_some() {
        return Err(err(
            &format!("{p}.Metrics"),
            "metric math alarms cannot be simulated",
        ));
    }
    let field = |k: &str| -> Result<String, TemplateError> {
        let v = props
            .get(k)
            .ok_or_else(|| err(&format!("{p}.{k}"), "missing"))?;
        r.string(v, &format!("{p}.{k}"))
    };
    let number = |k: &str| -> Result<f64, TemplateError> {
        field(k)?
            .parse::<f64>()
            .map_err(|_| err(&format!("{p}.{k}"), "not a number"))
    };
    let mut dimensions = BTreeMap::new();
    for (i, d) in props
        .get("Dimensions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let dp = format!("{p}.Dimensions[{i}]");
        let name = r.string(d.get("Name").unwrap_or(&Value::Null), &format!("{dp}.Name"))?;
        let value = r.string(
            d.get("Value").unwrap_or(&Value::Null),
            &format!("{dp}.Value"),
        )?;
        dimensions.insert(name, value);
    }
    let statistic = match (props.get("Statistic"), props.get("ExtendedStatistic")) {
        (Some(_), _) => field("Statistic")?,
        (None, Some(_)) => field("ExtendedStatistic")?,
        (None, None) => return Err(err(&format!("{p}.Statistic"), "missing")),
    };
    let comparison = field("ComparisonOperator")?;
    if super::alarm::Comparison::parse(&comparison).is_none() {
        return Err(err(
            &format!("{p}.ComparisonOperator"),
            format!("`{comparison}` cannot be simulated"),
        ));
    }
    let treat = match props.get("TreatMissingData") {
        Some(_) => field("TreatMissingData")?,
        None => "missing".to_owned(),
    };
    if !matches!(
        treat.as_str(),
        "missing" | "notBreaching" | "breaching" | "ignore"
    ) {
        return Err(err(
            &format!("{p}.TreatMissingData"),
            format!("`{treat}` is not missing, notBreaching, breaching or ignore"),
        ));
    }
    Ok(FakeAlarm {
        name: name.to_owned(),
        namespace: field("Namespace")?,
        metric: field("MetricName")?,
        dimensions,
        statistic,
        period: number("Period")? as u32,
        evaluation_periods: number("EvaluationPeriods")? as u32,
        datapoints_to_alarm: props
            .get("DatapointsToAlarm")
            .map(|_| number("DatapointsToAlarm").map(|n| n as u32))
            .transpose()?,
        threshold: number("Threshold")?,
        comparison,
        treat_missing_data: treat,
        state: "INSUFFICIENT_DATA".to_owned(),
        reason: "Unchecked: Initial alarm creation".to_owned(),
        updated: 0.0,
    })
}

fn hook_function(
    r: &Resolver<'_>,
    template: &Value,
    name: &str,
    path: &str,
) -> Result<HookFunction, TemplateError> {
    let (id, res) = ["AWS::Serverless::Function", "AWS::Lambda::Function"]
        .iter()
        .find_map(|kind| find_by_name(r, template, kind, name))
        .ok_or_else(|| err(path, format!("hook `{name}` is not a function of the template: the simulator runs hooks it can build")))?;
    let props = r.function_properties(id);
    let p = format!("Resources.{id}.Properties");
    let mut environment = BTreeMap::new();
    if let Some(vars) = props.get("Environment").and_then(|e| e.get("Variables")) {
        let vars_path = format!("{p}.Environment.Variables");
        for (k, v) in r
            .resolve(vars, &vars_path)?
            .as_object()
            .into_iter()
            .flatten()
        {
            environment.insert(
                k.clone(),
                scalar(v).ok_or_else(|| err(&format!("{vars_path}.{k}"), "expected a string"))?,
            );
        }
    }
    let number = |k: &str, default: u64| -> Result<u64, TemplateError> {
        match props.get(k) {
            None => Ok(default),
            Some(v) => r
                .string(v, &format!("{p}.{k}"))?
                .parse()
                .map_err(|_| err(&format!("{p}.{k}"), "not a whole number")),
        }
    };
    let binary = res
        .get("Metadata")
        .and_then(|m| m.get("BuildProperties"))
        .and_then(|b| b.get("Binary"))
        .and_then(Value::as_str)
        .unwrap_or("traffic-hook")
        .to_owned();
    Ok(HookFunction {
        logical_id: id.clone(),
        name: name.to_owned(),
        environment,
        timeout: number("Timeout", 3)?,
        memory: number("MemorySize", 128)?,
        binary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tags_read_as_their_json_forms() {
        let v =
            read("a: !Ref X\nb: !GetAtt Fn.Version.Version\nc: !Sub '${X}-y'\nd: !If [C, 1, 2]\n")
                .unwrap();
        assert_eq!(
            v,
            json!({"a": {"Ref": "X"}, "b": {"Fn::GetAtt": ["Fn", "Version.Version"]},
                   "c": {"Fn::Sub": "${X}-y"}, "d": {"Fn::If": ["C", 1, 2]}})
        );
    }

    #[test]
    fn intrinsics_resolve_to_simulated_names() {
        let t = read(
            r#"
Parameters: { Stage: { Type: String, Default: prod } }
Conditions: { IsProd: !Equals [!Ref Stage, prod] }
Resources:
  Fn: { Type: AWS::Serverless::Function, Properties: { AutoPublishAlias: live } }
  Named: { Type: AWS::Serverless::Function, Properties: { FunctionName: !Sub "hook-${Stage}" } }
"#,
        )
        .unwrap();
        let r = Resolver::new(&t, &BTreeMap::new(), "7").unwrap();
        let s = |v: Value| r.string(&v, "x").unwrap();
        assert_eq!(s(json!({"Ref": "Fn"})), "sim-Fn");
        assert_eq!(s(json!({"Ref": "Named"})), "hook-prod");
        assert_eq!(
            s(json!({"Fn::Sub": "${Fn}:live/${AWS::Region}/${!Literal}"})),
            "sim-Fn:live/us-east-1/${Literal}"
        );
        assert_eq!(s(json!({"Fn::GetAtt": ["Fn", "Version.Version"]})), "7");
        assert_eq!(
            s(json!({"Ref": "Fn.Alias"})),
            "arn:aws:lambda:us-east-1:123456789012:function:sim-Fn:live"
        );
        assert_eq!(s(json!({"Fn::If": ["IsProd", "yes", "no"]})), "yes");
        let list = r
            .resolve(
                &json!([{"Fn::If": ["IsProd", {"Ref": "AWS::NoValue"}, "a"]}, "b"]),
                "x",
            )
            .unwrap();
        assert_eq!(list, json!(["b"]));
        let over =
            Resolver::new(&t, &[("Stage".to_owned(), "dev".to_owned())].into(), "7").unwrap();
        assert_eq!(
            over.string(&json!({"Fn::If": ["IsProd", "yes", "no"]}), "x")
                .unwrap(),
            "no"
        );
        let e = r
            .string(
                &json!({"Fn::ImportValue": "shared-hooks-pre"}),
                "Resources.Fn.x",
            )
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("Resources.Fn.x: `Fn::ImportValue` cannot be simulated"),
            "{e}"
        );
    }
}
