//! The composition root: the one place that knows every part. [`App::start`] builds
//! the running proxy from a [`Config`] — the policy registry, the clusters with their
//! membership controllers, the fleet watch, the listeners and their workers, the
//! policy directory and certificate watchers and the admin API — and
//! [`App::shutdown`] stops it. `run`, `demo`, `check-config` and the tests all start
//! here; nothing below imports it.
//!
//! A configuration is applied whole by `live`, at start and on each reload (SIGHUP,
//! `POST /config/reload`, a change to the file with `[config] watch`): built and
//! checked in full first, then swapped in, keeping what did not change.

mod clusters;
mod live;
mod routes;
mod settings;

pub use routes::DEFAULT_ROUTE;
pub use settings::worker_count;

use crate::admin::{AdminServer, ClusterRecord, ConfigControl, ConfigStatus};
use crate::config::{Config, ConfigError, check_policies, load_text};
use crate::proxy::{Descriptors, Routes, Upstream, raise_limit};
use crate::reload::{PolicyWatcher, RolloutJudge};
use crate::tls::Terminator;
use anyhow::Context;
use live::Live;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use switchyard_policy::{
    ComponentCache, PolicyEngine, PolicyRegistry, builtin_names, builtin_scorer_names,
};

/// Reads and validates the configuration file at `path`, the policies it names
/// included: each a built-in or a file in its policy directory.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_with_digest(path).map(|(config, _)| config)
}

/// As [`load`], with the SHA-256 (hex) of the file's text.
pub fn load_with_digest(path: &Path) -> Result<(Config, String), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.display().to_string(),
        message: format!("cannot read: {e}"),
    })?;
    let config = load_text(path, &text)?;
    let balancers: Vec<&str> = builtin_names().collect();
    let scorers: Vec<&str> = builtin_scorer_names().collect();
    check_policies(&config, &balancers, &scorers).map_err(|message| ConfigError {
        file: path.display().to_string(),
        message,
    })?;
    let digest = sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(&text));
    let hex = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok((config, hex))
}

/// Builds what [`App::start`] would from `config` (policies, clusters, listeners and
/// their TLS files) without binding or starting anything: the first problem, if any,
/// else what works but looks like a mistake (see [`warnings`]).
pub fn check(config: &Config, engine: &PolicyEngine) -> anyhow::Result<Vec<String>> {
    watched_dir(&config.policies)?;
    let registry = registry(config, engine);
    let mut records = Vec::new();
    for i in 0..config.clusters.len() {
        records.push(clusters::build(config, i, &registry, 1, None)?.record);
    }
    let by_name: routes::ByName<'_> = config
        .clusters
        .iter()
        .zip(&records)
        .map(|(cluster, record)| (cluster.name.as_str(), (cluster, &record.upstream)))
        .collect();
    let mut tables = Vec::new();
    for (i, listener) in config.listeners.iter().enumerate() {
        if let Some(tls) = &listener.tls {
            Terminator::new(&listener.name, &format!("listeners[{i}].tls"), tls)?;
        }
        tables.push(routes::build(i, listener, &by_name)?);
    }
    Ok(warnings(config, &tables))
}

/// The policy directory to watch, if one is: it must exist (empty will do).
fn watched_dir(policies: &crate::config::model::PoliciesConfig) -> anyhow::Result<Option<&Path>> {
    match (&policies.dir, policies.watch) {
        (Some(dir), true) => {
            anyhow::ensure!(
                dir.is_dir(),
                "policies.dir: {} is not a directory; create it (empty will do: it is where NAME.wasm files go)",
                dir.display()
            );
            Ok(Some(dir))
        }
        _ => Ok(None),
    }
}

/// The policy registry for `config`'s policy directory and cache.
fn registry(config: &Config, engine: &PolicyEngine) -> Arc<PolicyRegistry> {
    Arc::new(PolicyRegistry::new(
        engine.clone(),
        config.policies.dir.clone(),
        ComponentCache::new(settings::cache_dir(&config.policies)),
    ))
}

/// What a configuration's listeners (their route `tables`, in order) do that is likely
/// a mistake: routes that can never match (an earlier route takes all their requests),
/// and clusters no listener sends anything to.
fn warnings(config: &Config, tables: &[Routes]) -> Vec<String> {
    let mut found = Vec::new();
    for ((i, listener), table) in config.listeners.iter().enumerate().zip(tables) {
        for (shadowed, by) in table.shadowed() {
            found.push(format!(
                "listeners[{i}] ({:?}): route {:?} can never match: route {:?} before it takes all its requests",
                listener.name, shadowed.name, by.name
            ));
        }
    }
    let used: Vec<&str> = tables
        .iter()
        .flat_map(|t| t.targets())
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
    live: Arc<Live>,
    watcher: Option<PolicyWatcher>,
    judge: RolloutJudge,
    admin: Option<AdminServer>,
}

