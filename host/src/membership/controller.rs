//! One cluster's membership controller: discovered endpoints (kept with their health when
//! they stay), probe results and request outcomes judged by the scorer, and the
//! endpoints' open circuit breakers become the membership the balancer sees.

use crate::discovery::{Discovered, Discovery, Endpoints};
use crate::health::{
    Composition, EndpointState, HealthView, ProbeResult, ProbeSpec, Prober, VerdictSource, compose,
};
use crate::tls;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchyard_policy::cluster::{
    EndpointId, LoadSetup, Member, Membership, Outcome, Report, Reports,
};
use switchyard_policy::{
    Observation, ObservationSource, PolicyBinding, ScorerBinding, ScorerInstance, Verdict,
};
use tokio::sync::{mpsc, watch};

/// How often probe results and request outcomes are handed to the scorer.
const DRAIN_EVERY: Duration = Duration::from_millis(10);
/// The most time one drain spends handing outcomes over; what is left waits for the
/// next (and, should the queue fill up meanwhile, new outcomes are dropped and counted).
const DRAIN_BUDGET: Duration = Duration::from_millis(5);
/// Probe results kept per endpoint, replayed to a restarted or new scorer.
const PROBE_MEMORY: usize = 8;
/// How often the scorer's `tick` runs.
const TICK_EVERY: Duration = Duration::from_secs(1);
/// How often a ramping weight is republished.
const RAMP_STEP: Duration = Duration::from_millis(250);
/// Probes are due on multiples of this, so that the health thread wakes for a batch of
/// them rather than for each one.
const PROBE_GRID: Duration = Duration::from_millis(10);

/// Everything needed to run one cluster's membership.
pub struct MembershipController {
    cluster: String,
    balancer: Arc<PolicyBinding>,
    scorer: Option<Arc<ScorerBinding>>,
    probe: Option<ProbeSpec>,
    rules: Composition,
    base: Vec<Member>,
    reports: Arc<Reports>,
    view: Arc<HealthView>,
    discovery: Option<Discovery>,
    /// New endpoint lists for a static cluster (a configuration reload's).
    updates: Option<watch::Receiver<Option<Endpoints>>>,
    /// What endpoints discovery adds get: fading figures, breakers.
    setup: Option<LoadSetup>,
    /// The id the next discovered endpoint gets.
    next_id: EndpointId,
}

impl MembershipController {
    /// Health for the cluster balanced by `balancer` and judged by `scorer`, if any
    /// (then, from now on, its endpoints report every request outcome); without one,
    /// only the endpoints' circuit breakers change the membership.
    pub fn new(
        balancer: Arc<PolicyBinding>,
        scorer: Option<Arc<ScorerBinding>>,
        probe: Option<ProbeSpec>,
        rules: Composition,
    ) -> Self {
        let base = balancer.current().membership().members().to_vec();
        let reports = Arc::new(Reports::default());
        if scorer.is_some() {
            for member in &base {
                member.load.report_to(member.id, Arc::clone(&reports));
            }
        }
        let view = Arc::new(HealthView::new(
            scorer.clone(),
            Arc::clone(&reports),
            base.iter().map(|m| m.id),
        ));
        let next_id = base.iter().map(|m| m.id + 1).max().unwrap_or(0);
        Self {
            cluster: balancer.cluster().to_string(),
            balancer,
            scorer,
            probe,
            rules,
            base,
            reports,
            view,
            discovery: None,
            updates: None,
            setup: None,
            next_id,
        }
    }

    /// The same, its endpoints from `discovery`; those it adds are set up as `setup`
    /// says.
    pub fn with_discovery(self, discovery: Discovery, setup: LoadSetup) -> Self {
        Self {
            discovery: Some(discovery),
            setup: Some(setup),
            ..self
        }
    }

    /// The same, its endpoints replaced by each list sent on the answer (a static
    /// cluster's, on reload); those added are set up as `setup` says.
    pub fn with_updates(self, setup: LoadSetup) -> (Self, EndpointUpdates) {
        let (sender, updates) = watch::channel(None);
        let controller = Self {
            updates: Some(updates),
            setup: Some(setup),
            ..self
        };
        (controller, EndpointUpdates(sender))
    }

