//! A cluster's tie to its policy: the version serving it now, replaced atomically when
//! a new version loads. Requests already holding the old version finish on it. The
//! version before stays at hand: when the serving one faults or is quarantined, it
//! answers instead of the host's round-robin.

use crate::balancer::candidate::Candidate;
use crate::balancer::component::PolicyComponent;
use crate::balancer::rollout::{RolloutMode, RolloutSettings};
use crate::balancer::{ClusterPolicy, Pick, PickSource, RequestView};
use crate::cluster::{Membership, MetricCatalog, PickHistogram};
use crate::engine::{LoadError, PolicyLimits};
use arc_swap::{ArcSwap, ArcSwapOption, Guard};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// How a cluster uses its policy; the same for every version of it.
#[derive(Clone, Debug)]
pub struct PolicySetup {
    /// The cluster's name.
    pub cluster: String,
    /// The policy's name: a built-in, or the stem of `NAME.wasm` in the policy directory.
    pub policy: String,
    /// Key/values for the policy's `init`.
    pub config: Vec<(String, String)>,
    /// The proxy's locality zone.
    pub zone: String,
    /// Sandbox limits.
    pub limits: PolicyLimits,
    /// Instances to prepare before a version serves (one per worker thread, and one
    /// spare for the membership hand-over).
    pub prewarm: usize,
    /// The metrics the cluster's endpoints report, when it collects any.
    pub reported: Option<Arc<MetricCatalog>>,
    /// How candidates of the policy are tried, promoted and rolled back.
    pub rollout: RolloutSettings,
}

/// The policy version serving one cluster.
pub struct PolicyBinding {
    cluster: String,
    /// Replaced when the cluster switches to another policy.
    setup: Mutex<PolicySetup>,
    active: ArcSwap<ClusterPolicy>,
    /// The last version replaced while it was not quarantined.
    previous: ArcSwapOption<ClusterPolicy>,
    /// A candidate version staged beside the serving one.
    candidate: ArcSwapOption<Candidate>,
    /// Whether `candidate` is set: one relaxed load on every pick instead of a swap
    /// guard.
    staged: AtomicBool,
    /// Held while the membership changes or a version is installed, so that no
    /// version misses a change.
    changing: Mutex<()>,
    /// Durations of sampled picks.
    pick_durations: PickHistogram,
}

/// One pick in this many is timed (a clock read costs about a tenth of a pick).
const TIME_ONE_PICK_IN: u32 = 8;

/// Whether this thread's next pick is one to time.
fn timed() -> bool {
    thread_local! {
        static PICKS: Cell<u32> = const { Cell::new(0) };
    }
    PICKS.with(|picks| {
        let n = picks.get().wrapping_add(1);
        picks.set(n);
        n.is_multiple_of(TIME_ONE_PICK_IN)
    })
}

impl PolicyBinding {
    /// Starts `component` for the cluster on `membership`.
    pub(crate) fn new(
        setup: PolicySetup,
        component: Arc<PolicyComponent>,
        membership: Arc<Membership>,
    ) -> Result<Self, LoadError> {
        let policy = start(&setup, component, membership)?;
        Ok(Self {
            cluster: setup.cluster.clone(),
            setup: Mutex::new(setup),
            active: ArcSwap::from_pointee(policy),
            previous: ArcSwapOption::empty(),
            candidate: ArcSwapOption::empty(),
            staged: AtomicBool::new(false),
            changing: Mutex::new(()),
            pick_durations: PickHistogram::default(),
        })
    }

    /// The cluster's name.
    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// How the cluster uses its policy now.
    pub fn setup(&self) -> PolicySetup {
        self.lock_setup().clone()
    }

    /// The name of the cluster's policy now.
    pub fn policy_name(&self) -> String {
        self.lock_setup().policy.clone()
    }

