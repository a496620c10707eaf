//! Native test harness: run a policy's logic with `cargo test`, no wasmtime needed.
//!
//! [`Harness`] plays the host: it creates the policy, pushes membership, answers the
//! load imports from a [`FakeEnv`] and checks every pick the way the proxy does (ids
//! must be members; an empty answer only for an empty cluster).
//!
//! A request is written as the client sent it, with [`HttpRequest`], and the harness
//! turns it into what the host would hand the policy given its [`Needs`]: only the
//! headers asked for, and the hash key computed from `hash_on` exactly as the host
//! computes it ([`hash_of`]).
//!
//! ```
//! use switchyard_policy_sdk::consistent::{Hashed, KeyMap};
//! use switchyard_policy_sdk::testing::{Harness, endpoints};
//! use switchyard_policy_sdk::{Config, Members, PolicyInfo};
//!
//! /// Key modulo the number of endpoints: not consistent, but short.
//! pub struct Modulo(usize);
//!
//! impl KeyMap for Modulo {
//!     fn describe() -> PolicyInfo {
//!         PolicyInfo::new("modulo", "key modulo the number of endpoints")
//!     }
//!     const KEYS: &'static [&'static str] = &[];
//!     fn new(_config: &Config) -> Result<Self, String> {
//!         Ok(Modulo(0))
//!     }
//!     fn rebuild(&mut self, members: &Members) {
//!         self.0 = members.len();
//!     }
//!     fn walk(&self, key: u64) -> impl Iterator<Item = usize> + '_ {
//!         (0..self.0).map(move |k| ((key % self.0 as u64) as usize + k) % self.0)
//!     }
//! }
//!
//! let mut h =
//!     Harness::<Hashed<Modulo>>::new(&[("hash_on", "cookie:sid")], endpoints(&[1, 1, 1]))
//!         .unwrap();
//! let first = h.pick_with_cookie("sid", "s42");
//! assert_eq!(h.pick_with_cookie("sid", "s42"), first, "the same key, the same endpoint");
//! ```

use crate::hash::{KeyedRequest, hash_of};
use crate::{
    Balancer, Candidate, Candidates, Endpoint, EndpointId, Env, Figures, Health, LogLevel, Method,
    MetricId, Needs, Observation, Reading, Request, Scorer, Setup, Source, Verdict,
};
use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};

/// Load, time and randomness under a test's control.
///
/// Cloning it copies the load figures, the clock and the random generator's state: the
/// clone draws the same numbers.
///
/// ```
/// use switchyard_policy_sdk::Env;
/// use switchyard_policy_sdk::testing::FakeEnv;
///
/// let mut env = FakeEnv::default();
/// env.set_in_flight(0, 3).set_latency_us(0, 800).set_error_rate(0, 0.5);
/// assert_eq!(env.in_flight(0), 3);
/// assert_eq!(env.figures(0).latency_ewma_us, 800);
/// assert_eq!(env.in_flight(9), 0, "unknown endpoints read as zero");
/// let twin = env.clone();
/// assert_eq!(env.random(), twin.random());
/// ```
#[derive(Clone, Debug)]
pub struct FakeEnv {
    in_flight: HashMap<EndpointId, u32>,
    latency_us: HashMap<EndpointId, u32>,
    error_rate: HashMap<EndpointId, f32>,
    reported: HashMap<(EndpointId, MetricId), Reading>,
    delivered: Vec<Candidate>,
    now_ns: Cell<u64>,
    rng: Cell<u64>,
}

impl Default for FakeEnv {
    fn default() -> Self {
        Self {
            in_flight: HashMap::new(),
            latency_us: HashMap::new(),
            error_rate: HashMap::new(),
            reported: HashMap::new(),
            delivered: Vec::new(),
            now_ns: Cell::new(0),
            rng: Cell::new(0x853c_49e6_748f_ea9b),
        }
    }
}

impl FakeEnv {
    /// Sets the in-flight count of `id`.
    ///
    /// ```
    /// use switchyard_policy_sdk::Env;
    /// use switchyard_policy_sdk::testing::FakeEnv;
    ///
    /// let mut env = FakeEnv::default();
    /// env.set_in_flight(2, 10);
    /// assert_eq!(env.figures(2).in_flight, 10);
    /// ```
    pub fn set_in_flight(&mut self, id: EndpointId, n: u32) -> &mut Self {
        self.in_flight.insert(id, n);
        self
    }
    /// Sets the latency EWMA of `id`, in microseconds.
    ///
    /// ```
    /// use switchyard_policy_sdk::Env;
    /// use switchyard_policy_sdk::testing::FakeEnv;
    ///
    /// let mut env = FakeEnv::default();
    /// env.set_latency_us(1, 2_500);
    /// assert_eq!(env.latency_ewma_us(1), 2_500);
    /// ```
    pub fn set_latency_us(&mut self, id: EndpointId, us: u32) -> &mut Self {
        self.latency_us.insert(id, us);
        self
    }
    /// Sets the error rate of `id`.
    ///
    /// ```
    /// use switchyard_policy_sdk::Env;
    /// use switchyard_policy_sdk::testing::FakeEnv;
    ///
    /// let mut env = FakeEnv::default();
    /// env.set_error_rate(1, 0.25);
    /// assert_eq!(env.error_rate(1), 0.25);
    /// ```
    pub fn set_error_rate(&mut self, id: EndpointId, rate: f32) -> &mut Self {
        self.error_rate.insert(id, rate);
        self
    }
    /// Sets what `id` last reported for `metric`, `age_ms` ago.
    ///
    /// ```
    /// use switchyard_policy_sdk::Env;
    /// use switchyard_policy_sdk::testing::FakeEnv;
    ///
    /// let mut env = FakeEnv::default();
    /// env.set_reported(0, 0, 0.75, 120);
    /// let reading = env.reported(0, 0).unwrap();
    /// assert_eq!((reading.value, reading.age_ms), (0.75, 120));
    /// ```
    pub fn set_reported(
        &mut self,
        id: EndpointId,
        metric: MetricId,
        value: f64,
        age_ms: u32,
    ) -> &mut Self {
        self.reported
            .insert((id, metric), Reading { value, age_ms });
        self
    }
    /// Forgets what `id` reported for `metric`.
    ///
    /// ```
    /// use switchyard_policy_sdk::Env;
    /// use switchyard_policy_sdk::testing::FakeEnv;
    ///
    /// let mut env = FakeEnv::default();
    /// env.set_reported(0, 0, 0.75, 120).clear_reported(0, 0);
    /// assert_eq!(env.reported(0, 0), None);
    /// ```
    pub fn clear_reported(&mut self, id: EndpointId, metric: MetricId) -> &mut Self {
        self.reported.remove(&(id, metric));
        self
    }
    /// Moves the clock forward.
    ///
    /// ```
    /// use switchyard_policy_sdk::Env;
    /// use switchyard_policy_sdk::testing::FakeEnv;
    ///
    /// let env = FakeEnv::default();
    /// env.advance_ns(1_000);
    /// assert_eq!(env.now_ns(), 1_000);
    /// ```
    pub fn advance_ns(&self, ns: u64) {
        self.now_ns.set(self.now_ns.get() + ns);
    }
    /// Reseeds the random generator, for a different but repeatable sequence.
    ///
    /// ```
    /// use switchyard_policy_sdk::Env;
    /// use switchyard_policy_sdk::testing::FakeEnv;
    ///
    /// let (mut a, mut b) = (FakeEnv::default(), FakeEnv::default());
    /// a.seed(7);
    /// b.seed(7);
    /// assert_eq!(a.random(), b.random());
    /// ```
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
    fn reported(&self, id: EndpointId, metric: MetricId) -> Option<Reading> {
        self.reported.get(&(id, metric)).copied()
    }
    fn delivered(&self) -> &[Candidate] {
        &self.delivered
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
///
/// ```
/// use switchyard_policy_sdk::testing::endpoints;
///
/// let members = endpoints(&[3, 1]);
/// assert_eq!((members[1].id, members[1].weight), (1, 1));
/// assert_eq!(members[1].address, "127.0.0.1:9001");
/// ```
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

/// A request as the client sent it, for [`Harness::pick_http`]: the harness hands the
/// policy what the host would make of it given the policy's [`Needs`]
/// ([`to_request`](Self::to_request)).
///
/// ```
/// use switchyard_policy_sdk::testing::HttpRequest;
///
/// let request = HttpRequest::get("/cart?item=7")
///     .header("X-User", "ann")
///     .cookie("session", "s42")
///     .client_ip([10, 0, 0, 7]);
/// assert_eq!(request.header_value("x-user"), Some("ann"));
/// assert_eq!(request.header_value("cookie"), Some("session=s42"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HttpRequest {
    /// The method, such as `GET`.
    pub method: String,
    /// `:authority` or `Host`.
    pub authority: Option<String>,
    /// Path and query.
    pub path: String,
    /// The client's address.
    pub client_addr: Option<SocketAddr>,
    /// Headers in order, names in lower case.
    pub headers: Vec<(String, String)>,
}

impl HttpRequest {
    /// `GET path` for authority `switchyard.test` from `127.0.0.1:40000`, with no
    /// headers: the request `switchyard policy check` makes.
    ///
    /// ```
    /// use switchyard_policy_sdk::testing::HttpRequest;
    ///
    /// let request = HttpRequest::get("/");
    /// assert_eq!(request.method, "GET");
    /// assert_eq!(request.client_addr.unwrap().to_string(), "127.0.0.1:40000");
    /// ```
    pub fn get(path: &str) -> Self {
        Self {
            method: "GET".into(),
            authority: Some("switchyard.test".into()),
            path: path.into(),
            client_addr: Some(SocketAddr::from(([127, 0, 0, 1], 40_000))),
            headers: Vec::new(),
        }
    }

