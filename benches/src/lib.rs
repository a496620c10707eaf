//! Shared set-up for Switchyard's criterion benches.

use std::sync::Arc;
use std::time::Duration;
use switchyard_policy::cluster::{LoadDecay, LoadSetup, Member, Membership, MetricCatalog};
use switchyard_policy::{ClusterPolicy, PolicyEngine, PolicyLimits, builtin};

/// `n` healthy endpoints of weight 1, ids `0..n`.
pub fn membership(n: usize) -> Arc<Membership> {
    Arc::new(Membership::new(members(n)))
}

/// The members of [`membership`]`(n)`.
fn members(n: usize) -> Vec<Member> {
    (0..n)
        .map(|i| {
            let socket = std::net::SocketAddr::from(([127, 0, 0, 1], 20_000 + i as u16));
            Member::new(i as u32, socket, 1)
        })
        .collect()
}

/// `component` with a custom section holding `n` appended: the same policy with other
/// bytes, so another sha256, as a rebuilt version would have.
pub fn stamped(component: &[u8], n: u32) -> Vec<u8> {
    let payload = [&[1, b'n'][..], &n.to_le_bytes()].concat();
    [component, &[0, payload.len() as u8], &payload].concat()
}

/// One worker, one listener, cluster `app` on `backend` balanced by policy `live` from
/// `dir` (watched; compiled cache in `dir/cache`).
pub fn reload_config(dir: &std::path::Path, backend: &str) -> String {
    format!(
        "workers = 1\n[policies]\ndir = \"{dir}\"\ncache_dir = \"{dir}/cache\"\n\
         [[listeners]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\ncluster = \"app\"\n\
         [[clusters]]\nname = \"app\"\npolicy = \"live\"\nendpoints = [{{ address = \"{backend}\" }}]\n",
        dir = dir.display()
    )
}

/// A demo backend answering at once, on a runtime (returned: keep it alive) with one
/// thread of its own, so it never shares the bench thread.
pub fn backend() -> (tokio::runtime::Runtime, std::net::SocketAddr) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let addr = runtime
        .block_on(switchyard::cli::demo_backend(
            "backend",
            std::time::Duration::ZERO,
        ))
        .unwrap();
    (runtime, addr)
}

/// Scraped series the pick benches' endpoints report besides the ORCA fields.
pub const SCRAPED: [&str; 2] = ["vllm:num_requests_waiting", "vllm:gpu_cache_usage_perc"];

/// The policy configuration of built-in `name` at `n` endpoints: at 10,000 the keyed
/// policies get tables sized for them, as the configuration guide advises.
pub fn pick_config(name: &str, n: usize) -> Vec<(String, String)> {
    let sized = match (name, n) {
        ("ring-hash", 10_000) => Some(("points_per_weight", "16")),
        ("maglev", 10_000) => Some(("table_size", "1000003")),
        _ => None,
    };
    sized
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The sandbox limits of a pick bench at `n` endpoints: 64 MiB of memory past 1,000.
pub fn pick_limits(n: usize) -> PolicyLimits {
    PolicyLimits {
        memory_bytes: if n > 1_000 { 64 << 20 } else { 16 << 20 },
        setup_deadline: Duration::from_secs(5),
        ..PolicyLimits::default()
    }
}

/// The catalog of the pick benches' reported metrics: ORCA's and [`SCRAPED`].
pub fn pick_catalog() -> Arc<MetricCatalog> {
    let scraped: Vec<String> = SCRAPED.iter().map(|s| s.to_string()).collect();
    MetricCatalog::new(true, &scraped).expect("a valid catalog")
}

/// The zones of the pick benches' endpoints when they have zones: alternately, so that
/// half of them are in the first.
pub const ZONES: [&str; 2] = ["zone-a", "zone-b"];

/// `n` endpoints (in [`ZONES`] alternately when `zoned`), each with a store of reported
/// metrics holding a reading of every metric of `catalog` (utilizations and queues
/// differing by endpoint).
pub fn reporting(n: usize, catalog: &Arc<MetricCatalog>, zoned: bool) -> Arc<Membership> {
    let mut members = members(n);
    if zoned {
        for (i, member) in members.iter_mut().enumerate() {
            member.zone = ZONES[i % ZONES.len()].to_string();
        }
    }
    let members = Arc::new(Membership::new(members));
    let setup = LoadSetup {
        decay: LoadDecay::new(Duration::from_secs(10)),
        breaker: None,
        reported: Some(Arc::clone(catalog)),
    };
    for (i, member) in members.members().iter().enumerate() {
        setup.apply(&member.load);
        let store = member.load.reported().expect("set up above");
        for slot in 0..catalog.names().len() {
            store.record(slot, 0.1 + (i % 7) as f64 / 10.0);
        }
    }
    members
}

/// Policy `name` as a pick bench runs it: compiled from `bytes`, over `n` reporting
/// endpoints, configured and limited for `n`. With a `zone`, the proxy is in it and
/// the endpoints are spread over [`ZONES`].
pub fn pick_policy(
    engine: &PolicyEngine,
    name: &str,
    bytes: &[u8],
    n: usize,
    zone: &str,
) -> ClusterPolicy {
    let component = engine.compile(name, bytes).expect("compiles");
    let catalog = pick_catalog();
    ClusterPolicy::new(
        component,
        "bench",
        &pick_config(name, n),
        zone,
        pick_limits(n),
        reporting(n, &catalog, !zone.is_empty()),
        Some(&catalog),
    )
    .expect("starts")
}

/// [`pick_policy`] of built-in `name`.
pub fn builtin_pick_policy(
    engine: &PolicyEngine,
    name: &str,
    n: usize,
    zone: &str,
) -> ClusterPolicy {
    let bytes = builtin(name).unwrap_or_else(|| panic!("{name} is not a built-in"));
    pick_policy(engine, name, bytes, n, zone)
}
