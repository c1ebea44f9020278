//! `compare`: invoke the target and the current version with the same payloads and
//! fail on any difference outside the `ignore` JSON pointers.
//!
//! Measurement: `{differences, difference_count, payloads, latency_ms}` where each difference is
//! `{payload, pointer, current, target}` (at most [`MAX_DIFFERENCES`], in document
//! order) and `difference_count` counts them all. Function errors are compared too, at the
//! pointer `(function_error)`. Default expect: `` length(differences) == `0` `` (so a
//! failure shows the differences).

use super::http::max_body;
use super::invoke::{bounded_payload, resolve_function, InvokeOutput, Qualifier};
use super::kind::{BuildContext, BuildError, Kind, Section};
use super::{millis, Check, CheckContext, LambdaInvoker, MeasureError};
use crate::diag::Errors;
use crate::error::EffectError;
use crate::size::ByteSize;
use async_trait::async_trait;
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::time::Instant;

/// The most differences a measurement lists (all are counted).
pub(crate) const MAX_DIFFERENCES: usize = 10;

/// The `compare` kind: its section.
pub(crate) struct Compare {
    /// Events to send to both versions.
    payloads: Vec<Value>,
    /// JSON pointers (RFC 6901) to leave out, `*` matching any one segment.
    ignore: Vec<String>,
    /// The function; default: the deployed one.
    function: Option<String>,
    /// The largest answer read.
    max_body: ByteSize,
}

impl Kind for Compare {
    const NAME: &'static str = "compare";

    fn parse(section: &Section<'_>, errors: &mut Errors) -> Option<Self> {
        let mut f = section.fields(&["payloads", "ignore", "function", "max_body"], errors);
        let payloads = f.required::<Vec<Value>>("payloads");
        if payloads.as_ref().is_some_and(Vec::is_empty) {
            f.error("payloads", "needs at least one payload");
        }
        let ignore = f.optional::<Vec<String>>("ignore").unwrap_or_default();
        for (i, p) in ignore.iter().enumerate() {
            if !p.is_empty() && !p.starts_with('/') {
                f.error(
                    &format!("ignore[{i}]"),
                    format!(
                        "`{p}` is not a JSON pointer; pointers start with `/`, e.g. `/requestId`"
                    ),
                );
            }
        }
        let function = f.optional::<String>("function");
        let max_body = max_body(&mut f);
        f.ok().then_some(Self {
            payloads: payloads?,
            ignore,
            function,
            max_body,
        })
    }

    fn default_expect(&self) -> Option<&'static str> {
        Some("length(differences) == `0`")
    }

    fn build(self, cx: &BuildContext<'_>) -> Result<Arc<dyn Check>, BuildError> {
        Ok(Arc::new(CompareCheck {
            invoker: cx.effects.lambda.clone(),
            function: resolve_function(self.function, cx.deployment)?,
            target: Qualifier::Target.resolve(cx.deployment)?,
            current: Qualifier::Current.resolve(cx.deployment)?,
            ignore: self.ignore.iter().map(|p| parse_pointer(p)).collect(),
            payloads: self.payloads,
            max_body: self.max_body.bytes(),
        }))
    }
}

/// Invokes both versions with each payload and compares the answers.
struct CompareCheck {
    invoker: Arc<dyn LambdaInvoker>,
    function: String,
    target: String,
    current: String,
    ignore: Vec<Vec<String>>,
    payloads: Vec<Value>,
    max_body: usize,
}

#[async_trait]
impl Check for CompareCheck {
    async fn measure(&self, _: &CheckContext) -> Result<Value, MeasureError> {
        let started = Instant::now();
        let mut differences = Vec::new();
        for (i, payload) in self.payloads.iter().enumerate() {
            let bytes = payload.to_string().into_bytes();
            let (current, target) = tokio::join!(
                self.invoker
                    .invoke(&self.function, &self.current, bytes.clone()),
                self.invoker.invoke(&self.function, &self.target, bytes),
            );
            let checked = |r: Result<InvokeOutput, EffectError>| {
                let out = r.map_err(|e| e.message)?;
                bounded_payload(&out, self.max_body)?;
                Ok(out)
            };
            let invoked = |q: &str, r| {
                checked(r).map_err(|e: String| {
                    MeasureError::new(format!(
                        "payloads[{i}]: invoking {}:{q}: {e}",
                        self.function
                    ))
                })
            };
            let (current, target) = (
                invoked(&self.current, current)?,
                invoked(&self.target, target)?,
            );
            if current.function_error != target.function_error {
                differences.push(json!({ "payload": i, "pointer": "(function_error)",
                    "current": current.function_error, "target": target.function_error }));
            }
            let mut a = parse(&current.payload);
            let mut b = parse(&target.payload);
            for pointer in &self.ignore {
                remove(&mut a, pointer);
                remove(&mut b, pointer);
            }
            diff(
                &a,
                &b,
                &mut String::new(),
                &mut |pointer, current, target| {
                    differences.push(json!({ "payload": i, "pointer": pointer, "current": current, "target": target }));
                },
            );
        }
        let total = differences.len();
        differences.truncate(MAX_DIFFERENCES);
        Ok(json!({
            "differences": differences,
            "difference_count": total,
            "payloads": self.payloads.len(),
            "latency_ms": millis(started.elapsed()),
        }))
    }
}