    /// With method `method` (`POST`, ...).
    ///
    /// ```
    /// use switchyard_policy_sdk::testing::HttpRequest;
    ///
    /// assert_eq!(HttpRequest::get("/").method("POST").method, "POST");
    /// ```
    pub fn method(mut self, method: &str) -> Self {
        self.method = method.into();
        self
    }

    /// With authority `authority`.
    ///
    /// ```
    /// use switchyard_policy_sdk::testing::HttpRequest;
    ///
    /// let request = HttpRequest::get("/").authority("api.example.com");
    /// assert_eq!(request.authority.as_deref(), Some("api.example.com"));
    /// ```
    pub fn authority(mut self, authority: &str) -> Self {
        self.authority = Some(authority.into());
        self
    }

    /// With header `name: value` added (the name lower-cased); a repeated header is
    /// read by its first value, as the host does.
    ///
    /// ```
    /// use switchyard_policy_sdk::testing::HttpRequest;
    ///
    /// let request = HttpRequest::get("/").header("X-User", "ann").header("x-user", "bob");
    /// assert_eq!(request.header_value("x-user"), Some("ann"));
    /// ```
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// With cookie `name=value`, added to the `cookie` header (or starting one).
    ///
    /// ```
    /// use switchyard_policy_sdk::testing::HttpRequest;
    ///
    /// let request = HttpRequest::get("/").cookie("a", "1").cookie("session", "s42");
    /// assert_eq!(request.header_value("cookie"), Some("a=1; session=s42"));
    /// ```
    pub fn cookie(mut self, name: &str, value: &str) -> Self {
        match self.headers.iter_mut().find(|(k, _)| k == "cookie") {
            Some((_, cookies)) => {
                cookies.push_str("; ");
                cookies.push_str(name);
                cookies.push('=');
                cookies.push_str(value);
            }
            None => self
                .headers
                .push(("cookie".into(), format!("{name}={value}"))),
        }
        self
    }

    /// From client address `ip`, port 40000.
    ///
    /// ```
    /// use std::net::Ipv6Addr;
    /// use switchyard_policy_sdk::testing::HttpRequest;
    ///
    /// let request = HttpRequest::get("/").client_ip([10, 0, 0, 7]);
    /// assert_eq!(request.client_addr.unwrap().to_string(), "10.0.0.7:40000");
    /// let request = HttpRequest::get("/").client_ip(Ipv6Addr::LOCALHOST);
    /// assert_eq!(request.client_addr.unwrap().to_string(), "[::1]:40000");
    /// ```
    pub fn client_ip(mut self, ip: impl Into<IpAddr>) -> Self {
        self.client_addr = Some(SocketAddr::new(ip.into(), 40_000));
        self
    }

    /// The value of header `name` (lower case), the first when it repeats.
    ///
    /// ```
    /// use switchyard_policy_sdk::testing::HttpRequest;
    ///
    /// assert_eq!(HttpRequest::get("/").header_value("x-user"), None);
    /// ```
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// What the host hands a policy whose needs are `needs` for this request, at
    /// `now_ns`: the attributes asked for, the headers named in `needs.headers` that the
    /// request carries, and the hash key of `needs.hash_on` ([`hash_of`]). No candidates.
    ///
    /// ```
    /// use switchyard_policy_sdk::testing::HttpRequest;
    /// use switchyard_policy_sdk::{HashSource, Method, Needs, hash_key};
    ///
    /// let needs = Needs {
    ///     method: true,
    ///     headers: vec!["x-user".into()],
    ///     hash_on: Some(HashSource::Path),
    ///     ..Needs::nothing()
    /// };
    /// let request = HttpRequest::get("/a?b=1").header("x-user", "ann").header("x-other", "1");
    /// let sent = request.to_request(&needs, 0);
    /// assert_eq!(sent.method, Some(Method::Get));
    /// assert_eq!(sent.path, None, "not asked for");
    /// assert_eq!(sent.header("x-user"), Some("ann"));
    /// assert_eq!(sent.header("x-other"), None, "not asked for");
    /// assert_eq!(sent.hash_key, Some(hash_key(b"/a")));
    /// ```
    pub fn to_request(&self, needs: &Needs, now_ns: u64) -> Request {
        Request {
            method: needs.method.then(|| Method::from_name(&self.method)),
            authority: if needs.authority {
                self.authority.clone()
            } else {
                None
            },
            path: needs.path.then(|| self.path.clone()),
            client_addr: if needs.client_addr {
                self.client_addr.map(|a| a.to_string())
            } else {
                None
            },
            headers: (!needs.headers.is_empty()).then(|| {
                needs
                    .headers
                    .iter()
                    .filter_map(|name| {
                        self.header_value(name)
                            .map(|v| (name.clone(), v.to_string()))
                    })
                    .collect()
            }),
            hash_key: needs
                .hash_on
                .as_ref()
                .and_then(|source| hash_of(source.into(), self)),
            now_ns,
            ..Request::empty()
        }
    }
}

impl KeyedRequest for HttpRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.header_value(name)
    }
    fn path(&self) -> Option<&str> {
        Some(&self.path)
    }
    fn authority(&self) -> Option<&str> {
        self.authority.as_deref()
    }
    fn client_ip(&self) -> Option<IpAddr> {
        self.client_addr.map(|a| a.ip())
    }
}

/// A policy under test, with its membership and a [`FakeEnv`].
///
/// As the host does, it asks the policy for its [`Needs`] once, after creating it,
/// hands each pick only the request attributes they ask for
/// ([`pick_http`](Self::pick_http) and the `pick_with_*` helpers), and delivers to each
/// pick of a policy whose needs ask for [`Candidates::Watched`] the endpoints the
/// previous answer watched.
///
/// It is `Debug` (and `Clone`) when the policy is: `assert_eq!` on two harnesses'
/// answers prints both policies' state when they differ.
///
/// ```
/// # mod policy {
/// # use switchyard_policy_sdk::{Balancer, Choices, Endpoint, Env, Members, PolicyInfo, Request, Setup};
/// # #[derive(Clone, Debug)]
/// # pub struct RoundRobin { members: Members, next: usize }
/// # impl Balancer for RoundRobin {
/// #     fn describe() -> PolicyInfo { PolicyInfo::new("round-robin", "in turn") }
/// #     fn new(_: &Setup) -> Result<Self, String> { Ok(Self { members: Members::default(), next: 0 }) }
/// #     fn set_members(&mut self, members: Vec<Endpoint>) { self.members = Members::new(members) }
/// #     fn pick(&mut self, _: &Request, _: &impl Env) -> Choices {
/// #         self.next += 1;
/// #         self.members.preference(self.next - 1, 2)
/// #     }
/// # }
/// # }
/// # use policy::RoundRobin;
/// use switchyard_policy_sdk::testing::{Harness, endpoints};
///
/// let mut h = Harness::<RoundRobin>::new(&[], endpoints(&[1, 1, 1])).unwrap();
/// assert_eq!(h.sequence(4), [0, 1, 2, 0]);
/// let mut copy = h.clone();
/// assert_eq!(copy.sequence(2), h.sequence(2));
/// assert!(format!("{h:?}").contains("RoundRobin"));
/// ```
#[derive(Clone, Debug)]
pub struct Harness<P: Balancer> {
    policy: P,
    needs: Needs,
    members: Vec<Endpoint>,
    env: FakeEnv,
    watches: bool,
}

