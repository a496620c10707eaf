//! Rollouts: a candidate version of a policy (`NAME.canary.wasm`, or staged through the
//! admin API) tried beside the serving version on every cluster using the policy, then
//! promoted (it serves, and its file becomes `NAME.wasm`) or rolled back (its file
//! becomes `NAME.canary.rejected`), by the rules or by hand. One rollout per policy: a
//! promotion needs every cluster's rules to pass; any cluster breaking one rolls it
//! back. A fleet steered from etcd stages by a key instead of by the file, and takes
//! each decision together: a proxy's judgement goes to the fleet ([`FleetVerdict`]),
//! and every proxy acts when the fleet's key says so.

use crate::balancer::{
    CandidateStatus, ClusterPolicy, Judgement, PolicyBinding, PolicyComponent, RolloutMode, judge,
};
use crate::engine::LoadError;
use crate::registry::cache::Sha256Digest;
use crate::registry::history::PolicyEvent;
use crate::registry::linked::Linked;
use crate::registry::versions::{
    Bound, PolicyRegistry, PolicySource, PolicyVersion, ReloadOutcome, lock,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// What ends the file stem of a candidate: `NAME.canary.wasm`.
pub(super) const CANARY_SUFFIX: &str = ".canary";
/// What a rolled-back candidate's file is renamed to end with: `NAME.canary.rejected`.
const REJECTED_EXTENSION: &str = "rejected";

/// A candidate staged for a policy.
pub(super) struct Staged {
    pub(super) version: PolicyVersion,
    component: Arc<PolicyComponent>,
    /// Its file (`NAME.canary.wasm`).
    pub(super) file: PathBuf,
    /// Its bytes, kept for the promotion.
    bytes: Arc<[u8]>,
    /// The mode it was staged in by hand; none: each cluster's configured mode.
    mode: Option<RolloutMode>,
    /// Staged by the fleet's key: the rules' decision goes to the fleet.
    steered: bool,
    /// When this proxy's decision last went to the fleet.
    posted: Option<Instant>,
}

/// A candidate's file as read: where, its bytes, and their sha256 (hashed once).
pub(super) struct CandidateFile<'a> {
    pub(super) file: &'a Path,
    pub(super) bytes: &'a [u8],
    pub(super) sha256: Sha256Digest,
}

/// A rollout decision for the fleet to take together.
#[derive(Clone, Debug, PartialEq)]
pub struct FleetVerdict {
    /// The policy.
    pub policy: String,
    /// The candidate's version.
    pub sha256: Sha256Digest,
    /// Promote, or roll back and why.
    pub judgement: Judgement,
}

/// Where a fleet proxy's rollout decisions go.
pub type VerdictSink = Arc<dyn Fn(FleetVerdict) + Send + Sync>;

/// How a rollout ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    Promote,
    RollBack,
    /// Rolled back without touching the candidate's file (it is gone, or is staged
    /// again).
    Withdraw,
}

impl Ending {
    fn outcome(self) -> RolloutOutcome {
        match self {
            Ending::Promote => RolloutOutcome::Promoted,
            Ending::RollBack => RolloutOutcome::RolledBack,
            Ending::Withdraw => RolloutOutcome::Withdrawn,
        }
    }
}

/// How a rollout ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RolloutOutcome {
    /// The candidate serves.
    Promoted,
    /// The candidate was dropped, by the rules or by hand.
    RolledBack,
    /// The candidate was dropped: its file was removed, or the serving version
    /// changed under it.
    Withdrawn,
}

impl RolloutOutcome {
    /// `promoted`, `rolled-back` or `withdrawn`.
    pub fn name(self) -> &'static str {
        match self {
            RolloutOutcome::Promoted => "promoted",
            RolloutOutcome::RolledBack => "rolled-back",
            RolloutOutcome::Withdrawn => "withdrawn",
        }
    }
}

/// A decision posted to the fleet is posted again after this long without the fleet's
/// answer (etcd may have been away).
const REPOST_AFTER: Duration = Duration::from_secs(10);

/// A staged candidate, as `/policies` reports it.
#[derive(Clone, Debug)]
pub struct RolloutStatus {
    /// The candidate's version.
    pub version: PolicyVersion,
    /// Per cluster trying it: its figures, and what the rules say so far.
    pub clusters: Vec<ClusterRollout>,
}

