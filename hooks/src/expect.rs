//! Conditions over a measurement: JMESPath expressions that must all be truthy.

use serde_json::Value;
use std::fmt;
use std::sync::Arc;

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

impl Expect {
    /// Compiles each condition.
    pub(crate) fn compile<S: AsRef<str>>(texts: &[S]) -> Result<Self, ExpectError> {
        let conditions = texts
            .iter()
            .enumerate()
            .map(|(index, t)| {
                let text = t.as_ref().to_owned();
                match jmespath::compile(&text) {
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

    /// `Ok(None)` when all conditions hold, `Ok(Some(text))` naming the first that does
    /// not, `Err` when one cannot be evaluated (e.g. a function on the wrong type).
    pub(crate) fn first_unmet(&self, measurement: &Value) -> Result<Option<&str>, String> {
        for c in &self.conditions {
            let result = c
                .expr
                .search(measurement)
                .map_err(|e| format!("`{}`: {}", c.text, e.reason))?;
            if !result.is_truthy() {
                return Ok(Some(&c.text));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn all_conditions_must_hold() {
        let e = Expect::compile(&["status == `200`", "body.ok"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            e.first_unmet(&json!({"status": 200, "body": {"ok": true}})),
            Ok(None)
        );
        assert_eq!(
            e.first_unmet(&json!({"status": 200, "body": {"ok": false}})),
            Ok(Some("body.ok"))
        );
        assert_eq!(
            e.first_unmet(&json!({"status": 503})),
            Ok(Some("status == `200`"))
        );
    }

    #[test]
    fn null_comparisons_work_as_written_in_the_contract() {
        let e = Expect::compile(&["function_error == null"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(e.first_unmet(&json!({"function_error": null})), Ok(None));
        assert_eq!(
            e.first_unmet(&json!({"function_error": "Unhandled"})),
            Ok(Some("function_error == null"))
        );
    }

    #[test]
    fn bad_expression_names_itself() {
        let err = Expect::compile(&["ok", "status =="]).unwrap_err();
        assert_eq!(err.index, 1);
        assert!(err.to_string().contains("status =="), "{err}");
    }
}
