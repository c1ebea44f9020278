//! Deployment configurations and the exact weight schedules CodeDeploy follows.
//!
//! From CodeDeploy's documentation: a canary shifts its percentage at the start and the
//! rest after the interval; a linear config shifts its percentage at the start of each
//! increment, an interval apart, until all traffic has shifted; all-at-once shifts
//! everything at the start.

use serde_json::Value;

/// How traffic shifts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shift {
    /// Everything at once.
    AllAtOnce,
    /// `percent` first, the rest `minutes` later.
    Canary {
        /// Shifted at the start.
        percent: u32,
        /// Minutes until the rest shifts.
        minutes: u32,
    },
    /// `percent` more every `minutes`.
    Linear {
        /// Shifted at the start of each increment.
        percent: u32,
        /// Minutes between increments.
        minutes: u32,
    },
}

/// A named deployment configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentConfig {
    /// Its name as the template wrote it.
    pub name: String,
    /// How it shifts traffic.
    pub shift: Shift,
}

impl DeploymentConfig {
    /// The predefined Lambda configs, by their SAM names (CodeDeploy's own names,
    /// `CodeDeployDefault.Lambda…`, work too).
    pub const PREDEFINED: [&'static str; 9] = [
        "Canary10Percent5Minutes",
        "Canary10Percent10Minutes",
        "Canary10Percent15Minutes",
        "Canary10Percent30Minutes",
        "Linear10PercentEvery1Minute",
        "Linear10PercentEvery2Minutes",
        "Linear10PercentEvery3Minutes",
        "Linear10PercentEvery10Minutes",
        "AllAtOnce",
    ];

    /// A predefined config by name.
    pub fn named(name: &str) -> Option<Self> {
        let short = name
            .strip_prefix("CodeDeployDefault.Lambda")
            .unwrap_or(name);
        let shift = match short {
            "Canary10Percent5Minutes" => Shift::Canary {
                percent: 10,
                minutes: 5,
            },
            "Canary10Percent10Minutes" => Shift::Canary {
                percent: 10,
                minutes: 10,
            },
            "Canary10Percent15Minutes" => Shift::Canary {
                percent: 10,
                minutes: 15,
            },
            "Canary10Percent30Minutes" => Shift::Canary {
                percent: 10,
                minutes: 30,
            },
            "Linear10PercentEvery1Minute" => Shift::Linear {
                percent: 10,
                minutes: 1,
            },
            "Linear10PercentEvery2Minutes" => Shift::Linear {
                percent: 10,
                minutes: 2,
            },
            "Linear10PercentEvery3Minutes" => Shift::Linear {
                percent: 10,
                minutes: 3,
            },
            "Linear10PercentEvery10Minutes" => Shift::Linear {
                percent: 10,
                minutes: 10,
            },
            "AllAtOnce" => Shift::AllAtOnce,
            _ => return None,
        };
        Some(Self {
            name: name.to_owned(),
            shift,
        })
    }

    /// A custom config from an `AWS::CodeDeploy::DeploymentConfig`'s
    /// `TrafficRoutingConfig` (resolved), at `path` for errors.
    pub fn from_routing(
        name: &str,
        routing: &Value,
        path: &str,
    ) -> Result<Self, super::template::TemplateError> {
        let fail = |m: String| super::template::TemplateError {
            path: path.to_owned(),
            message: m,
        };
        let kind = routing
            .get("Type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let number = |section: &str, field: &str| -> Result<u32, super::template::TemplateError> {
            let v = routing.get(section).and_then(|s| s.get(field));
            let n = v
                .and_then(|v| {
                    v.as_u64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                })
                .ok_or_else(|| fail(format!("{section}.{field}: missing or not a whole number")))?;
            u32::try_from(n).map_err(|_| fail(format!("{section}.{field}: too large")))
        };
        let shift = match kind {
            "AllAtOnce" => Shift::AllAtOnce,
            "TimeBasedCanary" => Shift::Canary {
                percent: number("TimeBasedCanary", "CanaryPercentage")?,
                minutes: number("TimeBasedCanary", "CanaryInterval")?,
            },
            "TimeBasedLinear" => Shift::Linear {
                percent: number("TimeBasedLinear", "LinearPercentage")?,
                minutes: number("TimeBasedLinear", "LinearInterval")?,
            },
            other => {
                return Err(fail(format!(
                    "Type `{other}` is not AllAtOnce, TimeBasedCanary or TimeBasedLinear"
                )))
            }
        };
        if let Shift::Canary { percent, minutes } | Shift::Linear { percent, minutes } = shift {
            if !(1..=99).contains(&percent) || minutes == 0 {
                return Err(fail(
                    "the percentage must be 1 to 99 and the interval at least a minute".into(),
                ));
            }
        }
        Ok(Self {
            name: name.to_owned(),
            shift,
        })
    }

