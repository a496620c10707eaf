//! A policy version bound to one cluster: a pool of instances, the membership they see,
//! and the fallback, fault counting and quarantine that keep requests flowing when the
//! policy misbehaves.

use crate::balancer::component::PolicyComponent;
use crate::balancer::instance::{Delivery, Instance};
use crate::balancer::pool::{InstancePool, Pooled};
use crate::balancer::request::{RequestInfo, RequestView, to_wit};
use crate::balancer::tally::VersionTally;
use crate::cluster::{EndpointId, Membership, MetricCatalog};
use crate::engine::faults::FaultLog;
use crate::engine::world::{Candidates, Needs, Setup};
use crate::engine::{Fault, LoadError, PolicyLimits, PolicyStats};
use arc_swap::ArcSwap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

/// Idle instances kept per cluster policy; more than the proxy has worker threads.
const POOL: usize = 64;
/// Entries in a fallback preference list.
const FALLBACK_CHOICES: usize = 3;
/// Most request headers a policy may ask to see.
const MAX_NEEDED_HEADERS: usize = 64;
/// Largest state a version may hand to its successor.
pub const MAX_STATE_BYTES: usize = 1 << 20;

/// What a pick answered, and whether the policy or the host's fallback chose it.
#[derive(Clone, Debug)]
pub struct Pick {
    /// Endpoints in order of preference; empty only when the cluster is.
    pub endpoints: Preference,
    /// Who chose.
    pub source: PickSource,
    /// The membership the choice was made from: where the ids lead.
    pub membership: Arc<Membership>,
    /// While a rollout compares two versions, the tally of the one that made this
    /// pick: the request's outcome is counted there.
    pub tally: Option<Arc<VersionTally>>,
}

/// Up to [`Preference::CAPACITY`] endpoint ids in order of preference, held inline so
/// that a pick allocates nothing. Reads as a slice.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Preference {
    ids: [EndpointId; Preference::CAPACITY],
    len: u8,
}

impl Preference {
    /// The most ids a preference holds: what the WIT `preference` record carries.
    pub const CAPACITY: usize = 4;

    /// The first [`CAPACITY`](Self::CAPACITY) of `ids`.
    pub fn new(ids: impl IntoIterator<Item = EndpointId>) -> Self {
        let mut preference = Self::default();
        for id in ids.into_iter().take(Self::CAPACITY) {
            preference.ids[usize::from(preference.len)] = id;
            preference.len += 1;
        }
        preference
    }
}

impl std::ops::Deref for Preference {
    type Target = [EndpointId];

