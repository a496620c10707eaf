//! A cluster's tie to its health scorer. The cluster's health task runs the instance;
//! this hands it the instances of new versions, restarts it after a fault, and
//! quarantines a version that keeps faulting.

use crate::cluster::Membership;
use crate::engine::PolicyStats;
use crate::engine::faults::FaultLog;
use crate::engine::{Fault, LoadError, PolicyLimits};
use crate::scorer::component::{ScorerComponent, ScorerInstance};
use arc_swap::ArcSwap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// How a cluster uses its health scorer; the same for every version of it.
#[derive(Clone, Debug)]
pub struct ScorerSetup {
    /// The cluster's name.
    pub cluster: String,
    /// The scorer's name: a built-in, or the stem of `NAME.wasm` in the policy directory.
    pub policy: String,
    /// Key/values for the scorer's `init`.
    pub config: Vec<(String, String)>,
    /// Sandbox limits; `pick_deadline` bounds each `observe`.
    pub limits: PolicyLimits,
}

/// A newly loaded scorer version, started and ready to serve.
pub(crate) struct PreparedScorer {
    component: Arc<ScorerComponent>,
    instance: ScorerInstance,
}

/// The health-scorer version serving one cluster.
pub struct ScorerBinding {
    setup: ScorerSetup,
    component: ArcSwap<ScorerComponent>,
    /// The membership last given to the scorer; new versions start on it.
    membership: ArcSwap<Membership>,
    /// An instance of a version installed since the health task last looked.
    pending: Mutex<Option<ScorerInstance>>,
    /// Faults of the serving version.
    faults: ArcSwap<FaultLog>,
    answered: AtomicU64,
    lost: AtomicU64,
}

impl ScorerBinding {
    /// Starts `component` for the cluster on `membership`; the health task takes the
    /// instance with [`take_new`](Self::take_new).
    pub(crate) fn new(
        setup: ScorerSetup,
        component: Arc<ScorerComponent>,
        membership: Arc<Membership>,
    ) -> Result<Self, LoadError> {
        let instance = ScorerInstance::start(
            &component,
            &setup.cluster,
            &setup.config,
            &setup.limits,
            &membership,
        )?;
        Ok(Self {
            setup,
            component: ArcSwap::new(component),
            membership: ArcSwap::new(membership),
            pending: Mutex::new(Some(instance)),
            faults: ArcSwap::default(),
            answered: AtomicU64::new(0),
            lost: AtomicU64::new(0),
        })
    }

    /// How the cluster uses its scorer.
    pub fn setup(&self) -> &ScorerSetup {
        &self.setup
    }

    /// The serving version's name.
    pub fn name(&self) -> String {
        self.component.load().name().to_string()
    }

    /// Readies `component` to succeed the serving version, on the current membership.
    pub(crate) fn prepare(
        &self,
        component: Arc<ScorerComponent>,
    ) -> Result<PreparedScorer, LoadError> {
        let instance = self.start(&component)?;
        Ok(PreparedScorer {
            component,
            instance,
        })
    }

    /// Makes `next` the serving version; the health task takes it at its next step. The
    /// new version starts with no memory of the old one's judgements.
    pub(crate) fn install(&self, next: PreparedScorer) {
        self.component.store(next.component);
        self.faults.store(Arc::default());
        *self.pending.lock().unwrap_or_else(|e| e.into_inner()) = Some(next.instance);
    }

    /// The instance of a version installed since the last call, if any.
    pub fn take_new(&self) -> Option<ScorerInstance> {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// Records the membership the scorer was given, for versions started later.
    pub fn set_membership(&self, membership: Arc<Membership>) {
        self.membership.store(membership);
    }

    /// Counts a call that answered.
    pub fn answered(&self) {
        self.answered.fetch_add(1, Relaxed);
    }

    /// Counts `fault`, which cost the call's observation; after too many, quarantines
    /// the version. Unless quarantined, a fresh instance of the serving version (its
    /// state lost) is returned to carry on with; one that cannot be started
    /// quarantines the version too.
    pub fn fault(&self, fault: &Fault) -> Option<ScorerInstance> {
        self.lost.fetch_add(1, Relaxed);
        let name = self.name();
        let cluster = self.setup.cluster.as_str();
        let faults = self.faults.load();
        if faults.record(fault, &self.setup.limits, &name, cluster) {
            tracing::error!(
                policy = name.as_str(),
                cluster,
                "health scorer quarantined: its last verdicts stand (timed ejections end on time) until a new version loads"
            );
        }
        if faults.is_quarantined() {
            return None;
        }
        match self.start(&self.component.load_full()) {
            Ok(instance) => Some(instance),
            Err(e) => {
                faults.quarantine();
                tracing::error!(
                    policy = name.as_str(),
                    cluster,
                    "health scorer could not be restarted, so it is quarantined: {e}"
                );
                None
            }
        }
    }

    /// True once repeated faults have quarantined the serving version.
    pub fn is_quarantined(&self) -> bool {
        self.faults.load().is_quarantined()
    }

    /// Counters: `picks` counts calls answered, `fallbacks` calls lost to faults.
    pub fn stats(&self) -> PolicyStats {
        let faults = self.faults.load().counts();
        PolicyStats {
            picks: self.answered.load(Relaxed),
            fallbacks: self.lost.load(Relaxed),
            traps: faults.traps,
            deadlines: faults.deadlines,
            memory: faults.memory,
            invalid_answers: faults.invalid_answers,
        }
    }

    fn start(&self, component: &ScorerComponent) -> Result<ScorerInstance, LoadError> {
        ScorerInstance::start(
            component,
            &self.setup.cluster,
            &self.setup.config,
            &self.setup.limits,
            &self.membership.load(),
        )
    }
}
