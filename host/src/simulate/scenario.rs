//! A simulation scenario: endpoints with latency distributions, a workload, and the
//! changes (an endpoint slows, fails, dies, leaves, returns) made while it runs.

use crate::config::{ConfigError, Dur, parse_toml};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A scenario as written in TOML.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// One line saying what the scenario shows.
    #[serde(default)]
    pub description: String,
    /// The requests.
    #[serde(default)]
    pub workload: Workload,
    /// How the policy is set up.
    #[serde(default)]
    pub policy: PolicySettings,
    /// The cluster's endpoints.
    pub endpoints: Vec<EndpointSpec>,
    /// Changes in time order.
    #[serde(default)]
    pub changes: Vec<Change>,
}

/// The requests of a run.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// How many requests.
    #[serde(default = "default_requests")]
    pub requests: usize,
    /// Arrivals per second (a Poisson process).
    #[serde(default = "default_rate")]
    pub rate: f64,
    /// Distinct request keys drawn at random, 0 for none. A request's key is its
    /// path (`/k/KEY`), every header and cookie a hashing policy asks for, and its
    /// client address.
    #[serde(default)]
    pub keys: usize,
    /// A recorded key list instead: one key per line, replayed in order (repeated when
    /// shorter than the run). Relative to the scenario file.
    pub keys_file: Option<PathBuf>,
    /// Seed of every random draw: the same seed gives the same run.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// How long after an endpoint dies (or returns) health checking notices it and the
    /// policy sees it `unavailable` (or available again).
    #[serde(default = "default_detection")]
    pub detection: Dur,
    /// The proxy's request timeout: a slower answer counts as a timeout (the proxy's
    /// 504) at this latency.
    #[serde(default = "default_timeout")]
    pub timeout: Dur,
    /// The cluster's `load_decay`: the time constant with which an endpoint's figures
    /// fade while no request refreshes them.
    #[serde(default = "default_load_decay")]
    pub load_decay: Dur,
}

impl Default for Workload {
    fn default() -> Self {
        Self {
            requests: default_requests(),
            rate: default_rate(),
            keys: 0,
            keys_file: None,
            seed: default_seed(),
            detection: default_detection(),
            timeout: default_timeout(),
            load_decay: default_load_decay(),
        }
    }
}

/// How the simulated cluster sets its policy up.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySettings {
    /// `policy_config` key/values.
    #[serde(default)]
    pub config: toml::Table,
    /// The proxy's zone.
    #[serde(default)]
    pub zone: String,
    /// Memory cap per instance, in MiB (policies in other languages need more).
    pub memory_mib: Option<usize>,
    /// CPU deadline of one pick.
    pub pick_deadline: Option<Dur>,
}

/// One endpoint and how it behaves at the start.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointSpec {
    /// Its name in the output.
    pub name: String,
    /// Configured weight.
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// Locality zone.
    #[serde(default)]
    pub zone: String,
    /// Median latency.
    pub latency: Dur,
    /// 99th percentile latency (log-normal between the two); three times the median
    /// when absent.
    pub latency_p99: Option<Dur>,
    /// Requests it serves at once before queueing stretches its latency.
    pub capacity: Option<u32>,
    /// Share of requests answered with a 503.
    #[serde(default)]
    pub error_rate: f64,
    /// True when it refuses connections.
    #[serde(default)]
    pub down: bool,
    /// False when it joins the cluster only with a later change.
    #[serde(default = "yes")]
    pub member: bool,
}

/// A change to one endpoint at a moment of the run; unset fields stay as they were.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// When, from the start of the run.
    pub at: Dur,
    /// The endpoint's name.
    pub endpoint: String,
    /// New median latency.
    pub latency: Option<Dur>,
    /// New 99th percentile latency.
    pub latency_p99: Option<Dur>,
    /// New share of 503 answers.
    pub error_rate: Option<f64>,
    /// Dies (true) or comes back (false).
    pub down: Option<bool>,
    /// Leaves the cluster (false) or joins it (true).
    pub member: Option<bool>,
    /// New weight.
    pub weight: Option<u32>,
}

impl Change {
    /// A short description, such as `b: latency 50ms`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(latency) = self.latency {
            parts.push(format!("latency {}", humantime::format_duration(latency.0)));
        }
        if let Some(rate) = self.error_rate {
            parts.push(format!("error rate {rate}"));
        }
        match self.down {
            Some(true) => parts.push("dies".into()),
            Some(false) => parts.push("returns".into()),
            None => {}
        }
        match self.member {
            Some(true) => parts.push("joins".into()),
            Some(false) => parts.push("leaves".into()),
            None => {}
        }
        if let Some(weight) = self.weight {
            parts.push(format!("weight {weight}"));
        }
        format!("{}: {}", self.endpoint, parts.join(", "))
    }
}

fn default_requests() -> usize {
    20_000
}
fn default_rate() -> f64 {
    2_000.0
}
fn default_seed() -> u64 {
    1
}
fn default_detection() -> Dur {
    Dur(Duration::from_millis(500))
}
fn default_timeout() -> Dur {
    Dur(Duration::from_secs(3))
}
fn default_load_decay() -> Dur {
    Dur(Duration::from_secs(10))
}
fn default_weight() -> u32 {
    1
}
fn yes() -> bool {
    true
}

/// The scenario used when none is given: three endpoints; one slows, then one dies and
/// returns.
pub const DEFAULT: &str = include_str!("../../../examples/scenarios/slow-then-dead.toml");

