//! Switchyard: a load-balancing reverse proxy whose balancing policies are
//! WebAssembly components.
//!
//! Data flows one way: request → [`proxy`] listener → cluster policy pick
//! ([`switchyard_policy`], reading the cluster's load figures) → upstream → the response
//! feeds the cluster's load figures. [`app`] is the composition root that builds and
//! wires every part; docs/architecture.md draws the layers.

pub mod admin;
pub mod app;
pub mod cli;
pub mod config;
pub mod discovery;
pub mod etcd;
pub mod fleet;
pub mod health;
pub mod load_reports;
pub mod membership;
mod net;
pub mod proxy;
pub mod reload;
pub mod simulate;
pub mod tls;

// mimalloc is the binary's allocator; its library is linked into every program built
// on this crate (tests, benches), so that the workers' `mi_collect` calls resolve.
#[cfg(not(feature = "system-allocator"))]
extern crate mimalloc;
