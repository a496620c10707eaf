//! Write [Switchyard](https://example.invalid/switchyard) balancing and health-scoring
//! policies in Rust.
//!
//! A policy is a struct that implements [`Balancer`], exported with
//! [`export_balancer!`]. Build the crate as a `cdylib` for `wasm32-wasip2` and the
//! result is a WebAssembly component the proxy loads from its policy directory. The
//! same code runs natively under [`testing::Harness`], so its logic is unit-tested with
//! a plain `cargo test`.
//!
//! ```
//! use switchyard_policy_sdk::{
//!     export_balancer, Balancer, Choices, Endpoint, EndpointId, Env, PolicyInfo,
//!     Members, Request, Setup,
//! };
//!
//! /// Sends each request to the endpoint with the fewest requests in flight,
//! /// looking at `sample` random endpoints.
//! pub struct FewestInFlight {
//!     members: Members,
//!     sample: usize,
//! }
//!
//! impl Balancer for FewestInFlight {
//!     fn describe() -> PolicyInfo {
//!         PolicyInfo::new("fewest-in-flight", "least in-flight among a random sample")
//!             .key("sample", "how many endpoints to compare", Some("3"))
//!     }
//!
//!     fn new(setup: &Setup) -> Result<Self, String> {
//!         let config = setup.config();
//!         config.reject_unknown(&["sample"])?;
//!         let sample = config.parse_or("sample", 3usize)?.max(1);
//!         Ok(Self { members: Members::default(), sample })
//!     }
//!
//!     fn set_members(&mut self, members: Vec<Endpoint>) {
//!         self.members = Members::new(members);
//!     }
//!
//!     fn pick(&mut self, _request: &Request, env: &impl Env) -> Choices {
//!         let mut best: Option<EndpointId> = None;
//!         for _ in 0..self.sample.min(self.members.len()) {
//!             let id = self.members.get(env.below(self.members.len())).id;
//!             if best.is_none_or(|b| env.in_flight(id) < env.in_flight(b)) {
//!                 best = Some(id);
//!             }
//!         }
//!         best.into_iter().collect()
//!     }
//! }
//!
//! export_balancer!(FewestInFlight);
//!
//! // Native test: fake membership, fake load.
//! use switchyard_policy_sdk::testing::{endpoints, Harness};
//! let mut h = Harness::<FewestInFlight>::new(&[("sample", "3")], endpoints(&[1, 1, 1])).unwrap();
//! h.env_mut().set_in_flight(0, 10).set_in_flight(1, 10);
//! // Endpoint 2 is idle: it wins whenever the sample includes it (~70% of picks).
//! assert!(h.distribution(1_000)[&2] > 600);
//! ```
//!
//! # State and instances
//!
//! The proxy runs one instance of a policy per worker thread, so `self` is per
//! instance: a round-robin counter counts the picks of its own worker. Every instance
//! receives the same configuration and membership. Hand state to a new version of the
//! policy with [`Balancer::save_state`] / [`Balancer::restore_state`].
//!
//! # What a pick must answer
//!
//! Ids of current members, first choice first, then fallbacks for retries (at most
//! [`Choices::MAX`]). No choice at all is allowed only when there are no members. Anything else counts as a fault:
//! the host answers that pick with its built-in round-robin and, after repeated
//! faults, quarantines the policy.

extern crate self as switchyard_policy_sdk;

pub mod bindings;
mod choices;
mod config;
pub mod consistent;
mod env;
pub mod ewma;
pub mod hash;
mod members;
mod request;
mod schedule;
mod scorer;
pub mod testing;
mod weighted;

