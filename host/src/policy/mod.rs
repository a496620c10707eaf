//! Balancing policies as sandboxed WebAssembly components.
//!
//! [`PolicyEngine`] compiles and validates components ([`PolicyComponent`]);
//! [`ClusterPolicy`] runs one for a cluster: a pool of instances (one per concurrent
//! caller, taken last-in first-out, so each worker effectively keeps its own),
//! membership handed over on change without making picks wait, a deadline and memory
//! cap on every call, and a host round-robin fallback, fault counters and quarantine so
//! that a misbehaving policy never fails a request.
//! [`PolicyRegistry`] knows every loaded version by name and swaps new ones in for the
//! clusters using them ([`PolicyBinding`]), through a cache of compiled components.
//!
//! Nothing here knows HTTP: requests are seen through [`RequestView`].

mod binding;
mod bindings;
mod builtin;
mod cache;
pub mod check;
mod clock;
mod cluster_policy;
mod engine;
mod error;
mod faults;
mod inspect;
mod instance;
mod instance_pool;
mod log;
mod registry;
mod request;
mod sandbox;
mod scorer;
mod scorer_binding;
mod ticker;
mod wasi;

pub use binding::{PolicyBinding, PolicySetup};
pub(crate) use bindings::HashSource;
pub use builtin::{
    DEFAULT_HEALTH_POLICY, DEFAULT_POLICY, builtin, builtin_names, builtin_scorer_names,
};
pub use cache::{CacheOrigin, ComponentCache, Sha256Digest, default_cache_dir};
pub use clock::SimulatedHost;
pub use cluster_policy::{
    ClusterPolicy, MAX_STATE_BYTES, Pick, PickSource, PolicyStats, Preference,
};
pub(crate) use engine::lower_priority;
pub use engine::{PolicyComponent, PolicyEngine};
pub use error::{Fault, LoadError};
pub use inspect::World;
pub use log::PolicyLog;
pub use registry::{
    LoadFailure, PolicyRegistry, PolicySource, PolicyStatus, PolicyVersion, ReloadCounts,
    ReloadOutcome, is_policy_file,
};
pub use request::{RequestInfo, RequestView};
pub use sandbox::PolicyLimits;
pub use scorer::{Observation, ObservationSource, ScorerComponent, ScorerInstance, Verdict};
pub use scorer_binding::{ScorerBinding, ScorerSetup};
