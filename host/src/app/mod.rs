//! The composition root: the one place that knows every part. [`App::start`] builds
//! the running proxy from a [`Config`] — the policy registry and the clusters
//! ([`Clusters`]), their membership controllers, the fleet watch, the listeners and
//! their workers, the policy directory and certificate watchers and the admin API — and
//! [`App::shutdown`] stops it. `run`, `demo`, `check-config` and the tests all start
//! here; nothing below imports it.
//!
//! What is built from a configuration ([`Clusters`], the listeners' routes) is kept
//! apart from what runs it (threads, sockets), so that a configuration reload can build
//! anew from a new file, swap it in and drain the old.

mod clusters;
mod routes;
mod settings;

pub use clusters::Clusters;
pub use routes::DEFAULT_ROUTE;
pub use settings::worker_count;

use crate::admin::{AdminServer, ClusterRecord, ListenerRecord};
use crate::config::{Config, ConfigError, check_policies, load_file};
use crate::fleet::{Fleet, Steered};
use crate::membership::Controllers;
use crate::proxy::{
    Bound, Descriptors, Listener, ListenerSpec, ListenerStats, Server, Upstream, raise_limit,
};
use crate::reload::{CertificateWatcher, PolicyWatcher};
use crate::tls::{Reload, Terminator};
use anyhow::Context;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use switchyard_policy::{PolicyEngine, PolicyRegistry, builtin_names, builtin_scorer_names};

/// Reads and validates the configuration file at `path`, the policies it names
/// included: each a built-in or a file in its policy directory.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let config = load_file(path)?;
    let balancers: Vec<&str> = builtin_names().collect();
    let scorers: Vec<&str> = builtin_scorer_names().collect();
    check_policies(&config, &balancers, &scorers).map_err(|message| ConfigError {
        file: path.display().to_string(),
        message,
    })?;
    Ok(config)
}

/// Builds what [`App::start`] would from `config` (policies, clusters, listeners and
/// their TLS files) without binding or starting anything: the first problem, if any,
/// else what works but looks like a mistake (see [`warnings`]).
pub fn check(config: &Config, engine: &PolicyEngine) -> anyhow::Result<Vec<String>> {
    let built = Clusters::build(config, engine, 1)?;
    let (listeners, _) = routes(config, &built.clusters)?;
    Ok(warnings(config, &listeners))
}

/// What a configuration's listeners do that is likely a mistake: routes that can never
/// match (an earlier route takes all their requests), and clusters no listener sends
/// anything to.
fn warnings(config: &Config, listeners: &[ListenerSpec]) -> Vec<String> {
    let mut found = Vec::new();
    for (i, listener) in listeners.iter().enumerate() {
        for (shadowed, by) in listener.serves.routes.shadowed() {
            found.push(format!(
                "listeners[{i}] ({:?}): route {:?} can never match: route {:?} before it takes all its requests",
                listener.name, shadowed.name, by.name
            ));
        }
    }
    let used: Vec<&str> = listeners
        .iter()
        .flat_map(|l| l.serves.routes.targets())
        .map(|u| u.name())
        .collect();
    for (i, cluster) in config.clusters.iter().enumerate() {
        if !used.contains(&cluster.name.as_str()) {
            found.push(format!(
                "clusters[{i}] ({:?}): no listener or route sends requests to it",
                cluster.name
            ));
        }
    }
    found
}

/// A running proxy.
pub struct App {
    registry: Arc<PolicyRegistry>,
    clusters: Vec<ClusterRecord>,
    controllers: Controllers,
    server: Server,
    watcher: Option<PolicyWatcher>,
    /// Every TLS listener's side, reloaded on SIGHUP too.
    tls: Vec<Arc<dyn Reload>>,
    certificates: Option<CertificateWatcher>,
    admin: Option<AdminServer>,
    fleet: Option<Fleet>,
}