pub use bindings::exports::switchyard::policy::balancing::{Candidates, HashSource, Method, Needs};
pub use bindings::switchyard::policy::load::{Figures, MetricId, Reading};
pub use bindings::switchyard::policy::types::{
    ConfigKey, Endpoint, EndpointId, Health, LogLevel, PolicyInfo, Setup,
};
pub use choices::Choices;
pub use config::Config;
pub use env::{Env, HostEnv, PickEnv, index_below, unit_interval, wyrand};
pub use ewma::Ewma;
pub use hash::{hash_key, jump_hash, mix64, parse_hash_source};
pub use members::Members;
pub use request::{Candidate, Readings, Request};
pub use schedule::{AliasTable, StrideScheduler};
pub use scorer::{Observation, ProbeStreak, ProbeThresholds, Scorer, Source, Verdict};
pub use weighted::{effective_weight, weighted_index};

/// A balancing policy: one instance per proxy worker.
///
/// ```
/// use switchyard_policy_sdk::testing::{Harness, endpoints};
/// use switchyard_policy_sdk::{Balancer, Choices, Endpoint, Env, Members, PolicyInfo, Request, Setup};
///
/// /// Every endpoint in turn.
/// pub struct RoundRobin {
///     members: Members,
///     next: usize,
/// }
///
/// impl Balancer for RoundRobin {
///     fn describe() -> PolicyInfo {
///         PolicyInfo::new("my-round-robin", "every endpoint in turn")
///     }
///     fn new(setup: &Setup) -> Result<Self, String> {
///         setup.config().reject_unknown(&[])?;
///         Ok(Self { members: Members::default(), next: 0 })
///     }
///     fn set_members(&mut self, members: Vec<Endpoint>) {
///         self.members = Members::new(members);
///     }
///     fn pick(&mut self, _request: &Request, _env: &impl Env) -> Choices {
///         self.next = self.next.wrapping_add(1);
///         // This endpoint first, the next two as fallbacks for retries.
///         self.members.preference(self.next % self.members.len().max(1), 3)
///     }
/// }
///
/// let mut h = Harness::<RoundRobin>::new(&[], endpoints(&[1, 1, 1])).unwrap();
/// assert_eq!(h.sequence(4), [1, 2, 0, 1]);
/// ```
pub trait Balancer: Sized + 'static {
    /// Name, one-line description and the configuration keys the policy reads.
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
    /// use switchyard_policy_sdk::Balancer;
    ///
    /// assert_eq!(RoundRobin::describe().name, "round-robin");
    /// ```
    fn describe() -> PolicyInfo;

    /// Creates an instance from its setup (cluster, local zone, `policy_config`). An
    /// error is shown to the operator and the policy is not loaded.
    ///
    /// ```
    /// use switchyard_policy_sdk::{Balancer, Choices, Endpoint, Env, PolicyInfo, Request, Setup};
    ///
    /// #[derive(Debug)]
    /// struct Pinned(u32);
    ///
    /// impl Balancer for Pinned {
    ///     fn describe() -> PolicyInfo {
    ///         PolicyInfo::new("pinned", "always one endpoint").key("id", "its id", None)
    ///     }
    ///     fn new(setup: &Setup) -> Result<Self, String> {
    ///         let config = setup.config();
    ///         config.reject_unknown(&["id"])?;
    ///         config.get("id").ok_or("policy_config.id is required")?;
    ///         Ok(Pinned(config.parse_or("id", 0)?))
    ///     }
    ///     fn set_members(&mut self, _: Vec<Endpoint>) {}
    ///     fn pick(&mut self, _: &Request, _: &impl Env) -> Choices {
    ///         Choices::one(self.0)
    ///     }
    /// }
    ///
    /// let setup = |config: &[(&str, &str)]| Setup {
    ///     cluster: "api".into(),
    ///     local_zone: String::new(),
    ///     config: config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    /// };
    /// assert!(Pinned::new(&setup(&[("id", "2")])).is_ok());
    /// assert!(Pinned::new(&setup(&[])).is_err());
    /// assert!(Pinned::new(&setup(&[("id", "two")])).unwrap_err().contains("policy_config.id"));
    /// ```
    fn new(setup: &Setup) -> Result<Self, String>;

    /// The request attributes every pick needs; the default is none, which is the
    /// cheapest. The host asks once, after [`new`](Self::new).
    ///
    /// ```
    /// use switchyard_policy_sdk::testing::{Harness, endpoints};
    /// use switchyard_policy_sdk::{
    ///     Balancer, Choices, Endpoint, Env, Members, Needs, PolicyInfo, Request, Setup,
    /// };
    ///
    /// /// Canary: requests with `x-canary: 1` go to the last endpoint.
    /// struct Canary(Members);
    ///
    /// impl Balancer for Canary {
    ///     fn describe() -> PolicyInfo {
    ///         PolicyInfo::new("canary", "x-canary: 1 to the last endpoint")
    ///     }
    ///     fn new(_: &Setup) -> Result<Self, String> {
    ///         Ok(Canary(Members::default()))
    ///     }
    ///     fn needs(&self) -> Needs {
    ///         Needs { headers: vec!["x-canary".into()], ..Needs::nothing() }
    ///     }
    ///     fn set_members(&mut self, members: Vec<Endpoint>) {
    ///         self.0 = Members::new(members);
    ///     }
    ///     fn pick(&mut self, request: &Request, _: &impl Env) -> Choices {
    ///         let last = self.0.len().saturating_sub(1);
    ///         match request.header("x-canary") {
    ///             Some("1") => self.0.preference(last, 1),
    ///             _ => self.0.preference(0, 1),
    ///         }
    ///     }
    /// }
    ///
    /// let mut h = Harness::<Canary>::new(&[], endpoints(&[1, 1, 1])).unwrap();
    /// assert_eq!(h.pick_with_header("X-Canary", "1"), [2]);
    /// assert_eq!(h.pick_with_header("x-other", "1"), [0]);
    /// ```
    fn needs(&self) -> Needs {
        Needs::nothing()
    }

    /// Receives the cluster's membership, after `new` and on every change.
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
    /// h.set_members(endpoints(&[1])); // calls `Balancer::set_members`
    /// assert_eq!(h.sequence(2), [0, 0]);
    /// ```
    fn set_members(&mut self, members: Vec<Endpoint>);

    /// Chooses endpoints for one request: first choice first, then fallbacks.
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
    /// use switchyard_policy_sdk::testing::{FakeEnv, endpoints};
    /// use switchyard_policy_sdk::{Balancer, Request, Setup};
    ///
    /// let setup = Setup { cluster: "api".into(), local_zone: String::new(), config: Vec::new() };
    /// let mut policy = RoundRobin::new(&setup).unwrap();
    /// policy.set_members(endpoints(&[1, 1, 1]));
    /// let choices = policy.pick(&Request::empty(), &FakeEnv::default());
    /// assert_eq!(choices.as_slice(), &[0, 1]);
    /// ```
    fn pick(&mut self, request: &Request, env: &impl Env) -> Choices;

    /// State to hand to the next version of this policy on hot reload.
    ///
    /// ```
    /// use switchyard_policy_sdk::{Balancer, Choices, Endpoint, Env, Members, PolicyInfo, Request, Setup};
    ///
    /// /// Round-robin that carries its position over a hot reload.
    /// struct Resuming { members: Members, next: u64 }
    ///
    /// impl Balancer for Resuming {
    ///     fn describe() -> PolicyInfo { PolicyInfo::new("resuming", "round-robin, resumed") }
    ///     fn new(_: &Setup) -> Result<Self, String> {
    ///         Ok(Self { members: Members::default(), next: 0 })
    ///     }
    ///     fn set_members(&mut self, members: Vec<Endpoint>) { self.members = Members::new(members) }
    ///     fn pick(&mut self, _: &Request, _: &impl Env) -> Choices {
    ///         self.next += 1;
    ///         self.members.preference(self.next as usize % self.members.len().max(1), 1)
    ///     }
    ///     fn save_state(&self) -> Vec<u8> {
    ///         self.next.to_le_bytes().to_vec()
    ///     }
    ///     fn restore_state(&mut self, state: &[u8]) {
    ///         // Bytes of an unknown format are ignored.
    ///         if let Ok(bytes) = state.try_into() {
    ///             self.next = u64::from_le_bytes(bytes);
    ///         }
    ///     }
    /// }
    ///
    /// let setup = Setup { cluster: "api".into(), local_zone: String::new(), config: Vec::new() };
    /// let mut old = Resuming::new(&setup).unwrap();
    /// old.next = 41;
    /// let mut new = Resuming::new(&setup).unwrap();
    /// new.restore_state(&old.save_state());
    /// assert_eq!(new.next, 41);
    /// new.restore_state(b"garbage");
    /// assert_eq!(new.next, 41);
    /// ```
    fn save_state(&self) -> Vec<u8> {
        Vec::new()
    }

    /// Takes the state a previous version handed over; ignore what you do not
    /// recognise.
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
    /// use switchyard_policy_sdk::{Balancer, Setup};
    ///
    /// // The default hands nothing over and ignores what it is given.
    /// let setup = Setup { cluster: "api".into(), local_zone: String::new(), config: Vec::new() };
    /// let mut policy = RoundRobin::new(&setup).unwrap();
    /// assert!(policy.save_state().is_empty());
    /// policy.restore_state(b"from an older version");
    /// ```
    fn restore_state(&mut self, _state: &[u8]) {}
}

