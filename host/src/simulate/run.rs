//! The simulation itself: requests arrive on a simulated clock, the policy picks, the
//! chosen endpoint answers after a latency drawn from its distribution (and after
//! waiting for a free slot, beyond its capacity), and the load figures the policy
//! reads, its own and those the endpoints report, move exactly as they would in the
//! proxy.

use super::report::Report;
use super::rng::Rng;
use super::scenario::{Change, Scenario, Series};
use super::server::Server;
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use switchyard_policy::cluster::{
    EndpointLoad, InFlight, LoadDecay, LoadSetup, Member, Membership, MetricCatalog, Outcome,
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
        world.catalog(),
    )
    .map_err(|e| match e {
        // What a cluster's configuration would say, as a scenario says it.
        LoadError::Config(message) => {
            LoadError::Config(message.replace("[clusters.load_reports]", "[load_reports]"))
        }
        other => other,
    })?;
    // The policy may have added ORCA named metrics to the catalog.
    world.resolve_reports(scenario);
    let keyed = Keying::new(&policy, scenario, recorded);
    let workload = &scenario.workload;
    let mut rate = workload.rate;
    let mut rng = Rng::new(workload.seed);
    let mut phases = vec![Phase::new(0, "start".into(), scenario.endpoints.len())];
    let mut changes = scenario.changes.iter().peekable();
    let mut owners: HashMap<String, (usize, usize)> = HashMap::new();
    let mut now_ns = 0u64;

    for i in 0..workload.requests {
        now_ns += (rng.exponential(rate) * 1e9) as u64;
        host.set_now(now_ns);
        world.advance_to(now_ns);
        world.refresh_median();
        let mut changed = world.apply_health_until(now_ns);
        let mut labels = Vec::new();
        let mut at = 0;
        while let Some(change) = changes.next_if(|c| c.at.0.as_nanos() as u64 <= now_ns) {
            world.apply(change, scenario);
            rate = change.rate.unwrap_or(rate);
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
    /// What the cluster collects of what endpoints report, when it does.
    reporting: Option<Reporting>,
    /// Reports sent at intervals, next first: when, by which endpoint, which kind.
    ticks: BinaryHeap<Reverse<(u64, usize, Channel)>>,
}

/// The metrics the cluster collects, where each is stored and what it carries.
struct Reporting {
    catalog: Arc<MetricCatalog>,
    /// ORCA's slots.
    orca: Vec<(usize, Series)>,
    /// Out-of-band ORCA reports at this interval instead of one per response.
    orca_interval_ns: Option<u64>,
    /// The scraped series' slots.
    scraped: Vec<(usize, Series)>,
    scrape_interval_ns: u64,
}

/// How a report reaches the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Channel {
    /// An ORCA report: on a response, or out of band.
    Orca,
    /// A scrape of the endpoint's metrics.
    Scrape,
}

