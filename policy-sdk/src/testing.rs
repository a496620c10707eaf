//! Native test harness: run a policy's logic with `cargo test`, no wasmtime needed.
//!
//! [`Harness`] plays the host: it creates the policy, pushes membership, answers the
//! load imports from a [`FakeEnv`] and checks every pick the way the proxy does (ids
//! must be members; an empty answer only for an empty cluster).

use crate::{
    Balancer, Endpoint, EndpointId, Env, Figures, Health, LogLevel, Observation, Request, Scorer,
    Setup, Source, Verdict,
};
use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};

/// Load, time and randomness under a test's control.
#[derive(Debug)]
pub struct FakeEnv {
    in_flight: HashMap<EndpointId, u32>,
    latency_us: HashMap<EndpointId, u32>,
    error_rate: HashMap<EndpointId, f32>,
    now_ns: Cell<u64>,
    rng: Cell<u64>,
}

impl Default for FakeEnv {
    fn default() -> Self {
        Self {
            in_flight: HashMap::new(),
            latency_us: HashMap::new(),
            error_rate: HashMap::new(),
            now_ns: Cell::new(0),
            rng: Cell::new(0x853c_49e6_748f_ea9b),
        }
    }
}

impl FakeEnv {
    /// Sets the in-flight count of `id`.
    pub fn set_in_flight(&mut self, id: EndpointId, n: u32) -> &mut Self {
        self.in_flight.insert(id, n);
        self
    }
    /// Sets the latency EWMA of `id`, in microseconds.
    pub fn set_latency_us(&mut self, id: EndpointId, us: u32) -> &mut Self {
        self.latency_us.insert(id, us);
        self
    }
    /// Sets the error rate of `id`.
    pub fn set_error_rate(&mut self, id: EndpointId, rate: f32) -> &mut Self {
        self.error_rate.insert(id, rate);
        self
    }
    /// Moves the clock forward.
    pub fn advance_ns(&self, ns: u64) {
        self.now_ns.set(self.now_ns.get() + ns);
    }
    /// Reseeds the random generator, for a different but repeatable sequence.
    pub fn seed(&mut self, seed: u64) -> &mut Self {
        self.rng.set(seed);
        self
    }
}

impl Env for FakeEnv {
    fn figures(&self, id: EndpointId) -> Figures {
        Figures {
            in_flight: self.in_flight(id),
            latency_ewma_us: self.latency_us.get(&id).copied().unwrap_or(0),
            error_rate: self.error_rate.get(&id).copied().unwrap_or(0.0),
        }
    }
    fn pair(&self, a: EndpointId, b: EndpointId) -> (Figures, Figures) {
        (self.figures(a), self.figures(b))
    }
    fn in_flight(&self, id: EndpointId) -> u32 {
        self.in_flight.get(&id).copied().unwrap_or(0)
    }
    fn now_ns(&self) -> u64 {
        self.now_ns.get()
    }
    fn random(&self) -> u64 {
        let (next, value) = crate::env::wyrand(self.rng.get());
        self.rng.set(next);
        value
    }
    fn log(&self, level: LogLevel, message: &str) {
        eprintln!("[policy {level:?}] {message}");
    }
}

/// Endpoints with ids `0..`, addresses `127.0.0.1:9000+id`, the given weights, healthy.
pub fn endpoints(weights: &[u32]) -> Vec<Endpoint> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &weight)| Endpoint {
            id: i as EndpointId,
            address: format!("127.0.0.1:{}", 9000 + i),
            weight,
            weight_factor: 1.0,
            zone: String::new(),
            metadata: Vec::new(),
            health: Health::Healthy,
        })
        .collect()
}

/// A policy under test, with its membership and a [`FakeEnv`].
pub struct Harness<P: Balancer> {
    policy: P,
    members: Vec<Endpoint>,
    env: FakeEnv,
}

impl<P: Balancer> Harness<P> {
    /// Creates the policy with `config` for cluster `test` and pushes `members`.
    pub fn new(config: &[(&str, &str)], members: Vec<Endpoint>) -> Result<Self, String> {
        Self::with_setup(&setup(config), members)
    }

    /// Creates the policy from a full [`Setup`] and pushes `members`.
    pub fn with_setup(setup: &Setup, members: Vec<Endpoint>) -> Result<Self, String> {
        let mut harness = Self {
            policy: P::new(setup)?,
            members: Vec::new(),
            env: FakeEnv::default(),
        };
        harness.set_members(members);
        Ok(harness)
    }

    /// Replaces the membership, as the host does on a cluster change.
    pub fn set_members(&mut self, members: Vec<Endpoint>) {
        self.members = members.clone();
        self.policy.set_members(members);
    }

    /// The fake environment, to set load, time and randomness.
    pub fn env_mut(&mut self) -> &mut FakeEnv {
        &mut self.env
    }

    /// The policy itself.
    pub fn policy(&self) -> &P {
        &self.policy
    }

    /// One pick, checked as the host checks it. Panics with the reason on an answer the
    /// host would count as a fault.
    pub fn pick(&mut self, request: &Request) -> Vec<EndpointId> {
        let answer = self.policy.pick(request, &self.env).as_slice().to_vec();
        if answer.is_empty() {
            assert!(
                self.members.is_empty(),
                "policy answered no endpoint while {} are members",
                self.members.len()
            );
        }
        for id in &answer {
            assert!(
                self.members.iter().any(|m| m.id == *id),
                "policy answered id {id}, which is not a member"
            );
        }
        answer
    }