impl<P: Balancer> Harness<P> {
    /// Creates the policy with `config` for cluster `test` and pushes `members`.
    ///
    /// ```
    /// # mod policy {
    /// # use switchyard_policy_sdk::{Balancer, Choices, Endpoint, Env, Members, PolicyInfo, Request, Setup};
    /// # #[derive(Debug)]
    /// # pub struct Fixed(Members);
    /// # impl Balancer for Fixed {
    /// #     fn describe() -> PolicyInfo { PolicyInfo::new("fixed", "the first endpoint") }
    /// #     fn new(setup: &Setup) -> Result<Self, String> {
    /// #         setup.config().reject_unknown(&[])?;
    /// #         Ok(Self(Members::default()))
    /// #     }
    /// #     fn set_members(&mut self, members: Vec<Endpoint>) { self.0 = Members::new(members) }
    /// #     fn pick(&mut self, _: &Request, _: &impl Env) -> Choices { self.0.preference(0, 1) }
    /// # }
    /// # }
    /// # use policy::Fixed;
    /// use switchyard_policy_sdk::testing::{Harness, endpoints};
    ///
    /// assert!(Harness::<Fixed>::new(&[], endpoints(&[1])).is_ok());
    /// let refused = Harness::<Fixed>::new(&[("typo", "1")], endpoints(&[1]));
    /// assert!(refused.unwrap_err().contains("unknown key"));
    /// ```
    pub fn new(config: &[(&str, &str)], members: Vec<Endpoint>) -> Result<Self, String> {
        Self::with_setup(&setup(config), members)
    }

    /// Creates the policy from a full [`Setup`] and pushes `members`.
    ///
    /// ```
    /// # mod policy {
    /// # use switchyard_policy_sdk::{Balancer, Choices, Endpoint, Env, Members, PolicyInfo, Request, Setup};
    /// # #[derive(Debug)]
    /// # pub struct Local { zone: String, members: Members }
    /// # impl Balancer for Local {
    /// #     fn describe() -> PolicyInfo { PolicyInfo::new("local", "the proxy's zone only") }
    /// #     fn new(setup: &Setup) -> Result<Self, String> {
    /// #         Ok(Self { zone: setup.local_zone.clone(), members: Members::default() })
    /// #     }
    /// #     fn set_members(&mut self, members: Vec<Endpoint>) {
    /// #         self.members = Members::new(members.into_iter().filter(|e| e.zone == self.zone).collect())
    /// #     }
    /// #     fn pick(&mut self, _: &Request, _: &impl Env) -> Choices { self.members.preference(0, 1) }
    /// # }
    /// # }
    /// # use policy::Local;
    /// use switchyard_policy_sdk::Setup;
    /// use switchyard_policy_sdk::testing::{Harness, endpoints};
    ///
    /// let mut members = endpoints(&[1, 1]);
    /// members[1].zone = "b".into();
    /// let setup = Setup { cluster: "api".into(), local_zone: "b".into(), config: Vec::new() };
    /// let mut h = Harness::<Local>::with_setup(&setup, members).unwrap();
    /// assert_eq!(h.sequence(3), [1, 1, 1]);
    /// ```
    pub fn with_setup(setup: &Setup, members: Vec<Endpoint>) -> Result<Self, String> {
        let policy = P::new(setup)?;
        let needs = policy.needs();
        let watches = matches!(needs.candidates, Candidates::Watched);
        let mut harness = Self {
            policy,
            needs,
            members: Vec::new(),
            env: FakeEnv::default(),
            watches,
        };
        harness.set_members(members);
        Ok(harness)
    }

    /// Replaces the membership, as the host does on a cluster change.
    ///
    /// ```
    /// # mod policy {
    /// # use switchyard_policy_sdk::{Balancer, Choices, Endpoint, Env, Members, PolicyInfo, Request, Setup};
    /// # #[derive(Debug)]
    /// # pub struct Fixed(Members);
    /// # impl Balancer for Fixed {
    /// #     fn describe() -> PolicyInfo { PolicyInfo::new("fixed", "the first endpoint") }
    /// #     fn new(_: &Setup) -> Result<Self, String> { Ok(Self(Members::default())) }
    /// #     fn set_members(&mut self, members: Vec<Endpoint>) { self.0 = Members::new(members) }
    /// #     fn pick(&mut self, _: &Request, _: &impl Env) -> Choices { self.0.preference(0, 1) }
    /// # }
    /// # }
    /// # use policy::Fixed;
    /// use switchyard_policy_sdk::Request;
    /// use switchyard_policy_sdk::testing::{Harness, endpoints};
    ///
    /// let mut h = Harness::<Fixed>::new(&[], endpoints(&[1, 1])).unwrap();
    /// h.set_members(Vec::new());
    /// assert!(h.pick(&Request::empty()).is_empty(), "no member, no answer");
    /// ```
    pub fn set_members(&mut self, members: Vec<Endpoint>) {
        self.members = members.clone();
        self.env.delivered.clear();
        self.policy.set_members(members);
    }

    /// The fake environment, to set load, time and randomness.
    ///
    /// ```
    /// # mod policy {
    /// # use switchyard_policy_sdk::{Balancer, Choices, Endpoint, Env, Members, PolicyInfo, Request, Setup};
    /// # #[derive(Debug)]
    /// # pub struct Idlest(Members);
    /// # impl Balancer for Idlest {
    /// #     fn describe() -> PolicyInfo { PolicyInfo::new("idlest", "fewest in flight") }
    /// #     fn new(_: &Setup) -> Result<Self, String> { Ok(Self(Members::default())) }
    /// #     fn set_members(&mut self, members: Vec<Endpoint>) { self.0 = Members::new(members) }
    /// #     fn pick(&mut self, _: &Request, env: &impl Env) -> Choices {
    /// #         self.0.iter().map(|e| e.id).min_by_key(|id| env.in_flight(*id)).into_iter().collect()
    /// #     }
    /// # }
    /// # }
    /// # use policy::Idlest;
    /// use switchyard_policy_sdk::testing::{Harness, endpoints};
    ///
    /// let mut h = Harness::<Idlest>::new(&[], endpoints(&[1, 1])).unwrap();
    /// h.env_mut().set_in_flight(0, 5);
    /// assert_eq!(h.sequence(2), [1, 1]);
    /// ```
    pub fn env_mut(&mut self) -> &mut FakeEnv {
        &mut self.env
    }

    /// The policy itself.
    ///
    /// ```
    /// # mod policy {
    /// # use switchyard_policy_sdk::{Balancer, Choices, Endpoint, Env, Members, PolicyInfo, Request, Setup};
    /// # #[derive(Debug)]
    /// # pub struct Counting { members: Members, pub picks: usize }
    /// # impl Balancer for Counting {
    /// #     fn describe() -> PolicyInfo { PolicyInfo::new("counting", "counts its picks") }
    /// #     fn new(_: &Setup) -> Result<Self, String> { Ok(Self { members: Members::default(), picks: 0 }) }
    /// #     fn set_members(&mut self, members: Vec<Endpoint>) { self.members = Members::new(members) }
    /// #     fn pick(&mut self, _: &Request, _: &impl Env) -> Choices {
    /// #         self.picks += 1;
    /// #         self.members.preference(0, 1)
    /// #     }
    /// # }
    /// # }
    /// # use policy::Counting;
    /// use switchyard_policy_sdk::testing::{Harness, endpoints};
    ///
    /// let mut h = Harness::<Counting>::new(&[], endpoints(&[1])).unwrap();
    /// h.distribution(10);
    /// assert_eq!(h.policy().picks, 10);
    /// ```
    pub fn policy(&self) -> &P {
        &self.policy
    }

    /// What the policy asked to see of each request, as the host keeps it after `init`.
    ///
    /// ```
    /// # mod policy {
    /// # use switchyard_policy_sdk::consistent::{Hashed, KeyMap};
    /// # use switchyard_policy_sdk::{Config, Members, PolicyInfo};
    /// # #[derive(Debug)]
    /// # pub struct Modulo(usize);
    /// # impl KeyMap for Modulo {
    /// #     fn describe() -> PolicyInfo { PolicyInfo::new("modulo", "key modulo n") }
    /// #     const KEYS: &'static [&'static str] = &[];
    /// #     fn new(_: &Config) -> Result<Self, String> { Ok(Modulo(0)) }
    /// #     fn rebuild(&mut self, members: &Members) { self.0 = members.len() }
    /// #     fn walk(&self, key: u64) -> impl Iterator<Item = usize> + '_ {
    /// #         (0..self.0).map(move |k| ((key % self.0 as u64) as usize + k) % self.0)
    /// #     }
    /// # }
    /// # }
    /// # use policy::Modulo;
    /// # use switchyard_policy_sdk::consistent::{Hashed, KeyMap};
    /// use switchyard_policy_sdk::HashSource;
    /// use switchyard_policy_sdk::testing::{Harness, endpoints};
    ///
    /// let h = Harness::<Hashed<Modulo>>::new(&[("hash_on", "path")], endpoints(&[1])).unwrap();
    /// assert_eq!(h.needs().hash_on, Some(HashSource::Path));
    /// ```
    pub fn needs(&self) -> &Needs {
        &self.needs
    }