    /// A member for a newly discovered endpoint.
    fn admit(&mut self, found: &Discovered) -> Member {
        let mut member = Member::new(self.next_id, found.address, found.weight);
        self.next_id += 1;
        describe(&mut member, found);
        if let Some(setup) = &self.setup {
            setup.apply(&member.load);
        }
        if self.scorer.is_some() {
            member.load.report_to(member.id, Arc::clone(&self.reports));
        }
        member
    }

    /// What the admin API shows of this cluster's health.
    pub fn view(&self) -> Arc<HealthView> {
        Arc::clone(&self.view)
    }

    /// Runs until `stop` turns true: the judging loop here, discovery (if any) beside
    /// it, one probe task per endpoint on `probing` (another thread's runtime, so that
    /// a slow scorer call never delays a probe or its timeout).
    pub async fn run(mut self, probing: tokio::runtime::Handle, mut stop: watch::Receiver<bool>) {
        let (results, mut incoming) = mpsc::channel((self.base.len() * 2).max(256));
        let mut discovering = None;
        let mut discovered = self.discovery.take().map(|discovery| {
            let (out, discovered) = watch::channel(None);
            discovering = Some(tokio::spawn(discovery.run(out)));
            discovered
        });
        if discovered.is_none() {
            discovered = self.updates.take();
        }
        let mut probes = Probes {
            spec: self.probe.clone(),
            runtime: probing,
            origin: tokio::time::Instant::now(),
            results,
            tasks: HashMap::new(),
        };
        for (position, member) in self.base.iter().enumerate() {
            probes.start(member, position as f64 / self.base.len() as f64);
        }
        let mut judge = Judge::new(self, probes);
        let mut drain = tokio::time::interval(DRAIN_EVERY);
        let mut tick = tokio::time::interval(TICK_EVERY);
        loop {
            tokio::select! {
                _ = drain.tick() => {
                    // Probe results wait for the drain too: the probing thread never
                    // wakes this one for a single result.
                    while let Ok((id, result)) = incoming.try_recv() {
                        judge.probed(id, result);
                    }
                    judge.drain();
                    if judge.breakers {
                        judge.check_breakers();
                    }
                }
                _ = tick.tick() => judge.tick(),
                endpoints = next(&mut discovered) => judge.rebase(&endpoints),
                _ = stop.changed() => break,
            }
            judge.publish_if_changed();
        }
        // The cluster is gone (or the proxy stopping): its discovery stops with it.
        if let Some(task) = discovering {
            task.abort();
        }
    }
}

/// Where a static cluster's new endpoint list goes, to be merged as discovery's is.
pub struct EndpointUpdates(watch::Sender<Option<Endpoints>>);

impl EndpointUpdates {
    /// Replaces the cluster's endpoints by `endpoints`.
    pub fn send(&self, endpoints: Endpoints) {
        let _ = self.0.send(Some(endpoints));
    }
}

/// Sets what discovery says of an endpoint on its member.
fn describe(member: &mut Member, found: &Discovered) {
    member.weight = found.weight.max(1);
    member.zone.clone_from(&found.zone);
    member.metadata = found
        .metadata
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
}

/// The next settled endpoint set from discovery; never, without discovery (or once
/// it has stopped).
async fn next(discovered: &mut Option<watch::Receiver<Option<Endpoints>>>) -> Endpoints {
    loop {
        let Some(receiver) = discovered else {
            return std::future::pending().await;
        };
        if receiver.changed().await.is_err() {
            *discovered = None;
            continue;
        }
        if let Some(endpoints) = receiver.borrow_and_update().clone() {
            return endpoints;
        }
    }
}

/// The probe tasks of a cluster's endpoints.
struct Probes {
    spec: Option<ProbeSpec>,
    runtime: tokio::runtime::Handle,
    origin: tokio::time::Instant,
    results: mpsc::Sender<(EndpointId, ProbeResult)>,
    tasks: HashMap<EndpointId, tokio::task::JoinHandle<()>>,
}