impl Scenario {
    /// Reads and checks the scenario in `path`; a recorded `keys_file` is loaded.
    pub fn load(path: &Path) -> Result<(Self, Vec<String>), ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            message: format!("cannot read: {e}"),
        })?;
        let scenario = Self::parse(&file, &text)?;
        let keys = match &scenario.workload.keys_file {
            None => Vec::new(),
            Some(keys_file) => {
                let keys_path = path.parent().unwrap_or(Path::new(".")).join(keys_file);
                let text = std::fs::read_to_string(&keys_path).map_err(|e| ConfigError {
                    file: file.clone(),
                    message: format!(
                        "workload.keys_file: cannot read {}: {e}",
                        keys_path.display()
                    ),
                })?;
                let keys: Vec<String> = text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_string)
                    .collect();
                if keys.is_empty() {
                    return Err(ConfigError {
                        file,
                        message: format!("workload.keys_file: {} has no keys", keys_path.display()),
                    });
                }
                keys
            }
        };
        Ok((scenario, keys))
    }

    /// Parses and checks scenario `text`, named `file` in errors.
    pub fn parse(file: &str, text: &str) -> Result<Self, ConfigError> {
        let scenario: Self = parse_toml(file, text)?;
        scenario.validate().map_err(|message| ConfigError {
            file: file.to_string(),
            message,
        })?;
        Ok(scenario)
    }

    /// Index of the endpoint named `name`.
    pub fn endpoint_index(&self, name: &str) -> Option<usize> {
        self.endpoints.iter().position(|e| e.name == name)
    }

    /// The `policy_config` as the key/values `init` receives.
    pub fn policy_config(&self) -> Vec<(String, String)> {
        self.policy
            .config
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), text)
            })
            .collect()
    }

    fn validate(&self) -> Result<(), String> {
        let w = &self.workload;
        if w.requests == 0 {
            return Err("workload.requests: must be at least 1".into());
        }
        if !(w.rate > 0.0 && w.rate.is_finite()) {
            return Err(format!("workload.rate: must be above 0, not {}", w.rate));
        }
        if w.timeout.0.is_zero() {
            return Err("workload.timeout: must be above 0".into());
        }
        if w.keys > 0 && w.keys_file.is_some() {
            return Err("workload: keys and keys_file exclude each other".into());
        }
        for (key, value) in &self.policy.config {
            if matches!(value, toml::Value::Table(_) | toml::Value::Array(_)) {
                return Err(format!(
                    "policy.config.{key}: expected a string, number or boolean"
                ));
            }
        }
        if self.endpoints.is_empty() {
            return Err("endpoints: at least one [[endpoints]] is needed".into());
        }
        for (i, e) in self.endpoints.iter().enumerate() {
            let key = format!("endpoints[{i}]");
            if self.endpoints[..i].iter().any(|other| other.name == e.name) {
                return Err(format!("{key}.name: {:?} is used twice", e.name));
            }
            if e.weight == 0 {
                return Err(format!("{key}.weight: must be at least 1"));
            }
            check_latency(&key, e.latency, e.latency_p99)?;
            check_rate(&key, e.error_rate)?;
            if e.capacity == Some(0) {
                return Err(format!("{key}.capacity: must be at least 1"));
            }
        }
        let mut last = Duration::ZERO;
        for (i, c) in self.changes.iter().enumerate() {
            let key = format!("changes[{i}]");
            if c.at.0 < last {
                return Err(format!("{key}.at: changes must be in time order"));
            }
            last = c.at.0;
            let Some(index) = self.endpoint_index(&c.endpoint) else {
                return Err(format!(
                    "{key}.endpoint: no endpoint is named {:?}",
                    c.endpoint
                ));
            };
            let latency = c.latency.unwrap_or(self.endpoints[index].latency);
            check_latency(&key, latency, c.latency_p99)?;
            if let Some(rate) = c.error_rate {
                check_rate(&key, rate)?;
            }
            if c.weight == Some(0) {
                return Err(format!("{key}.weight: must be at least 1"));
            }
        }
        Ok(())
    }
}

fn check_latency(key: &str, median: Dur, p99: Option<Dur>) -> Result<(), String> {
    if median.0.is_zero() {
        return Err(format!("{key}.latency: must be above 0"));
    }
    if let Some(p99) = p99
        && p99 < median
    {
        return Err(format!(
            "{key}.latency_p99: must not be below the median latency"
        ));
    }
    Ok(())
}

fn check_rate(key: &str, rate: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&rate) {
        Ok(())
    } else {
        Err(format!("{key}.error_rate: must be in [0, 1], not {rate}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_scenario_parses() {
        let scenario = Scenario::parse("default", DEFAULT).unwrap();
        assert!(scenario.endpoints.len() >= 3 && !scenario.changes.is_empty());
    }

    #[test]
    fn errors_name_key_and_reason() {
        let text = r#"
            [[endpoints]]
            name = "a"
            latency = "5ms"
            [[changes]]
            at = "1s"
            endpoint = "nope"
            down = true
        "#;
        let err = Scenario::parse("s.toml", text).unwrap_err().to_string();
        assert!(
            err.starts_with("s.toml: changes[0].endpoint: no endpoint"),
            "{err}"
        );
        let text = "[[endpoints]]\nname = \"a\"\nlatency = \"fast\"\n";
        let err = Scenario::parse("s.toml", text).unwrap_err().to_string();
        assert!(
            err.contains("endpoints[0].latency") && err.contains("line 3"),
            "{err}"
        );
        let text = "[workload]\nrate = 0\n[[endpoints]]\nname = \"a\"\nlatency = \"1ms\"\n";
        let err = Scenario::parse("s.toml", text).unwrap_err().to_string();
        assert!(err.contains("workload.rate: must be above 0"), "{err}");
    }
}
