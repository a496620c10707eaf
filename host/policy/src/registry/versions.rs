//! Every policy the proxy has loaded, by name: the version serving, where it came from,
//! the clusters it serves and the last load that failed. The directory watcher, the
//! admin API and SIGHUP all reload through here, one reload at a time, off the request
//! path.

use crate::balancer::ClusterPolicy;
use crate::balancer::binding::{PolicyBinding, PolicySetup};
use crate::cluster::{Membership, MetricCatalog};
use crate::engine::PolicyEngine;
use crate::engine::PolicyStats;
use crate::engine::{LoadError, World};
use crate::registry::builtin;
use crate::registry::cache::{CacheOrigin, ComponentCache, Sha256Digest};
use crate::registry::history::{History, HistoryEntry, PolicyEvent};
use crate::registry::linked::Linked;
use crate::registry::rollouts::{
    CANARY_SUFFIX, CandidateFile, RolloutEnd, RolloutStatus, Staged, VerdictSink,
};
use crate::scorer::binding::PreparedScorer;
use crate::scorer::{ScorerBinding, ScorerInstance, ScorerSetup};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

/// Where a version's bytes came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicySource {
    /// Embedded in the binary.
    Builtin,
    /// A file in the policy directory.
    File(PathBuf),
}

/// One loaded version of a policy.
#[derive(Clone, Debug)]
pub struct PolicyVersion {
    /// The sha256 of the component's bytes.
    pub sha256: Sha256Digest,
    /// When it started serving.
    pub loaded_at: SystemTime,
    /// Where it came from.
    pub source: PolicySource,
    /// Whether it was compiled or found in the cache.
    pub origin: CacheOrigin,
    /// Read, compile (or cache lookup), validate and prepare, until it served.
    pub load_time: Duration,
}

/// A load that failed; the version before it kept serving.
#[derive(Clone, Debug)]
pub struct LoadFailure {
    /// When.
    pub at: SystemTime,
    /// The file that failed.
    pub file: PathBuf,
    /// Why, in one line.
    pub reason: String,
}

/// What a reload of one file did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// A new version serves.
    Loaded {
        /// Policy name.
        name: String,
        /// The new version.
        sha256: Sha256Digest,
    },
    /// The file holds the version already serving.
    Unchanged {
        /// Policy name.
        name: String,
    },
    /// The file is gone; the built-in of that name serves again.
    RevertedToBuiltin {
        /// Policy name.
        name: String,
    },
    /// The file is gone and there is no built-in of that name: the last version keeps
    /// serving.
    KeptLastGood {
        /// Policy name.
        name: String,
    },
    /// The file holds a candidate, now staged beside the serving version.
    Staged {
        /// Policy name.
        name: String,
        /// The candidate's version.
        sha256: Sha256Digest,
    },
    /// The candidate's file is gone: the candidate no longer takes part.
    Withdrawn {
        /// Policy name.
        name: String,
    },
    /// The file could not be loaded; the version before it keeps serving.
    Failed {
        /// Policy name.
        name: String,
        /// Why.
        reason: String,
    },
}

/// A policy as the admin API reports it.
#[derive(Clone, Debug)]
pub struct PolicyStatus {
    /// Policy name.
    pub name: String,
    /// The version serving.
    pub active: PolicyVersion,
    /// Set when the version's file has been removed and no built-in replaced it.
    pub file_removed: bool,
    /// The last load that failed, if any since the active version loaded.
    pub last_error: Option<LoadFailure>,
    /// Balancer or health scorer.
    pub world: World,
    /// Per cluster served: name, counters, quarantined.
    pub clusters: Vec<(String, PolicyStats, bool)>,
    /// The candidate staged beside the active version, if any.
    pub rollout: Option<RolloutStatus>,
    /// How the last rollout ended.
    pub last_rollout: Option<RolloutEnd>,
}

pub(super) struct Entry {
    pub(super) version: PolicyVersion,
    pub(super) component: Linked,
    pub(super) bindings: Vec<Bound>,
    file_removed: bool,
    last_error: Option<LoadFailure>,
    /// A candidate version staged beside this one.
    pub(super) staged: Option<Staged>,
    /// How the last rollout ended.
    pub(super) last_rollout: Option<RolloutEnd>,
}