    fn deref(&self) -> &[EndpointId] {
        &self.ids[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for Preference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq<Vec<EndpointId>> for Preference {
    fn eq(&self, other: &Vec<EndpointId>) -> bool {
        **self == **other
    }
}

/// Who made a pick.
#[derive(Clone, Debug, PartialEq)]
pub enum PickSource {
    /// The policy.
    Policy,
    /// The host's built-in round-robin, because the policy faulted on this pick.
    Fallback(Fault),
    /// The host's built-in round-robin, because the policy is quarantined.
    Quarantined,
    /// The version that served before this one, because this one faulted or is
    /// quarantined (see [`PolicyBinding::pick`](crate::balancer::PolicyBinding::pick)).
    PreviousVersion,
}

/// A balancer serving one cluster.
pub struct ClusterPolicy {
    component: Arc<PolicyComponent>,
    setup: Setup,
    needs: Needs,
    delivery: Delivery,
    limits: PolicyLimits,
    membership: ArcSwap<Membership>,
    pool: InstancePool,
    fallback_next: AtomicUsize,
    picks: AtomicU64,
    fallbacks: AtomicU64,
    faults: FaultLog,
    /// What the predecessor version handed over; every new instance restores it.
    inherited: OnceLock<Vec<u8>>,
}

impl ClusterPolicy {
    /// Starts `component` for cluster `cluster` with its `config`: one instance is
    /// created, initialised, given `membership` and, when there are members, asked for a
    /// smoke pick. The metrics it declares must be among those the cluster collects
    /// (`reported`). Any problem is a [`LoadError`] and nothing is left running.
    pub fn new(
        component: Arc<PolicyComponent>,
        cluster: &str,
        config: &[(String, String)],
        local_zone: &str,
        limits: PolicyLimits,
        membership: Arc<Membership>,
        reported: Option<&MetricCatalog>,
    ) -> Result<Self, LoadError> {
        let setup = Setup {
            cluster: cluster.to_string(),
            local_zone: local_zone.to_string(),
            config: config.to_vec(),
        };
        let mut instance = Instance::start(&component, &limits, Arc::clone(&membership))
            .map_err(LoadError::Smoke)?;
        let needs = instance
            .init(&setup)
            .map_err(LoadError::Smoke)?
            .map_err(LoadError::Config)?;
        if needs.headers.len() > MAX_NEEDED_HEADERS {
            return Err(LoadError::Config(format!(
                "the policy asks for {} request headers; at most {MAX_NEEDED_HEADERS}",
                needs.headers.len()
            )));
        }
        let delivery = Delivery {
            headers: !needs.headers.is_empty(),
            candidates: needs.candidates,
            slots: metric_slots(&needs.metrics, reported).map_err(LoadError::Config)?,
        };
        instance.deliver(&delivery);
        instance.sync(&membership).map_err(LoadError::Smoke)?;
        if !membership.is_empty() {
            // A policy watching endpoints is tried again with what it watched.
            let smoke_picks = if matches!(needs.candidates, Candidates::Watched) {
                2
            } else {
                1
            };
            for _ in 0..smoke_picks {
                let mut request = to_wit(&needs, &RequestInfo::get("/"));
                let answer = instance.pick(&mut request).map_err(LoadError::Smoke)?;
                validate(&answer, &membership).map_err(LoadError::Smoke)?;
            }
        }
        let policy = Self {
            component,
            setup,
            needs,
            delivery,
            limits,
            membership: ArcSwap::new(membership),
            pool: InstancePool::new(POOL),
            fallback_next: AtomicUsize::new(0),
            picks: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
            faults: FaultLog::default(),
            inherited: OnceLock::new(),
        };
        policy.pool.put(policy.pool.adopt(instance));
        Ok(policy)
    }

    /// The membership picks currently see.
    pub fn membership(&self) -> Arc<Membership> {
        self.membership.load_full()
    }

    /// Replaces the membership and hands it to every instance, one at a time, on the
    /// calling thread. Picks meanwhile never wait for it: one that takes an instance
    /// not reached yet answers from the membership that instance has.
    pub fn set_membership(&self, membership: Arc<Membership>) {
        let _handing_over = self.pool.begin_handover();
        self.membership.store(Arc::clone(&membership));
        self.pool
            .hand_over(&membership, |fault| self.record_fault(&fault));
    }

    /// Creates instances until `n` are idle, so that the first requests on every worker
    /// do not pay for instantiation.
    pub fn prewarm(&self, n: usize) {
        while self.pool.idle() < n.min(POOL) {
            match self.start_instance(&self.membership.load_full()) {
                Ok(instance) => {
                    if !self.pool.put_spare(instance) {
                        break;
                    }
                }
                Err(fault) => {
                    self.record_fault(&fault);
                    break;
                }
            }
        }
    }

    /// The state an idle instance hands to the next version, if it has any to hand
    /// over (empty or over [`MAX_STATE_BYTES`] counts as none). A fault here is
    /// counted and the successor starts fresh.
    pub fn save_state(&self) -> Option<Vec<u8>> {
        let mut pooled = self.pool.take()?;
        match pooled.instance.save_state() {
            Ok(state) => {
                self.pool.put(pooled);
                if state.len() > MAX_STATE_BYTES {
                    tracing::warn!(
                        policy = self.component.name(),
                        cluster = self.setup.cluster.as_str(),
                        bytes = state.len(),
                        "policy state not handed over: larger than {MAX_STATE_BYTES} bytes"
                    );
                    return None;
                }
                (!state.is_empty()).then_some(state)
            }
            // Not counted against this version: it serves on unharmed (the trapped
            // instance is dropped) while its successor starts fresh.
            Err(fault) => {
                tracing::warn!(
                    policy = self.component.name(),
                    cluster = self.setup.cluster.as_str(),
                    "policy state not handed over: save-state {fault}"
                );
                None
            }
        }
    }

    /// Gives every instance, now and later, the state a predecessor saved. Call it
    /// once, before the policy serves; a second call is ignored. A fault means this
    /// version cannot take the state (every new instance would fault the same way).
    pub fn restore_state(&self, state: Vec<u8>) -> Result<(), Fault> {
        if self.inherited.set(state).is_err() {
            return Ok(());
        }
        let mut restored = Vec::with_capacity(self.pool.idle());
        while let Some(mut pooled) = self.pool.take() {
            self.restore_into(&mut pooled.instance)?;
            restored.push(pooled);
        }
        for pooled in restored.into_iter().rev() {
            self.pool.put(pooled);
        }
        Ok(())
    }

    fn restore_into(&self, instance: &mut Instance) -> Result<(), Fault> {
        match self.inherited.get() {
            Some(state) => instance.restore_state(state),
            None => Ok(()),
        }
    }

    /// Chooses endpoints for `request`. Never fails and never waits: a policy fault or
    /// quarantine is answered by the host's round-robin and counted.
    pub fn pick(&self, request: &impl RequestView) -> Pick {
        let published = self.membership.load_full();
        if self.faults.is_quarantined() {
            return self.fallback(published, PickSource::Quarantined);
        }
        let mut pooled = match self.pool.take() {
            Some(pooled) => pooled,
            None => match self.start_instance(&published) {
                Ok(pooled) => pooled,
                Err(fault) => return self.fault(published, fault),
            },
        };
        let has = pooled.instance.membership().generation();
        let membership = if has == published.generation() {
            published
        } else if has > published.generation() || self.pool.is_handing_over() {
            // The instance has a newer membership than this pick loaded (a hand-over
            // finished meanwhile), or a hand-over runs and has not reached it yet: it
            // answers from the membership it has, which its ids refer to.
            Arc::clone(pooled.instance.membership())
        } else {
            if let Err(fault) = pooled.instance.sync(&published) {
                return self.fault(published, fault);
            }
            published
        };
        let answer = pooled.instance.pick(&mut to_wit(&self.needs, request));
        let answer = match answer {
            Ok(ids) => {
                // The instance is sound whatever it answered; keep it.
                self.pool.put(pooled);
                validate(&ids, &membership).map(|()| ids)
            }
            // A trapped instance cannot be entered again; it is dropped here.
            Err(fault) => Err(fault),
        };
        match answer {
            Ok(endpoints) => {
                self.picks.fetch_add(1, Relaxed);
                Pick {
                    endpoints,
                    source: PickSource::Policy,
                    membership,
                    tally: None,
                }
            }
            Err(fault) => self.fault(membership, fault),
        }
    }

    /// True once repeated faults have quarantined this version.
    pub fn is_quarantined(&self) -> bool {
        self.faults.is_quarantined()
    }

    /// The component serving.
    pub fn component(&self) -> &PolicyComponent {
        &self.component
    }

    /// What the policy asked to see of each request.
    pub fn needs(&self) -> &Needs {
        &self.needs
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> PolicyStats {
        let faults = self.faults.counts();
        PolicyStats {
            picks: self.picks.load(Relaxed),
            fallbacks: self.fallbacks.load(Relaxed),
            traps: faults.traps,
            deadlines: faults.deadlines,
            memory: faults.memory,
            invalid_answers: faults.invalid_answers,
        }
    }

    fn start_instance(&self, membership: &Arc<Membership>) -> Result<Box<Pooled>, Fault> {
        let mut instance = Instance::start(&self.component, &self.limits, Arc::clone(membership))?;
        instance.deliver(&self.delivery);
        if let Err(refusal) = instance.init(&self.setup)? {
            return Err(Fault::InvalidAnswer(format!(
                "init refused a configuration it accepted before: {refusal}"
            )));
        }
        instance.sync(membership)?;
        self.restore_into(&mut instance)?;
        Ok(self.pool.adopt(instance))
    }

    fn fault(&self, membership: Arc<Membership>, fault: Fault) -> Pick {
        self.record_fault(&fault);
        self.fallback(membership, PickSource::Fallback(fault))
    }

    fn record_fault(&self, fault: &Fault) {
        let policy = self.component.name();
        let cluster = self.setup.cluster.as_str();
        if self.faults.record(fault, &self.limits, policy, cluster) {
            tracing::error!(
                policy,
                cluster,
                window = ?self.limits.fault_window,
                "policy quarantined: the built-in round-robin serves this cluster until a new version loads"
            );
        }
    }

    /// The host's round-robin over the routable members.
    fn fallback(&self, membership: Arc<Membership>, source: PickSource) -> Pick {
        self.fallbacks.fetch_add(1, Relaxed);
        let routable = membership.routable();
        let endpoints = if routable.is_empty() {
            Preference::default()
        } else {
            let start = self.fallback_next.fetch_add(1, Relaxed);
            Preference::new(
                (0..FALLBACK_CHOICES.min(routable.len()))
                    .map(|k| membership.members()[routable[(start + k) % routable.len()]].id),
            )
        };
        Pick {
            endpoints,
            source,
            membership,
            tally: None,
        }
    }
}

/// The catalog slot of each metric in `names`, as a policy declared them.
fn metric_slots(
    names: &[String],
    reported: Option<&MetricCatalog>,
) -> Result<Arc<[usize]>, String> {
    if names.is_empty() {
        return Ok(Arc::new([]));
    }
    let nothing;
    let catalog = match reported {
        Some(catalog) => catalog,
        None => {
            nothing = MetricCatalog::new(false, &[])?;
            &nothing
        }
    };
    Ok(catalog.resolve_all(names)?.into())
}

/// An answer is usable when every id is a member and it is empty only for an empty
/// cluster.
fn validate(ids: &[EndpointId], membership: &Membership) -> Result<(), Fault> {
    if ids.is_empty() && !membership.is_empty() {
        return Err(Fault::InvalidAnswer(format!(
            "no endpoint, while the cluster has {}",
            membership.len()
        )));
    }
    match ids.iter().find(|id| membership.get(**id).is_none()) {
        Some(id) => Err(Fault::InvalidAnswer(format!(
            "endpoint id {id}, which is not a member"
        ))),
        None => Ok(()),
    }
}