/// One cluster's side of a rollout.
#[derive(Clone, Debug)]
pub struct ClusterRollout {
    /// The cluster.
    pub cluster: String,
    /// The candidate's mode, figures and comparison there.
    pub candidate: CandidateStatus,
    /// What the rules say of it now.
    pub judgement: Judgement,
}

/// How a rollout ended.
#[derive(Clone, Debug)]
pub struct RolloutEnd {
    /// The candidate's version.
    pub sha256: Sha256Digest,
    /// When.
    pub at: SystemTime,
    /// Promoted, rolled back or withdrawn.
    pub outcome: RolloutOutcome,
    /// Why: the rule broken, "by hand", "the rules passed"…
    pub reason: String,
    /// The clusters' figures at the end.
    pub clusters: Vec<ClusterRollout>,
}

impl Staged {
    /// The candidate on every cluster of `bindings` that has it staged.
    pub(super) fn status(&self, bindings: &[Bound]) -> RolloutStatus {
        let clusters = balancers(bindings)
            .filter_map(|binding| {
                let candidate = binding.candidate()?.status();
                Some(ClusterRollout {
                    cluster: binding.cluster().to_string(),
                    judgement: judged(&candidate),
                    candidate,
                })
            })
            .collect();
        RolloutStatus {
            version: self.version.clone(),
            clusters,
        }
    }
}

/// What the rules say of a candidate on one cluster: rolled back at once when
/// quarantined.
fn judged(candidate: &CandidateStatus) -> Judgement {
    if candidate.quarantined {
        let faults = candidate.stats.faults();
        return Judgement::Rollback(format!("quarantined after {faults} faults"));
    }
    judge(
        &candidate.rules,
        &candidate.mode,
        &candidate.serving,
        &candidate.candidate,
        candidate.elapsed,
    )
}

/// One judgement for the whole rollout: a rollback if any cluster calls for one, a
/// promotion if every cluster does.
fn overall(clusters: &[ClusterRollout]) -> Judgement {
    if let Some((cluster, reason)) = clusters.iter().find_map(|c| match &c.judgement {
        Judgement::Rollback(reason) => Some((&c.cluster, reason)),
        _ => None,
    }) {
        return Judgement::Rollback(format!("cluster {cluster}: {reason}"));
    }
    if !clusters.is_empty() && clusters.iter().all(|c| c.judgement == Judgement::Promote) {
        return Judgement::Promote;
    }
    Judgement::Wait(String::new())
}

fn balancers(bindings: &[Bound]) -> impl Iterator<Item = &Arc<PolicyBinding>> {
    bindings.iter().filter_map(|bound| match bound {
        Bound::Balancer(binding) => Some(binding),
        Bound::Scorer(_) => None,
    })
}

impl PolicyRegistry {
    /// Stages the candidate in `dir/NAME.canary.wasm` for every cluster using `name`,
    /// in `mode` (none: each cluster's configured mode), replacing any staged before
    /// (the admin API's and the CLI's call).
    pub fn stage(&self, name: &str, mode: Option<RolloutMode>) -> ReloadOutcome {
        let outcome = self.stage_named(name, mode, None);
        self.history.push(PolicyEvent::Reload(outcome.clone()));
        outcome
    }

    /// As [`stage`](Self::stage), for the fleet's key: only if the file holds
    /// `sha256`, and the rules' decision then goes to the fleet (see
    /// [`set_fleet_verdicts`](Self::set_fleet_verdicts)). A candidate of that version
    /// staged already stays as it is.
    pub fn stage_for_fleet(
        &self,
        name: &str,
        mode: Option<RolloutMode>,
        sha256: &str,
    ) -> ReloadOutcome {
        let staged = lock(&self.entries)
            .get(name)
            .and_then(|e| e.staged.as_ref())
            .is_some_and(|s| s.steered && s.version.sha256.to_string() == sha256 && s.mode == mode);
        if staged {
            return ReloadOutcome::Unchanged {
                name: name.to_string(),
            };
        }
        let outcome = self.stage_named(name, mode, Some(sha256));
        self.history.push(PolicyEvent::Reload(outcome.clone()));
        outcome
    }

