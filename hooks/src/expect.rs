//! Conditions over a measurement: JMESPath expressions that must all be truthy.
//!
//! Besides JMESPath's built-in functions there is `from_json(s)`: the JSON document a
//! string holds (an API Gateway proxy answer carries its body as a string:
//! `from_json(payload.body).items`), or `null` when it holds none.
//!
//! When a condition does not hold, [`Unmet::looked_at`] shows the values it looked at
//! (`status = 503, body.ok = null`), not the whole measurement.

use jmespath::ast::{Ast, Comparator};
use jmespath::functions::{ArgumentType, CustomFunction, Signature};
use jmespath::{Context, Rcvar, Runtime, ToJmespath, Variable};
use serde_json::Value;
use std::fmt::{self, Write as _};
use std::sync::{Arc, LazyLock};

/// The JMESPath runtime: the built-in functions plus `from_json`.
static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
    let mut runtime = Runtime::new();
    runtime.register_builtin_functions();
    runtime.register_function(
        "from_json",
        Box::new(CustomFunction::new(
            Signature::new(vec![ArgumentType::Any], None),
            Box::new(|args: &[Rcvar], _: &mut Context<'_>| {
                let parsed = args
                    .first()
                    .and_then(|a| a.as_string())
                    .and_then(|s| serde_json::from_str::<Value>(s).ok())
                    .and_then(|v| Variable::try_from(v).ok())
                    .unwrap_or(Variable::Null);
                Ok(Arc::new(parsed))
            }),
        )),
    );
    runtime
});

/// The longest a value shown in [`Unmet::looked_at`] may be, in characters.
const SHOWN_CHARS: usize = 300;

/// One compiled JMESPath condition.
#[derive(Clone)]
struct Condition {
    text: String,
    expr: Arc<jmespath::Expression<'static>>,
}

/// A list of JMESPath conditions; a measurement passes when every one is truthy
/// (JMESPath truthiness: not `false`, `null`, or an empty string, array or object).
#[derive(Clone)]
pub(crate) struct Expect {
    conditions: Vec<Condition>,
}

impl fmt::Debug for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.conditions.iter().map(|c| &c.text))
            .finish()
    }
}

/// A condition that does not compile.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{text}` is not a valid JMESPath expression: {message}")]
pub(crate) struct ExpectError {
    /// Index of the condition in the list.
    pub(crate) index: usize,
    /// The condition's text.
    pub(crate) text: String,
    /// The compiler's message.
    pub(crate) message: String,
}

/// A condition that did not hold, and what it saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unmet {
    /// The condition as written.
    pub(crate) condition: String,
    /// The values its parts looked at: `status = 503, body.ok = null`.
    pub(crate) looked_at: String,
}

