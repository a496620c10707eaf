//! The simulation itself: requests arrive on a simulated clock, the policy picks, the
//! chosen endpoint answers after a latency drawn from its distribution, and the load
//! figures the policy reads move exactly as they would in the proxy.

use super::report::Report;
use super::rng::Rng;
use super::scenario::{Change, Scenario};
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use switchyard_policy::cluster::{
    EndpointLoad, InFlight, LoadDecay, LoadSetup, Member, Membership, Outcome,
};
use switchyard_policy::{
    ClusterPolicy, HashSource, LoadError, PickSource, PolicyComponent, PolicyLimits, RequestInfo,
    SimulatedHost,
};

/// Latency of a refused connection, as the client sees it.
const REFUSED: Duration = Duration::from_millis(1);
/// z-score of the 99th percentile of a normal distribution.
const Z99: f64 = 2.326_348;

/// Runs `scenario` against `component`; `recorded` keys, when given, replace random
/// ones. Fails only when the policy cannot start.
pub fn simulate(
    component: Arc<PolicyComponent>,
    scenario: &Scenario,
    recorded: &[String],
) -> Result<Report, LoadError> {
    let mut world = World::new(scenario);
    let mut limits = PolicyLimits::default();
    if let Some(mib) = scenario.policy.memory_mib {
        limits.memory_bytes = mib << 20;
    }
    if let Some(deadline) = scenario.policy.pick_deadline {
        limits.pick_deadline = deadline.0;
    }
    let host = SimulatedHost::start(scenario.workload.seed);
    let policy = ClusterPolicy::new(
        Arc::clone(&component),
        "simulation",
        &scenario.policy_config(),
        &scenario.policy.zone,
        limits,
        world.membership(),
    )?;
    let keyed = Keying::new(&policy, scenario, recorded);
    let workload = &scenario.workload;
    let mut rng = Rng::new(workload.seed);
    let mut phases = vec![Phase::new(0, "start".into(), scenario.endpoints.len())];
    let mut changes = scenario.changes.iter().peekable();
    let mut owners: HashMap<String, (usize, usize)> = HashMap::new();
    let mut now_ns = 0u64;

    for i in 0..workload.requests {
        now_ns += (rng.exponential(workload.rate) * 1e9) as u64;
        host.set_now(now_ns);
        world.complete_until(now_ns);
        world.refresh_median();
        let mut changed = world.apply_health_until(now_ns);
        let mut labels = Vec::new();
        let mut at = 0;
        while let Some(change) = changes.next_if(|c| c.at.0.as_nanos() as u64 <= now_ns) {
            world.apply(change, scenario);
            labels.push(change.describe());
            at = change.at.0.as_nanos() as u64;
            changed = true;
        }
        if !labels.is_empty() {
            phases.push(Phase::new(at, labels.join("; "), scenario.endpoints.len()));
        }
        if changed {
            policy.set_membership(world.membership());
        }

        let key = keyed.key(i, &mut rng);
        let pick = policy.pick(&keyed.request(key.as_deref()));
        let phase_index = phases.len() - 1;
        let phase = &mut phases[phase_index];
        phase.requests += 1;
        if pick.source != PickSource::Policy {
            phase.fallbacks += 1;
        }
        let Some(&first) = pick.endpoints.first() else {
            phase.unrouted += 1;
            continue;
        };
        let index = first as usize;
        let (latency, failed) = world.send(index, now_ns, &mut rng);
        let row = &mut phase.endpoints[index];
        row.requests += 1;
        row.latencies_us.push(latency.as_secs_f64() * 1e6);
        row.errors += u64::from(failed);
        if let Some(key) = key {
            match owners.insert(key, (index, phase_index)) {
                Some((before, seen)) if seen < phase_index => {
                    phase.keys_compared += 1;
                    phase.keys_moved += u64::from(before != index);
                }
                _ => {}
            }
        }
    }
    let end_ns = now_ns;
    drop(host);
    let stats = policy.stats();
    Ok(Report::new(
        scenario,
        &phases,
        end_ns,
        stats,
        keyed.is_keyed(),
    ))
}

/// A stretch of the run between changes, with what happened in it.
pub(super) struct Phase {
    pub(super) start_ns: u64,
    pub(super) label: String,
    pub(super) requests: u64,
    pub(super) fallbacks: u64,
    pub(super) unrouted: u64,
    pub(super) keys_compared: u64,
    pub(super) keys_moved: u64,
    pub(super) endpoints: Vec<Tally>,
}

