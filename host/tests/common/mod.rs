//! Helpers shared by the policy engine tests.
#![allow(dead_code)]

use std::sync::{Arc, OnceLock};
use switchyard::cluster::{Member, Membership};
use switchyard::policy::{ClusterPolicy, PolicyComponent, PolicyEngine, PolicyLimits};

/// One engine per test binary (it owns an epoch thread).
pub fn engine() -> &'static PolicyEngine {
    static ENGINE: OnceLock<PolicyEngine> = OnceLock::new();
    ENGINE.get_or_init(|| PolicyEngine::new().expect("engine"))
}

/// A component built by the build script: a built-in policy or a test fixture.
pub fn component_bytes(name: &str) -> Vec<u8> {
    let path = format!("{}/policies/{name}.wasm", env!("OUT_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Compiles a built component.
pub fn compile(name: &str) -> Arc<PolicyComponent> {
    engine()
        .compile(name, &component_bytes(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Members with ids `0..`, the given weights.
pub fn membership(weights: &[u32]) -> Arc<Membership> {
    Arc::new(Membership::new(
        weights
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let socket = std::net::SocketAddr::from(([127, 0, 0, 1], 20_000 + i as u16));
                Member::new(i as u32, socket, *w)
            })
            .collect(),
    ))
}

/// `name` bound to a cluster with `config` and `membership`.
pub fn bind(
    name: &str,
    config: &[(&str, &str)],
    membership: Arc<Membership>,
) -> Result<ClusterPolicy, switchyard::policy::LoadError> {
    bind_with(name, config, membership, PolicyLimits::default())
}

/// As [`bind`], with explicit limits.
pub fn bind_with(
    name: &str,
    config: &[(&str, &str)],
    membership: Arc<Membership>,
    limits: PolicyLimits,
) -> Result<ClusterPolicy, switchyard::policy::LoadError> {
    let config: Vec<(String, String)> = config
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    ClusterPolicy::new(compile(name), "test", &config, "", limits, membership)
}

pub mod backend;
pub mod client;
pub mod etcd;
pub mod h2raw;
pub mod process;
pub mod scrape;
pub mod strict;
mod temp;
pub use temp::temp_dir;

/// Runs the `switchyard` binary with `args`: whether it succeeded, stdout, stderr.
pub fn switchyard(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .env("RUST_LOG", "off")
        .output()
        .expect("running switchyard");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Starts a proxy from configuration `text`.
pub fn proxy(text: &str) -> switchyard::proxy::Proxy {
    let config = switchyard::config::parse("test.toml", text).expect("test config");
    switchyard::proxy::Proxy::start(&config, engine()).expect("proxy starts")
}

/// Backends `fast` (answering in 2 ms) and one named `slow` (after `slow_delay`) behind
/// `policy` (with `extra` configuration), loaded on `connections` keep-alive connections
/// for 2.5 s: the requests sent after the first 0.5 s.
pub async fn load_with_a_slow_backend(
    policy: &str,
    extra: &str,
    fast: &[&'static str],
    slow_delay: std::time::Duration,
    connections: usize,
) -> Vec<client::Sent> {
    use std::time::{Duration, Instant};
    let mut endpoints = Vec::new();
    for name in fast {
        endpoints.push((backend::named(name, Duration::from_millis(2)).await.addr, 1));
    }
    endpoints.push((backend::named("slow", slow_delay).await.addr, 1));
    let proxy = proxy(&config(policy, &endpoints, extra));
    let started = Instant::now();
    let load = client::Load::start(proxy.listener_addr("web").unwrap(), connections);
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    load.since(started + Duration::from_millis(500), None)
}

/// A one-listener, one-cluster configuration on an ephemeral port.
pub fn config(policy: &str, endpoints: &[(std::net::SocketAddr, u32)], extra: &str) -> String {
    let endpoints: Vec<String> = endpoints
        .iter()
        .map(|(a, w)| format!("{{ address = \"{a}\", weight = {w} }}"))
        .collect();
    format!(
        "workers = 2\n\
         [[listeners]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\ncluster = \"api\"\n\
         [[clusters]]\nname = \"api\"\npolicy = \"{policy}\"\nendpoints = [{}]\n{extra}",
        endpoints.join(", ")
    )
}

/// `component` with a custom section holding `tag` appended: the same policy, other
/// bytes (another sha256, as a rebuilt version would have). `tag` is under 100 bytes.
pub fn with_custom_section(component: &[u8], tag: &str) -> Vec<u8> {
    let payload = [&[1, b't'], tag.as_bytes()].concat();
    [component, &[0, payload.len() as u8], &payload].concat()
}