    /// How often each endpoint was the first choice over `picks` picks of an empty
    /// request.
    pub fn distribution(&mut self, picks: usize) -> BTreeMap<EndpointId, usize> {
        let request = Request::empty();
        let mut counts = BTreeMap::new();
        for _ in 0..picks {
            if let Some(first) = self.pick(&request).first() {
                *counts.entry(*first).or_insert(0) += 1;
            }
        }
        counts
    }

    /// The answer to a request whose hash key is `key`.
    pub fn pick_key(&mut self, key: u64) -> Vec<EndpointId> {
        let request = Request {
            hash_key: Some(key),
            ..Request::empty()
        };
        self.pick(&request)
    }

    /// The first choice for each of `keys` requests with hash keys `mix64(0..keys)`: how
    /// a consistent-hashing policy maps keys to endpoints.
    pub fn owners(&mut self, keys: u64) -> Vec<EndpointId> {
        (0..keys)
            .map(|k| self.pick_key(crate::mix64(k))[0])
            .collect()
    }

    /// The first choices of `picks` picks of an empty request, in order.
    pub fn sequence(&mut self, picks: usize) -> Vec<EndpointId> {
        let request = Request::empty();
        (0..picks)
            .filter_map(|_| self.pick(&request).first().copied())
            .collect()
    }
}

/// How many times each endpoint occurs in `ids`.
pub fn counts(ids: &[EndpointId]) -> BTreeMap<EndpointId, usize> {
    let mut counts = BTreeMap::new();
    for id in ids {
        *counts.entry(*id).or_insert(0) += 1;
    }
    counts
}

/// A setup for cluster `test` with `config`.
fn setup(config: &[(&str, &str)]) -> Setup {
    Setup {
        cluster: "test".into(),
        local_zone: String::new(),
        config: config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

/// A health scorer under test, with its membership and a [`FakeEnv`] whose clock
/// stamps the observations.
pub struct ScorerHarness<S: Scorer> {
    scorer: S,
    members: Vec<Endpoint>,
    env: FakeEnv,
}

impl<S: Scorer> ScorerHarness<S> {
    /// Creates the scorer with `config` for cluster `test` and pushes `members`.
    pub fn new(config: &[(&str, &str)], members: Vec<Endpoint>) -> Result<Self, String> {
        let mut harness = Self {
            scorer: S::new(&setup(config))?,
            members: Vec::new(),
            env: FakeEnv::default(),
        };
        harness.set_members(members);
        Ok(harness)
    }

    /// Replaces the membership, as the host does on a cluster change.
    pub fn set_members(&mut self, members: Vec<Endpoint>) {
        self.members = members.clone();
        self.scorer.set_members(members);
    }

    /// The fake environment, to set load, time and randomness.
    pub fn env_mut(&mut self) -> &mut FakeEnv {
        &mut self.env
    }

    /// Moves the clock forward by `ms` milliseconds.
    pub fn advance_ms(&self, ms: u64) {
        self.env.advance_ns(ms * 1_000_000);
    }

    /// A probe result for `id`, now.
    pub fn probe(&mut self, id: EndpointId, success: bool) -> Option<Verdict> {
        let status = if success { 200 } else { 503 };
        self.observe(self.observation(id, Source::Probe, success, Some(status)))
    }

    /// A proxied request's outcome for `id`, now: `status` as answered, or `None` for a
    /// connect error.
    pub fn request(&mut self, id: EndpointId, status: Option<u16>) -> Option<Verdict> {
        let success = status.is_some_and(|s| s < 500);
        let mut observation = self.observation(id, Source::Request, success, status);
        observation.connect_error = status.is_none();
        self.observe(observation)
    }

    /// A successful request to `id` that took `latency_us`, now.
    pub fn request_taking(&mut self, id: EndpointId, latency_us: u32) -> Option<Verdict> {
        let mut observation = self.observation(id, Source::Request, true, Some(200));
        observation.latency_us = latency_us;
        self.observe(observation)
    }

    /// Hands `observation` to the scorer; checks the verdict as the host does.
    pub fn observe(&mut self, observation: Observation) -> Option<Verdict> {
        let verdict = self.scorer.observe(&observation, &self.env);
        if let Some(v) = &verdict {
            self.check(observation.endpoint, v);
        }
        verdict
    }

    /// A tick at the current time; checks every verdict as the host does.
    pub fn tick(&mut self) -> Vec<(EndpointId, Verdict)> {
        let verdicts = self.scorer.tick(self.env.now_ns(), &self.env);
        for (id, verdict) in &verdicts {
            self.check(*id, verdict);
        }
        verdicts
    }

    fn observation(
        &self,
        endpoint: EndpointId,
        source: Source,
        success: bool,
        status: Option<u16>,
    ) -> Observation {
        Observation {
            endpoint,
            source,
            success,
            status,
            latency_us: 1_000,
            connect_error: false,
            timed_out: false,
            at_ns: self.env.now_ns(),
        }
    }

    fn check(&self, id: EndpointId, verdict: &Verdict) {
        assert!(
            self.members.iter().any(|m| m.id == id),
            "verdict for id {id}, which is not a member"
        );
        if let Verdict::Degraded(factor) = verdict {
            assert!(
                *factor > 0.0 && *factor <= 1.0,
                "a degraded factor must be in (0, 1], not {factor}"
            );
        }
    }
}
