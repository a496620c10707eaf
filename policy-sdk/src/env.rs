//! What a policy can ask of the proxy while it picks: live load, reported metrics,
//! time, randomness, log.

use crate::{Candidate, EndpointId, Figures, LogLevel, MetricId, Reading, Readings, Request};
use std::cell::Cell;

/// The proxy as seen from a pick. Inside a component every load and clock call goes to
/// the host; in native tests [`testing::FakeEnv`](crate::testing::FakeEnv) answers
/// instead.
///
/// Write policy logic against `impl Env` and it runs both in the proxy and in tests:
///
/// ```
/// use switchyard_policy_sdk::testing::FakeEnv;
/// use switchyard_policy_sdk::{EndpointId, Env};
///
/// /// The endpoint with the fewest requests in flight, per unit of latency.
/// fn cheapest(env: &impl Env, ids: &[EndpointId]) -> Option<EndpointId> {
///     let cost = |id: EndpointId| {
///         let f = env.figures(id);
///         (f64::from(f.in_flight) + 1.0) * f64::from(f.latency_ewma_us.max(1))
///     };
///     ids.iter().copied().min_by(|a, b| cost(*a).total_cmp(&cost(*b)))
/// }
///
/// let mut env = FakeEnv::default();
/// env.set_in_flight(0, 4).set_latency_us(0, 100).set_latency_us(1, 300);
/// assert_eq!(cheapest(&env, &[0, 1]), Some(1));
/// ```
pub trait Env {
    /// In-flight requests, latency EWMA and error rate of `id` (zeros for a non-member).
    ///
    /// ```
    /// use switchyard_policy_sdk::Env;
    /// use switchyard_policy_sdk::testing::FakeEnv;
    ///
    /// let mut env = FakeEnv::default();
    /// env.set_in_flight(3, 2).set_error_rate(3, 0.1);
    /// let f = env.figures(3);
    /// assert_eq!((f.in_flight, f.latency_ewma_us, f.error_rate), (2, 0, 0.1));
    /// ```
    fn figures(&self, id: EndpointId) -> Figures;
    /// The figures of two endpoints in one call: the power-of-two-choices fast path.
    ///
    /// ```
    /// use switchyard_policy_sdk::Env;
    /// use switchyard_policy_sdk::testing::FakeEnv;
    ///
    /// let mut env = FakeEnv::default();
    /// env.set_in_flight(0, 1).set_in_flight(1, 5);
    /// let (a, b) = env.pair(0, 1);
    /// assert!(a.in_flight < b.in_flight);
    /// ```
    fn pair(&self, a: EndpointId, b: EndpointId) -> (Figures, Figures);
    /// Requests in flight to `id` (responses not finished yet).
    ///
    /// ```
    /// use switchyard_policy_sdk::Env;
    /// use switchyard_policy_sdk::testing::FakeEnv;
    ///
    /// let mut env = FakeEnv::default();
    /// env.set_in_flight(0, 7);
    /// assert_eq!(env.in_flight(0), 7);
    /// ```
    fn in_flight(&self, id: EndpointId) -> u32;
    /// The latest value `id` reported for `metric` (its position in
    /// [`Needs::metrics`](crate::Needs)), and its age; `None` when never reported.
    ///
    /// ```
    /// use switchyard_policy_sdk::Env;
    /// use switchyard_policy_sdk::testing::FakeEnv;
    ///
    /// let mut env = FakeEnv::default();
    /// // Metric 0 is the first name in `Needs::metrics`, say `cpu_utilization`.
    /// env.set_reported(1, 0, 0.9, 250);
    /// let fresh = env.reported(1, 0).filter(|r| r.age_ms < 1_000);
    /// assert_eq!(fresh.map(|r| r.value), Some(0.9));
    /// assert_eq!(env.reported(2, 0), None);
    /// ```
    fn reported(&self, id: EndpointId, metric: MetricId) -> Option<Reading>;
    /// Monotonic nanoseconds.
    ///
    /// ```
    /// use switchyard_policy_sdk::Env;
    /// use switchyard_policy_sdk::testing::FakeEnv;
    ///
    /// let env = FakeEnv::default();
    /// let start = env.now_ns();
    /// env.advance_ns(5_000);
    /// assert_eq!(env.now_ns() - start, 5_000);
    /// ```
    fn now_ns(&self) -> u64;
    /// 64 random bits (fast, not cryptographic).
    ///
    /// ```
    /// use switchyard_policy_sdk::Env;
    /// use switchyard_policy_sdk::testing::FakeEnv;
    ///
    /// let env = FakeEnv::default();
    /// assert_ne!(env.random(), env.random());
    /// ```
    fn random(&self) -> u64;
    /// A line for the proxy's log (rate-limited by the host).
    ///
    /// ```
    /// use switchyard_policy_sdk::testing::FakeEnv;
    /// use switchyard_policy_sdk::{Env, LogLevel};
    ///
    /// // In tests the line goes to stderr; in the proxy, to its log.
    /// FakeEnv::default().log(LogLevel::Info, "table rebuilt: 3 endpoints");
    /// ```
    fn log(&self, level: LogLevel, message: &str);