impl PolicyInfo {
    /// A description with no configuration keys; add them with [`PolicyInfo::key`].
    ///
    /// `name` is what the proxy's logs and admin API show for the policy; configs name
    /// the policy by its file (`NAME.wasm`), not by this.
    ///
    /// ```
    /// use switchyard_policy_sdk::PolicyInfo;
    ///
    /// let info = PolicyInfo::new("error-sticky", "stays on an endpoint until it errs");
    /// assert!(info.config_keys.is_empty());
    /// ```
    pub fn new(name: &str, description: &str) -> Self {
        PolicyInfo {
            name: name.into(),
            description: description.into(),
            config_keys: Vec::new(),
        }
    }

    /// Adds a configuration key with its description and default.
    ///
    /// ```
    /// use switchyard_policy_sdk::PolicyInfo;
    ///
    /// let info = PolicyInfo::new("fewest", "fewest in flight of a sample")
    ///     .key("sample", "how many endpoints to compare", Some("3"));
    /// assert_eq!(info.config_keys[0].default_value.as_deref(), Some("3"));
    /// ```
    pub fn key(mut self, name: &str, description: &str, default: Option<&str>) -> Self {
        self.config_keys.push(ConfigKey {
            name: name.into(),
            description: description.into(),
            default_value: default.map(Into::into),
        });
        self
    }
}