impl Probes {
    /// Starts probing `member` (when probes run), first after `phase` (0 to 1) of
    /// an interval, so that endpoints are not all probed at once.
    fn start(&mut self, member: &Member, phase: f64) {
        let Some(spec) = &self.spec else {
            return;
        };
        let server_name = tls::server_name(member).map(str::to_string);
        let prober = Prober::new(member.socket, spec.clone(), server_name);
        let first = spec.interval.mul_f64(phase);
        let task = self.runtime.spawn(probe_loop(
            member.id,
            prober,
            self.origin,
            first,
            self.results.clone(),
        ));
        self.tasks.insert(member.id, task);
    }

    /// Stops probing endpoint `id`.
    fn stop(&mut self, id: EndpointId) {
        if let Some(task) = self.tasks.remove(&id) {
            task.abort();
        }
    }
}

impl Drop for Probes {
    fn drop(&mut self) {
        for task in self.tasks.values() {
            task.abort();
        }
    }
}

/// Probes one endpoint forever, first `first` after `origin`, on the grid of
/// [`PROBE_GRID`] steps from `origin`.
async fn probe_loop(
    id: EndpointId,
    mut prober: Prober,
    origin: tokio::time::Instant,
    first: Duration,
    results: mpsc::Sender<(EndpointId, ProbeResult)>,
) {
    let on_grid = |at: tokio::time::Instant| {
        let grid = PROBE_GRID.as_nanos();
        let since = (at - origin).as_nanos().div_ceil(grid) * grid;
        origin + Duration::from_nanos(since as u64)
    };
    tokio::time::sleep_until(on_grid(origin + first)).await;
    let mut random = u64::from(id).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    loop {
        let started = tokio::time::Instant::now();
        let result = prober.probe().await;
        if results.send((id, result)).await.is_err() {
            return;
        }
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        tokio::time::sleep_until(on_grid(started + prober.next_delay(random))).await;
    }
}

/// The judging side of a cluster's health task.
struct Judge {
    monitor: MembershipController,
    probes: Probes,
    instance: Option<ScorerInstance>,
    index: HashMap<EndpointId, usize>,
    states: Vec<EndpointState>,
    /// The latest probe observations of each endpoint, oldest first.
    recent_probes: Vec<std::collections::VecDeque<Observation>>,
    /// Per endpoint, whether its breaker was open and cooling at the last check.
    cooling: Vec<bool>,
    /// Whether the cluster's endpoints have breakers to check.
    breakers: bool,
    published: Arc<Membership>,
    panic: bool,
    ramping: bool,
    changed: bool,
    /// The endpoints changed: publish whatever their health.
    rebased: bool,
    last_publish: Instant,
}

impl Judge {
    fn new(monitor: MembershipController, probes: Probes) -> Self {
        let n = monitor.base.len();
        let index = monitor
            .base
            .iter()
            .enumerate()
            .map(|(i, m)| (m.id, i))
            .collect();
        let published = monitor.balancer.current().membership();
        let mut judge = Self {
            probes,
            instance: None,
            index,
            states: vec![EndpointState::default(); n],
            recent_probes: vec![std::collections::VecDeque::new(); n],
            cooling: vec![false; n],
            breakers: monitor.base.iter().any(|m| m.load.breaker().is_some()),
            published,
            panic: false,
            ramping: false,
            changed: false,
            rebased: false,
            last_publish: Instant::now(),
            monitor,
        };
        judge.take_new_version();
        judge
    }

    /// Switches to a newly installed scorer version, if there is one.
    fn take_new_version(&mut self) {
        let Some(scorer) = &self.monitor.scorer else {
            return;
        };
        let Some(mut instance) = scorer.take_new() else {
            return;
        };
        if self.instance.is_some() {
            tracing::info!(
                cluster = self.monitor.cluster.as_str(),
                scorer = scorer.name(),
                "health scorer version installed"
            );
        }
        match instance.sync(&self.published) {
            Ok(()) => self.carry_on_with(Some(instance)),
            Err(fault) => self.faulted(&fault),
        }
    }

    /// The instance faulted: carry on with a fresh one, unless the scorer is now
    /// quarantined (then the last verdicts stand).
    fn faulted(&mut self, fault: &switchyard_policy::Fault) {
        self.instance = None;
        let fresh = self.monitor.scorer.as_ref().and_then(|s| s.fault(fault));
        self.carry_on_with(fresh);
    }

