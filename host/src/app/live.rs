//! The running configuration and its reload: a new configuration is read, checked
//! and built in full (policies loaded and smoke-picked, certificates read, new
//! listeners bound) before anything changes; then it is swapped in. A configuration
//! that fails anywhere changes nothing: the running one keeps serving, and the reason
//! is logged and kept for the admin API.
//!
//! What a reload keeps: a listener whose address is unchanged keeps its sockets (its
//! connections, and every accept); an unchanged cluster keeps its endpoints, their
//! load figures and health, its pools and its policy instances; a cluster whose only
//! change is its endpoint list has its membership updated, endpoints that stay keeping
//! their ids and figures. Other changed clusters are built anew and swapped in;
//! requests in flight finish on what they started with.

use super::clusters::{self, Built};
use super::{routes, settings};
use crate::admin::{ClusterRecord, ConfigControl, ConfigStatus, ListenerRecord, Topology};
use crate::config::Config;
use crate::config::model::{ClusterConfig, ListenerConfig};
use crate::fleet::{Fleet, Steered};
use crate::membership::{Controllers, EndpointUpdates, Running as Controlled};
use crate::proxy::{ClusterList, Listener, Routes, Server, Sockets, Upstream};
use crate::reload::{CertificateWatcher, ConfigWatcher};
use crate::tls::{Reload, Terminator};
use anyhow::Context;
use arc_swap::ArcSwap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::SystemTime;
use switchyard_policy::cluster::LoadSetup;
use switchyard_policy::{PolicyRegistry, ScorerBinding};

/// Applies configurations to the running proxy, the first at start and then each
/// reload, one at a time.
pub(super) struct Live {
    /// The configuration file, when the proxy was started from one.
    path: Option<PathBuf>,
    registry: Arc<PolicyRegistry>,
    workers: usize,
    topology: Arc<ArcSwap<Topology>>,
    clusters: ClusterList,
    state: Mutex<State>,
    status: Mutex<ConfigStatus>,
    /// Where the admin API was bound at start (a reload cannot move it).
    admin: Mutex<Option<SocketAddr>>,
    /// Itself, for the file watch's callback.
    this: Weak<Live>,
}

/// What runs now.
struct State {
    config: Option<Config>,
    clusters: Vec<LiveCluster>,
    listeners: Vec<LiveListener>,
    server: Option<Server>,
    controllers: Controllers,
    tls: Vec<Arc<dyn Reload>>,
    certificates: Option<CertificateWatcher>,
    fleet: Option<Fleet>,
    file_watch: Option<ConfigWatcher>,
}

/// A cluster serving now.
struct LiveCluster {
    config: ClusterConfig,
    record: ClusterRecord,
    /// What its endpoints get when they join.
    load: LoadSetup,
    scorer: Option<Arc<ScorerBinding>>,
    /// Its membership controller, running while this is held.
    _controlled: Option<Controlled>,
    updates: Option<EndpointUpdates>,
    /// Its metrics scrape, running while this is held.
    _scraping: Option<Controlled>,
}

/// A listener serving now.
struct LiveListener {
    /// The server's id for it.
    id: u64,
    config: ListenerConfig,
    /// What new connections are served with.
    slot: Arc<ArcSwap<Listener>>,
    record: ListenerRecord,
}

/// What becomes of a cluster of the new configuration.
enum ClusterPlan {
    /// The running one, unchanged.
    Keep(usize),
    /// The running one, with this new endpoint list.
    Endpoints(usize),
    /// A new one.
    New(Box<Built>),
}

/// A listener of the new configuration, ready to serve.
struct ListenerPlan {
    config: ListenerConfig,
    /// The running listener it replaces (same address).
    old: Option<usize>,
    listener: Listener,
    /// Bound, for a new listener.
    sockets: Option<Sockets>,
    /// The routes that replace those of the listener it replaces.
    routes: Option<Routes>,
}

impl Live {
    /// Ready to apply configurations through `registry` on `workers` workers; with no
    /// listener or cluster yet.
    pub(super) fn new(
        path: Option<PathBuf>,
        registry: Arc<PolicyRegistry>,
        workers: usize,
        drain: std::time::Duration,
    ) -> anyhow::Result<Arc<Self>> {
        let clusters: ClusterList = Arc::default();
        let server = Server::start(workers, drain, Arc::clone(&clusters))?;
        Ok(Arc::new_cyclic(|this| Self {
            path,
            registry,
            workers,
            topology: Arc::default(),
            clusters,
            state: Mutex::new(State {
                config: None,
                clusters: Vec::new(),
                listeners: Vec::new(),
                server: Some(server),
                controllers: Controllers::default(),
                tls: Vec::new(),
                certificates: None,
                fleet: None,
                file_watch: None,
            }),
            status: Mutex::new(ConfigStatus {
                file: None,
                ..ConfigStatus::default()
            }),
            admin: Mutex::new(None),
            this: this.clone(),
        }))
    }