impl Setup {
    /// The policy's `policy_config`, for reading keys.
    ///
    /// ```
    /// use switchyard_policy_sdk::Setup;
    ///
    /// let setup = Setup {
    ///     cluster: "api".into(),
    ///     local_zone: "a".into(),
    ///     config: vec![("sample".into(), "5".into())],
    /// };
    /// assert_eq!(setup.config().parse_or("sample", 3u32), Ok(5));
    /// ```
    pub fn config(&self) -> Config<'_> {
        Config::new(&self.config)
    }
}

impl Needs {
    /// Asks for no request attribute at all.
    ///
    /// ```
    /// use switchyard_policy_sdk::{HashSource, Needs};
    ///
    /// // Set what a policy reads; leave the rest at nothing.
    /// let needs = Needs { path: true, hash_on: Some(HashSource::ClientIp), ..Needs::nothing() };
    /// assert!(needs.headers.is_empty() && !needs.method);
    /// ```
    pub fn nothing() -> Self {
        Needs {
            method: false,
            authority: false,
            path: false,
            client_addr: false,
            headers: Vec::new(),
            hash_on: None,
            metrics: Vec::new(),
            candidates: Candidates::None,
        }
    }

    /// Also asks for these reported metrics (see [`Env::reported`]); a metric's
    /// [`MetricId`] is its position among all the names asked for.
    ///
    /// ```
    /// use switchyard_policy_sdk::{Candidates, Needs};
    /// let needs = Needs::nothing()
    ///     .metrics(&["cpu_utilization", "named_metrics.queue"])
    ///     .candidates(Candidates::TwoRandom);
    /// assert_eq!(needs.metrics.len(), 2);
    /// ```
    pub fn metrics(mut self, names: &[&str]) -> Self {
        self.metrics.extend(names.iter().map(|n| n.to_string()));
        self
    }

