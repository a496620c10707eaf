//! What the admin API knows of one cluster, as the composition root hands it over.

use crate::discovery::DiscoveryView;
use crate::health::HealthView;
use crate::proxy::{ListenerStats, Routes, Upstream};
use crate::tls::Terminator;
use std::net::SocketAddr;
use std::sync::Arc;

/// One cluster: its upstream (membership, load, policy, retries, limits), and the
/// views of its health and its discovery when it has them.
#[derive(Clone)]
pub struct ClusterRecord {
    /// The cluster's upstream.
    pub upstream: Arc<Upstream>,
    /// Its health, when it is checked or its circuits broken.
    pub health: Option<Arc<HealthView>>,
    /// Its discovery, unless it is static.
    pub discovery: Option<Arc<DiscoveryView>>,
}

/// One listener: what it counted against its clients, its routes, and its TLS when it
/// has it.
#[derive(Clone)]
pub struct ListenerRecord {
    /// Its name.
    pub name: String,
    /// The address it was configured to listen on.
    pub address: SocketAddr,
    /// What its clients speak: `http` or `tcp`.
    pub protocol: &'static str,
    /// Connections and client faults.
    pub stats: Arc<ListenerStats>,
    /// Its TLS termination: certificates, reload errors, failed handshakes.
    pub tls: Option<Arc<Terminator>>,
    /// Its routes, with the requests each took.
    pub routes: Arc<arc_swap::ArcSwap<Routes>>,
}