impl Phase {
    fn new(start_ns: u64, label: String, endpoints: usize) -> Self {
        Self {
            start_ns,
            label,
            requests: 0,
            fallbacks: 0,
            unrouted: 0,
            keys_compared: 0,
            keys_moved: 0,
            endpoints: (0..endpoints).map(|_| Tally::default()).collect(),
        }
    }
}

/// One endpoint's requests in one phase.
#[derive(Default)]
pub(super) struct Tally {
    pub(super) requests: u64,
    pub(super) errors: u64,
    pub(super) latencies_us: Vec<f64>,
}

/// How each request carries its key, given what the policy asks for.
struct Keying<'a> {
    cookie: Option<String>,
    headers: Vec<String>,
    random_keys: usize,
    recorded: &'a [String],
}

impl<'a> Keying<'a> {
    fn new(policy: &ClusterPolicy, scenario: &Scenario, recorded: &'a [String]) -> Self {
        let needs = policy.needs();
        let mut headers = needs.headers.clone();
        let mut cookie = None;
        match &needs.hash_on {
            Some(HashSource::Header(name)) => headers.push(name.clone()),
            Some(HashSource::Cookie(name)) => cookie = Some(name.clone()),
            _ => {}
        }
        Self {
            cookie,
            headers,
            random_keys: scenario.workload.keys,
            recorded,
        }
    }

    fn is_keyed(&self) -> bool {
        self.random_keys > 0 || !self.recorded.is_empty()
    }

    fn key(&self, i: usize, rng: &mut Rng) -> Option<String> {
        if !self.recorded.is_empty() {
            Some(self.recorded[i % self.recorded.len()].clone())
        } else if self.random_keys > 0 {
            Some(format!("k{}", rng.below(self.random_keys)))
        } else {
            None
        }
    }

    /// A GET whose path, wanted headers, hash cookie and client address carry `key`.
    fn request(&self, key: Option<&str>) -> RequestInfo {
        let mut request = RequestInfo::get("/");
        request.authority = Some("simulated.test".into());
        let Some(key) = key else {
            return request;
        };
        request.path = format!("/k/{key}");
        let h = switchyard_policy_sdk::hash_key(key.as_bytes());
        let octets = h.to_be_bytes();
        request.client_addr = Some(SocketAddr::from((
            [10, octets[0], octets[1], octets[2]],
            40_000,
        )));
        request.headers = self
            .headers
            .iter()
            .map(|name| (name.clone(), key.to_string()))
            .collect();
        if let Some(cookie) = &self.cookie {
            request
                .headers
                .push(("cookie".into(), format!("{cookie}={key}")));
        }
        request
    }
}

/// The simulated endpoints: how each behaves now, and the requests they are serving.
struct World {
    endpoints: Vec<Simulated>,
    /// When health checking notices an endpoint died or returned.
    health_flips: Vec<(u64, usize, bool)>,
    detection_ns: u64,
    timeout: Duration,
    in_progress: BinaryHeap<Reverse<Completion>>,
    sequence: u64,
    /// How the endpoints' figures fade, as a cluster's would.
    decay: Arc<LoadDecay>,
}

/// One endpoint's behaviour and load.
struct Simulated {
    socket: SocketAddr,
    weight: u32,
    zone: String,
    median_us: f64,
    sigma: f64,
    capacity: Option<u32>,
    error_rate: f64,
    down: bool,
    member: bool,
    unavailable: bool,
    load: Arc<EndpointLoad>,
}

impl Simulated {
    fn set_latency(&mut self, median: Duration, p99: Option<Duration>) {
        let median_us = median.as_secs_f64() * 1e6;
        let p99_us = p99.map_or(median_us * 3.0, |p| p.as_secs_f64() * 1e6);
        self.median_us = median_us;
        self.sigma = (p99_us / median_us).ln() / Z99;
    }
}

/// A request being served, finished at `at`.
struct Completion {
    at: u64,
    sequence: u64,
    request: InFlight,
    latency: Duration,
    outcome: Outcome,
}

impl PartialEq for Completion {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.sequence) == (other.at, other.sequence)
    }
}

impl Eq for Completion {}

impl PartialOrd for Completion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Completion {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.sequence).cmp(&(other.at, other.sequence))
    }
}