/// A cluster served by a policy, in the role it serves it.
#[derive(Clone)]
pub(super) enum Bound {
    Balancer(Arc<PolicyBinding>),
    Scorer(Arc<ScorerBinding>),
}

/// A new version readied for one cluster (boxed: it is moved around, and made once
/// per reload).
enum Prepared {
    Balancer(Box<ClusterPolicy>),
    Scorer(Box<PreparedScorer>),
}

impl Bound {
    pub(super) fn cluster(&self) -> &str {
        match self {
            Bound::Balancer(b) => b.cluster(),
            Bound::Scorer(b) => &b.setup().cluster,
        }
    }

    /// Counters and quarantine of the version serving this cluster.
    fn stats(&self) -> (PolicyStats, bool) {
        match self {
            Bound::Balancer(b) => {
                let policy = b.current();
                (policy.stats(), policy.is_quarantined())
            }
            Bound::Scorer(b) => (b.stats(), b.is_quarantined()),
        }
    }

    /// Readies `component` for this cluster; it must be of the world the cluster uses
    /// the policy as.
    fn prepare(&self, component: &Linked) -> Result<Prepared, LoadError> {
        match (self, component) {
            (Bound::Balancer(b), Linked::Balancer(c)) => b
                .prepare(Arc::clone(c))
                .map(|p| Prepared::Balancer(Box::new(p))),
            (Bound::Scorer(b), Linked::Scorer(c)) => b
                .prepare(Arc::clone(c))
                .map(|p| Prepared::Scorer(Box::new(p))),
            (Bound::Balancer(_), Linked::Scorer(_)) => Err(LoadError::ScorerNotBalancer),
            (Bound::Scorer(_), Linked::Balancer(_)) => Err(LoadError::BalancerNotScorer),
        }
    }

    fn install(&self, next: Prepared) {
        match (self, next) {
            (Bound::Balancer(b), Prepared::Balancer(next)) => b.install(Arc::from(next)),
            (Bound::Scorer(b), Prepared::Scorer(next)) => b.install(*next),
            _ => unreachable!("prepared for the cluster's own role"),
        }
    }
}

/// The loaded policies of one proxy.
pub struct PolicyRegistry {
    engine: PolicyEngine,
    cache: ComponentCache,
    pub(super) dir: Option<PathBuf>,
    pub(super) entries: Mutex<BTreeMap<String, Entry>>,
    pub(super) reloading: Mutex<()>,
    reloads: ReloadCounts,
    /// Per file, the content that last failed to load: it is not tried (nor logged)
    /// again until the file holds something else.
    pub(super) refused: Mutex<HashMap<PathBuf, Sha256Digest>>,
    /// Whether a dropped `NAME.canary.wasm` is staged (not on a fleet's proxies).
    pub(super) stage_dropped_files: AtomicBool,
    /// Where rollout decisions go on a fleet's proxies.
    pub(super) fleet_verdicts: Mutex<Option<VerdictSink>>,
    /// What happened lately.
    pub(super) history: History,
}

/// Reloads of policy files since start, by result.
#[derive(Debug, Default)]
pub struct ReloadCounts {
    /// New versions that serve.
    pub loaded: AtomicU64,
    /// Files refused (the version before kept serving).
    pub failed: AtomicU64,
}

impl ReloadCounts {
    fn count(&self, outcome: &ReloadOutcome) {
        match outcome {
            ReloadOutcome::Loaded { .. }
            | ReloadOutcome::RevertedToBuiltin { .. }
            | ReloadOutcome::Staged { .. } => {
                self.loaded.fetch_add(1, Relaxed);
            }
            ReloadOutcome::Failed { .. } => {
                self.failed.fetch_add(1, Relaxed);
            }
            ReloadOutcome::Unchanged { .. }
            | ReloadOutcome::KeptLastGood { .. }
            | ReloadOutcome::Withdrawn { .. } => {}
        }
    }
}

impl PolicyRegistry {
    /// A registry loading from `dir` (if any) and the built-ins, compiling through `cache`.
    pub fn new(engine: PolicyEngine, dir: Option<PathBuf>, cache: ComponentCache) -> Self {
        Self {
            engine,
            cache,
            dir,
            entries: Mutex::new(BTreeMap::new()),
            reloading: Mutex::new(()),
            reloads: ReloadCounts::default(),
            refused: Mutex::new(HashMap::new()),
            stage_dropped_files: AtomicBool::new(true),
            fleet_verdicts: Mutex::new(None),
            history: History::default(),
        }
    }

