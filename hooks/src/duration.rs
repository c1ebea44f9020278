//! Durations as people write them in config files: `500ms`, `10s`, `2m`.

use std::time::Duration;

/// Parses a duration such as `500ms`, `10s`, `2m` or `1m30s`.
///
/// Plain numbers are refused on purpose: `timeout: 5` is ambiguous (seconds? ms?).
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration; write e.g. `500ms`, `10s` or `2m`".to_owned());
    }
    if text.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(format!(
            "`{text}` has no unit; write e.g. `{text}s` or `{text}ms`"
        ));
    }
    humantime::parse_duration(text)
        .map_err(|e| format!("`{text}` is not a duration ({e}); write e.g. `500ms`, `10s` or `2m`"))
}

/// Formats a duration the way it is written in config files (`1.5s`, `250ms`, `2m`).
pub fn format(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        "0s".to_owned()
    } else if ms < 1000 {
        format!("{ms}ms")
    } else if ms % 60_000 == 0 {
        format!("{}m", ms / 60_000)
    } else if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_units_the_contract_names() {
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
    }

    #[test]
    fn refuses_numbers_without_unit_and_says_how_to_fix() {
        let err = parse("5").unwrap_err();
        assert!(err.contains("no unit"), "{err}");
        assert!(parse("ten seconds").is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn formats_round_trip() {
        for text in ["250ms", "10s", "2m", "1.5s", "0s"] {
            assert_eq!(format(parse(text).unwrap_or_default()), text);
        }
    }
}
