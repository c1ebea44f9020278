//! Durations as people write them in config files: `500ms`, `10s`, `2m`, `1m30s`, `1h`.
//!
//! [`Duration`] parses once, at the serde layer, so every field that holds a duration
//! is typed and every mistake gets the same hint, wherever it is written.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A duration from a config file. Deserializes from `500ms`, `10s`, `2m`, `1m30s`,
/// `1h` or `1.5s`; a bare number is refused with a hint (`timeout: 5` could mean
/// seconds or milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    /// The standard duration.
    pub fn get(self) -> std::time::Duration {
        self.0
    }
}

impl From<std::time::Duration> for Duration {
    fn from(d: std::time::Duration) -> Self {
        Self(d)
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        d.0
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format(self.0))
    }
}

impl std::str::FromStr for Duration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse(s).map(Self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as `10s`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
                parse(v).map(Duration).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
                Err(E::custom(no_unit(&v.to_string())))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
                Err(E::custom(no_unit(&v.to_string())))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Duration, E> {
                Err(E::custom(no_unit(&v.to_string())))
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(self.0))
    }
}

fn no_unit(text: &str) -> String {
    format!("`{text}` has no unit; write e.g. `{text}s` or `{text}ms`")
}

const FORMS: &str = "write e.g. `500ms`, `10s`, `2m`, `1m30s` or `1h`";

/// What a unit people write means, when it is not one of ours.
fn unit_hint(unit: &str) -> Option<&'static str> {
    Some(match unit.to_ascii_lowercase().as_str() {
        "sec" | "secs" | "second" | "seconds" => "s",
        "min" | "mins" | "minute" | "minutes" => "m",
        "hr" | "hrs" | "hour" | "hours" => "h",
        "msec" | "msecs" | "millis" | "millisecond" | "milliseconds" => "ms",
        _ => return None,
    })
}

/// Parses a duration such as `500ms`, `10s`, `2m`, `1m30s`, `1h` or `1.5s`: one or
/// more number-and-unit parts, units `h`, `m`, `s`, `ms`, each at most once, largest first.
pub(crate) fn parse(text: &str) -> Result<std::time::Duration, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(format!("empty duration; {FORMS}"));
    }
    if trimmed.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(no_unit(trimmed));
    }
    if trimmed.contains(char::is_whitespace) {
        let squeezed: String = trimmed.split_whitespace().collect();
        let hint = match parse(&squeezed) {
            Ok(d) => format!("write `{}`", format(d)),
            // `2minutes` knows its fix (`write `2m``); pass it on.
            Err(e) => match e.split_once("write `") {
                Some((_, fix)) if !fix.starts_with("500ms") => {
                    format!("write `{}", fix.split(" (").next().unwrap_or(fix))
                }
                _ => FORMS.to_owned(),
            },
        };
        return Err(format!("`{trimmed}` is not a duration (no spaces); {hint}"));
    }
    let mut total = std::time::Duration::ZERO;
    let mut rest = trimmed;
    let mut last_rank = usize::MAX;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(digits);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let value: f64 = number
            .parse()
            .map_err(|_| format!("`{trimmed}` is not a duration; {FORMS}"))?;
        let (rank, scale) = match unit {
            "h" => (3, 3600.0),
            "m" => (2, 60.0),
            "s" => (1, 1.0),
            "ms" => (0, 0.001),
            "us" | "µs" | "ns" => {
                return Err(format!(
                    "`{trimmed}`: durations below a millisecond are not supported; write e.g. `1ms`"
                ))
            }
            "d" | "day" | "days" | "w" | "y" | "year" | "years" => {
                return Err(format!(
                    "`{trimmed}`: the longest unit is `h` (a hook reports within the hour CodeDeploy waits); write e.g. `1h`"
                ))
            }
            "" => return Err(format!("`{trimmed}`: `{number}` has no unit; {FORMS}")),
            other => {
                return Err(match unit_hint(other) {
                    Some(ours) => format!(
                        "`{trimmed}` is not a duration: write `{number}{ours}` (units: ms, s, m, h)"
                    ),
                    None => format!(
                        "`{trimmed}` is not a duration: `{other}` is not a unit (ms, s, m, h); {FORMS}"
                    ),
                })
            }
        };
        if rank >= last_rank {
            return Err(format!(
                "`{trimmed}` is not a duration: write the largest unit first, each once, e.g. `1m30s`"
            ));
        }
        last_rank = rank;
        // Checked: `77777777777777777777m` must be an error, not a panic (found by
        // fuzzing the config parser).
        total = std::time::Duration::try_from_secs_f64(value * scale)
            .ok()
            .and_then(|part| total.checked_add(part))
            .ok_or_else(|| format!("`{trimmed}` is too long a duration; {FORMS}"))?;
        rest = next;
    }
    Ok(total)
}

