//! `switchyard policy check`: everything the proxy would do before trusting a policy,
//! plus smoke picks on synthetic clusters, reported for a policy author.
//!
//! With `--header` / `--path` the smoke picks carry that request, so a hashing policy's
//! keyed path runs, and the report says which endpoints the key went to and whether it
//! always went to the same one. With `--endpoints N` the check also runs on a cluster
//! of N and warns where a default stops scaling (ring points, Maglev table, memory).

use anyhow::bail;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchyard_policy::cluster::{EndpointId, Membership, MetricCatalog};
use switchyard_policy::{
    ClusterPolicy, HashSource, LoadError, PickSource, PolicyEngine, PolicyLimits, RequestInfo,
    hash_of,
};

/// Cluster sizes the smoke picks run against (and `--endpoints`, when given).
pub const SMOKE_SIZES: [usize; 2] = [3, 1000];
/// Picks per cluster size.
pub const SMOKE_PICKS: usize = 1000;
/// Above this many endpoints, the check warns about defaults that stop scaling.
pub const LARGE_CLUSTER: usize = 1000;
/// Most endpoints `--endpoints` takes: synthetic endpoints have distinct addresses up
/// to there.
pub const MAX_ENDPOINTS: usize = 50_000;

/// `switchyard policy check`'s arguments.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The component (`NAME.wasm`), or the name of a built-in policy.
    pub file: PathBuf,
    /// Configuration for the policy's `init`, as `key=value` (repeatable).
    #[arg(long = "config", value_name = "KEY=VALUE")]
    pub config: Vec<String>,
    /// A header of the smoke picks' request, as `name=value` (repeatable; a cookie is
    /// `--header cookie=NAME=VALUE`). The report then shows the endpoints this keyed
    /// request went to and whether the same key always went to the same one.
    #[arg(long = "header", value_name = "NAME=VALUE")]
    pub headers: Vec<String>,
    /// The path (and query) of the smoke picks' request, keyed as `--header` is.
    #[arg(long, value_name = "PATH")]
    pub path: Option<String>,
    /// The number of endpoints the policy will balance: smoke picks run on a cluster
    /// that large too, with a warning where a default does not scale to it (ring
    /// points, Maglev table size, the memory limit).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=MAX_ENDPOINTS as i64))]
    pub endpoints: Option<u32>,
    /// Each instance's memory cap in MiB, as the cluster's `policy_limits.memory_mib`
    /// (default 16).
    #[arg(long = "memory-mib", value_name = "MIB", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub memory_mib: Option<u32>,
}

/// What to check beyond loading: how the smoke picks are made.
#[derive(Clone, Debug, Default)]
pub struct CheckOptions {
    /// Configuration for `init`.
    pub config: Vec<(String, String)>,
    /// The smoke picks' request when the author gave one (`--header`, `--path`); the
    /// default `GET /check` otherwise.
    pub request: Option<RequestInfo>,
    /// The cluster size the policy will serve (`--endpoints`).
    pub endpoints: Option<usize>,
    /// The memory cap in MiB (`--memory-mib`); the default limits' otherwise.
    pub memory_mib: Option<usize>,
}