    /// One pick, checked as the host checks it. Panics with the reason on an answer the
    /// host would count as a fault.
    ///
    /// ```
    /// # mod policy {
    /// # use switchyard_policy_sdk::{Balancer, Choices, Endpoint, Env, Members, PolicyInfo, Request, Setup};
    /// # #[derive(Debug)]
    /// # pub struct Fixed(Members);
    /// # impl Balancer for Fixed {
    /// #     fn describe() -> PolicyInfo { PolicyInfo::new("fixed", "the first endpoint") }
    /// #     fn new(_: &Setup) -> Result<Self, String> { Ok(Self(Members::default())) }
    /// #     fn set_members(&mut self, members: Vec<Endpoint>) { self.0 = Members::new(members) }
    /// #     fn pick(&mut self, _: &Request, _: &impl Env) -> Choices { self.0.preference(0, 2) }
    /// # }
    /// # }
    /// # use policy::Fixed;
    /// use switchyard_policy_sdk::Request;
    /// use switchyard_policy_sdk::testing::{Harness, endpoints};
    ///
    /// let mut h = Harness::<Fixed>::new(&[], endpoints(&[1, 1, 1])).unwrap();
    /// assert_eq!(h.pick(&Request::empty()), [0, 1]);
    /// ```
    pub fn pick(&mut self, request: &Request) -> Vec<EndpointId> {
        let choices = self.policy.pick(request, &self.env);
        if self.watches {
            let delivered: Vec<Candidate> = choices
                .watched()
                .iter()
                .filter_map(|id| {
                    let index = self.members.iter().position(|m| m.id == *id)?;
                    Some(Candidate {
                        id: *id,
                        index: index as u32,
                        figures: self.env.figures(*id),
                    })
                })
                .collect();
            self.env.delivered = delivered;
        }
        let answer = choices.as_slice().to_vec();
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

    /// The [`Request`] the host would hand the policy for `http`, given its needs, at
    /// the fake clock's time.
    ///
    /// ```
    /// # mod policy {
    /// # use switchyard_policy_sdk::consistent::{Hashed, KeyMap};
    /// # use switchyard_policy_sdk::{Config, Members, PolicyInfo};
    /// # #[derive(Debug)]
    /// # pub struct Modulo(usize);
    /// # impl KeyMap for Modulo {
    /// #     fn describe() -> PolicyInfo { PolicyInfo::new("modulo", "key modulo n") }
    /// #     const KEYS: &'static [&'static str] = &[];
    /// #     fn new(_: &Config) -> Result<Self, String> { Ok(Modulo(0)) }
    /// #     fn rebuild(&mut self, members: &Members) { self.0 = members.len() }
    /// #     fn walk(&self, key: u64) -> impl Iterator<Item = usize> + '_ {
    /// #         (0..self.0).map(move |k| ((key % self.0 as u64) as usize + k) % self.0)
    /// #     }
    /// # }
    /// # }
    /// # use policy::Modulo;
    /// # use switchyard_policy_sdk::consistent::{Hashed, KeyMap};
    /// use switchyard_policy_sdk::hash_key;
    /// use switchyard_policy_sdk::testing::{Harness, HttpRequest, endpoints};
    ///
    /// let h = Harness::<Hashed<Modulo>>::new(&[("hash_on", "header:x-user")], endpoints(&[1]))
    ///     .unwrap();
    /// let sent = h.request_for(&HttpRequest::get("/").header("x-user", "ann"));
    /// assert_eq!(sent.hash_key, Some(hash_key(b"ann")));
    /// assert_eq!(sent.headers, None, "hashing on a header does not copy it");
    /// ```
    pub fn request_for(&self, http: &HttpRequest) -> Request {
        http.to_request(&self.needs, self.env.now_ns())
    }

    /// One pick of `http`, as the host would send it (see
    /// [`request_for`](Self::request_for)), checked as [`pick`](Self::pick) checks it.
    ///
    /// ```
    /// # mod policy {
    /// # use switchyard_policy_sdk::consistent::{Hashed, KeyMap};
    /// # use switchyard_policy_sdk::{Config, Members, PolicyInfo};
    /// # #[derive(Debug)]
    /// # pub struct Modulo(usize);
    /// # impl KeyMap for Modulo {
    /// #     fn describe() -> PolicyInfo { PolicyInfo::new("modulo", "key modulo n") }
    /// #     const KEYS: &'static [&'static str] = &[];
    /// #     fn new(_: &Config) -> Result<Self, String> { Ok(Modulo(0)) }
    /// #     fn rebuild(&mut self, members: &Members) { self.0 = members.len() }
    /// #     fn walk(&self, key: u64) -> impl Iterator<Item = usize> + '_ {
    /// #         (0..self.0).map(move |k| ((key % self.0 as u64) as usize + k) % self.0)
    /// #     }
    /// # }
    /// # }
    /// # use policy::Modulo;
    /// # use switchyard_policy_sdk::consistent::{Hashed, KeyMap};
    /// use switchyard_policy_sdk::testing::{Harness, HttpRequest, endpoints};
    ///
    /// let mut h = Harness::<Hashed<Modulo>>::new(&[("hash_on", "authority")], endpoints(&[1, 1]))
    ///     .unwrap();
    /// let request = HttpRequest::get("/").authority("api.example.com");
    /// assert_eq!(h.pick_http(&request), h.pick_http(&request));
    /// ```
    pub fn pick_http(&mut self, http: &HttpRequest) -> Vec<EndpointId> {
        let request = self.request_for(http);
        self.pick(&request)
    }

    /// One pick of `GET /` carrying header `name: value`. Its hash key is the header's
    /// only when the policy hashes on `header:NAME`, and the header reaches the policy
    /// only when its needs list it, as in the proxy.
    ///
    /// ```
    /// # mod policy {
    /// # use switchyard_policy_sdk::consistent::{Hashed, KeyMap};
    /// # use switchyard_policy_sdk::{Config, Members, PolicyInfo};
    /// # #[derive(Debug)]
    /// # pub struct Modulo(usize);
    /// # impl KeyMap for Modulo {
    /// #     fn describe() -> PolicyInfo { PolicyInfo::new("modulo", "key modulo n") }
    /// #     const KEYS: &'static [&'static str] = &[];
    /// #     fn new(_: &Config) -> Result<Self, String> { Ok(Modulo(0)) }
    /// #     fn rebuild(&mut self, members: &Members) { self.0 = members.len() }
    /// #     fn walk(&self, key: u64) -> impl Iterator<Item = usize> + '_ {
    /// #         (0..self.0).map(move |k| ((key % self.0 as u64) as usize + k) % self.0)
    /// #     }
    /// # }
    /// # }
    /// # use policy::Modulo;
    /// # use switchyard_policy_sdk::consistent::{Hashed, KeyMap};
    /// use switchyard_policy_sdk::hash_key;
    /// use switchyard_policy_sdk::testing::{Harness, endpoints};
    ///
    /// let mut h =
    ///     Harness::<Hashed<Modulo>>::new(&[("hash_on", "header:x-user")], endpoints(&[1, 1, 1]))
    ///         .unwrap();
    /// let owner = (hash_key(b"ann") % 3) as u32;
    /// assert_eq!(h.pick_with_header("X-User", "ann")[0], owner);
    /// ```
    pub fn pick_with_header(&mut self, name: &str, value: &str) -> Vec<EndpointId> {
        self.pick_http(&HttpRequest::get("/").header(name, value))
    }

    /// One pick of `GET /` carrying cookie `name=value` (in a `cookie` header).
    ///
    /// ```
    /// # mod policy {
    /// # use switchyard_policy_sdk::consistent::{Hashed, KeyMap};
    /// # use switchyard_policy_sdk::{Config, Members, PolicyInfo};
    /// # #[derive(Debug)]
    /// # pub struct Modulo(usize);
    /// # impl KeyMap for Modulo {
    /// #     fn describe() -> PolicyInfo { PolicyInfo::new("modulo", "key modulo n") }
    /// #     const KEYS: &'static [&'static str] = &[];
    /// #     fn new(_: &Config) -> Result<Self, String> { Ok(Modulo(0)) }
    /// #     fn rebuild(&mut self, members: &Members) { self.0 = members.len() }
    /// #     fn walk(&self, key: u64) -> impl Iterator<Item = usize> + '_ {
    /// #         (0..self.0).map(move |k| ((key % self.0 as u64) as usize + k) % self.0)
    /// #     }
    /// # }
    /// # }
    /// # use policy::Modulo;
    /// # use switchyard_policy_sdk::consistent::{Hashed, KeyMap};
    /// use switchyard_policy_sdk::hash_key;
    /// use switchyard_policy_sdk::testing::{Harness, endpoints};
    ///
    /// let mut h =
    ///     Harness::<Hashed<Modulo>>::new(&[("hash_on", "cookie:sid")], endpoints(&[1, 1, 1]))
    ///         .unwrap();
    /// let owner = (hash_key(b"s42") % 3) as u32;
    /// assert_eq!(h.pick_with_cookie("sid", "s42")[0], owner);
    /// ```
    pub fn pick_with_cookie(&mut self, name: &str, value: &str) -> Vec<EndpointId> {
        self.pick_http(&HttpRequest::get("/").cookie(name, value))
    }

    /// One pick of `GET path` (path and query; `hash_on = "path"` hashes the path
    /// without the query).
    ///
    /// ```
    /// # mod policy {
    /// # use switchyard_policy_sdk::consistent::{Hashed, KeyMap};
    /// # use switchyard_policy_sdk::{Config, Members, PolicyInfo};
    /// # #[derive(Debug)]
    /// # pub struct Modulo(usize);
    /// # impl KeyMap for Modulo {
    /// #     fn describe() -> PolicyInfo { PolicyInfo::new("modulo", "key modulo n") }
    /// #     const KEYS: &'static [&'static str] = &[];
    /// #     fn new(_: &Config) -> Result<Self, String> { Ok(Modulo(0)) }
    /// #     fn rebuild(&mut self, members: &Members) { self.0 = members.len() }
    /// #     fn walk(&self, key: u64) -> impl Iterator<Item = usize> + '_ {
    /// #         (0..self.0).map(move |k| ((key % self.0 as u64) as usize + k) % self.0)
    /// #     }
    /// # }
    /// # }
    /// # use policy::Modulo;
    /// # use switchyard_policy_sdk::consistent::{Hashed, KeyMap};
    /// use switchyard_policy_sdk::testing::{Harness, endpoints};
    ///
    /// let mut h = Harness::<Hashed<Modulo>>::new(&[("hash_on", "path")], endpoints(&[1, 1, 1]))
    ///     .unwrap();
    /// assert_eq!(h.pick_with_path("/users/42?tab=2"), h.pick_with_path("/users/42"));
    /// ```
    pub fn pick_with_path(&mut self, path: &str) -> Vec<EndpointId> {
        self.pick_http(&HttpRequest::get(path))
    }

    /// One pick of `GET /` from client address `ip`.
    ///
    /// ```
    /// # mod policy {
    /// # use switchyard_policy_sdk::consistent::{Hashed, KeyMap};
    /// # use switchyard_policy_sdk::{Config, Members, PolicyInfo};
    /// # #[derive(Debug)]
    /// # pub struct Modulo(usize);
    /// # impl KeyMap for Modulo {
    /// #     fn describe() -> PolicyInfo { PolicyInfo::new("modulo", "key modulo n") }
    /// #     const KEYS: &'static [&'static str] = &[];
    /// #     fn new(_: &Config) -> Result<Self, String> { Ok(Modulo(0)) }
    /// #     fn rebuild(&mut self, members: &Members) { self.0 = members.len() }
    /// #     fn walk(&self, key: u64) -> impl Iterator<Item = usize> + '_ {
    /// #         (0..self.0).map(move |k| ((key % self.0 as u64) as usize + k) % self.0)
    /// #     }
    /// # }
    /// # }
    /// # use policy::Modulo;
    /// # use switchyard_policy_sdk::consistent::{Hashed, KeyMap};
    /// use switchyard_policy_sdk::hash_key;
    /// use switchyard_policy_sdk::testing::{Harness, endpoints};
    ///
    /// // `client-ip` is what `Hashed` hashes on when `hash_on` is not set.
    /// let mut h = Harness::<Hashed<Modulo>>::new(&[], endpoints(&[1, 1, 1])).unwrap();
    /// let owner = (hash_key(b"10.0.0.7") % 3) as u32;
    /// assert_eq!(h.pick_with_client_ip([10, 0, 0, 7])[0], owner);
    /// ```
    pub fn pick_with_client_ip(&mut self, ip: impl Into<IpAddr>) -> Vec<EndpointId> {
        self.pick_http(&HttpRequest::get("/").client_ip(ip))
    }

    /// How often each endpoint was the first choice over `picks` picks of an empty
    /// request.
    ///
    /// ```
    /// # mod policy {
    /// # use switchyard_policy_sdk::{Balancer, Choices, Endpoint, Env, Members, PolicyInfo, Request, Setup};
    /// # #[derive(Debug)]
    /// # pub struct RoundRobin { members: Members, next: usize }
    /// # impl Balancer for RoundRobin {
    /// #     fn describe() -> PolicyInfo { PolicyInfo::new("round-robin", "in turn") }
    /// #     fn new(_: &Setup) -> Result<Self, String> { Ok(Self { members: Members::default(), next: 0 }) }
    /// #     fn set_members(&mut self, members: Vec<Endpoint>) { self.members = Members::new(members) }
    /// #     fn pick(&mut self, _: &Request, _: &impl Env) -> Choices {
    /// #         self.next += 1;
    /// #         self.members.preference(self.next - 1, 2)
    /// #     }
    /// # }
    /// # }
    /// # use policy::RoundRobin;
    /// use switchyard_policy_sdk::testing::{Harness, endpoints};
    ///
    /// let mut h = Harness::<RoundRobin>::new(&[], endpoints(&[1, 1])).unwrap();
    /// let counts = h.distribution(10);
    /// assert_eq!((counts[&0], counts[&1]), (5, 5));
    /// ```
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
    ///
    /// ```
    /// # mod policy {
    /// # use switchyard_policy_sdk::consistent::{Hashed, KeyMap};
    /// # use switchyard_policy_sdk::{Config, Members, PolicyInfo};
    /// # #[derive(Debug)]
    /// # pub struct Modulo(usize);
    /// # impl KeyMap for Modulo {
    /// #     fn describe() -> PolicyInfo { PolicyInfo::new("modulo", "key modulo n") }
    /// #     const KEYS: &'static [&'static str] = &[];
    /// #     fn new(_: &Config) -> Result<Self, String> { Ok(Modulo(0)) }
    /// #     fn rebuild(&mut self, members: &Members) { self.0 = members.len() }
    /// #     fn walk(&self, key: u64) -> impl Iterator<Item = usize> + '_ {
    /// #         (0..self.0).map(move |k| ((key % self.0 as u64) as usize + k) % self.0)
    /// #     }
    /// # }
    /// # }
    /// # use policy::Modulo;
    /// # use switchyard_policy_sdk::consistent::{Hashed, KeyMap};
    /// use switchyard_policy_sdk::testing::{Harness, endpoints};
    ///
    /// let mut h = Harness::<Hashed<Modulo>>::new(&[], endpoints(&[1, 1, 1])).unwrap();
    /// assert_eq!(h.pick_key(4), [1, 2, 0], "the key's endpoint, then fallbacks");
    /// ```
    pub fn pick_key(&mut self, key: u64) -> Vec<EndpointId> {
        let request = Request {
            hash_key: Some(key),
            ..Request::empty()
        };
        self.pick(&request)
    }

    /// The first choice for each of `keys` requests with hash keys `mix64(0..keys)`: how
    /// a consistent-hashing policy maps keys to endpoints.
    ///
    /// ```
    /// # mod policy {
    /// # use switchyard_policy_sdk::consistent::{Hashed, KeyMap};
    /// # use switchyard_policy_sdk::{Config, Members, PolicyInfo};
    /// # #[derive(Debug)]
    /// # pub struct Modulo(usize);
    /// # impl KeyMap for Modulo {
    /// #     fn describe() -> PolicyInfo { PolicyInfo::new("modulo", "key modulo n") }
    /// #     const KEYS: &'static [&'static str] = &[];
    /// #     fn new(_: &Config) -> Result<Self, String> { Ok(Modulo(0)) }
    /// #     fn rebuild(&mut self, members: &Members) { self.0 = members.len() }
    /// #     fn walk(&self, key: u64) -> impl Iterator<Item = usize> + '_ {
    /// #         (0..self.0).map(move |k| ((key % self.0 as u64) as usize + k) % self.0)
    /// #     }
    /// # }
    /// # }
    /// # use policy::Modulo;
    /// # use switchyard_policy_sdk::consistent::{Hashed, KeyMap};
    /// use switchyard_policy_sdk::testing::{Harness, counts, endpoints};
    ///
    /// let mut h = Harness::<Hashed<Modulo>>::new(&[], endpoints(&[1, 1, 1, 1])).unwrap();
    /// let before = h.owners(1_000);
    /// h.set_members(endpoints(&[1, 1, 1]));
    /// let moved = before.iter().zip(h.owners(1_000)).filter(|(a, b)| **a != *b).count();
    /// assert!(moved > 500, "modulo hashing moves most keys: {moved}");
    /// assert!(counts(&before).values().all(|&n| n > 200));
    /// ```
    pub fn owners(&mut self, keys: u64) -> Vec<EndpointId> {
        (0..keys)
            .map(|k| self.pick_key(crate::mix64(k))[0])
            .collect()
    }

    /// The first choices of `picks` picks of an empty request, in order.
    ///
    /// ```
    /// # mod policy {
    /// # use switchyard_policy_sdk::{Balancer, Choices, Endpoint, Env, Members, PolicyInfo, Request, Setup};
    /// # #[derive(Debug)]
    /// # pub struct RoundRobin { members: Members, next: usize }
    /// # impl Balancer for RoundRobin {
    /// #     fn describe() -> PolicyInfo { PolicyInfo::new("round-robin", "in turn") }
    /// #     fn new(_: &Setup) -> Result<Self, String> { Ok(Self { members: Members::default(), next: 0 }) }
    /// #     fn set_members(&mut self, members: Vec<Endpoint>) { self.members = Members::new(members) }
    /// #     fn pick(&mut self, _: &Request, _: &impl Env) -> Choices {
    /// #         self.next += 1;
    /// #         self.members.preference(self.next - 1, 2)
    /// #     }
    /// # }
    /// # }
    /// # use policy::RoundRobin;
    /// use switchyard_policy_sdk::testing::{Harness, endpoints};
    ///
    /// let mut h = Harness::<RoundRobin>::new(&[], endpoints(&[1, 1, 1])).unwrap();
    /// assert_eq!(h.sequence(5), [0, 1, 2, 0, 1]);
    /// ```
    pub fn sequence(&mut self, picks: usize) -> Vec<EndpointId> {
        let request = Request::empty();
        (0..picks)
            .filter_map(|_| self.pick(&request).first().copied())
            .collect()
    }
}

/// How many times each endpoint occurs in `ids`.
///
/// ```
/// use switchyard_policy_sdk::testing::counts;
///
/// let counts = counts(&[2, 0, 2, 2]);
/// assert_eq!((counts[&0], counts[&2]), (1, 3));
/// assert_eq!(counts.get(&1), None);
/// ```
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
/// stamps the observations. `Debug` and `Clone` when the scorer is.
///
/// ```
/// # mod policy {
/// # use std::collections::HashMap;
/// # use switchyard_policy_sdk::{Endpoint, EndpointId, Env, Observation, PolicyInfo, ProbeStreak,
/// #     ProbeThresholds, Scorer, Setup, Source, Verdict};
/// # #[derive(Clone, Debug)]
/// # pub struct Probes { thresholds: ProbeThresholds, streaks: HashMap<EndpointId, ProbeStreak> }
/// # impl Scorer for Probes {
/// #     fn describe() -> PolicyInfo { PolicyInfo::new("probes", "probe thresholds only") }
/// #     fn new(setup: &Setup) -> Result<Self, String> {
/// #         Ok(Self { thresholds: ProbeThresholds::from_config(&setup.config())?, streaks: HashMap::new() })
/// #     }
/// #     fn set_members(&mut self, _: Vec<Endpoint>) {}
/// #     fn observe(&mut self, o: &Observation, _: &impl Env) -> Option<Verdict> {
/// #         if o.source != Source::Probe { return None; }
/// #         match self.streaks.entry(o.endpoint).or_default().record(o.success, self.thresholds)? {
/// #             true => Some(Verdict::Ejected(60_000)),
/// #             false => Some(Verdict::Healthy),
/// #         }
/// #     }
/// #     fn tick(&mut self, _: u64, _: &impl Env) -> Vec<(EndpointId, Verdict)> { Vec::new() }
/// # }
/// # }
/// # use policy::Probes;
/// use switchyard_policy_sdk::Verdict;
/// use switchyard_policy_sdk::testing::{ScorerHarness, endpoints};
///
/// let mut h = ScorerHarness::<Probes>::new(&[("unhealthy_threshold", "2")], endpoints(&[1, 1]))
///     .unwrap();
/// assert_eq!(h.probe(0, false), None);
/// assert_eq!(h.probe(0, false), Some(Verdict::Ejected(60_000)));
/// ```
#[derive(Clone, Debug)]
pub struct ScorerHarness<S: Scorer> {
    scorer: S,
    members: Vec<Endpoint>,
    env: FakeEnv,
}

impl<S: Scorer> ScorerHarness<S> {
    /// Creates the scorer with `config` for cluster `test` and pushes `members`.
    ///
    /// ```
    /// # mod policy {
    /// # use switchyard_policy_sdk::{Endpoint, EndpointId, Env, Observation, PolicyInfo, Scorer, Setup, Verdict};
    /// # #[derive(Debug)]
    /// # pub struct Strict(Vec<EndpointId>);
    /// # impl Scorer for Strict {
    /// #     fn describe() -> PolicyInfo { PolicyInfo::new("strict", "one failure ejects") }
    /// #     fn new(_: &Setup) -> Result<Self, String> { Ok(Strict(Vec::new())) }
    /// #     fn set_members(&mut self, _: Vec<Endpoint>) {}
    /// #     fn observe(&mut self, o: &Observation, _: &impl Env) -> Option<Verdict> {
    /// #         (!o.success).then(|| { self.0.push(o.endpoint); Verdict::Ejected(1_000) })
    /// #     }
    /// #     fn tick(&mut self, _: u64, _: &impl Env) -> Vec<(EndpointId, Verdict)> {
    /// #         self.0.drain(..).map(|id| (id, Verdict::Healthy)).collect()
    /// #     }
    /// # }
    /// # }
    /// # use policy::Strict;
    /// use switchyard_policy_sdk::Verdict;
    /// use switchyard_policy_sdk::testing::{ScorerHarness, endpoints};
    ///
    /// let mut h = ScorerHarness::<Strict>::new(&[], endpoints(&[1, 1])).unwrap();
    /// assert_eq!(h.probe(1, true), None);
    /// ```
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
    ///
    /// ```
    /// # mod policy {
    /// # use switchyard_policy_sdk::{Endpoint, EndpointId, Env, Observation, PolicyInfo, Scorer, Setup, Verdict};
    /// # #[derive(Debug)]
    /// # pub struct Strict(Vec<EndpointId>);
    /// # impl Scorer for Strict {
    /// #     fn describe() -> PolicyInfo { PolicyInfo::new("strict", "one failure ejects") }
    /// #     fn new(_: &Setup) -> Result<Self, String> { Ok(Strict(Vec::new())) }
    /// #     fn set_members(&mut self, _: Vec<Endpoint>) {}
    /// #     fn observe(&mut self, o: &Observation, _: &impl Env) -> Option<Verdict> {
    /// #         (!o.success).then(|| { self.0.push(o.endpoint); Verdict::Ejected(1_000) })
    /// #     }
    /// #     fn tick(&mut self, _: u64, _: &impl Env) -> Vec<(EndpointId, Verdict)> {
    /// #         self.0.drain(..).map(|id| (id, Verdict::Healthy)).collect()
    /// #     }
    /// # }
    /// # }
    /// # use policy::Strict;
    /// use switchyard_policy_sdk::Verdict;
    /// use switchyard_policy_sdk::testing::{ScorerHarness, endpoints};
    ///
    /// let mut h = ScorerHarness::<Strict>::new(&[], endpoints(&[1, 1])).unwrap();
    /// h.set_members(endpoints(&[1, 1, 1]));
    /// assert_eq!(h.probe(2, false), Some(Verdict::Ejected(1_000)));
    /// ```
    pub fn set_members(&mut self, members: Vec<Endpoint>) {
        self.members = members.clone();
        self.scorer.set_members(members);
    }