    /// Carries on with `instance`, a restart or a new version, which knows nothing of
    /// the old judgements: every verdict but a timed ejection (which runs out on time)
    /// is lifted, and the new instance is given the recent probe results, so that an
    /// endpoint its probes hold out is out again before anything is published.
    fn carry_on_with(&mut self, instance: Option<ScorerInstance>) {
        if instance.is_none() {
            return;
        }
        let now = Instant::now();
        self.for_each_state(|s| {
            s.ejected_until.is_none() && s.apply(Verdict::Healthy, VerdictSource::Initial, now)
        });
        self.instance = instance;
        let history: Vec<Observation> = self.recent_probes.iter().flatten().copied().collect();
        for observation in &history {
            self.observe(observation, VerdictSource::Probe);
        }
    }

    fn probed(&mut self, id: EndpointId, result: ProbeResult) {
        let Some(&i) = self.index.get(&id) else {
            return;
        };
        if let Some(reason) = &result.reason {
            tracing::debug!(cluster = self.monitor.cluster.as_str(), endpoint = %self.monitor.base[i].address, "probe failed: {reason}");
        }
        let observation = Observation {
            endpoint: id,
            source: ObservationSource::Probe,
            success: result.success,
            status: result.status,
            latency: result.latency,
            connect_error: result.connect_error,
            timed_out: result.timed_out,
            at: Instant::now(),
        };
        self.monitor.view.probed(i, result);
        let recent = &mut self.recent_probes[i];
        if recent.len() == PROBE_MEMORY {
            recent.pop_front();
        }
        recent.push_back(observation);
        self.observe(&observation, VerdictSource::Probe);
    }

    /// Hands queued request outcomes to the scorer.
    fn drain(&mut self) {
        self.take_new_version();
        let started = Instant::now();
        let mut handed = 0u32;
        while let Some(report) = self.monitor.reports.pop() {
            self.observe(&observation_of(&report), VerdictSource::Passive);
            handed += 1;
            if handed.is_multiple_of(64) && started.elapsed() >= DRAIN_BUDGET {
                break;
            }
        }
        let now = Instant::now();
        self.for_each_state(|s| s.expire(now));
    }

    /// Applies `change` to every endpoint's state.
    fn for_each_state(&mut self, change: impl Fn(&mut EndpointState) -> bool) {
        for state in &mut self.states {
            self.changed |= change(state);
        }
    }

    /// Counts an answer from the scorer.
    fn answered(&self) {
        if let Some(scorer) = &self.monitor.scorer {
            scorer.answered();
        }
    }

    /// Takes a new endpoint set from discovery: endpoints that stay keep their id,
    /// load figures, health and probes (their weight, zone and metadata are updated);
    /// new ones start healthy and are probed; removed ones stop being probed.
    fn rebase(&mut self, endpoints: &[Discovered]) {
        let old: HashMap<std::net::SocketAddr, usize> = self
            .monitor
            .base
            .iter()
            .enumerate()
            .map(|(i, m)| (m.socket, i))
            .collect();
        let mut kept = vec![false; self.monitor.base.len()];
        let n = endpoints.len();
        let mut base = Vec::with_capacity(n);
        let mut states = Vec::with_capacity(n);
        let mut recent = Vec::with_capacity(n);
        let mut cooling = Vec::with_capacity(n);
        for (position, found) in endpoints.iter().enumerate() {
            match old.get(&found.address) {
                Some(&i) => {
                    kept[i] = true;
                    let mut member = self.monitor.base[i].clone();
                    describe(&mut member, found);
                    base.push(member);
                    states.push(self.states[i].clone());
                    recent.push(std::mem::take(&mut self.recent_probes[i]));
                    cooling.push(self.cooling[i]);
                }
                None => {
                    let member = self.monitor.admit(found);
                    self.probes.start(&member, position as f64 / n as f64);
                    base.push(member);
                    states.push(EndpointState::default());
                    recent.push(std::collections::VecDeque::new());
                    cooling.push(false);
                }
            }
        }
        for (member, kept) in self.monitor.base.iter().zip(kept) {
            if !kept {
                self.probes.stop(member.id);
            }
        }
        self.index = base.iter().enumerate().map(|(i, m)| (m.id, i)).collect();
        self.breakers = base.iter().any(|m| m.load.breaker().is_some());
        self.monitor.view.rebase(base.iter().map(|m| m.id));
        self.monitor.base = base;
        self.states = states;
        self.recent_probes = recent;
        self.cooling = cooling;
        self.rebased = true;
        self.changed = true;
    }

