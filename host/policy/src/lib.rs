//! Switchyard's policy engine: balancing and health-scoring policies as sandboxed
//! WebAssembly components, and the cluster load figures they read.
//!
//! [`PolicyEngine`] ([`engine`]) compiles and validates components
//! ([`PolicyComponent`]) and runs them in a capability-free sandbox: a deadline and a
//! memory cap on every call.
//! [`ClusterPolicy`] ([`balancer`]) runs one for a cluster: a pool of instances (one
//! per concurrent caller, taken last-in first-out, so each worker effectively keeps its
//! own), membership handed over on change without making picks wait, and a host
//! round-robin fallback, fault counters and quarantine so that a misbehaving policy
//! never fails a request. Health scorers ([`scorer`]) turn observations into verdicts.
//! [`PolicyRegistry`] ([`registry`]) knows every loaded version by name and swaps new
//! ones in for the clusters using them ([`PolicyBinding`]), through a cache of compiled
//! components. [`cluster`] holds the endpoints and their live load.
//!
//! Nothing here knows HTTP or the network: requests are seen through [`RequestView`].
//! Layers, lowest first (each imports only from those before it): `cluster`,
//! `niceness`, `ip_text`, `random` and `text`; `engine`; `balancer` and `scorer`; `registry`.

pub mod balancer;
pub mod cluster;
pub mod engine;
pub mod ip_text;
pub mod niceness;
pub mod random;
pub mod registry;
pub mod scorer;
pub mod text;

pub use balancer::{
    Candidate, CandidateStatus, ClusterPolicy, DEFAULT_CANARY_PERCENT, DEFAULT_SHADOW_SAMPLE,
    Judgement, MAX_STATE_BYTES, Pick, PickSource, PolicyBinding, PolicyComponent, PolicySetup,
    Preference, RequestInfo, RequestView, RolloutMode, RolloutRules, RolloutSettings, ShadowReport,
    TallySnapshot, VersionTally, hash_of, parse_hash_source,
};
pub use engine::{
    Candidates, Contract, Fault, HashSource, LoadError, Needs, PolicyEngine, PolicyLimits,
    PolicyLog, PolicyStats, SimulatedHost, World,
};
pub use registry::{
    CacheOrigin, ClusterRollout, ComponentCache, DEFAULT_HEALTH_POLICY, DEFAULT_POLICY,
    FleetVerdict, HistoryEntry, LoadFailure, PolicyEvent, PolicyRegistry, PolicySource,
    PolicyStatus, PolicyVersion, ReloadCounts, ReloadOutcome, RolloutEnd, RolloutOutcome,
    RolloutStatus, Sha256Digest, VerdictSink, builtin, builtin_names, builtin_scorer_names,
    cut_reason, default_cache_dir, is_policy_file,
};
pub use scorer::{
    Observation, ObservationSource, ScorerBinding, ScorerComponent, ScorerInstance, ScorerSetup,
    Verdict,
};