    /// Sends the rules' decisions on candidates staged by the fleet's key to `sink`
    /// (none: there is no fleet, and this proxy's rules decide them).
    pub fn set_fleet_verdicts(&self, sink: Option<VerdictSink>) {
        if sink.is_none() {
            // No fleet any more: this proxy's rules decide its candidates again.
            for staged in lock(&self.entries)
                .values_mut()
                .filter_map(|e| e.staged.as_mut())
            {
                staged.steered = false;
            }
        }
        *lock(&self.fleet_verdicts) = sink;
    }

    /// Whether a dropped `NAME.canary.wasm` is staged at once (on a proxy of a fleet,
    /// the fleet's key stages it).
    pub fn set_stage_dropped_files(&self, on: bool) {
        self.stage_dropped_files
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// The version of the candidate of `name` staged now.
    pub fn staged(&self, name: &str) -> Option<Sha256Digest> {
        lock(&self.entries)
            .get(name)
            .and_then(|e| e.staged.as_ref())
            .map(|s| s.version.sha256)
    }

    /// Stages `dir/NAME.canary.wasm`; for the fleet when it must hold `pinned`.
    fn stage_named(
        &self,
        name: &str,
        mode: Option<RolloutMode>,
        pinned: Option<&str>,
    ) -> ReloadOutcome {
        let _reloading = lock(&self.reloading);
        let Some(dir) = &self.dir else {
            return ReloadOutcome::Failed {
                name: name.to_string(),
                reason: "no policy directory is configured ([policies] dir)".into(),
            };
        };
        let file = dir.join(format!("{name}{CANARY_SUFFIX}.wasm"));
        let started = Instant::now();
        // Nothing was loaded: not a load failure of the policy.
        let bytes = match std::fs::read(&file) {
            Ok(bytes) => bytes,
            Err(e) => {
                return ReloadOutcome::Failed {
                    name: name.to_string(),
                    reason: format!("reading {}: {e}", file.display()),
                };
            }
        };
        let candidate = CandidateFile {
            file: &file,
            bytes: &bytes,
            sha256: Sha256Digest::of(&bytes),
        };
        if let Some(pinned) = pinned {
            let found = candidate.sha256.to_string();
            if found != pinned {
                return ReloadOutcome::Failed {
                    name: name.to_string(),
                    reason: format!(
                        "{} holds sha256 {found}, not the {pinned} the fleet stages",
                        file.display()
                    ),
                };
            }
        }
        lock(&self.refused).remove(&file);
        self.stage_file(name, &candidate, mode, pinned.is_some(), started)
    }

    /// Stages `candidate`, just dropped as a candidate of policy `name` (the
    /// watcher's call): a candidate already staged with the same bytes stays as it is,
    /// and new bytes over a candidate staged in a mode given by hand keep that mode.
    pub(super) fn stage_dropped(
        &self,
        name: &str,
        candidate: &CandidateFile<'_>,
        started: Instant,
    ) -> ReloadOutcome {
        let staged = lock(&self.entries)
            .get(name)
            .and_then(|e| e.staged.as_ref())
            .map(|s| (s.version.sha256 == candidate.sha256, s.mode.clone()));
        match staged {
            Some((true, _)) => ReloadOutcome::Unchanged {
                name: name.to_string(),
            },
            kept => {
                let mode = kept.and_then(|(_, mode)| mode);
                self.stage_file(name, candidate, mode, false, started)
            }
        }
    }

    /// Stages `candidate`, of policy `name`, in `mode` (none: each cluster's
    /// configured mode), for the fleet when `steered`; on a failure, what was staged
    /// before stays.
    fn stage_file(
        &self,
        name: &str,
        candidate: &CandidateFile<'_>,
        mode: Option<RolloutMode>,
        steered: bool,
        started: Instant,
    ) -> ReloadOutcome {
        let file = candidate.file;
        match self.stage_version(name, candidate, mode, steered, started) {
            Ok(version) => {
                tracing::info!(
                    policy = name,
                    file = %file.display(),
                    sha256 = %version.sha256,
                    "policy candidate staged beside the serving version"
                );
                ReloadOutcome::Staged {
                    name: name.to_string(),
                    sha256: version.sha256,
                }
            }
            Err(e) => {
                lock(&self.refused).insert(file.to_path_buf(), candidate.sha256);
                self.failed(name, file, e.to_string())
            }
        }
    }

    /// Builds the candidate, readies it for every cluster using `name` and, only if
    /// all succeed, stages it on them all.
    fn stage_version(
        &self,
        name: &str,
        candidate: &CandidateFile<'_>,
        mode: Option<RolloutMode>,
        steered: bool,
        started: Instant,
    ) -> Result<PolicyVersion, LoadError> {
        let CandidateFile {
            file,
            bytes,
            sha256: digest,
        } = *candidate;
        let (bindings, serving) = lock(&self.entries)
            .get(name)
            .map(|e| (e.bindings.clone(), Some(e.version.sha256)))
            .unwrap_or_default();
        if balancers(&bindings).next().is_none() {
            return Err(LoadError::Rollout(format!(
                "no cluster balances with policy {name:?}: a candidate is tried on the traffic of the clusters using its policy"
            )));
        }
        if serving == Some(digest) {
            return Err(LoadError::Rollout(
                "it is the version serving already".into(),
            ));
        }
        let (component, mut version) =
            self.build(name, bytes, digest, PolicySource::File(file.to_path_buf()))?;
        let Linked::Balancer(balancer) = component else {
            return Err(LoadError::ScorerNotBalancer);
        };
        let prepared = balancers(&bindings)
            .map(|binding| binding.prepare(Arc::clone(&balancer)))
            .collect::<Result<Vec<_>, _>>()?;
        for (binding, next) in balancers(&bindings).zip(prepared) {
            binding.stage(next, mode.clone());
        }
        version.load_time = started.elapsed();
        if let Some(entry) = lock(&self.entries).get_mut(name) {
            entry.staged = Some(Staged {
                version: version.clone(),
                component: balancer,
                file: file.to_path_buf(),
                bytes: Arc::from(bytes),
                mode,
                steered,
                posted: None,
            });
        }
        Ok(version)
    }

    /// Stages the candidate of `name`, if one is staged, on a cluster starting to use
    /// the policy (`bound`): a cluster rebuilt by a configuration reload keeps trying
    /// it. A failure leaves the cluster on the serving version alone.
    pub(super) fn stage_on_new(&self, name: &str, bound: &Bound) {
        let Bound::Balancer(binding) = bound else {
            return;
        };
        let staged = lock(&self.entries)
            .get(name)
            .and_then(|e| e.staged.as_ref())
            .map(|s| (Arc::clone(&s.component), s.mode.clone()));
        let Some((component, mode)) = staged else {
            return;
        };
        match binding.prepare(component) {
            Ok(next) => binding.stage(next, mode),
            Err(e) => tracing::warn!(
                policy = name,
                cluster = binding.cluster(),
                "the staged candidate cannot serve this cluster, which stays on the serving version: {e}"
            ),
        }
    }

    /// The candidate's `file` is gone: it no longer takes part.
    pub(super) fn withdraw(&self, name: &str, file: &Path) -> ReloadOutcome {
        let staged_here = lock(&self.entries)
            .get(name)
            .and_then(|e| e.staged.as_ref())
            .is_some_and(|s| s.file == file);
        if !staged_here {
            return ReloadOutcome::Unchanged {
                name: name.to_string(),
            };
        }
        let _ = self.end(
            name,
            Ending::Withdraw,
            format!("{} was removed", file.display()),
        );
        ReloadOutcome::Withdrawn {
            name: name.to_string(),
        }
    }

    /// Makes the staged candidate of `name` serve (by hand, or as the fleet decided:
    /// `reason` says which). Its version.
    pub fn promote(&self, name: &str, reason: &str) -> Result<Sha256Digest, String> {
        let _reloading = lock(&self.reloading);
        self.end(name, Ending::Promote, reason.to_string())
    }

    /// Drops the staged candidate of `name`, for `reason`. Its version.
    pub fn roll_back(&self, name: &str, reason: &str) -> Result<Sha256Digest, String> {
        let _reloading = lock(&self.reloading);
        self.end(name, Ending::RollBack, reason.to_string())
    }

    /// Judges every rollout by its clusters' rules, and promotes or rolls back those
    /// the rules decide (the rollout judge's call, about once a second); a decision on
    /// a candidate the fleet staged goes to the fleet instead.
    pub fn judge_rollouts(&self) {
        let _reloading = lock(&self.reloading);
        let mut decided = Vec::new();
        let mut for_fleet = Vec::new();
        for (name, entry) in lock(&self.entries).iter_mut() {
            let Some(staged) = entry.staged.as_mut() else {
                continue;
            };
            let judgement = match overall(&staged.status(&entry.bindings).clusters) {
                Judgement::Wait(_) => continue,
                judgement => judgement,
            };
            if !staged.steered {
                decided.push((name.clone(), judgement));
            } else if staged.posted.is_none_or(|at| at.elapsed() >= REPOST_AFTER) {
                staged.posted = Some(Instant::now());
                for_fleet.push(FleetVerdict {
                    policy: name.clone(),
                    sha256: staged.version.sha256,
                    judgement,
                });
            }
        }
        let sink = lock(&self.fleet_verdicts).clone();
        for verdict in for_fleet {
            tracing::info!(policy = verdict.policy.as_str(), sha256 = %verdict.sha256, "rollout decided here: {:?}; the fleet applies it", verdict.judgement);
            match &sink {
                Some(sink) => sink(verdict),
                None => tracing::warn!(
                    policy = verdict.policy.as_str(),
                    "no fleet to take the rollout's decision; it waits"
                ),
            }
        }
        for (name, judgement) in decided {
            let _ = match judgement {
                Judgement::Promote => self.end(&name, Ending::Promote, "the rules passed".into()),
                Judgement::Rollback(reason) => self.end(&name, Ending::RollBack, reason),
                Judgement::Wait(_) => continue,
            };
        }
    }

    /// Ends the rollout of `name` as `ending` says, for `reason` (logged and kept for
    /// the status): promoted, the candidate serves every cluster and its bytes become
    /// `NAME.wasm`; rolled back, the serving version answers everything again and the
    /// candidate's file, if it still holds what was tried, becomes
    /// `NAME.canary.rejected` (else it is refused until it changes); withdrawn, the
    /// same, leaving the file alone. The candidate's version.
    fn end(&self, name: &str, ending: Ending, reason: String) -> Result<Sha256Digest, String> {
        let readied = match ending {
            Ending::Promote => match self.ready_the_rest(name) {
                Ok(readied) => readied,
                // A version that cannot serve every cluster using the policy is not
                // promoted.
                Err(cannot) => return self.end(name, Ending::RollBack, cannot),
            },
            Ending::RollBack | Ending::Withdraw => Vec::new(),
        };
        let mut entries = lock(&self.entries);
        let entry = entries
            .get_mut(name)
            .ok_or_else(|| format!("no policy named {name:?} is loaded"))?;
        let staged = entry
            .staged
            .take()
            .ok_or_else(|| format!("no candidate of policy {name:?} is staged"))?;
        let clusters = staged.status(&entry.bindings).clusters;
        let bindings: Vec<Arc<PolicyBinding>> = balancers(&entry.bindings).cloned().collect();
        let sha256 = staged.version.sha256;
        if ending == Ending::Promote {
            entry.version = PolicyVersion {
                loaded_at: SystemTime::now(),
                ..staged.version.clone()
            };
            entry.component = Linked::Balancer(Arc::clone(&staged.component));
        }
        entry.last_rollout = Some(RolloutEnd {
            sha256,
            at: SystemTime::now(),
            outcome: ending.outcome(),
            reason: reason.clone(),
            clusters,
        });
        drop(entries);
        self.history.push(PolicyEvent::Rollout {
            name: name.to_string(),
            sha256,
            outcome: ending.outcome(),
            reason: reason.clone(),
        });
        for binding in &bindings {
            if ending == Ending::Promote {
                binding.promote();
            } else {
                binding.unstage();
            }
        }
        // Clusters the candidate was not staged on take it as readied.
        for (binding, next) in readied {
            binding.install(Arc::new(next));
        }
        let holds_candidate = Sha256Digest::of_file(&staged.file) == Some(sha256);
        match ending {
            Ending::Promote => self.keep_promoted(name, &staged, holds_candidate),
            Ending::RollBack if holds_candidate => {
                let rejected = staged.file.with_extension(REJECTED_EXTENSION);
                if let Err(e) = std::fs::rename(&staged.file, &rejected) {
                    tracing::warn!(
                        policy = name,
                        file = %staged.file.display(),
                        "rolled back, but not renamed to {}: {e}; it is not staged again until it changes",
                        rejected.display()
                    );
                    lock(&self.refused).insert(staged.file.clone(), sha256);
                }
            }
            Ending::RollBack | Ending::Withdraw => {}
        }
        match ending {
            Ending::Promote => {
                tracing::info!(policy = name, sha256 = %sha256, "policy candidate promoted: {reason}");
            }
            Ending::RollBack | Ending::Withdraw => {
                tracing::warn!(policy = name, sha256 = %sha256, "policy candidate rolled back: {reason}");
            }
        }
        Ok(sha256)
    }

    /// The candidate of `name` readied for each cluster using the policy without it
    /// staged (it failed there, or the cluster came later), for a promotion; why not,
    /// when it cannot serve one of them.
    fn ready_the_rest(
        &self,
        name: &str,
    ) -> Result<Vec<(Arc<PolicyBinding>, ClusterPolicy)>, String> {
        let (bindings, component) = {
            let entries = lock(&self.entries);
            let Some((entry, staged)) = entries
                .get(name)
                .and_then(|e| Some((e, e.staged.as_ref()?)))
            else {
                // Nothing staged: `end` says so.
                return Ok(Vec::new());
            };
            let bindings: Vec<Arc<PolicyBinding>> = balancers(&entry.bindings)
                .filter(|binding| binding.candidate().is_none())
                .cloned()
                .collect();
            (bindings, Arc::clone(&staged.component))
        };
        bindings
            .into_iter()
            .map(|binding| match binding.prepare(Arc::clone(&component)) {
                Ok(next) => Ok((binding, next)),
                Err(e) => Err(format!(
                    "it cannot serve cluster {}: {e}",
                    binding.cluster()
                )),
            })
            .collect()
    }

    /// Makes the promoted candidate's bytes `NAME.wasm`, so that it serves after a
    /// restart: its file renamed when it still holds them (`holds_candidate`), else
    /// the bytes written anew (the file changed since; it is left alone).
    fn keep_promoted(&self, name: &str, staged: &Staged, holds_candidate: bool) {
        let serving = staged.file.with_file_name(format!("{name}.wasm"));
        let kept = if holds_candidate {
            std::fs::rename(&staged.file, &serving)
        } else {
            // Hidden while written: the watcher ignores it until it is whole.
            let temp = staged
                .file
                .with_file_name(format!(".{name}.wasm.promoting"));
            std::fs::write(&temp, &*staged.bytes).and_then(|()| std::fs::rename(&temp, &serving))
        };
        match kept {
            Ok(()) => {
                if let Some(entry) = lock(&self.entries).get_mut(name) {
                    entry.version.source = PolicySource::File(serving);
                }
            }
            Err(e) => tracing::error!(
                policy = name,
                file = %staged.file.display(),
                "promoted, but not kept as {}: {e}; after a restart the version before would serve",
                serving.display()
            ),
        }
    }

    /// The serving version of `name` changed during its rollout: the candidate is
    /// staged again against it, with fresh figures (or ends, if it cannot be).
    pub(super) fn rebase(&self, name: &str) {
        let staged = lock(&self.entries).get(name).and_then(|e| {
            let s = e.staged.as_ref()?;
            Some((
                s.file.clone(),
                Arc::clone(&s.bytes),
                s.mode.clone(),
                s.steered,
            ))
        });
        let Some((file, bytes, mode, steered)) = staged else {
            return;
        };
        let ended = self.end(
            name,
            Ending::Withdraw,
            "the serving version changed; the candidate is staged again against it".into(),
        );
        let Ok(sha256) = ended else {
            return;
        };
        let candidate = CandidateFile {
            file: &file,
            bytes: &bytes,
            sha256,
        };
        let staged = self.stage_version(name, &candidate, mode, steered, Instant::now());
        if let Err(e) = staged {
            tracing::warn!(policy = name, "candidate not staged again: {e}");
        }
    }
}
