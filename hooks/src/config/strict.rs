//! Stage one: YAML (or JSON) text to a JSON tree, strictly.
//!
//! serde_yaml reading into `serde_json::Value` keeps the last of two equal keys
//! without a word, so `timeout: 5s` written twice would silently become the second.
//! This reader refuses duplicate keys, naming the key and where it is.

use crate::diag::FieldError;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Number, Value};
use std::fmt;

/// The largest config read: far above any real one (an SSM parameter holds at most
/// 8 KB), far below what would strain a 128 MB hook.
pub(crate) const MAX_CONFIG_BYTES: usize = 1024 * 1024;

/// Reads `text` as one YAML document into a JSON tree.
pub(crate) fn read(text: &str) -> Result<Value, FieldError> {
    if text.len() > MAX_CONFIG_BYTES {
        return Err(FieldError {
            path: "(config)".to_owned(),
            message: format!(
                "the config is {}; at most {} is read",
                crate::size::human(text.len() as u64),
                crate::size::human(MAX_CONFIG_BYTES as u64)
            ),
        });
    }
    let deserializer = serde_yaml_ng::Deserializer::from_str(text);
    match serde_path_to_error::deserialize::<_, Strict>(deserializer) {
        Ok(Strict(v)) => Ok(v),
        Err(e) => {
            let at = e.path().to_string();
            let message = e.into_inner().to_string();
            if let Some((_, after)) = message.split_once(DUPLICATE) {
                let (key, location) = match after.split_once(" at line") {
                    Some((key, rest)) => (key, format!(" (in the mapping at line{rest})")),
                    None => (after, String::new()),
                };
                let path = if at == "." { String::new() } else { at };
                let path = if path.is_empty() {
                    key.to_owned()
                } else {
                    format!("{path}.{key}")
                };
                return Err(FieldError {
                    path,
                    message: format!(
                        "duplicate key{location}: YAML would keep only the last one; remove one"
                    ),
                });
            }
            let mut message = format!("not valid YAML or JSON: {message}");
            if let Some(line) = tab_indented_line(text) {
                message.push_str(&format!(
                    " (line {line} is indented with a tab; YAML indents with spaces only)"
                ));
            }
            Err(FieldError {
                path: "(config)".to_owned(),
                message,
            })
        }
    }
}

/// The first line (from 1) whose indentation holds a tab.
fn tab_indented_line(text: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            l.chars()
                .take_while(|c| c.is_whitespace())
                .any(|c| c == '\t')
        })
        .map(|i| i + 1)
}

const DUPLICATE: &str = "duplicate key ";

/// A JSON value read without losing duplicate keys silently.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("not a finite number (.nan and .inf are not allowed)"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(Key(key)) = map.next_key()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!("{DUPLICATE}{key}")));
            }
            let Strict(value) = map.next_value()?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

/// A mapping key: text, or a number or boolean read as its text (`1:`, `true:`).
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = String;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a text, number or boolean key")
            }
            fn visit_str<E>(self, v: &str) -> Result<String, E> {
                Ok(v.to_owned())
            }
            fn visit_string<E>(self, v: String) -> Result<String, E> {
                Ok(v)
            }
            fn visit_bool<E>(self, v: bool) -> Result<String, E> {
                Ok(v.to_string())
            }
            fn visit_i64<E>(self, v: i64) -> Result<String, E> {
                Ok(v.to_string())
            }
            fn visit_u64<E>(self, v: u64) -> Result<String, E> {
                Ok(v.to_string())
            }
            fn visit_f64<E>(self, v: f64) -> Result<String, E> {
                Ok(v.to_string())
            }
            fn visit_unit<E>(self) -> Result<String, E> {
                Ok("null".to_owned())
            }
        }
        d.deserialize_any(KeyVisitor).map(Key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duplicate_key_is_named_with_its_path() {
        let e = read("checks:\n  - name: a\n    invoke: {}\n    name: b\n").unwrap_err();
        assert_eq!(e.path, "checks[0].name");
        assert!(e.message.starts_with("duplicate key"), "{}", e.message);
        let e = read("report_reserve: 5s\nreport_reserve: 6s\n").unwrap_err();
        assert_eq!(e.path, "report_reserve");
    }

    #[test]
    fn a_tab_in_the_indentation_says_so() {
        let e = read("checks:\n\t- name: a\n").unwrap_err();
        assert!(
            e.message.contains("line 2 is indented with a tab"),
            "{}",
            e.message
        );
    }

    #[test]
    fn an_alias_bomb_is_refused_before_it_expands() {
        let mut bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n".to_owned();
        for i in 1..9 {
            let refs = vec![format!("*a{}", i - 1); 9].join(", ");
            bomb.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        bomb.push_str("checks: [*a8]\n");
        let e = read(&bomb).unwrap_err();
        assert!(
            e.message.contains("repetition limit exceeded"),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_config_over_1_mib_is_refused_by_size() {
        let e = read(&"#".repeat(MAX_CONFIG_BYTES + 1)).unwrap_err();
        assert_eq!(e.message, "the config is 1.0 MiB; at most 1.0 MiB is read");
    }

    #[test]
    fn numbers_and_booleans_as_keys_read_as_text() {
        assert_eq!(
            read("{1: a, true: b}").ok(),
            Some(serde_json::json!({"1": "a", "true": "b"}))
        );
    }
}