    /// Starts balancer `setup.policy` for a cluster: `NAME.wasm` from the policy
    /// directory when it is there, else the built-in of that name.
    pub fn bind(
        &self,
        setup: PolicySetup,
        membership: Arc<Membership>,
    ) -> Result<Arc<PolicyBinding>, LoadError> {
        let name = setup.policy.clone();
        self.bind_as(&name, |component| match component {
            Linked::Balancer(c) => {
                let binding = Arc::new(PolicyBinding::new(setup, Arc::clone(c), membership)?);
                Ok((Arc::clone(&binding), Bound::Balancer(binding)))
            }
            Linked::Scorer(_) => Err(LoadError::ScorerNotBalancer),
        })
    }

    /// Starts health scorer `setup.policy` for a cluster, found as [`bind`](Self::bind)
    /// finds balancers.
    pub fn bind_scorer(
        &self,
        setup: ScorerSetup,
        membership: Arc<Membership>,
    ) -> Result<Arc<ScorerBinding>, LoadError> {
        let name = setup.policy.clone();
        self.bind_as(&name, |component| match component {
            Linked::Scorer(c) => {
                let binding = Arc::new(ScorerBinding::new(setup, Arc::clone(c), membership)?);
                Ok((Arc::clone(&binding), Bound::Scorer(binding)))
            }
            Linked::Balancer(_) => Err(LoadError::BalancerNotScorer),
        })
    }

    /// Loads `name` if it is new and binds a cluster to it with `bind`, which answers
    /// the binding and how the registry keeps it.
    fn bind_as<T>(
        &self,
        name: &str,
        bind: impl FnOnce(&Linked) -> Result<(T, Bound), LoadError>,
    ) -> Result<T, LoadError> {
        let _reloading = lock(&self.reloading);
        let (component, version) = self.component(name)?;
        let (binding, bound) = bind(&component)?;
        self.stage_on_new(name, &bound);
        self.attach(name, component, version, bound);
        Ok(binding)
    }

    /// The loaded component of `name`, or its first version loaded now (with that
    /// version, for [`attach`](Self::attach)).
    fn component(&self, name: &str) -> Result<(Linked, Option<PolicyVersion>), LoadError> {
        let existing = lock(&self.entries).get(name).map(|e| e.component.clone());
        match existing {
            Some(component) => Ok((component, None)),
            None => {
                let (component, version) = self.load_initial(name)?;
                Ok((component, Some(version)))
            }
        }
    }

    /// Records that `bound` uses policy `name` (entered with `component` and
    /// `version` if it is new).
    fn attach(&self, name: &str, component: Linked, version: Option<PolicyVersion>, bound: Bound) {
        let mut entries = lock(&self.entries);
        let entry = entries.entry(name.to_string()).or_insert_with(|| Entry {
            version: version.expect("a policy seen for the first time has just been loaded"),
            component,
            bindings: Vec::new(),
            file_removed: false,
            last_error: None,
            staged: None,
            last_rollout: None,
        });
        entry.bindings.push(bound);
    }

    /// Forgets a cluster that no longer exists (a configuration reload removed or
    /// rebuilt it): its balancer `binding` and health `scorer`, if any, take no more
    /// policy reloads and leave the status.
    pub fn detach(&self, binding: &Arc<PolicyBinding>, scorer: Option<&Arc<ScorerBinding>>) {
        let _reloading = lock(&self.reloading);
        for entry in lock(&self.entries).values_mut() {
            entry.bindings.retain(|bound| match bound {
                Bound::Balancer(b) => !Arc::ptr_eq(b, binding),
                Bound::Scorer(s) => !scorer.is_some_and(|scorer| Arc::ptr_eq(s, scorer)),
            });
        }
    }

