//! Diagnostics for config sections: [`FieldError`], the [`Errors`] collector and the
//! [`Fields`] walker.
//!
//! A leaf module: the config loader and every check kind use it, and it uses neither,
//! so validation code never imports in a circle. Like cargo-deny's config, each section
//! validates itself and pushes **every** problem it finds, each with its field path.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::fmt;

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

/// Collects problems while a config is walked, in document order.
#[derive(Debug, Default)]
pub struct Errors(Vec<FieldError>);

impl Errors {
    /// Records a problem at `path`.
    pub fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            path: path.into(),
            message: message.into(),
        });
    }

    /// How many problems were recorded so far.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Deserializes `value` into `T`, recording a failure with its full path below `path`.
    pub fn de<T: DeserializeOwned>(&mut self, value: &Value, path: &str) -> Option<T> {
        de(value, path).map_err(|e| self.0.push(e)).ok()
    }

    /// The problems, in the order they were found.
    pub(crate) fn into_vec(self) -> Vec<FieldError> {
        self.0
    }

    /// The problems recorded since the collector had `from` of them, joined in one line.
    pub(crate) fn since(&self, from: usize) -> String {
        self.0[from.min(self.0.len())..]
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Walks one mapping of a config field by field, so that every field's problem is
/// reported, not only the first one serde would stop at.
///
/// ```
/// use traffic_hooks::{Errors, Fields};
/// let section = serde_json::json!({ "flag": 7, "colour": "red" });
/// let mut errors = Errors::default();
/// let mut f = Fields::new(&section, "checks[0].no-freeze", &["flag"], &mut errors);
/// let flag: Option<String> = f.required("flag");
/// assert!(flag.is_none() && !f.ok());
/// assert_eq!(errors.len(), 2); // `flag` has the wrong type, `colour` is unknown
/// ```
pub struct Fields<'a> {
    map: Option<&'a Map<String, Value>>,
    path: String,
    errors: &'a mut Errors,
    before: usize,
}

impl<'a> Fields<'a> {
    /// Starts walking `section` at `path`. Keys not in `known` are reported at once;
    /// a section that is not a mapping is reported too (every field then reads as absent).
    pub fn new(section: &'a Value, path: &str, known: &[&str], errors: &'a mut Errors) -> Self {
        let before = errors.len();
        let map = match section {
            Value::Object(map) => {
                unknown_keys(map, path, &[known], errors);
                Some(map)
            }
            Value::Null if known.is_empty() => None,
            other => {
                errors.push(
                    path,
                    format!(
                        "expected a mapping of {}, got {}",
                        if known.is_empty() {
                            "nothing".to_owned()
                        } else {
                            known.join(", ")
                        },
                        json_type(other)
                    ),
                );
                None
            }
        };
        Self {
            map,
            path: path.to_owned(),
            errors,
            before,
        }
    }

    /// The path of a field of this section.
    pub fn path_of(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// The raw value of `key`, if present.
    pub fn raw(&self, key: &str) -> Option<&'a Value> {
        self.map.and_then(|m| m.get(key))
    }

    /// `key` read as `T`; absent or `null` is `None`, a wrong value is recorded.
    pub fn optional<T: DeserializeOwned>(&mut self, key: &str) -> Option<T> {
        match self.raw(key) {
            None | Some(Value::Null) => None,
            Some(v) => {
                let path = self.path_of(key);
                self.errors.de(v, &path)
            }
        }
    }

    /// `key` read as `T`; absent is recorded as missing.
    pub fn required<T: DeserializeOwned>(&mut self, key: &str) -> Option<T> {
        if self.map.is_some() && self.raw(key).is_none_or(Value::is_null) {
            let path = self.path_of(key);
            self.errors.push(path, "missing: this field is required");
            return None;
        }
        self.optional(key)
    }

    /// The collector, for a nested section walked with its own [`Fields`].
    pub(crate) fn errors_mut(&mut self) -> &mut Errors {
        self.errors
    }