/// One endpoint's behaviour and load.
struct Simulated {
    socket: SocketAddr,
    weight: u32,
    zone: String,
    median_us: f64,
    sigma: f64,
    /// Its slots and queue.
    server: Server,
    /// Whether it reports its load now.
    reports: bool,
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
    /// The endpoint.
    index: usize,
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
        let reporting = scenario.load_reports.as_ref().map(|spec| Reporting {
            // Checked with the scenario.
            catalog: spec.catalog().expect("a valid scenario's catalog"),
            orca: Vec::new(),
            orca_interval_ns: spec.orca_interval.map(|d| d.0.as_nanos() as u64),
            scraped: Vec::new(),
            scrape_interval_ns: spec
                .scrape
                .as_ref()
                .map_or(0, |s| s.interval.0.as_nanos() as u64),
        });
        let window_ns = scenario
            .load_reports
            .as_ref()
            .map(|spec| spec.window.0.as_nanos() as u64);
        let load = LoadSetup {
            decay: LoadDecay::new(scenario.workload.load_decay.0),
            breaker: None,
            reported: reporting.as_ref().map(|r| Arc::clone(&r.catalog)),
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
                    server: Server::new(spec.capacity, spec.kv_cache, window_ns),
                    reports: spec.reports,
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
            reporting,
            ticks: BinaryHeap::new(),
        }
    }

    /// The metrics the cluster collects, when it collects any.
    fn catalog(&self) -> Option<&MetricCatalog> {
        self.reporting.as_ref().map(|r| &*r.catalog)
    }

    /// Finds where each collected metric is stored (after the policy asked for its
    /// own: ORCA named metrics join the catalog then), and schedules the reports sent
    /// at intervals, the endpoints' first ones spread over the first interval.
    fn resolve_reports(&mut self, scenario: &Scenario) {
        let Some(reporting) = &mut self.reporting else {
            return;
        };
        let scraped: &[String] = scenario
            .load_reports
            .as_ref()
            .and_then(|r| r.scrape.as_ref())
            .map_or(&[], |s| &s.metrics);
        for (slot, name) in reporting.catalog.names().iter().enumerate() {
            if scraped.contains(name) {
                reporting
                    .scraped
                    .extend(Series::named(name).map(|s| (slot, s)));
            } else if let Some(series) = name
                .strip_prefix(switchyard_policy::cluster::ORCA_NAMED_PREFIX)
                .map_or_else(|| Series::orca_field(name), Series::named)
            {
                reporting.orca.push((slot, series));
            }
        }
        let n = self.endpoints.len() as u64;
        let mut schedule = |interval: u64, channel| {
            for i in 0..n {
                let first = interval * (i + 1) / n;
                self.ticks
                    .push(Reverse((first.max(1), i as usize, channel)));
            }
        };
        if let Some(interval) = reporting.orca_interval_ns
            && !reporting.orca.is_empty()
        {
            schedule(interval, Channel::Orca);
        }
        if !reporting.scraped.is_empty() {
            schedule(reporting.scrape_interval_ns, Channel::Scrape);
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
        let Some(index) = change
            .endpoint
            .as_deref()
            .and_then(|name| scenario.endpoint_index(name))
        else {
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
        if let Some(reports) = change.reports {
            e.reports = reports;
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

    /// Finishes every request answered by `now_ns`, as the proxy would, and stores
    /// the reports sent by then, in time order.
    fn advance_to(&mut self, now_ns: u64) {
        loop {
            let due = |at: u64| (at <= now_ns).then_some(at);
            let completion = self.in_progress.peek().and_then(|Reverse(c)| due(c.at));
            let tick = self.ticks.peek().and_then(|Reverse((at, ..))| due(*at));
            match (completion, tick) {
                (None, None) => break,
                (Some(c), Some(t)) if t < c => self.tick(),
                (Some(_), _) => self.complete(),
                (None, Some(_)) => self.tick(),
            }
        }
    }

    /// Finishes the next request answered; its response carries an ORCA report when
    /// ORCA reports come with responses.
    fn complete(&mut self) {
        let Some(Reverse(c)) = self.in_progress.pop() else {
            return;
        };
        c.request.finish(c.latency, c.outcome);
        let per_response = self
            .reporting
            .as_ref()
            .is_some_and(|r| r.orca_interval_ns.is_none());
        if per_response && !matches!(c.outcome, Outcome::TimedOut) {
            self.report(c.index, c.at, Channel::Orca);
        }
    }

    /// Sends the next report due at an interval (a live member's: a dead endpoint
    /// answers no scrape), and schedules the one after it.
    fn tick(&mut self) {
        let Some(Reverse((at, index, channel))) = self.ticks.pop() else {
            return;
        };
        let Some(reporting) = &self.reporting else {
            return;
        };
        let interval = match channel {
            Channel::Orca => reporting.orca_interval_ns.unwrap_or(u64::MAX),
            Channel::Scrape => reporting.scrape_interval_ns,
        };
        self.ticks
            .push(Reverse((at.saturating_add(interval), index, channel)));
        let e = &self.endpoints[index];
        if e.member && !e.down {
            self.report(index, at, channel);
        }
    }

    /// Stores what endpoint `index` reports through `channel` at `at_ns`.
    fn report(&mut self, index: usize, at_ns: u64, channel: Channel) {
        let (Some(reporting), e) = (&self.reporting, &mut self.endpoints[index]) else {
            return;
        };
        let slots = match channel {
            Channel::Orca => &reporting.orca,
            Channel::Scrape => &reporting.scraped,
        };
        if !e.reports || slots.is_empty() {
            return;
        }
        let Some(store) = e.load.reported() else {
            return;
        };
        let load = e.server.load_at(at_ns);
        for &(slot, series) in slots {
            store.record_at(slot, load.get(series), at_ns);
        }
    }

    /// Sends a request to endpoint `index` at `now_ns`: its latency (up to the timeout)
    /// and whether it failed. Beyond its capacity it waits for a free slot first; one
    /// still waiting at the timeout is dropped, and one served past it keeps its slot
    /// to the end (the endpoint does not know the proxy gave up).
    fn send(&mut self, index: usize, now_ns: u64, rng: &mut Rng) -> (Duration, bool) {
        let e = &mut self.endpoints[index];
        if e.down {
            e.load.record_connect_failure(REFUSED, false);
            return (REFUSED, true);
        }
        let request = e.load.start();
        let service_us = e.median_us * (e.sigma * rng.normal()).exp();
        let service = Duration::from_secs_f64(service_us / 1e6);
        let start_ns = e.server.starts_at(now_ns);
        let wait = Duration::from_nanos(start_ns - now_ns);
        let answered = wait + service;
        let (latency, outcome) = if answered >= self.timeout {
            (self.timeout, Outcome::TimedOut)
        } else if rng.uniform() < e.error_rate {
            (answered, Outcome::Status(503))
        } else {
            (answered, Outcome::Status(200))
        };
        if wait >= self.timeout {
            e.server
                .drop_unserved(now_ns, now_ns + self.timeout.as_nanos() as u64);
        } else {
            let end_ns = start_ns + service.as_nanos() as u64;
            let failed = matches!(outcome, Outcome::Status(503));
            e.server.serve(now_ns, start_ns, end_ns, failed);
        }
        self.sequence += 1;
        self.in_progress.push(Reverse(Completion {
            at: now_ns + latency.as_nanos() as u64,
            sequence: self.sequence,
            request,
            latency,
            outcome,
            index,
        }));
        (latency, outcome.failed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    /// A world of `a` (one slot, 10 ms a request exactly) and `b` (two slots, silent
    /// unless `b_reports`), whose cluster collects `load_reports`.
    fn world(load_reports: &str, b_reports: bool) -> (Scenario, World) {
        let text = format!(
            r#"
            [workload]
            timeout = "25ms"
            [load_reports]
            {load_reports}
            [[endpoints]]
            name = "a"
            latency = "10ms"
            latency_p99 = "10ms"
            capacity = 1
            [[endpoints]]
            name = "b"
            latency = "10ms"
            latency_p99 = "10ms"
            capacity = 2
            reports = {b_reports}
            "#
        );
        let scenario = Scenario::parse("s.toml", &text).unwrap();
        let world = World::new(&scenario);
        (scenario, world)
    }

    /// Endpoint `index`'s reading of `slot` as of `now_ns`: value and age in ms.
    fn reading(world: &World, index: usize, slot: usize, now_ns: u64) -> Option<(f64, u32)> {
        let store = world.endpoints[index].load.reported()?;
        store.reading(slot, now_ns).map(|r| (r.value, r.age_ms))
    }

    #[test]
    fn responses_carry_orca_reports_and_scrapes_read_the_queue() {
        let scrape = r#"scrape = { interval = "100ms", metrics = ["vllm:num_requests_waiting", "vllm:gpu_cache_usage_perc"] }"#;
        let (scenario, mut world) = world(scrape, false);
        // The policy asks for an ORCA named metric: it joins the catalog.
        let catalog = world.catalog().unwrap();
        assert_eq!(catalog.resolve("named_metrics.num_requests_waiting"), Ok(7));
        world.resolve_reports(&scenario);
        let (cpu, rps, eps, waiting, cache, named) = (0, 3, 4, 5, 6, 7);
        let mut rng = Rng::new(1);
        // Three requests at 1 ms to `a`: served 1–11, 11–21 and 21–31 ms; the third
        // answers after 30 ms, past the 25 ms timeout.
        let sent: Vec<_> = (0..3).map(|_| world.send(0, MS, &mut rng)).collect();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        assert_eq!(ms(sent[0].0).round(), 10.0);
        assert_eq!(ms(sent[1].0).round(), 20.0, "it waited for the slot");
        assert_eq!((ms(sent[2].0), sent[2].1), (25.0, true), "timed out");
        world.send(1, MS, &mut rng);

        world.advance_to(11 * MS);
        // The first answer's report: one busy slot for 10 of the 11 ms so far, one
        // response in 11 ms, one request being served and one waiting.
        let (value, age) = reading(&world, 0, cpu, 11 * MS).unwrap();
        assert!(
            (value - 10.0 / 11.0).abs() < 1e-9 && age == 0,
            "{value} {age}"
        );
        let (value, _) = reading(&world, 0, rps, 11 * MS).unwrap();
        assert!((value - 1000.0 / 11.0).abs() < 1e-6, "{value}");
        assert_eq!(reading(&world, 0, eps, 11 * MS), Some((0.0, 0)));
        assert_eq!(reading(&world, 0, named, 11 * MS), Some((1.0, 0)));
        assert_eq!(
            reading(&world, 0, waiting, 11 * MS),
            None,
            "not scraped yet"
        );

        world.advance_to(60 * MS);
        // The second answer's report is the last: the proxy gave up on the third.
        assert_eq!(reading(&world, 0, named, 60 * MS), Some((0.0, 39)));
        let (value, _) = reading(&world, 0, rps, 60 * MS).unwrap();
        assert!((value - 2000.0 / 21.0).abs() < 1e-6, "{value}");
        // Scraped at 50 ms (its turn in the first interval), when the third request
        // had left too.
        assert_eq!(reading(&world, 0, waiting, 60 * MS), Some((0.0, 10)));
        assert_eq!(reading(&world, 0, cache, 60 * MS), Some((0.0, 10)));
        // `b` reports nothing.
        world.advance_to(200 * MS);
        for slot in 0..8 {
            assert_eq!(reading(&world, 1, slot, 200 * MS), None);
        }
        // Scraped again at 150 ms.
        assert_eq!(reading(&world, 0, waiting, 200 * MS), Some((0.0, 50)));
        // Queued requests are read at the next scrape: at 250 ms, the first of these
        // four is answered, the second served, two wait.
        for _ in 0..4 {
            world.send(0, 240 * MS, &mut rng);
        }
        world.advance_to(250 * MS);
        assert_eq!(reading(&world, 0, waiting, 250 * MS), Some((2.0, 0)));
        assert_eq!(reading(&world, 0, cache, 250 * MS), Some((1.0, 0)));
    }

    #[test]
    fn out_of_band_reports_come_at_intervals_and_not_from_the_dead() {
        let (scenario, mut world) = world(r#"orca_interval = "100ms""#, true);
        world.resolve_reports(&scenario);
        let mut rng = Rng::new(1);
        world.send(0, MS, &mut rng);
        world.send(1, MS, &mut rng);
        world.advance_to(40 * MS);
        assert_eq!(
            reading(&world, 0, 3, 40 * MS),
            None,
            "no report on responses"
        );
        world.advance_to(120 * MS);
        // `a` reported at 50 ms, `b` at 100 ms: one response each.
        assert_eq!(reading(&world, 0, 3, 120 * MS), Some((20.0, 70)));
        assert_eq!(reading(&world, 1, 3, 120 * MS), Some((10.0, 20)));
        let change = |text: &str| -> Change {
            toml::from_str(&format!("at = \"120ms\"\nendpoint = \"b\"\n{text}")).unwrap()
        };
        world.apply(&change("down = true"), &scenario);
        world.advance_to(400 * MS);
        let age = |world: &World, index, now_ns| reading(world, index, 3, now_ns).map(|r| r.1);
        assert_eq!(age(&world, 0, 400 * MS), Some(50));
        assert_eq!(age(&world, 1, 400 * MS), Some(300), "none since it died");
        world.apply(&change("down = false\nreports = false"), &scenario);
        world.advance_to(600 * MS);
        assert_eq!(
            age(&world, 1, 600 * MS),
            Some(500),
            "nor once it stopped reporting"
        );
    }
}