    /// The policy registry.
    pub(super) fn registry(&self) -> &Arc<PolicyRegistry> {
        &self.registry
    }

    /// What the admin API shows.
    pub(super) fn topology(&self) -> &Arc<ArcSwap<Topology>> {
        &self.topology
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_status(&self) -> MutexGuard<'_, ConfigStatus> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notes where the admin API listens: a reload's admin access must suit it.
    pub(super) fn set_admin(&self, addr: SocketAddr) {
        *self.admin.lock().unwrap_or_else(|e| e.into_inner()) = Some(addr);
    }

    /// Applies `config` (the file's text hashing to `digest`), or changes nothing and
    /// says why.
    pub(super) fn apply(&self, config: Config, digest: String) -> anyhow::Result<ConfigStatus> {
        let mut state = self.lock();
        self.apply_locked(&mut state, config, digest)
    }

    fn apply_locked(
        &self,
        state: &mut State,
        config: Config,
        digest: String,
    ) -> anyhow::Result<ConfigStatus> {
        if state.server.is_none() {
            anyhow::bail!("the proxy is shutting down");
        }
        let first = state.config.is_none();
        let needs_restart = state
            .config
            .as_ref()
            .map(|old| restart_only(old, &config))
            .unwrap_or_default();
        let retired = self.swap(state, config)?;
        let mut status = self.lock_status();
        status.file = self.path.as_ref().map(|p| p.display().to_string());
        status.digest = digest;
        status.loaded_at = Some(SystemTime::now());
        if !first {
            status.reloads += 1;
            let digest = status.digest.clone();
            status.remember(Ok(digest));
        }
        status.needs_restart = needs_restart;
        for change in &status.needs_restart {
            tracing::warn!("configuration reloaded, but {change}: it needs a restart");
        }
        let status = status.clone();
        // Off the caller's thread: the file watch may be the caller.
        drop_elsewhere(retired);
        Ok(status)
    }

    /// Reads the configuration file again and applies it; a failure is logged (one
    /// line: file, key, reason) and kept for the admin API. Reloads run one at a
    /// time, each reading the file anew.
    pub(super) fn reload(&self) -> Result<ConfigStatus, String> {
        let Some(path) = &self.path else {
            return Err("this proxy was not started from a configuration file".into());
        };
        let mut state = self.lock();
        let applied = match super::load_with_digest(path) {
            Ok((config, digest)) => self
                .apply_locked(&mut state, config, digest)
                .map_err(|e| format!("{}: {e:#}", path.display())),
            Err(e) => Err(e.to_string()),
        };
        drop(state);
        match applied {
            Ok(status) => {
                tracing::info!(file = %path.display(), sha256 = %status.digest, "configuration reloaded");
                Ok(status)
            }
            Err(reason) => {
                tracing::error!(
                    "configuration reload refused, the running configuration stays: {reason}"
                );
                let mut status = self.lock_status();
                status.last_failure = Some((SystemTime::now(), reason.clone()));
                status.remember(Err(reason.clone()));
                Err(reason)
            }
        }
    }

    /// Builds everything `config` needs that is not running yet (watches included),
    /// then swaps it in; on an error, lets go of what was built and changes nothing.
    /// What the swap replaced, to be let go of.
    fn swap(&self, state: &mut State, config: Config) -> anyhow::Result<Retired> {
        let mut plans = Vec::with_capacity(config.clusters.len());
        let prepared = self
            .plan_clusters(state, &config, &mut plans)
            .and_then(|()| {
                let records = records(state, &plans);
                let listeners = plan_listeners(state, &config, &records, self.workers)?;
                let access = self.admin_access(&config)?;
                let watches = self.watches(state, &config, &records, &listeners)?;
                Ok((records, listeners, access, watches))
            });
        let (records, listeners, access, watches) = match prepared {
            Ok(prepared) => prepared,
            Err(e) => {
                for plan in &plans {
                    if let ClusterPlan::New(built) = plan {
                        let binding = built.record.upstream.binding();
                        self.registry.detach(binding, built.scorer.as_ref());
                    }
                }
                return Err(e);
            }
        };
        Ok(self.commit(state, config, plans, records, listeners, access, watches))
    }

    /// Who may use the admin API under `config`. The API stays where it was bound: a
    /// file that drops `[admin]` keeps the access in force, and one that drops the
    /// token of an API bound beyond loopback is refused.
    fn admin_access(&self, config: &Config) -> anyhow::Result<crate::admin::AdminAccess> {
        let bound = *self.admin.lock().unwrap_or_else(|e| e.into_inner());
        let Some(admin) = &config.admin else {
            return Ok(match bound {
                Some(_) => self.topology.load().access.clone(),
                None => Default::default(),
            });
        };
        let access = settings::admin_access(admin)?;
        if let Some(bound) = bound
            && access.token.is_none()
            && !bound.ip().is_loopback()
        {
            anyhow::bail!(
                "admin.token_file: the admin API listens on {bound}, which is not a loopback \
                 address: it keeps needing a token"
            );
        }
        Ok(access)
    }

    /// What becomes of each cluster of `config`: kept, updated or built (into `plans`,
    /// so that those built are let go of on an error).
    fn plan_clusters(
        &self,
        state: &State,
        config: &Config,
        plans: &mut Vec<ClusterPlan>,
    ) -> anyhow::Result<()> {
        // Policies are set up with the zone: a new one means new policy instances.
        let same_shape = state
            .config
            .as_ref()
            .is_some_and(|old| old.zone == config.zone);
        for (i, cluster) in config.clusters.iter().enumerate() {
            let old = state
                .clusters
                .iter()
                .position(|c| c.config.name == cluster.name);
            let plan = match old {
                Some(j) if same_shape && state.clusters[j].config == *cluster => {
                    ClusterPlan::Keep(j)
                }
                Some(j)
                    if same_shape
                        && clusters::only_endpoints_differ(&state.clusters[j].config, cluster) =>
                {
                    ClusterPlan::Endpoints(j)
                }
                _ => {
                    // Still steered by the fleet, a cluster built anew starts on the
                    // fleet's choice.
                    let fleet = config.etcd.is_some();
                    let steered = old
                        .filter(|_| fleet)
                        .and_then(|j| steered(&state.clusters[j]));
                    let built = clusters::build(config, i, &self.registry, self.workers, steered)?;
                    ClusterPlan::New(Box::new(built))
                }
            };
            plans.push(plan);
        }
        Ok(())
    }

    /// Swaps in what was prepared: nothing here can fail (what may is logged). What
    /// it replaced and must be let go of off this thread comes back.
    #[allow(clippy::too_many_arguments)]
    fn commit(
        &self,
        state: &mut State,
        config: Config,
        plans: Vec<ClusterPlan>,
        records: Vec<ClusterRecord>,
        listeners: Vec<ListenerPlan>,
        access: crate::admin::AdminAccess,
        watches: Watches,
    ) -> Retired {
        // The old fleet first: it may not switch a cluster about to go.
        let had_fleet = state.fleet.take().is_some();
        state.fleet = watches.fleet;
        match &state.fleet {
            Some(fleet) => fleet.take_rollouts(&self.registry),
            None => {
                // No fleet (any more): dropped files stage candidates, and this
                // proxy's rules decide them.
                self.registry.set_fleet_verdicts(None);
                self.registry.set_stage_dropped_files(true);
            }
        }
        // Clusters.
        let mut old: Vec<Option<LiveCluster>> = state.clusters.drain(..).map(Some).collect();
        let mut clusters = Vec::with_capacity(plans.len());
        for (plan, cluster) in plans.into_iter().zip(&config.clusters) {
            let live = match plan {
                ClusterPlan::Keep(j) => old[j].take().expect("each kept once"),
                ClusterPlan::Endpoints(j) => {
                    let mut live = old[j].take().expect("each kept once");
                    match &live.updates {
                        Some(updates) => updates.send(clusters::endpoints(cluster)),
                        None => clusters::set_endpoints(
                            live.record.upstream.binding(),
                            cluster,
                            &live.load,
                        ),
                    }
                    live.config = cluster.clone();
                    live
                }
                ClusterPlan::New(built) => {
                    let Built {
                        record,
                        load,
                        scorer,
                        controller,
                        updates,
                        scrape,
                    } = *built;
                    let scraping = scrape.and_then(|s| {
                        state
                            .controllers
                            .run_probing(|stop| {
                                crate::health::scrape::run(s.spec, s.binding, s.collector, stop)
                            })
                            .map_err(|e| tracing::error!(cluster = %cluster.name, "cannot start its metrics scrape: {e}"))
                            .ok()
                    });
                    let controlled = controller.and_then(|c| {
                        state
                            .controllers
                            .run(c)
                            .map_err(|e| tracing::error!(cluster = %cluster.name, "cannot start its health checks: {e}"))
                            .ok()
                    });
                    LiveCluster {
                        config: cluster.clone(),
                        record,
                        load,
                        scorer,
                        _controlled: controlled,
                        updates,
                        _scraping: scraping,
                    }
                }
            };
            clusters.push(live);
        }
        // Those not kept stop here: their policies take no more reloads, their
        // controllers stop; requests in flight hold what they need.
        for gone in old.into_iter().flatten() {
            self.registry
                .detach(gone.record.upstream.binding(), gone.scorer.as_ref());
        }
        // The fleet's keys no longer steer: kept clusters go back to the file's policy.
        if had_fleet && config.etcd.is_none() {
            for (cluster, live) in config.clusters.iter().zip(&clusters) {
                let file = settings::policy_name(cluster);
                let binding = live.record.upstream.binding();
                if let Err(e) =
                    self.registry
                        .switch(binding, file, settings::policy_config(cluster))
                {
                    tracing::error!(cluster = %cluster.name, "cannot go back to policy {file:?}: {e}");
                }
            }
        }
        state.clusters = clusters;
        let upstreams: Vec<Arc<Upstream>> =
            records.iter().map(|r| Arc::clone(&r.upstream)).collect();
        self.clusters.store(Arc::new(upstreams));

        // Listeners.
        let server = state.server.as_mut().expect("checked before the swap");
        let mut kept = vec![false; state.listeners.len()];
        let mut live = Vec::with_capacity(listeners.len());
        for plan in listeners {
            let ListenerPlan {
                config: listener_config,
                old,
                listener,
                sockets,
                routes: replacing,
            } = plan;
            let routes = Arc::clone(&listener.routes);
            if let Some(table) = replacing {
                routes.store(Arc::new(table));
            }
            // The bound address (the configured one may have port 0).
            let address = match (old, &sockets) {
                (Some(j), _) => state.listeners[j].record.address,
                (None, Some(sockets)) => sockets.addr(),
                (None, None) => listener_config.listen.0,
            };
            let record = ListenerRecord {
                name: listener_config.name.clone(),
                address,
                protocol: listener_config.protocol.as_str(),
                stats: Arc::clone(&listener.stats),
                tls: listener.tls.clone(),
                routes: Arc::clone(&routes),
            };
            let (id, slot) = match (old, sockets) {
                (Some(j), _) => {
                    kept[j] = true;
                    let running = &state.listeners[j];
                    server.rename(running.id, &listener_config.name);
                    running.slot.store(Arc::new(listener));
                    (running.id, Arc::clone(&running.slot))
                }
                (None, Some(sockets)) => {
                    let slot = Arc::new(ArcSwap::from_pointee(listener));
                    let id = server.add(&listener_config.name, sockets, Arc::clone(&slot));
                    (id, slot)
                }
                (None, None) => unreachable!("a new listener is bound"),
            };
            live.push(LiveListener {
                id,
                config: listener_config,
                slot,
                record,
            });
        }
        for (running, kept) in state.listeners.iter().zip(kept) {
            if !kept {
                server.remove(running.id);
            }
        }
        state.listeners = live;

        self.topology.store(Arc::new(Topology {
            access,
            clusters: records,
            listeners: state.listeners.iter().map(|l| l.record.clone()).collect(),
        }));
        let mut retired = Retired::default();
        if let Some((tls, certificates)) = watches.tls {
            state.tls = tls;
            retired.certificates = std::mem::replace(&mut state.certificates, certificates);
        }
        if let Some(file_watch) = watches.file_watch {
            retired.file_watch = std::mem::replace(&mut state.file_watch, file_watch);
        }
        state.config = Some(config);
        retired
    }

    /// The watches `config` needs that differ from those running: the TLS files, the
    /// fleet's keys (always anew: its keys apply again, and a key already applied to a
    /// kept cluster changes nothing), the configuration file.
    fn watches(
        &self,
        state: &State,
        config: &Config,
        records: &[ClusterRecord],
        listeners: &[ListenerPlan],
    ) -> anyhow::Result<Watches> {
        let listeners_tls = listeners.iter().filter_map(|l| l.listener.tls.clone());
        let clusters_tls = records
            .iter()
            .filter_map(|c| c.upstream.originator().cloned());
        let tls: Vec<Arc<dyn Reload>> = listeners_tls
            .map(|t| t as Arc<dyn Reload>)
            .chain(clusters_tls.map(|o| o as Arc<dyn Reload>))
            .collect();
        let same = tls.len() == state.tls.len()
            && tls.iter().zip(&state.tls).all(|(a, b)| Arc::ptr_eq(a, b));
        let tls = match same {
            true => None,
            false if tls.is_empty() => Some((tls, None)),
            false => {
                let watcher = CertificateWatcher::start(tls.clone())
                    .context("watching the certificates' directories")?;
                Some((tls, Some(watcher)))
            }
        };
        let fleet = match &config.etcd {
            Some(fleet) => {
                let steered = config
                    .clusters
                    .iter()
                    .zip(records)
                    .map(|(cluster, record)| Steered {
                        binding: Arc::clone(record.upstream.binding()),
                        default: (
                            settings::policy_name(cluster).to_string(),
                            settings::policy_config(cluster),
                        ),
                    })
                    .collect();
                let registry = Arc::clone(&self.registry);
                Some(Fleet::start(fleet, registry, steered).context("starting the fleet watch")?)
            }
            None => None,
        };
        let file_watch = match (&self.path, config.config.watch, state.file_watch.is_some()) {
            (Some(path), true, false) => {
                let this = self.this.clone();
                let watch = ConfigWatcher::start(path, move || {
                    if let Some(live) = this.upgrade() {
                        let _ = live.reload();
                    }
                })
                .with_context(|| format!("config.watch: watching {}", path.display()))?;
                Some(Some(watch))
            }
            (_, false, true) => Some(None),
            _ => None,
        };
        Ok(Watches {
            tls,
            fleet,
            file_watch,
        })
    }

    /// Every listener's name and bound address.
    pub(super) fn listeners(&self) -> Vec<(String, SocketAddr)> {
        let state = self.lock();
        state
            .server
            .as_ref()
            .map(Server::listeners)
            .unwrap_or_default()
    }

    /// The cluster named `name`.
    pub(super) fn cluster(&self, name: &str) -> Option<ClusterRecord> {
        let state = self.lock();
        let found = state.clusters.iter().find(|c| c.config.name == name);
        found.map(|c| c.record.clone())
    }

    /// Reads every TLS listener's and cluster's certificate files again.
    pub(super) fn reload_certificates(&self) {
        let tls = self.lock().tls.clone();
        for tls in tls {
            tls.reload();
        }
    }

    /// Stops everything: watches first, then the workers (which drain), then health.
    /// A reload asked for meanwhile is refused.
    pub(super) fn shutdown(&self) {
        let mut state = self.lock();
        let watches = (
            state.file_watch.take(),
            state.fleet.take(),
            state.certificates.take(),
        );
        let server = state.server.take();
        drop(state);
        // Outside the lock: the file watch's thread may be waiting for it.
        drop(watches);
        if let Some(server) = server {
            server.shutdown();
        }
        let mut state = self.lock();
        state.clusters.clear();
        state.controllers = Controllers::default();
    }
}

/// Every TLS listener's and cluster's side, and the watch on their files.
type TlsWatch = (Vec<Arc<dyn Reload>>, Option<CertificateWatcher>);

/// Watches readied for a configuration, swapped in with it.
struct Watches {
    /// The TLS objects and their watch, when they changed.
    tls: Option<TlsWatch>,
    /// The fleet watch, with `[etcd]`.
    fleet: Option<Fleet>,
    /// The configuration file's watch, when it starts or stops.
    file_watch: Option<Option<ConfigWatcher>>,
}

/// Watches a swap replaced.
#[derive(Default)]
struct Retired {
    certificates: Option<CertificateWatcher>,
    file_watch: Option<ConfigWatcher>,
}

/// Lets go of `retired` on a thread of its own: a watch's thread may be the one that
/// applied the configuration which stops it.
fn drop_elsewhere(retired: Retired) {
    if retired.certificates.is_none() && retired.file_watch.is_none() {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("retired-watches".into())
        .spawn(move || drop(retired));
    if let Err(e) = spawned {
        tracing::warn!("cannot stop a replaced watch: {e}");
    }
}

impl ConfigControl for Live {
    fn reload(&self) -> Result<ConfigStatus, String> {
        Live::reload(self)
    }

    fn status(&self) -> ConfigStatus {
        self.lock_status().clone()
    }
}

/// The policy and configuration the fleet chose for a running cluster, when they are
/// not the file's: a cluster built anew starts on them.
fn steered(cluster: &LiveCluster) -> Option<(String, Vec<(String, String)>)> {
    let setup = cluster.record.upstream.binding().setup();
    let file = (
        settings::policy_name(&cluster.config),
        settings::policy_config(&cluster.config),
    );
    (setup.policy != file.0 || setup.config != file.1).then_some((setup.policy, setup.config))
}

/// The records of the clusters `plans` make, in order.
fn records(state: &State, plans: &[ClusterPlan]) -> Vec<ClusterRecord> {
    plans
        .iter()
        .map(|plan| match plan {
            ClusterPlan::Keep(j) | ClusterPlan::Endpoints(j) => state.clusters[*j].record.clone(),
            ClusterPlan::New(built) => built.record.clone(),
        })
        .collect()
}

/// Each listener of `config`, with its routes over `records` (the new clusters, in
/// order), its TLS (kept when unchanged) and, for a new address, its sockets bound.
fn plan_listeners(
    state: &State,
    config: &Config,
    records: &[ClusterRecord],
    workers: usize,
) -> anyhow::Result<Vec<ListenerPlan>> {
    let by_name: routes::ByName<'_> = config
        .clusters
        .iter()
        .zip(records)
        .map(|(cluster, record)| (cluster.name.as_str(), (cluster, &record.upstream)))
        .collect();
    let mut plans = Vec::with_capacity(config.listeners.len());
    for (i, listener) in config.listeners.iter().enumerate() {
        let old = state.listeners.iter().position(|running| {
            running.config.listen == listener.listen
                && (listener.listen.0.port() != 0 || running.config.name == listener.name)
        });
        let running = old.map(|j| &state.listeners[j]);
        let tls = match (&listener.tls, running) {
            (Some(tls), Some(running)) if running.config.tls.as_ref() == Some(tls) => {
                running.record.tls.clone()
            }
            (Some(tls), _) => {
                let keys = format!("listeners[{i}].tls");
                Some(Arc::new(Terminator::new(&listener.name, &keys, tls)?))
            }
            (None, _) => None,
        };
        let table = routes::build(i, listener, &by_name)?;
        // Shared with the listener it replaces, swapped on commit: its open
        // connections take the new routes from their next request on.
        let (routes, replacing) = match running {
            Some(running) => (Arc::clone(&running.record.routes), Some(table)),
            None => (Arc::new(ArcSwap::from_pointee(table)), None),
        };
        let stats = running.map_or_else(Arc::default, |r| Arc::clone(&r.record.stats));
        let sockets = match running {
            Some(_) => None,
            None => Some(Sockets::bind(&listener.name, listener.listen.0, workers)?),
        };
        plans.push(ListenerPlan {
            config: listener.clone(),
            old,
            listener: Listener {
                routes,
                limits: settings::client_limits(listener),
                stats,
                tls,
                forward_client_cert: listener.forward_client_cert,
                forwarded_proto: listener.forwarded_proto,
                access_log: config.log.access,
                drain: config.drain_timeout.0,
                upgrades: settings::upgrades(listener),
                tcp: settings::tcp_opening(listener),
            },
            sockets,
            routes: replacing,
        });
    }
    Ok(plans)
}

/// What changed from `old` to `new` that only a restart applies.
fn restart_only(old: &Config, new: &Config) -> Vec<String> {
    let mut changes = Vec::new();
    if old.workers != new.workers {
        changes.push("workers changed".to_string());
    }
    if old.admin.as_ref().map(|a| a.listen) != new.admin.as_ref().map(|a| a.listen) {
        changes.push("admin.listen changed".to_string());
    }
    if old.policies != new.policies {
        changes.push("[policies] changed".to_string());
    }
    if old.log.format != new.log.format {
        changes.push("log.format changed".to_string());
    }
    if old.drain_timeout != new.drain_timeout {
        changes.push("drain_timeout changed".to_string());
    }
    changes
}