impl App {
    /// Builds every cluster's policy, binds every listener, starts the workers, the
    /// membership controllers, the fleet watch, the policy directory watcher and the
    /// admin listener. Its configuration cannot be reloaded from a file: see
    /// [`start_from_file`](Self::start_from_file).
    pub fn start(config: &Config, engine: &PolicyEngine) -> anyhow::Result<Self> {
        Self::start_with(None, config.clone(), String::new(), engine)
    }

    /// As [`start`](Self::start), from the configuration file at `path` (read and
    /// checked as [`load`] does), which reloads read again.
    pub fn start_from_file(path: &Path, engine: &PolicyEngine) -> anyhow::Result<Self> {
        let (config, digest) = load_with_digest(path)?;
        Self::start_with(Some(path), config, digest, engine)
    }

    fn start_with(
        path: Option<&Path>,
        config: Config,
        digest: String,
        engine: &PolicyEngine,
    ) -> anyhow::Result<Self> {
        // First: whatever is opened below may need it.
        raise_limit();
        let registry = registry(&config, engine);
        let workers = worker_count(&config);
        let path = path.map(Path::to_path_buf);
        let live = Live::new(path, Arc::clone(&registry), workers, config.drain_timeout.0)?;
        let (policies, admin) = (config.policies.clone(), config.admin.clone());
        if let Err(e) = live.apply(config, digest) {
            live.shutdown();
            return Err(e);
        }
        let started = Self::watch_and_serve_admin(&live, &registry, &policies, admin.as_ref());
        let (watcher, admin) = match started {
            Ok(started) => started,
            Err(e) => {
                live.shutdown();
                return Err(e);
            }
        };
        let judge = match RolloutJudge::start(Arc::clone(&registry)) {
            Ok(judge) => judge,
            Err(e) => {
                live.shutdown();
                return Err(anyhow::anyhow!("starting the rollout judge: {e}"));
            }
        };
        if let Some(admin) = &admin {
            live.set_admin(admin.addr());
        }
        let descriptors = Descriptors::get();
        tracing::info!(
            limit = descriptors.limit,
            raised_from = descriptors.started_with,
            for_clients = descriptors.for_clients,
            "file descriptors"
        );
        Ok(Self {
            live,
            watcher,
            judge,
            admin,
        })
    }

    /// The policy directory's watch and the admin listener, as configured.
    fn watch_and_serve_admin(
        live: &Arc<Live>,
        registry: &Arc<PolicyRegistry>,
        policies: &crate::config::model::PoliciesConfig,
        admin: Option<&crate::config::model::AdminConfig>,
    ) -> anyhow::Result<(Option<PolicyWatcher>, Option<AdminServer>)> {
        let watcher = match watched_dir(policies)? {
            Some(dir) => {
                let watcher = PolicyWatcher::start(Arc::clone(registry), dir)
                    .with_context(|| format!("policies.dir: watching {}", dir.display()))?;
                // Catch what changed between the first load and the watch.
                registry.rescan();
                Some(watcher)
            }
            None => None,
        };
        let admin = match admin {
            Some(admin) => Some(
                AdminServer::start(
                    admin.listen.0,
                    Arc::clone(registry),
                    Arc::clone(live.topology()),
                    Arc::clone(live) as Arc<dyn ConfigControl>,
                )
                .with_context(|| format!("admin.listen: binding {}", admin.listen.0))?,
            ),
            None => None,
        };
        Ok((watcher, admin))
    }

    /// The loaded policies: their versions, and reloads.
    pub fn registry(&self) -> &Arc<PolicyRegistry> {
        self.live.registry()
    }

    /// Where the admin API listens, when configured.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(AdminServer::addr)
    }

    /// Reads the configuration file again and applies it, as SIGHUP and `POST
    /// /config/reload` do: how things stand then, or why nothing changed.
    pub fn reload(&self) -> Result<ConfigStatus, String> {
        self.live.reload()
    }

    /// The running configuration: its digest, when it was loaded, the last reload
    /// refused.
    pub fn config_status(&self) -> ConfigStatus {
        self.live.status()
    }

    /// Reads every TLS listener's and cluster's certificate files again (as their
    /// watch does when they change).
    pub fn reload_certificates(&self) {
        self.live.reload_certificates();
    }

    /// The address listener `name` is bound to (useful with port 0).
    pub fn listener_addr(&self, name: &str) -> Option<SocketAddr> {
        self.listeners()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| a)
    }

    /// Every listener's name and address.
    pub fn listeners(&self) -> Vec<(String, SocketAddr)> {
        self.live.listeners()
    }

    /// The cluster named `name`.
    pub fn cluster(&self, name: &str) -> Option<ClusterRecord> {
        self.live.cluster(name)
    }

    /// The upstream of the cluster named `name`.
    pub fn upstream(&self, name: &str) -> Option<Arc<Upstream>> {
        self.cluster(name).map(|c| c.upstream)
    }

    /// Stops accepting, lets in-flight requests finish (up to the drain timeout), and
    /// waits for the workers.
    pub fn shutdown(self) {
        drop(self.watcher);
        drop(self.judge);
        self.live.shutdown();
        drop(self.admin);
    }
}
