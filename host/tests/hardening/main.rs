//! Hardening: what a hostile or careless client can do to the proxy and to the standing
//! of its endpoints, each case end to end against real listeners and backends.

#[path = "../common/mod.rs"]
mod common;

mod admin;
mod client_faults;
mod decay;
mod desync;
mod framing;
mod http2;
mod idle;
mod limits;
mod routes;

use std::net::SocketAddr;

/// A two-worker proxy with an admin listener and listener `web` in front of cluster
/// `api` (round-robin over `endpoints`); `listener` and `cluster` are extra keys of
/// each.
fn setup(listener: &str, cluster: &str, endpoints: &[SocketAddr]) -> String {
    let endpoints: Vec<String> = endpoints
        .iter()
        .map(|a| format!("{{ address = \"{a}\" }}"))
        .collect();
    format!(
        "workers = 2\n\
         [admin]\nlisten = \"127.0.0.1:0\"\n\
         [[listeners]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\ncluster = \"api\"\n{listener}\n\
         [[clusters]]\nname = \"api\"\npolicy = \"round-robin\"\nendpoints = [{}]\n{cluster}\n",
        endpoints.join(", ")
    )
}