impl CheckOptions {
    /// The options of a command line, with its `--config` already parsed.
    pub fn from_args(args: &CheckArgs, config: Vec<(String, String)>) -> anyhow::Result<Self> {
        let headers = args
            .headers
            .iter()
            .map(|pair| match pair.split_once('=') {
                Some((name, value)) if !name.trim().is_empty() => {
                    Ok((name.trim().to_ascii_lowercase(), value.to_string()))
                }
                _ => bail!("--header {pair:?}: expected NAME=VALUE"),
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let request = (!headers.is_empty() || args.path.is_some()).then(|| {
            let mut request = RequestInfo::get(args.path.as_deref().unwrap_or("/check"));
            request.headers = headers;
            request
        });
        Ok(Self {
            config,
            request,
            endpoints: args.endpoints.map(|n| n as usize),
            memory_mib: args.memory_mib.map(|n| n as usize),
        })
    }
}

/// Runs the check for the command line and prints the report; an error carries the
/// one-line reason (warnings found before it are printed to stderr first).
pub fn run(
    engine: &PolicyEngine,
    name: &str,
    bytes: &[u8],
    args: &CheckArgs,
    config: Vec<(String, String)>,
) -> anyhow::Result<()> {
    let options = CheckOptions::from_args(args, config)?;
    match check(engine, name, bytes, &options) {
        Ok(report) => {
            println!("{}:\n{report}", args.file.display());
            Ok(())
        }
        Err(failure) => {
            for warning in &failure.warnings {
                eprintln!("warning: {warning}");
            }
            bail!("{}: {}", args.file.display(), failure.error)
        }
    }
}

/// What a check found.
#[derive(Debug)]
pub struct CheckReport {
    /// The WIT world implemented.
    pub world: &'static str,
    /// The contract version the component targets, as `switchyard:policy@0.2.0`.
    pub contract: String,
    /// The policy's name for itself.
    pub name: String,
    /// Its one-line description.
    pub description: String,
    /// Its configuration keys: (name, description, default).
    pub config_keys: Vec<(String, String, Option<String>)>,
    /// Compile + link + validate time.
    pub load_time: Duration,
    /// The smoke picks' request, when the author gave one, and what the policy made
    /// of it.
    pub keyed: Option<KeyedRequest>,
    /// One line per cluster size.
    pub smoke: Vec<SmokeResult>,
    /// Defaults that will not serve the cluster size given, and what to set instead.
    pub warnings: Vec<String>,
}

/// The request the author gave for the smoke picks.
#[derive(Debug)]
pub struct KeyedRequest {
    /// As given.
    pub request: RequestInfo,
    /// What the policy hashes on (`needs.hash-on`), as configuration writes it.
    pub hash_on: Option<String>,
    /// The request's hash key from it, as the host computes it.
    pub hash_key: Option<u64>,
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
    /// With a keyed request: how often each endpoint was the first choice, and the
    /// first choice of a fresh instance (another worker) for the same request.
    pub keyed: Option<KeyedPicks>,
}

/// Where one request's picks went.
#[derive(Debug)]
pub struct KeyedPicks {
    /// First choices: endpoint → (its address, how many picks).
    pub first: BTreeMap<EndpointId, (String, usize)>,
    /// A fresh instance's first choice.
    pub fresh_first: Option<EndpointId>,
}

impl KeyedPicks {
    /// True when every pick, on both instances, chose the same endpoint first.
    pub fn stable(&self) -> bool {
        self.first.len() == 1 && self.first.keys().next() == self.fresh_first.as_ref()
    }
}

/// A check that failed, with what it had found to warn about before.
#[derive(Debug)]
pub struct CheckFailure {
    /// Warnings found before the failure (they may explain it).
    pub warnings: Vec<String>,
    /// Why the policy would not be loaded.
    pub error: LoadError,
}

impl From<LoadError> for CheckFailure {
    fn from(error: LoadError) -> Self {
        Self {
            warnings: Vec::new(),
            error,
        }
    }
}

/// Loads `bytes` as policy `name` and runs the smoke picks as `options` say. Any fault
/// is an error: a policy that faults here would be quarantined in production.
pub fn check(
    engine: &PolicyEngine,
    name: &str,
    bytes: &[u8],
    options: &CheckOptions,
) -> Result<CheckReport, CheckFailure> {
    let mut limits = PolicyLimits::default();
    if let Some(mib) = options.memory_mib {
        limits.memory_bytes = mib << 20;
    }
    let started = Instant::now();
    let component = engine.compile(name, bytes)?;
    let load_time = started.elapsed();
    let contract = component.contract().to_string();
    let info = component.describe(&limits)?;
    let config_keys: Vec<(String, String, Option<String>)> = info
        .config_keys
        .into_iter()
        .map(|k| (k.name, k.description, k.default_value))
        .collect();
    let mut warnings = match options.endpoints {
        Some(n) => scale_warnings(
            &info.name,
            &config_keys,
            &options.config,
            n,
            limits.memory_bytes,
            options.memory_mib.is_some(),
        ),
        None => Vec::new(),
    };
    let request = options
        .request
        .clone()
        .unwrap_or_else(|| RequestInfo::get("/check"));
    let mut sizes: BTreeSet<usize> = SMOKE_SIZES.into();
    sizes.extend(options.endpoints);
    let mut smoke = Vec::new();
    let mut keyed = None;
    for endpoints in sizes {
        let start = |membership: Arc<Membership>| {
            ClusterPolicy::new(
                Arc::clone(&component),
                "check",
                &options.config,
                "",
                limits,
                membership,
                Some(&MetricCatalog::open()),
            )
        };
        let membership = Arc::new(Membership::synthetic(endpoints));
        let policy = match start(Arc::clone(&membership)) {
            Ok(policy) => policy,
            Err(error) => return Err(CheckFailure { warnings, error }),
        };
        if let Some(given) = &options.request
            && keyed.is_none()
        {
            let hash_on = policy.needs().hash_on.as_ref();
            let hash_key = hash_on.and_then(|source| hash_of(source, given));
            if let Some(source) = hash_on
                && hash_key.is_none()
            {
                warnings.push(format!(
                    "the policy hashes on {}, which the request given (--header, --path) \
                     does not carry: its picks get no key",
                    written(source)
                ));
            }
            keyed = Some(KeyedRequest {
                request: given.clone(),
                hash_on: hash_on.map(written),
                hash_key,
            });
        }
        let mut first: BTreeMap<EndpointId, usize> = BTreeMap::new();
        let started = Instant::now();
        for _ in 0..SMOKE_PICKS {
            let pick = policy.pick(&request);
            match pick.source {
                PickSource::Policy => {
                    *first.entry(pick.endpoints[0]).or_default() += 1;
                }
                PickSource::Fallback(fault) => {
                    return Err(CheckFailure {
                        warnings,
                        error: LoadError::Smoke(fault),
                    });
                }
                PickSource::Quarantined | PickSource::PreviousVersion => {
                    unreachable!("a lone policy reports a fault before quarantine")
                }
            }
        }
        let mean_pick = started.elapsed() / SMOKE_PICKS as u32;
        let keyed_picks = match &options.request {
            None => None,
            Some(given) => {
                // Another worker's instance, started afresh, must agree.
                let fresh = match start(Arc::clone(&membership)) {
                    Ok(fresh) => fresh,
                    Err(error) => return Err(CheckFailure { warnings, error }),
                };
                let pick = fresh.pick(given);
                if let PickSource::Fallback(fault) = pick.source {
                    return Err(CheckFailure {
                        warnings,
                        error: LoadError::Smoke(fault),
                    });
                }
                Some(KeyedPicks {
                    first: first
                        .iter()
                        .map(|(&id, &n)| {
                            let address = membership
                                .get(id)
                                .map_or_else(String::new, |m| m.address.clone());
                            (id, (address, n))
                        })
                        .collect(),
                    fresh_first: pick.endpoints.first().copied(),
                })
            }
        };
        smoke.push(SmokeResult {
            endpoints,
            picks: SMOKE_PICKS,
            distinct_first: first.len(),
            mean_pick,
            keyed: keyed_picks,
        });
    }
    Ok(CheckReport {
        world: "balancer",
        contract,
        name: info.name,
        description: info.description,
        config_keys,
        load_time,
        keyed,
        smoke,
        warnings,
    })
}

/// A hash source as configuration writes it (`header:NAME`, `path`, ...).
fn written(source: &HashSource) -> String {
    match source {
        HashSource::Header(name) => format!("header:{name}"),
        HashSource::Cookie(name) => format!("cookie:{name}"),
        HashSource::Path => "path".into(),
        HashSource::Authority => "authority".into(),
        HashSource::ClientIp => "client-ip".into(),
    }
}

/// Bytes an instance holds per endpoint, beyond a policy's own tables: the pushed
/// list, the policy's copy of it, indexes, allocator slack; real endpoints carry
/// zones and metadata that the synthetic ones lack.
const BYTES_PER_ENDPOINT: usize = 1024;
/// A ring point: a 64-bit hash and a 32-bit position, padded.
const BYTES_PER_RING_POINT: usize = 16;
/// A Maglev table slot: a 32-bit position.
const BYTES_PER_TABLE_SLOT: usize = 4;
/// Ring points worth keeping an instance to: 16 per endpoint at 10,000 endpoints.
const RING_POINTS_BUDGET: usize = 160_000;
/// Slots per endpoint below which a Maglev table spreads keys unevenly (the Maglev
/// paper's advice).
const SLOTS_PER_ENDPOINT: usize = 100;
/// The largest table the `maglev` policy accepts.
const MAX_TABLE_SIZE: usize = 10_000_019;

/// Warnings for a cluster of `endpoints` (only above [`LARGE_CLUSTER`]): ring points
/// (a `points_per_weight` key left at its default), table size (a `table_size` key
/// below 100 slots per endpoint) and the memory cap, judged from the keys the policy
/// describes and the configuration given.
fn scale_warnings(
    policy: &str,
    keys: &[(String, String, Option<String>)],
    config: &[(String, String)],
    endpoints: usize,
    memory_bytes: usize,
    memory_given: bool,
) -> Vec<String> {
    let mut warnings = Vec::new();
    if endpoints <= LARGE_CLUSTER {
        return warnings;
    }
    let n = endpoints;
    let set = |key: &str| config.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v);
    let default = |key: &str| {
        keys.iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, _, d)| d.as_deref().and_then(|d| d.parse::<usize>().ok()))
    };
    // The policy's own table, as it will be (after the advice below is taken).
    let mut table_bytes = 0;
    if let Some(declared) = default("points_per_weight")
        && set("points_per_weight").is_none()
    {
        let current = declared.unwrap_or(256);
        let suggested = prev_power_of_two((RING_POINTS_BUDGET / n).max(1)).min(current);
        table_bytes = 2 * n * suggested * BYTES_PER_RING_POINT;
        if suggested < current {
            warnings.push(format!(
                "{policy}: points_per_weight is left at its default ({current}): {} endpoints \
                 of weight 1 make a ring of {} points, about {} MiB per instance while it is \
                 rebuilt on a membership change; set points_per_weight = {suggested} ({} \
                 points)",
                thousands(n),
                thousands(n * current),
                mib(2 * n * current * BYTES_PER_RING_POINT),
                thousands(n * suggested),
            ));
        }
    }
    if let Some(declared) = default("table_size") {
        let current = match set("table_size") {
            Some(value) => value.trim().parse().ok(),
            None => declared,
        };
        let wanted = (SLOTS_PER_ENDPOINT * n).min(MAX_TABLE_SIZE);
        let suggested = next_prime(wanted).min(MAX_TABLE_SIZE);
        table_bytes = 2 * suggested.max(current.unwrap_or(0)) * BYTES_PER_TABLE_SLOT;
        if let Some(current) = current
            && current < wanted
        {
            let how = if set("table_size").is_some() {
                "is"
            } else {
                "is left at its default,"
            };
            warnings.push(format!(
                "{policy}: table_size {how} {}: {:.1} slots per endpoint for {} endpoints, \
                 below the ~{SLOTS_PER_ENDPOINT} a Maglev table needs to spread keys evenly \
                 (endpoints' shares differ by about {:.0}%, and more keys move when \
                 membership changes); set table_size = {suggested}, a prime of at least \
                 {SLOTS_PER_ENDPOINT} × {}",
                thousands(current),
                current as f64 / n as f64,
                thousands(n),
                100.0 * n as f64 / current as f64,
                thousands(n),
            ));
        }
    }
    let needed = n * BYTES_PER_ENDPOINT + table_bytes;
    if needed > memory_bytes / 2 {
        // Room for two memberships and tables, over what suits a small cluster.
        let suggested = (2 * needed + (16 << 20))
            .div_ceil(1 << 20)
            .next_power_of_two();
        let limit = if memory_given {
            format!("--memory-mib {}", memory_bytes >> 20)
        } else {
            format!("the default memory limit ({} MiB)", memory_bytes >> 20)
        };
        warnings.push(format!(
            "{limit} is likely too small for {} endpoints: an instance holds about {} MiB \
             ({}), and needs room for two while a membership change is applied; give the \
             cluster policy_limits = {{ memory_mib = {suggested} }}",
            thousands(n),
            mib(needed),
            if table_bytes > 0 {
                "its membership and its table"
            } else {
                "its membership"
            },
        ));
    }
    warnings
}

