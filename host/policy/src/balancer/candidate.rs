//! A candidate version staged beside the one serving a cluster: in canary mode it
//! answers a share of picks (the serving version answers whenever it faults), in
//! shadow mode it is only asked, off the request path. Picks made while it is staged
//! carry the tally of the version that made them.

use crate::balancer::cluster_policy::{ClusterPolicy, Pick, PickSource};
use crate::balancer::request::{RequestView, hash_of};
use crate::balancer::rollout::{RolloutMode, RolloutRules};
use crate::balancer::shadow::{Shadow, ShadowReport};
use crate::balancer::tally::{TallySnapshot, VersionTally};
use crate::cluster::Membership;
use crate::engine::{HashSource, PolicyStats};
use crate::random::draw;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use switchyard_policy_sdk::mix64;

/// A staged candidate of one cluster's policy.
pub struct Candidate {
    policy: Arc<ClusterPolicy>,
    mode: RolloutMode,
    sticky: Option<HashSource>,
    rules: RolloutRules,
    since: Instant,
    since_wall: SystemTime,
    serving: Arc<VersionTally>,
    tried: Arc<VersionTally>,
    /// In canary mode, a request whose draw falls below this goes to the candidate.
    below: u64,
    shadow: Option<Shadow>,
}

/// A candidate's state, as `/policies` and metrics report it.
#[derive(Clone, Debug)]
pub struct CandidateStatus {
    /// The candidate's version (hex sha256).
    pub version: String,
    /// The serving version's, when it was staged.
    pub serving_version: String,
    /// Shadow or canary, with its share.
    pub mode: RolloutMode,
    /// When it was staged.
    pub since: SystemTime,
    /// How long it has been staged.
    pub elapsed: Duration,
    /// The serving version's requests since then (canary mode).
    pub serving: TallySnapshot,
    /// The candidate's (canary mode).
    pub candidate: TallySnapshot,
    /// The comparison of its shadow picks (shadow mode).
    pub shadow: Option<ShadowReport>,
    /// The candidate's pick and fault counters.
    pub stats: PolicyStats,
    /// Whether its faults quarantined it.
    pub quarantined: bool,
    /// The rules it is judged by.
    pub rules: RolloutRules,
}

impl Candidate {
    /// Stages `policy` for `cluster` beside the version serving, whose version is
    /// `serving_version`, in `mode` (`sticky` keeps a user on one version in canary
    /// mode), to be judged by `rules`.
    pub(crate) fn new(
        cluster: &str,
        policy: ClusterPolicy,
        serving_version: &str,
        mode: RolloutMode,
        sticky: Option<HashSource>,
        rules: RolloutRules,
    ) -> Self {
        let policy = Arc::new(policy);
        let below = share_below(&mode);
        let shadow = match mode {
            RolloutMode::Shadow { .. } => Some(Shadow::start(cluster, Arc::clone(&policy), below)),
            RolloutMode::Canary { .. } => None,
        };
        let tried = Arc::new(VersionTally::new(policy.component().sha256().to_string()));
        Self {
            below,
            serving: Arc::new(VersionTally::new(serving_version.to_string())),
            tried,
            policy,
            mode,
            sticky,
            rules,
            since: Instant::now(),
            since_wall: SystemTime::now(),
            shadow,
        }
    }

    /// Picks for `request`: the candidate on its share in canary mode, else `serve`
    /// (the serving version); the pick carries the tally of whoever made it.
    pub(crate) fn choose<R: RequestView>(
        &self,
        request: &R,
        serve: impl FnOnce(&R) -> Pick,
    ) -> Pick {
        if let Some(shadow) = &self.shadow {
            let pick = serve(request);
            shadow.offer(&self.policy, request, &pick.endpoints, &pick.membership);
            return pick;
        }
        if self.answers(request) {
            let pick = self.policy.pick(request);
            if pick.source == PickSource::Policy {
                return Pick {
                    tally: Some(Arc::clone(&self.tried)),
                    ..pick
                };
            }
            // The serving version answers; the fault counts against the candidate.
            self.tried.record_fault();
        }
        Pick {
            tally: Some(Arc::clone(&self.serving)),
            ..serve(request)
        }
    }

    /// Whether the candidate answers `request` in canary mode: by its sticky key when
    /// it has one (spread over all of u64, so that its share does not follow how a
    /// route's split used the same key), else at random.
    fn answers(&self, request: &impl RequestView) -> bool {
        let key = self
            .sticky
            .as_ref()
            .and_then(|source| hash_of(source, request))
            .map_or_else(draw, mix64);
        key < self.below
    }

    /// The staged version.
    pub fn policy(&self) -> &Arc<ClusterPolicy> {
        &self.policy
    }

    /// Gives the candidate the cluster's new membership.
    pub(crate) fn set_membership(&self, membership: Arc<Membership>) {
        self.policy.set_membership(membership);
    }

    /// Its state now.
    pub fn status(&self) -> CandidateStatus {
        CandidateStatus {
            version: self.tried.version().to_string(),
            serving_version: self.serving.version().to_string(),
            mode: self.mode.clone(),
            since: self.since_wall,
            elapsed: self.since.elapsed(),
            serving: self.serving.snapshot(),
            candidate: self.tried.snapshot(),
            shadow: self.shadow.as_ref().map(Shadow::report),
            stats: self.policy.stats(),
            quarantined: self.policy.is_quarantined(),
            rules: self.rules.clone(),
        }
    }

    /// The tallies of the serving version and of the candidate, for metrics.
    pub fn tallies(&self) -> [&VersionTally; 2] {
        [&self.serving, &self.tried]
    }
}

/// The draw below which a request falls into the mode's share.
fn share_below(mode: &RolloutMode) -> u64 {
    (mode.share().clamp(0.0, 1.0) * u64::MAX as f64) as u64
}