    /// Records a problem with `key`.
    pub fn error(&mut self, key: &str, message: impl Into<String>) {
        let path = self.path_of(key);
        self.errors.push(path, message);
    }

    /// Records a problem with the section as a whole.
    pub fn error_here(&mut self, message: impl Into<String>) {
        let path = self.path.clone();
        self.errors.push(path, message);
    }

    /// Whether this section has had no problem so far.
    pub fn ok(&self) -> bool {
        self.errors.len() == self.before
    }
}

/// Reports keys of `map` that are in none of the `known` lists.
pub(crate) fn unknown_keys(
    map: &Map<String, Value>,
    path: &str,
    known: &[&[&str]],
    errors: &mut Errors,
) {
    for key in map.keys() {
        if !known.iter().any(|k| k.contains(&key.as_str())) {
            let expected: Vec<&str> = known.iter().flat_map(|k| k.iter().copied()).collect();
            let message = match closest(key, &expected) {
                Some(near) => format!("unknown field; did you mean `{near}`?"),
                None if expected.is_empty() => "unknown field; this section takes none".to_owned(),
                None => format!("unknown field; expected one of: {}", expected.join(", ")),
            };
            errors.push(join(path, key), message);
        }
    }
}

/// The known name a typo most likely meant: at most two edits away.
fn closest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let here = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(here + 1);
            prev = here;
        }
    }
    row[b.len()]
}

/// `base.key`, or `key` at the top.
pub(crate) fn join(base: &str, key: &str) -> String {
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
/// a config from an SSM SecureString may hold secrets, so keep the type and drop the
/// value. A negative number where a count belongs gets a plain explanation instead.
fn without_value(message: &str) -> String {
    if message.starts_with("invalid value: integer `-") && message.contains("expected u") {
        return "must be 0 or more (a count, not a negative number)".to_owned();
    }
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
    Option::<Text>::deserialize(d).map(|t| t.map(|t| t.0))
}

/// Text written as a string or a number (`"7"` or `7`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            S(String),
            N(serde_json::Number),
        }
        Ok(Self(
            match Raw::deserialize(d)
                .map_err(|_| serde::de::Error::custom("expected a string or a number"))?
            {
                Raw::S(s) => s,
                Raw::N(n) => n.to_string(),
            },
        ))
    }
}

/// The JSON type of a value, for error messages.
pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_report_every_problem_of_a_section() {
        let section = json!({ "rate": "fast", "duratoin": "1s" });
        let mut errors = Errors::default();
        let mut f = Fields::new(&section, "load", &["rate", "duration"], &mut errors);
        let rate: Option<f64> = f.required("rate");
        let duration: Option<String> = f.required("duration");
        assert!(rate.is_none() && duration.is_none() && !f.ok());
        let all: Vec<String> = errors.into_vec().iter().map(|e| e.to_string()).collect();
        assert_eq!(
            all,
            [
                "load.duratoin: unknown field; did you mean `duration`?",
                "load.rate: invalid type: string, expected f64",
                "load.duration: missing: this field is required",
            ]
        );
    }

    #[test]
    fn negative_counts_are_explained() {
        let mut errors = Errors::default();
        assert_eq!(errors.de::<u32>(&json!(-1), "failure_limit"), None);
        assert_eq!(
            errors.into_vec()[0].to_string(),
            "failure_limit: must be 0 or more (a count, not a negative number)"
        );
    }

    #[test]
    fn text_takes_strings_and_numbers() {
        assert_eq!(
            serde_json::from_value::<Text>(json!(7)).ok(),
            Some(Text("7".into()))
        );
        assert_eq!(
            serde_json::from_value::<Text>(json!("x")).ok(),
            Some(Text("x".into()))
        );
        assert!(serde_json::from_value::<Text>(json!([1])).is_err());
    }
}