impl Expect {
    /// Compiles each condition.
    pub(crate) fn compile<S: AsRef<str>>(texts: &[S]) -> Result<Self, ExpectError> {
        let conditions = texts
            .iter()
            .enumerate()
            .map(|(index, t)| {
                let text = t.as_ref().to_owned();
                match RUNTIME.compile(&text) {
                    Ok(expr) => Ok(Condition {
                        text,
                        expr: Arc::new(expr),
                    }),
                    Err(e) => Err(ExpectError {
                        index,
                        message: e.reason.to_string(),
                        text,
                    }),
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { conditions })
    }

    /// The conditions as written, each in backticks, joined by `and`.
    pub(crate) fn describe(&self) -> String {
        self.conditions
            .iter()
            .map(|c| format!("`{}`", c.text))
            .collect::<Vec<_>>()
            .join(" and ")
    }

    /// `Ok(None)` when all conditions hold, `Ok(Some(unmet))` for the first that does
    /// not, `Err` when one cannot be evaluated (e.g. a function on the wrong type).
    pub(crate) fn first_unmet(&self, measurement: &Value) -> Result<Option<Unmet>, String> {
        let data = measurement
            .to_jmespath()
            .map_err(|e| e.reason.to_string())?;
        for c in &self.conditions {
            let result = c
                .expr
                .search(data.clone())
                .map_err(|e| format!("`{}`: {}", c.text, e.reason))?;
            if !result.is_truthy() {
                return Ok(Some(Unmet {
                    condition: c.text.clone(),
                    looked_at: looked_at(&c.text, c.expr.as_ast(), &data),
                }));
            }
        }
        Ok(None)
    }
}

/// `part = value` for each part of `ast` a person would check: both sides of each
/// comparison (but literals), and each operand of `&&`, `||` and `!`.
fn looked_at(text: &str, ast: &Ast, data: &Rcvar) -> String {
    let mut parts = Vec::new();
    operands(ast, &mut parts);
    let mut shown: Vec<String> = Vec::new();
    for part in parts {
        let name = print(part);
        if shown.iter().any(|s| s.starts_with(&format!("{name} = "))) {
            continue;
        }
        if secret_part(part) {
            shown.push(format!("{name} = {}", crate::redact::REDACTED));
            continue;
        }
        let mut ctx = Context::new(text, &RUNTIME);
        let value = match jmespath::interpret(data, part, &mut ctx) {
            Ok(v) => serde_json::to_string(&*v).unwrap_or_else(|_| "?".to_owned()),
            Err(e) => format!("(error: {})", e.reason),
        };
        shown.push(format!("{name} = {}", truncate(&value)));
    }
    if shown.is_empty() {
        "(nothing to show)".to_owned()
    } else {
        shown.join(", ")
    }
}

/// Whether a part reads a field with a secret's name (`headers."x-api-key"`,
/// `body.token`): its value is not shown.
fn secret_part(ast: &Ast) -> bool {
    match ast {
        Ast::Field { name, .. } => crate::redact::secret_name(name),
        Ast::Subexpr { rhs, .. } => secret_part(rhs),
        _ => false,
    }
}

fn operands<'a>(ast: &'a Ast, out: &mut Vec<&'a Ast>) {
    match ast {
        Ast::And { lhs, rhs, .. } | Ast::Or { lhs, rhs, .. } => {
            operands(lhs, out);
            operands(rhs, out);
        }
        Ast::Not { node, .. } => operands(node, out),
        Ast::Comparison { lhs, rhs, .. } => {
            for side in [lhs, rhs] {
                if !is_constant(side) {
                    part(side, out);
                }
            }
        }
        Ast::Literal { .. } => {}
        other => part(other, out),
    }
}

/// A literal, or a bare `null` / `true` / `false` (JMESPath reads those as field names
/// that no measurement has, which is why `function_error == null` works as written).
fn is_constant(ast: &Ast) -> bool {
    match ast {
        Ast::Literal { .. } => true,
        Ast::Field { name, .. } => matches!(name.as_str(), "null" | "true" | "false"),
        _ => false,
    }
}

/// One part, and for a function call its arguments too: the argument of
/// `length(alarms[?state == 'ALARM'])` tells which alarms.
fn part<'a>(ast: &'a Ast, out: &mut Vec<&'a Ast>) {
    out.push(ast);
    if let Ast::Function { args, .. } = ast {
        for a in args {
            if !matches!(a, Ast::Literal { .. } | Ast::Identity { .. }) {
                out.push(a);
            }
        }
    }
}

fn truncate(text: &str) -> String {
    if text.chars().count() > SHOWN_CHARS {
        let cut: String = text.chars().take(SHOWN_CHARS).collect();
        format!("{cut}…")
    } else {
        text.to_owned()
    }
}

/// JMESPath text for an expression tree (the common shapes; others read `(…)`).
fn print(ast: &Ast) -> String {
    let mut out = String::new();
    write_ast(ast, &mut out);
    out
}

