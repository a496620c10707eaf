//! A simulation scenario: endpoints with latency distributions and capacities, what
//! they report about their load, a workload, and the changes (an endpoint slows, fails,
//! dies, leaves, returns; the arrival rate moves) made while it runs.

use crate::config::{ConfigError, Dur, parse_toml};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use switchyard_policy::cluster::MetricCatalog;

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
    /// What the endpoints report about their load, as the cluster's
    /// `[clusters.load_reports]` would collect it; nothing when absent.
    pub load_reports: Option<LoadReports>,
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

/// `[load_reports]`: what the simulated cluster collects, and so what its endpoints
/// report. A reporting endpoint reports its own load (it needs a `capacity`):
///
/// - ORCA: `cpu_utilization`, the share of its capacity busy over the last `window`;
///   `mem_utilization`, as `vllm:gpu_cache_usage_perc`; `rps_fractional`, responses
///   per second over the last `window`; `eps`, 503 answers per second over it; and
///   `named_metrics.NAME` for a NAME of the series below. No `application_utilization`.
/// - Series (scraped, or ORCA named metrics): `vllm:num_requests_waiting`, requests
///   queued beyond its capacity; `vllm:num_requests_running`, requests being served;
///   `vllm:gpu_cache_usage_perc`, requests held / `kv_cache`, at most 1. The `vllm:`
///   prefix is optional, labels (`{model_name="m"}`) are ignored, and `kv_cache_usage_perc`
///   names the last one too.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadReports {
    /// ORCA reports are collected: on every response (the per-request reports of
    /// `endpoint-load-metrics`), or out of band every `orca_interval`.
    #[serde(default = "yes")]
    pub orca: bool,
    /// Out-of-band ORCA reports at this interval instead of one on every response.
    pub orca_interval: Option<Dur>,
    /// A Prometheus scrape of every endpoint; none when absent.
    pub scrape: Option<ScrapeSpec>,
    /// What utilization and rates are averaged over.
    #[serde(default = "default_window")]
    pub window: Dur,
}

/// `scrape = { ... }` of `[load_reports]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeSpec {
    /// Time between scrapes of one endpoint; endpoints are scraped in turn, spread
    /// over the interval.
    #[serde(default = "default_scrape_interval")]
    pub interval: Dur,
    /// Series collected, as `[clusters.load_reports] scrape.metrics` names them.
    pub metrics: Vec<String>,
}

/// A figure a simulated endpoint reports about its own load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Series {
    /// Share of its capacity busy over the window (time-averaged), 0 to 1.
    Utilization,
    /// Responses per second over the window.
    Rps,
    /// 503 answers per second over the window.
    Eps,
    /// Requests waiting for a free slot, now.
    Waiting,
    /// Requests being served, now.
    Running,
    /// Requests held (served or waiting) / `kv_cache`, at most 1, now.
    KvCache,
}

impl Series {
    /// The series names in scrapes and ORCA named metrics, as help.
    pub const NAMES: &str = "vllm:num_requests_waiting, vllm:num_requests_running, vllm:gpu_cache_usage_perc \
         (or vllm:kv_cache_usage_perc)";

    /// The ORCA field `name` stands for, if any.
    pub fn orca_field(name: &str) -> Option<Self> {
        match name {
            "cpu_utilization" => Some(Self::Utilization),
            "mem_utilization" => Some(Self::KvCache),
            "rps_fractional" => Some(Self::Rps),
            "eps" => Some(Self::Eps),
            _ => None,
        }
    }

    /// The series a scraped selector or ORCA named metric stands for: `NAME` or
    /// `NAME{labels}`, with or without the `vllm:` prefix.
    pub fn named(name: &str) -> Option<Self> {
        let base = name.split('{').next().unwrap_or_default().trim();
        match base.strip_prefix("vllm:").unwrap_or(base) {
            "num_requests_waiting" => Some(Self::Waiting),
            "num_requests_running" => Some(Self::Running),
            "gpu_cache_usage_perc" | "kv_cache_usage_perc" => Some(Self::KvCache),
            _ => None,
        }
    }
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
    /// when absent. With a `capacity`, the time to serve a request once a slot takes
    /// it, queueing not included.
    pub latency_p99: Option<Dur>,
    /// Requests it serves at once; more wait in its queue, first come first served,
    /// for a free slot (a request still waiting at the proxy's timeout is dropped).
    /// Unlimited when absent.
    pub capacity: Option<u32>,
    /// Requests its KV cache holds, for `vllm:gpu_cache_usage_perc`; `capacity` when
    /// absent.
    pub kv_cache: Option<u32>,
    /// False when it reports nothing about its load (a server without ORCA or
    /// metrics): policies find no reading for it.
    #[serde(default = "yes")]
    pub reports: bool,
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

/// A change to one endpoint, or to the arrival rate, at a moment of the run; unset
/// fields stay as they were.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// When, from the start of the run.
    pub at: Dur,
    /// The endpoint's name; none for a change of `rate` alone.
    pub endpoint: Option<String>,
    /// New arrival rate, per second.
    pub rate: Option<f64>,
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
    /// Stops (false) or starts (true) reporting its load.
    pub reports: Option<bool>,
}