/// Formats a duration the way it is written in config files (`1.5s`, `250ms`, `2m`).
pub(crate) fn format(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        "0s".to_owned()
    } else if ms < 1000 {
        format!("{ms}ms")
    } else if ms % 3_600_000 == 0 {
        format!("{}h", ms / 3_600_000)
    } else if ms % 60_000 == 0 {
        format!("{}m", ms / 60_000)
    } else if ms % 1000 == 0 && ms > 60_000 {
        format!("{}m{}s", ms / 60_000, (ms % 60_000) / 1000)
    } else if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration as Std;

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(parse("500ms"), Ok(Std::from_millis(500)));
        assert_eq!(parse("10s"), Ok(Std::from_secs(10)));
        assert_eq!(parse("2m"), Ok(Std::from_secs(120)));
        assert_eq!(parse("1m30s"), Ok(Std::from_secs(90)));
        assert_eq!(parse("1h"), Ok(Std::from_secs(3600)));
        assert_eq!(parse("1.5s"), Ok(Std::from_millis(1500)));
        assert_eq!(parse("1h2m3s4ms"), Ok(Std::from_millis(3_723_004)));
    }

    #[test]
    fn refuses_other_forms_with_a_hint() {
        let err = |t: &str| parse(t).unwrap_err();
        assert!(
            err("5").contains("has no unit; write e.g. `5s`"),
            "{}",
            err("5")
        );
        assert!(err("5sec").contains("write `5s`"), "{}", err("5sec"));
        assert!(
            err("2 minutes").contains("no spaces"),
            "{}",
            err("2 minutes")
        );
        assert!(err("2 minutes").contains("`2m`"), "{}", err("2 minutes"));
        assert!(
            err("500us").contains("below a millisecond"),
            "{}",
            err("500us")
        );
        assert!(err("1 year").contains("no spaces"), "{}", err("1 year"));
        assert!(
            err("1year").contains("longest unit is `h`"),
            "{}",
            err("1year")
        );
        assert!(
            err("30s1m").contains("largest unit first"),
            "{}",
            err("30s1m")
        );
        assert!(err("ten seconds").contains("not a duration"));
        assert!(err("").contains("empty"));
    }

    #[test]
    fn absurdly_long_durations_are_errors_not_panics() {
        assert!(parse("77777777777777777777777777777m")
            .unwrap_err()
            .contains("too long"));
        assert!(parse("1e400s").is_err());
        assert!(parse("18446744073709551615h")
            .unwrap_err()
            .contains("too long"));
    }

    #[test]
    fn a_bare_number_in_yaml_has_no_unit() {
        let e = serde_json::from_value::<Duration>(serde_json::json!(30)).unwrap_err();
        assert!(e.to_string().contains("`30` has no unit"), "{e}");
    }

    #[test]
    fn formats_round_trip() {
        for text in ["250ms", "10s", "2m", "1.5s", "0s", "1h", "1m30s"] {
            assert_eq!(format(parse(text).unwrap_or_default()), text);
        }
    }
}