    /// Has every pick deliver these candidates with their figures (and the declared
    /// metrics), read through [`Env::delivered`] and the `Env` methods at no host
    /// call. With [`Candidates::TwoRandom`], [`Members::two_choices`] uses the pair
    /// the host drew.
    ///
    /// ```
    /// use switchyard_policy_sdk::{Candidates, Needs};
    ///
    /// let needs = Needs::nothing().candidates(Candidates::Watched);
    /// assert_eq!(needs.candidates, Candidates::Watched);
    /// ```
    pub fn candidates(mut self, candidates: Candidates) -> Self {
        self.candidates = candidates;
        self
    }
}

impl Method {
    /// The method named `name` (`GET`, `POST`, ...; case-sensitive, as HTTP is), or
    /// [`Method::Other`] for an extension method: what the host sends in
    /// `request.method`.
    ///
    /// ```
    /// use switchyard_policy_sdk::Method;
    ///
    /// assert_eq!(Method::from_name("PATCH"), Method::Patch);
    /// assert_eq!(Method::from_name("PROPFIND"), Method::Other);
    /// assert_eq!(Method::from_name("get"), Method::Other);
    /// ```
    pub fn from_name(name: &str) -> Self {
        match name {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "CONNECT" => Method::Connect,
            "OPTIONS" => Method::Options,
            "TRACE" => Method::Trace,
            "PATCH" => Method::Patch,
            _ => Method::Other,
        }
    }
}

/// Exports a [`Balancer`] implementation as the component's `balancing` interface.
///
/// Invoke it once, at the crate root of a `cdylib` policy crate. On targets other
/// than wasm32 it expands to nothing, so the crate also builds natively for tests.
///
/// ```
/// use switchyard_policy_sdk::{
///     Balancer, Choices, Endpoint, Env, Members, PolicyInfo, Request, Setup, export_balancer,
/// };
///
/// pub struct First(Members);
///
/// impl Balancer for First {
///     fn describe() -> PolicyInfo {
///         PolicyInfo::new("first", "the first routable endpoint, the rest as fallbacks")
///     }
///     fn new(_: &Setup) -> Result<Self, String> {
///         Ok(First(Members::default()))
///     }
///     fn set_members(&mut self, members: Vec<Endpoint>) {
///         self.0 = Members::new(members);
///     }
///     fn pick(&mut self, _: &Request, _: &impl Env) -> Choices {
///         self.0.preference(0, Choices::MAX)
///     }
/// }
///
/// export_balancer!(First);
/// ```
#[macro_export]
macro_rules! export_balancer {
    ($policy:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::bindings::exports::switchyard::policy::balancing as __b;

            ::std::thread_local! {
                static __POLICY: ::core::cell::RefCell<
                    ::core::option::Option<$crate::__private::Hosted<$policy>>,
                > = const { ::core::cell::RefCell::new(None) };
            }

            struct __Export;

            impl __b::Guest for __Export {
                fn describe() -> $crate::PolicyInfo {
                    <$policy as $crate::Balancer>::describe()
                }
                fn init(setup: $crate::Setup) -> ::core::result::Result<__b::Needs, String> {
                    __POLICY.with(|slot| $crate::__private::init::<$policy>(slot, &setup))
                }
                fn set_members(members: ::std::vec::Vec<$crate::Endpoint>) {
                    __POLICY.with(|slot| $crate::__private::set_members(slot, members))
                }
                fn pick(request: __b::Request) -> __b::Preference {
                    __POLICY.with(|slot| $crate::__private::pick(slot, request))
                }
                fn save_state() -> ::std::vec::Vec<u8> {
                    __POLICY.with(|slot| {
                        $crate::__private::with(slot, |p| {
                            <$policy as $crate::Balancer>::save_state(p)
                        })
                    })
                }
                fn restore_state(state: ::std::vec::Vec<u8>) {
                    __POLICY.with(|slot| {
                        $crate::__private::with(slot, |p| {
                            <$policy as $crate::Balancer>::restore_state(p, &state)
                        })
                    })
                }
            }

    $crate::bindings::__export_balancer_world!(__Export with_types_in $crate::bindings);
        };
    };
}

