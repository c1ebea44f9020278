//! How each version behaves and how much traffic the alias gets.

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// A scenario file (JSON or YAML).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Client requests per second on the alias.
    #[serde(default = "default_rate")]
    pub rate: f64,
    /// Version → how it behaves; a version not listed is healthy.
    #[serde(default)]
    pub versions: BTreeMap<String, Version>,
}

/// How one version behaves, for client traffic and for the hooks' `Invoke`s alike.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Version {
    /// The share of invocations that fail, spread evenly.
    #[serde(default)]
    pub error_rate: f64,
    /// How long each invocation takes (the `Duration` metric; the hooks' invokes wait it).
    #[serde(default = "default_latency")]
    pub latency_ms: u64,
    /// The answer; default: an API Gateway proxy answer with status 200 that echoes
    /// the event in its body, as the demo function does.
    #[serde(default)]
    pub payload: Option<Value>,
}

fn default_rate() -> f64 {
    20.0
}

fn default_latency() -> u64 {
    20
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            rate: default_rate(),
            versions: BTreeMap::new(),
        }
    }
}

impl Default for Version {
    fn default() -> Self {
        Self {
            error_rate: 0.0,
            latency_ms: default_latency(),
            payload: None,
        }
    }
}

impl Scenario {
    /// Reads a scenario, saying what is wrong and where.
    pub fn parse(text: &str) -> Result<Self, String> {
        let s: Scenario = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
        if !(s.rate >= 0.0 && s.rate <= 100_000.0) {
            return Err("rate: must be 0 to 100000 requests per second".to_owned());
        }
        for (v, b) in &s.versions {
            if !(0.0..=1.0).contains(&b.error_rate) {
                return Err(format!("versions.{v}.error_rate: must be 0 to 1"));
            }
        }
        Ok(s)
    }

    /// How `version` behaves.
    pub fn version(&self, version: &str) -> Version {
        self.versions.get(version).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_contract_example() {
        let s = Scenario::parse(
            "rate: 20\nversions:\n  \"1\": { error_rate: 0, latency_ms: 20, payload: { statusCode: 200 } }\n  \"2\": { error_rate: 0.3, latency_ms: 45 }\n",
        )
        .unwrap();
        assert_eq!(s.rate, 20.0);
        assert_eq!(s.version("2").error_rate, 0.3);
        assert_eq!(s.version("2").payload, None);
        assert_eq!(s.version("9"), Version::default());
        assert!(Scenario::parse("versions: { \"2\": { error_rate: 2 } }").is_err());
        assert!(Scenario::parse("rate: 1\ncolour: red").is_err());
    }
}