    fn lock_setup(&self) -> std::sync::MutexGuard<'_, PolicySetup> {
        self.setup.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Switches the cluster to `component`, used as `setup` says (another policy, or
    /// the same with another configuration): started on the current membership and
    /// serving from the next pick; the version it replaces stays at hand as the
    /// previous one. A candidate staged for the old policy is dropped.
    pub(crate) fn switch(
        &self,
        setup: PolicySetup,
        component: Arc<PolicyComponent>,
    ) -> Result<(), LoadError> {
        let next = start(&setup, component, self.active.load().membership())?;
        self.unstage();
        self.install(Arc::new(next));
        *self.lock_setup() = setup;
        Ok(())
    }

    /// The version serving now. Cheap: no lock, no reference count.
    pub fn current(&self) -> Guard<Arc<ClusterPolicy>> {
        self.active.load()
    }

    /// Chooses endpoints for `request` with the serving version (or, on its share, a
    /// canary). When it faults or is quarantined, the previous version answers if it
    /// can; else the host's round-robin does (see [`ClusterPolicy::pick`]).
    pub fn pick(&self, request: &impl RequestView) -> Pick {
        if !timed() {
            return self.choose(request);
        }
        let started = Instant::now();
        let pick = self.choose(request);
        self.pick_durations.record(started.elapsed());
        pick
    }

    /// How long picks take, from one pick in eight.
    pub fn pick_durations(&self) -> &PickHistogram {
        &self.pick_durations
    }

    fn choose<R: RequestView>(&self, request: &R) -> Pick {
        if self.staged.load(Relaxed)
            && let Some(candidate) = &*self.candidate.load()
        {
            return candidate.choose(request, |request| self.serve(request));
        }
        self.serve(request)
    }

    /// The serving version's pick, or the previous version's when it faults.
    fn serve(&self, request: &impl RequestView) -> Pick {
        let pick = self.active.load().pick(request);
        if pick.source == PickSource::Policy {
            return pick;
        }
        match &*self.previous.load() {
            Some(previous) if !previous.is_quarantined() => {
                let earlier = previous.pick(request);
                if earlier.source == PickSource::Policy {
                    return Pick {
                        source: PickSource::PreviousVersion,
                        ..earlier
                    };
                }
                pick
            }
            _ => pick,
        }
    }

    /// Readies `component` to succeed the current version: initialised, smoke-picked on
    /// the cluster's real membership, given the current version's state, instances
    /// prewarmed. Nothing serves it until [`install`](Self::install).
    pub(crate) fn prepare(
        &self,
        component: Arc<PolicyComponent>,
    ) -> Result<ClusterPolicy, LoadError> {
        let current = self.active.load_full();
        let next = start(&self.setup(), component, current.membership())?;
        if let Some(state) = current.save_state() {
            next.restore_state(state).map_err(LoadError::Smoke)?;
        }
        Ok(next)
    }

    /// Replaces the membership the serving version, the one before it and a staged
    /// candidate pick from.
    pub fn set_membership(&self, membership: Arc<Membership>) {
        let _changing = self.lock_changing();
        // The serving version first: the others answer fewer picks.
        self.active
            .load_full()
            .set_membership(Arc::clone(&membership));
        if let Some(candidate) = self.candidate.load_full() {
            candidate.set_membership(Arc::clone(&membership));
        }
        if let Some(previous) = self.previous.load_full() {
            previous.set_membership(membership);
        }
    }

    fn lock_changing(&self) -> std::sync::MutexGuard<'_, ()> {
        self.changing.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes `next` the serving version: the next pick uses it.
    pub(crate) fn install(&self, next: Arc<ClusterPolicy>) {
        let _changing = self.lock_changing();
        self.catch_up(&next);
        let replaced = self.active.swap(next);
        if !replaced.is_quarantined() {
            self.previous.store(Some(replaced));
        }
    }

    /// Gives `next` the membership if it changed while `next` was being prepared.
    fn catch_up(&self, next: &ClusterPolicy) {
        let membership = self.active.load().membership();
        if next.membership().generation() != membership.generation() {
            next.set_membership(membership);
        }
    }

    /// Stages `next` (from [`prepare`](Self::prepare)) as a candidate beside the
    /// serving version, in `mode` or the cluster's configured one, replacing any
    /// candidate staged before.
    pub(crate) fn stage(&self, next: ClusterPolicy, mode: Option<RolloutMode>) {
        let settings = self.setup().rollout;
        let serving = self.active.load().component().sha256().to_string();
        let _changing = self.lock_changing();
        self.catch_up(&next);
        let candidate = Candidate::new(
            &self.cluster,
            next,
            &serving,
            mode.unwrap_or(settings.mode),
            settings.sticky,
            settings.rules,
        );
        self.candidate.store(Some(Arc::new(candidate)));
        self.staged.store(true, Relaxed);
    }

    /// The candidate staged, if any.
    pub fn candidate(&self) -> Option<Arc<Candidate>> {
        self.candidate.load_full()
    }

    /// Drops the staged candidate (a rollback): the serving version answers every pick
    /// from the next on. The candidate, if there was one.
    pub(crate) fn unstage(&self) -> Option<Arc<Candidate>> {
        self.staged.store(false, Relaxed);
        self.candidate.swap(None)
    }

    /// Makes the staged candidate, if any, the serving version.
    pub(crate) fn promote(&self) {
        if let Some(candidate) = self.unstage() {
            self.install(Arc::clone(candidate.policy()));
        }
    }
}

fn start(
    setup: &PolicySetup,
    component: Arc<PolicyComponent>,
    membership: Arc<Membership>,
) -> Result<ClusterPolicy, LoadError> {
    let policy = ClusterPolicy::new(
        component,
        &setup.cluster,
        &setup.config,
        &setup.zone,
        setup.limits,
        membership,
        setup.reported.as_deref(),
    )?;
    policy.prewarm(setup.prewarm);
    Ok(policy)
}