/// The largest power of two not above `n` (`n` > 0).
fn prev_power_of_two(n: usize) -> usize {
    1 << (usize::BITS - 1 - n.leading_zeros())
}

/// The smallest prime at least `n`.
fn next_prime(n: usize) -> usize {
    let is_prime = |n: usize| {
        n >= 2
            && (2..)
                .take_while(|d| d * d <= n)
                .all(|d| !n.is_multiple_of(d))
    };
    (n.max(2)..)
        .find(|&k| is_prime(k))
        .expect("primes are unbounded")
}

/// `n` with thousands separated by commas.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes in MiB, rounded up.
fn mib(bytes: usize) -> usize {
    bytes.div_ceil(1 << 20)
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "world:       {}", self.world)?;
        writeln!(f, "contract:    {}", self.contract)?;
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
        if let Some(keyed) = &self.keyed {
            let headers: Vec<String> = keyed
                .request
                .headers
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            let headers = if headers.is_empty() {
                String::new()
            } else {
                format!(" with {}", headers.join(", "))
            };
            writeln!(
                f,
                "request:     {} {}{headers}",
                keyed.request.method, keyed.request.path
            )?;
            match (&keyed.hash_on, keyed.hash_key) {
                (None, _) => writeln!(f, "hash key:    none (the policy's needs have no hash_on)")?,
                (Some(source), Some(key)) => {
                    writeln!(f, "hash key:    {key:#018x}, from {source}")?
                }
                (Some(source), None) => writeln!(
                    f,
                    "hash key:    none: the request has no {source}, which the policy hashes on"
                )?,
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
            if let Some(keyed) = &s.keyed {
                let hashes = self.keyed.as_ref().is_some_and(|k| k.hash_on.is_some());
                write_keyed(f, keyed, s.picks, hashes)?;
            }
        }
        for warning in &self.warnings {
            writeln!(f, "warning:     {warning}")?;
        }
        write!(f, "ok")
    }
}