impl World {
    fn new(scenario: &Scenario) -> Self {
        let load = LoadSetup {
            decay: LoadDecay::new(scenario.workload.load_decay.0),
            breaker: None,
        };
        let endpoints = scenario
            .endpoints
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let mut e = Simulated {
                    socket: SocketAddr::from(([10, 0, (i >> 8) as u8, i as u8], 8080)),
                    weight: spec.weight,
                    zone: spec.zone.clone(),
                    median_us: 0.0,
                    sigma: 0.0,
                    capacity: spec.capacity,
                    error_rate: spec.error_rate,
                    down: spec.down,
                    member: spec.member,
                    unavailable: spec.down,
                    load: Arc::default(),
                };
                load.apply(&e.load);
                e.set_latency(spec.latency.0, spec.latency_p99.map(|d| d.0));
                e
            })
            .collect();
        Self {
            endpoints,
            health_flips: Vec::new(),
            detection_ns: scenario.workload.detection.0.as_nanos() as u64,
            timeout: scenario.workload.timeout.0,
            in_progress: BinaryHeap::new(),
            sequence: 0,
            decay: load.decay,
        }
    }

    /// Updates the median latency fading figures return to, as the proxy does about
    /// once a second.
    fn refresh_median(&self) {
        let members = self.endpoints.iter().filter(|e| e.member);
        self.decay.refresh(members.map(|e| &*e.load));
    }

    /// The membership the policy sees now: members, with health as checked.
    fn membership(&self) -> Arc<Membership> {
        let members = self
            .endpoints
            .iter()
            .enumerate()
            .filter(|(_, e)| e.member)
            .map(|(i, e)| {
                let mut m = Member::new(i as u32, e.socket, e.weight);
                m.zone = e.zone.clone();
                m.load = Arc::clone(&e.load);
                if e.unavailable {
                    m.health = switchyard_policy::cluster::Health::Unavailable;
                }
                m
            })
            .collect();
        Arc::new(Membership::new(members))
    }

    /// Applies a scenario change; dying and returning are noticed after the detection
    /// delay.
    fn apply(&mut self, change: &Change, scenario: &Scenario) {
        let Some(index) = scenario.endpoint_index(&change.endpoint) else {
            return;
        };
        let at = change.at.0.as_nanos() as u64;
        let detection_ns = self.detection_ns;
        let e = &mut self.endpoints[index];
        if change.latency.is_some() || change.latency_p99.is_some() {
            let median = change
                .latency
                .map_or(Duration::from_secs_f64(e.median_us / 1e6), |d| d.0);
            e.set_latency(median, change.latency_p99.map(|d| d.0));
        }
        if let Some(rate) = change.error_rate {
            e.error_rate = rate;
        }
        if let Some(weight) = change.weight {
            e.weight = weight;
        }
        if let Some(member) = change.member {
            e.member = member;
        }
        if let Some(down) = change.down
            && down != e.down
        {
            e.down = down;
            self.health_flips.push((at + detection_ns, index, down));
        }
    }

    /// Applies the health verdicts due by `now_ns`; true when any changed.
    fn apply_health_until(&mut self, now_ns: u64) -> bool {
        let mut changed = false;
        let endpoints = &mut self.endpoints;
        self.health_flips.retain(|&(at, index, unavailable)| {
            if at > now_ns {
                return true;
            }
            endpoints[index].unavailable = unavailable;
            changed = true;
            false
        });
        changed
    }

    /// Finishes every request answered by `now_ns`, as the proxy would.
    fn complete_until(&mut self, now_ns: u64) {
        while self
            .in_progress
            .peek()
            .is_some_and(|Reverse(c)| c.at <= now_ns)
        {
            if let Some(Reverse(c)) = self.in_progress.pop() {
                c.request.finish(c.latency, c.outcome);
            }
        }
    }

    /// Sends a request to endpoint `index` at `now_ns`: its latency (up to the timeout)
    /// and whether it failed.
    fn send(&mut self, index: usize, now_ns: u64, rng: &mut Rng) -> (Duration, bool) {
        let e = &self.endpoints[index];
        if e.down {
            e.load.record_connect_failure(REFUSED, false);
            return (REFUSED, true);
        }
        let request = e.load.start();
        let queueing = e.capacity.map_or(1.0, |capacity| {
            (f64::from(e.load.in_flight()) / f64::from(capacity)).max(1.0)
        });
        let latency_us = e.median_us * (e.sigma * rng.normal()).exp() * queueing;
        let answered = Duration::from_secs_f64(latency_us / 1e6);
        let (latency, outcome) = if answered >= self.timeout {
            (self.timeout, Outcome::TimedOut)
        } else if rng.uniform() < e.error_rate {
            (answered, Outcome::Status(503))
        } else {
            (answered, Outcome::Status(200))
        };
        self.sequence += 1;
        self.in_progress.push(Reverse(Completion {
            at: now_ns + latency.as_nanos() as u64,
            sequence: self.sequence,
            request,
            latency,
            outcome,
        }));
        (latency, outcome.failed())
    }
}