impl Change {
    /// Whether it changes its endpoint (not only the rate).
    fn touches_endpoint(&self) -> bool {
        self.latency.is_some()
            || self.latency_p99.is_some()
            || self.error_rate.is_some()
            || self.down.is_some()
            || self.member.is_some()
            || self.weight.is_some()
            || self.reports.is_some()
    }

    /// A short description, such as `b: latency 50ms` or `rate 1000/s`.
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
        match self.reports {
            Some(true) => parts.push("reports".into()),
            Some(false) => parts.push("stops reporting".into()),
            None => {}
        }
        let mut text = match &self.endpoint {
            Some(endpoint) if !parts.is_empty() || self.rate.is_none() => {
                format!("{endpoint}: {}", parts.join(", "))
            }
            _ => String::new(),
        };
        if let Some(rate) = self.rate {
            if !text.is_empty() {
                text.push_str("; ");
            }
            text.push_str(&format!("rate {rate}/s"));
        }
        text
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
fn default_window() -> Dur {
    Dur(Duration::from_secs(1))
}
fn default_scrape_interval() -> Dur {
    Dur(Duration::from_secs(1))
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
            if e.kv_cache == Some(0) {
                return Err(format!("{key}.kv_cache: must be at least 1"));
            }
            if self.load_reports.is_some() && e.capacity.is_none() {
                return Err(format!(
                    "{key}.capacity: needed with [load_reports] (what an endpoint reports \
                     is relative to it)"
                ));
            }
        }
        if let Some(reports) = &self.load_reports {
            reports.validate()?;
        }
        let mut last = Duration::ZERO;
        for (i, c) in self.changes.iter().enumerate() {
            let key = format!("changes[{i}]");
            if c.at.0 < last {
                return Err(format!("{key}.at: changes must be in time order"));
            }
            last = c.at.0;
            if let Some(rate) = c.rate
                && !(rate > 0.0 && rate.is_finite())
            {
                return Err(format!("{key}.rate: must be above 0, not {rate}"));
            }
            let Some(endpoint) = &c.endpoint else {
                if c.touches_endpoint() {
                    return Err(format!("{key}.endpoint: which endpoint changes?"));
                }
                if c.rate.is_none() {
                    return Err(format!("{key}: name an endpoint, or a new rate"));
                }
                continue;
            };
            let Some(index) = self.endpoint_index(endpoint) else {
                return Err(format!("{key}.endpoint: no endpoint is named {endpoint:?}"));
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

impl LoadReports {
    fn validate(&self) -> Result<(), String> {
        if self.window.0.is_zero() {
            return Err("load_reports.window: must be above 0".into());
        }
        if self.orca_interval.is_some_and(|d| d.0.is_zero()) {
            return Err("load_reports.orca_interval: must be above 0".into());
        }
        if self.orca_interval.is_some() && !self.orca {
            return Err("load_reports.orca_interval: ORCA reports are off (orca = false)".into());
        }
        let Some(scrape) = &self.scrape else {
            if !self.orca {
                return Err("load_reports: nothing is collected (orca = false, no scrape)".into());
            }
            return Ok(());
        };
        if scrape.interval.0.is_zero() {
            return Err("load_reports.scrape.interval: must be above 0".into());
        }
        if scrape.metrics.is_empty() {
            return Err("load_reports.scrape.metrics: name at least one series".into());
        }
        for (i, name) in scrape.metrics.iter().enumerate() {
            if Series::named(name).is_none() {
                return Err(format!(
                    "load_reports.scrape.metrics[{i}]: the simulated endpoints report {}, \
                     not {name:?}",
                    Series::NAMES
                ));
            }
            if scrape.metrics[..i].contains(name) {
                return Err(format!(
                    "load_reports.scrape.metrics[{i}]: {name:?} is named twice"
                ));
            }
        }
        Ok(())
    }

    /// The metrics the cluster collects: the ORCA fields (when on), then the scraped
    /// series, as `[clusters.load_reports]` would give them.
    pub fn catalog(&self) -> Result<std::sync::Arc<MetricCatalog>, String> {
        let scraped = self.scrape.as_ref().map_or(&[][..], |s| &s.metrics[..]);
        MetricCatalog::new(self.orca, scraped)
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

    const TWO: &str = r#"
        [[endpoints]]
        name = "a"
        latency = "5ms"
        capacity = 4
        [[endpoints]]
        name = "b"
        latency = "5ms"
        capacity = 8
        kv_cache = 16
        reports = false
    "#;

    #[test]
    fn load_reports_and_capacities_parse() {
        let text = format!(
            r#"
            [load_reports]
            orca_interval = "250ms"
            window = "2s"
            scrape = {{ interval = "50ms", metrics = ["vllm:num_requests_waiting", 'vllm:gpu_cache_usage_perc{{model_name="m"}}'] }}
            {TWO}
            [[changes]]
            at = "3s"
            rate = 800
            [[changes]]
            at = "4s"
            endpoint = "b"
            reports = true
            "#
        );
        let scenario = Scenario::parse("s.toml", &text).unwrap();
        let reports = scenario.load_reports.as_ref().unwrap();
        assert!(reports.orca, "on unless turned off");
        assert_eq!(reports.orca_interval, Some(Dur(Duration::from_millis(250))));
        assert_eq!(reports.window, Dur(Duration::from_secs(2)));
        let scrape = reports.scrape.as_ref().unwrap();
        assert_eq!(scrape.interval, Dur(Duration::from_millis(50)));
        let names = reports.catalog().unwrap().names();
        assert_eq!(
            names.len(),
            7,
            "the ORCA fields, then the scraped series: {names:?}"
        );
        assert_eq!(names[0], "cpu_utilization");
        assert_eq!(names[6], r#"vllm:gpu_cache_usage_perc{model_name="m"}"#);
        let (a, b) = (&scenario.endpoints[0], &scenario.endpoints[1]);
        assert_eq!((a.capacity, a.kv_cache, a.reports), (Some(4), None, true));
        assert_eq!(
            (b.capacity, b.kv_cache, b.reports),
            (Some(8), Some(16), false)
        );
        assert_eq!(scenario.changes[0].describe(), "rate 800/s");
        assert_eq!(scenario.changes[1].describe(), "b: reports");

        let plain = Scenario::parse("s.toml", &format!("[load_reports]\n{TWO}")).unwrap();
        let reports = plain.load_reports.unwrap();
        assert!(reports.orca && reports.orca_interval.is_none() && reports.scrape.is_none());
        assert_eq!(reports.window, Dur(Duration::from_secs(1)));
        assert!(
            Scenario::parse("s.toml", TWO)
                .unwrap()
                .load_reports
                .is_none()
        );
    }

    #[test]
    fn series_are_read_by_their_names() {
        assert_eq!(
            Series::orca_field("cpu_utilization"),
            Some(Series::Utilization)
        );
        assert_eq!(Series::orca_field("rps_fractional"), Some(Series::Rps));
        assert_eq!(Series::orca_field("eps"), Some(Series::Eps));
        assert_eq!(Series::orca_field("mem_utilization"), Some(Series::KvCache));
        assert_eq!(Series::orca_field("application_utilization"), None);
        assert_eq!(
            Series::named("vllm:num_requests_waiting"),
            Some(Series::Waiting)
        );
        assert_eq!(Series::named("num_requests_running"), Some(Series::Running));
        assert_eq!(
            Series::named(r#"vllm:gpu_cache_usage_perc{model_name="m"}"#),
            Some(Series::KvCache)
        );
        assert_eq!(Series::named("kv_cache_usage_perc"), Some(Series::KvCache));
        assert_eq!(Series::named("vllm:num_requests_total"), None);
    }

    #[test]
    fn bad_load_reports_and_changes_are_named() {
        let err = |text: &str| Scenario::parse("s.toml", text).unwrap_err().to_string();
        let e = err("[load_reports]\n[[endpoints]]\nname = \"a\"\nlatency = \"1ms\"\n");
        assert!(
            e.contains("endpoints[0].capacity: needed with [load_reports]"),
            "{e}"
        );
        let e = err(&format!(
            "[load_reports]\nscrape = {{ metrics = [\"vllm:num_requests_waiting\", \"qps\"] }}\n{TWO}"
        ));
        assert!(
            e.contains("load_reports.scrape.metrics[1]: the simulated endpoints report")
                && e.contains("not \"qps\""),
            "{e}"
        );
        let e = err(&format!(
            "[load_reports]\nscrape = {{ metrics = [] }}\n{TWO}"
        ));
        assert!(
            e.contains("load_reports.scrape.metrics: name at least one"),
            "{e}"
        );
        let e = err(&format!("[load_reports]\norca = false\n{TWO}"));
        assert!(e.contains("load_reports: nothing is collected"), "{e}");
        let e = err(&format!("[load_reports]\nwindow = \"0s\"\n{TWO}"));
        assert!(e.contains("load_reports.window: must be above 0"), "{e}");
        let e = err(&format!(
            "[load_reports]\nreport_headers = [\"x-load\"]\n{TWO}"
        ));
        assert!(e.contains("report_headers"), "{e}");
        let e = err(&format!("{TWO}\n[[changes]]\nat = \"1s\"\nrate = 0\n"));
        assert!(e.contains("changes[0].rate: must be above 0"), "{e}");
        let e = err(&format!("{TWO}\n[[changes]]\nat = \"1s\"\ndown = true\n"));
        assert!(
            e.contains("changes[0].endpoint: which endpoint changes?"),
            "{e}"
        );
        let e = err(&format!("{TWO}\n[[changes]]\nat = \"1s\"\n"));
        assert!(
            e.contains("changes[0]: name an endpoint, or a new rate"),
            "{e}"
        );
        let e = err(&format!(
            "{TWO}\n[[endpoints]]\nname = \"c\"\nlatency = \"1ms\"\nkv_cache = 0\n"
        ));
        assert!(
            e.contains("endpoints[2].kv_cache: must be at least 1"),
            "{e}"
        );
    }
}