    /// The fake environment, to set load, time and randomness.
    ///
    /// ```
    /// # mod policy {
    /// # use switchyard_policy_sdk::{Endpoint, EndpointId, Env, Observation, PolicyInfo, Scorer, Setup, Verdict};
    /// # #[derive(Debug)]
    /// # pub struct Strict(Vec<EndpointId>);
    /// # impl Scorer for Strict {
    /// #     fn describe() -> PolicyInfo { PolicyInfo::new("strict", "one failure ejects") }
    /// #     fn new(_: &Setup) -> Result<Self, String> { Ok(Strict(Vec::new())) }
    /// #     fn set_members(&mut self, _: Vec<Endpoint>) {}
    /// #     fn observe(&mut self, o: &Observation, _: &impl Env) -> Option<Verdict> {
    /// #         (!o.success).then(|| { self.0.push(o.endpoint); Verdict::Ejected(1_000) })
    /// #     }
    /// #     fn tick(&mut self, _: u64, _: &impl Env) -> Vec<(EndpointId, Verdict)> {
    /// #         self.0.drain(..).map(|id| (id, Verdict::Healthy)).collect()
    /// #     }
    /// # }
    /// # }
    /// # use policy::Strict;
    /// use switchyard_policy_sdk::Verdict;
    /// use switchyard_policy_sdk::testing::{ScorerHarness, endpoints};
    ///
    /// let mut h = ScorerHarness::<Strict>::new(&[], endpoints(&[1, 1])).unwrap();
    /// h.env_mut().set_latency_us(0, 900);
    /// ```
    pub fn env_mut(&mut self) -> &mut FakeEnv {
        &mut self.env
    }