    /// The weight steps: `(seconds after AllowTraffic starts, the target's share)`, the
    /// last at share 1.
    pub fn steps(&self) -> Vec<(u64, f64)> {
        match self.shift {
            Shift::AllAtOnce => vec![(0, 1.0)],
            Shift::Canary { percent, minutes } => {
                vec![
                    (0, f64::from(percent) / 100.0),
                    (u64::from(minutes) * 60, 1.0),
                ]
            }
            Shift::Linear { percent, minutes } => {
                let increments = 100u32.div_ceil(percent);
                (0..increments)
                    .map(|i| {
                        let share = (f64::from((i + 1) * percent) / 100.0).min(1.0);
                        (u64::from(i) * u64::from(minutes) * 60, share)
                    })
                    .collect()
            }
        }
    }

    /// How long `AllowTraffic` lasts.
    pub fn duration(&self) -> u64 {
        self.steps().last().map(|(t, _)| *t).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn steps(name: &str) -> Vec<(u64, f64)> {
        DeploymentConfig::named(name)
            .map(|c| c.steps())
            .unwrap_or_default()
    }

    #[test]
    fn canaries_shift_ten_percent_then_the_rest_after_their_interval() {
        for (name, minutes) in [
            ("Canary10Percent5Minutes", 5),
            ("Canary10Percent10Minutes", 10),
            ("Canary10Percent15Minutes", 15),
            ("Canary10Percent30Minutes", 30),
        ] {
            assert_eq!(steps(name), [(0, 0.1), (minutes * 60, 1.0)], "{name}");
        }
    }

    #[test]
    fn linears_shift_ten_percent_at_the_start_of_each_of_ten_increments() {
        for (name, minutes) in [
            ("Linear10PercentEvery1Minute", 1u64),
            ("Linear10PercentEvery2Minutes", 2),
            ("Linear10PercentEvery3Minutes", 3),
            ("Linear10PercentEvery10Minutes", 10),
        ] {
            let s = steps(name);
            assert_eq!(s.len(), 10, "{name}");
            for (i, (t, share)) in s.iter().enumerate() {
                assert_eq!(*t, i as u64 * minutes * 60, "{name} step {i}");
                assert!(
                    (share - (i as f64 + 1.0) / 10.0).abs() < 1e-9,
                    "{name} step {i}: {share}"
                );
            }
            assert_eq!(
                DeploymentConfig::named(name).unwrap().duration(),
                9 * minutes * 60
            );
        }
    }

    #[test]
    fn all_at_once_shifts_everything_at_the_start() {
        assert_eq!(steps("AllAtOnce"), [(0, 1.0)]);
        assert_eq!(steps("CodeDeployDefault.LambdaAllAtOnce"), [(0, 1.0)]);
    }

    #[test]
    fn custom_configs_follow_their_traffic_routing() {
        let linear = DeploymentConfig::from_routing(
            "sim-Custom",
            &json!({"Type": "TimeBasedLinear", "TimeBasedLinear": {"LinearPercentage": 30, "LinearInterval": 2}}),
            "p",
        )
        .unwrap();
        assert_eq!(
            linear.steps(),
            [(0, 0.3), (120, 0.6), (240, 0.9), (360, 1.0)]
        );
        let canary = DeploymentConfig::from_routing(
            "c",
            &json!({"Type": "TimeBasedCanary", "TimeBasedCanary": {"CanaryPercentage": "25", "CanaryInterval": 7}}),
            "p",
        )
        .unwrap();
        assert_eq!(canary.steps(), [(0, 0.25), (420, 1.0)]);
        let bad = DeploymentConfig::from_routing(
            "b",
            &json!({"Type": "TimeBasedLinear", "TimeBasedLinear": {"LinearPercentage": 0, "LinearInterval": 1}}),
            "p",
        );
        assert!(bad.is_err());
    }
}