    /// The endpoints whose figures came with this pick, as
    /// [`Needs::candidates`](crate::Needs) asked: the two drawn for `two-random`, or
    /// those the previous answer watched. Empty when none came; reading their figures
    /// and declared metrics through this `Env` then costs no call to the host.
    ///
    /// ```
    /// use switchyard_policy_sdk::{Candidate, Env, Figures, PickEnv, Request};
    ///
    /// let idle = Figures { in_flight: 0, latency_ewma_us: 900, error_rate: 0.0 };
    /// let watched = vec![Candidate { id: 4, index: 0, figures: idle }];
    /// let request = Request { watched: Some(watched), ..Request::empty() };
    /// let env = PickEnv::new(&request);
    /// assert_eq!(env.delivered()[0].id, 4);
    /// assert_eq!(env.latency_ewma_us(4), 900, "read from the delivery, no host call");
    /// ```
    fn delivered(&self) -> &[Candidate] {
        &[]
    }

    /// The two endpoints the host drew for a `two-random` pick, if it drew them.
    ///
    /// ```
    /// use switchyard_policy_sdk::testing::FakeEnv;
    /// use switchyard_policy_sdk::{Candidate, Env, Figures, PickEnv, Request};
    ///
    /// let figures = Figures { in_flight: 1, latency_ewma_us: 0, error_rate: 0.0 };
    /// let a = Candidate { id: 1, index: 1, figures };
    /// let b = Candidate { id: 2, index: 2, figures };
    /// let request = Request { pair: Some((a, b)), ..Request::empty() };
    /// assert_eq!(PickEnv::new(&request).drawn_pair(), Some((&a, &b)));
    /// assert_eq!(FakeEnv::default().drawn_pair(), None);
    /// ```
    fn drawn_pair(&self) -> Option<(&Candidate, &Candidate)> {
        None
    }

    /// Latency EWMA of `id` in microseconds; 0 before its first response.
    ///
    /// ```
    /// use switchyard_policy_sdk::Env;
    /// use switchyard_policy_sdk::testing::FakeEnv;
    ///
    /// let mut env = FakeEnv::default();
    /// env.set_latency_us(0, 1_200);
    /// assert_eq!(env.latency_ewma_us(0), 1_200);
    /// ```
    fn latency_ewma_us(&self, id: EndpointId) -> u32 {
        self.figures(id).latency_ewma_us
    }
    /// Recent error rate of `id`, 0.0 to 1.0.
    ///
    /// ```
    /// use switchyard_policy_sdk::Env;
    /// use switchyard_policy_sdk::testing::FakeEnv;
    ///
    /// let mut env = FakeEnv::default();
    /// env.set_error_rate(0, 0.02);
    /// assert_eq!(env.error_rate(0), 0.02);
    /// ```
    fn error_rate(&self, id: EndpointId) -> f32 {
        self.figures(id).error_rate
    }
    /// A uniformly distributed number in [0, 1).
    ///
    /// ```
    /// use switchyard_policy_sdk::Env;
    /// use switchyard_policy_sdk::testing::FakeEnv;
    ///
    /// let env = FakeEnv::default();
    /// assert!((0..1_000).all(|_| (0.0..1.0).contains(&env.uniform())));
    /// ```
    fn uniform(&self) -> f64 {
        unit_interval(self.random())
    }

    /// A uniformly distributed number in `0..n` (`n` > 0), without modulo bias worth
    /// mentioning for the cluster sizes a proxy sees.
    ///
    /// ```
    /// use switchyard_policy_sdk::Env;
    /// use switchyard_policy_sdk::testing::FakeEnv;
    ///
    /// let env = FakeEnv::default();
    /// assert!((0..1_000).all(|_| env.below(3) < 3));
    /// ```
    fn below(&self, n: usize) -> usize {
        index_below(self.random(), n)
    }
}