/// Support for [`export_balancer!`] and [`export_scorer!`]; not a public API.
#[doc(hidden)]
pub mod __private {
    use crate::bindings::exports::switchyard::policy::balancing as wire;
    use crate::{Balancer, Endpoint, EndpointId, Needs, PickEnv, Request, Scorer, Setup};
    use std::cell::RefCell;

    pub use wit_bindgen;

    /// A balancer in its instance, with what turning the host's requests into
    /// [`Request`]s takes: its needs, and its members' ids by index.
    pub struct Hosted<P> {
        policy: P,
        ids: Vec<EndpointId>,
        headers_asked: bool,
    }

    /// Creates the instance's policy and stores it in its slot.
    pub fn init<P: Balancer>(
        slot: &RefCell<Option<Hosted<P>>>,
        setup: &Setup,
    ) -> Result<Needs, String> {
        let policy = P::new(setup)?;
        let needs = policy.needs();
        *slot.borrow_mut() = Some(Hosted {
            policy,
            ids: Vec::new(),
            headers_asked: !needs.headers.is_empty(),
        });
        Ok(needs)
    }

    /// Hands the policy its new members, keeping their ids.
    pub fn set_members<P: Balancer>(slot: &RefCell<Option<Hosted<P>>>, members: Vec<Endpoint>) {
        initialised(slot, |hosted| {
            hosted.ids.clear();
            hosted.ids.extend(members.iter().map(|m| m.id));
            hosted.policy.set_members(members)
        })
    }

    /// One pick of the request the host sent.
    pub fn pick<P: Balancer>(
        slot: &RefCell<Option<Hosted<P>>>,
        sent: wire::Request,
    ) -> wire::Preference {
        initialised(slot, |hosted| {
            let request = Request::from_wire(sent, &hosted.ids, hosted.headers_asked);
            let env = PickEnv::new(&request);
            hosted.policy.pick(&request, &env).into()
        })
    }

    /// Runs `f` on the initialised policy. The host always calls `init` first, so an
    /// empty slot is a host bug and traps.
    pub fn with<P: Balancer, R>(
        slot: &RefCell<Option<Hosted<P>>>,
        f: impl FnOnce(&mut P) -> R,
    ) -> R {
        initialised(slot, |hosted| f(&mut hosted.policy))
    }

    /// [`with`] for a health scorer.
    pub fn with_scorer<S: Scorer, R>(slot: &RefCell<Option<S>>, f: impl FnOnce(&mut S) -> R) -> R {
        initialised(slot, f)
    }

    fn initialised<T, R>(slot: &RefCell<Option<T>>, f: impl FnOnce(&mut T) -> R) -> R {
        match slot.borrow_mut().as_mut() {
            Some(policy) => f(policy),
            None => panic!("switchyard policy called before init"),
        }
    }
}