    /// Moves the clock forward by `ms` milliseconds.
    ///
    /// ```
    /// # mod policy {
    /// # use switchyard_policy_sdk::{Endpoint, EndpointId, Env, Observation, PolicyInfo, Scorer, Setup, Verdict};
    /// # #[derive(Debug)]
    /// # pub struct Strict(Vec<EndpointId>);
    /// # impl Scorer for Strict {
    /// #     fn describe() -> PolicyInfo { PolicyInfo::new("strict", "one failure ejects") }
    /// #     fn new(_: &Setup) -> Result<Self, String> { Ok(Strict(Vec::new())) }
    /// #     fn set_members(&mut self, _: Vec<Endpoint>) {}
    /// #     fn observe(&mut self, o: &Observation, _: &impl Env) -> Option<Verdict> {
    /// #         (!o.success).then(|| { self.0.push(o.endpoint); Verdict::Ejected(1_000) })
    /// #     }
    /// #     fn tick(&mut self, _: u64, _: &impl Env) -> Vec<(EndpointId, Verdict)> {
    /// #         self.0.drain(..).map(|id| (id, Verdict::Healthy)).collect()
    /// #     }
    /// # }
    /// # }
    /// # use policy::Strict;
    /// use switchyard_policy_sdk::Verdict;
    /// use switchyard_policy_sdk::testing::{ScorerHarness, endpoints};
    ///
    /// let mut h = ScorerHarness::<Strict>::new(&[], endpoints(&[1, 1])).unwrap();
    /// h.advance_ms(1_500);
    /// h.probe(0, false);
    /// assert_eq!(h.tick(), [(0, Verdict::Healthy)]);
    /// ```
    pub fn advance_ms(&self, ms: u64) {
        self.env.advance_ns(ms * 1_000_000);
    }

