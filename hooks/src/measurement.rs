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
    /// The check's `until` did not hold yet: neither a pass nor a failure; the check
    /// measures again after its interval.
    Waiting {
        /// The `until` condition.
        condition: String,
        /// The values it looked at.
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
            Self::Waiting { .. } => "waiting",
            Self::Error(_) => "error",
        }
    }

    /// The condition and the values it looked at, of a failed or waiting measurement.
    fn unmet(&self) -> Option<(&str, &str)> {
        match self {
            Self::Failed {
                condition,
                looked_at,
                ..
            }
            | Self::Waiting {
                condition,
                looked_at,
                ..
            } => Some((condition, looked_at)),
            _ => None,
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
            MeasurementResult::Waiting {
                condition,
                looked_at,
                value,
            } => MeasurementResult::Waiting {
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
            MeasurementResult::Waiting {
                condition,
                looked_at,
                ..
            } => format!(
                "measurement {}: waiting, until `{condition}` not yet: {looked_at}",
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
        if let Some((condition, looked_at)) = self.result.unmet() {
            v["condition"] = condition.into();
            v["looked_at"] = looked_at.into();
        }
        if let MeasurementResult::Error(e) = &self.result {
            v["error"] = e.as_str().into();
        }
        v
    }
}

/// A record as a continuation carries it: no value, texts cut to [`SavedRecord::MAX_TEXT`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub(crate) struct SavedRecord {
    n: u32,
    elapsed_ms: u64,
    /// `passed`, `failed`, `waiting` or `error`.
    result: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    condition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    looked_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl SavedRecord {
    /// The longest text kept of a condition, the values it looked at, or an error.
    pub(crate) const MAX_TEXT: usize = 1024;
}

fn cut(text: &str) -> String {
    if text.len() <= SavedRecord::MAX_TEXT {
        return text.to_owned();
    }
    let mut end = SavedRecord::MAX_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

impl MeasurementRecord {
    /// What a continuation carries of it.
    pub(crate) fn save(&self) -> SavedRecord {
        let unmet = self.result.unmet();
        SavedRecord {
            n: self.n,
            elapsed_ms: self.elapsed_ms,
            result: self.result.as_str().to_owned(),
            condition: unmet.map(|(c, _)| cut(c)),
            looked_at: unmet.map(|(_, l)| cut(l)),
            error: match &self.result {
                MeasurementResult::Error(e) => Some(cut(e)),
                _ => None,
            },
        }
    }

    /// The record a continuation carried (its value is gone: `null`).
    pub(crate) fn restore(saved: SavedRecord) -> Self {
        let text = |t: Option<String>| cut(&t.unwrap_or_default());
        let result = match saved.result.as_str() {
            "passed" => MeasurementResult::Passed { value: Value::Null },
            "failed" => MeasurementResult::Failed {
                condition: text(saved.condition),
                looked_at: text(saved.looked_at),
                value: Value::Null,
            },
            "waiting" => MeasurementResult::Waiting {
                condition: text(saved.condition),
                looked_at: text(saved.looked_at),
                value: Value::Null,
            },
            _ => MeasurementResult::Error(text(saved.error)),
        };
        Self {
            n: saved.n,
            elapsed_ms: saved.elapsed_ms,
            result,
        }
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
    /// Taken while a check's `until` did not hold yet.
    pub(crate) waiting: u32,
}

impl Counts {
    /// Counts one more.
    pub(crate) fn add(&mut self, result: &MeasurementResult) {
        match result {
            MeasurementResult::Passed { .. } => self.passed += 1,
            MeasurementResult::Failed { .. } => self.failed += 1,
            MeasurementResult::Waiting { .. } => self.waiting += 1,
            MeasurementResult::Error(_) => self.errors += 1,
        }
    }

    /// All of them.
    pub(crate) fn taken(&self) -> u32 {
        self.passed + self.failed + self.errors + self.waiting
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