    /// Switches the cluster `binding` serves to balancer `policy` with `config` (found
    /// as [`bind`](Self::bind) finds it); reloads of `policy` reach the cluster from
    /// now on, those of its old policy no longer do. Whether anything changed (not
    /// when the cluster uses that already); nothing changes on an error.
    pub fn switch(
        &self,
        binding: &Arc<PolicyBinding>,
        policy: &str,
        config: Vec<(String, String)>,
    ) -> Result<bool, LoadError> {
        let _reloading = lock(&self.reloading);
        let old = binding.setup();
        if old.policy == policy && old.config == config {
            return Ok(false);
        }
        let (component, version) = self.component(policy)?;
        let Linked::Balancer(balancer) = &component else {
            return Err(LoadError::ScorerNotBalancer);
        };
        let setup = PolicySetup {
            policy: policy.to_string(),
            config,
            ..old.clone()
        };
        binding.switch(setup, Arc::clone(balancer))?;
        self.history.push(PolicyEvent::Switched {
            cluster: binding.cluster().to_string(),
            from: old.policy.clone(),
            to: policy.to_string(),
        });
        if let Some(entry) = lock(&self.entries).get_mut(&old.policy) {
            entry
                .bindings
                .retain(|b| !matches!(b, Bound::Balancer(b) if Arc::ptr_eq(b, binding)));
        }
        let bound = Bound::Balancer(Arc::clone(binding));
        self.stage_on_new(policy, &bound);
        self.attach(policy, component, version, bound);
        Ok(true)
    }

    /// Loads `dir/NAME.wasm` again if it changed, or handles its removal; a content
    /// that failed before is not tried again until the file changes (the watcher's
    /// call).
    pub fn reload_file(&self, path: &Path) -> ReloadOutcome {
        let _reloading = lock(&self.reloading);
        let outcome = self.reload_file_locked(path, false);
        self.note(&outcome);
        outcome
    }

    /// Reloads since start, by result.
    pub fn reloads(&self) -> &ReloadCounts {
        &self.reloads
    }

    /// What happened to the policies lately (the last 100 events), oldest first.
    pub fn history(&self) -> Vec<HistoryEntry> {
        self.history.events()
    }

    /// Counts a reload's outcome and keeps it in the history.
    pub(super) fn note(&self, outcome: &ReloadOutcome) {
        self.reloads.count(outcome);
        self.history.push(PolicyEvent::Reload(outcome.clone()));
    }