    /// A probe result for `id`, now.
    ///
    /// ```
    /// # mod policy {
    /// # use switchyard_policy_sdk::{Endpoint, EndpointId, Env, Observation, PolicyInfo, Scorer, Setup, Verdict};
    /// # #[derive(Debug)]
    /// # pub struct Strict(Vec<EndpointId>);
    /// # impl Scorer for Strict {
    /// #     fn describe() -> PolicyInfo { PolicyInfo::new("strict", "one failure ejects") }
    /// #     fn new(_: &Setup) -> Result<Self, String> { Ok(Strict(Vec::new())) }
    /// #     fn set_members(&mut self, _: Vec<Endpoint>) {}
    /// #     fn observe(&mut self, o: &Observation, _: &impl Env) -> Option<Verdict> {
    /// #         (!o.success).then(|| { self.0.push(o.endpoint); Verdict::Ejected(1_000) })
    /// #     }
    /// #     fn tick(&mut self, _: u64, _: &impl Env) -> Vec<(EndpointId, Verdict)> {
    /// #         self.0.drain(..).map(|id| (id, Verdict::Healthy)).collect()
    /// #     }
    /// # }
    /// # }
    /// # use policy::Strict;
    /// use switchyard_policy_sdk::Verdict;
    /// use switchyard_policy_sdk::testing::{ScorerHarness, endpoints};
    ///
    /// let mut h = ScorerHarness::<Strict>::new(&[], endpoints(&[1, 1])).unwrap();
    /// assert_eq!(h.probe(0, false), Some(Verdict::Ejected(1_000)));
    /// ```
    pub fn probe(&mut self, id: EndpointId, success: bool) -> Option<Verdict> {
        let status = if success { 200 } else { 503 };
        self.observe(self.observation(id, Source::Probe, success, Some(status)))
    }

    /// A proxied request's outcome for `id`, now: `status` as answered, or `None` for a
    /// connect error.
    ///
    /// ```
    /// # mod policy {
    /// # use switchyard_policy_sdk::{Endpoint, EndpointId, Env, Observation, PolicyInfo, Scorer, Setup, Verdict};
    /// # #[derive(Debug)]
    /// # pub struct Strict(Vec<EndpointId>);
    /// # impl Scorer for Strict {
    /// #     fn describe() -> PolicyInfo { PolicyInfo::new("strict", "one failure ejects") }
    /// #     fn new(_: &Setup) -> Result<Self, String> { Ok(Strict(Vec::new())) }
    /// #     fn set_members(&mut self, _: Vec<Endpoint>) {}
    /// #     fn observe(&mut self, o: &Observation, _: &impl Env) -> Option<Verdict> {
    /// #         (!o.success).then(|| { self.0.push(o.endpoint); Verdict::Ejected(1_000) })
    /// #     }
    /// #     fn tick(&mut self, _: u64, _: &impl Env) -> Vec<(EndpointId, Verdict)> {
    /// #         self.0.drain(..).map(|id| (id, Verdict::Healthy)).collect()
    /// #     }
    /// # }
    /// # }
    /// # use policy::Strict;
    /// use switchyard_policy_sdk::Verdict;
    /// use switchyard_policy_sdk::testing::{ScorerHarness, endpoints};
    ///
    /// let mut h = ScorerHarness::<Strict>::new(&[], endpoints(&[1, 1])).unwrap();
    /// assert_eq!(h.request(0, Some(404)), None, "below 500 is a success");
    /// assert_eq!(h.request(0, None), Some(Verdict::Ejected(1_000)));
    /// ```
    pub fn request(&mut self, id: EndpointId, status: Option<u16>) -> Option<Verdict> {
        let success = status.is_some_and(|s| s < 500);
        let mut observation = self.observation(id, Source::Request, success, status);
        observation.connect_error = status.is_none();
        self.observe(observation)
    }

    /// A successful request to `id` that took `latency_us`, now.
    ///
    /// ```
    /// # mod policy {
    /// # use switchyard_policy_sdk::{Endpoint, EndpointId, Env, Observation, PolicyInfo, Scorer, Setup, Verdict};
    /// # #[derive(Debug)]
    /// # pub struct Strict(Vec<EndpointId>);
    /// # impl Scorer for Strict {
    /// #     fn describe() -> PolicyInfo { PolicyInfo::new("strict", "one failure ejects") }
    /// #     fn new(_: &Setup) -> Result<Self, String> { Ok(Strict(Vec::new())) }
    /// #     fn set_members(&mut self, _: Vec<Endpoint>) {}
    /// #     fn observe(&mut self, o: &Observation, _: &impl Env) -> Option<Verdict> {
    /// #         (!o.success).then(|| { self.0.push(o.endpoint); Verdict::Ejected(1_000) })
    /// #     }
    /// #     fn tick(&mut self, _: u64, _: &impl Env) -> Vec<(EndpointId, Verdict)> {
    /// #         self.0.drain(..).map(|id| (id, Verdict::Healthy)).collect()
    /// #     }
    /// # }
    /// # }
    /// # use policy::Strict;
    /// use switchyard_policy_sdk::Verdict;
    /// use switchyard_policy_sdk::testing::{ScorerHarness, endpoints};
    ///
    /// let mut h = ScorerHarness::<Strict>::new(&[], endpoints(&[1, 1])).unwrap();
    /// assert_eq!(h.request_taking(1, 250_000), None);
    /// ```
    pub fn request_taking(&mut self, id: EndpointId, latency_us: u32) -> Option<Verdict> {
        let mut observation = self.observation(id, Source::Request, true, Some(200));
        observation.latency_us = latency_us;
        self.observe(observation)
    }

    /// Hands `observation` to the scorer; checks the verdict as the host does.
    ///
    /// ```
    /// # mod policy {
    /// # use switchyard_policy_sdk::{Endpoint, EndpointId, Env, Observation, PolicyInfo, Scorer, Setup, Verdict};
    /// # #[derive(Debug)]
    /// # pub struct Strict(Vec<EndpointId>);
    /// # impl Scorer for Strict {
    /// #     fn describe() -> PolicyInfo { PolicyInfo::new("strict", "one failure ejects") }
    /// #     fn new(_: &Setup) -> Result<Self, String> { Ok(Strict(Vec::new())) }
    /// #     fn set_members(&mut self, _: Vec<Endpoint>) {}
    /// #     fn observe(&mut self, o: &Observation, _: &impl Env) -> Option<Verdict> {
    /// #         (!o.success).then(|| { self.0.push(o.endpoint); Verdict::Ejected(1_000) })
    /// #     }
    /// #     fn tick(&mut self, _: u64, _: &impl Env) -> Vec<(EndpointId, Verdict)> {
    /// #         self.0.drain(..).map(|id| (id, Verdict::Healthy)).collect()
    /// #     }
    /// # }
    /// # }
    /// # use policy::Strict;
    /// use switchyard_policy_sdk::{Observation, Source, Verdict};
    /// use switchyard_policy_sdk::testing::{ScorerHarness, endpoints};
    ///
    /// let mut h = ScorerHarness::<Strict>::new(&[], endpoints(&[1])).unwrap();
    /// let timeout = Observation {
    ///     endpoint: 0,
    ///     source: Source::Request,
    ///     success: false,
    ///     status: None,
    ///     latency_us: 3_000_000,
    ///     connect_error: false,
    ///     timed_out: true,
    ///     at_ns: 0,
    /// };
    /// assert_eq!(h.observe(timeout), Some(Verdict::Ejected(1_000)));
    /// ```
    pub fn observe(&mut self, observation: Observation) -> Option<Verdict> {
        let verdict = self.scorer.observe(&observation, &self.env);
        if let Some(v) = &verdict {
            self.check(observation.endpoint, v);
        }
        verdict
    }

