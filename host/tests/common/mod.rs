//! Helpers shared by the end-to-end tests: backends, clients, processes, and the
//! policy engine's own test helpers (components, engine), from `switchyard-policy`.
#![allow(dead_code)]

#[path = "../../policy/tests/policy/support.rs"]
mod support;
#[allow(unused_imports, reason = "each test binary uses some")]
pub use support::{component_bytes, engine, with_custom_section};

pub mod backend;
pub mod certs;
pub mod client;
pub mod daemon;
pub mod etcd;
pub mod h2raw;
pub mod nginx;
pub mod process;
pub mod reporting;
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
pub fn proxy(text: &str) -> switchyard::app::App {
    let config = switchyard::config::parse("test.toml", text).expect("test config");
    switchyard::app::App::start(&config, engine()).expect("proxy starts")
}

/// Shuts `proxy` down (its workers drain) off the test's runtime.
pub async fn stop(proxy: switchyard::app::App) {
    tokio::task::spawn_blocking(move || proxy.shutdown())
        .await
        .unwrap();
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