/// The real host, reached through the component's imports.
///
/// Random numbers come from a generator inside the component, seeded once from the
/// host's `random`: a pick that draws twice does not pay two host calls.
///
/// Only a component can call it (natively its calls panic): write logic against
/// `impl Env`, which [`export_balancer!`](crate::export_balancer) serves with a
/// [`PickEnv`] in the proxy and tests with a [`FakeEnv`](crate::testing::FakeEnv).
///
/// ```
/// use switchyard_policy_sdk::{Env, HostEnv, Verdict};
///
/// /// A scorer helper: eject for a time that grows with the error rate.
/// fn ejection(env: &impl Env, id: u32) -> Verdict {
///     Verdict::Ejected(1_000 + (env.error_rate(id) * 30_000.0) as u32)
/// }
///
/// // What `export_scorer!` passes in a component:
/// let in_component = |id| ejection(&HostEnv, id);
/// # let _ = in_component;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct HostEnv;

thread_local! {
    static RNG: Cell<u64> = const { Cell::new(0) };
}

impl Env for HostEnv {
    fn figures(&self, id: EndpointId) -> Figures {
        crate::bindings::switchyard::policy::load::get(id)
    }
    fn pair(&self, a: EndpointId, b: EndpointId) -> (Figures, Figures) {
        crate::bindings::switchyard::policy::load::pair(a, b)
    }
    fn in_flight(&self, id: EndpointId) -> u32 {
        crate::bindings::switchyard::policy::load::in_flight(id)
    }
    fn reported(&self, id: EndpointId, metric: MetricId) -> Option<Reading> {
        crate::bindings::switchyard::policy::load::reported(id, metric)
    }
    fn now_ns(&self) -> u64 {
        crate::bindings::switchyard::policy::host::now_ns()
    }
    fn random(&self) -> u64 {
        RNG.with(|state| {
            let mut s = state.get();
            if s == 0 {
                s = crate::bindings::switchyard::policy::host::random() | 1;
            }
            let (next, value) = wyrand(s);
            state.set(next);
            value
        })
    }
    fn log(&self, level: LogLevel, message: &str) {
        crate::bindings::switchyard::policy::host::log(level, message)
    }
}

/// The host as seen from one pick: what came with the request (the time, the
/// candidates' figures and readings) is answered from it, anything else by
/// [`HostEnv`]. [`export_balancer!`](crate::export_balancer) hands one to every pick.
///
/// ```
/// use switchyard_policy_sdk::{Candidate, Env, Figures, PickEnv, Request};
///
/// let busy = Figures { in_flight: 9, latency_ewma_us: 500, error_rate: 0.0 };
/// let idle = Figures { in_flight: 0, ..busy };
/// let request = Request {
///     now_ns: 42,
///     pair: Some((
///         Candidate { id: 5, index: 0, figures: busy },
///         Candidate { id: 6, index: 1, figures: idle },
///     )),
///     ..Request::empty()
/// };
/// let env = PickEnv::new(&request);
/// assert_eq!(env.now_ns(), 42);
/// assert_eq!((env.in_flight(5), env.in_flight(6)), (9, 0));
/// ```
#[derive(Clone, Debug)]
pub struct PickEnv<'a> {
    now_ns: u64,
    delivered: DeliveredCandidates<'a>,
    readings: Option<&'a Readings>,
    /// Readings per delivered candidate (the number of declared metrics).
    per_candidate: usize,
}

/// The candidates of a pick: the pair is copied out of its tuple so that both kinds
/// read as a slice.
#[derive(Clone, Debug)]
enum DeliveredCandidates<'a> {
    Pair([Candidate; 2]),
    Watched(&'a [Candidate]),
}