    /// Notes endpoints whose breaker opened or finished cooling down since the last
    /// publication.
    fn check_breakers(&mut self) {
        for (member, cooling) in self.monitor.base.iter().zip(&mut self.cooling) {
            let now = member.load.circuit_cooling();
            self.changed |= now != *cooling;
            *cooling = now;
        }
    }

    fn tick(&mut self) {
        let Some(instance) = &mut self.instance else {
            return;
        };
        match instance.tick(Instant::now(), &self.published) {
            Ok(verdicts) => {
                self.answered();
                for (id, verdict) in verdicts {
                    self.verdict(id, verdict, VerdictSource::Scorer);
                }
            }
            Err(fault) => self.faulted(&fault),
        }
    }

    fn observe(&mut self, observation: &Observation, source: VerdictSource) {
        let Some(instance) = &mut self.instance else {
            return;
        };
        match instance.observe(observation) {
            Ok(verdict) => {
                self.answered();
                if let Some(verdict) = verdict {
                    self.verdict(observation.endpoint, verdict, source);
                }
            }
            Err(fault) => self.faulted(&fault),
        }
    }

    fn verdict(&mut self, id: EndpointId, verdict: Verdict, source: VerdictSource) {
        let Some(&i) = self.index.get(&id) else {
            return;
        };
        if self.states[i].apply(verdict, source, Instant::now()) {
            tracing::info!(
                cluster = self.monitor.cluster.as_str(),
                endpoint = %self.monitor.base[i].address,
                source = source.label(),
                ?verdict,
                "endpoint health changed"
            );
            self.changed = true;
        }
    }

    /// Publishes the membership when a verdict changed, and while weights ramp up.
    fn publish_if_changed(&mut self) {
        let now = Instant::now();
        let ramp_due = self.ramping && now.duration_since(self.last_publish) >= RAMP_STEP;
        if !self.changed && !ramp_due {
            return;
        }
        self.changed = false;
        self.last_publish = now;
        let composed = compose(&self.monitor.base, &self.states, self.monitor.rules, now);
        if composed.panic != self.panic {
            let cluster = self.monitor.cluster.as_str();
            if composed.panic {
                tracing::warn!(
                    cluster,
                    threshold = self.monitor.rules.panic_threshold,
                    "panic: too few endpoints are healthy; balancing across all of them"
                );
            } else {
                tracing::info!(
                    cluster,
                    "panic over: unhealthy endpoints are left out again"
                );
            }
            self.panic = composed.panic;
        }
        self.ramping = composed.ramping;
        let fresh = std::mem::take(&mut self.rebased)
            || composed
                .members
                .iter()
                .zip(self.published.members())
                .any(|(a, b)| a.health != b.health || a.weight_factor != b.weight_factor);
        if fresh {
            let membership = Arc::new(Membership::new(composed.members));
            self.monitor
                .balancer
                .set_membership(Arc::clone(&membership));
            if let Some(scorer) = &self.monitor.scorer {
                scorer.set_membership(Arc::clone(&membership));
            }
            self.published = Arc::clone(&membership);
            if let Some(instance) = &mut self.instance
                && let Err(fault) = instance.sync(&membership)
            {
                self.faulted(&fault);
            }
        }
        self.monitor.view.judged(&self.states, self.panic);
    }
}

/// A request outcome as the scorer sees it.
fn observation_of(report: &Report) -> Observation {
    let (status, connect_error, timed_out) = match report.outcome {
        Outcome::Status(s) | Outcome::Broken(s) => (Some(s), false, false),
        Outcome::TimedOut => (None, false, true),
        Outcome::Failed => (None, false, false),
        Outcome::NoConnection { timed_out } => (None, true, timed_out),
    };
    Observation {
        endpoint: report.endpoint,
        source: ObservationSource::Request,
        success: !report.outcome.failed(),
        status,
        latency: report.latency,
        connect_error,
        timed_out,
        at: report.at,
    }
}
