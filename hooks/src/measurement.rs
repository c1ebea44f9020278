//! One measurement: how it turned out, and the record a check keeps of it (large
//! values cut to an excerpt, secrets scrubbed), and counts of many.

use crate::redact::{self, Redactor, REDACTED};
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;

/// Longest measurement excerpt in a reason.
const EXCERPT_CHARS: usize = 300;

/// The largest measurement value kept whole in a record (serialized); a larger one is
/// kept as an excerpt, so a check of 1 MiB answers holds kilobytes, not megabytes.
const KEPT_VALUE_BYTES: usize = 16 * 1024;

/// How one measurement turned out.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "result", rename_all = "lowercase")]
pub(crate) enum MeasurementResult {
    /// Every condition held.
    Passed {
        /// The measurement (an excerpt when it is large).
        value: Value,
    },
    /// A condition did not hold.
    Failed {
        /// The first condition that did not hold.
        condition: String,
        /// The values the condition looked at (`status = 503, body.ok = null`).
        looked_at: String,
        /// The measurement (an excerpt when it is large).
        value: Value,
    },
    /// The measurement could not be taken.
    Error(String),
}

impl MeasurementResult {
    fn as_str(&self) -> &'static str {
        match self {
            Self::Passed { .. } => "passed",
            Self::Failed { .. } => "failed",
            Self::Error(_) => "error",
        }
    }
}

/// One measurement of a check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct MeasurementRecord {
    /// Its number, from 1.
    pub(crate) n: u32,
    /// How long it took.
    pub(crate) elapsed_ms: u64,
    /// Its result.
    #[serde(flatten)]
    pub(crate) result: MeasurementResult,
}

/// A value small enough to keep, or its excerpt.
fn bounded(value: Value) -> Value {
    match serde_json::to_vec(&value) {
        Ok(bytes) if bytes.len() <= KEPT_VALUE_BYTES => value,
        _ => Value::String(excerpt(&value)),
    }
}

impl MeasurementRecord {
    /// A record with large values cut to an excerpt and `redactor`'s secrets scrubbed
    /// from what is shown.
    pub(crate) fn new(
        n: u32,
        elapsed: Duration,
        result: MeasurementResult,
        redactor: &Redactor,
    ) -> Self {
        let result = match result {
            MeasurementResult::Passed { value } => MeasurementResult::Passed {
                value: bounded(value),
            },
            MeasurementResult::Failed {
                condition,
                looked_at,
                value,
            } => MeasurementResult::Failed {
                condition,
                looked_at: redactor.scrub(&looked_at),
                value: bounded(value),
            },
            MeasurementResult::Error(e) => MeasurementResult::Error(redactor.scrub(&e)),
        };
        Self {
            n,
            elapsed_ms: elapsed.as_millis() as u64,
            result,
        }
    }

    /// One line that says what happened, fit for a reason.
    pub(crate) fn brief(&self) -> String {
        match &self.result {
            MeasurementResult::Passed { .. } => format!("measurement {}: passed", self.n),
            MeasurementResult::Failed {
                condition,
                looked_at,
                ..
            } => format!(
                "measurement {}: expect `{condition}` not met: {looked_at}",
                self.n
            ),
            MeasurementResult::Error(e) => format!("measurement {}: error: {e}", self.n),
        }
    }

    /// What the log line says of it: a JSON object, so Logs Insights can query it.
    pub(crate) fn logged(&self) -> Value {
        let mut v = serde_json::json!({
            "n": self.n,
            "result": self.result.as_str(),
            "elapsed_ms": self.elapsed_ms,
        });
        match &self.result {
            MeasurementResult::Passed { .. } => {}
            MeasurementResult::Failed {
                condition,
                looked_at,
                ..
            } => {
                v["condition"] = condition.as_str().into();
                v["looked_at"] = looked_at.as_str().into();
            }
            MeasurementResult::Error(e) => v["error"] = e.as_str().into(),
        }
        v
    }
}

/// A measurement as a short string, with secret header values redacted.
pub(crate) fn excerpt(value: &Value) -> String {
    let mut v = value.clone();
    if let Some(Value::Object(headers)) = v.get_mut("headers") {
        for (name, h) in headers.iter_mut() {
            if redact::secret_name(name) {
                *h = Value::String(REDACTED.to_owned());
            }
        }
    }
    let text = v.to_string();
    if text.chars().count() > EXCERPT_CHARS {
        let cut: String = text.chars().take(EXCERPT_CHARS).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// How many measurements ended each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Counts {
    /// Passed.
    pub(crate) passed: u32,
    /// Failed.
    pub(crate) failed: u32,
    /// Could not be taken.
    pub(crate) errors: u32,
}

impl Counts {
    /// Counts one more.
    pub(crate) fn add(&mut self, result: &MeasurementResult) {
        match result {
            MeasurementResult::Passed { .. } => self.passed += 1,
            MeasurementResult::Failed { .. } => self.failed += 1,
            MeasurementResult::Error(_) => self.errors += 1,
        }
    }

    /// All of them.
    pub(crate) fn taken(&self) -> u32 {
        self.passed + self.failed + self.errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn excerpts_redact_secret_headers_show_the_rest_and_truncate() {
        let e = excerpt(&json!({"status": 500, "headers": {
            "set-cookie": "secret-token", "content-type": "text/plain", "location": "/x"},
            "body": "oops"}));
        assert!(!e.contains("secret-token"), "{e}");
        assert!(
            e.contains("<redacted>") && e.contains("text/plain") && e.contains("/x"),
            "{e}"
        );
        let long = excerpt(&json!({"body": "x".repeat(1000)}));
        assert_eq!(long.chars().count(), EXCERPT_CHARS + 1);
    }

    #[test]
    fn large_values_are_kept_as_an_excerpt() {
        let big = json!({"body": "x".repeat(100_000)});
        let r = MeasurementRecord::new(
            1,
            Duration::ZERO,
            MeasurementResult::Passed { value: big },
            &Redactor::default(),
        );
        let MeasurementResult::Passed { value } = r.result else {
            panic!()
        };
        assert!(value.as_str().is_some_and(|s| s.len() < 1000));
    }
}