impl App {
    /// Builds every cluster's policy, binds every listener, starts the workers, the
    /// membership controllers, the fleet watch, the policy directory watcher and the
    /// admin listener.
    pub fn start(config: &Config, engine: &PolicyEngine) -> anyhow::Result<Self> {
        // First: whatever is opened below may need it.
        raise_limit();
        let workers = worker_count(config);
        let Clusters {
            registry,
            clusters,
            controllers,
        } = Clusters::build(config, engine, workers)?;
        let controllers = Controllers::start(controllers).context("starting the health thread")?;
        let fleet = match &config.etcd {
            Some(fleet) => {
                let steered = config
                    .clusters
                    .iter()
                    .zip(&clusters)
                    .map(|(cluster, record)| Steered {
                        binding: Arc::clone(record.upstream.binding()),
                        default: (
                            settings::policy_name(cluster).to_string(),
                            settings::policy_config(cluster),
                        ),
                    })
                    .collect();
                let started = Fleet::start(fleet, Arc::clone(&registry), steered);
                Some(started.context("starting the fleet watch")?)
            }
            None => None,
        };
        let (listeners, records) = routes(config, &clusters)?;
        for warning in warnings(config, &listeners) {
            tracing::warn!("{warning}");
        }
        // Every listener's and cluster's TLS files, reloaded when they change.
        let listeners_tls = records.iter().filter_map(|r| r.tls.clone());
        let clusters_tls = clusters
            .iter()
            .filter_map(|c| c.upstream.originator().cloned());
        let tls: Vec<Arc<dyn Reload>> = listeners_tls
            .map(|t| t as Arc<dyn Reload>)
            .chain(clusters_tls.map(|o| o as Arc<dyn Reload>))
            .collect();
        let certificates = match tls.is_empty() {
            true => None,
            false => Some(
                CertificateWatcher::start(tls.clone())
                    .context("watching the certificates' directories")?,
            ),
        };
        let bound = Bound::bind(listeners, workers)?;
        let watcher = match (&config.policies.dir, config.policies.watch) {
            (Some(dir), true) => {
                let watcher = PolicyWatcher::start(Arc::clone(&registry), dir)
                    .with_context(|| format!("policies.dir: watching {}", dir.display()))?;
                // Catch what changed between the first load and the watch.
                registry.rescan();
                Some(watcher)
            }
            _ => None,
        };
        let admin = match &config.admin {
            Some(admin) => Some(
                AdminServer::start(
                    admin.listen.0,
                    settings::admin_access(admin)?,
                    Arc::clone(&registry),
                    clusters.clone(),
                    records,
                )
                .with_context(|| format!("admin.listen: binding {}", admin.listen.0))?,
            ),
            None => None,
        };
        // Counted once all else is open, before any client is accepted, so that the
        // clients' share leaves what the proxy itself holds.
        let descriptors = Descriptors::get();
        tracing::info!(
            limit = descriptors.limit,
            raised_from = descriptors.started_with,
            for_clients = descriptors.for_clients,
            "file descriptors"
        );
        let server = bound.serve(config.drain_timeout.0)?;
        Ok(Self {
            registry,
            clusters,
            controllers,
            server,
            watcher,
            tls,
            certificates,
            admin,
            fleet,
        })
    }

    /// The loaded policies: their versions, and reloads.
    pub fn registry(&self) -> &Arc<PolicyRegistry> {
        &self.registry
    }

    /// Where the admin API listens, when configured.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(AdminServer::addr)
    }

    /// Reads every TLS listener's and cluster's certificate files again (as their
    /// watch does when they change).
    pub fn reload_certificates(&self) {
        for tls in &self.tls {
            tls.reload();
        }
    }

    /// The address listener `name` is bound to (useful with port 0).
    pub fn listener_addr(&self, name: &str) -> Option<SocketAddr> {
        self.listeners()
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| *a)
    }

    /// Every listener's name and address.
    pub fn listeners(&self) -> &[(String, SocketAddr)] {
        self.server.listeners()
    }

    /// The cluster named `name`.
    pub fn cluster(&self, name: &str) -> Option<&ClusterRecord> {
        self.clusters.iter().find(|c| c.upstream.name() == name)
    }

    /// The upstream of the cluster named `name`.
    pub fn upstream(&self, name: &str) -> Option<&Arc<Upstream>> {
        self.cluster(name).map(|c| &c.upstream)
    }

    /// Stops accepting, lets in-flight requests finish (up to the drain timeout), and
    /// waits for the workers.
    pub fn shutdown(self) {
        drop(self.fleet);
        drop(self.watcher);
        drop(self.certificates);
        self.server.shutdown();
        drop(self.controllers);
        drop(self.admin);
    }
}

/// Each listener with its routes (and its TLS, its files read now), and what the admin
/// API shows of each.
fn routes(
    config: &Config,
    clusters: &[ClusterRecord],
) -> anyhow::Result<(Vec<ListenerSpec>, Vec<ListenerRecord>)> {
    let by_name: routes::ByName<'_> = config
        .clusters
        .iter()
        .zip(clusters)
        .map(|(cluster, record)| (cluster.name.as_str(), (cluster, &record.upstream)))
        .collect();
    let mut specs = Vec::new();
    let mut records = Vec::new();
    for (i, listener) in config.listeners.iter().enumerate() {
        let tls = match &listener.tls {
            Some(tls) => {
                let keys = format!("listeners[{i}].tls");
                Some(Arc::new(Terminator::new(&listener.name, &keys, tls)?))
            }
            None => None,
        };
        let serves = Arc::new(Listener {
            routes: Arc::new(routes::build(config, i, listener, &by_name)?),
            limits: settings::client_limits(listener),
            stats: Arc::new(ListenerStats::default()),
            tls,
            forward_client_cert: listener.forward_client_cert,
            forwarded_proto: listener.forwarded_proto,
            access_log: config.log.access,
        });
        records.push(ListenerRecord {
            name: listener.name.clone(),
            stats: Arc::clone(&serves.stats),
            tls: serves.tls.clone(),
            routes: Arc::clone(&serves.routes),
        });
        specs.push(ListenerSpec {
            name: listener.name.clone(),
            addr: listener.listen.0,
            serves,
        });
    }
    Ok((specs, records))
}