    /// Reloads every `*.wasm` in the policy directory that changed, and handles files
    /// that disappeared; contents that failed before are tried again (an explicit
    /// rescan: they may have failed for a passing reason).
    pub fn rescan(&self) -> Vec<ReloadOutcome> {
        let _reloading = lock(&self.reloading);
        let Some(dir) = &self.dir else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(listing) => listing
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| is_policy_file(p))
                .collect(),
            Err(e) => {
                tracing::warn!(dir = %dir.display(), "cannot list the policy directory: {e}");
                return Vec::new();
            }
        };
        let gone: Vec<PathBuf> = lock(&self.entries)
            .values()
            .flat_map(|e| {
                let serving = match &e.version.source {
                    PolicySource::File(file) if !e.file_removed => Some(file.clone()),
                    _ => None,
                };
                serving
                    .into_iter()
                    .chain(e.staged.as_ref().map(|s| s.file.clone()))
            })
            .filter(|file| !file.exists())
            .collect();
        files.extend(gone);
        files.sort();
        files
            .iter()
            .map(|file| {
                let outcome = self.reload_file_locked(file, true);
                self.note(&outcome);
                outcome
            })
            .collect()
    }

    /// Every policy with its active version, clusters, rollout and last error, by name.
    pub fn status(&self) -> Vec<PolicyStatus> {
        lock(&self.entries)
            .iter()
            .map(|(name, entry)| PolicyStatus {
                rollout: entry
                    .staged
                    .as_ref()
                    .map(|staged| staged.status(&entry.bindings)),
                last_rollout: entry.last_rollout.clone(),
                name: name.clone(),
                active: entry.version.clone(),
                file_removed: entry.file_removed,
                last_error: entry.last_error.clone(),
                world: match entry.component {
                    Linked::Balancer(_) => World::Balancer,
                    Linked::Scorer(_) => World::HealthScorer,
                },
                clusters: entry
                    .bindings
                    .iter()
                    .map(|b| {
                        let (stats, quarantined) = b.stats();
                        (b.cluster().to_string(), stats, quarantined)
                    })
                    .collect(),
            })
            .collect()
    }

    /// The version of policy `name` serving now.
    pub fn active(&self, name: &str) -> Option<PolicyVersion> {
        lock(&self.entries).get(name).map(|e| e.version.clone())
    }

    /// Loads `path` if it changed; a content that failed before is tried again only
    /// when `again` (an explicit rescan: it may have failed for a passing reason).
    fn reload_file_locked(&self, path: &Path, again: bool) -> ReloadOutcome {
        let (name, candidate) = policy_name(path);
        if !path.exists() {
            lock(&self.refused).remove(path);
            return if candidate {
                self.withdraw(&name, path)
            } else {
                self.removed(&name, path)
            };
        }
        let started = Instant::now();
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) => return self.failed(&name, path, e.to_string()),
        };
        let digest = Sha256Digest::of(&bytes);
        if !again && lock(&self.refused).get(path) == Some(&digest) {
            tracing::debug!(policy = name.as_str(), sha256 = %digest, "failed before; not reloaded");
            return ReloadOutcome::Unchanged { name };
        }
        lock(&self.refused).remove(path);
        if candidate {
            if !self.stage_dropped_files.load(Relaxed) {
                tracing::info!(policy = name.as_str(), file = %path.display(), "candidate not staged: on a fleet's proxy, its policy_canary key stages it");
                return ReloadOutcome::Unchanged { name };
            }
            let candidate = CandidateFile {
                file: path,
                bytes: &bytes,
                sha256: digest,
            };
            return self.stage_dropped(&name, &candidate, started);
        }
        let current = self.active(&name);
        if current.as_ref().is_some_and(|v| v.sha256 == digest) {
            tracing::debug!(policy = name.as_str(), sha256 = %digest, "unchanged; not reloaded");
            if let Some(entry) = lock(&self.entries).get_mut(&name) {
                // The file may be back after a removal, or after a failed version.
                entry.file_removed = false;
                entry.last_error = None;
            }
            return ReloadOutcome::Unchanged { name };
        }
        let source = PolicySource::File(path.to_path_buf());
        match self.swap_in(&name, &bytes, digest, source, started) {
            Ok(version) => {
                tracing::info!(
                    policy = name.as_str(),
                    file = %path.display(),
                    sha256 = %version.sha256,
                    from = version.origin.label(),
                    ms = version.load_time.as_secs_f64() * 1e3,
                    "policy version loaded"
                );
                ReloadOutcome::Loaded {
                    name,
                    sha256: version.sha256,
                }
            }
            Err(e) => {
                lock(&self.refused).insert(path.to_path_buf(), digest);
                self.failed(&name, path, e.to_string())
            }
        }
    }

    /// `path` is gone: the built-in of that name takes over, else the last good
    /// version keeps serving.
    fn removed(&self, name: &str, path: &Path) -> ReloadOutcome {
        let serving_file = lock(&self.entries)
            .get(name)
            .is_some_and(|e| e.version.source == PolicySource::File(path.to_path_buf()));
        if !serving_file {
            return ReloadOutcome::Unchanged {
                name: name.to_string(),
            };
        }
        let Some(bytes) = builtin(name) else {
            tracing::warn!(
                policy = name,
                file = %path.display(),
                "policy file removed and there is no built-in of that name: the last loaded version keeps serving"
            );
            if let Some(entry) = lock(&self.entries).get_mut(name) {
                entry.file_removed = true;
            }
            return ReloadOutcome::KeptLastGood {
                name: name.to_string(),
            };
        };
        let started = Instant::now();
        let digest = Sha256Digest::of(bytes);
        match self.swap_in(name, bytes, digest, PolicySource::Builtin, started) {
            Ok(_) => {
                tracing::info!(policy = name, file = %path.display(), "policy file removed: the built-in serves again");
                ReloadOutcome::RevertedToBuiltin {
                    name: name.to_string(),
                }
            }
            Err(e) => self.failed(name, path, format!("reverting to the built-in: {e}")),
        }
    }

    /// Compiles (or finds) `bytes`, prepares it for every cluster using `name`, and
    /// only if all succeed, makes it serve them all.
    fn swap_in(
        &self,
        name: &str,
        bytes: &[u8],
        sha256: Sha256Digest,
        source: PolicySource,
        started: Instant,
    ) -> Result<PolicyVersion, LoadError> {
        let (component, mut version) = self.build(name, bytes, sha256, source)?;
        let bindings = lock(&self.entries)
            .get(name)
            .map(|e| e.bindings.clone())
            .unwrap_or_default();
        if bindings.is_empty() {
            // No cluster uses it yet: validate as `policy check` would.
            let synthetic = Arc::new(Membership::synthetic(3));
            let limits = Default::default();
            match &component {
                Linked::Balancer(c) => {
                    ClusterPolicy::new(
                        Arc::clone(c),
                        name,
                        &[],
                        "",
                        limits,
                        synthetic,
                        Some(&MetricCatalog::open()),
                    )?;
                }
                Linked::Scorer(c) => {
                    ScorerInstance::start(c, name, &[], &limits, &synthetic)?;
                }
            }
        }
        let prepared = bindings
            .iter()
            .map(|b| b.prepare(&component))
            .collect::<Result<Vec<_>, _>>()?;
        for (binding, next) in bindings.iter().zip(prepared) {
            binding.install(next);
        }
        version.loaded_at = SystemTime::now();
        version.load_time = started.elapsed();
        let mut entries = lock(&self.entries);
        let entry = entries.entry(name.to_string()).or_insert_with(|| Entry {
            version: version.clone(),
            component: component.clone(),
            bindings: Vec::new(),
            file_removed: false,
            last_error: None,
            staged: None,
            last_rollout: None,
        });
        entry.version = version.clone();
        entry.component = component;
        entry.file_removed = false;
        entry.last_error = None;
        drop(entries);
        self.rebase(name);
        Ok(version)
    }

    pub(super) fn failed(&self, name: &str, path: &Path, reason: String) -> ReloadOutcome {
        let reason = reason.replace('\n', " ");
        tracing::warn!(
            policy = name,
            file = %path.display(),
            "policy not loaded, the previous version keeps serving: {reason}"
        );
        if let Some(entry) = lock(&self.entries).get_mut(name) {
            entry.last_error = Some(LoadFailure {
                at: SystemTime::now(),
                file: path.to_path_buf(),
                reason: reason.clone(),
            });
        }
        ReloadOutcome::Failed {
            name: name.to_string(),
            reason,
        }
    }

    /// The first version of `name`: its file when there is one, else the built-in.
    fn load_initial(&self, name: &str) -> Result<(Linked, PolicyVersion), LoadError> {
        let started = Instant::now();
        let file = self
            .dir
            .as_ref()
            .map(|d| d.join(format!("{name}.wasm")))
            .filter(|f| f.is_file());
        let (bytes, source) = match file {
            Some(file) => {
                let bytes = std::fs::read(&file).map_err(|e| LoadError::Io {
                    path: file.display().to_string(),
                    reason: e.to_string(),
                })?;
                (bytes, PolicySource::File(file))
            }
            None => match builtin(name) {
                Some(bytes) => (bytes.to_vec(), PolicySource::Builtin),
                None => return Err(LoadError::Unknown(name.to_string())),
            },
        };
        let (component, mut version) =
            self.build(name, &bytes, Sha256Digest::of(&bytes), source)?;
        version.load_time = started.elapsed();
        Ok((component, version))
    }

    /// Compiles `bytes` (or finds them in the cache) and links them as policy `name`.
    pub(super) fn build(
        &self,
        name: &str,
        bytes: &[u8],
        sha256: Sha256Digest,
        source: PolicySource,
    ) -> Result<(Linked, PolicyVersion), LoadError> {
        let started = Instant::now();
        let (compiled, origin) = self.cache.get(&self.engine, sha256, bytes)?;
        let component = self.engine.link(name, sha256, &compiled)?;
        let version = PolicyVersion {
            sha256,
            loaded_at: SystemTime::now(),
            source,
            origin,
            load_time: started.elapsed(),
        };
        Ok((component, version))
    }
}

/// `NAME.wasm` files are policies (`NAME.canary.wasm` a candidate version of `NAME`);
/// editors' and copiers' temporary files are not.
pub fn is_policy_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "wasm")
        && path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| !n.starts_with('.'))
}

/// The policy a file holds a version of, and whether it is a candidate
/// (`NAME.canary.wasm`).
pub(super) fn policy_name(path: &Path) -> (String, bool) {
    let stem = path
        .file_stem()
        .map_or_else(|| "policy".into(), |s| s.to_string_lossy().into_owned());
    match stem.strip_suffix(CANARY_SUFFIX) {
        Some(name) if !name.is_empty() => (name.to_string(), true),
        _ => (stem, false),
    }
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