fn write_ast(ast: &Ast, out: &mut String) {
    match ast {
        Ast::Field { name, .. } => {
            if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit())
            {
                out.push_str(name);
            } else {
                let _ = write!(out, "{name:?}");
            }
        }
        Ast::Identity { .. } => out.push('@'),
        Ast::Index { idx, .. } => {
            let _ = write!(out, "[{idx}]");
        }
        Ast::Subexpr { lhs, rhs, .. } => {
            write_ast(lhs, out);
            if !matches!(**rhs, Ast::Index { .. }) {
                out.push('.');
            }
            write_ast(rhs, out);
        }
        Ast::Literal { value, .. } => match value.as_string() {
            Some(s) => {
                let _ = write!(out, "'{s}'");
            }
            None => {
                let _ = write!(
                    out,
                    "`{}`",
                    serde_json::to_string(&**value).unwrap_or_default()
                );
            }
        },
        Ast::Function { name, args, .. } => {
            out.push_str(name);
            out.push('(');
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_ast(a, out);
            }
            out.push(')');
        }
        Ast::Comparison {
            comparator,
            lhs,
            rhs,
            ..
        } => {
            write_ast(lhs, out);
            out.push_str(match comparator {
                Comparator::Equal => " == ",
                Comparator::NotEqual => " != ",
                Comparator::LessThan => " < ",
                Comparator::LessThanEqual => " <= ",
                Comparator::GreaterThan => " > ",
                Comparator::GreaterThanEqual => " >= ",
            });
            write_ast(rhs, out);
        }
        Ast::Projection { lhs, rhs, .. } => {
            write_ast(lhs, out);
            match &**rhs {
                Ast::Condition {
                    predicate, then, ..
                } => {
                    out.push_str("[?");
                    write_ast(predicate, out);
                    out.push(']');
                    if !matches!(**then, Ast::Identity { .. }) {
                        out.push('.');
                        write_ast(then, out);
                    }
                }
                Ast::Identity { .. } => out.push_str("[*]"),
                other => {
                    out.push_str("[*].");
                    write_ast(other, out);
                }
            }
        }
        Ast::Flatten { node, .. } => {
            write_ast(node, out);
            out.push_str("[]");
        }
        Ast::Not { node, .. } => {
            out.push('!');
            write_ast(node, out);
        }
        _ => out.push_str("(…)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn unmet(conditions: &[&str], m: Value) -> Option<Unmet> {
        Expect::compile(conditions)
            .unwrap_or_else(|e| panic!("{e}"))
            .first_unmet(&m)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn all_conditions_must_hold() {
        let c = ["status == `200`", "body.ok"];
        assert_eq!(
            unmet(&c, json!({"status": 200, "body": {"ok": true}})),
            None
        );
        assert_eq!(
            unmet(&c, json!({"status": 200, "body": {"ok": false}})).map(|u| u.condition),
            Some("body.ok".to_owned())
        );
        assert_eq!(
            unmet(&c, json!({"status": 503})).map(|u| u.condition),
            Some("status == `200`".to_owned())
        );
    }

    #[test]
    fn null_comparisons_work_as_written_in_the_contract() {
        let c = ["function_error == null"];
        assert_eq!(unmet(&c, json!({"function_error": null})), None);
        let u = unmet(&c, json!({"function_error": "Unhandled"})).unwrap();
        assert_eq!(u.looked_at, "function_error = \"Unhandled\"");
    }

    #[test]
    fn bad_expression_names_itself() {
        let err = Expect::compile(&["ok", "status =="]).unwrap_err();
        assert_eq!(err.index, 1);
        assert!(err.to_string().contains("status =="), "{err}");
    }

    #[test]
    fn a_failure_shows_the_values_looked_at_not_the_whole_measurement() {
        let big = "x".repeat(100_000);
        let u = unmet(
            &["status == `200` && body.ok"],
            json!({"status": 503, "body": {"ok": null, "padding": big}}),
        )
        .unwrap();
        assert_eq!(u.looked_at, "status = 503, body.ok = null");
        let u = unmet(
            &["length(alarms[?state == 'ALARM']) == `0`"],
            json!({"alarms": [{"name": "a", "state": "ALARM"}]}),
        )
        .unwrap();
        assert_eq!(
            u.looked_at,
            r#"length(alarms[?state == 'ALARM']) = 1, alarms[?state == 'ALARM'] = [{"name":"a","state":"ALARM"}]"#
        );
        let u = unmet(&["items[0].id != `null`"], json!({"items": [{}]})).unwrap();
        assert_eq!(u.looked_at, "items[0].id = null");
    }

    #[test]
    fn a_secret_looked_at_is_not_shown_and_the_rest_is() {
        let u = unmet(
            &["headers.\"x-api-key\" == 'right' && headers.\"content-type\" == 'text/plain'"],
            json!({"headers": {"x-api-key": "wrong-sekrit", "content-type": "application/json"}}),
        )
        .unwrap();
        assert_eq!(
            u.looked_at,
            "headers.\"x-api-key\" = <redacted>, headers.\"content-type\" = \"application/json\""
        );
    }

    #[test]
    fn from_json_looks_inside_a_string_that_holds_json() {
        let proxy = json!({"payload": {"statusCode": 200, "body": "{\"items\": [1, 2]}"}});
        assert_eq!(
            unmet(
                &["length(from_json(payload.body).items) == `2`"],
                proxy.clone()
            ),
            None
        );
        assert!(unmet(&["from_json(payload.statusCode)"], proxy).is_some());
    }
}
