//! What is secret, and how it is kept out of logs, reasons and tables.
//!
//! Secret, by name: `authorization`, `proxy-authorization`, `cookie`, `set-cookie`,
//! `x-api-key`, and any name containing `token`, `secret`, `key`, `password`,
//! `signature` or `credential`. Secret, by origin: every value a check's config filled
//! from `{{env.NAME}}`. Everything else is shown, so a failure can be acted on.

/// What a secret is replaced with.
pub(crate) const REDACTED: &str = "<redacted>";

const SECRET_NAMES: [&str; 5] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
];

const SECRET_WORDS: [&str; 6] = [
    "token",
    "secret",
    "key",
    "password",
    "signature",
    "credential",
];

/// Whether a header (or field) called `name` holds a secret.
pub(crate) fn secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_NAMES.contains(&lower.as_str()) || SECRET_WORDS.iter().any(|w| lower.contains(w))
}

/// Replaces known secret values in text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Redactor {
    values: Vec<String>,
}

/// Values shorter than this are not scrubbed: `1` or `eu` would blank out half a reason.
const SHORTEST_SECRET: usize = 4;

impl Redactor {
    /// A redactor for these secret values.
    pub(crate) fn new(values: impl IntoIterator<Item = String>) -> Self {
        let mut values: Vec<String> = values
            .into_iter()
            .filter(|v| v.chars().count() >= SHORTEST_SECRET)
            .collect();
        // Longest first, so a secret that contains another is replaced whole.
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Self { values }
    }

    /// `text` with every secret value replaced by `<redacted>`.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for v in &self.values {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), REDACTED);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_headers_are_known_by_name_and_the_rest_are_shown() {
        for name in [
            "Authorization",
            "cookie",
            "Set-Cookie",
            "x-api-key",
            "X-Auth-Token",
            "x-client-secret",
            "x-amz-signature",
            "db-password",
        ] {
            assert!(secret_name(name), "{name}");
        }
        for name in ["content-type", "location", "cache-control", "x-request-id"] {
            assert!(!secret_name(name), "{name}");
        }
    }

    #[test]
    fn env_filled_values_are_scrubbed_but_short_ones_are_left() {
        let r = Redactor::new(["s3cr3t-token".to_owned(), "eu".to_owned()]);
        assert_eq!(
            r.scrub("GET https://x/?k=s3cr3t-token in eu-west-1"),
            "GET https://x/?k=<redacted> in eu-west-1"
        );
    }
}
