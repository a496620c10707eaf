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
mod scorer;
pub mod testing;
mod weighted;

pub use bindings::exports::switchyard::policy::balancing::{HashSource, Method, Needs, Request};
pub use bindings::switchyard::policy::load::Figures;
pub use bindings::switchyard::policy::types::{
    ConfigKey, Endpoint, EndpointId, Health, LogLevel, PolicyInfo, Setup,
};
pub use choices::Choices;
pub use config::Config;
pub use env::{Env, HostEnv, unit_interval, wyrand};
pub use ewma::Ewma;
pub use hash::{hash_key, jump_hash, mix64, parse_hash_source};
pub use members::Members;
pub use scorer::{Observation, ProbeStreak, ProbeThresholds, Scorer, Source, Verdict};
pub use weighted::{effective_weight, weighted_index};

/// A balancing policy: one instance per proxy worker.
pub trait Balancer: Sized + 'static {
    /// Name, one-line description and the configuration keys the policy reads.
    fn describe() -> PolicyInfo;

    /// Creates an instance from its setup (cluster, local zone, `policy_config`). An
    /// error is shown to the operator and the policy is not loaded.
    fn new(setup: &Setup) -> Result<Self, String>;

    /// The request attributes every pick needs; the default is none, which is the
    /// cheapest.
    fn needs(&self) -> Needs {
        Needs::nothing()
    }

    /// Receives the cluster's membership, after `new` and on every change.
    fn set_members(&mut self, members: Vec<Endpoint>);

    /// Chooses endpoints for one request: first choice first, then fallbacks.
    fn pick(&mut self, request: &Request, env: &impl Env) -> Choices;

    /// State to hand to the next version of this policy on hot reload.
    fn save_state(&self) -> Vec<u8> {
        Vec::new()
    }

    /// Takes the state a previous version handed over; ignore what you do not
    /// recognise.
    fn restore_state(&mut self, _state: &[u8]) {}
}

impl PolicyInfo {
    /// A description with no configuration keys; add them with [`PolicyInfo::key`].
    pub fn new(name: &str, description: &str) -> Self {
        PolicyInfo {
            name: name.into(),
            description: description.into(),
            config_keys: Vec::new(),
        }
    }

    /// Adds a configuration key with its description and default.
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
    pub fn config(&self) -> Config<'_> {
        Config::new(&self.config)
    }
}

impl Needs {
    /// Asks for no request attribute at all.
    pub fn nothing() -> Self {
        Needs {
            method: false,
            authority: false,
            path: false,
            client_addr: false,
            headers: Vec::new(),
            hash_on: None,
        }
    }
}

impl Request {
    /// A request with no attributes, as a policy that needs nothing receives it.
    pub fn empty() -> Self {
        Request {
            method: None,
            authority: None,
            path: None,
            client_addr: None,
            headers: None,
            hash_key: None,
        }
    }

    /// The value of header `name` (lower case), if the request carries it and the
    /// policy asked for it in [`Needs::headers`].
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .flatten()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Exports a [`Balancer`] implementation as the component's `balancing` interface.
///
/// Invoke it once, at the crate root of a `cdylib` policy crate. On targets other
/// than wasm32 it expands to nothing, so the crate also builds natively for tests.
#[macro_export]
macro_rules! export_balancer {
    ($policy:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::bindings::exports::switchyard::policy::balancing as __b;

            ::std::thread_local! {
                static __POLICY: ::core::cell::RefCell<::core::option::Option<$policy>> =
                    const { ::core::cell::RefCell::new(None) };
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
                    __POLICY.with(|slot| {
                        $crate::__private::with(slot, |p| {
                            <$policy as $crate::Balancer>::set_members(p, members)
                        })
                    })
                }
                fn pick(request: __b::Request) -> __b::Preference {
                    __POLICY.with(|slot| {
                        $crate::__private::with(slot, |p| {
                            <$policy as $crate::Balancer>::pick(p, &request, &$crate::HostEnv)
                        })
                        .into()
                    })
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
    use crate::{Balancer, Needs, Scorer, Setup};
    use std::cell::RefCell;

    pub use wit_bindgen;

    /// Creates the instance's policy and stores it in its slot.
    pub fn init<P: Balancer>(slot: &RefCell<Option<P>>, setup: &Setup) -> Result<Needs, String> {
        let policy = P::new(setup)?;
        let needs = policy.needs();
        *slot.borrow_mut() = Some(policy);
        Ok(needs)
    }

    /// Runs `f` on the initialised policy. The host always calls `init` first, so an
    /// empty slot is a host bug and traps.
    pub fn with<P: Balancer, R>(slot: &RefCell<Option<P>>, f: impl FnOnce(&mut P) -> R) -> R {
        initialised(slot, f)
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
