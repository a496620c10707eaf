//! The proxy end to end: real listeners, backends, etcd, DNS and `.wasm` components,
//! one module per area, in one binary (one link of wasmtime, not one per area).
//! The hardening tests, which open thousands of sockets and watch the process's file
//! descriptors, are a binary of their own (`tests/hardening`).

#[path = "../common/mod.rs"]
mod common;

mod algorithms;
mod circuit_breaker;
mod cli_policy_check;
mod cli_policy_new;
mod cli_policy_simulate;
mod cli_run;
mod config_reload;
mod console;
mod deploy;
mod discovery_dns;
mod discovery_etcd;
mod discovery_file;
mod health;
mod layers;
mod load_reports;
mod metrics;
mod other_languages;
mod policy_reload;
mod policy_rollout;
mod proxy_forwarding;
mod proxy_grpc;
mod proxy_http1;
mod retries;
mod routes;
mod tcp;
mod tls;
mod tls_upstream;
mod websockets;

/// Not a test of its own: the body of the backend processes that tests kill
/// ([`common::process::BackendProcess`] runs this binary with this test selected).
#[test]
fn backend_process() {
    common::process::serve_if_asked();
}