/// The `keyed:` line of one cluster size; `hashes` when the policy hashes requests.
fn write_keyed(
    f: &mut fmt::Formatter<'_>,
    keyed: &KeyedPicks,
    picks: usize,
    hashes: bool,
) -> fmt::Result {
    const LISTED: usize = 4;
    let mut by_count: Vec<(&EndpointId, &(String, usize))> = keyed.first.iter().collect();
    by_count.sort_by(|a, b| b.1.1.cmp(&a.1.1).then(a.0.cmp(b.0)));
    let mut chose: Vec<String> = by_count
        .iter()
        .take(LISTED)
        .map(|(id, (address, n))| format!("endpoint {id} ({address}) in {n}"))
        .collect();
    if by_count.len() > LISTED {
        chose.push(format!("{} more", by_count.len() - LISTED));
    }
    let fresh = match keyed.fresh_first {
        Some(id) => format!("endpoint {id}"),
        None => "none".into(),
    };
    let verdict = if keyed.stable() {
        "stable for this key"
    } else if !hashes {
        "NOT stable for this key (the policy does not hash requests)"
    } else if keyed.first.len() > 1 {
        "NOT stable for this key: its picks went to different endpoints"
    } else {
        "NOT stable for this key: another instance chose differently"
    };
    writeln!(
        f,
        "  keyed:     first choice {} of {picks} picks; a fresh instance: {fresh}; {verdict}",
        chose.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(list: &[(&str, &str)]) -> Vec<(String, String, Option<String>)> {
        list.iter()
            .map(|(k, d)| (k.to_string(), String::new(), Some(d.to_string())))
            .collect()
    }

    fn config(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const DEFAULT_MEMORY: usize = 16 << 20;

    #[test]
    fn ring_points_left_at_default_are_flagged_above_a_thousand() {
        let ring = keys(&[("hash_on", "client-ip"), ("points_per_weight", "256")]);
        assert!(scale_warnings("ring-hash", &ring, &[], 1000, DEFAULT_MEMORY, false).is_empty());
        let w = scale_warnings("ring-hash", &ring, &[], 10_000, DEFAULT_MEMORY, false);
        assert!(w[0].contains("points_per_weight = 16"), "{w:?}");
        assert!(w[1].contains("memory_mib = 64"), "{w:?}");
        let tuned = config(&[("points_per_weight", "16")]);
        let w = scale_warnings("ring-hash", &ring, &tuned, 10_000, 64 << 20, true);
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn small_maglev_tables_are_flagged() {
        let maglev = keys(&[("hash_on", "client-ip"), ("table_size", "65537")]);
        assert!(
            scale_warnings("maglev", &maglev, &[], 600, DEFAULT_MEMORY, false).is_empty(),
            "not a large cluster"
        );
        let w = scale_warnings("maglev", &maglev, &[], 10_000, DEFAULT_MEMORY, false);
        assert!(w[0].contains("table_size = 1000003"), "{w:?}");
        assert!(w[0].contains("left at its default"), "{w:?}");
        assert!(w[1].contains("memory_mib = 64"), "{w:?}");
        let w = scale_warnings("maglev", &maglev, &[], 2_000, DEFAULT_MEMORY, false);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("table_size = 200003"), "{w:?}");
        let tuned = config(&[("table_size", "1000003")]);
        assert!(scale_warnings("maglev", &maglev, &tuned, 10_000, 64 << 20, true).is_empty());
    }

    #[test]
    fn memory_is_flagged_for_any_policy() {
        let none = keys(&[]);
        assert!(scale_warnings("p", &none, &[], 5_000, DEFAULT_MEMORY, false).is_empty());
        let w = scale_warnings("p", &none, &[], 10_000, DEFAULT_MEMORY, false);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with("the default memory limit (16 MiB)"),
            "{w:?}"
        );
        assert!(scale_warnings("p", &none, &[], 10_000, 64 << 20, true).is_empty());
        let w = scale_warnings("p", &none, &[], 50_000, 64 << 20, true);
        assert!(
            w[0].contains("--memory-mib 64") && w[0].contains("memory_mib = 128"),
            "{w:?}"
        );
    }

    /// The SDK computes the keys a policy's native tests see (and `policy check`
    /// reports) as the proxy does.
    #[test]
    fn the_sdk_hashes_requests_as_the_proxy_does() {
        use switchyard_policy_sdk::hash::{KeySource, hash_of as sdk_hash_of};
        use switchyard_policy_sdk::testing::HttpRequest;

        let mut requests = Vec::new();
        for (path, headers, client) in [
            ("/users/42?tab=1", vec![], "10.0.0.7:5000"),
            (
                "/",
                vec![
                    ("x-user", "ann"),
                    ("x-user", "bob"),
                    ("cookie", "a=1;  sid=s42 ; z"),
                ],
                "[2001:db8::ff00:42:8329]:443",
            ),
            ("/a?", vec![("cookie", "sid=")], "192.168.100.9:1"),
            (
                "",
                vec![("cookie", "xsid=1; sid=2")],
                "[::ffff:10.0.0.1]:80",
            ),
        ] {
            let mut proxy = RequestInfo::get(path);
            proxy.client_addr = Some(client.parse().unwrap());
            proxy.headers = headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let sdk = HttpRequest {
                method: proxy.method.clone(),
                authority: proxy.authority.clone(),
                path: proxy.path.clone(),
                client_addr: proxy.client_addr,
                headers: proxy.headers.clone(),
            };
            requests.push((proxy, sdk));
        }
        let sources = [
            HashSource::Header("x-user".into()),
            HashSource::Header("x-absent".into()),
            HashSource::Cookie("sid".into()),
            HashSource::Path,
            HashSource::Authority,
            HashSource::ClientIp,
        ];
        for (proxy, sdk) in &requests {
            for source in &sources {
                let key = match source {
                    HashSource::Header(name) => KeySource::Header(name),
                    HashSource::Cookie(name) => KeySource::Cookie(name),
                    HashSource::Path => KeySource::Path,
                    HashSource::Authority => KeySource::Authority,
                    HashSource::ClientIp => KeySource::ClientIp,
                };
                assert_eq!(
                    hash_of(source, proxy),
                    sdk_hash_of(key, sdk),
                    "{source:?} of {proxy:?}"
                );
            }
        }
    }

    #[test]
    fn helpers() {
        assert_eq!(next_prime(1_000_000), 1_000_003);
        assert_eq!(next_prime(65_537), 65_537);
        assert_eq!(prev_power_of_two(16), 16);
        assert_eq!(prev_power_of_two(159), 128);
        assert_eq!(thousands(2_560_000), "2,560,000");
        assert_eq!(thousands(999), "999");
    }
}