impl<'a> PickEnv<'a> {
    /// The environment of a pick of `request`.
    ///
    /// ```
    /// use switchyard_policy_sdk::{Env, PickEnv, Request};
    ///
    /// let request = Request { now_ns: 7, ..Request::empty() };
    /// let env = PickEnv::new(&request);
    /// assert!(env.delivered().is_empty());
    /// assert_eq!(env.now_ns(), 7);
    /// ```
    pub fn new(request: &'a Request) -> Self {
        let delivered = match (&request.pair, &request.watched) {
            (Some((a, b)), _) => DeliveredCandidates::Pair([*a, *b]),
            (None, Some(watched)) => DeliveredCandidates::Watched(watched),
            (None, None) => DeliveredCandidates::Watched(&[]),
        };
        let readings = request.readings.as_ref();
        let candidates = match &delivered {
            DeliveredCandidates::Pair(_) => 2,
            DeliveredCandidates::Watched(watched) => watched.len(),
        };
        Self {
            now_ns: request.now_ns,
            delivered,
            readings,
            per_candidate: readings.map_or(0, Readings::len) / candidates.max(1),
        }
    }

    fn position(&self, id: EndpointId) -> Option<usize> {
        self.delivered().iter().position(|c| c.id == id)
    }
}

impl Env for PickEnv<'_> {
    fn figures(&self, id: EndpointId) -> Figures {
        match self.position(id) {
            Some(i) => self.delivered()[i].figures,
            None => HostEnv.figures(id),
        }
    }
    fn pair(&self, a: EndpointId, b: EndpointId) -> (Figures, Figures) {
        match (self.position(a), self.position(b)) {
            (Some(i), Some(j)) => (self.delivered()[i].figures, self.delivered()[j].figures),
            _ => HostEnv.pair(a, b),
        }
    }
    fn in_flight(&self, id: EndpointId) -> u32 {
        match self.position(id) {
            Some(i) => self.delivered()[i].figures.in_flight,
            None => HostEnv.in_flight(id),
        }
    }
    fn reported(&self, id: EndpointId, metric: MetricId) -> Option<Reading> {
        let metric_at = metric as usize;
        match self.readings {
            Some(delivered) if metric_at < self.per_candidate => match self.position(id) {
                Some(i) => delivered.get(i * self.per_candidate + metric_at),
                None => HostEnv.reported(id, metric),
            },
            _ => HostEnv.reported(id, metric),
        }
    }
    fn now_ns(&self) -> u64 {
        self.now_ns
    }
    fn random(&self) -> u64 {
        HostEnv.random()
    }
    fn log(&self, level: LogLevel, message: &str) {
        HostEnv.log(level, message)
    }
    fn delivered(&self) -> &[Candidate] {
        match &self.delivered {
            DeliveredCandidates::Pair(pair) => pair,
            DeliveredCandidates::Watched(watched) => watched,
        }
    }
    fn drawn_pair(&self) -> Option<(&Candidate, &Candidate)> {
        match &self.delivered {
            DeliveredCandidates::Pair([a, b]) => Some((a, b)),
            DeliveredCandidates::Watched(_) => None,
        }
    }
}

/// `bits` as a uniform index in `0..n` (multiply and keep the high 64 bits: no
/// division, no modulo bias beyond n / 2^64); 0 when `n` is 0.
///
/// ```
/// use switchyard_policy_sdk::index_below;
///
/// assert_eq!(index_below(0, 10), 0);
/// assert_eq!(index_below(u64::MAX, 10), 9);
/// assert_eq!(index_below(1 << 63, 10), 5);
/// ```
pub fn index_below(bits: u64, n: usize) -> usize {
    ((u128::from(bits) * n as u128) >> 64) as usize
}

/// `bits` as a uniformly distributed number in [0, 1) (its top 53 bits).
///
/// ```
/// use switchyard_policy_sdk::unit_interval;
///
/// assert_eq!(unit_interval(0), 0.0);
/// assert!(unit_interval(u64::MAX) < 1.0);
/// assert_eq!(unit_interval(1 << 63), 0.5);
/// ```
pub fn unit_interval(bits: u64) -> f64 {
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// One step of wyrand: the next state and a 64-bit output. Fast, not cryptographic.
///
/// ```
/// use switchyard_policy_sdk::wyrand;
///
/// // A small generator a policy keeps in its own state.
/// let mut state = 42;
/// let mut draw = || {
///     let (next, value) = wyrand(state);
///     state = next;
///     value
/// };
/// assert_ne!(draw(), draw());
/// assert_eq!(wyrand(42), wyrand(42));
/// ```
pub fn wyrand(state: u64) -> (u64, u64) {
    let next = state.wrapping_add(0xa076_1d64_78bd_642f);
    let t = u128::from(next) * u128::from(next ^ 0xe703_7ed1_a0b4_28db);
    (next, (t >> 64) as u64 ^ t as u64)
}
