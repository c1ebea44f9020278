//! Sizes as people write them in config files: `512KiB`, `1MiB`, `6MB`, `1000`.

use serde::Deserialize;
use std::fmt;

/// A size in bytes. Deserializes from a whole number of bytes or a number with a unit:
/// `B`, `KB`/`MB` (powers of 1000) or `KiB`/`MiB` (powers of 1024).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ByteSize(pub(crate) u64);

impl ByteSize {
    /// `n` mebibytes.
    pub(crate) const fn mib(n: u64) -> Self {
        Self(n * 1024 * 1024)
    }

    /// As a `usize`, saturating.
    pub(crate) fn bytes(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&human(self.0))
    }
}

/// A byte count for people: `512 B`, `1.0 MiB`, `48.6 MiB`.
pub(crate) fn human(bytes: u64) -> String {
    const K: f64 = 1024.0;
    let b = bytes as f64;
    if b < K {
        format!("{bytes} B")
    } else if b < K * K {
        format!("{:.1} KiB", b / K)
    } else if b < K * K * K {
        format!("{:.1} MiB", b / (K * K))
    } else {
        format!("{:.1} GiB", b / (K * K * K))
    }
}

fn parse(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{t}` is not a size; write e.g. `512KiB`, `1MiB` or `6MB`"))?;
    let scale = match unit.trim() {
        "" | "B" => 1.0,
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "`{t}`: `{other}` is not a unit of size; use B, KB, MB, KiB or MiB"
            ))
        }
    };
    Ok((value * scale).round() as u64)
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom("expected a size such as `1MiB` or a number of bytes")
        })? {
            Raw::N(n) => Ok(Self(n)),
            Raw::S(s) => parse(&s).map(Self).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_bytes_and_units() {
        let read = |v| {
            serde_json::from_value::<ByteSize>(v)
                .map(|s| s.0)
                .map_err(|e| e.to_string())
        };
        assert_eq!(read(json!(1000)), Ok(1000));
        assert_eq!(read(json!("1MiB")), Ok(1_048_576));
        assert_eq!(read(json!("6MB")), Ok(6_000_000));
        assert_eq!(read(json!("512KiB")), Ok(524_288));
        assert!(read(json!("1 GB"))
            .unwrap_err()
            .contains("not a unit of size"));
        assert!(read(json!(-1)).is_err());
    }

    #[test]
    fn shows_sizes_for_people() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(1_048_576), "1.0 MiB");
        assert_eq!(human(52_428_800), "50.0 MiB");
    }
}