    /// A tick at the current time; checks every verdict as the host does.
    ///
    /// ```
    /// # mod policy {
    /// # use switchyard_policy_sdk::{Endpoint, EndpointId, Env, Observation, PolicyInfo, Scorer, Setup, Verdict};
    /// # #[derive(Debug)]
    /// # pub struct Strict(Vec<EndpointId>);
    /// # impl Scorer for Strict {
    /// #     fn describe() -> PolicyInfo { PolicyInfo::new("strict", "one failure ejects") }
    /// #     fn new(_: &Setup) -> Result<Self, String> { Ok(Strict(Vec::new())) }
    /// #     fn set_members(&mut self, _: Vec<Endpoint>) {}
    /// #     fn observe(&mut self, o: &Observation, _: &impl Env) -> Option<Verdict> {
    /// #         (!o.success).then(|| { self.0.push(o.endpoint); Verdict::Ejected(1_000) })
    /// #     }
    /// #     fn tick(&mut self, _: u64, _: &impl Env) -> Vec<(EndpointId, Verdict)> {
    /// #         self.0.drain(..).map(|id| (id, Verdict::Healthy)).collect()
    /// #     }
    /// # }
    /// # }
    /// # use policy::Strict;
    /// use switchyard_policy_sdk::Verdict;
    /// use switchyard_policy_sdk::testing::{ScorerHarness, endpoints};
    ///
    /// let mut h = ScorerHarness::<Strict>::new(&[], endpoints(&[1, 1])).unwrap();
    /// h.probe(1, false);
    /// assert_eq!(h.tick(), [(1, Verdict::Healthy)]);
    /// assert!(h.tick().is_empty());
    /// ```
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consistent::{Hashed, KeyMap};
    use crate::{Choices, Config, HashSource, Members, PolicyInfo, hash_key};

    /// Answers the key's value modulo the membership, and records what it was sent.
    #[derive(Clone, Debug)]
    struct Recorder {
        needs: Needs,
        members: Members,
        seen: Vec<Request>,
    }

    impl Balancer for Recorder {
        fn describe() -> PolicyInfo {
            PolicyInfo::new("recorder", "records requests")
        }
        fn new(setup: &Setup) -> Result<Self, String> {
            let config = setup.config();
            let hash_on = config
                .get("hash_on")
                .map(crate::parse_hash_source)
                .transpose()?;
            let headers = config
                .get("headers")
                .map(|h| h.split(',').map(str::to_string).collect())
                .unwrap_or_default();
            Ok(Self {
                needs: Needs {
                    method: true,
                    path: true,
                    client_addr: true,
                    headers,
                    hash_on,
                    ..Needs::nothing()
                },
                members: Members::default(),
                seen: Vec::new(),
            })
        }
        fn needs(&self) -> Needs {
            self.needs.clone()
        }
        fn set_members(&mut self, members: Vec<Endpoint>) {
            self.members = Members::new(members);
        }
        fn pick(&mut self, request: &Request, _env: &impl Env) -> Choices {
            self.seen.push(request.clone());
            let key = request.hash_key.unwrap_or(0);
            self.members
                .preference((key % self.members.len() as u64) as usize, 2)
        }
    }

    fn last(h: &Harness<Recorder>) -> &Request {
        h.policy().seen.last().unwrap()
    }

    #[test]
    fn headers_reach_the_policy_only_when_asked_for() {
        let mut h = Harness::<Recorder>::new(
            &[("hash_on", "header:X-User"), ("headers", "x-tenant")],
            endpoints(&[1, 1, 1]),
        )
        .unwrap();
        h.pick_http(
            &HttpRequest::get("/a?b=1")
                .header("X-User", "ann")
                .header("X-Tenant", "t1")
                .header("x-other", "o"),
        );
        let sent = last(&h);
        assert_eq!(
            sent.headers,
            Some(vec![("x-tenant".to_string(), "t1".to_string())])
        );
        assert_eq!(sent.hash_key, Some(hash_key(b"ann")));
        assert_eq!(sent.method, Some(Method::Get));
        assert_eq!(sent.path.as_deref(), Some("/a?b=1"));
        assert_eq!(sent.client_addr.as_deref(), Some("127.0.0.1:40000"));
        assert_eq!(sent.authority, None, "not asked for");

        // A header the policy neither hashes on nor lists: no key, and the list of the
        // headers it does list is empty, as the host sends it.
        h.pick_with_header("x-other", "o");
        assert_eq!(last(&h).hash_key, None);
        assert_eq!(last(&h).headers, Some(Vec::new()));
    }

    #[test]
    fn keys_are_computed_as_the_host_computes_them() {
        type Pick = fn(&mut Harness<Recorder>) -> Vec<EndpointId>;
        let cases: [(&str, Pick, u64); 5] = [
            (
                "header:x-user",
                |h| h.pick_with_header("X-User", "ann"),
                hash_key(b"ann"),
            ),
            (
                "cookie:sid",
                |h| h.pick_with_cookie("sid", "s42"),
                hash_key(b"s42"),
            ),
            (
                "path",
                |h| h.pick_with_path("/users/42?tab=1"),
                hash_key(b"/users/42"),
            ),
            (
                "client-ip",
                |h| h.pick_with_client_ip("2001:db8::1".parse::<IpAddr>().unwrap()),
                hash_key(b"2001:db8::1"),
            ),
            (
                "authority",
                |h| h.pick_with_path("/"),
                hash_key(b"switchyard.test"),
            ),
        ];
        for (hash_on, pick, expected) in cases {
            let mut h =
                Harness::<Recorder>::new(&[("hash_on", hash_on)], endpoints(&[1, 1, 1])).unwrap();
            let answer = pick(&mut h);
            assert_eq!(last(&h).hash_key, Some(expected), "{hash_on}");
            assert_eq!(last(&h).headers, None, "{hash_on}: no header copied");
            assert_eq!(answer, h.pick_key(expected), "{hash_on}");
        }
    }

    #[test]
    fn cookies_are_parsed_from_the_cookie_header() {
        let mut h =
            Harness::<Recorder>::new(&[("hash_on", "cookie:sid")], endpoints(&[1, 1])).unwrap();
        h.pick_http(&HttpRequest::get("/").cookie("a", "1").cookie("sid", "s42"));
        assert_eq!(last(&h).hash_key, Some(hash_key(b"s42")));
        h.pick_http(&HttpRequest::get("/").header("cookie", "a=1;  sid=s43 ; z=2"));
        assert_eq!(last(&h).hash_key, Some(hash_key(b"s43")));
        h.pick_with_cookie("other", "s42");
        assert_eq!(last(&h).hash_key, None);
        h.pick_with_header("sid", "s42");
        assert_eq!(last(&h).hash_key, None, "a header is not a cookie");
    }

    #[test]
    fn requests_carry_the_fake_clock() {
        let mut h = Harness::<Recorder>::new(&[], endpoints(&[1])).unwrap();
        h.env_mut().advance_ns(1_234);
        h.pick_with_path("/");
        assert_eq!(last(&h).now_ns, 1_234);
    }

    /// Position = key modulo the membership.
    #[derive(Debug)]
    struct Modulo(usize);

    impl KeyMap for Modulo {
        fn describe() -> PolicyInfo {
            PolicyInfo::new("modulo", "key modulo n")
        }
        const KEYS: &'static [&'static str] = &[];
        fn new(_: &Config) -> Result<Self, String> {
            Ok(Modulo(0))
        }
        fn rebuild(&mut self, members: &Members) {
            self.0 = members.len();
        }
        fn walk(&self, key: u64) -> impl Iterator<Item = usize> + '_ {
            (0..self.0).map(move |k| ((key % self.0 as u64) as usize + k) % self.0)
        }
    }

    #[test]
    fn hashed_policies_are_sticky_per_key() {
        let mut h =
            Harness::<Hashed<Modulo>>::new(&[("hash_on", "cookie:sid")], endpoints(&[1; 7]))
                .unwrap();
        assert_eq!(h.needs().hash_on, Some(HashSource::Cookie("sid".into())));
        for sid in ["a", "b", "c", "d"] {
            let first = h.pick_with_cookie("sid", sid);
            assert_eq!(first[0] as u64, hash_key(sid.as_bytes()) % 7, "{sid}");
            assert!((0..20).all(|_| h.pick_with_cookie("sid", sid) == first));
        }
    }

    #[test]
    fn harnesses_clone_and_compare() {
        let mut env = FakeEnv::default();
        env.set_in_flight(1, 3);
        let copy = env.clone();
        assert_eq!(copy.in_flight(1), 3);
        let h = Harness::<Recorder>::new(&[], endpoints(&[1])).unwrap();
        assert!(format!("{h:?}").contains("Recorder"));
        assert_eq!(Needs::nothing(), Needs::nothing());
        assert_eq!(
            HttpRequest::get("/").header("A", "1"),
            HttpRequest::get("/").header("a", "1")
        );
    }
}
