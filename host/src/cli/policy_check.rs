//! `switchyard policy check`: everything the proxy would do before trusting a policy,
//! plus smoke picks on synthetic clusters, reported for a policy author.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchyard_policy::cluster::Membership;
use switchyard_policy::{
    ClusterPolicy, LoadError, PickSource, PolicyEngine, PolicyLimits, RequestInfo,
};

/// Cluster sizes the smoke picks run against.
pub const SMOKE_SIZES: [usize; 2] = [3, 1000];
/// Picks per cluster size.
pub const SMOKE_PICKS: usize = 1000;

/// What a check found.
#[derive(Debug)]
pub struct CheckReport {
    /// The WIT world implemented.
    pub world: &'static str,
    /// The policy's name for itself.
    pub name: String,
    /// Its one-line description.
    pub description: String,
    /// Its configuration keys: (name, description, default).
    pub config_keys: Vec<(String, String, Option<String>)>,
    /// Compile + link + validate time.
    pub load_time: Duration,
    /// One line per cluster size.
    pub smoke: Vec<SmokeResult>,
}

/// Smoke picks against one synthetic cluster.
#[derive(Debug)]
pub struct SmokeResult {
    /// Endpoints in the cluster.
    pub endpoints: usize,
    /// Picks made.
    pub picks: usize,
    /// Distinct first choices seen.
    pub distinct_first: usize,
    /// Mean time per pick.
    pub mean_pick: Duration,
}

/// Loads `bytes` as policy `name` with `config` and runs the smoke picks. Any fault is
/// an error: a policy that faults here would be quarantined in production.
pub fn check(
    engine: &PolicyEngine,
    name: &str,
    bytes: &[u8],
    config: &[(String, String)],
) -> Result<CheckReport, LoadError> {
    let limits = PolicyLimits::default();
    let started = Instant::now();
    let component = engine.compile(name, bytes)?;
    let load_time = started.elapsed();
    let info = component.describe(&limits)?;
    let mut smoke = Vec::new();
    for endpoints in SMOKE_SIZES {
        let membership = Arc::new(Membership::synthetic(endpoints));
        let policy = ClusterPolicy::new(
            Arc::clone(&component),
            "check",
            config,
            "",
            limits,
            membership,
        )?;
        let request = RequestInfo::get("/check");
        let mut distinct = HashSet::new();
        let started = Instant::now();
        for _ in 0..SMOKE_PICKS {
            let pick = policy.pick(&request);
            match pick.source {
                PickSource::Policy => {
                    distinct.insert(pick.endpoints[0]);
                }
                PickSource::Fallback(fault) => return Err(LoadError::Smoke(fault)),
                PickSource::Quarantined | PickSource::PreviousVersion => {
                    unreachable!("a lone policy reports a fault before quarantine")
                }
            }
        }
        smoke.push(SmokeResult {
            endpoints,
            picks: SMOKE_PICKS,
            distinct_first: distinct.len(),
            mean_pick: started.elapsed() / SMOKE_PICKS as u32,
        });
    }
    Ok(CheckReport {
        world: "balancer",
        name: info.name,
        description: info.description,
        config_keys: info
            .config_keys
            .into_iter()
            .map(|k| (k.name, k.description, k.default_value))
            .collect(),
        load_time,
        smoke,
    })
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "world:       {}", self.world)?;
        writeln!(f, "policy:      {} — {}", self.name, self.description)?;
        writeln!(
            f,
            "load:        {:.1} ms (compile + link + validate)",
            self.load_time.as_secs_f64() * 1e3
        )?;
        if self.config_keys.is_empty() {
            writeln!(f, "config keys: none")?;
        } else {
            writeln!(f, "config keys:")?;
            for (name, description, default) in &self.config_keys {
                let default = default
                    .as_deref()
                    .map(|d| format!(" (default {d})"))
                    .unwrap_or_default();
                writeln!(f, "  {name}: {description}{default}")?;
            }
        }
        for s in &self.smoke {
            writeln!(
                f,
                "smoke:       {} endpoints, {} picks, {} distinct first choices, {:.2} µs/pick",
                s.endpoints,
                s.picks,
                s.distinct_first,
                s.mean_pick.as_secs_f64() * 1e6
            )?;
        }
        write!(f, "ok")
    }
}