fn parse(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// Splits a JSON pointer into unescaped segments (`~1` is `/`, `~0` is `~`).
fn parse_pointer(pointer: &str) -> Vec<String> {
    pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect()
}

fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// The JSON object or array a string holds, if it holds one (an API Gateway proxy
/// answer carries its `body` as a string).
fn json_in(text: &str) -> Option<Value> {
    let t = text.trim_start();
    if !(t.starts_with('{') || t.starts_with('[')) {
        return None;
    }
    serde_json::from_str(text).ok()
}

/// Removes what `pointer` names; `*` matches every key or index at its level. A
/// pointer goes on into JSON held in a string (`/body/items`), which is then kept
/// parsed so both sides compare alike.
fn remove(value: &mut Value, pointer: &[String]) {
    let Some((first, rest)) = pointer.split_first() else {
        return;
    };
    let last = rest.is_empty();
    if let Value::String(text) = value {
        if let Some(parsed) = json_in(text) {
            *value = parsed;
        }
    }
    match value {
        Value::Object(map) if first == "*" => {
            if last {
                map.clear();
            } else {
                map.values_mut().for_each(|v| remove(v, rest));
            }
        }
        Value::Object(map) => {
            if last {
                map.remove(first);
            } else if let Some(v) = map.get_mut(first) {
                remove(v, rest);
            }
        }
        Value::Array(items) if first == "*" => {
            if last {
                items.clear();
            } else {
                items.iter_mut().for_each(|v| remove(v, rest));
            }
        }
        Value::Array(items) => {
            if let Ok(i) = first.parse::<usize>() {
                if last {
                    // Replace rather than remove, so later indexes still line up.
                    if let Some(v) = items.get_mut(i) {
                        *v = Value::Null;
                    }
                } else if let Some(v) = items.get_mut(i) {
                    remove(v, rest);
                }
            }
        }
        _ => {}
    }
}

/// Calls `found(pointer, current, target)` for every difference, in document order.
fn diff(a: &Value, b: &Value, at: &mut String, found: &mut dyn FnMut(String, Value, Value)) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x
                .keys()
                .chain(y.keys().filter(|k| !x.contains_key(*k)))
                .collect();
            keys.sort();
            for k in keys {
                diff_child(&escape(k), x.get(k), y.get(k), at, found);
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            for i in 0..x.len().max(y.len()) {
                diff_child(&i.to_string(), x.get(i), y.get(i), at, found);
            }
        }
        (Value::String(x), Value::String(y)) if x != y => match (json_in(x), json_in(y)) {
            (Some(p), Some(q)) => diff(&p, &q, at, found),
            _ => found(
                if at.is_empty() {
                    "/".to_owned()
                } else {
                    at.clone()
                },
                a.clone(),
                b.clone(),
            ),
        },
        _ if a != b => found(
            if at.is_empty() {
                "/".to_owned()
            } else {
                at.clone()
            },
            a.clone(),
            b.clone(),
        ),
        _ => {}
    }
}

/// Compares one member (`segment` below `at`) present on either side.
fn diff_child(
    segment: &str,
    a: Option<&Value>,
    b: Option<&Value>,
    at: &mut String,
    found: &mut dyn FnMut(String, Value, Value),
) {
    let len = at.len();
    at.push('/');
    at.push_str(segment);
    match (a, b) {
        (Some(p), Some(q)) => diff(p, q, at, found),
        (p, q) => found(
            at.clone(),
            p.cloned().unwrap_or(Value::Null),
            q.cloned().unwrap_or(Value::Null),
        ),
    }
    at.truncate(len);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn differences(a: Value, b: Value, ignore: &[&str]) -> Vec<(String, Value, Value)> {
        let (mut a, mut b) = (a, b);
        for p in ignore {
            remove(&mut a, &parse_pointer(p));
            remove(&mut b, &parse_pointer(p));
        }
        let mut out = Vec::new();
        diff(&a, &b, &mut String::new(), &mut |p, x, y| {
            out.push((p, x, y))
        });
        out
    }

    #[test]
    fn finds_changed_added_and_removed_values_with_pointers() {
        let d = differences(
            json!({"a": 1, "b": [1, 2], "c": "x"}),
            json!({"a": 2, "b": [1], "d": true}),
            &[],
        );
        assert_eq!(
            d,
            vec![
                ("/a".into(), json!(1), json!(2)),
                ("/b/1".into(), json!(2), json!(null)),
                ("/c".into(), json!("x"), json!(null)),
                ("/d".into(), json!(null), json!(true)),
            ]
        );
    }

    #[test]
    fn ignores_pointers_and_wildcards() {
        let a = json!({"requestId": "1", "items": [{"id": "x", "v": 1}], "a/b": 1});
        let b = json!({"requestId": "2", "items": [{"id": "y", "v": 1}], "a/b": 2});
        assert!(differences(a, b, &["/requestId", "/items/*/id", "/a~1b"]).is_empty());
    }

    #[test]
    fn pointers_go_on_into_json_held_in_a_string() {
        let a = json!({"statusCode": 200, "body": "{\"items\": [1], \"n\": 1}"});
        let b = json!({"statusCode": 200, "body": "{\"items\": [2], \"n\": 2}"});
        assert_eq!(
            differences(a.clone(), b.clone(), &["/body/items"]),
            vec![("/body/n".into(), json!(1), json!(2))]
        );
        assert_eq!(differences(a, b, &[]).len(), 2);
    }

    #[test]
    fn equal_documents_have_no_differences() {
        assert!(differences(
            json!({"x": [1, {"y": null}]}),
            json!({"x": [1, {"y": null}]}),
            &[]
        )
        .is_empty());
        assert_eq!(
            differences(json!(1), json!(2), &[]),
            vec![("/".into(), json!(1), json!(2))]
        );
    }
}
